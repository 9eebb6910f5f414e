//! Shared parts of the benchmarks (`ferrocast-bench` for RTMP readers, `ferrocast-bench-whep`
//! for WHEP readers): the real-time FLV publisher, `/proc` sampling and percentiles.
//!
//! A module both binaries include (not a library: the root package also builds
//! `benches/src/main.rs`, as an auto-discovered bench, with its own dev-dependencies).

use std::time::{Duration, Instant};

use bytes::Bytes;
use ferrocast_codec::flv;
use ferrocast_rtmp::client::Client;
use ferrocast_rtmp::session::ClientMode;

/// The audio, video and script tags of an FLV file.
pub fn load_flv(path: &str) -> Result<Vec<flv::FileTag>, String> {
    let data = std::fs::read(path).map_err(|e| format!("cannot read {path}: {e}"))?;
    let tags = flv::read_file(&Bytes::from(data)).map_err(|e| format!("{path}: {e}"))?;
    Ok(tags
        .into_iter()
        .filter(|t| matches!(t.tag_type, 8 | 9 | 18))
        .collect())
}

/// Publishes `tags` to `url` in real time, looping, with our RTMP client; reconnects on
/// errors, forever. `on_video` is called with each video tag body just before it is sent.
pub async fn publish(url: String, tags: Vec<flv::FileTag>, on_video: impl Fn(&[u8])) {
    let span = tags.last().map(|t| t.timestamp).unwrap_or(0) + 40;
    loop {
        let mut c = match Client::connect(&url, ClientMode::Publish, Duration::from_secs(5)).await {
            Ok(c) => c,
            Err(e) => {
                eprintln!("publisher: {e}; retrying");
                tokio::time::sleep(Duration::from_secs(1)).await;
                continue;
            }
        };
        let start = Instant::now();
        let mut lap = 0u32;
        'send: loop {
            for (i, t) in tags.iter().enumerate() {
                // Sequence headers and metadata only once per connection.
                let header = t.tag_type == 18
                    || (t.tag_type == 9
                        && t.body.len() > 1
                        && t.body[1] == 0
                        && t.body[0] & 0x0f == 7)
                    || (t.tag_type == 8
                        && t.body.len() > 1
                        && t.body[0] >> 4 == 10
                        && t.body[1] == 0);
                if header && (lap > 0 || i > 64) {
                    continue;
                }
                let ts = t.timestamp + lap * span;
                let due = start + Duration::from_millis(ts as u64);
                tokio::time::sleep_until(due.into()).await;
                if t.tag_type == 9 {
                    on_video(&t.body);
                }
                if let Err(e) = c.send(t.tag_type, ts, &t.body).await {
                    eprintln!("publisher: {e}; reconnecting");
                    break 'send;
                }
            }
            lap += 1;
        }
    }
}

/// User + system CPU time of a process, in clock ticks (USER_HZ, 100 on Linux).
pub fn proc_cpu_ticks(pid: u32) -> Option<u64> {
    let s = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let rest = &s[s.rfind(')')? + 2..];
    let f: Vec<&str> = rest.split_whitespace().collect();
    Some(f.get(11)?.parse::<u64>().ok()? + f.get(12)?.parse::<u64>().ok()?)
}

/// Resident set size of a process, in KiB.
pub fn proc_rss_kb(pid: u32) -> Option<u64> {
    let s = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    s.lines()
        .find(|l| l.starts_with("VmRSS:"))?
        .split_whitespace()
        .nth(1)?
        .parse()
        .ok()
}

/// Clock ticks per second of `proc_cpu_ticks`.
pub const TICKS_PER_S: f64 = 100.0;

/// The `p` quantile (0..=1) of `v` (sorted in place); NaN when empty.
pub fn pct(v: &mut [f64], p: f64) -> f64 {
    if v.is_empty() {
        return f64::NAN;
    }
    v.sort_by(|a, b| a.total_cmp(b));
    v[((v.len() - 1) as f64 * p).round() as usize]
}
