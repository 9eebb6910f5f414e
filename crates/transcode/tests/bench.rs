//! CPU cost per second of audio, each direction. Run with:
//! `cargo test -p ferrocast-transcode --release --test bench -- --ignored --nocapture`

mod common;

use common::*;
use ferrocast_transcode::AacToOpus;

const SECONDS: f64 = 20.0;

fn measure(what: &str, audio_seconds: f64, f: impl FnOnce() -> usize) {
    let cpu0 = thread_cpu_ns();
    let wall = std::time::Instant::now();
    let packets = f();
    let wall = wall.elapsed().as_secs_f64();
    let cpu = match (cpu0, thread_cpu_ns()) {
        (Some(a), Some(b)) => (b - a) as f64 / 1e9,
        _ => wall,
    };
    println!(
        "{what}: {:.2} ms CPU per second of audio ({:.2} ms wall; {packets} packets; \
         {:.0} streams per core)",
        cpu * 1000.0 / audio_seconds,
        wall * 1000.0 / audio_seconds,
        audio_seconds / cpu
    );
}

fn aac_to_opus(rate: u32, channels: u8) {
    let dir = TempDir::new("bench-a2o");
    let aac = ffmpeg_aac(&dir, rate, channels, SECONDS);
    let (asc, frames) = split_adts(&aac);
    let mut t = AacToOpus::new(&asc).unwrap();
    let audio = frames.len() as f64 * 1024.0 / f64::from(rate);
    measure(
        &format!("AAC {rate} Hz {channels} ch -> Opus"),
        audio,
        || {
            let mut n = 0;
            for (i, f) in frames.iter().enumerate() {
                n += t.push(f, i as i64 * 1024).unwrap().len();
            }
            n
        },
    );
}

#[test]
#[ignore]
fn bench_aac_to_opus() {
    aac_to_opus(44100, 2);
    aac_to_opus(48000, 2);
    aac_to_opus(44100, 1);
    aac_to_opus(11025, 1);
    aac_to_opus(48000, 1);
}

#[cfg(feature = "fdk")]
#[test]
#[ignore]
fn bench_opus_to_aac() {
    use ferrocast_transcode::OpusToAac;
    for channels in [2u8, 1] {
        let dir = TempDir::new("bench-o2a");
        let packets = ffmpeg_opus(&dir, channels, SECONDS, 20);
        let mut t = OpusToAac::new(channels).unwrap();
        let audio = packets.len() as f64 * 0.02;
        measure(&format!("Opus 48 kHz {channels} ch -> AAC"), audio, || {
            let mut n = 0;
            for (i, p) in packets.iter().enumerate() {
                n += t.push(p, i as i64 * 960).unwrap().len();
            }
            n
        });
    }
}

fn rss_kib() -> u64 {
    let s = std::fs::read_to_string("/proc/self/statm").unwrap_or_default();
    let pages: u64 = s
        .split_whitespace()
        .nth(1)
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    pages * 4
}

/// Memory of one running transcoder (resident, after a second of audio).
#[test]
#[ignore]
fn bench_state_size() {
    let dir = TempDir::new("bench-mem");
    let aac = ffmpeg_aac(&dir, 44100, 2, 1.0);
    let (asc, frames) = split_adts(&aac);
    let n = 100;
    let before = rss_kib();
    let mut keep = Vec::new();
    for _ in 0..n {
        let mut t = AacToOpus::new(&asc).unwrap();
        for (i, f) in frames.iter().enumerate() {
            t.push(f, i as i64 * 1024).unwrap();
        }
        keep.push(t);
    }
    println!(
        "AacToOpus (44.1 kHz stereo): ~{} KiB per stream",
        (rss_kib() - before) / n
    );
    #[cfg(feature = "fdk")]
    {
        let packets = ffmpeg_opus(&dir, 2, 1.0, 20);
        let before = rss_kib();
        let mut keep = Vec::new();
        for _ in 0..n {
            let mut t = ferrocast_transcode::OpusToAac::new(2).unwrap();
            for (i, p) in packets.iter().enumerate() {
                t.push(p, i as i64 * 960).unwrap();
            }
            keep.push(t);
        }
        println!(
            "OpusToAac (stereo): ~{} KiB per stream",
            (rss_kib() - before) / n
        );
    }
}

/// Cost of a stream of garbage (every frame corrupt).
#[test]
#[ignore]
fn bench_garbage() {
    let mut rng = Rng(1);
    let garbage: Vec<Vec<u8>> = (0..2000).map(|_| rng.bytes(400)).collect();
    let mut t = AacToOpus::new(&[0x12, 0x10]).unwrap();
    measure(
        "garbage AAC (44.1 kHz stereo)",
        2000.0 * 1024.0 / 44100.0,
        || {
            let mut n = 0;
            for (i, g) in garbage.iter().enumerate() {
                n += t.push(g, i as i64 * 1024).map(|v| v.len()).unwrap_or(0);
            }
            n
        },
    );
    #[cfg(feature = "fdk")]
    {
        let mut t = ferrocast_transcode::OpusToAac::new(2).unwrap();
        measure("garbage Opus (stereo)", 2000.0 * 0.02, || {
            let mut n = 0;
            for (i, g) in garbage.iter().enumerate() {
                n += t.push(g, i as i64 * 960).unwrap().len();
            }
            n
        });
    }
}
