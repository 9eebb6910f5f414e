//! Shared helpers: captured fixtures, a tiny PRNG, container writers for ffprobe.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::Command;

use bytes::Bytes;
use ferrocast_rtp::{Depacketizer, Frame, MediaFormat, RtpPacket};

pub fn fixture_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures")
}

/// The packets of `NAME.rtp` (2-byte big-endian length, packet; see capture.py).
pub fn packets(name: &str) -> Vec<Vec<u8>> {
    let data = std::fs::read(fixture_dir().join(format!("{name}.rtp"))).unwrap();
    let mut v = vec![];
    let mut p = 0;
    while p < data.len() {
        let len = u16::from_be_bytes([data[p], data[p + 1]]) as usize;
        v.push(data[p + 2..p + 2 + len].to_vec());
        p += 2 + len;
    }
    v
}

/// The format of the first payload type of the first media description of `NAME.sdp`.
pub fn format(name: &str) -> MediaFormat {
    let sdp = std::fs::read_to_string(fixture_dir().join(format!("{name}.sdp"))).unwrap();
    let m = sdp.lines().find(|l| l.starts_with("m=")).unwrap();
    let pt: u8 = m.split_whitespace().nth(3).unwrap().parse().unwrap();
    let attr = |name: &str| {
        let prefix = format!("a={name}:{pt} ");
        sdp.lines()
            .find_map(|l| l.strip_prefix(&prefix).map(str::to_string))
    };
    MediaFormat::parse(pt, attr("rtpmap").as_deref(), attr("fmtp").as_deref()).unwrap()
}

/// Runs every packet of a fixture through a depacketizer; panics on errors or loss.
pub fn depacketize(name: &str) -> (Depacketizer, Vec<Frame>) {
    let mut d = Depacketizer::new(&format(name)).unwrap();
    let mut out = vec![];
    for p in packets(name) {
        let pkt = RtpPacket::parse(&p).unwrap();
        let r = d.push(&pkt, &mut out).unwrap();
        assert_eq!(r.lost, 0, "{name}: loss in the capture");
    }
    (d, out)
}

/// xorshift64*: deterministic noise for malformed-input tests.
pub struct Rng(pub u64);

impl Rng {
    pub fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    pub fn below(&mut self, n: usize) -> usize {
        if n == 0 {
            0
        } else {
            (self.next() % n as u64) as usize
        }
    }
}

/// 4-byte length-prefixed NAL units -> Annex B.
pub fn annex_b(out: &mut Vec<u8>, data: &[u8]) {
    let mut p = 0;
    while p < data.len() {
        let len = u32::from_be_bytes(data[p..p + 4].try_into().unwrap()) as usize;
        out.extend([0, 0, 0, 1]);
        out.extend(&data[p + 4..p + 4 + len]);
        p += 4 + len;
    }
}

/// Parameter sets of an avcC (`skip` = 5) or hvcC as Annex B.
pub fn avcc_annex_b(avcc: &[u8], out: &mut Vec<u8>) {
    let mut p = 5;
    for count_mask in [0x1f, 0xff] {
        let n = avcc[p] & count_mask;
        p += 1;
        for _ in 0..n {
            let len = u16::from_be_bytes([avcc[p], avcc[p + 1]]) as usize;
            out.extend([0, 0, 0, 1]);
            out.extend(&avcc[p + 2..p + 2 + len]);
            p += 2 + len;
        }
    }
}

pub fn hvcc_annex_b(hvcc: &[u8], out: &mut Vec<u8>) {
    let mut p = 23;
    for _ in 0..hvcc[22] {
        let n = u16::from_be_bytes([hvcc[p + 1], hvcc[p + 2]]);
        p += 3;
        for _ in 0..n {
            let len = u16::from_be_bytes([hvcc[p], hvcc[p + 1]]) as usize;
            out.extend([0, 0, 0, 1]);
            out.extend(&hvcc[p + 2..p + 2 + len]);
            p += 2 + len;
        }
    }
}

/// An IVF file (VP8/VP9) of the frames.
pub fn ivf(fourcc: &[u8; 4], frames: &[Frame]) -> Vec<u8> {
    let mut v = b"DKIF".to_vec();
    v.extend(0u16.to_le_bytes());
    v.extend(32u16.to_le_bytes());
    v.extend(fourcc);
    v.extend(320u16.to_le_bytes());
    v.extend(240u16.to_le_bytes());
    v.extend(90000u32.to_le_bytes());
    v.extend(1u32.to_le_bytes());
    v.extend((frames.len() as u32).to_le_bytes());
    v.extend(0u32.to_le_bytes());
    for f in frames {
        v.extend((f.data.len() as u32).to_le_bytes());
        v.extend((f.pts as u64).to_le_bytes());
        v.extend(&f.data[..]);
    }
    v
}

/// ADTS framing of raw AAC frames (object type, sampling index, channels from the ASC).
pub fn adts(asc: &[u8], frames: &[Frame]) -> Vec<u8> {
    let object = asc[0] >> 3;
    let rate_index = ((asc[0] & 7) << 1) | (asc[1] >> 7);
    let channels = (asc[1] >> 3) & 0xf;
    let mut v = vec![];
    for f in frames {
        let len = f.data.len() + 7;
        v.extend([
            0xff,
            0xf1,
            ((object - 1) << 6) | (rate_index << 2) | (channels >> 2),
            ((channels & 3) << 6) | (len >> 11) as u8,
            (len >> 3) as u8,
            ((len & 7) << 5) as u8 | 0x1f,
            0xfc,
        ]);
        v.extend(&f.data[..]);
    }
    v
}

/// Decodes `data` with ffmpeg and returns the number of frames decoded, or `None` when
/// ffmpeg is not installed. Panics when the decoder reports errors.
pub fn decoded_frames(data: &[u8], demuxer: &str, ext: &str) -> Option<usize> {
    if Command::new("ffprobe").arg("-version").output().is_err() {
        eprintln!("ffprobe not installed: decode check skipped");
        return None;
    }
    let path = std::env::temp_dir().join(format!(
        "ferrocast-rtp-{}-{}.{ext}",
        std::process::id(),
        COUNTER.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
    ));
    std::fs::write(&path, data).unwrap();
    let out = Command::new("ffprobe")
        .args([
            "-v",
            "error",
            "-f",
            demuxer,
            "-count_frames",
            "-select_streams",
            "0",
        ])
        .args(["-show_entries", "stream=nb_read_frames", "-of", "csv=p=0"])
        .arg(&path)
        .output()
        .unwrap();
    std::fs::remove_file(&path).ok();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success() && stderr.trim().is_empty(),
        "ffprobe: {stderr}"
    );
    Some(String::from_utf8_lossy(&out.stdout).trim().parse().unwrap())
}

static COUNTER: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);

pub fn bytes(v: &[u8]) -> Bytes {
    Bytes::copy_from_slice(v)
}
