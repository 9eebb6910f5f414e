//! ferrocast-bench: RTMP fan-out load and latency benchmark, for any RTMP server.
//!
//! Publishes an FLV file in real time (looping) with our RTMP client, opens N RTMP readers
//! (ramped), and reports delivered Mbps, time to first keyframe, server-added latency and,
//! given the server's PID, its CPU and RSS. Readers parse every chunk as players do.
//!
//! Latency: the publisher notes when it sent each video message, keyed by a fingerprint of
//! its payload (servers may rewrite timestamps, payloads they pass through untouched);
//! readers look the fingerprint up when the message arrives.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::Bytes;
use ferrocast_codec::flv;
use ferrocast_rtmp::client::Client;
use ferrocast_rtmp::session::ClientMode;

const HELP: &str = "\
ferrocast-bench: RTMP fan-out benchmark

Usage: ferrocast-bench --file SRC.flv --url rtmp://HOST:PORT/APP/NAME [options]

  --file F          FLV file to publish in real time, looping (H264/AAC)
  --url U           where to publish and read (any RTMP server)
  --read-url U      read from another URL than the publish URL
  --readers LIST    reader counts to measure, e.g. 1,50,200,500 (default 1,50,200)
  --ramp-ms N       delay between reader connections (default 10)
  --warmup S        seconds after the last reader connects before measuring (default 3)
  --measure S       measurement window in seconds (default 10)
  --pid PID         server process to sample for CPU and RSS (/proc)
  --label TEXT      name printed in the table (default: the URL's host:port)
";

struct Args {
    file: String,
    url: String,
    read_url: String,
    readers: Vec<usize>,
    ramp: Duration,
    warmup: Duration,
    measure: Duration,
    pid: Option<u32>,
    label: String,
}

fn parse_args() -> Result<Args, String> {
    let mut a: HashMap<String, String> = HashMap::new();
    let mut it = std::env::args().skip(1);
    while let Some(k) = it.next() {
        if k == "-h" || k == "--help" {
            print!("{HELP}");
            std::process::exit(0);
        }
        let Some(name) = k.strip_prefix("--") else {
            return Err(format!("unexpected argument '{k}'"));
        };
        let v = it.next().ok_or(format!("--{name} needs a value"))?;
        a.insert(name.to_string(), v);
    }
    let get = |k: &str| a.get(k).cloned();
    let secs = |k: &str, d: u64| -> Result<Duration, String> {
        Ok(Duration::from_secs_f64(
            get(k)
                .map(|v| v.parse::<f64>().map_err(|e| format!("--{k}: {e}")))
                .transpose()?
                .unwrap_or(d as f64),
        ))
    };
    let url = get("url").ok_or("--url is required")?;
    Ok(Args {
        file: get("file").ok_or("--file is required")?,
        read_url: get("read-url").unwrap_or_else(|| url.clone()),
        readers: get("readers")
            .unwrap_or_else(|| "1,50,200".into())
            .split(',')
            .map(|s| {
                s.trim()
                    .parse::<usize>()
                    .map_err(|e| format!("--readers: {e}"))
            })
            .collect::<Result<_, _>>()?,
        ramp: Duration::from_millis(
            get("ramp-ms")
                .map(|v| v.parse().map_err(|e| format!("--ramp-ms: {e}")))
                .transpose()?
                .unwrap_or(10),
        ),
        warmup: secs("warmup", 3)?,
        measure: secs("measure", 10)?,
        pid: get("pid")
            .map(|v| v.parse().map_err(|e| format!("--pid: {e}")))
            .transpose()?,
        label: get("label").unwrap_or_else(|| {
            ferrocast_rtmp::client::RtmpUrl::parse(&url)
                .map(|u| format!("{}:{}", u.host, u.port))
                .unwrap_or_else(|_| url.clone())
        }),
        url,
    })
}

/// Identifies a video payload without hashing all of it.
fn fingerprint(p: &[u8]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325 ^ p.len() as u64;
    let head = &p[..p.len().min(48)];
    let tail = &p[p.len().saturating_sub(48)..];
    for b in head.iter().chain(tail) {
        h = (h ^ *b as u64).wrapping_mul(0x100_0000_01b3);
    }
    h
}

#[derive(Default)]
struct Shared {
    sent: Mutex<HashMap<u64, Instant>>,
    bytes: AtomicU64,
    measuring: AtomicBool,
    latencies_us: Mutex<Vec<u64>>,
    ttfk_ms: Mutex<Vec<f64>>,
    errors: AtomicU64,
}

async fn publish(args: Arc<Args>, tags: Vec<flv::FileTag>, shared: Arc<Shared>) {
    let span = tags.last().map(|t| t.timestamp).unwrap_or(0) + 40;
    loop {
        let mut c =
            match Client::connect(&args.url, ClientMode::Publish, Duration::from_secs(5)).await {
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
                    shared
                        .sent
                        .lock()
                        .unwrap()
                        .insert(fingerprint(&t.body), Instant::now());
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

async fn reader(args: Arc<Args>, shared: Arc<Shared>, stop: Arc<AtomicBool>) {
    let t0 = Instant::now();
    let mut c =
        match Client::connect(&args.read_url, ClientMode::Play, Duration::from_secs(10)).await {
            Ok(c) => c,
            Err(e) => {
                eprintln!("reader: {e}");
                shared.errors.fetch_add(1, Ordering::Relaxed);
                return;
            }
        };
    let mut got_key = false;
    let mut lat = Vec::new();
    while !stop.load(Ordering::Relaxed) {
        let m = match tokio::time::timeout(Duration::from_secs(5), c.recv()).await {
            Ok(Ok(m)) => m,
            _ => {
                shared.errors.fetch_add(1, Ordering::Relaxed);
                return;
            }
        };
        let now = Instant::now();
        if shared.measuring.load(Ordering::Relaxed) {
            shared
                .bytes
                .fetch_add(m.payload.len() as u64, Ordering::Relaxed);
        }
        if m.type_id != 9 || m.payload.len() < 2 {
            continue;
        }
        let key = m.payload[0] >> 4 == 1 && (m.payload[0] & 0x80 != 0 || m.payload[1] == 1);
        if !got_key && key {
            got_key = true;
            let ms = t0.elapsed().as_secs_f64() * 1000.0;
            if std::env::var_os("BENCH_DEBUG").is_some() {
                eprintln!("first keyframe after {ms:.0} ms");
            }
            shared.ttfk_ms.lock().unwrap().push(ms);
        }
        if shared.measuring.load(Ordering::Relaxed) {
            if let Some(sent) = shared.sent.lock().unwrap().get(&fingerprint(&m.payload)) {
                lat.push(now.saturating_duration_since(*sent).as_micros() as u64);
            }
        }
    }
    shared.latencies_us.lock().unwrap().extend(lat);
    c.close().await;
}

fn proc_cpu_ticks(pid: u32) -> Option<u64> {
    let s = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let rest = &s[s.rfind(')')? + 2..];
    let f: Vec<&str> = rest.split_whitespace().collect();
    Some(f.get(11)?.parse::<u64>().ok()? + f.get(12)?.parse::<u64>().ok()?)
}

fn proc_rss_kb(pid: u32) -> Option<u64> {
    let s = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    s.lines()
        .find(|l| l.starts_with("VmRSS:"))?
        .split_whitespace()
        .nth(1)?
        .parse()
        .ok()
}

fn pct(v: &mut [f64], p: f64) -> f64 {
    if v.is_empty() {
        return f64::NAN;
    }
    v.sort_by(|a, b| a.total_cmp(b));
    v[((v.len() - 1) as f64 * p).round() as usize]
}

#[tokio::main]
async fn main() {
    let args = match parse_args() {
        Ok(a) => Arc::new(a),
        Err(e) => {
            eprintln!("ferrocast-bench: {e}\n\n{HELP}");
            std::process::exit(2);
        }
    };
    let data = match std::fs::read(&args.file) {
        Ok(d) => Bytes::from(d),
        Err(e) => {
            eprintln!("ferrocast-bench: cannot read {}: {e}", args.file);
            std::process::exit(2);
        }
    };
    let tags: Vec<_> = match flv::read_file(&data) {
        Ok(t) => t
            .into_iter()
            .filter(|t| matches!(t.tag_type, 8 | 9 | 18))
            .collect(),
        Err(e) => {
            eprintln!("ferrocast-bench: {}: {e}", args.file);
            std::process::exit(2);
        }
    };
    let ticks_per_s = 100.0; // USER_HZ on Linux
    let shared = Arc::new(Shared::default());
    tokio::spawn(publish(args.clone(), tags, shared.clone()));
    tokio::time::sleep(Duration::from_secs(2)).await;
    println!(
        "| server | readers | delivered Mb/s | server CPU % | CPU % per 100 Mb/s | RSS MB | RSS KB/reader | first keyframe p50/p95 ms | added latency p50/p99 ms | errors |"
    );
    println!("|---|---|---|---|---|---|---|---|---|---|");
    for &n in &args.readers {
        let base_rss = args.pid.and_then(proc_rss_kb);
        shared.ttfk_ms.lock().unwrap().clear();
        shared.latencies_us.lock().unwrap().clear();
        shared.errors.store(0, Ordering::Relaxed);
        let stop = Arc::new(AtomicBool::new(false));
        let mut tasks = vec![];
        for _ in 0..n {
            tasks.push(tokio::spawn(reader(
                args.clone(),
                shared.clone(),
                stop.clone(),
            )));
            tokio::time::sleep(args.ramp).await;
        }
        tokio::time::sleep(args.warmup).await;
        shared.bytes.store(0, Ordering::Relaxed);
        shared.measuring.store(true, Ordering::Relaxed);
        let cpu0 = args.pid.and_then(proc_cpu_ticks);
        let t0 = Instant::now();
        tokio::time::sleep(args.measure).await;
        let cpu1 = args.pid.and_then(proc_cpu_ticks);
        let rss = args.pid.and_then(proc_rss_kb);
        let elapsed = t0.elapsed().as_secs_f64();
        shared.measuring.store(false, Ordering::Relaxed);
        let mbps = shared.bytes.load(Ordering::Relaxed) as f64 * 8.0 / elapsed / 1e6;
        stop.store(true, Ordering::Relaxed);
        for t in tasks {
            let _ = tokio::time::timeout(Duration::from_secs(6), t).await;
        }
        let cpu = match (cpu0, cpu1) {
            (Some(a), Some(b)) => Some((b - a) as f64 / ticks_per_s / elapsed * 100.0),
            _ => None,
        };
        let mut ttfk = shared.ttfk_ms.lock().unwrap().clone();
        let mut lat: Vec<f64> = shared
            .latencies_us
            .lock()
            .unwrap()
            .iter()
            .map(|v| *v as f64 / 1000.0)
            .collect();
        let f =
            |v: Option<f64>, prec: usize| v.map(|x| format!("{x:.prec$}")).unwrap_or("-".into());
        println!(
            "| {} | {} | {:.1} | {} | {} | {} | {} | {:.1} / {:.1} | {:.2} / {:.2} | {} |",
            args.label,
            n,
            mbps,
            f(cpu, 1),
            f(cpu.map(|c| c / mbps.max(1e-9) * 100.0), 2),
            f(rss.map(|r| r as f64 / 1024.0), 1),
            f(
                match (rss, base_rss) {
                    (Some(r), Some(b)) if n > 0 => Some((r as f64 - b as f64) / n as f64),
                    _ => None,
                },
                1
            ),
            pct(&mut ttfk, 0.5),
            pct(&mut ttfk, 0.95),
            pct(&mut lat, 0.5),
            pct(&mut lat, 0.99),
            shared.errors.load(Ordering::Relaxed),
        );
        tokio::time::sleep(Duration::from_secs(2)).await;
    }
    std::process::exit(0);
}
