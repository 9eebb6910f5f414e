//! Output timestamps over an hour of drifting input, and across jumps.

mod common;

use common::*;
use ferrocast_transcode::{AacToOpus, AudioPacket};

/// PTS (in `rate` Hz) of sample `n` of a source whose clock runs `ppm` fast, sent with
/// millisecond timestamps (RTMP-like), so it also carries up to 0.5 ms of rounding jitter.
fn source_pts(n: i64, rate: u32, ppm: f64) -> i64 {
    let ms = (n as f64 * 1000.0 / f64::from(rate) * (1.0 + ppm * 1e-6)).round();
    (ms * f64::from(rate) / 1000.0).round() as i64
}

fn rescale(pts: i64, from: u32, to: u32) -> i64 {
    (pts as f64 * f64::from(to) / f64::from(from)).round() as i64
}

/// Tracks the output against the input: steps of exactly `step`, never ahead of the input,
/// never behind it by more than the pipeline can hold.
struct Tracker {
    step: i64,
    max_lag: i64,
    last: Option<i64>,
    packets: usize,
}

impl Tracker {
    fn check(&mut self, out: &[AudioPacket], input_end_48k: i64) {
        for p in out {
            if let Some(last) = self.last {
                assert_eq!(
                    p.pts - last,
                    self.step,
                    "PTS step after {} packets",
                    self.packets
                );
            }
            self.last = Some(p.pts);
            self.packets += 1;
            let end = p.pts + self.step;
            assert!(
                end <= input_end_48k + self.step,
                "output ahead of input: {end} vs {input_end_48k}"
            );
        }
        if let Some(last) = self.last {
            let lag = input_end_48k - (last + self.step);
            assert!(lag <= self.max_lag, "output lags input by {lag} ticks");
        }
    }
}

/// One hour of AAC at 11025 Hz (non-integer 48 kHz ratio; few frames per second, so the test
/// is fast), 30 min with a source clock 100 ppm fast then 30 min 100 ppm slow (either way
/// the drift would reach 180 ms), then a 2 s jump.
#[test]
fn aac_to_opus_hour_of_drift_then_jump() {
    let rate = 11025;
    let dir = TempDir::new("ts-a2o");
    let aac = ffmpeg_aac(&dir, rate, 1, 1.0);
    let (asc, frames) = split_adts(&aac);
    let frames = &frames[2..]; // past the encoder priming
    let mut t = AacToOpus::new(&asc).unwrap();
    let total = 3600 * i64::from(rate) / 1024;
    let half_samples = total / 2 * 1024;
    let mut tr = Tracker {
        step: 960,
        // Resampler chunk and delay (40 ms at 11025 Hz) + an unfinished packet + the Opus
        // lookahead + the 10 ms tolerance.
        max_lag: 960 * 4,
        last: None,
        packets: 0,
    };
    let mut pts = 0;
    for i in 0..total {
        let n = i * 1024;
        pts = if n < half_samples {
            source_pts(n, rate, 100.0)
        } else {
            source_pts(half_samples, rate, 100.0) + source_pts(n - half_samples, rate, -100.0)
        };
        let out = t.push(&frames[i as usize % frames.len()], pts).unwrap();
        tr.check(&out, rescale(pts + 1024, rate, 48000));
    }
    // Let the tail out: the output ends where the input ends, within one packet.
    let out = t.flush().unwrap();
    tr.check(&out, rescale(pts + 1024, rate, 48000));
    let end = tr.last.unwrap() + 960;
    let in_end = rescale(pts + 1024, rate, 48000);
    assert!(
        (end - in_end).abs() <= 960,
        "after 1 h: output ends at {end}, input at {in_end} ({} ms apart)",
        (end - in_end) as f64 / 48.0
    );
    assert!(tr.packets as i64 > 3600 * 50 - 10, "{} packets", tr.packets);

    // A 2 s jump re-bases the output on the new PTS.
    let jump = pts + 1024 + 2 * i64::from(rate);
    let mut out = Vec::new();
    for i in 0..20 {
        out.extend(
            t.push(&frames[i % frames.len()], jump + i as i64 * 1024)
                .unwrap(),
        );
    }
    let base = rescale(jump, rate, 48000);
    assert!(
        out[0].pts >= base && out[0].pts < base + 960,
        "after the jump: {} vs {base}",
        out[0].pts
    );
    for w in out.windows(2) {
        assert_eq!(w[1].pts - w[0].pts, 960);
    }
    // And back 2 s.
    let back = jump - 2 * i64::from(rate);
    let out = t.push(&frames[0], back).unwrap();
    let mut out2 = out;
    for i in 1..10 {
        out2.extend(
            t.push(&frames[i % frames.len()], back + i as i64 * 1024)
                .unwrap(),
        );
    }
    let base = rescale(back, rate, 48000);
    assert!(out2[0].pts >= base && out2[0].pts < base + 960);
}

