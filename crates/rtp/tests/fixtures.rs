//! Depacketizing RTP captured from real encoders (ffmpeg with libx264, libx265, libvpx,
//! aac, libopus, mp2, mjpeg; see fixtures/capture.py), checking frame counts, key frames,
//! timestamps, and that ffmpeg decodes every frame of the output.

mod common;

use common::*;
use ferrocast_core::Codec;
use ferrocast_rtp::dts::{H264DtsExtractor, H265DtsExtractor};
use ferrocast_rtp::Frame;

fn keys(frames: &[Frame]) -> usize {
    frames.iter().filter(|f| f.key).count()
}

/// DTS never exceeds PTS and strictly increases; returns the DTS.
fn check_dts(frames: &[Frame], mut extract: impl FnMut(&Frame) -> i64) -> Vec<i64> {
    let dts: Vec<i64> = frames.iter().map(&mut extract).collect();
    for (i, f) in frames.iter().enumerate() {
        assert!(dts[i] <= f.pts, "frame {i}: dts {} > pts {}", dts[i], f.pts);
        if i > 0 {
            assert!(dts[i] > dts[i - 1], "frame {i}: dts not increasing");
        }
    }
    dts
}

#[test]
fn h264_x264_bframes_inband_parameter_sets() {
    let (d, frames) = depacketize("h264_x264_bframes");
    assert_eq!(d.track().codec, Codec::H264);
    assert!(d.track().config.is_empty());
    assert_eq!(frames.len(), 50);
    assert_eq!(keys(&frames), 2);
    assert!(frames[0].key && frames[25].key);
    // The SPS/PPS arrive in-band with the first IDR and are reported once.
    let config = frames[0]
        .config
        .clone()
        .expect("config from in-band SPS/PPS");
    assert!(frames[1..].iter().all(|f| f.config.is_none()));
    // B-frames: PTS is not monotonic in decode order.
    assert!(frames.windows(2).any(|w| w[1].pts < w[0].pts));
    let mut x = H264DtsExtractor::new();
    let dts = check_dts(&frames, |f| x.extract_frame(f));
    // After the first frames DTS trails PTS by the reorder depth: constant frame steps.
    let steps: Vec<i64> = dts[4..].windows(2).map(|w| w[1] - w[0]).collect();
    assert!(steps.iter().all(|s| *s == 3600), "{steps:?}");
    let mut annexb = vec![];
    for f in &frames {
        if f.key {
            avcc_annex_b(&config, &mut annexb);
        }
        annex_b(&mut annexb, &f.data);
    }
    if let Some(n) = decoded_frames(&annexb, "h264", "h264") {
        assert_eq!(n, 50);
    }
}

#[test]
fn h264_x264_sprop_parameter_sets() {
    let (d, frames) = depacketize("h264_x264_sprop");
    let config = d.track().config.clone();
    assert_eq!(&config[..4], &[1, 0x42, 0xc0, 0x0d]);
    assert_eq!(frames.len(), 25);
    assert_eq!(keys(&frames), 3);
    assert!(frames.iter().all(|f| f.config.is_none() && !f.after_loss));
    // Baseline, POC type 2: DTS = PTS.
    let mut x = H264DtsExtractor::new();
    x.set_config(&config);
    let dts = check_dts(&frames, |f| x.extract_frame(f));
    assert!(frames.iter().zip(&dts).all(|(f, d)| f.pts == *d));
    let mut annexb = vec![];
    for f in &frames {
        if f.key {
            avcc_annex_b(&config, &mut annexb);
        }
        annex_b(&mut annexb, &f.data);
    }
    if let Some(n) = decoded_frames(&annexb, "h264", "h264") {
        assert_eq!(n, 25);
    }
}

fn h265(name: &str, count: usize, key_count: usize) {
    let (d, frames) = depacketize(name);
    assert_eq!(d.track().codec, Codec::H265);
    assert_eq!(frames.len(), count);
    assert_eq!(keys(&frames), key_count);
    let config = frames
        .iter()
        .find_map(|f| f.config.clone())
        .unwrap_or_else(|| d.track().config.clone());
    assert!(!config.is_empty());
    let mut x = H265DtsExtractor::new();
    x.set_config(&d.track().config);
    check_dts(&frames, |f| x.extract_frame(f));
    let mut annexb = vec![];
    for f in &frames {
        if f.key {
            hvcc_annex_b(&config, &mut annexb);
        }
        annex_b(&mut annexb, &f.data);
    }
    if let Some(n) = decoded_frames(&annexb, "hevc", "h265") {
        assert_eq!(n, count);
    }
}

