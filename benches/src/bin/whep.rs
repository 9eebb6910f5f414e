//! ferrocast-bench-whep: WHEP (WebRTC) fan-out benchmark.
//!
//! Publishes an FLV file in real time (looping) over RTMP with our RTMP client, opens N WHEP
//! readers (ramped) and reports delivered Mb/s, time to first video frame and, given the
//! server's PID, its CPU and RSS. Readers are real WebRTC peers on str0m (ICE-full,
//! controlling, one UDP socket each): they POST their offer to the WHEP endpoint, do ICE,
//! DTLS and SRTP, and depacketize what they receive; "delivered" counts the bytes of the
//! media frames they get (`Event::MediaData`, video and audio); "gaps" counts video frames
//! str0m marks as not contiguous (packets lost before them). At the end of a level each reader closes its
//! peer connection and DELETEs its session.
//!
//! With an AAC source the server makes one shared AAC -> Opus rendition for its WebRTC
//! readers: it runs while at least one WHEP reader is there, so its CPU is in every level's
//! numbers; readers count 0 (the publisher alone, before any reader) gives the baseline.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

#[path = "../common.rs"]
mod common;

use common::{load_flv, pct, proc_cpu_ticks, proc_rss_kb, publish, TICKS_PER_S};
use str0m::change::SdpAnswer;
use str0m::config::{CryptoProvider, DtlsCert};
use str0m::media::{Direction, MediaKind};
use str0m::net::{Protocol, Receive};
use str0m::{Candidate, Event, IceConnectionState, Input, Output, Rtc, RtcConfig};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpStream, UdpSocket};

const HELP: &str = "\
ferrocast-bench-whep: WHEP (WebRTC) fan-out benchmark

