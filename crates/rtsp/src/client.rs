//! RTSP client for pull sources (`source: rtsp://...`): OPTIONS, DESCRIBE (Basic or Digest
//! auth), SETUP of every track it can carry (TCP interleaved or UDP), PLAY, then RTP into
//! the path through the same [`Ingest`] the server uses for publishers, with RTCP receiver
//! reports and keep-alives.
//!
//! Our own client rather than retina: it shares the depacketizers (every codec of
//! `ferrocast-rtp`, including the pass-through `Generic` ones) and the message parser with
//! the server, so what the server accepts from a publisher it also accepts from a camera.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use bytes::Bytes;
use ferrocast_core::conns::RtpCounters;
use ferrocast_core::{CancellationToken, Publisher, Track};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::{TcpStream, UdpSocket};
use tokio::sync::mpsc;
use tracing::{debug, info};

use crate::auth::{self, Challenge};
use crate::egress::{Delivery, Outbox};
use crate::ingest::{InTrack, Ingest};
use crate::message::{self, Decoder, Item, Response};
use crate::multicast::REPORT_PERIOD;
use crate::sdp;

/// How to receive the RTP of a pulled stream (`rtspTransport`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PullTransport {
    /// UDP, then TCP when the server refuses UDP or no UDP packet arrives within
    /// [`UDP_FALLBACK_AFTER`] (a firewall or NAT in the way).
    Automatic,
    Udp,
    Tcp,
}

/// How long automatic transport waits for the first UDP packet before switching to TCP.
pub const UDP_FALLBACK_AFTER: Duration = Duration::from_secs(3);

/// Why an attempt ended without an error of the server: no UDP packet arrived.
const NO_UDP: &str = "no UDP packet arrived";

/// What to pull and how.
#[derive(Debug, Clone)]
pub struct PullConfig {
    pub url: String,
    pub transport: PullTransport,
    /// Accept RTP from any port of the server (`rtspAnyPort`: some cameras send from
    /// other ports than they announce).
    pub any_port: bool,
    pub read_timeout: Duration,
    pub write_timeout: Duration,
    /// `rtspUDPSourcePortRange`.
    pub udp_port_range: (u16, u16),
    /// `sourceFingerprint`: for rtsps://, the SHA-256 fingerprint the server certificate
    /// must have (empty: any certificate).
    pub fingerprint: String,
}

/// An `rtsp://` or `rtsps://` URL taken apart.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RtspUrl {
    pub tls: bool,
    pub host: String,
    pub port: u16,
    pub user: String,
    pub pass: String,
    /// The URL without credentials, as sent in requests.
    pub request_url: String,
}

impl RtspUrl {
    pub fn parse(s: &str) -> Result<RtspUrl, String> {
        let (tls, rest) = if let Some(r) = s.strip_prefix("rtsp://") {
            (false, r)
        } else if let Some(r) = s.strip_prefix("rtsps://") {
            (true, r)
        } else {
            return Err(format!("not an rtsp:// or rtsps:// URL: {s}"));
        };
        let (authority, path) = match rest.find('/') {
            Some(i) => (&rest[..i], &rest[i..]),
            None => (rest, "/"),
        };
        let (userinfo, hostport) = match authority.rfind('@') {
            Some(i) => (Some(&authority[..i]), &authority[i + 1..]),
            None => (None, authority),
        };
        let (user, pass) = match userinfo {
            Some(u) => {
                let (a, b) = u.split_once(':').unwrap_or((u, ""));
                (percent_decode(a), percent_decode(b))
            }
            None => (String::new(), String::new()),
        };
        let default_port = if tls { 322 } else { 554 };
        let (host, port) = if let Some(h) = hostport.strip_prefix('[') {
            let end = h.find(']').ok_or("bad IPv6 host")?;
            let port = match h[end + 1..].strip_prefix(':') {
                Some(p) => p.parse().map_err(|_| format!("bad port in {s}"))?,
                None => default_port,
            };
            (h[..end].to_string(), port)
        } else {
            match hostport.rsplit_once(':') {
                Some((h, p)) => (
                    h.to_string(),
                    p.parse().map_err(|_| format!("bad port in {s}"))?,
                ),
                None => (hostport.to_string(), default_port),
            }
        };
        if host.is_empty() {
            return Err(format!("no host in {s}"));
        }
        let scheme = if tls { "rtsps" } else { "rtsp" };
        let hostpart = if host.contains(':') {
            format!("[{host}]:{port}")
        } else {
            format!("{host}:{port}")
        };
        Ok(RtspUrl {
            tls,
            request_url: format!("{scheme}://{hostpart}{path}"),
            host,
            port,
            user,
            pass,
        })
    }
}

