//! RTSP server: the tokio driver. One task per connection; requests are answered in order.
//! A publisher's RTP (interleaved, or UDP routed here by [`UdpServer`]) goes through one
//! depacketizer per track into the path; a reader's units go out packetized on its
//! interleaved channels or UDP ports (or through the path's multicast [`Group`]).

use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use ferrocast_conf::RtspAuthMethod;
use ferrocast_core::conns::{ConnGuard, ConnInfo, ConnRegistry, ConnState};
use ferrocast_core::{
    Access, Action, CancellationToken, PathError, PathManager, Publisher, Reader, SessionRef,
    Track, Unit,
};
use ferrocast_rtp::rtcp::{self, RtcpPacket};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpListener;
use tokio::sync::mpsc;
use tracing::{info, warn};
use uuid::Uuid;

use crate::auth::Credentials;
use crate::egress::{Delivery, Outbox, RtpSender};
use crate::ingest::{InTrack, Ingest};
use crate::message::{self, Decoder, Item, Request};
use crate::multicast::{Group, Multicast, REPORT_PERIOD};
use crate::sdp;
use crate::transport::{self, Transport};
use crate::udp::{Datagram, Routes, UdpServer};

/// The realm of authentication challenges.
const REALM: &str = "ferrocast";

/// How long a session lives without requests or RTCP (announced as `timeout=`), for
/// UDP readers whose connection stays silent while we send.
pub const SESSION_TIMEOUT: Duration = Duration::from_secs(60);

/// Settings of one listener.
#[derive(Clone)]
pub struct ServerConfig {
    pub paths: Arc<PathManager>,
    pub conns: Arc<ConnRegistry>,
    pub read_timeout: Duration,
    pub write_timeout: Duration,
    /// "rtsp" or "rtsps", for logs.
    pub scheme: &'static str,
    /// TCP interleaving allowed (rtspTransports has `tcp`).
    pub tcp: bool,
    /// UDP unicast sockets (rtspTransports has `udp`).
    pub udp: Option<Arc<UdpServer>>,
    /// UDP multicast (rtspTransports has `multicast`).
    pub multicast: Option<Arc<Multicast>>,
    /// RTSPS: the TLS acceptor (RTP then goes interleaved in the TLS connection).
    pub tls: Option<tokio_rustls::TlsAcceptor>,
}