Usage: ferrocast-bench-whep --file SRC.flv [options]

  --file F          FLV file to publish in real time, looping (H264/AAC)
  --url U           where to publish over RTMP (default rtmp://127.0.0.1:1935/bench)
  --whep U          the WHEP endpoint to read from (default http://HOST:8889/PATH/whep,
                    HOST and PATH from --url)
  --no-publish      don't publish: read a path that is already live
  --readers LIST    reader counts to measure, e.g. 0,1,50,200 (default 1,50,200); 0 measures
                    the publisher alone
  --ramp-ms N       delay between reader connections (default 10)
  --warmup S        seconds after the last reader connects before measuring (default 3)
  --measure S       measurement window in seconds (default 10)
  --pid PID         server process to sample for CPU and RSS (/proc)
  --label TEXT      name printed in the table (default: the WHEP URL's host:port)
";

struct Args {
    file: String,
    url: String,
    whep: String,
    publish: bool,
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
        if name == "no-publish" {
            a.insert(name.to_string(), String::new());
            continue;
        }
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
    let url = get("url").unwrap_or_else(|| "rtmp://127.0.0.1:1935/bench".into());
    let whep = match get("whep") {
        Some(w) => w,
        None => {
            let u = ferrocast_rtmp::client::RtmpUrl::parse(&url).map_err(|e| e.to_string())?;
            let path = if u.app.is_empty() {
                u.name.clone()
            } else {
                format!("{}/{}", u.app, u.name)
            };
            format!("http://{}:8889/{}/whep", u.host, path)
        }
    };
    let (host, port, _) = split_http_url(&whep)?;
    Ok(Args {
        file: get("file").unwrap_or_default(),
        publish: get("no-publish").is_none(),
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
        label: get("label").unwrap_or_else(|| format!("{host}:{port}")),
        url,
        whep,
    })
}

/// `http://host[:port]/path` -> (host, port, /path).
fn split_http_url(u: &str) -> Result<(String, u16, String), String> {
    let rest = u
        .strip_prefix("http://")
        .ok_or_else(|| format!("{u}: only http:// WHEP URLs are supported"))?;
    let (authority, path) = match rest.find('/') {
        Some(i) => (&rest[..i], rest[i..].to_string()),
        None => (rest, "/".to_string()),
    };
    let (host, port) = match authority.rsplit_once(':') {
        Some((h, p)) if !h.ends_with(']') || authority.starts_with('[') => (
            h.trim_matches(['[', ']']).to_string(),
            p.parse().map_err(|_| format!("{u}: bad port"))?,
        ),
        _ => (authority.trim_matches(['[', ']']).to_string(), 80),
    };
    Ok((host, port, path))
}

struct HttpResponse {
    status: u16,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

impl HttpResponse {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// One HTTP/1.1 request on a fresh connection (`Connection: close`).
async fn http(
    method: &str,
    host: &str,
    port: u16,
    path: &str,
    content_type: Option<&str>,
    body: &[u8],
) -> Result<HttpResponse, String> {
    let io = async {
        let mut s = TcpStream::connect((host, port))
            .await
            .map_err(|e| format!("connect {host}:{port}: {e}"))?;
        let _ = s.set_nodelay(true);
        let mut req = format!(
            "{method} {path} HTTP/1.1\r\nHost: {host}:{port}\r\nConnection: close\r\n\
             User-Agent: ferrocast-bench-whep\r\nContent-Length: {}\r\n",
            body.len()
        );
        if let Some(ct) = content_type {
            req.push_str(&format!("Content-Type: {ct}\r\n"));
        }
        req.push_str("\r\n");
        let mut out = req.into_bytes();
        out.extend_from_slice(body);
        s.write_all(&out).await.map_err(|e| e.to_string())?;
        let mut raw = Vec::new();
        s.read_to_end(&mut raw).await.map_err(|e| e.to_string())?;
        Ok::<_, String>(raw)
    };
    let raw = tokio::time::timeout(Duration::from_secs(10), io)
        .await
        .map_err(|_| format!("{method} {path}: timeout"))??;
    let end = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .ok_or("malformed HTTP response")?;
    let head = String::from_utf8_lossy(&raw[..end]);
    let mut lines = head.split("\r\n");
    let status = lines
        .next()
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|c| c.parse().ok())
        .ok_or("malformed HTTP status line")?;
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_string(), v.trim().to_string()))
        .collect();
    let mut body = raw[end + 4..].to_vec();
    if headers
        .iter()
        .any(|(k, v)| k.eq_ignore_ascii_case("transfer-encoding") && v.contains("chunked"))
    {
        body = dechunk(&body);
    }
    Ok(HttpResponse {
        status,
        headers,
        body,
    })
}

fn dechunk(mut b: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    while let Some(i) = b.windows(2).position(|w| w == b"\r\n") {
        let size = std::str::from_utf8(&b[..i])
            .ok()
            .and_then(|s| usize::from_str_radix(s.split(';').next()?.trim(), 16).ok())
            .unwrap_or(0);
        b = &b[i + 2..];
        if size == 0 || b.len() < size {
            break;
        }
        out.extend_from_slice(&b[..size]);
        b = b.get(size + 2..).unwrap_or_default();
    }
    out
}

#[derive(Default)]
struct Shared {
    /// Media bytes received while measuring.
    bytes: AtomicU64,
    video_frames: AtomicU64,
    audio_frames: AtomicU64,
    /// Frames str0m flagged as not contiguous (packets lost before them).
    gaps: AtomicU64,
    measuring: AtomicBool,
    ttff_ms: Mutex<Vec<f64>>,
    errors: AtomicU64,
    error_kinds: Mutex<HashMap<String, u64>>,
}

impl Shared {
    fn error(&self, kind: &str) {
        self.errors.fetch_add(1, Ordering::Relaxed);
        *self
            .error_kinds
            .lock()
            .unwrap()
            .entry(kind.to_string())
            .or_default() += 1;
        if std::env::var_os("BENCH_DEBUG").is_some() {
            eprintln!("reader error: {kind}");
        }
    }
}

/// What every reader shares: the DTLS identity and where the server is.
struct Ctx {
    crypto: Arc<CryptoProvider>,
    cert: DtlsCert,
    host: String,
    port: u16,
    path: String,
    /// The address our UDP sockets bind to (the one that routes to the server).
    local_ip: IpAddr,
}

/// Sends str0m's transmits and handles its events until it wants a timeout.
async fn drain(
    rtc: &mut Rtc,
    sock: &UdpSocket,
    on_event: &mut impl FnMut(Event) -> Result<(), String>,
) -> Result<Instant, String> {
    loop {
        match rtc.poll_output().map_err(|e| format!("str0m: {e}"))? {
            Output::Timeout(t) => return Ok(t),
            Output::Transmit(t) => {
                // A full socket buffer or an unreachable peer loses a datagram, as UDP does.
                let _ = sock.send_to(&t.contents, t.destination).await;
            }
            Output::Event(e) => on_event(e)?,
        }
    }
}

struct ReaderState {
    connected: bool,
    got_video: bool,
    last_media: Instant,
}

impl ReaderState {
    fn on_event(&mut self, e: Event, shared: &Shared, t0: Instant) -> Result<(), String> {
        match e {
            Event::Connected => self.connected = true,
            Event::IceConnectionStateChange(IceConnectionState::Disconnected) => {
                return Err("ICE disconnected".into())
            }
            Event::MediaData(d) => {
                self.last_media = Instant::now();
                let video = d.params.spec().codec.is_video();
                if video && !self.got_video {
                    self.got_video = true;
                    let ms = t0.elapsed().as_secs_f64() * 1000.0;
                    shared.ttff_ms.lock().unwrap().push(ms);
                }
                if shared.measuring.load(Ordering::Relaxed) {
                    shared
                        .bytes
                        .fetch_add(d.data.len() as u64, Ordering::Relaxed);
                    if video {
                        shared.video_frames.fetch_add(1, Ordering::Relaxed);
                        if !d.contiguous {
                            shared.gaps.fetch_add(1, Ordering::Relaxed);
                        }
                    } else {
                        shared.audio_frames.fetch_add(1, Ordering::Relaxed);
                    }
                }
            }
            _ => {}
        }
        Ok(())
    }
}

async fn reader(ctx: Arc<Ctx>, shared: Arc<Shared>, stop: Arc<AtomicBool>) {
    if let Err(e) = run_reader(&ctx, &shared, &stop).await {
        shared.error(&e);
    }
}

async fn run_reader(ctx: &Ctx, shared: &Shared, stop: &AtomicBool) -> Result<(), String> {
    let t0 = Instant::now();
    let sock = UdpSocket::bind(SocketAddr::new(ctx.local_ip, 0))
        .await
        .map_err(|e| format!("bind: {e}"))?;
    let local = sock.local_addr().map_err(|e| e.to_string())?;
    let mut rtc = RtcConfig::new()
        .set_crypto_provider(ctx.crypto.clone())
        .set_dtls_cert(ctx.cert.clone())
        .build(Instant::now());
    rtc.add_local_candidate(Candidate::host(local, "udp").map_err(|e| e.to_string())?);
    let mut api = rtc.sdp_api();
    api.add_media(MediaKind::Video, Direction::RecvOnly, None, None, None);
    api.add_media(MediaKind::Audio, Direction::RecvOnly, None, None, None);
    let (offer, pending) = api.apply().ok_or("str0m made no offer")?;
    let resp = http(
        "POST",
        &ctx.host,
        ctx.port,
        &ctx.path,
        Some("application/sdp"),
        offer.to_sdp_string().as_bytes(),
    )
    .await
    .map_err(|e| format!("POST: {e}"))?;
    if resp.status != 201 {
        return Err(format!(
            "POST: {} {}",
            resp.status,
            String::from_utf8_lossy(&resp.body).trim()
        ));
    }
    let location = resp.header("location").map(str::to_string);
    let answer = SdpAnswer::from_sdp_string(&String::from_utf8_lossy(&resp.body))
        .map_err(|e| format!("answer: {e}"))?;
    rtc.sdp_api()
        .accept_answer(pending, answer)
        .map_err(|e| format!("answer: {e}"))?;

    let mut st = ReaderState {
        connected: false,
        got_video: false,
        last_media: Instant::now(),
    };
    let mut buf = vec![0u8; 2048];
    let result = loop {
        let timeout = match drain(&mut rtc, &sock, &mut |e| st.on_event(e, shared, t0)).await {
            Ok(t) => t,
            Err(e) => break Err(e),
        };
        if stop.load(Ordering::Relaxed) {
            break Ok(());
        }
        let now = Instant::now();
        if !st.connected && now.duration_since(t0) > Duration::from_secs(10) {
            break Err("no connection within 10 s (ICE/DTLS)".into());
        }
        if st.connected && now.duration_since(st.last_media) > Duration::from_secs(5) {
            break Err("no media for 5 s".into());
        }
        // Wake at least every 250 ms to look at `stop` and the watchdogs.
        let deadline = timeout.min(now + Duration::from_millis(250));
        let input = tokio::select! {
            r = sock.recv_from(&mut buf) => match r {
                Ok((n, source)) => match Receive::new(Protocol::Udp, source, local, &buf[..n]) {
                    Ok(r) => Input::Receive(Instant::now(), r),
                    Err(_) => continue,
                },
                Err(_) => continue,
            },
            _ = tokio::time::sleep_until(deadline.into()) => Input::Timeout(Instant::now()),
        };
        if let Err(e) = rtc.handle_input(input) {
            break Err(format!("str0m: {e}"));
        }
    };
    rtc.disconnect();
    if let Some(loc) = location {
        let _ = http("DELETE", &ctx.host, ctx.port, &loc, None, b"").await;
    }
    result
}

fn own_cpu_ticks() -> Option<u64> {
    proc_cpu_ticks(std::process::id())
}

/// The local address that routes to `host` (what the readers' sockets bind to).
async fn local_ip_towards(host: &str, port: u16) -> Result<IpAddr, String> {
    let target = tokio::net::lookup_host((host, port))
        .await
        .map_err(|e| format!("{host}: {e}"))?
        .next()
        .ok_or_else(|| format!("{host}: no address"))?;
    let bind: SocketAddr = if target.is_ipv4() {
        "0.0.0.0:0".parse().unwrap()
    } else {
        "[::]:0".parse().unwrap()
    };
    let s = std::net::UdpSocket::bind(bind).map_err(|e| e.to_string())?;
    s.connect(target).map_err(|e| e.to_string())?;
    Ok(s.local_addr().map_err(|e| e.to_string())?.ip())
}

#[tokio::main]
async fn main() {
    let args = match parse_args() {
        Ok(a) => Arc::new(a),
        Err(e) => {
            eprintln!("ferrocast-bench-whep: {e}\n\n{HELP}");
            std::process::exit(2);
        }
    };
    let fail = |e: String| -> ! {
        eprintln!("ferrocast-bench-whep: {e}");
        std::process::exit(2);
    };
    let (host, port, path) = split_http_url(&args.whep).unwrap_or_else(|e| fail(e));
    let local_ip = local_ip_towards(&host, port)
        .await
        .unwrap_or_else(|e| fail(e));
    let crypto = Arc::new(str0m::crypto::from_feature_flags());
    let cert = crypto
        .dtls_provider
        .generate_certificate()
        .unwrap_or_else(|| fail("cannot make a DTLS certificate".into()));
    let ctx = Arc::new(Ctx {
        crypto,
        cert,
        host,
        port,
        path,
        local_ip,
    });
    if args.publish {
        if args.file.is_empty() {
            fail("--file is required (or --no-publish)".into());
        }
        let tags = load_flv(&args.file).unwrap_or_else(|e| fail(e));
        tokio::spawn(publish(args.url.clone(), tags, |_| {}));
        tokio::time::sleep(Duration::from_secs(2)).await;
    }
    println!(
        "| server | readers | delivered Mb/s | server CPU % | CPU % per 100 Mb/s | RSS MB | RSS KB/reader | first video frame p50/p95 ms | video fps / audio pkt/s per reader | gaps | errors | bench CPU % |"
    );
    println!("|---|---|---|---|---|---|---|---|---|---|---|---|");
    let shared = Arc::new(Shared::default());
    for &n in &args.readers {
        let base_rss = args.pid.and_then(proc_rss_kb);
        shared.ttff_ms.lock().unwrap().clear();
        shared.errors.store(0, Ordering::Relaxed);
        shared.error_kinds.lock().unwrap().clear();
        let stop = Arc::new(AtomicBool::new(false));
        let mut tasks = vec![];
        for _ in 0..n {
            tasks.push(tokio::spawn(reader(
                ctx.clone(),
                shared.clone(),
                stop.clone(),
            )));
            tokio::time::sleep(args.ramp).await;
        }
        tokio::time::sleep(args.warmup).await;
        shared.bytes.store(0, Ordering::Relaxed);
        shared.video_frames.store(0, Ordering::Relaxed);
        shared.audio_frames.store(0, Ordering::Relaxed);
        shared.gaps.store(0, Ordering::Relaxed);
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
        let per_reader =
            |c: &AtomicU64| c.load(Ordering::Relaxed) as f64 / elapsed / n.max(1) as f64;
        let fps = per_reader(&shared.video_frames);
        let aps = per_reader(&shared.audio_frames);
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
        let mut ttff = shared.ttff_ms.lock().unwrap().clone();
        let f =
            |v: Option<f64>, prec: usize| v.map(|x| format!("{x:.prec$}")).unwrap_or("-".into());
        let errors = shared.errors.load(Ordering::Relaxed);
        println!(
            "| {} | {} | {:.1} | {} | {} | {} | {} | {:.0} / {:.0} | {:.1} / {:.1} | {} | {} | {} |",
            args.label,
            n,
            mbps,
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
            pct(&mut ttff, 0.5),
            pct(&mut ttff, 0.95),
            fps,
            aps,
            shared.gaps.load(Ordering::Relaxed),
            errors,
            f(own, 1),
        );
        if errors > 0 {
            let kinds = shared.error_kinds.lock().unwrap();
            for (k, c) in kinds.iter() {
                eprintln!("  {n} readers: {c} x {k}");
            }
        }
        // Let the server finish closing the sessions before the next level.
        tokio::time::sleep(Duration::from_secs(2)).await;
    }
    std::process::exit(0);
}