/// Lost and duplicated frames within 100 ms are absorbed without a re-base.
#[test]
fn aac_to_opus_loss_and_duplicates() {
    let rate = 44100;
    let dir = TempDir::new("ts-a2o-loss");
    let aac = ffmpeg_aac(&dir, rate, 2, 2.0);
    let (asc, frames) = split_adts(&aac);
    let mut t = AacToOpus::new(&asc).unwrap();
    let mut tr = Tracker {
        step: 960,
        max_lag: 960 * 4,
        last: None,
        packets: 0,
    };
    for (i, f) in frames.iter().enumerate() {
        let pts = i as i64 * 1024;
        if i % 7 == 3 {
            continue; // lost
        }
        let out = t.push(f, pts).unwrap();
        tr.check(&out, rescale(pts + 1024, rate, 48000));
        if i % 11 == 4 {
            let out = t.push(f, pts).unwrap(); // duplicated
            tr.check(&out, rescale(pts + 1024, rate, 48000));
        }
    }
    let n = frames.len() as i64 * 1024;
    let out = t.flush().unwrap();
    tr.check(&out, rescale(n, rate, 48000));
    let end = tr.last.unwrap() + 960;
    assert!((end - rescale(n, rate, 48000)).abs() <= 960);
}

/// One hour of 20 ms Opus packets from a source clock 100 ppm slow then 100 ppm fast (RTP
/// timestamps are sample-exact, so no jitter), then a 2 s jump.
#[cfg(feature = "fdk")]
#[test]
fn opus_to_aac_hour_of_drift_then_jump() {
    use ferrocast_transcode::OpusToAac;
    let dir = TempDir::new("ts-o2a");
    let packets = ffmpeg_opus(&dir, 1, 1.0, 20);
    let mut t = OpusToAac::new(1).unwrap();
    let total = 3600 * 50i64;
    let mut tr = Tracker {
        step: 1024,
        // An unfinished frame + the encoder delay (2048) + the 10 ms tolerance.
        max_lag: 1024 * 3 + 480,
        last: None,
        packets: 0,
    };
    let clock = |n: i64| -> i64 {
        let half = total / 2 * 960;
        if n < half {
            (n as f64 * (1.0 - 100e-6)).round() as i64
        } else {
            (half as f64 * (1.0 - 100e-6)).round() as i64
                + ((n - half) as f64 * (1.0 + 100e-6)).round() as i64
        }
    };
    let mut pts = 0;
    for i in 0..total {
        pts = clock(i * 960);
        let out = t.push(&packets[i as usize % packets.len()], pts).unwrap();
        tr.check(&out, pts + 960);
    }
    let out = t.flush().unwrap();
    tr.check(&out, pts + 960);
    let end = tr.last.unwrap() + 1024;
    assert!(
        (end - (pts + 960)).abs() <= 1024,
        "after 1 h: output ends at {end}, input at {}",
        pts + 960
    );
    assert_eq!(t.corrupt_packets(), 0);

    let jump = pts + 960 + 96000;
    let mut out = Vec::new();
    for (i, p) in packets.iter().take(20).enumerate() {
        out.extend(t.push(p, jump + i as i64 * 960).unwrap());
    }
    assert!(
        out[0].pts >= jump && out[0].pts < jump + 1024,
        "after the jump: {} vs {jump}",
        out[0].pts
    );
    for w in out.windows(2) {
        assert_eq!(w[1].pts - w[0].pts, 1024);
    }
}
