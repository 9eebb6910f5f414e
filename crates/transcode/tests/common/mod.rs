//! Test helpers: ffmpeg, ADTS and Ogg parsing, tone detection.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::Command;

/// A scratch directory removed on drop.
pub struct TempDir(pub PathBuf);

impl TempDir {
    pub fn new(tag: &str) -> TempDir {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_nanos();
        let p = std::env::temp_dir().join(format!(
            "ferrocast-transcode-{tag}-{}-{nanos}",
            std::process::id()
        ));
        std::fs::create_dir_all(&p).unwrap();
        TempDir(p)
    }
    pub fn path(&self, name: &str) -> PathBuf {
        self.0.join(name)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Runs a tool (ffmpeg, ffprobe); panics with its stderr when it fails or is missing.
pub fn run(tool: &str, args: &[&str]) -> Vec<u8> {
    let out = Command::new(tool)
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("{tool} is needed by this test (apt-get install ffmpeg): {e}"));
    assert!(
        out.status.success(),
        "{tool} {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out.stdout
}

/// A 1 kHz sine (lavfi's, amplitude 1/8) encoded to ADTS AAC-LC by ffmpeg.
pub fn ffmpeg_aac(dir: &TempDir, sample_rate: u32, channels: u8, seconds: f64) -> Vec<u8> {
    let out = dir.path(&format!("sine-{sample_rate}-{channels}.aac"));
    let src = format!("sine=frequency=1000:sample_rate={sample_rate}");
    run(
        "ffmpeg",
        &[
            "-hide_banner",
            "-loglevel",
            "error",
            "-y",
            "-f",
            "lavfi",
            "-i",
            &src,
            "-t",
            &seconds.to_string(),
            "-ac",
            &channels.to_string(),
            "-c:a",
            "aac",
            "-b:a",
            "128k",
            "-f",
            "adts",
            out.to_str().unwrap(),
        ],
    );
    std::fs::read(out).unwrap()
}

pub const SAMPLE_RATES: [u32; 13] = [
    96000, 88200, 64000, 48000, 44100, 32000, 24000, 22050, 16000, 12000, 11025, 8000, 7350,
];

/// Splits an ADTS stream: (AudioSpecificConfig built from the first header, raw frames).
pub fn split_adts(mut b: &[u8]) -> (Vec<u8>, Vec<Vec<u8>>) {
    let mut asc = None;
    let mut frames = Vec::new();
    while b.len() >= 7 {
        assert_eq!(b[0], 0xFF, "ADTS sync");
        assert_eq!(b[1] & 0xF0, 0xF0, "ADTS sync");
        let protection_absent = b[1] & 1 == 1;
        let profile = b[2] >> 6; // object type - 1
        let sf_idx = (b[2] >> 2) & 0x0F;
        let ch = ((b[2] & 1) << 2) | (b[3] >> 6);
        let len = (((b[3] & 3) as usize) << 11) | ((b[4] as usize) << 3) | (b[5] as usize >> 5);
        let header = if protection_absent { 7 } else { 9 };
        assert!(len > header && len <= b.len(), "ADTS frame length {len}");
        if asc.is_none() {
            let ot = profile + 1;
            asc = Some(vec![
                (ot << 3) | (sf_idx >> 1),
                ((sf_idx & 1) << 7) | (ch << 3),
            ]);
        }
        frames.push(b[header..len].to_vec());
        b = &b[len..];
    }
    (asc.expect("no ADTS frame"), frames)
}

/// The sample rate an ADTS-derived ASC says.
pub fn asc_rate(asc: &[u8]) -> u32 {
    SAMPLE_RATES[usize::from(((asc[0] & 7) << 1) | (asc[1] >> 7))]
}

/// A 1 kHz sine encoded by ffmpeg's libopus into Ogg; returns the Opus packets.
pub fn ffmpeg_opus(dir: &TempDir, channels: u8, seconds: f64, frame_ms: u32) -> Vec<Vec<u8>> {
    let out = dir.path(&format!("sine-{channels}-{frame_ms}.ogg"));
    run(
        "ffmpeg",
        &[
            "-hide_banner",
            "-loglevel",
            "error",
            "-y",
            "-f",
            "lavfi",
            "-i",
            "sine=frequency=1000:sample_rate=48000",
            "-t",
            &seconds.to_string(),
            "-ac",
            &channels.to_string(),
            "-c:a",
            "libopus",
            "-b:a",
            "96k",
            "-frame_duration",
            &frame_ms.to_string(),
            "-f",
            "ogg",
            out.to_str().unwrap(),
        ],
    );
    let packets = ogg_packets(&std::fs::read(out).unwrap());
    assert!(packets[0].starts_with(b"OpusHead"));
    assert!(packets[1].starts_with(b"OpusTags"));
    packets[2..].to_vec()
}

/// Packets of an Ogg stream with one logical stream (RFC 3533).
pub fn ogg_packets(mut b: &[u8]) -> Vec<Vec<u8>> {
    let mut packets = Vec::new();
    let mut cur = Vec::new();
    while b.len() >= 27 {
        assert_eq!(&b[..4], b"OggS", "Ogg capture pattern");
        let nseg = b[26] as usize;
        let lacing = &b[27..27 + nseg];
        let mut body = &b[27 + nseg..];
        let total: usize = lacing.iter().map(|&l| l as usize).sum();
        for &l in lacing {
            cur.extend_from_slice(&body[..l as usize]);
            body = &body[l as usize..];
            if l < 255 {
                packets.push(std::mem::take(&mut cur));
            }
        }
        b = &b[27 + nseg + total..];
    }
    packets
}

/// Writes AAC raw frames as ADTS (header from `sample_rate`/`channels`).
pub fn write_adts(path: &Path, sample_rate: u32, channels: u8, frames: &[&[u8]]) {
    let mut out = Vec::new();
    for f in frames {
        out.extend_from_slice(
            &ferrocast_transcode::adts_header(sample_rate, channels, f.len()).unwrap(),
        );
        out.extend_from_slice(f);
    }
    std::fs::write(path, out).unwrap();
}

/// Decodes an audio file to interleaved f32 with ffmpeg.
pub fn ffmpeg_decode(path: &Path, channels: u8) -> Vec<f32> {
    let raw = run(
        "ffmpeg",
        &[
            "-hide_banner",
            "-loglevel",
            "error",
            "-i",
            path.to_str().unwrap(),
            "-ac",
            &channels.to_string(),
            "-f",
            "f32le",
            "-",
        ],
    );
    raw.chunks_exact(4)
        .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
        .collect()
}

/// Decodes Opus packets (in order) to interleaved f32 at 48 kHz.
pub fn decode_opus(packets: &[&[u8]], channels: u8) -> Vec<f32> {
    let ch = if channels == 1 {
        opus::Channels::Mono
    } else {
        opus::Channels::Stereo
    };
    let mut dec = opus::Decoder::new(48000, ch).unwrap();
    let mut out = Vec::new();
    let mut buf = vec![0f32; 5760 * channels as usize];
    for p in packets {
        let n = dec.decode_float(p, &mut buf, false).unwrap();
        out.extend_from_slice(&buf[..n * channels as usize]);
    }
    out
}

/// One channel of interleaved samples.
pub fn channel(pcm: &[f32], channels: u8, ch: usize) -> Vec<f32> {
    pcm.iter()
        .skip(ch)
        .step_by(channels as usize)
        .copied()
        .collect()
}

/// Power of `freq` in `x` (Goertzel), normalised by the signal length.
pub fn goertzel(x: &[f32], rate: f64, freq: f64) -> f64 {
    let w = 2.0 * std::f64::consts::PI * freq / rate;
    let c = 2.0 * w.cos();
    let (mut s1, mut s2) = (0.0f64, 0.0f64);
    for &v in x {
        let s0 = f64::from(v) + c * s1 - s2;
        s2 = s1;
        s1 = s0;
    }
    (s1 * s1 + s2 * s2 - c * s1 * s2) / (x.len() as f64 * x.len() as f64)
}

/// Checks that mono `x` (at `rate`) is a clean 1 kHz tone: zero crossings and Goertzel.
pub fn assert_tone_1k(x: &[f32], rate: f64, what: &str) {
    assert!(
        x.len() as f64 > rate * 0.5,
        "{what}: too short ({} samples)",
        x.len()
    );
    let rising = x.windows(2).filter(|w| w[0] < 0.0 && w[1] >= 0.0).count();
    let per_sec = rising as f64 / (x.len() as f64 / rate);
    assert!(
        (per_sec - 1000.0).abs() < 10.0,
        "{what}: {per_sec:.1} zero crossings/s, expected ~1000"
    );
    let rms = (x.iter().map(|&v| f64::from(v) * f64::from(v)).sum::<f64>() / x.len() as f64).sqrt();
    // lavfi's sine has amplitude 1/8: rms 0.088.
    assert!(
        (0.06..0.12).contains(&rms),
        "{what}: rms {rms:.3}, expected ~0.088"
    );
    let p1k = goertzel(x, rate, 1000.0);
    for other in [500.0, 1500.0, 3000.0] {
        let p = goertzel(x, rate, other);
        assert!(
            p1k > 1000.0 * p,
            "{what}: 1 kHz {p1k:e} vs {other} Hz {p:e}"
        );
    }
}

/// Nanoseconds this thread has run on a CPU (Linux), or `None`.
pub fn thread_cpu_ns() -> Option<u64> {
    let s = std::fs::read_to_string("/proc/thread-self/schedstat").ok()?;
    s.split_whitespace().next()?.parse().ok()
}

/// A small deterministic PRNG (xorshift64*).
pub struct Rng(pub u64);

impl Rng {
    pub fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    pub fn bytes(&mut self, n: usize) -> Vec<u8> {
        (0..n).map(|_| self.next() as u8).collect()
    }
}