#[test]
fn h265_x265_inband_parameter_sets() {
    h265("h265_x265", 50, 2);
}

#[test]
fn h265_x265_sprop() {
    h265("h265_x265_sprop", 25, 3);
}

#[test]
fn aac_mpeg4_generic_multiple_aus_per_packet() {
    let (d, frames) = depacketize("aac_ffmpeg");
    let t = d.track();
    assert_eq!((t.codec, t.sample_rate, t.channels), (Codec::Aac, 44100, 2));
    // 12 packets carry every AU of 2 s at 44.1 kHz.
    assert!(frames.len() > 80, "{}", frames.len());
    assert!(frames.windows(2).all(|w| w[1].pts - w[0].pts == 1024));
    if let Some(n) = decoded_frames(&adts(&t.config, &frames), "aac", "aac") {
        assert_eq!(n, frames.len());
    }
}

#[test]
fn aac_latm() {
    let (d, frames) = depacketize("aac_latm_ffmpeg");
    let t = d.track();
    assert_eq!((t.codec, t.sample_rate, t.channels), (Codec::Aac, 48000, 1));
    assert_eq!(frames.len(), 48);
    assert!(frames.windows(2).all(|w| w[1].pts - w[0].pts == 1024));
    if let Some(n) = decoded_frames(&adts(&t.config, &frames), "aac", "aac") {
        assert_eq!(n, frames.len());
    }
}

#[test]
fn opus() {
    let (d, frames) = depacketize("opus_ffmpeg");
    assert_eq!((d.track().codec, d.track().channels), (Codec::Opus, 2));
    assert_eq!(frames.len(), 51);
    assert!(frames.windows(2).all(|w| w[1].pts - w[0].pts == 960));
    // Every packet is one stereo frame (TOC s bit, code 0).
    assert!(frames.iter().all(|f| f.data[0] & 0x07 == 0x04));
}

#[test]
fn g711() {
    for (name, codec, samples) in [
        ("pcmu_ffmpeg", Codec::Pcmu, 8000),
        ("pcma_ffmpeg", Codec::Pcma, 4000),
    ] {
        let (d, frames) = depacketize(name);
        assert_eq!((d.track().codec, d.track().clock_rate), (codec, 8000));
        let total: usize = frames.iter().map(|f| f.data.len()).sum();
        assert_eq!(total, samples);
        assert!(frames
            .windows(2)
            .all(|w| w[1].pts - w[0].pts == w[0].data.len() as i64));
    }
}

#[test]
fn mpeg_audio() {
    let (d, frames) = depacketize("mp2_ffmpeg");
    assert_eq!((d.track().codec, d.track().clock_rate), (Codec::Mp3, 90000));
    // 1 s at 44.1 kHz in 1152-sample frames, six packets: every payload byte is in a frame.
    let payload: usize = packets("mp2_ffmpeg").iter().map(|p| p.len() - 12 - 4).sum();
    assert_eq!(frames.iter().map(|f| f.data.len()).sum::<usize>(), payload);
    assert_eq!(frames.len(), 36);
    assert!(frames
        .windows(2)
        .all(|w| (w[1].pts - w[0].pts - 2351).abs() <= 1));
    let all: Vec<u8> = frames.iter().flat_map(|f| f.data.to_vec()).collect();
    if let Some(n) = decoded_frames(&all, "mp3", "mp2") {
        assert_eq!(n, frames.len());
    }
}

#[test]
fn vp8() {
    let (d, frames) = depacketize("vp8_libvpx");
    assert_eq!(d.track().codec, Codec::Vp8);
    assert_eq!(frames.len(), 50);
    assert_eq!(keys(&frames), 2);
    assert!(frames[0].key && frames[25].key);
    if let Some(n) = decoded_frames(&ivf(b"VP80", &frames), "ivf", "ivf") {
        assert_eq!(n, 50);
    }
}

