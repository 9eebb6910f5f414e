//! Truncated, mutated and random input never panics: packets through every depacketizer
//! and the DTS extractors, RTCP, formats, and units through every packetizer.

mod common;

use bytes::Bytes;
use common::*;
use ferrocast_core::Codec;
use ferrocast_rtp::dts::{H264DtsExtractor, H265DtsExtractor};
use ferrocast_rtp::{
    format_for_track, rtcp, track_from_format, Depacketizer, Frame, MediaFormat, Packetizer,
    RtpPacket,
};

const FIXTURES: [&str; 13] = [
    "h264_x264_bframes",
    "h264_x264_sprop",
    "h265_x265",
    "h265_x265_sprop",
    "aac_ffmpeg",
    "aac_latm_ffmpeg",
    "opus_ffmpeg",
    "pcmu_ffmpeg",
    "pcma_ffmpeg",
    "mp2_ffmpeg",
    "vp8_libvpx",
    "vp9_libvpx",
    "mjpeg_ffmpeg",
];

/// Formats for every depacketizer, including those without a capture.
fn formats() -> Vec<MediaFormat> {
    let mut v: Vec<MediaFormat> = FIXTURES.iter().map(|n| format(n)).collect();
    v.push(MediaFormat::parse(96, Some("AV1/90000"), None).unwrap());
    v.push(MediaFormat::parse(96, Some("L16/44100/2"), None).unwrap());
    v.push(
        MediaFormat::parse(
            96,
            Some("MPEG4-GENERIC/48000/2"),
            Some("mode=AAC-hbr;sizelength=13;indexlength=3;indexdeltalength=3;ctsdeltalength=5;dtsdeltalength=4;randomaccessindication=1;streamstateindication=2;auxiliarydatasizelength=6;config=1190"),
        )
        .unwrap(),
    );
    v
}

/// Mutations of a packet: truncations, bit flips, random payloads after a valid header.
fn mutate(rng: &mut Rng, p: &[u8]) -> Vec<u8> {
    let mut v = p.to_vec();
    match rng.below(4) {
        0 => v.truncate(rng.below(p.len() + 1)),
        1 => {
            for _ in 0..1 + rng.below(4) {
                let i = rng.below(v.len());
                v[i] ^= 1 << rng.below(8);
            }
        }
        2 => {
            // Keep the RTP header, randomize the payload start.
            for b in v.iter_mut().skip(12).take(1 + rng.below(16)) {
                *b = rng.next() as u8;
            }
        }
        _ => {
            let len = 12 + rng.below(64);
            v.truncate(12.min(v.len()));
            while v.len() < len {
                v.push(rng.next() as u8);
            }
        }
    }
    v
}

fn feed(d: &mut Depacketizer, data: &[u8], out: &mut Vec<Frame>) {
    if let Ok(pkt) = RtpPacket::parse(data) {
        let _ = d.push(&pkt, out);
    }
}

#[test]
fn mutated_packets_through_every_depacketizer() {
    let mut rng = Rng(0x5eed);
    let all: Vec<Vec<u8>> = FIXTURES.iter().flat_map(|n| packets(n)).collect();
    for format in formats() {
        for round in 0..4 {
            let mut d = Depacketizer::new(&format).unwrap();
            let mut h264 = H264DtsExtractor::new();
            let mut h265 = H265DtsExtractor::new();
            let mut out = vec![];
            // The fixture packets of every codec (wrong ones included), mutated.
            for p in &all {
                let m = if round == 0 {
                    p.clone()
                } else {
                    mutate(&mut rng, p)
                };
                feed(&mut d, &m, &mut out);
            }
            for f in out.drain(..) {
                h264.extract_frame(&f);
                h265.extract_frame(&f);
                let _ = track_from_format(&format);
            }
        }
    }
}