/// A connection's byte stream: TCP, or TLS over TCP.
trait Io: AsyncRead + AsyncWrite + Unpin + Send {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send> Io for T {}

/// Accepts connections until `shutdown` is cancelled.
pub async fn serve(listener: TcpListener, cfg: ServerConfig, shutdown: CancellationToken) {
    let scheme = cfg.scheme;
    ferrocast_core::net::accept_loop(listener, scheme, shutdown, move |sock, peer, token| {
        let cfg = cfg.clone();
        async move {
            let io: Box<dyn Io> = match cfg.tls.clone() {
                Some(acceptor) => {
                    let hs = tokio::time::timeout(cfg.read_timeout, acceptor.accept(sock)).await;
                    match hs {
                        Ok(Ok(tls)) => Box::new(tls),
                        Ok(Err(e)) => {
                            info!("{scheme} conn {peer}: TLS handshake failed: {e}");
                            return;
                        }
                        Err(_) => {
                            info!("{scheme} conn {peer}: TLS handshake timed out");
                            return;
                        }
                    }
                }
                None => Box::new(sock),
            };
            run_conn(io, peer, cfg, token).await
        }
    })
    .await;
}

enum Role {
    Idle,
    /// After ANNOUNCE: the tracks, waiting for SETUPs and RECORD.
    Announced {
        path: String,
        query: String,
        tracks: Vec<InTrack>,
    },
    Publishing {
        publisher: Publisher,
        ingest: Ingest,
    },
    /// After the first SETUP of a reader.
    Reading {
        reader: Reader,
        sender: RtpSender,
        playing: bool,
        drops: ferrocast_core::DropReport,
        /// Multicast readers share the path's group.
        group: Option<Arc<Group>>,
        /// Latest cumulative loss each receiver report gave, per SSRC.
        reported_lost: Vec<(u32, i32)>,
    },
}

struct Conn {
    cfg: ServerConfig,
    guard: ConnGuard,
    peer: SocketAddr,
    role: Role,
    /// The RTSP session, from the first SETUP or ANNOUNCE.
    session: Option<Uuid>,
    out: Outbox,
    udp_tx: mpsc::Sender<Datagram>,
    routes: Option<Routes>,
    /// Last request, media or RTCP from the peer.
    last_input: Instant,
    next_report: Option<Instant>,
    /// Our SSRC in receiver reports.
    ssrc: u32,
    /// The nonce of Digest challenges on this connection.
    nonce: String,
}

async fn run_conn(
    mut sock: Box<dyn Io>,
    peer: SocketAddr,
    cfg: ServerConfig,
    token: CancellationToken,
) {
    let info = Arc::new(ConnInfo::new(peer, token.clone()));
    let guard = cfg.conns.add(info.clone());
    let scheme = cfg.scheme;
    info!("{scheme} conn {peer} [{}]: opened", info.id);
    let (udp_tx, mut udp_rx) = mpsc::channel(1024);
    let mut conn = Conn {
        cfg,
        guard,
        peer,
        role: Role::Idle,
        session: None,
        out: Outbox::default(),
        udp_tx,
        routes: None,
        last_input: Instant::now(),
        next_report: None,
        ssrc: (info.id.as_u128() >> 64) as u32,
        nonce: format!("{:032x}", Uuid::new_v4().as_u128()),
    };
    let reason = conn.run(&mut sock, &mut udp_rx, &token).await;
    let path = info.details.lock().path.clone();
    info!(
        "{scheme} conn {peer} [{}]: closed{}: {reason}",
        info.id,
        if path.is_empty() {
            String::new()
        } else {
            format!(" (path '{path}')")
        }
    );
}

enum Wake {
    Read(std::io::Result<usize>),
    Units(Result<usize, ferrocast_core::ReadError>),
    Udp(Option<Datagram>),
    Kicked,
    Tick,
}

impl Conn {
    async fn run(
        &mut self,
        sock: &mut Box<dyn Io>,
        udp_rx: &mut mpsc::Receiver<Datagram>,
        token: &CancellationToken,
    ) -> String {
        let mut buf = vec![0u8; 65536];
        let mut decoder = Decoder::new();
        let mut batch: Vec<Arc<Unit>> = Vec::new();
        let mut tick = tokio::time::interval(Duration::from_secs(1));
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            let queue = match &self.role {
                Role::Reading {
                    reader,
                    playing: true,
                    group: None,
                    ..
                } => Some(reader.queue().clone()),
                _ => None,
            };
            let wake = tokio::select! {
                biased;
                _ = token.cancelled() => Wake::Kicked,
                r = sock.read(&mut buf) => Wake::Read(r),
                d = udp_rx.recv() => Wake::Udp(d),
                r = async {
                    match &queue {
                        Some(q) => q.recv(&mut batch).await,
                        None => std::future::pending().await,
                    }
                } => Wake::Units(r),
                _ = tick.tick() => Wake::Tick,
            };
            let result = match wake {
                Wake::Read(Ok(0)) => return "the peer closed the connection".into(),
                Wake::Read(Err(e)) => return format!("read error: {e}"),
                Wake::Read(Ok(n)) => {
                    self.guard
                        .info
                        .bytes_received
                        .fetch_add(n as u64, Ordering::Relaxed);
                    self.last_input = Instant::now();
                    decoder.push(&buf[..n]);
                    self.on_input(&mut decoder).await
                }
                Wake::Udp(Some(d)) => {
                    self.guard
                        .info
                        .bytes_received
                        .fetch_add(d.data.len() as u64, Ordering::Relaxed);
                    self.last_input = Instant::now();
                    self.on_datagram(d)
                }
                Wake::Udp(None) => Ok(()),
                Wake::Units(Ok(_)) => {
                    self.on_units(&mut batch);
                    Ok(())
                }
                Wake::Units(Err(ferrocast_core::ReadError::Closed(reason))) => {
                    return reason;
                }
                Wake::Kicked => {
                    return "closed by the server (kicked, path removed or replaced, or shutting down)"
                        .into()
                }
                Wake::Tick => self.on_tick(),
            };
            if let Err(reason) = self.flush(sock).await {
                return reason;
            }
            if let Err(reason) = result {
                return reason;
            }
        }
    }

    /// Sends what the last event queued.
    async fn flush(&mut self, sock: &mut Box<dyn Io>) -> Result<(), String> {
        if self.out.has_datagrams() {
            if let Some(udp) = self.routes.as_ref().map(|r| r.server().clone()) {
                let mut sent = 0u64;
                for (rtcp, to, data) in self.out.datagrams() {
                    match udp.send(rtcp, data, to) {
                        Ok(()) => sent += data.len() as u64,
                        Err(e) => {
                            tracing::debug!(
                                "{} conn {}: UDP send to {to}: {e}",
                                self.cfg.scheme,
                                self.peer
                            );
                        }
                    }
                }
                self.guard
                    .info
                    .bytes_sent
                    .fetch_add(sent, Ordering::Relaxed);
            }
            self.out.clear_datagrams();
        }
        if self.out.tcp.is_empty() {
            return Ok(());
        }
        let out = std::mem::take(&mut self.out.tcp);
        let w = tokio::time::timeout(self.cfg.write_timeout, sock.write_all(&out)).await;
        match w {
            Ok(Ok(())) => {
                self.guard
                    .info
                    .bytes_sent
                    .fetch_add(out.len() as u64, Ordering::Relaxed);
            }
            Ok(Err(e)) => return Err(format!("write error: {e}")),
            Err(_) => return Err(format!("write timed out ({:?})", self.cfg.write_timeout)),
        }
        self.out.tcp = out;
        self.out.tcp.clear();
        if self.out.tcp.capacity() > 1 << 20 {
            self.out.tcp = Vec::new();
        }
        Ok(())
    }

