//! WHIP and WHEP clients, for `forward: [{dest: whip://...}]` (push a path to a remote
//! WHIP server, e.g. another Ferrocast, MediaMTX or a cloud ingest) and `source: whep://...`
//! (pull a path from a remote WHEP server).
//!
//! `whip://host:port/path/whip` and `whep://...` speak plain HTTP, `whips://` and
//! `wheps://` HTTPS, as in MediaMTX. We make the offer (full ICE, controlling), POST it,
//! apply the answer, then run the same [`Session`] driver as the server's sessions, on a
//! UDP socket of our own. The session's resource is DELETEd when it ends.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

use base64::Engine;
use bytes::Bytes;
use ferrocast_core::conns::{ConnInfo, ConnRegistry, ConnState};
use ferrocast_core::forward::{ForwardJob, ForwardState, ForwardStatus};
use ferrocast_core::source::{SourceCtx, SourceFactory};
use ferrocast_core::{Codec, Reader};
use str0m::change::SdpAnswer;
use str0m::media::{Direction, MediaKind};
use str0m::{Candidate, RtcConfig};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::{TcpStream, UdpSocket};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;
use tracing::{info, warn};

use crate::egress::{self, Egress};
use crate::ingest::Ingest;
use crate::session::{Net, Role, Session};
use crate::udp::{SessionMsg, SESSION_QUEUE};

/// Time for the HTTP exchange with the remote server.
const HTTP_TIMEOUT: Duration = Duration::from_secs(10);
/// ICE and DTLS must complete within this time.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);
const MAX_BACKOFF: Duration = Duration::from_secs(30);
/// Largest answer accepted.
const MAX_RESPONSE: usize = 256 * 1024;

/// A `whip://`, `whips://`, `whep://` or `wheps://` URL taken apart.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WhipUrl {
    pub tls: bool,
    pub host: String,
    pub port: u16,
    /// Path and query, starting with `/`.
    pub target: String,
    pub user: String,
    pub pass: String,
    /// `whepBearerToken` / `whipBearerToken`: sent as `Authorization: Bearer`.
    pub bearer: String,
}

impl WhipUrl {
    pub fn parse(url: &str) -> Result<WhipUrl, String> {
        let (scheme, rest) = url
            .split_once("://")
            .ok_or_else(|| format!("'{url}' is not a URL"))?;
        let tls = match scheme {
            "whip" | "whep" | "http" => false,
            "whips" | "wheps" | "https" => true,
            _ => return Err(format!("'{scheme}' is not a WHIP/WHEP scheme")),
        };
        let (authority, target) = match rest.find('/') {
            Some(i) => (&rest[..i], &rest[i..]),
            None => (rest, "/"),
        };
        let (userinfo, hostport) = match authority.rsplit_once('@') {
            Some((u, h)) => (Some(u), h),
            None => (None, authority),
        };
        let (user, pass) = match userinfo {
            Some(u) => {
                let (a, b) = u.split_once(':').unwrap_or((u, ""));
                (percent_decode(a), percent_decode(b))
            }
            None => (String::new(), String::new()),
        };
        let default_port = if tls { 443 } else { 80 };
        let (host, port) = if let Some(h) = hostport.strip_prefix('[') {
            let (h, p) = h
                .split_once(']')
                .ok_or_else(|| format!("bad IPv6 host in '{url}'"))?;
            let port = match p.strip_prefix(':') {
                Some(p) => p.parse().map_err(|_| format!("bad port in '{url}'"))?,
                None => default_port,
            };
            (h.to_string(), port)
        } else {
            match hostport.rsplit_once(':') {
                Some((h, p)) => (
                    h.to_string(),
                    p.parse().map_err(|_| format!("bad port in '{url}'"))?,
                ),
                None => (hostport.to_string(), default_port),
            }
        };
        if host.is_empty() {
            return Err(format!("no host in '{url}'"));
        }
        Ok(WhipUrl {
            tls,
            host,
            port,
            target: target.to_string(),
            user,
            pass,
            bearer: String::new(),
        })
    }
}

