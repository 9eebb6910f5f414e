//! Opus made by ffmpeg (libopus, Ogg) -> AAC, checked by ffprobe/ffmpeg on an ADTS file.
#![cfg(feature = "fdk")]

mod common;

use common::*;
use ferrocast_transcode::{AudioPacket, OpusToAac};

fn transcode(packets: &[Vec<u8>], channels: u8) -> (OpusToAac, Vec<AudioPacket>, i64) {
    let mut t = OpusToAac::new(channels).unwrap();
    let mut out = Vec::new();
    let mut pts = 0i64;
    for p in packets {
        out.extend(t.push(p, pts).unwrap());
        pts += opus::packet::get_nb_samples(p, 48000).unwrap() as i64;
    }
    out.extend(t.flush().unwrap());
    (t, out, pts)
}

fn check(channels: u8, frame_ms: u32) {
    let dir = TempDir::new("o2a");
    let packets = ffmpeg_opus(&dir, channels, 3.0, frame_ms);
    let (t, frames, in_ticks) = transcode(&packets, channels);
    assert_eq!(t.sample_rate(), 48000);
    let asc = t.asc();
    assert_eq!(asc, vec![0x11, if channels == 1 { 0x88 } else { 0x90 }]);

    for w in frames.windows(2) {
        assert_eq!(w[1].pts - w[0].pts, 1024, "PTS step");
    }
    assert!(frames
        .iter()
        .all(|f| f.duration == 1024 && !f.data.is_empty()));
    let first = frames[0].pts;
    assert!((0..1024).contains(&first), "first PTS {first}");
    let out_ms = (frames.last().unwrap().pts + 1024 - first) as f64 / 48.0;
    let in_ms = in_ticks as f64 / 48.0;
    assert!(
        (out_ms - in_ms).abs() <= 40.0,
        "output {out_ms:.1} ms vs input {in_ms:.1} ms"
    );

    // ffprobe counts the frames of the ADTS file and its duration.
    let adts = dir.path("out.aac");
    let data: Vec<&[u8]> = frames.iter().map(|f| &f.data[..]).collect();
    write_adts(&adts, 48000, channels, &data);
    let probe = String::from_utf8(run(
        "ffprobe",
        &[
            "-v",
            "error",
            "-count_frames",
            "-select_streams",
            "a:0",
            "-show_entries",
            "stream=codec_name,profile,sample_rate,channels,nb_read_frames",
            "-of",
            "default=noprint_wrappers=1",
            adts.to_str().unwrap(),
        ],
    ))
    .unwrap();
    assert!(probe.contains("codec_name=aac"), "{probe}");
    assert!(probe.contains("profile=LC"), "{probe}");
    assert!(probe.contains("sample_rate=48000"), "{probe}");
    assert!(probe.contains(&format!("channels={channels}")), "{probe}");
    assert!(
        probe.contains(&format!("nb_read_frames={}", frames.len())),
        "{probe} vs {} frames",
        frames.len()
    );

    // ffmpeg decodes it: the duration matches and the tone is there.
    let pcm = ffmpeg_decode(&adts, channels);
    let decoded_ms = (pcm.len() / channels as usize) as f64 / 48.0;
    assert!(
        (decoded_ms - in_ms).abs() <= 40.0,
        "decoded {decoded_ms:.1} ms vs input {in_ms:.1} ms"
    );
    for ch in 0..channels as usize {
        let x = channel(&pcm, channels, ch);
        let x = &x[4800..x.len() - 4800];
        assert_tone_1k(x, 48000.0, &format!("opus {frame_ms} ms ch{ch}"));
    }
}

#[test]
fn opus_stereo_20ms_to_aac() {
    check(2, 20);
}

#[test]
fn opus_mono_60ms_to_aac() {
    check(1, 60);
}

#[test]
fn opus_stereo_10ms_to_aac() {
    check(2, 10);
}

#[test]
fn lost_packets_are_concealed_in_time() {
    // Every 10th packet lost: the output stays contiguous and in step with the input.
    let dir = TempDir::new("o2a-loss");
    let packets = ffmpeg_opus(&dir, 2, 2.0, 20);
    let mut t = OpusToAac::new(2).unwrap();
    let mut out = Vec::new();
    for (i, p) in packets.iter().enumerate() {
        if i % 10 == 5 {
            continue;
        }
        out.extend(t.push(p, i as i64 * 960).unwrap());
    }
    out.extend(t.flush().unwrap());
    for w in out.windows(2) {
        assert_eq!(w[1].pts - w[0].pts, 1024);
    }
    let end = out.last().unwrap().pts + 1024;
    let in_end = packets.len() as i64 * 960;
    assert!(
        (end - in_end).abs() <= 1024,
        "output ends at {end}, input at {in_end}"
    );
}

#[test]
fn bad_channel_counts_are_errors() {
    for n in [0u8, 3, 6] {
        let e = OpusToAac::new(n).unwrap_err();
        assert!(e.to_string().contains("mono and stereo"), "{e}");
    }
}