    fn on_tick(&mut self) -> Result<(), String> {
        let now = Instant::now();
        let silent = now.duration_since(self.last_input);
        match &self.role {
            Role::Reading {
                playing: true,
                sender,
                group,
                ..
            } => {
                // TCP readers may stay silent while we send (a dead one fails our writes);
                // UDP readers must send RTCP or requests now and then.
                let udp = group.is_some()
                    || sender
                        .tracks
                        .iter()
                        .any(|t| matches!(t.delivery, Delivery::Udp { .. }));
                if udp && silent > SESSION_TIMEOUT {
                    return Err(format!(
                        "no RTCP or request for {SESSION_TIMEOUT:?} (session timeout)"
                    ));
                }
            }
            _ => {
                if silent > self.cfg.read_timeout {
                    return Err(format!(
                        "no data for {:?} (readTimeout)",
                        self.cfg.read_timeout
                    ));
                }
            }
        }
        if self.next_report.is_some_and(|t| now >= t) {
            self.next_report = Some(now + REPORT_PERIOD);
            self.send_reports();
        }
        Ok(())
    }

    /// RTCP sender reports to a reader, receiver reports to a publisher.
    fn send_reports(&mut self) {
        let sent = match &mut self.role {
            Role::Reading { sender, .. } => sender.sender_reports(&mut self.out),
            Role::Publishing { ingest, .. } => ingest.receiver_reports(&mut self.out),
            _ => 0,
        };
        self.guard
            .info
            .rtp
            .outbound_rtcp_packets
            .fetch_add(sent, Ordering::Relaxed);
    }

    async fn on_input(&mut self, decoder: &mut Decoder) -> Result<(), String> {
        loop {
            match decoder.next_item() {
                Ok(None) => return Ok(()),
                Ok(Some(Item::Request(req))) => {
                    // A reader of a path with an on-demand source waits for it here.
                    let reads = req.method == "DESCRIBE"
                        || (req.method == "SETUP" && matches!(self.role, Role::Idle));
                    if reads {
                        if let Ok(access) = self.access(&req, Action::Read) {
                            let paths = self.cfg.paths.clone();
                            if let Err(e) = paths.wait_for_source(&access).await {
                                self.refuse(&req, &e)?;
                                continue;
                            }
                        }
                    }
                    self.on_request(req)?
                }
                Ok(Some(Item::Response(_))) => {} // answers to nothing we asked: ignore
                Ok(Some(Item::Interleaved { channel, data })) => {
                    self.on_interleaved(channel, data)?
                }
                Err(e) => {
                    self.out.tcp.extend(message::render_response(
                        400,
                        None,
                        &[],
                        e.to_string().as_bytes(),
                    ));
                    return Err(format!("malformed request: {e}"));
                }
            }
        }
    }

    fn respond(&mut self, req: &Request, status: u16, headers: &[(&str, String)], body: &[u8]) {
        self.out
            .tcp
            .extend(message::render_response(status, req.cseq(), headers, body));
    }

    fn on_request(&mut self, req: Request) -> Result<(), String> {
        match req.method.as_str() {
            "OPTIONS" => {
                self.respond(
                    &req,
                    200,
                    &[(
                        "Public",
                        "DESCRIBE, ANNOUNCE, SETUP, PLAY, RECORD, PAUSE, GET_PARAMETER, \
                         SET_PARAMETER, TEARDOWN"
                            .into(),
                    )],
                    b"",
                );
                Ok(())
            }
            "GET_PARAMETER" | "SET_PARAMETER" => {
                let s = self.session_header();
                self.respond(&req, 200, &s, b"");
                Ok(())
            }
            "DESCRIBE" => self.describe(req),
            "ANNOUNCE" => self.announce(req),
            "SETUP" => self.setup(req),
            "PLAY" => self.play(req),
            "RECORD" => self.record(req),
            "PAUSE" => {
                if let Role::Reading { playing, .. } = &mut self.role {
                    *playing = false;
                }
                let s = self.session_header();
                self.respond(&req, 200, &s, b"");
                Ok(())
            }
            "TEARDOWN" => {
                let s = self.session_header();
                self.respond(&req, 200, &s, b"");
                Err("the client sent TEARDOWN".into())
            }
            other => {
                let other = other.to_string();
                self.respond(&req, 501, &[], b"");
                info!(
                    "{} conn {}: method {other} not implemented",
                    self.cfg.scheme, self.peer
                );
                Ok(())
            }
        }
    }