fn percent_decode(s: &str) -> String {
    url::form_urlencoded::parse(format!("x={}", s.replace('+', "%2B")).as_bytes())
        .next()
        .map(|(_, v)| v.into_owned())
        .unwrap_or_default()
}

/// An HTTP response: status, headers (lowercase names), body.
#[derive(Debug)]
pub(crate) struct HttpResponse {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl HttpResponse {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }
}

trait Io: AsyncRead + AsyncWrite + Unpin + Send {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send> Io for T {}

/// One HTTP/1.1 request on a fresh connection (`Connection: close`).
async fn http(
    url: &WhipUrl,
    method: &str,
    target: &str,
    content_type: Option<&str>,
    body: &[u8],
    fingerprint: &str,
) -> Result<HttpResponse, String> {
    let exchange = async {
        let addr = format!("{}:{}", url.host, url.port);
        let tcp = TcpStream::connect(&addr)
            .await
            .map_err(|e| format!("cannot connect to {addr}: {e}"))?;
        tcp.set_nodelay(true).ok();
        let mut io: Box<dyn Io> = if url.tls {
            let name = tokio_rustls::rustls::pki_types::ServerName::try_from(url.host.clone())
                .map_err(|e| format!("invalid TLS server name {}: {e}", url.host))?;
            let connector = match fingerprint {
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
        let host = if url.host.contains(':') {
            format!("[{}]:{}", url.host, url.port)
        } else {
            format!("{}:{}", url.host, url.port)
        };
        let mut req = format!(
            "{method} {target} HTTP/1.1\r\nHost: {host}\r\nUser-Agent: Ferrocast\r\n\
             Connection: close\r\nContent-Length: {}\r\n",
            body.len()
        );
        if let Some(ct) = content_type {
            req.push_str(&format!("Content-Type: {ct}\r\n"));
        }
        if !url.bearer.is_empty() {
            req.push_str(&format!("Authorization: Bearer {}\r\n", url.bearer));
        } else if !url.user.is_empty() {
            let cred = base64::engine::general_purpose::STANDARD
                .encode(format!("{}:{}", url.user, url.pass));
            req.push_str(&format!("Authorization: Basic {cred}\r\n"));
        }
        req.push_str("\r\n");
        io.write_all(req.as_bytes())
            .await
            .map_err(|e| format!("write error: {e}"))?;
        io.write_all(body)
            .await
            .map_err(|e| format!("write error: {e}"))?;
        let mut data = Vec::new();
        let mut buf = [0u8; 8192];
        loop {
            let n = io
                .read(&mut buf)
                .await
                .map_err(|e| format!("read error: {e}"))?;
            if n == 0 {
                break;
            }
            data.extend_from_slice(&buf[..n]);
            if data.len() > MAX_RESPONSE {
                return Err("the response is too large".to_string());
            }
            if let Some(r) = parse_response(&data)? {
                return Ok(r);
            }
        }
        parse_response(&data)?.ok_or_else(|| "the server closed the connection early".into())
    };
    tokio::time::timeout(HTTP_TIMEOUT, exchange)
        .await
        .map_err(|_| format!("no HTTP response within {HTTP_TIMEOUT:?}"))?
}

/// A complete response in `data`, `None` while more is needed.
pub(crate) fn parse_response(data: &[u8]) -> Result<Option<HttpResponse>, String> {
    let Some(end) = data.windows(4).position(|w| w == b"\r\n\r\n") else {
        return Ok(None);
    };
    let head = std::str::from_utf8(&data[..end]).map_err(|_| "a non-UTF-8 HTTP header")?;
    let mut lines = head.split("\r\n");
    let status_line = lines.next().unwrap_or_default();
    let status: u16 = status_line
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| format!("bad HTTP status line {status_line:?}"))?;
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_string()))
        .collect();
    let rest = &data[end + 4..];
    let get = |name: &str| {
        headers
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    };
    let body = if get("transfer-encoding").is_some_and(|v| v.eq_ignore_ascii_case("chunked")) {
        match dechunk(rest)? {
            Some(b) => b,
            None => return Ok(None),
        }
    } else if let Some(len) = get("content-length") {
        let len: usize = len.parse().map_err(|_| "bad Content-Length")?;
        if rest.len() < len {
            return Ok(None);
        }
        rest[..len].to_vec()
    } else if status == 204 || status == 304 {
        Vec::new()
    } else {
        return Ok(None); // until the connection closes
    };
    Ok(Some(HttpResponse {
        status,
        headers,
        body,
    }))
}