#[test]
fn random_bytes_everywhere() {
    let mut rng = Rng(99);
    for _ in 0..20000 {
        let len = rng.below(80);
        let mut b: Vec<u8> = (0..len).map(|_| rng.next() as u8).collect();
        let _ = RtpPacket::parse(&b);
        let _ = rtcp::packets(&b).count();
        if b.len() >= 2 {
            b[0] = 0x80 | (b[0] & 0x3f);
            let _ = rtcp::packets(&b).count();
        }
        let mut h264 = H264DtsExtractor::new();
        let mut h265 = H265DtsExtractor::new();
        h264.set_config(&b);
        h265.set_config(&b);
        h264.extract(&b, 0);
        h265.extract(&b, 0);
    }
}

#[test]
fn dts_extractors_on_mutated_access_units() {
    let mut rng = Rng(3);
    for (name, h265) in [("h264_x264_bframes", false), ("h265_x265", true)] {
        let (d, frames) = depacketize(name);
        let config = frames
            .iter()
            .find_map(|f| f.config.clone())
            .unwrap_or_else(|| d.track().config.clone());
        let mut prev = i64::MIN;
        let mut x264 = H264DtsExtractor::new();
        let mut x265 = H265DtsExtractor::new();
        x264.set_config(&config);
        x265.set_config(&config);
        for f in &frames {
            let mut data = f.data.to_vec();
            for _ in 0..rng.below(6) {
                let i = rng.below(data.len());
                data[i] = rng.next() as u8;
            }
            let pts = f.pts + rng.below(10000) as i64 - 5000;
            let dts = if h265 {
                x265.extract(&data, pts)
            } else {
                x264.extract(&data, pts)
            };
            assert!(dts > prev);
            prev = dts;
        }
    }
}

#[test]
fn formats_from_garbage() {
    let mut rng = Rng(11);
    let names = [
        "H264",
        "H265",
        "MPEG4-GENERIC",
        "MP4A-LATM",
        "opus",
        "PCMU",
        "VP9",
        "JPEG",
        "MPA",
        "x",
    ];
    let keys = [
        "sprop-parameter-sets",
        "sprop-vps",
        "sprop-sps",
        "sprop-pps",
        "config",
        "mode",
        "sizelength",
        "indexlength",
        "cpresent",
        "packetization-mode",
        "sprop-max-don-diff",
    ];
    let alphabet = b"0123456789abcdefABCDEF+/=,;= -AaQgZz";
    for _ in 0..20000 {
        let name = names[rng.below(names.len())];
        let mut fmtp = String::new();
        for _ in 0..rng.below(4) {
            fmtp += keys[rng.below(keys.len())];
            fmtp.push('=');
            for _ in 0..rng.below(40) {
                fmtp.push(alphabet[rng.below(alphabet.len())] as char);
            }
            fmtp.push(';');
        }
        let rtpmap = format!("{name}/{}/{}", rng.below(100000), rng.below(3));
        let Ok(f) = MediaFormat::parse(96, Some(&rtpmap), Some(&fmtp)) else {
            continue;
        };
        if let Ok(t) = track_from_format(&f) {
            let _ = format_for_track(&t, 96);
            let _ = Depacketizer::new(&f);
            if let Ok(mut p) = Packetizer::new(&t, 1200) {
                let _ = p.packetize(&Bytes::from_static(&[0, 0, 0, 1, 0x65]), true, &mut vec![]);
            }
        }
    }
}

#[test]
fn packetizers_reject_malformed_units() {
    let mut rng = Rng(17);
    let tracks: Vec<_> = formats()
        .iter()
        .map(|f| track_from_format(f).unwrap())
        .collect();
    for t in &tracks {
        let mut p = Packetizer::new(t, 256).unwrap();
        for _ in 0..2000 {
            let len = rng.below(600);
            let data: Vec<u8> = (0..len).map(|_| rng.next() as u8).collect();
            let mut out = vec![];
            if p.packetize(&Bytes::from(data), rng.below(2) == 0, &mut out)
                .is_ok()
            {
                // Opus packets and generic RTP packets cannot be split: they go whole.
                let whole = matches!(t.codec, Codec::Opus | Codec::Generic);
                assert!(
                    out.iter().all(|o| o.payload.len() <= 256 || whole),
                    "{:?}",
                    t.codec
                );
            }
        }
    }
}