    /// The session id as sent in `Session:` headers.
    fn session_id(&mut self) -> String {
        let id = *self.session.get_or_insert_with(|| {
            let id = Uuid::new_v4();
            self.guard.info.details.lock().session = Some(id);
            id
        });
        format!("{:016x}", id.as_u128() as u64)
    }

    fn session_header(&mut self) -> Vec<(&'static str, String)> {
        if self.session.is_none() {
            return vec![];
        }
        vec![(
            "Session",
            format!(
                "{};timeout={}",
                self.session_id(),
                SESSION_TIMEOUT.as_secs()
            ),
        )]
    }

    /// Path, query and credentials of a request URL, plus the Authorization header.
    fn access(&self, req: &Request, action: Action) -> Result<Access, String> {
        let (path, query) = path_of(&req.uri).ok_or_else(|| format!("bad URL {:?}", req.uri))?;
        let (mut user, mut pass) = (String::new(), String::new());
        let (basic, digest) = self.auth_methods();
        match req.header("Authorization").and_then(Credentials::parse) {
            Some(Credentials::Basic { user: u, pass: p }) if basic => {
                user = u;
                pass = p;
            }
            Some(c @ Credentials::Digest { .. }) if digest => {
                user = c.user().to_string();
                // Digest proves the password without sending it: find the user's plain
                // password in authInternalUsers and check the response against it.
                let conf = self.cfg.paths.conf();
                let known = conf.auth_internal_users.iter().find(|u| {
                    u.user == user
                        && !u.pass.starts_with("sha256:")
                        && !u.pass.starts_with("argon2:")
                });
                if let Some(u) = known {
                    if c.digest_matches(&u.pass, REALM, &self.nonce, &req.method) {
                        pass = u.pass.clone();
                    }
                }
            }
            _ => {}
        }
        for (k, v) in query.split('&').filter_map(|kv| kv.split_once('=')) {
            match k {
                "user" if user.is_empty() => user = v.to_string(),
                "pass" if pass.is_empty() => pass = v.to_string(),
                _ => {}
            }
        }
        {
            let mut d = self.guard.info.details.lock();
            d.path = path.clone();
            d.query = query.clone();
            d.user = user.clone();
            if let Some(ua) = req.header("User-Agent") {
                d.user_agent = ua.to_string();
            }
        }
        Ok(Access {
            action,
            path,
            query,
            user,
            pass,
            ip: self.peer.ip(),
        })
    }

    /// `rtspAuthMethods`: (Basic, Digest) allowed.
    fn auth_methods(&self) -> (bool, bool) {
        let conf = self.cfg.paths.conf();
        let m = &conf.rtsp_auth_methods;
        (
            m.contains(&RtspAuthMethod::Basic) || m.is_empty(),
            m.contains(&RtspAuthMethod::Digest),
        )
    }

    fn session_ref(&self) -> SessionRef {
        SessionRef {
            kind: if self.cfg.tls.is_some() {
                "rtspsSession"
            } else {
                "rtspSession"
            },
            id: self.session.unwrap_or(self.guard.info.id),
            token: self.guard.info.token.clone(),
        }
    }

    /// Answers a refused path operation; `Err` ends the connection only for hard errors.
    fn refuse(&mut self, req: &Request, e: &PathError) -> Result<(), String> {
        match e {
            PathError::Auth { .. } => {
                let (basic, digest) = self.auth_methods();
                let mut h = Vec::new();
                if digest {
                    h.push((
                        "WWW-Authenticate",
                        format!("Digest realm=\"{REALM}\", nonce=\"{}\"", self.nonce),
                    ));
                }
                if basic || !digest {
                    h.push(("WWW-Authenticate", format!("Basic realm=\"{REALM}\"")));
                }
                self.respond(req, 401, &h, b"");
                Ok(()) // the client retries with credentials
            }
            PathError::NoOnePublishing(_) | PathError::NotConfigured(_) => {
                self.respond(req, 404, &[], b"");
                Err(format!("{e}"))
            }
            _ => {
                self.respond(req, 400, &[], b"");
                Err(format!("{e}"))
            }
        }
    }

    fn describe(&mut self, req: Request) -> Result<(), String> {
        let access = self.access(&req, Action::Read)?;
        let reader = match self.cfg.paths.add_reader(&access, self.session_ref()) {
            Ok(r) => r,
            Err(e) => return self.refuse(&req, &e),
        };
        let tracks = reader.stream().source_tracks();
        drop(reader);
        let sections = describe_sections(&tracks);
        if sections.is_empty() {
            self.respond(&req, 404, &[], b"");
            return Err("the stream has no track RTSP can carry".into());
        }
        let body = sdp::describe(&sections, "Stream");
        let base = if req.uri.ends_with('/') {
            req.uri.clone()
        } else {
            format!("{}/", req.uri)
        };
        self.respond(
            &req,
            200,
            &[
                ("Content-Base", base),
                ("Content-Type", "application/sdp".into()),
            ],
            body.as_bytes(),
        );
        Ok(())
    }