/// A chunked body, `None` while incomplete.
fn dechunk(mut data: &[u8]) -> Result<Option<Vec<u8>>, String> {
    let mut out = Vec::new();
    loop {
        let Some(eol) = data.windows(2).position(|w| w == b"\r\n") else {
            return Ok(None);
        };
        let size = std::str::from_utf8(&data[..eol])
            .ok()
            .and_then(|s| usize::from_str_radix(s.split(';').next()?.trim(), 16).ok())
            .ok_or("bad chunk size")?;
        data = &data[eol + 2..];
        if size == 0 {
            return Ok(Some(out));
        }
        if data.len() < size + 2 {
            return Ok(None);
        }
        out.extend_from_slice(&data[..size]);
        data = &data[size + 2..];
    }
}

/// `Location` resolved against the URL it came from (absolute URLs keep their path).
pub(crate) fn resource_target(location: &str) -> String {
    match location.split_once("://") {
        Some((_, rest)) => rest
            .find('/')
            .map(|i| rest[i..].to_string())
            .unwrap_or_else(|| "/".into()),
        None => location.to_string(),
    }
}

/// A UDP socket for the session, the host candidate the remote can reach it on, and the
/// remote's address.
async fn media_socket(url: &WhipUrl) -> Result<(Arc<UdpSocket>, SocketAddr, SocketAddr), String> {
    let remote = tokio::net::lookup_host((url.host.as_str(), url.port))
        .await
        .map_err(|e| format!("cannot resolve {}: {e}", url.host))?
        .next()
        .ok_or_else(|| format!("{} does not resolve", url.host))?;
    let any: IpAddr = if remote.is_ipv4() {
        Ipv4Addr::UNSPECIFIED.into()
    } else {
        Ipv6Addr::UNSPECIFIED.into()
    };
    // The address the system routes to the remote from is the one it can answer.
    let probe = UdpSocket::bind(SocketAddr::new(any, 0))
        .await
        .map_err(|e| format!("UDP socket: {e}"))?;
    probe
        .connect(remote)
        .await
        .map_err(|e| format!("no route to {remote}: {e}"))?;
    let local_ip = probe.local_addr().map_err(|e| e.to_string())?.ip();
    let socket = UdpSocket::bind(SocketAddr::new(any, 0))
        .await
        .map_err(|e| format!("UDP socket: {e}"))?;
    let _ = socket2::SockRef::from(&socket).set_recv_buffer_size(4 << 20);
    let port = socket.local_addr().map_err(|e| e.to_string())?.port();
    Ok((Arc::new(socket), SocketAddr::new(local_ip, port), remote))
}

/// Reads the session's socket into its channel until `token` is cancelled.
fn spawn_reader(
    socket: Arc<UdpSocket>,
    tx: mpsc::Sender<SessionMsg>,
    token: CancellationToken,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mut buf = vec![0u8; 2048];
        loop {
            let r = tokio::select! {
                _ = token.cancelled() => return,
                r = socket.recv_from(&mut buf) => r,
            };
            let Ok((n, source)) = r else {
                // ICMP errors from a peer that went away: keep reading.
                tokio::time::sleep(Duration::from_millis(1)).await;
                continue;
            };
            let msg = SessionMsg::Datagram {
                source,
                tcp_local: None,
                data: Bytes::copy_from_slice(&buf[..n]),
                at: Instant::now(),
            };
            if tx.try_send(msg).is_err() && tx.is_closed() {
                return;
            }
        }
    })
}

