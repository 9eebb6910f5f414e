//! packetize -> RTP -> depacketize gives back the same units, for every codec; with
//! reordering (through the reorder buffer) and loss.

mod common;

use bytes::Bytes;
use common::*;
use ferrocast_core::{Codec, Track};
use ferrocast_rtp::reorder::Reorderer;
use ferrocast_rtp::{
    format_for_track, Depacketizer, Frame, MediaFormat, Packetizer, RtpHeader, RtpPacket,
};

/// Packetizes frames into whole RTP packets (sequence from 65500 to cross the wrap).
fn to_rtp(track: &Track, frames: &[Frame], mtu: usize) -> (MediaFormat, Vec<Vec<u8>>) {
    let format = format_for_track(track, 96).unwrap();
    let mut p = Packetizer::new(track, mtu).unwrap();
    let mut seq = 65500u16;
    let mut pkts = vec![];
    for f in frames {
        let mut payloads = vec![];
        p.packetize(&f.data, f.key, &mut payloads).unwrap();
        for pl in payloads {
            // Opus packets cannot be fragmented (RFC 7587): they go whole.
            let fits = pl.payload.len() <= mtu || track.codec == Codec::Opus;
            assert!(
                fits,
                "{:?}: payload {} > {mtu}",
                track.codec,
                pl.payload.len()
            );
            let h = RtpHeader {
                marker: pl.marker,
                payload_type: format.payload_type,
                sequence: seq,
                timestamp: (f.pts as u32).wrapping_add(pl.timestamp_offset),
                ssrc: 0x1234,
            };
            seq = seq.wrapping_add(1);
            pkts.push(h.packet(&pl.payload).unwrap());
        }
    }
    (format, pkts)
}

fn from_rtp(format: &MediaFormat, pkts: &[Vec<u8>]) -> Vec<Frame> {
    let mut d = Depacketizer::new(format).unwrap();
    let mut out = vec![];
    for p in pkts {
        d.push(&RtpPacket::parse(p).unwrap(), &mut out).unwrap();
    }
    out
}

fn same(a: &[Frame], b: &[Frame]) {
    assert_eq!(a.len(), b.len());
    for (i, (x, y)) in a.iter().zip(b).enumerate() {
        assert_eq!((x.pts, x.key), (y.pts, y.key), "frame {i}");
        assert!(x.data == y.data, "frame {i}: data differs");
    }
}

/// The track of a capture with the configuration its frames brought in-band.
fn track_of(name: &str) -> (Track, Vec<Frame>) {
    let (d, frames) = depacketize(name);
    let mut track = d.track().clone();
    if let Some(c) = frames.iter().find_map(|f| f.config.clone()) {
        track.config = c;
    }
    (track, frames)
}

#[test]
fn every_captured_codec() {
    for name in [
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
    ] {
        let (track, frames) = track_of(name);
        for mtu in [1200, 300, 256] {
            let (format, pkts) = to_rtp(&track, &frames, mtu);
            let back = from_rtp(&format, &pkts);
            if name.starts_with("pcm") {
                // G.711 units larger than the MTU come back split at sample offsets.
                let join = |f: &[Frame]| f.iter().flat_map(|f| f.data.to_vec()).collect::<Vec<_>>();
                assert_eq!(join(&frames), join(&back));
                assert!(back
                    .windows(2)
                    .all(|w| w[1].pts - w[0].pts == w[0].data.len() as i64));
                continue;
            }
            same(&frames, &back);
        }
    }
}