    fn announce(&mut self, req: Request) -> Result<(), String> {
        if !matches!(self.role, Role::Idle) {
            self.respond(&req, 455, &[], b"");
            return Ok(());
        }
        let access = self.access(&req, Action::Publish)?;
        // Authenticate now (a refused publisher should not send its media first).
        if let Err(e) = self.cfg.paths.check_publish(&access) {
            return self.refuse(&req, &e);
        }
        let medias = match sdp::parse(&req.body) {
            Ok(m) => m,
            Err(e) => {
                self.respond(&req, 400, &[], e.to_string().as_bytes());
                return Err(format!("invalid SDP in ANNOUNCE: {e}"));
            }
        };
        let mut tracks = Vec::new();
        for m in medias {
            match InTrack::new(m.control, &m.format) {
                Ok(t) => tracks.push(t),
                Err(e) => {
                    info!(
                        "{} conn {}: announced {} track {:?} skipped: {e}",
                        self.cfg.scheme, self.peer, m.kind, m.format.encoding
                    );
                }
            }
        }
        if tracks.is_empty() {
            self.respond(&req, 415, &[], b"no supported track");
            return Err("no supported track in ANNOUNCE".into());
        }
        self.role = Role::Announced {
            path: access.path,
            query: access.query,
            tracks,
        };
        let s = self.session_header_new();
        self.respond(&req, 200, &s, b"");
        Ok(())
    }

    fn session_header_new(&mut self) -> Vec<(&'static str, String)> {
        self.session_id();
        self.session_header()
    }

    /// The transport to use among those the client offered, per rtspTransports.
    fn choose_transport(&self, header: &str, next_channel: u8, record: bool) -> Option<Transport> {
        transport::parse_all(header, next_channel)
            .into_iter()
            .find(|t| match t {
                Transport::Interleaved { .. } => self.cfg.tcp,
                Transport::Udp { .. } => self.cfg.udp.is_some(),
                Transport::Multicast => !record && self.cfg.multicast.is_some(),
            })
    }

    /// Registers UDP routes from the client's ports to this session, for track `idx`.
    fn udp_delivery(&mut self, client_rtp: u16, client_rtcp: u16, idx: usize) -> Option<Delivery> {
        let udp = self.cfg.udp.clone()?;
        let ip: IpAddr = self.peer.ip();
        let rtp = SocketAddr::new(ip, client_rtp);
        let rtcp = SocketAddr::new(ip, client_rtcp);
        let routes = self
            .routes
            .get_or_insert_with(|| Routes::new(udp, self.udp_tx.clone()));
        routes.add(false, rtp, idx);
        routes.add(true, rtcp, idx);
        Some(Delivery::Udp { rtp, rtcp })
    }

    fn set_transport(&self, t: &str) {
        let mut d = self.guard.info.details.lock();
        d.transport = t.to_string();
        d.profile = if self.cfg.tls.is_some() {
            "SAVP"
        } else {
            "AVP"
        }
        .into();
    }

    fn setup(&mut self, req: Request) -> Result<(), String> {
        let Some(th) = req.header("Transport").map(str::to_string) else {
            self.respond(&req, 461, &[], b"");
            return Ok(());
        };
        if matches!(self.role, Role::Publishing { .. }) {
            self.respond(&req, 455, &[], b"");
            return Ok(());
        }
        if let Role::Announced { .. } = self.role {
            return self.setup_record(req, &th);
        }
        self.setup_play(req, &th)
    }

    fn setup_record(&mut self, req: Request, th: &str) -> Result<(), String> {
        let Role::Announced { tracks, .. } = &self.role else {
            return Ok(());
        };
        let next = tracks.iter().filter(|t| t.delivery.is_some()).count() as u8 * 2;
        let uri = req.uri.clone();
        let idx = tracks
            .iter()
            .position(|t| !t.control.is_empty() && uri.ends_with(&t.control))
            .or_else(|| tracks.iter().position(|t| t.delivery.is_none()));
        let Some(idx) = idx else {
            self.respond(&req, 404, &[], b"");
            return Ok(());
        };
        let (delivery, answer, name) = match self.choose_transport(th, next, true) {
            Some(Transport::Interleaved { rtp, rtcp }) => (
                Delivery::Tcp { rtp, rtcp },
                format!("RTP/AVP/TCP;unicast;interleaved={rtp}-{rtcp}"),
                "TCP",
            ),
            Some(Transport::Udp {
                client_rtp,
                client_rtcp,
            }) => {
                let Some(d) = self.udp_delivery(client_rtp, client_rtcp, idx) else {
                    self.respond(&req, 461, &[], b"");
                    return Ok(());
                };
                let udp = self.cfg.udp.as_ref().map(|u| (u.rtp_port, u.rtcp_port));
                let (sp, sc) = udp.unwrap_or_default();
                (
                    d,
                    format!(
                        "RTP/AVP;unicast;client_port={client_rtp}-{client_rtcp};server_port={sp}-{sc}"
                    ),
                    "UDP",
                )
            }
            _ => {
                self.respond(&req, 461, &[], b"");
                return Ok(());
            }
        };
        let Role::Announced { tracks, .. } = &mut self.role else {
            return Ok(());
        };
        tracks[idx].set_delivery(delivery);
        self.set_transport(name);
        let s = self.session_header_new();
        let mut h = vec![("Transport", answer)];
        h.extend(s);
        self.respond(&req, 200, &h, b"");
        Ok(())
    }