/// An offer to give `egress::plan` so that it configures the codecs the stream has: the
/// stream's H264 profile, Opus, VP8, VP9, AV1.
fn template_offer(reader: &Reader) -> String {
    let tracks = reader.stream().tracks();
    let plid = tracks
        .iter()
        .find(|t| t.codec == Codec::H264)
        .and_then(|t| crate::h264::avcc_profile_level_id(&t.config))
        .unwrap_or(0x42e01f);
    format!(
        "v=0\r\no=- 0 0 IN IP4 0.0.0.0\r\ns=-\r\nt=0 0\r\n\
         m=video 9 UDP/TLS/RTP/SAVPF 102 96 98 45\r\n\
         a=rtpmap:102 H264/90000\r\n\
         a=fmtp:102 level-asymmetry-allowed=1;packetization-mode=1;profile-level-id={plid:06x}\r\n\
         a=rtpmap:96 VP8/90000\r\na=rtpmap:98 VP9/90000\r\na=rtpmap:45 AV1/90000\r\n\
         m=audio 9 UDP/TLS/RTP/SAVPF 111\r\na=rtpmap:111 opus/48000/2\r\n"
    )
}

/// What one WHIP/WHEP exchange set up: the session to run and the resource to DELETE.
struct Established {
    session: Session,
    resource: String,
    reader_task: tokio::task::JoinHandle<()>,
    token: CancellationToken,
}

/// Makes the offer for `role`, POSTs it to `url` and applies the answer.
async fn establish(
    url: &WhipUrl,
    mut role: Role,
    codecs: str0m::format::CodecConfig,
    path: &str,
    fingerprint: &str,
) -> Result<Established, (Role, String)> {
    let (socket, candidate, remote) = match media_socket(url).await {
        Ok(x) => x,
        Err(e) => return Err((role, e)),
    };
    let crypto = Arc::new(str0m::crypto::from_feature_flags());
    let mut cfg = RtcConfig::new()
        .set_stats_interval(Some(Duration::from_secs(1)))
        .set_crypto_provider(crypto)
        .clear_codecs();
    *cfg.codec_config() = codecs;
    let now = Instant::now();
    let mut rtc = cfg.build(now);
    if let Ok(c) = Candidate::host(candidate, "udp") {
        rtc.add_local_candidate(c);
    }
    let mut api = rtc.sdp_api();
    match &mut role {
        Role::Read { egress, .. } => {
            let kinds: Vec<MediaKind> = egress.tracks.iter().map(|t| t.kind()).collect();
            for kind in kinds {
                let mid = api.add_media(kind, Direction::SendOnly, None, None, None);
                egress.media_added(mid, kind);
            }
        }
        Role::Publish { ingest, .. } => {
            for kind in [MediaKind::Video, MediaKind::Audio] {
                let mid = api.add_media(kind, Direction::RecvOnly, None, None, None);
                // Our offer has only Opus for audio.
                ingest.media_added(mid, kind, Codec::Opus);
            }
        }
    }
    let Some((offer, pending)) = api.apply() else {
        return Err((role, "nothing to offer".into()));
    };
    let res = match http(
        url,
        "POST",
        &url.target,
        Some("application/sdp"),
        offer.to_sdp_string().as_bytes(),
        fingerprint,
    )
    .await
    {
        Ok(r) => r,
        Err(e) => return Err((role, e)),
    };
    if res.status != 201 && res.status != 200 {
        let why = String::from_utf8_lossy(&res.body);
        let e = format!(
            "the server answered {} to the offer: {}",
            res.status,
            why.trim()
        );
        return Err((role, e));
    }
    let answer_text = String::from_utf8_lossy(&res.body).to_string();
    let answer = match SdpAnswer::from_sdp_string(&answer_text) {
        Ok(a) => a,
        Err(e) => return Err((role, format!("invalid SDP answer: {e}"))),
    };
    if let Err(e) = rtc.sdp_api().accept_answer(pending, answer) {
        return Err((role, format!("cannot apply the answer: {e}")));
    }
    let resource = res
        .header("location")
        .map(resource_target)
        .unwrap_or_default();
    let token = CancellationToken::new();
    let (tx, rx) = mpsc::channel(SESSION_QUEUE);
    let reader_task = spawn_reader(socket.clone(), tx, token.clone());
    let info = Arc::new(ConnInfo::new(remote, token.clone()));
    {
        let mut d = info.details.lock();
        d.path = path.to_string();
        d.state = match role {
            Role::Read { .. } => ConnState::Read,
            Role::Publish { .. } => ConnState::Publish,
        };
    }
    // Client sessions are not listed with the server's: they show as the path's source or
    // forward.
    let guard = ConnRegistry::new().add(info);
    let session = Session {
        rtc,
        net: Arc::new(Net {
            socket: socket.clone(),
            v6: socket.local_addr().map(|a| a.is_ipv6()).unwrap_or(false),
            candidates: vec![candidate],
            tcp_candidates: Default::default(),
        }),
        rx,
        guard,
        token: token.clone(),
        role,
        path: path.to_string(),
        peer: remote,
        handshake_timeout: HANDSHAKE_TIMEOUT,
        created: now,
        connected: false,
        connected_at: now,
        ice_peer: None,
        tcp: Default::default(),
        last_rx: now,
        input_errors: 0,
        media_stats: Vec::new(),
    };
    Ok(Established {
        session,
        resource,
        reader_task,
        token,
    })
}