#[test]
fn av1_and_generic() {
    // AV1: synthetic temporal units (ffmpeg 5.1 has no AV1 RTP muxer).
    let obu = |typ: u8, payload: &[u8]| {
        let mut v = vec![typ << 3 | 2];
        let mut n = payload.len();
        loop {
            let b = (n & 0x7f) as u8;
            n >>= 7;
            v.push(if n > 0 { b | 0x80 } else { b });
            if n == 0 {
                break;
            }
        }
        v.extend(payload);
        v
    };
    let mut rng = Rng(7);
    let mut frames = vec![];
    for i in 0..30i64 {
        let size = 1 + rng.below(5000);
        let body: Vec<u8> = (0..size).map(|_| rng.next() as u8).collect();
        let key = i % 10 == 0;
        let mut tu = vec![];
        if key {
            tu.extend(obu(1, &[0, 0, 0, 0x10]));
            tu.extend(obu(6, &[[0x10, 0x00][0], 0x01]));
        } else {
            tu.extend(obu(6, &[0x30, 0x01]));
        }
        tu.extend(obu(6, &body));
        frames.push(Frame {
            pts: i * 3000,
            key,
            data: Bytes::from(tu),
            config: None,
            after_loss: false,
        });
    }
    let track = Track {
        codec: Codec::Av1,
        clock_rate: 90000,
        config: Bytes::new(),
        sample_rate: 0,
        channels: 0,
    };
    for mtu in [1200, 256] {
        let (format, pkts) = to_rtp(&track, &frames, mtu);
        same(&frames, &from_rtp(&format, &pkts));
    }

    // Generic: whole packets in, the same payloads out.
    let format = MediaFormat::parse(98, Some("L16/44100/2"), None).unwrap();
    let mut d = Depacketizer::new(&format).unwrap();
    let track = d.track().clone();
    assert_eq!(track.codec, Codec::Generic);
    let mut frames = vec![];
    for i in 0..5u16 {
        let h = RtpHeader {
            marker: i == 0,
            payload_type: 98,
            sequence: i,
            timestamp: i as u32 * 441,
            ssrc: 9,
        };
        let pkt = h.packet(&[i as u8; 40]).unwrap();
        d.push(&RtpPacket::parse(&pkt).unwrap(), &mut frames)
            .unwrap();
    }
    let (format2, pkts) = to_rtp(&track, &frames, 1200);
    assert_eq!(format2.encoding, "L16");
    for (i, p) in pkts.iter().enumerate() {
        let p = RtpPacket::parse(p).unwrap();
        assert_eq!((p.marker, p.payload), (i == 0, &[i as u8; 40][..]));
    }
}

#[test]
fn reordered_packets_through_the_reorder_buffer() {
    for name in ["h264_x264_bframes", "vp8_libvpx", "aac_ffmpeg", "h265_x265"] {
        let (track, frames) = track_of(name);
        let (format, pkts) = to_rtp(&track, &frames, 300);
        // Swap neighbours and move some packets a few places later.
        let mut shuffled = pkts.clone();
        let mut rng = Rng(42);
        // (The first packet stays first: the buffer starts at the first sequence it sees.)
        for i in (1..shuffled.len() - 4).step_by(3) {
            let j = i + 1 + rng.below(3);
            shuffled.swap(i, j);
        }
        let mut r = Reorderer::new(16);
        let mut ordered = vec![];
        for p in &shuffled {
            let seq = RtpPacket::parse(p).unwrap().sequence;
            r.push(seq, Bytes::copy_from_slice(p), &mut ordered);
        }
        r.flush(&mut ordered);
        let ordered: Vec<Vec<u8>> = ordered.iter().map(|b| b.to_vec()).collect();
        assert!(ordered == pkts, "{name}: not back in order");
        same(&frames, &from_rtp(&format, &ordered));

        // Without the buffer, late packets are dropped and the damage is reported.
        let mut d = Depacketizer::new(&format).unwrap();
        let (mut out, mut late, mut lost) = (vec![], 0, 0);
        for p in &shuffled {
            if let Ok(r) = d.push(&RtpPacket::parse(p).unwrap(), &mut out) {
                late += r.late as u32;
                lost += r.lost;
            }
        }
        assert!(late > 0 && lost > 0, "{name}");
        assert!(out.len() < frames.len());
    }
}

#[test]
fn loss_drops_the_partial_frame_and_flags_frames_until_a_key_frame() {
    let (track, frames) = track_of("h264_x264_bframes");
    let (format, pkts) = to_rtp(&track, &frames, 300);
    // Lose the third packet: inside the first key frame (many FU-A packets at MTU 300).
    let mut d = Depacketizer::new(&format).unwrap();
    let mut out = vec![];
    let mut lost = 0;
    for (i, p) in pkts.iter().enumerate() {
        if i == 2 {
            continue;
        }
        match d.push(&RtpPacket::parse(p).unwrap(), &mut out) {
            Ok(r) => lost += r.lost,
            Err(e) => panic!("packet {i}: {e}"),
        }
    }
    assert_eq!(lost, 1);
    assert_eq!(out.len(), frames.len() - 1);
    assert!(!out[0].key, "the damaged key frame is dropped");
    let next_key = out.iter().position(|f| f.key).unwrap();
    assert!(out[..next_key].iter().all(|f| f.after_loss));
    assert!(out[next_key..].iter().all(|f| !f.after_loss));
    same(&frames[1..], &out);

    // Audio: the lost AU is simply missing.
    let (track, frames) = track_of("aac_ffmpeg");
    let (format, pkts) = to_rtp(&track, &frames, 1200);
    let mut kept = pkts.clone();
    kept.remove(10);
    let out = from_rtp(&format, &kept);
    assert_eq!(out.len(), frames.len() - 1);
    assert!(out.iter().all(|f| !f.after_loss));
}
