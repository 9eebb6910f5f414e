//! AAC made by ffmpeg -> Opus, checked by decoding the Opus packets.

mod common;

use common::*;
use ferrocast_transcode::{AacToOpus, AudioPacket, TranscodeError};

/// Transcodes ADTS `aac` frame by frame with contiguous PTS; returns (packets, input ticks).
fn transcode(aac: &[u8]) -> (AacToOpus, Vec<AudioPacket>, u32, i64) {
    let (asc, frames) = split_adts(aac);
    let rate = asc_rate(&asc);
    let mut t = AacToOpus::new(&asc).unwrap();
    let mut out = Vec::new();
    let mut pts = 0i64;
    for f in &frames {
        out.extend(t.push(f, pts).unwrap());
        pts += 1024;
    }
    out.extend(t.flush().unwrap());
    (t, out, rate, pts)
}

fn check(sample_rate: u32, channels: u8) {
    let dir = TempDir::new("a2o");
    let seconds = 3.0;
    let aac = ffmpeg_aac(&dir, sample_rate, channels, seconds);
    let (t, packets, rate, in_ticks) = transcode(&aac);
    assert_eq!(rate, sample_rate);
    assert_eq!(t.channels(), channels);

    // PTS: strictly increasing by 960, durations 960.
    assert!(!packets.is_empty());
    for w in packets.windows(2) {
        assert_eq!(w[1].pts - w[0].pts, 960, "PTS step");
    }
    assert!(packets
        .iter()
        .all(|p| p.duration == 960 && !p.data.is_empty()));

    // Duration: the output covers the input within 40 ms.
    let first = packets[0].pts;
    let last = packets.last().unwrap();
    let out_ms = (last.pts + 960 - first) as f64 / 48.0;
    let in_ms = in_ticks as f64 * 1000.0 / f64::from(rate);
    assert!(
        (out_ms - in_ms).abs() <= 40.0,
        "output {out_ms:.1} ms vs input {in_ms:.1} ms"
    );
    assert!((0..960).contains(&first), "first PTS {first}");

    // Content: decode the Opus and look for the 1 kHz tone in every channel.
    let data: Vec<&[u8]> = packets.iter().map(|p| &p.data[..]).collect();
    let pcm = decode_opus(&data, channels);
    assert_eq!(pcm.len(), packets.len() * 960 * channels as usize);
    for ch in 0..channels as usize {
        let x = channel(&pcm, channels, ch);
        // Skip the start (AAC priming, encoder warm-up) and the padded end.
        let x = &x[4800..x.len() - 4800];
        assert_tone_1k(x, 48000.0, &format!("{sample_rate} Hz ch{ch}"));
    }
}

#[test]
fn aac_44100_mono_to_opus() {
    check(44100, 1);
}

#[test]
fn aac_48000_stereo_to_opus() {
    check(48000, 2);
}

#[test]
fn aac_22050_stereo_to_opus() {
    check(22050, 2);
}

#[test]
fn aac_pts_offset_and_input_clock() {
    // Input starts at an arbitrary PTS: the output starts at the same time in 48 kHz.
    let dir = TempDir::new("a2o-off");
    let aac = ffmpeg_aac(&dir, 44100, 1, 1.0);
    let (asc, frames) = split_adts(&aac);
    let mut t = AacToOpus::new(&asc).unwrap();
    let start = 10 * 44100 + 17;
    let mut out = Vec::new();
    for (i, f) in frames.iter().enumerate() {
        out.extend(t.push(f, start + i as i64 * 1024).unwrap());
    }
    let expect = (start as f64 * 48000.0 / 44100.0).round() as i64;
    assert!(
        out[0].pts >= expect && out[0].pts < expect + 960,
        "first {} vs {expect}",
        out[0].pts
    );
}

#[test]
fn frames_wrapped_in_adts_are_accepted() {
    let dir = TempDir::new("a2o-adts");
    let aac = ffmpeg_aac(&dir, 48000, 2, 1.0);
    let (asc, _) = split_adts(&aac);
    let mut t = AacToOpus::new(&asc).unwrap();
    let mut rest = &aac[..];
    let mut n = 0;
    let mut pts = 0;
    while rest.len() > 7 {
        let len =
            (((rest[3] & 3) as usize) << 11) | ((rest[4] as usize) << 3) | (rest[5] as usize >> 5);
        n += t.push(&rest[..len], pts).unwrap().len();
        rest = &rest[len..];
        pts += 1024;
    }
    assert!(n > 40, "{n} packets");
}

#[test]
fn bad_configs_are_actionable_errors() {
    for (asc, needle) in [
        (&[][..], "at least 2 bytes"),
        (&[0x12, 0x30], "5.1"),
        (&[0x0A, 0x10], "AAC Main"),
        (&[0x12, 0x14], "960"),
    ] {
        let e = AacToOpus::new(asc).unwrap_err();
        assert!(
            e.to_string().contains(needle),
            "{asc:02x?}: {e} (expected {needle:?})"
        );
        assert!(matches!(
            e,
            TranscodeError::InvalidConfig(_) | TranscodeError::Unsupported(_)
        ));
    }
}

/// HE-AAC v1 and v2 made by the FDK encoder: the LC core is decoded (band-limited; v2 mono).
#[cfg(feature = "fdk")]
#[test]
fn he_aac_core_is_decoded() {
    use fdk_aac::enc::*;
    for (aot, channels) in [
        (AudioObjectType::Mpeg4HeAac, 2u8),
        (AudioObjectType::Mpeg4HeAacV2, 1),
    ] {
        let enc = Encoder::new(EncoderParams {
            bit_rate: BitRate::Cbr(48000),
            sample_rate: 44100,
            transport: Transport::Raw,
            channels: ChannelMode::Stereo,
            audio_object_type: aot,
        })
        .unwrap();
        let info = enc.info().unwrap();
        let asc = info.confBuf[..info.confSize as usize].to_vec();
        let mut t = AacToOpus::new(&asc).unwrap();
        assert_eq!(t.input_sample_rate(), 22050, "{aot:?} {asc:02x?}");
        assert_eq!(t.channels(), channels, "{aot:?} {asc:02x?}");
        let frame_in = 2048; // samples per channel per AU at 44.1 kHz
        let mut out = Vec::new();
        let mut buf = vec![0u8; 8192];
        let mut n = 0usize;
        let mut pts = 0i64;
        for _ in 0..(2 * 44100 / frame_in) {
            let pcm: Vec<i16> = (0..frame_in)
                .flat_map(|i| {
                    let s = ((n + i) as f64 * 2.0 * std::f64::consts::PI * 1000.0 / 44100.0).sin();
                    let v = (s * 4096.0) as i16;
                    [v, v]
                })
                .collect();
            n += frame_in;
            let r = enc.encode(&pcm, &mut buf).unwrap();
            if r.output_size > 0 {
                out.extend(t.push(&buf[..r.output_size], pts).unwrap());
                pts += 1024;
            }
        }
        assert!(out.len() > 50, "{aot:?}: {} packets", out.len());
        let data: Vec<&[u8]> = out.iter().map(|p| &p.data[..]).collect();
        let pcm = decode_opus(&data, t.channels());
        let x = channel(&pcm, t.channels(), 0);
        let x = &x[9600..x.len() - 4800];
        let rising = x.windows(2).filter(|w| w[0] < 0.0 && w[1] >= 0.0).count();
        let per_sec = rising as f64 / (x.len() as f64 / 48000.0);
        assert!(
            (per_sec - 1000.0).abs() < 10.0,
            "{aot:?}: {per_sec} crossings/s"
        );
    }
}