/// DELETEs the session's resource, ignoring failures (the server may be gone).
async fn delete(url: &WhipUrl, resource: &str, fingerprint: &str) {
    if !resource.is_empty() {
        let _ = http(url, "DELETE", resource, None, b"", fingerprint).await;
    }
}

// ---- forward: whip:// ----

/// Starts forwarding `job` to its whip:// or whips:// destination.
pub fn start_forward(job: ForwardJob) -> Result<(), String> {
    let mut url = WhipUrl::parse(&job.status.url)?;
    url.bearer = job.status.bearer.clone();
    if !matches!(job.status.protocol(), "whip" | "whips") {
        return Err(format!(
            "forward protocol '{}' is not WHIP",
            job.status.protocol()
        ));
    }
    let rt = tokio::runtime::Handle::try_current().map_err(|e| e.to_string())?;
    rt.spawn(run_forward(job, url));
    Ok(())
}

async fn run_forward(job: ForwardJob, url: WhipUrl) {
    let ForwardJob { mut reader, status } = job;
    let path = reader.path_name().to_string();
    // WebRTC carries Opus, not AAC: take AAC through the path's rendition.
    let source = reader.stream().source_tracks();
    if !source.iter().any(|t| t.codec == Codec::Opus) {
        if let Some(aac) = source.iter().position(|t| t.codec == Codec::Aac) {
            if let Err(e) = reader.use_rendition(aac, Codec::Opus) {
                warn!("forward '{path}' -> {}: AAC not sent: {e}", status.url);
            }
        }
    }
    let mut reader = Some(reader);
    let mut backoff = Duration::from_secs(1);
    loop {
        status.set_state(ForwardState::Idle);
        let Some(r) = reader.take() else {
            return;
        };
        let (back, connected, reason) = forward_once(r, &url, &path, &status).await;
        let Some(r) = back else {
            info!(
                "forward '{path}' -> {}: stopped (the path's stream ended)",
                status.url
            );
            status.set_state(ForwardState::Idle);
            return;
        };
        if connected {
            backoff = Duration::from_secs(1);
        }
        warn!(
            "forward '{path}' -> {}: {reason}; retrying in {backoff:?}",
            status.url
        );
        status.set_error(&reason);
        // Wait, discarding what arrives meanwhile: the next session starts at a keyframe.
        let queue = r.queue().clone();
        reader = Some(r);
        let deadline = tokio::time::Instant::now() + backoff;
        let mut batch = Vec::new();
        loop {
            tokio::select! {
                _ = tokio::time::sleep_until(deadline) => break,
                r = queue.recv(&mut batch) => {
                    batch.clear();
                    if r.is_err() {
                        status.set_state(ForwardState::Idle);
                        return;
                    }
                }
            }
        }
        backoff = (backoff * 2).min(MAX_BACKOFF);
    }
}