fn percent_decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' && i + 2 < b.len() {
            let hex = |c: u8| (c as char).to_digit(16);
            if let (Some(h), Some(l)) = (hex(b[i + 1]), hex(b[i + 2])) {
                out.push((h * 16 + l) as u8);
                i += 3;
                continue;
            }
        }
        out.push(b[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// The URL of a track from the SDP's `a=control` and the content base.
pub fn control_url(base: &str, control: &str) -> String {
    if control.is_empty() || control == "*" {
        return base.to_string();
    }
    if control.starts_with("rtsp://") || control.starts_with("rtsps://") {
        return control.to_string();
    }
    if base.ends_with('/') {
        format!("{base}{control}")
    } else {
        format!("{base}/{control}")
    }
}

trait Io: AsyncRead + AsyncWrite + Unpin + Send {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send> Io for T {}

struct Client<'a> {
    io: Box<dyn Io>,
    decoder: Decoder,
    buf: Vec<u8>,
    cseq: u32,
    url: RtspUrl,
    challenge: Option<Challenge>,
    session: Option<String>,
    /// Interleaved frames that arrived while waiting for a response.
    early: Vec<(u8, Bytes)>,
    write_timeout: Duration,
    read_timeout: Duration,
    bytes: &'a AtomicU64,
}

impl Client<'_> {
    async fn send(&mut self, data: &[u8]) -> Result<(), String> {
        match tokio::time::timeout(self.write_timeout, self.io.write_all(data)).await {
            Ok(Ok(())) => Ok(()),
            Ok(Err(e)) => Err(format!("write error: {e}")),
            Err(_) => Err("write timed out".into()),
        }
    }

    /// Sends a request and waits for its response, answering one authentication challenge.
    async fn request(
        &mut self,
        method: &str,
        uri: &str,
        extra: &[(&str, String)],
    ) -> Result<Response, String> {
        for attempt in 0..2 {
            self.cseq += 1;
            let mut headers: Vec<(&str, String)> = vec![
                ("CSeq", self.cseq.to_string()),
                ("User-Agent", "Ferrocast".into()),
            ];
            if let Some(s) = &self.session {
                headers.push(("Session", s.clone()));
            }
            if let Some(c) = &self.challenge {
                headers.push((
                    "Authorization",
                    auth::authorization(c, &self.url.user, &self.url.pass, method, uri),
                ));
            }
            headers.extend(extra.iter().cloned());
            let req = message::render_request(method, uri, &headers, b"");
            self.send(&req).await?;
            let res = self.response().await?;
            if res.status == 401 && attempt == 0 && !self.url.user.is_empty() {
                let challenges = res
                    .headers
                    .iter()
                    .filter(|(k, _)| k.eq_ignore_ascii_case("WWW-Authenticate"))
                    .map(|(_, v)| v.as_str());
                if let Some(c) = auth::parse_challenges(challenges) {
                    self.challenge = Some(c);
                    continue;
                }
            }
            return Ok(res);
        }
        Err("authentication failed".into())
    }

    async fn response(&mut self) -> Result<Response, String> {
        let deadline = Instant::now() + self.read_timeout;
        loop {
            match self.decoder.next_item() {
                Ok(Some(Item::Response(r))) => return Ok(r),
                Ok(Some(Item::Interleaved { channel, data })) => {
                    if self.early.len() < 4096 {
                        self.early.push((channel, data));
                    }
                    continue;
                }
                Ok(Some(Item::Request(_))) => continue, // server requests: not answered
                Ok(None) => {}
                Err(e) => return Err(format!("malformed response: {e}")),
            }
            let left = deadline.saturating_duration_since(Instant::now());
            let n = match tokio::time::timeout(left, self.io.read(&mut self.buf)).await {
                Ok(Ok(0)) => return Err("the server closed the connection".into()),
                Ok(Ok(n)) => n,
                Ok(Err(e)) => return Err(format!("read error: {e}")),
                Err(_) => return Err("no response (readTimeout)".into()),
            };
            self.bytes.fetch_add(n as u64, Ordering::Relaxed);
            self.decoder.push(&self.buf[..n]);
        }
    }
}

fn check(res: &Response, what: &str) -> Result<(), String> {
    if res.status / 100 == 2 {
        Ok(())
    } else {
        Err(format!("{what}: {} {}", res.status, res.reason))
    }
}

/// Binds an even/odd pair of UDP ports in `range`.
async fn udp_pair(range: (u16, u16)) -> Result<(UdpSocket, UdpSocket), String> {
    let (lo, hi) = (range.0.max(1024), range.1.max(range.0.max(1024) + 2));
    let span = ((hi - lo) / 2).max(1) as u64;
    let mut seed = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos() as u64)
        .unwrap_or(7);
    for _ in 0..50 {
        seed = seed
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        let port = lo + ((seed >> 33) % span) as u16 * 2;
        let Ok(a) = UdpSocket::bind(("0.0.0.0", port)).await else {
            continue;
        };
        if let Ok(b) = UdpSocket::bind(("0.0.0.0", port + 1)).await {
            return Ok((a, b));
        }
    }
    Err(format!("no free UDP port pair in {}-{}", range.0, range.1))
}

