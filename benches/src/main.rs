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

mod common;

use common::{load_flv, pct, proc_cpu_ticks, proc_rss_kb, publish, TICKS_PER_S};
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

#[tokio::main]
async fn main() {
    let args = match parse_args() {
        Ok(a) => Arc::new(a),
        Err(e) => {
            eprintln!("ferrocast-bench: {e}\n\n{HELP}");
            std::process::exit(2);
        }
    };
    let tags = match load_flv(&args.file) {
        Ok(t) => t,
        Err(e) => {
            eprintln!("ferrocast-bench: {e}");
            std::process::exit(2);
        }
    };
    let shared = Arc::new(Shared::default());
    let sent = shared.clone();
    tokio::spawn(publish(args.url.clone(), tags, move |body| {
        sent.sent
            .lock()
            .unwrap()
            .insert(fingerprint(body), Instant::now());
    }));
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
            (Some(a), Some(b)) => Some((b - a) as f64 / TICKS_PER_S / elapsed * 100.0),
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