/// One WHIP session: (the reader unless the path's stream ended, whether the session got
/// established, why it ended).
async fn forward_once(
    reader: Reader,
    url: &WhipUrl,
    path: &str,
    status: &Arc<ForwardStatus>,
) -> (Option<Reader>, bool, String) {
    let tracks = reader.stream().tracks();
    let queue = reader.queue().clone();
    let plan = match egress::plan(&tracks, |i| queue.wants(i), &template_offer(&reader)) {
        Ok(p) => p,
        Err(e) => return (Some(reader), false, e),
    };
    let n = plan.tracks.len();
    let tracks_version = reader.stream().tracks_version();
    let role = Role::Read {
        reader,
        egress: Egress::new(plan.tracks),
        pts: vec![None; n],
        tracks_version,
        drops: Default::default(),
        keyframe_requests: 0,
        dc: crate::dcvideo::DcVideo::new(false),
    };
    let fingerprint = status.fingerprint.as_str();
    let mut e = match establish(url, role, plan.codecs, path, fingerprint).await {
        Ok(e) => e,
        Err((role, e)) => return (reader_of(role), false, e),
    };
    info!("forward '{path}' -> {}: session established", status.url);
    status.set_state(ForwardState::Forwarding);
    let info = e.session.guard.info.clone();
    let counter = {
        let status = status.clone();
        spawn_delta(
            e.token.clone(),
            move || info.bytes_sent.load(Ordering::Relaxed),
            move |n| status.add_bytes(n),
        )
    };
    let reason = e.session.run().await;
    e.session.close().await;
    e.token.cancel();
    e.reader_task.abort();
    counter.abort();
    delete(url, &e.resource, fingerprint).await;
    let reader = reader_of(e.session.role);
    // A closed queue: the path's stream ended.
    let reader = reader.filter(|r| {
        let mut probe = Vec::new();
        r.queue().try_recv(&mut probe).is_ok()
    });
    (reader, true, reason)
}

fn reader_of(role: Role) -> Option<Reader> {
    match role {
        Role::Read { reader, .. } => Some(reader),
        Role::Publish { .. } => None,
    }
}

// ---- source: whep:// ----

/// The driver to register for the "whep" and "wheps" schemes.
pub fn source_factory() -> SourceFactory {
    SourceFactory::new(|ctx| Box::pin(run_source(ctx)))
}