/// A datagram from one of our UDP sockets.
struct Dgram {
    track: usize,
    rtcp: bool,
    data: Bytes,
}

/// Pulls `cfg.url` until the stream ends, fails, or `token` is cancelled. `start` is called
/// with the tracks when PLAY succeeded, and returns the path's publisher; it is called
/// again when automatic transport falls back from UDP to TCP.
pub async fn pull<F>(
    cfg: &PullConfig,
    counters: &RtpCounters,
    bytes: &AtomicU64,
    token: &CancellationToken,
    mut start: F,
) -> Result<(), String>
where
    F: FnMut(Vec<Track>) -> Result<Publisher, String>,
{
    match pull_once(cfg, false, counters, bytes, token, &mut start).await {
        Err(e) if e == NO_UDP => {
            info!(
                "RTSP source {}: no UDP packet in {UDP_FALLBACK_AFTER:?}, switching to TCP",
                cfg.url
            );
            pull_once(cfg, true, counters, bytes, token, &mut start).await
        }
        r => r,
    }
}

/// One session; `force_tcp` after automatic transport gave up on UDP.
async fn pull_once<F>(
    cfg: &PullConfig,
    force_tcp: bool,
    counters: &RtpCounters,
    bytes: &AtomicU64,
    token: &CancellationToken,
    start: &mut F,
) -> Result<(), String>
where
    F: FnMut(Vec<Track>) -> Result<Publisher, String>,
{
    let url = RtspUrl::parse(&cfg.url)?;
    let addr = format!("{}:{}", url.host, url.port);
    let tcp = tokio::time::timeout(cfg.read_timeout, TcpStream::connect(&addr))
        .await
        .map_err(|_| format!("cannot connect to {addr}: timed out"))?
        .map_err(|e| format!("cannot connect to {addr}: {e}"))?;
    tcp.set_nodelay(true).ok();
    let server_ip = tcp.peer_addr().map_err(|e| e.to_string())?.ip();
    let io: Box<dyn Io> = if url.tls {
        let name = tokio_rustls::rustls::pki_types::ServerName::try_from(url.host.clone())
            .map_err(|e| format!("invalid TLS server name {}: {e}", url.host))?;
        let connector = match cfg.fingerprint.as_str() {
            "" => ferrocast_core::tls::insecure_client(),
            f => ferrocast_core::tls::fingerprint_client(f)?,
        };
        Box::new(
            connector
                .connect(name, tcp)
                .await
                .map_err(|e| format!("TLS handshake with {addr}: {e}"))?,
        )
    } else {
        Box::new(tcp)
    };
    let mut c = Client {
        io,
        decoder: Decoder::new(),
        buf: vec![0u8; 65536],
        cseq: 0,
        url: url.clone(),
        challenge: None,
        session: None,
        early: Vec::new(),
        write_timeout: cfg.write_timeout,
        read_timeout: cfg.read_timeout,
        bytes,
    };
    let base_url = url.request_url.clone();
    let res = c.request("OPTIONS", &base_url, &[]).await?;
    let get_parameter = res
        .header("Public")
        .is_some_and(|p| p.to_ascii_uppercase().contains("GET_PARAMETER"));
    let res = c
        .request(
            "DESCRIBE",
            &base_url,
            &[("Accept", "application/sdp".into())],
        )
        .await?;
    check(&res, "DESCRIBE")?;
    let content_base = res
        .header("Content-Base")
        .or_else(|| res.header("Content-Location"))
        .map(str::to_string)
        .unwrap_or_else(|| base_url.clone());
    let medias = sdp::parse(&res.body).map_err(|e| format!("invalid SDP from the server: {e}"))?;
    let mut tracks = Vec::new();
    for m in medias {
        match InTrack::new(m.control.clone(), &m.format) {
            Ok(t) => tracks.push(t),
            Err(e) => info!(
                "RTSP source {}: {} track {:?} skipped: {e}",
                url.request_url, m.kind, m.format.encoding
            ),
        }
    }
    if tracks.is_empty() {
        return Err("the server offers no track Ferrocast can read".into());
    }

    // SETUP each track.
    let mut udp_tcp_fallback = false;
    let (dg_tx, mut dg_rx) = mpsc::channel::<Dgram>(4096);
    let mut rtcp_sockets: Vec<Option<std::sync::Arc<UdpSocket>>> = Vec::new();
    let mut session_timeout = Duration::from_secs(60);
    let mut receivers = Vec::new();
    #[allow(clippy::needless_range_loop)] // tracks[i] is set up in the body
    for i in 0..tracks.len() {
        let uri = control_url(&content_base, &tracks[i].control);
        let use_udp = !force_tcp && !udp_tcp_fallback && cfg.transport != PullTransport::Tcp;
        if use_udp {
            let (rtp_sock, rtcp_sock) = udp_pair(cfg.udp_port_range).await?;
            let (p1, p2) = (
                rtp_sock.local_addr().map_err(|e| e.to_string())?.port(),
                rtcp_sock.local_addr().map_err(|e| e.to_string())?.port(),
            );
            let res = c
                .request(
                    "SETUP",
                    &uri,
                    &[(
                        "Transport",
                        format!("RTP/AVP;unicast;client_port={p1}-{p2}"),
                    )],
                )
                .await?;
            if res.status == 461 && cfg.transport == PullTransport::Automatic && i == 0 {
                udp_tcp_fallback = true;
            } else {
                check(&res, "SETUP")?;
                remember_session(&mut c, &res, &mut session_timeout);
                let th = res.header("Transport").unwrap_or_default().to_string();
                let (srtp, srtcp) = server_ports(&th).unwrap_or((0, 0));
                let rtp_to = SocketAddr::new(server_ip, srtp);
                let rtcp_to = SocketAddr::new(server_ip, srtcp);
                tracks[i].set_delivery(Delivery::Udp {
                    rtp: rtp_to,
                    rtcp: rtcp_to,
                });
                let rtcp_sock = std::sync::Arc::new(rtcp_sock);
                rtcp_sockets.push(Some(rtcp_sock.clone()));
                let expect = (!cfg.any_port && srtp != 0).then_some((srtp, srtcp));
                receivers.push(tokio::spawn(recv_udp(
                    rtp_sock,
                    i,
                    false,
                    server_ip,
                    expect.map(|e| e.0),
                    dg_tx.clone(),
                )));
                receivers.push(tokio::spawn(recv_udp_arc(
                    rtcp_sock,
                    i,
                    true,
                    server_ip,
                    expect.map(|e| e.1),
                    dg_tx.clone(),
                )));
                continue;
            }
        }
        let ch = (i * 2) as u8;
        let res = c
            .request(
                "SETUP",
                &uri,
                &[(
                    "Transport",
                    format!("RTP/AVP/TCP;unicast;interleaved={}-{}", ch, ch + 1),
                )],
            )
            .await?;
        check(&res, "SETUP")?;
        remember_session(&mut c, &res, &mut session_timeout);
        let th = res.header("Transport").unwrap_or_default();
        let (rtp, rtcp) = interleaved_of(th).unwrap_or((ch, ch + 1));
        tracks[i].set_delivery(Delivery::Tcp { rtp, rtcp });
        rtcp_sockets.push(None);
    }
    let res = c
        .request("PLAY", &base_url, &[("Range", "npt=0.000-".into())])
        .await?;
    check(&res, "PLAY")?;

    let ssrc = rand_ssrc();
    let mut ingest = Ingest::new(tracks, ssrc);
    let transport = if ingest
        .tracks
        .iter()
        .any(|t| matches!(t.delivery, Some(Delivery::Udp { .. })))
    {
        "UDP"
    } else {
        "TCP"
    };
    let mut publisher = start(ingest.bus_tracks())?;
    info!(
        "RTSP source {}: reading {} track(s) over {transport}",
        url.request_url,
        ingest.tracks.len()
    );
    for (ch, data) in std::mem::take(&mut c.early) {
        if let Some((idx, rtcp)) = ingest.by_channel(ch) {
            if rtcp {
                ingest.on_rtcp(idx, &data, counters);
            } else {
                ingest.on_rtp(idx, data, false, counters, &mut publisher)?;
            }
        }
    }

    let keepalive = (session_timeout / 2).max(Duration::from_secs(5));
    let mut next_keepalive = Instant::now() + keepalive;
    let mut next_report = Instant::now() + Duration::from_secs(1);
    let playing_since = Instant::now();
    let mut last_media = playing_since;
    let mut got_media = false;
    let mut out = Outbox::default();
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    let result: Result<(), String> = loop {
        enum Ev {
            Read(std::io::Result<usize>),
            Udp(Option<Dgram>),
            Tick,
            Stop,
        }
        let ev = tokio::select! {
            _ = token.cancelled() => Ev::Stop,
            r = c.io.read(&mut c.buf) => Ev::Read(r),
            d = dg_rx.recv() => Ev::Udp(d),
            _ = tick.tick() => Ev::Tick,
        };
        match ev {
            Ev::Stop => break Ok(()),
            Ev::Read(Ok(0)) => break Err("the server closed the connection".into()),
            Ev::Read(Err(e)) => break Err(format!("read error: {e}")),
            Ev::Read(Ok(n)) => {
                c.bytes.fetch_add(n as u64, Ordering::Relaxed);
                c.decoder.push(&c.buf[..n]);
                let mut err = None;
                loop {
                    match c.decoder.next_item() {
                        Ok(None) => break,
                        Ok(Some(Item::Interleaved { channel, data })) => {
                            let Some((idx, rtcp)) = ingest.by_channel(channel) else {
                                continue;
                            };
                            if rtcp {
                                ingest.on_rtcp(idx, &data, counters);
                            } else {
                                last_media = Instant::now();
                                if let Err(e) =
                                    ingest.on_rtp(idx, data, false, counters, &mut publisher)
                                {
                                    err = Some(e);
                                    break;
                                }
                            }
                        }
                        Ok(Some(Item::Response(r))) => {
                            if r.status / 100 != 2 && r.status != 501 && r.status != 405 {
                                debug!(
                                    "RTSP source {}: keep-alive answered {}",
                                    url.request_url, r.status
                                );
                            }
                        }
                        Ok(Some(Item::Request(_))) => {}
                        Err(e) => {
                            err = Some(format!("malformed data from the server: {e}"));
                            break;
                        }
                    }
                }
                if let Some(e) = err {
                    break Err(e);
                }
            }
            Ev::Udp(None) => {}
            Ev::Udp(Some(d)) => {
                c.bytes.fetch_add(d.data.len() as u64, Ordering::Relaxed);
                if d.rtcp {
                    ingest.on_rtcp(d.track, &d.data, counters);
                } else {
                    last_media = Instant::now();
                    got_media = true;
                    let _ = ingest.on_rtp(d.track, d.data, true, counters, &mut publisher);
                }
            }
            Ev::Tick => {
                let now = Instant::now();
                if transport == "UDP"
                    && cfg.transport == PullTransport::Automatic
                    && !got_media
                    && now.duration_since(playing_since) >= UDP_FALLBACK_AFTER
                {
                    teardown(&mut c, &base_url).await;
                    break Err(NO_UDP.into());
                }
                if now.duration_since(last_media) > cfg.read_timeout {
                    break Err(format!("no data for {:?} (readTimeout)", cfg.read_timeout));
                }
                if now >= next_report {
                    next_report = now + REPORT_PERIOD;
                    let n = ingest.receiver_reports(&mut out);
                    counters
                        .outbound_rtcp_packets
                        .fetch_add(n, Ordering::Relaxed);
                }
                if now >= next_keepalive {
                    next_keepalive = now + keepalive;
                    c.cseq += 1;
                    let method = if get_parameter {
                        "GET_PARAMETER"
                    } else {
                        "OPTIONS"
                    };
                    let mut h = vec![("CSeq", c.cseq.to_string())];
                    if let Some(s) = &c.session {
                        h.push(("Session", s.clone()));
                    }
                    if let Some(ch) = &c.challenge {
                        h.push((
                            "Authorization",
                            auth::authorization(ch, &url.user, &url.pass, method, &base_url),
                        ));
                    }
                    out.tcp
                        .extend(message::render_request(method, &base_url, &h, b""));
                }
            }
        }
        for (_, to, data) in out.datagrams() {
            // RTCP goes out of the track's RTCP socket.
            if let Some(sock) = ingest
                .tracks
                .iter()
                .position(|t| matches!(t.delivery, Some(Delivery::Udp { rtcp, .. }) if rtcp == to))
                .and_then(|i| rtcp_sockets.get(i).cloned().flatten())
            {
                let _ = sock.try_send_to(data, to);
            }
        }
        out.clear_datagrams();
        if !out.tcp.is_empty() {
            let data = std::mem::take(&mut out.tcp);
            if let Err(e) = c.send(&data).await {
                break Err(e);
            }
        }
    };
    for r in receivers {
        r.abort();
    }
    if result.is_ok() {
        teardown(&mut c, &base_url).await;
    }
    result
}