#[test]
fn vp9() {
    let (d, frames) = depacketize("vp9_libvpx");
    assert_eq!(d.track().codec, Codec::Vp9);
    assert_eq!(frames.len(), 25);
    assert_eq!(keys(&frames), 3);
    if let Some(n) = decoded_frames(&ivf(b"VP90", &frames), "ivf", "ivf") {
        assert!(n >= 25, "{n}");
    }
}

#[test]
fn mjpeg() {
    let (d, frames) = depacketize("mjpeg_ffmpeg");
    assert_eq!(d.track().codec, Codec::Mjpeg);
    assert_eq!(frames.len(), 5);
    assert!(frames
        .iter()
        .all(|f| f.key && f.data.starts_with(&[0xff, 0xd8])));
    let all: Vec<u8> = frames.iter().flat_map(|f| f.data.to_vec()).collect();
    if let Some(n) = decoded_frames(&all, "mjpeg", "mjpeg") {
        assert_eq!(n, 5);
    }
}

/// AV1: ffmpeg 5.1 has no AV1 RTP muxer, so the libaom output (low-overhead OBUs, one
/// temporal delimiter per temporal unit) goes through our packetizer first.
#[test]
fn av1_libaom_through_our_packetizer() {
    use bytes::Bytes;
    use ferrocast_rtp::{Depacketizer, MediaFormat, Packetizer, RtpHeader, RtpPacket};
    let obus = std::fs::read(fixture_dir().join("av1_libaom.obu")).unwrap();
    // Split at temporal delimiters (0x12 0x00).
    let mut units: Vec<Vec<u8>> = vec![];
    let mut p = 0;
    while p < obus.len() {
        let typ = (obus[p] >> 3) & 0xf;
        let mut q = p + 1 + ((obus[p] >> 2) & 1) as usize;
        let (mut size, mut shift) = (0usize, 0);
        loop {
            let b = obus[q];
            q += 1;
            size |= ((b & 0x7f) as usize) << shift;
            shift += 7;
            if b & 0x80 == 0 {
                break;
            }
        }
        if typ == 2 {
            units.push(vec![]);
        } else {
            units.last_mut().unwrap().extend(&obus[p..q + size]);
        }
        p = q + size;
    }
    assert_eq!(units.len(), 12);
    let format = MediaFormat::parse(96, Some("AV1/90000"), None).unwrap();
    let mut d = Depacketizer::new(&format).unwrap();
    let mut pk = Packetizer::new(d.track(), 300).unwrap();
    let mut frames = vec![];
    let mut seq = 0u16;
    for (i, u) in units.iter().enumerate() {
        let mut payloads = vec![];
        let key = i % 6 == 0;
        pk.packetize(&Bytes::from(u.clone()), key, &mut payloads)
            .unwrap();
        for pl in payloads {
            let h = RtpHeader {
                marker: pl.marker,
                payload_type: 96,
                sequence: seq,
                timestamp: i as u32 * 9000,
                ssrc: 5,
            };
            seq += 1;
            let raw = h.packet(&pl.payload).unwrap();
            d.push(&RtpPacket::parse(&raw).unwrap(), &mut frames)
                .unwrap();
        }
    }
    assert_eq!(frames.len(), 12);
    assert_eq!(keys(&frames), 2);
    assert!(frames[0].key && frames[6].key);
    for (f, u) in frames.iter().zip(&units) {
        assert_eq!(&f.data[..], &u[..]);
    }
    // The av1C ffmpeg writes into MP4 for this stream.
    let av1c = frames[0]
        .config
        .clone()
        .expect("av1C from the sequence header");
    assert_eq!(
        &av1c[..],
        &[
            0x81, 0x00, 0x0c, 0x00, 0x0a, 0x0a, 0x00, 0x00, 0x00, 0x03, 0xb4, 0xff, 0x73, 0x6b,
            0xe4, 0x01
        ]
    );
    assert!(frames[1..].iter().all(|f| f.config.is_none()));
    let mut stream = vec![];
    for f in &frames {
        stream.extend([0x12, 0x00]);
        stream.extend(&f.data[..]);
    }
    if let Some(n) = decoded_frames(&stream, "obu", "obu") {
        assert_eq!(n, 12);
    }
}