    fn setup_play(&mut self, req: Request, th: &str) -> Result<(), String> {
        let next = match &self.role {
            Role::Reading { sender, .. } => sender.tracks.len() as u8 * 2,
            _ => 0,
        };
        let Some(transport) = self.choose_transport(th, next, false) else {
            self.respond(&req, 461, &[], b"");
            return Ok(());
        };
        let access = self.access(&req, Action::Read)?;
        if matches!(self.role, Role::Idle) {
            self.session_id();
            let reader = match self.cfg.paths.add_reader(&access, self.session_ref()) {
                Ok(r) => r,
                Err(e) => return self.refuse(&req, &e),
            };
            self.guard.info.details.lock().state = ConnState::Read;
            self.role = Role::Reading {
                reader,
                sender: RtpSender::default(),
                playing: false,
                drops: Default::default(),
                group: None,
                reported_lost: Vec::new(),
            };
        }
        let (source, index) = match &self.role {
            Role::Reading { reader, sender, .. } => (
                reader.stream().source_tracks(),
                track_id(&req.uri).unwrap_or(sender.tracks.len()),
            ),
            _ => return Ok(()),
        };
        let Some(track) = source.get(index).cloned() else {
            self.respond(&req, 404, &[], b"");
            return Ok(());
        };
        let (delivery, mut answer, name) = match transport {
            Transport::Interleaved { rtp, rtcp } => (
                Delivery::Tcp { rtp, rtcp },
                format!("RTP/AVP/TCP;unicast;interleaved={rtp}-{rtcp}"),
                "TCP",
            ),
            Transport::Udp {
                client_rtp,
                client_rtcp,
            } => {
                let Some(d) = self.udp_delivery(client_rtp, client_rtcp, index) else {
                    self.respond(&req, 461, &[], b"");
                    return Ok(());
                };
                let udp = self.cfg.udp.as_ref().map(|u| (u.rtp_port, u.rtcp_port));
                let (sp, sc) = udp.unwrap_or_default();
                (
                    d,
                    format!(
                        "RTP/AVP;unicast;client_port={client_rtp}-{client_rtcp};server_port={sp}-{sc}"
                    ),
                    "UDP",
                )
            }
            Transport::Multicast => {
                let Some(mc) = self.cfg.multicast.clone() else {
                    self.respond(&req, 461, &[], b"");
                    return Ok(());
                };
                let paths = self.cfg.paths.clone();
                let group = match &self.role {
                    Role::Reading { group: Some(g), .. } => Ok(g.clone()),
                    _ => mc.group(&access.path, || {
                        paths.add_reader(
                            &access,
                            SessionRef {
                                kind: "rtspMulticast",
                                id: Uuid::new_v4(),
                                token: CancellationToken::new(),
                            },
                        )
                    }),
                };
                let group = match group {
                    Ok(g) => g,
                    Err(e) => return self.refuse(&req, &e),
                };
                let Some(ip) = group.addr(index) else {
                    self.respond(&req, 461, &[], b"");
                    return Ok(());
                };
                let answer = format!(
                    "RTP/AVP;multicast;destination={ip};port={}-{};ttl=16;ssrc={:08X}",
                    mc.rtp_port,
                    mc.rtcp_port,
                    group.ssrc.get(index).copied().unwrap_or_default()
                );
                if let Role::Reading { group: g, .. } = &mut self.role {
                    *g = Some(group);
                }
                (Delivery::Multicast, answer, "UDP-MULTICAST")
            }
        };
        let seed = (self.guard.info.id.as_u128() >> (index * 16)) as u64;
        let multicast = delivery == Delivery::Multicast;
        let Role::Reading { sender, .. } = &mut self.role else {
            return Ok(());
        };
        let Some(out) = sender.add_track(&track, index, delivery, seed) else {
            self.respond(&req, 404, &[], b"");
            return Ok(());
        };
        if !multicast {
            answer.push_str(&format!(";ssrc={:08X}", out.ssrc));
        }
        self.set_transport(name);
        let s = self.session_header();
        let mut h = vec![("Transport", answer)];
        h.extend(s);
        self.respond(&req, 200, &h, b"");
        Ok(())
    }