/// Pulls until the remote ends the session or fails (`Err`), or `ctx.token` is cancelled.
async fn run_source(ctx: SourceCtx) -> Result<(), String> {
    let mut url = WhipUrl::parse(&ctx.url)?;
    url.bearer = ctx.conf.whep_bearer_token.clone();
    let publisher = ctx.publisher().map_err(|e| e.to_string())?;
    let mut codecs = str0m::format::CodecConfig::empty();
    codecs.enable_h264(true);
    codecs.enable_vp8(true);
    codecs.enable_opus(true, false);
    let role = Role::Publish {
        publisher,
        ingest: Ingest::new(),
        upstream_requests: (0, None),
    };
    let fingerprint = ctx.conf.source_fingerprint.clone();
    let mut e = establish(&url, role, codecs, &ctx.path, &fingerprint)
        .await
        .map_err(|(_, e)| e)?;
    info!("WHEP source {}: session established", redact(&ctx.url));
    let token = ctx.token.clone();
    let session_token = e.token.clone();
    let stop = tokio::spawn(async move {
        token.cancelled().await;
        session_token.cancel();
    });
    let bytes = e.session.guard.info.clone();
    let status = ctx.status.clone();
    let reason = run_established_counting(&mut e, &status, &bytes).await;
    stop.abort();
    delete(&url, &e.resource, &fingerprint).await;
    if ctx.token.is_cancelled() {
        return Ok(());
    }
    Err(reason)
}

async fn run_established_counting(
    e: &mut Established,
    status: &Arc<ferrocast_core::source::SourceStatus>,
    info: &Arc<ConnInfo>,
) -> String {
    let token = e.token.clone();
    let info = info.clone();
    let status = status.clone();
    let counter = spawn_delta(
        token,
        move || info.bytes_received.load(Ordering::Relaxed),
        move |n| {
            status.bytes_received.fetch_add(n, Ordering::Relaxed);
        },
    );
    let reason = e.session.run().await;
    e.session.close().await;
    e.token.cancel();
    e.reader_task.abort();
    counter.abort();
    reason
}

/// Every second until `token` is cancelled, passes how much `total` grew to `add` (the
/// session's byte counters into the forward's or source's API entry).
fn spawn_delta(
    token: CancellationToken,
    total: impl Fn() -> u64 + Send + 'static,
    add: impl Fn(u64) + Send + 'static,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mut last = 0;
        loop {
            tokio::select! {
                _ = token.cancelled() => return,
                _ = tokio::time::sleep(Duration::from_secs(1)) => {}
            }
            let now = total();
            add(now.saturating_sub(last));
            last = now;
        }
    })
}

fn redact(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(s), Some(a)) if a > s => format!("{}***{}", &url[..s + 3], &url[a..]),
        _ => url.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls() {
        let u = WhipUrl::parse("whip://u:p%40ss@127.0.0.1:8889/live/x/whip?k=1").unwrap();
        assert!(!u.tls);
        assert_eq!((u.host.as_str(), u.port), ("127.0.0.1", 8889));
        assert_eq!(u.target, "/live/x/whip?k=1");
        assert_eq!((u.user.as_str(), u.pass.as_str()), ("u", "p@ss"));
        let u = WhipUrl::parse("wheps://[::1]/cam/whep").unwrap();
        assert!(u.tls);
        assert_eq!((u.host.as_str(), u.port), ("::1", 443));
        assert!(WhipUrl::parse("rtmp://x/y").is_err());
        assert!(WhipUrl::parse("whip://:80/").is_err());
    }

    #[test]
    fn responses() {
        let r = parse_response(
            b"HTTP/1.1 201 Created\r\nLocation: /a/whip/1\r\nContent-Length: 3\r\n\r\nabc",
        )
        .unwrap()
        .unwrap();
        assert_eq!(r.status, 201);
        assert_eq!(r.header("location"), Some("/a/whip/1"));
        assert_eq!(r.body, b"abc");
        assert!(
            parse_response(b"HTTP/1.1 201 Created\r\nContent-Length: 3\r\n\r\nab")
                .unwrap()
                .is_none()
        );
        let r = parse_response(
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n2\r\nde\r\n0\r\n\r\n",
        )
        .unwrap()
        .unwrap();
        assert_eq!(r.body, b"abcde");
        assert!(parse_response(b"garbage\r\n\r\n").is_err());
        assert_eq!(resource_target("http://h:1/a/whip/2"), "/a/whip/2");
        assert_eq!(resource_target("/a/whip/2"), "/a/whip/2");
    }
}
