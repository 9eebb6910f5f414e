//! Random and broken input never panics, and the transcoders recover afterwards.

mod common;

use common::*;
use ferrocast_transcode::{AacToOpus, TranscodeError};

#[test]
fn random_aac_frames_never_panic() {
    let dir = TempDir::new("bad-aac");
    let aac = ffmpeg_aac(&dir, 44100, 2, 1.0);
    let (asc, frames) = split_adts(&aac);
    let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
    for config in [&asc[..], &[0x11, 0x88], &[0x12, 0x08], &[0x15, 0x90]] {
        let mut t = AacToOpus::new(config).unwrap();
        let mut pts = 0i64;
        for i in 0..3000 {
            let len = (rng.next() % 800) as usize;
            let mut frame = rng.bytes(len);
            // Some frames are real ones with a few bits flipped, to get deeper into the
            // decoder than random bytes do.
            if i % 3 == 0 {
                frame = frames[i % frames.len()].clone();
                for _ in 0..1 + rng.next() % 8 {
                    let bit = (rng.next() % (frame.len() as u64 * 8)) as usize;
                    frame[bit / 8] ^= 1 << (bit % 8);
                }
            }
            // Timestamps as broken as the data, sometimes.
            pts = match rng.next() % 10 {
                0 => rng.next() as i64,
                1 => pts,
                _ => pts.wrapping_add(1024),
            };
            match t.push(&frame, pts) {
                Ok(_) => {}
                Err(TranscodeError::CorruptFrame { .. }) => {}
                Err(e) => panic!("unexpected error kind: {e}"),
            }
        }
        let _ = t.flush();
    }

    // After the garbage, real frames still come out as audio.
    let mut t = AacToOpus::new(&asc).unwrap();
    for i in 0..200 {
        let _ = t.push(&rng.bytes(300), i * 1024);
    }
    let mut out = Vec::new();
    for (i, f) in frames.iter().enumerate() {
        out.extend(t.push(f, (200 + i as i64) * 1024).unwrap());
    }
    assert!(out.len() > 30, "{} packets after recovery", out.len());
    let data: Vec<&[u8]> = out.iter().map(|p| &p.data[..]).collect();
    let pcm = decode_opus(&data, 2);
    let x = channel(&pcm, 2, 0);
    assert_tone_1k(&x[4800..x.len() - 2400], 48000.0, "after garbage");
}

#[test]
fn random_configs_never_panic() {
    let mut rng = Rng(42);
    for _ in 0..20000 {
        let len = (rng.next() % 8) as usize;
        let _ = AacToOpus::new(&rng.bytes(len));
    }
}

#[cfg(feature = "fdk")]
#[test]
fn random_opus_packets_never_panic() {
    use ferrocast_transcode::OpusToAac;
    let dir = TempDir::new("bad-opus");
    let packets = ffmpeg_opus(&dir, 2, 1.0, 20);
    let mut rng = Rng(7);
    for channels in [1u8, 2] {
        let mut t = OpusToAac::new(channels).unwrap();
        let mut pts = 0i64;
        for i in 0..3000 {
            let len = (rng.next() % 1500) as usize;
            let mut p = rng.bytes(len);
            if i % 3 == 0 {
                p = packets[i % packets.len()].clone();
                if !p.is_empty() {
                    let bit = (rng.next() % (p.len() as u64 * 8)) as usize;
                    p[bit / 8] ^= 1 << (bit % 8);
                }
            }
            pts = match rng.next() % 10 {
                0 => rng.next() as i64,
                1 => pts,
                _ => pts.wrapping_add(960),
            };
            // Corrupt packets are concealed or skipped: never an error.
            t.push(&p, pts).unwrap();
        }
        let _ = t.flush().unwrap();
        assert!(t.corrupt_packets() > 0);
    }

    // Recovery: real packets after garbage give the tone back.
    let mut t = OpusToAac::new(2).unwrap();
    for i in 0..100 {
        t.push(&rng.bytes(200), i * 960).unwrap();
    }
    let mut out = Vec::new();
    for (i, p) in packets.iter().enumerate() {
        out.extend(t.push(p, (100 + i as i64) * 960).unwrap());
    }
    out.extend(t.flush().unwrap());
    assert!(out.len() > 30, "{} frames after recovery", out.len());
    for w in out.windows(2) {
        assert_eq!(w[1].pts - w[0].pts, 1024);
    }
    let adts = dir.path("recovered.aac");
    let data: Vec<&[u8]> = out.iter().map(|f| &f.data[..]).collect();
    write_adts(&adts, 48000, 2, &data);
    let pcm = ffmpeg_decode(&adts, 2);
    let x = channel(&pcm, 2, 0);
    // The first frames still hold the concealment of the garbage.
    assert_tone_1k(&x[9600..x.len() - 4800], 48000.0, "after garbage");
}

#[test]
fn empty_and_tiny_inputs() {
    let mut t = AacToOpus::new(&[0x12, 0x10]).unwrap();
    assert!(t.push(&[], 0).is_err());
    assert!(t.push(&[0xFF], 0).is_err() || t.push(&[0xFF], 0).is_ok());
    assert!(t.flush().is_ok());
    #[cfg(feature = "fdk")]
    {
        let mut t = ferrocast_transcode::OpusToAac::new(2).unwrap();
        assert!(t.push(&[], 0).unwrap().is_empty());
        assert!(t.push(&[0xFC], 0).unwrap().is_empty());
        assert!(t.flush().is_ok());
    }
}