    fn play(&mut self, req: Request) -> Result<(), String> {
        let Role::Reading {
            reader,
            sender,
            playing,
            ..
        } = &mut self.role
        else {
            self.respond(&req, 455, &[], b"");
            return Ok(());
        };
        if sender.tracks.is_empty() {
            self.respond(&req, 455, &[], b"");
            return Ok(());
        }
        // Only the tracks set up (and not multicast) are queued for this reader.
        let wanted: Vec<usize> = sender
            .tracks
            .iter()
            .filter(|t| t.delivery != Delivery::Multicast)
            .map(|t| t.index)
            .collect();
        for i in 0..reader.stream().tracks().len() {
            reader.queue().set_track(i, wanted.contains(&i));
        }
        *playing = true;
        let base = req.uri.trim_end_matches('/').to_string();
        let rtp_info = sender
            .tracks
            .iter()
            .filter(|t| t.delivery != Delivery::Multicast)
            .map(|t| {
                format!(
                    "url={base}/trackID={};seq={};rtptime={}",
                    t.index, t.seq, t.ts_base
                )
            })
            .collect::<Vec<_>>()
            .join(",");
        let path = reader.path_name().to_string();
        let n = sender.tracks.len();
        let transport = self.guard.info.details.lock().transport.clone();
        self.next_report = Some(Instant::now() + Duration::from_secs(1));
        let mut h = self.session_header();
        if !rtp_info.is_empty() {
            h.push(("RTP-Info", rtp_info));
        }
        self.respond(&req, 200, &h, b"");
        info!(
            "{} conn {} [{}]: is reading from path '{path}', {n} track(s) over {transport}",
            self.cfg.scheme, self.peer, self.guard.info.id
        );
        Ok(())
    }

    fn record(&mut self, req: Request) -> Result<(), String> {
        let role = std::mem::replace(&mut self.role, Role::Idle);
        let Role::Announced {
            path,
            query,
            tracks,
        } = role
        else {
            self.role = role;
            self.respond(&req, 455, &[], b"");
            return Ok(());
        };
        let tracks: Vec<InTrack> = tracks
            .into_iter()
            .filter(|t| t.delivery.is_some())
            .collect();
        if tracks.is_empty() {
            self.respond(&req, 455, &[], b"");
            return Err("RECORD without any SETUP".into());
        }
        let mut access = self.access(&req, Action::Publish)?;
        access.path = path;
        access.query = query;
        let mut publisher = match self.cfg.paths.add_publisher(&access, self.session_ref()) {
            Ok(p) => p,
            Err(e) => return self.refuse(&req, &e),
        };
        let ingest = Ingest::new(tracks, self.ssrc);
        let bus = ingest.bus_tracks();
        let codecs: Vec<_> = bus.iter().map(|t| t.codec.api_name()).collect();
        if let Err(e) = publisher.start(bus) {
            self.respond(&req, 400, &[], b"");
            return Err(format!("cannot start the stream: {e}"));
        }
        let transport = {
            let mut d = self.guard.info.details.lock();
            d.state = ConnState::Publish;
            d.transport.clone()
        };
        info!(
            "{} conn {} [{}]: is publishing to path '{}', {} track(s) ({}) over {transport}",
            self.cfg.scheme,
            self.peer,
            self.guard.info.id,
            publisher.path_name(),
            codecs.len(),
            codecs.join(", ")
        );
        // Routes now point at indices of the tracks kept.
        if let Some(old) = self.routes.take() {
            drop(old);
        }
        if let Some(udp) = self.cfg.udp.clone() {
            if ingest
                .tracks
                .iter()
                .any(|t| matches!(t.delivery, Some(Delivery::Udp { .. })))
            {
                let mut routes = Routes::new(udp, self.udp_tx.clone());
                for (i, t) in ingest.tracks.iter().enumerate() {
                    if let Some(Delivery::Udp { rtp, rtcp }) = t.delivery {
                        routes.add(false, rtp, i);
                        routes.add(true, rtcp, i);
                    }
                }
                self.routes = Some(routes);
            }
        }
        self.role = Role::Publishing { publisher, ingest };
        self.next_report = Some(Instant::now() + Duration::from_secs(1));
        let s = self.session_header();
        self.respond(&req, 200, &s, b"");
        Ok(())
    }

    fn on_interleaved(&mut self, channel: u8, data: Bytes) -> Result<(), String> {
        let found = match &self.role {
            Role::Publishing { ingest, .. } => ingest.by_channel(channel),
            Role::Reading { sender, .. } => sender.tracks.iter().find_map(|t| match t.delivery {
                Delivery::Tcp { rtcp, .. } if rtcp == channel => Some((t.index, true)),
                _ => None,
            }),
            _ => None,
        };
        let Some((track, rtcp)) = found else {
            return Ok(()); // an unknown channel
        };
        if rtcp {
            self.on_rtcp(track, &data);
            return Ok(());
        }
        self.on_rtp(track, data, false)
    }