/// A polite TEARDOWN; the server may already be gone.
async fn teardown(c: &mut Client<'_>, base_url: &str) {
    c.cseq += 1;
    let mut h = vec![("CSeq", c.cseq.to_string())];
    if let Some(s) = &c.session {
        h.push(("Session", s.clone()));
    }
    let req = message::render_request("TEARDOWN", base_url, &h, b"");
    let _ = tokio::time::timeout(Duration::from_secs(1), c.io.write_all(&req)).await;
}

fn remember_session(c: &mut Client, res: &Response, timeout: &mut Duration) {
    if let Some(s) = res.header("Session") {
        let mut parts = s.split(';');
        let id = parts.next().unwrap_or_default().trim().to_string();
        for p in parts {
            if let Some(t) = p.trim().strip_prefix("timeout=") {
                if let Ok(t) = t.trim().parse::<u64>() {
                    *timeout = Duration::from_secs(t.clamp(5, 3600));
                }
            }
        }
        if !id.is_empty() {
            c.session = Some(id);
        }
    }
}

/// `server_port=a-b` of a Transport header.
fn server_ports(th: &str) -> Option<(u16, u16)> {
    let v = th
        .split(';')
        .find_map(|p| p.trim().strip_prefix("server_port="))?;
    let (a, b) = v.split_once('-').unwrap_or((v, ""));
    let a: u16 = a.trim().parse().ok()?;
    let b: u16 = b.trim().parse().unwrap_or(a.wrapping_add(1));
    Some((a, b))
}

