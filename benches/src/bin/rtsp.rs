//! ferrocast-bench-rtsp: RTSP fan-out benchmark, for any RTSP server.
//!
//! Publishes an FLV file in real time (looping) over RTMP with our RTMP client (or, with
//! `--no-publish`, reads a stream that is already there, e.g. a GStreamer RTSP server's),
//! opens N RTSP readers (ramped) over TCP (interleaved) or UDP and reports delivered Mb/s,
//! RTP packets per second per reader, time to the first RTP packet and, given the server's
//! PID, its CPU and RSS. Readers do what players do on the wire: OPTIONS, DESCRIBE, SETUP
//! of every track, PLAY, then read every packet (no decoding).

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

#[path = "../common.rs"]
mod common;

use common::{load_flv, pct, proc_cpu_ticks, proc_rss_kb, publish, TICKS_PER_S};
use ferrocast_rtsp::client::{control_url, RtspUrl};
use ferrocast_rtsp::message::{render_request, Decoder, Item, Response};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpStream, UdpSocket};

const HELP: &str = "\
ferrocast-bench-rtsp: RTSP fan-out benchmark

Usage: ferrocast-bench-rtsp --rtsp rtsp://HOST:PORT/PATH [options]

  --rtsp U          where readers read (any RTSP server)
  --file F          FLV file to publish in real time, looping (H264/AAC)
  --url U           where to publish it over RTMP (default rtmp://127.0.0.1:1935/bench)
  --no-publish      read a stream that is already there
  --transport T     tcp or udp (default tcp)
  --readers LIST    reader counts to measure, e.g. 1,50,200 (default 1,50,200)
  --ramp-ms N       delay between reader connections (default 10)
  --warmup S        seconds after the last reader connects before measuring (default 3)
  --measure S       measurement window in seconds (default 10)
  --pid PID         server process to sample for CPU and RSS (/proc)
  --label TEXT      name printed in the table (default: the RTSP URL's host:port)
";

struct Args {
    rtsp: String,
    file: String,
    url: String,
    publish: bool,
    udp: bool,
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
        if k == "--no-publish" {
            a.insert("no-publish".into(), String::new());
            continue;
        }
        let Some(name) = k.strip_prefix("--") else {
            return Err(format!("unexpected argument '{k}'"));
        };
        let v = it.next().ok_or_else(|| format!("{k} needs a value"))?;
        a.insert(name.to_string(), v);
    }
    let num = |k: &str, d: u64| -> Result<u64, String> {
        a.get(k)
            .map(|v| v.parse().map_err(|_| format!("--{k}: not a number")))
            .unwrap_or(Ok(d))
    };
    let rtsp = a.get("rtsp").cloned().ok_or("--rtsp is required")?;
    let parsed = RtspUrl::parse(&rtsp)?;
    Ok(Args {
        label: a
            .get("label")
            .cloned()
            .unwrap_or(format!("{}:{}", parsed.host, parsed.port)),
        rtsp,
        file: a.get("file").cloned().unwrap_or_default(),
        url: a
            .get("url")
            .cloned()
            .unwrap_or("rtmp://127.0.0.1:1935/bench".into()),
        publish: !a.contains_key("no-publish"),
        udp: match a.get("transport").map(String::as_str) {
            None | Some("tcp") => false,
            Some("udp") => true,
            Some(t) => return Err(format!("--transport {t}: tcp or udp")),
        },
        readers: a
            .get("readers")
            .map(|l| l.split(',').filter_map(|n| n.trim().parse().ok()).collect())
            .unwrap_or(vec![1, 50, 200]),
        ramp: Duration::from_millis(num("ramp-ms", 10)?),
        warmup: Duration::from_secs(num("warmup", 3)?),
        measure: Duration::from_secs(num("measure", 10)?),
        pid: a.get("pid").and_then(|p| p.parse().ok()),
    })
}

#[derive(Default)]
struct Shared {
    measuring: AtomicBool,
    bytes: AtomicU64,
    packets: AtomicU64,
    errors: AtomicU64,
    error_kinds: Mutex<HashMap<String, u64>>,
    first_packet_ms: Mutex<Vec<f64>>,
}

struct Conn {
    tcp: TcpStream,
    decoder: Decoder,
    buf: Vec<u8>,
    cseq: u32,
    session: Option<String>,
}

impl Conn {
    async fn request(
        &mut self,
        method: &str,
        uri: &str,
        extra: &[(&str, String)],
    ) -> Result<Response, String> {
        self.cseq += 1;
        let mut h = vec![("CSeq", self.cseq.to_string())];
        if let Some(s) = &self.session {
            h.push(("Session", s.clone()));
        }
        h.extend(extra.iter().cloned());
        self.tcp
            .write_all(&render_request(method, uri, &h, b""))
            .await
            .map_err(|e| format!("write: {e}"))?;
        loop {
            match self.decoder.next_item() {
                Ok(Some(Item::Response(r))) => {
                    if r.status / 100 != 2 {
                        return Err(format!("{method}: {}", r.status));
                    }
                    if let Some(s) = r.header("Session") {
                        self.session = s.split(';').next().map(|s| s.trim().to_string());
                    }
                    return Ok(r);
                }
                Ok(Some(_)) => continue,
                Ok(None) => {}
                Err(e) => return Err(format!("bad response: {e}")),
            }
            let n = self
                .tcp
                .read(&mut self.buf)
                .await
                .map_err(|e| format!("read: {e}"))?;
            if n == 0 {
                return Err("closed by the server".into());
            }
            self.decoder.push(&self.buf[..n]);
        }
    }
}

/// The `a=control` values of an SDP, in order.
fn controls(sdp: &[u8]) -> Vec<String> {
    let text = String::from_utf8_lossy(sdp);
    let mut out = Vec::new();
    let mut in_media = false;
    for l in text.lines() {
        if l.starts_with("m=") {
            in_media = true;
            out.push(String::new());
        } else if let (true, Some(c)) = (in_media, l.strip_prefix("a=control:")) {
            if let Some(last) = out.last_mut() {
                *last = c.trim().to_string();
            }
        }
    }
    out
}

async fn run_reader(args: &Args, shared: &Shared, stop: &AtomicBool) -> Result<(), String> {
    let url = RtspUrl::parse(&args.rtsp)?;
    let t0 = Instant::now();
    let tcp = TcpStream::connect((url.host.as_str(), url.port))
        .await
        .map_err(|e| format!("connect: {e}"))?;
    let mut c = Conn {
        tcp,
        decoder: Decoder::new(),
        buf: vec![0u8; 65536],
        cseq: 0,
        session: None,
    };
    let base = url.request_url.clone();
    let res = c
        .request("DESCRIBE", &base, &[("Accept", "application/sdp".into())])
        .await?;
    let content_base = res
        .header("Content-Base")
        .map(str::to_string)
        .unwrap_or(base.clone());
    let mut sockets = Vec::new();
    for (i, ctl) in controls(&res.body).iter().enumerate() {
        let uri = control_url(&content_base, ctl);
        let transport = if args.udp {
            let rtp = UdpSocket::bind("0.0.0.0:0")
                .await
                .map_err(|e| e.to_string())?;
            let port = rtp.local_addr().map_err(|e| e.to_string())?.port();
            sockets.push(rtp);
            format!("RTP/AVP;unicast;client_port={port}-{}", port + 1)
        } else {
            format!("RTP/AVP/TCP;unicast;interleaved={}-{}", i * 2, i * 2 + 1)
        };
        c.request("SETUP", &uri, &[("Transport", transport)])
            .await?;
    }
    c.request("PLAY", &base, &[]).await?;
    let mut first = true;
    let mut count = |n: usize| {
        if first {
            first = false;
            shared
                .first_packet_ms
                .lock()
                .unwrap()
                .push(t0.elapsed().as_secs_f64() * 1000.0);
        }
        if shared.measuring.load(Ordering::Relaxed) {
            shared.bytes.fetch_add(n as u64, Ordering::Relaxed);
            shared.packets.fetch_add(1, Ordering::Relaxed);
        }
    };
    let (mut b1, mut b2) = (vec![0u8; 65536], vec![0u8; 65536]);
    while !stop.load(Ordering::Relaxed) {
        if args.udp {
            // Readers of up to two tracks (video + audio): both sockets and the connection.
            let (s1, s2) = (sockets.first(), sockets.get(1));
            tokio::select! {
                r = recv_opt(s1, &mut b1) => if let Some(n) = r { count(n) },
                r = recv_opt(s2, &mut b2) => if let Some(n) = r { count(n) },
                r = c.tcp.read(&mut c.buf) => match r {
                    Ok(0) => return Err("closed by the server".into()),
                    Ok(_) => {}
                    Err(e) => return Err(format!("read: {e}")),
                },
                _ = tokio::time::sleep(Duration::from_millis(200)) => {}
            }
            continue;
        }
        let n = match tokio::time::timeout(Duration::from_millis(200), c.tcp.read(&mut c.buf)).await
        {
            Err(_) => continue,
            Ok(Ok(0)) => return Err("closed by the server".into()),
            Ok(Ok(n)) => n,
            Ok(Err(e)) => return Err(format!("read: {e}")),
        };
        c.decoder.push(&c.buf[..n]);
        loop {
            match c.decoder.next_item() {
                Ok(Some(Item::Interleaved { data, .. })) => count(data.len()),
                Ok(Some(_)) => {}
                Ok(None) => break,
                Err(e) => return Err(format!("bad data: {e}")),
            }
        }
    }
    let _ = c.request("TEARDOWN", &base, &[]).await;
    Ok(())
}

/// One datagram's size, or never when there is no socket.
async fn recv_opt(s: Option<&UdpSocket>, buf: &mut [u8]) -> Option<usize> {
    match s {
        Some(s) => s.recv_from(buf).await.ok().map(|(n, _)| n),
        None => std::future::pending().await,
    }
}

fn own_cpu_ticks() -> Option<u64> {
    proc_cpu_ticks(std::process::id())
}

#[tokio::main]
async fn main() {
    let args = match parse_args() {
        Ok(a) => Arc::new(a),
        Err(e) => {
            eprintln!("ferrocast-bench-rtsp: {e}\n\n{HELP}");
            std::process::exit(2);
        }
    };
    if args.publish {
        if args.file.is_empty() {
            eprintln!("ferrocast-bench-rtsp: --file is required (or --no-publish)");
            std::process::exit(2);
        }
        let tags = match load_flv(&args.file) {
            Ok(t) => t,
            Err(e) => {
                eprintln!("ferrocast-bench-rtsp: {e}");
                std::process::exit(2);
            }
        };
        tokio::spawn(publish(args.url.clone(), tags, |_| {}));
        tokio::time::sleep(Duration::from_secs(2)).await;
    }
    let transport = if args.udp { "UDP" } else { "TCP" };
    println!(
        "| server | transport | readers | delivered Mb/s | server CPU % | CPU % per 100 Mb/s | RSS MB | RSS KB/reader | first packet p50/p95 ms | RTP pkt/s per reader | errors | bench CPU % |"
    );
    println!("|---|---|---|---|---|---|---|---|---|---|---|---|");
    let shared = Arc::new(Shared::default());
    for &n in &args.readers {
        let base_rss = args.pid.and_then(proc_rss_kb);
        shared.first_packet_ms.lock().unwrap().clear();
        shared.errors.store(0, Ordering::Relaxed);
        shared.error_kinds.lock().unwrap().clear();
        let stop = Arc::new(AtomicBool::new(false));
        let mut tasks = vec![];
        for _ in 0..n {
            let (a, shared, stop) = (args.clone(), shared.clone(), stop.clone());
            tasks.push(tokio::spawn(async move {
                if let Err(e) = run_reader(&a, &shared, &stop).await {
                    shared.errors.fetch_add(1, Ordering::Relaxed);
                    *shared.error_kinds.lock().unwrap().entry(e).or_default() += 1;
                }
            }));
            tokio::time::sleep(args.ramp).await;
        }
        tokio::time::sleep(args.warmup).await;
        shared.bytes.store(0, Ordering::Relaxed);
        shared.packets.store(0, Ordering::Relaxed);
        shared.measuring.store(true, Ordering::Relaxed);
        let cpu0 = args.pid.and_then(proc_cpu_ticks);
        let own0 = own_cpu_ticks();
        let t0 = Instant::now();
        tokio::time::sleep(args.measure).await;
        let cpu1 = args.pid.and_then(proc_cpu_ticks);
        let own1 = own_cpu_ticks();
        let rss = args.pid.and_then(proc_rss_kb);
        let elapsed = t0.elapsed().as_secs_f64();
        shared.measuring.store(false, Ordering::Relaxed);
        let mbps = shared.bytes.load(Ordering::Relaxed) as f64 * 8.0 / elapsed / 1e6;
        let pps = shared.packets.load(Ordering::Relaxed) as f64 / elapsed / n.max(1) as f64;
        stop.store(true, Ordering::Relaxed);
        for t in tasks {
            let _ = tokio::time::timeout(Duration::from_secs(15), t).await;
        }
        let share = |a: Option<u64>, b: Option<u64>| match (a, b) {
            (Some(a), Some(b)) => Some((b - a) as f64 / TICKS_PER_S / elapsed * 100.0),
            _ => None,
        };
        let cpu = share(cpu0, cpu1);
        let own = share(own0, own1);
        let mut first = shared.first_packet_ms.lock().unwrap().clone();
        let f =
            |v: Option<f64>, prec: usize| v.map(|x| format!("{x:.prec$}")).unwrap_or("-".into());
        let errors = shared.errors.load(Ordering::Relaxed);
        println!(
            "| {} | {transport} | {n} | {mbps:.1} | {} | {} | {} | {} | {:.0} / {:.0} | {pps:.0} | {errors} | {} |",
            args.label,
            f(cpu, 1),
            f(cpu.filter(|_| mbps > 0.0).map(|c| c / mbps * 100.0), 2),
            f(rss.map(|r| r as f64 / 1024.0), 1),
            f(
                match (rss, base_rss) {
                    (Some(r), Some(b)) if n > 0 => Some((r as f64 - b as f64) / n as f64),
                    _ => None,
                },
                1
            ),
            pct(&mut first, 0.5),
            pct(&mut first, 0.95),
            f(own, 1),
        );
        if errors > 0 {
            for (k, c) in shared.error_kinds.lock().unwrap().iter() {
                eprintln!("  {n} readers: {c} x {k}");
            }
        }
        tokio::time::sleep(Duration::from_secs(2)).await;
    }
    std::process::exit(0);
}