    fn on_datagram(&mut self, d: Datagram) -> Result<(), String> {
        if d.rtcp {
            self.on_rtcp(d.track, &d.data);
            return Ok(());
        }
        self.on_rtp(d.track, d.data, true)
    }

    fn on_rtcp(&mut self, track: usize, data: &[u8]) {
        let counters = &self.guard.info.rtp;
        if let Role::Publishing { ingest, .. } = &mut self.role {
            ingest.on_rtcp(track, data, counters);
            return;
        }
        for p in rtcp::packets(data) {
            match p {
                Ok(p) => {
                    counters
                        .inbound_rtcp_packets
                        .fetch_add(1, Ordering::Relaxed);
                    if let (
                        Role::Reading { reported_lost, .. },
                        RtcpPacket::ReceiverReport(rtcp::ReceiverReport { reports, .. }),
                    ) = (&mut self.role, p)
                    {
                        for b in reports {
                            let known = reported_lost.len();
                            match reported_lost.iter_mut().find(|(s, _)| *s == b.ssrc) {
                                Some(e) => e.1 = b.cumulative_lost,
                                None if known < 16 => {
                                    reported_lost.push((b.ssrc, b.cumulative_lost))
                                }
                                None => {}
                            }
                        }
                        let total: i64 =
                            reported_lost.iter().map(|(_, l)| (*l).max(0) as i64).sum();
                        counters
                            .outbound_rtp_packets_reported_lost
                            .store(total as u64, Ordering::Relaxed);
                    }
                }
                Err(_) => {
                    counters
                        .inbound_rtcp_packets_in_error
                        .fetch_add(1, Ordering::Relaxed);
                }
            }
        }
    }

    /// One RTP packet of a publisher's track `idx`.
    fn on_rtp(&mut self, idx: usize, data: Bytes, udp: bool) -> Result<(), String> {
        let Role::Publishing { publisher, ingest } = &mut self.role else {
            return Ok(()); // e.g. a reader punching its NAT
        };
        ingest.on_rtp(idx, data, udp, &self.guard.info.rtp, publisher)
    }

    fn on_units(&mut self, batch: &mut Vec<Arc<Unit>>) {
        let tag = format!(
            "{} conn {} [{}]",
            self.cfg.scheme, self.peer, self.guard.info.id
        );
        let Role::Reading {
            reader,
            sender,
            drops,
            ..
        } = &mut self.role
        else {
            batch.clear();
            return;
        };
        let mut n = 0;
        for unit in batch.drain(..) {
            n += sender.write(&unit, &mut self.out);
        }
        self.guard
            .info
            .rtp
            .outbound_rtp_packets
            .fetch_add(n, Ordering::Relaxed);
        if let Some(n) = drops.poll(reader.queue(), &self.guard.info.frames_discarded) {
            warn!(
                "{tag}: reader too slow for path '{}': {n} units dropped since last report; \
                 it resumes at the next keyframe",
                reader.path_name()
            );
        }
    }
}

/// `(video, SDP attribute lines)` per track RTSP can carry, in track order.
fn describe_sections(tracks: &[Track]) -> Vec<(bool, String)> {
    tracks
        .iter()
        .enumerate()
        .filter_map(|(i, t)| {
            let fmt = ferrocast_rtp::format_for_track(t, 96 + i as u8)?;
            Some((t.codec.is_video(), ferrocast_rtp::sdp_attributes(&fmt)))
        })
        .collect()
}

/// `trackID=N` at the end of a SETUP URL.
fn track_id(uri: &str) -> Option<usize> {
    let last = uri.trim_end_matches('/').rsplit('/').next()?;
    last.strip_prefix("trackID=")?.parse().ok()
}

/// The path and query of an RTSP URL (`rtsp://host:port/path?query`), without the
/// control suffix a SETUP adds (`/trackID=N`, `/streamid=N`).
fn path_of(uri: &str) -> Option<(String, String)> {
    let rest = uri
        .strip_prefix("rtsp://")
        .or_else(|| uri.strip_prefix("rtsps://"))?;
    let path_q = rest.find('/').map(|i| &rest[i + 1..]).unwrap_or("");
    let (path, query) = path_q.split_once('?').unwrap_or((path_q, ""));
    let mut path = path.trim_matches('/').to_string();
    if let Some(i) = path.rfind('/') {
        let last = &path[i + 1..];
        if last.starts_with("trackID=") || last.starts_with("streamid=") {
            path.truncate(i);
        }
    }
    Some((path, query.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls() {
        assert_eq!(
            path_of("rtsp://127.0.0.1:8554/live/cam?user=a&pass=b"),
            Some(("live/cam".into(), "user=a&pass=b".into()))
        );
        assert_eq!(
            path_of("rtsp://h/live/cam/trackID=1"),
            Some(("live/cam".into(), String::new()))
        );
        assert_eq!(track_id("rtsp://h/x/trackID=1"), Some(1));
        assert_eq!(path_of("http://h/x"), None);
    }
}