/// `interleaved=a-b` of a Transport header.
fn interleaved_of(th: &str) -> Option<(u8, u8)> {
    let v = th
        .split(';')
        .find_map(|p| p.trim().strip_prefix("interleaved="))?;
    let (a, b) = v.split_once('-').unwrap_or((v, ""));
    let a: u8 = a.trim().parse().ok()?;
    let b: u8 = b.trim().parse().unwrap_or(a.wrapping_add(1));
    Some((a, b))
}

fn rand_ssrc() -> u32 {
    use std::hash::{BuildHasher, Hasher};
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u8(1);
    h.finish() as u32
}

async fn recv_udp(
    sock: UdpSocket,
    track: usize,
    rtcp: bool,
    server: std::net::IpAddr,
    port: Option<u16>,
    tx: mpsc::Sender<Dgram>,
) {
    recv_udp_arc(std::sync::Arc::new(sock), track, rtcp, server, port, tx).await
}

async fn recv_udp_arc(
    sock: std::sync::Arc<UdpSocket>,
    track: usize,
    rtcp: bool,
    server: std::net::IpAddr,
    port: Option<u16>,
    tx: mpsc::Sender<Dgram>,
) {
    let mut buf = vec![0u8; 65536];
    loop {
        let Ok((n, from)) = sock.recv_from(&mut buf).await else {
            tokio::time::sleep(Duration::from_millis(1)).await;
            continue;
        };
        if from.ip() != server || port.is_some_and(|p| p != from.port()) {
            continue; // not from the server we pull
        }
        let d = Dgram {
            track,
            rtcp,
            data: Bytes::copy_from_slice(&buf[..n]),
        };
        if tx.try_send(d).is_err() && tx.is_closed() {
            return;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls() {
        let u = RtspUrl::parse("rtsp://admin:p%40ss@192.168.1.10/Streaming/Channels/101").unwrap();
        assert_eq!(u.host, "192.168.1.10");
        assert_eq!(u.port, 554);
        assert_eq!((u.user.as_str(), u.pass.as_str()), ("admin", "p@ss"));
        assert_eq!(
            u.request_url,
            "rtsp://192.168.1.10:554/Streaming/Channels/101"
        );
        let u = RtspUrl::parse("rtsps://[::1]:8322/cam?x=1").unwrap();
        assert!(u.tls);
        assert_eq!((u.host.as_str(), u.port), ("::1", 8322));
        assert_eq!(u.request_url, "rtsps://[::1]:8322/cam?x=1");
        assert!(RtspUrl::parse("http://x/").is_err());
        assert!(RtspUrl::parse("rtsp://:9/").is_err());
        assert!(RtspUrl::parse("rtsp://h:port/").is_err());
        assert_eq!(percent_decode("a%2"), "a%2");
        assert_eq!(
            control_url("rtsp://h/s/", "trackID=1"),
            "rtsp://h/s/trackID=1"
        );
        assert_eq!(
            control_url("rtsp://h/s", "trackID=1"),
            "rtsp://h/s/trackID=1"
        );
        assert_eq!(control_url("rtsp://h/s", "*"), "rtsp://h/s");
        assert_eq!(control_url("rtsp://h/s", "rtsp://o/x"), "rtsp://o/x");
        assert_eq!(
            server_ports("RTP/AVP;unicast;client_port=1-2;server_port=8000-8001"),
            Some((8000, 8001))
        );
        assert_eq!(interleaved_of("RTP/AVP/TCP;interleaved=4-5"), Some((4, 5)));
    }
}
