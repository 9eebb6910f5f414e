//! RTSP server: the tokio driver. One task per connection; requests are answered in order,
//! a publisher's interleaved RTP goes through one depacketizer per track into the path, a
//! reader's units go out packetized on its interleaved channels.

use std::net::SocketAddr;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use base64::Engine;
use ferrocast_core::conns::{ConnGuard, ConnInfo, ConnRegistry, ConnState};
use ferrocast_core::Codec;
use ferrocast_core::{
    rescale, Access, Action, CancellationToken, PathError, PathManager, Publisher, Reader,
    SessionRef, Track, Unit,
};
use ferrocast_rtp::dts::{H264DtsExtractor, H265DtsExtractor};
use ferrocast_rtp::{Depacketizer, Frame, Packetizer, Payload, RtpHeader, RtpPacket};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tracing::{info, warn};

use crate::message::{self, Decoder, Item, Request};
use crate::sdp;
use crate::transport::{self, Transport};

/// Settings of one listener.
#[derive(Clone)]
pub struct ServerConfig {
    pub paths: Arc<PathManager>,
    pub conns: Arc<ConnRegistry>,
    pub read_timeout: Duration,
    pub write_timeout: Duration,
    /// "rtsp" or "rtsps", for logs.
    pub scheme: &'static str,
}

/// Accepts connections until `shutdown` is cancelled.
pub async fn serve(listener: TcpListener, cfg: ServerConfig, shutdown: CancellationToken) {
    let scheme = cfg.scheme;
    ferrocast_core::net::accept_loop(listener, scheme, shutdown, move |sock, peer, token| {
        run_conn(sock, peer, cfg.clone(), token)
    })
    .await;
}

/// A track a publisher announced.
struct InTrack {
    control: String,
    track: Track,
    depacketizer: Depacketizer,
    /// H264 and H265: DTS from the bitstream (RTP carries only PTS).
    dts: Dts,
    /// Interleaved RTP channel, once SETUP.
    channel: Option<u8>,
    /// (first RTP time, where it sits on the path's timeline), in the track's clock: each
    /// RTP stream starts at a random timestamp, so tracks are aligned by arrival.
    base: Option<(i64, i64)>,
}

enum Dts {
    H264(H264DtsExtractor),
    H265(H265DtsExtractor),
    Pts,
}

impl Dts {
    fn for_track(t: &Track) -> Dts {
        match t.codec {
            Codec::H264 => {
                let mut x = H264DtsExtractor::new();
                x.set_config(&t.config);
                Dts::H264(x)
            }
            Codec::H265 => {
                let mut x = H265DtsExtractor::new();
                x.set_config(&t.config);
                Dts::H265(x)
            }
            _ => Dts::Pts,
        }
    }

    fn dts(&mut self, f: &Frame) -> i64 {
        match self {
            Dts::H264(x) => {
                if let Some(c) = &f.config {
                    x.set_config(c);
                }
                x.extract_frame(f)
            }
            Dts::H265(x) => {
                if let Some(c) = &f.config {
                    x.set_config(c);
                }
                x.extract_frame(f)
            }
            Dts::Pts => f.pts,
        }
    }
}

/// A track a reader set up.
struct OutTrack {
    index: usize,
    channel: u8,
    packetizer: Packetizer,
    payload_type: u8,
    clock_rate: u32,
    ssrc: u32,
    seq: u16,
    ts_base: u32,
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
        tracks: Vec<InTrack>,
        started: std::time::Instant,
    },
    /// After the first SETUP of a reader.
    Reading {
        reader: Reader,
        tracks: Vec<OutTrack>,
        playing: bool,
        drops: ferrocast_core::DropReport,
    },
}

struct Conn {
    cfg: ServerConfig,
    guard: ConnGuard,
    peer: SocketAddr,
    role: Role,
    session_id: String,
    out: Vec<u8>,
}

async fn run_conn(
    mut sock: TcpStream,
    peer: SocketAddr,
    cfg: ServerConfig,
    token: CancellationToken,
) {
    let info = Arc::new(ConnInfo::new(peer, token.clone()));
    let guard = cfg.conns.add(info.clone());
    let scheme = cfg.scheme;
    info!("{scheme} conn {peer} [{}]: opened", info.id);
    let mut conn = Conn {
        cfg,
        guard,
        peer,
        role: Role::Idle,
        session_id: format!("{:016x}", info.id.as_u128() as u64),
        out: Vec::new(),
    };
    let reason = conn.run(&mut sock, &token).await;
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
    Kicked,
    Timeout,
}

impl Conn {
    async fn run(&mut self, sock: &mut TcpStream, token: &CancellationToken) -> String {
        let mut buf = vec![0u8; 65536];
        let mut decoder = Decoder::new();
        let mut batch: Vec<Arc<Unit>> = Vec::new();
        loop {
            let queue = match &self.role {
                Role::Reading {
                    reader,
                    playing: true,
                    ..
                } => Some(reader.queue().clone()),
                _ => None,
            };
            // Readers send RTCP receiver reports (and keep-alive requests); publishers send
            // media. Either way a silent peer past readTimeout is gone.
            let timeout = self.cfg.read_timeout;
            let wake = tokio::select! {
                biased;
                _ = token.cancelled() => Wake::Kicked,
                r = sock.read(&mut buf) => Wake::Read(r),
                r = async {
                    match &queue {
                        Some(q) => q.recv(&mut batch).await,
                        None => std::future::pending().await,
                    }
                } => Wake::Units(r),
                _ = tokio::time::sleep(timeout) => Wake::Timeout,
            };
            let result = match wake {
                Wake::Read(Ok(0)) => return "the peer closed the connection".into(),
                Wake::Read(Err(e)) => return format!("read error: {e}"),
                Wake::Read(Ok(n)) => {
                    self.guard
                        .info
                        .bytes_received
                        .fetch_add(n as u64, Ordering::Relaxed);
                    decoder.push(&buf[..n]);
                    self.on_input(&mut decoder)
                }
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
                Wake::Timeout => {
                    if matches!(self.role, Role::Reading { playing: true, .. }) {
                        Ok(()) // readers may stay silent while we send (no RTCP from some)
                    } else {
                        return format!("no data for {timeout:?} (readTimeout)");
                    }
                }
            };
            if !self.out.is_empty() {
                let out = std::mem::take(&mut self.out);
                let w = tokio::time::timeout(self.cfg.write_timeout, sock.write_all(&out)).await;
                match w {
                    Ok(Ok(())) => {
                        self.guard
                            .info
                            .bytes_sent
                            .fetch_add(out.len() as u64, Ordering::Relaxed);
                    }
                    Ok(Err(e)) => return format!("write error: {e}"),
                    Err(_) => return format!("write timed out ({:?})", self.cfg.write_timeout),
                }
                self.out = out;
                self.out.clear();
                if self.out.capacity() > 1 << 20 {
                    self.out = Vec::new();
                }
            }
            if let Err(reason) = result {
                return reason;
            }
        }
    }

    fn on_input(&mut self, decoder: &mut Decoder) -> Result<(), String> {
        loop {
            match decoder.next_item() {
                Ok(None) => return Ok(()),
                Ok(Some(Item::Request(req))) => self.on_request(req)?,
                Ok(Some(Item::Response(_))) => {} // answers to nothing we asked: ignore
                Ok(Some(Item::Interleaved { channel, data })) => {
                    self.on_interleaved(channel, &data)?
                }
                Err(e) => {
                    self.out.extend(message::render_response(
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

    fn session_header(&self) -> Vec<(&'static str, String)> {
        match self.role {
            Role::Idle => vec![],
            _ => vec![("Session", format!("{};timeout=60", self.session_id))],
        }
    }

    /// Path, query and credentials of a request URL, plus the Authorization header.
    fn access(&self, req: &Request, action: Action) -> Result<Access, String> {
        let (path, query) = path_of(&req.uri).ok_or_else(|| format!("bad URL {:?}", req.uri))?;
        let (mut user, mut pass) = (String::new(), String::new());
        if let Some(auth) = req.header("Authorization") {
            if let Some(b64) = auth
                .strip_prefix("Basic ")
                .or_else(|| auth.strip_prefix("basic "))
            {
                if let Ok(raw) = base64::engine::general_purpose::STANDARD.decode(b64.trim()) {
                    if let Ok(s) = String::from_utf8(raw) {
                        if let Some((u, p)) = s.split_once(':') {
                            user = u.to_string();
                            pass = p.to_string();
                        }
                    }
                }
            }
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

    fn session_ref(&self) -> SessionRef {
        SessionRef {
            kind: "rtspSession",
            id: self.guard.info.id,
            token: self.guard.info.token.clone(),
        }
    }

    /// Answers a refused path operation; `Err` ends the connection only for hard errors.
    fn refuse(&mut self, req: &Request, e: &PathError) -> Result<(), String> {
        match e {
            PathError::Auth { .. } => {
                self.respond(
                    req,
                    401,
                    &[("WWW-Authenticate", "Basic realm=\"ferrocast\"".into())],
                    b"",
                );
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
            match Depacketizer::new(&m.format) {
                Ok(depacketizer) => tracks.push(InTrack {
                    control: m.control,
                    track: depacketizer.track().clone(),
                    dts: Dts::for_track(depacketizer.track()),
                    depacketizer,
                    channel: None,
                    base: None,
                }),
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
        self.respond(&req, 200, &[], b"");
        Ok(())
    }

    fn setup(&mut self, req: Request) -> Result<(), String> {
        let Some(th) = req.header("Transport").map(str::to_string) else {
            self.respond(&req, 461, &[], b"");
            return Ok(());
        };
        match &mut self.role {
            Role::Announced { tracks, .. } => {
                let next = tracks.iter().filter(|t| t.channel.is_some()).count() as u8 * 2;
                let Some(Transport::Interleaved { rtp, rtcp }) = transport::parse(&th, next) else {
                    self.respond(&req, 461, &[], b"");
                    return Ok(());
                };
                let uri = req.uri.clone();
                let idx = tracks
                    .iter()
                    .position(|t| !t.control.is_empty() && uri.ends_with(&t.control))
                    .or_else(|| tracks.iter().position(|t| t.channel.is_none()));
                let Some(idx) = idx else {
                    self.respond(&req, 404, &[], b"");
                    return Ok(());
                };
                tracks[idx].channel = Some(rtp);
                let s = format!("{};timeout=60", self.session_id);
                self.respond(
                    &req,
                    200,
                    &[
                        (
                            "Transport",
                            format!("RTP/AVP/TCP;unicast;interleaved={rtp}-{rtcp}"),
                        ),
                        ("Session", s),
                    ],
                    b"",
                );
                Ok(())
            }
            Role::Idle | Role::Reading { .. } => {
                let next = match &self.role {
                    Role::Reading { tracks, .. } => tracks.len() as u8 * 2,
                    _ => 0,
                };
                let Some(Transport::Interleaved { rtp, rtcp }) = transport::parse(&th, next) else {
                    self.respond(&req, 461, &[], b"");
                    return Ok(());
                };
                if matches!(self.role, Role::Idle) {
                    let access = self.access(&req, Action::Read)?;
                    let reader = match self.cfg.paths.add_reader(&access, self.session_ref()) {
                        Ok(r) => r,
                        Err(e) => return self.refuse(&req, &e),
                    };
                    self.guard.info.details.lock().state = ConnState::Read;
                    self.role = Role::Reading {
                        reader,
                        tracks: Vec::new(),
                        playing: false,
                        drops: Default::default(),
                    };
                }
                let Role::Reading { reader, tracks, .. } = &mut self.role else {
                    return Ok(());
                };
                let source = reader.stream().source_tracks();
                let index = track_id(&req.uri).unwrap_or(tracks.len());
                let Some(t) = source.get(index) else {
                    self.respond(&req, 404, &[], b"");
                    return Ok(());
                };
                let Some(fmt) = ferrocast_rtp::format_for_track(t, 96 + index as u8) else {
                    self.respond(&req, 404, &[], b"");
                    return Ok(());
                };
                let Ok(packetizer) = Packetizer::new(t, ferrocast_rtp::DEFAULT_MTU) else {
                    self.respond(&req, 404, &[], b"");
                    return Ok(());
                };
                let seed = (self.guard.info.id.as_u128() >> (index * 16)) as u64;
                tracks.retain(|o| o.index != index);
                tracks.push(OutTrack {
                    index,
                    channel: rtp,
                    packetizer,
                    payload_type: fmt.payload_type,
                    clock_rate: fmt.clock_rate.max(1),
                    ssrc: seed as u32,
                    seq: (seed >> 32) as u16,
                    ts_base: (seed >> 16) as u32,
                });
                let s = format!("{};timeout=60", self.session_id);
                let ssrc = format!("{:08X}", seed as u32);
                self.respond(
                    &req,
                    200,
                    &[
                        (
                            "Transport",
                            format!("RTP/AVP/TCP;unicast;interleaved={rtp}-{rtcp};ssrc={ssrc}"),
                        ),
                        ("Session", s),
                    ],
                    b"",
                );
                Ok(())
            }
            Role::Publishing { .. } => {
                self.respond(&req, 455, &[], b"");
                Ok(())
            }
        }
    }

    fn play(&mut self, req: Request) -> Result<(), String> {
        let Role::Reading {
            reader,
            tracks,
            playing,
            ..
        } = &mut self.role
        else {
            self.respond(&req, 455, &[], b"");
            return Ok(());
        };
        if tracks.is_empty() {
            self.respond(&req, 455, &[], b"");
            return Ok(());
        }
        // Only the tracks set up are queued for this reader.
        let wanted: Vec<usize> = tracks.iter().map(|t| t.index).collect();
        for i in 0..reader.stream().tracks().len() {
            reader.queue().set_track(i, wanted.contains(&i));
        }
        *playing = true;
        let base = req.uri.trim_end_matches('/').to_string();
        let rtp_info = tracks
            .iter()
            .map(|t| {
                format!(
                    "url={base}/trackID={};seq={};rtptime={}",
                    t.index, t.seq, t.ts_base
                )
            })
            .collect::<Vec<_>>()
            .join(",");
        let path = reader.path_name().to_string();
        let n = tracks.len();
        let s = format!("{};timeout=60", self.session_id);
        self.respond(&req, 200, &[("Session", s), ("RTP-Info", rtp_info)], b"");
        info!(
            "{} conn {} [{}]: is reading from path '{path}', {n} track(s)",
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
        let tracks: Vec<InTrack> = tracks.into_iter().filter(|t| t.channel.is_some()).collect();
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
        let bus: Vec<Track> = tracks.iter().map(|t| t.track.clone()).collect();
        let codecs: Vec<_> = bus.iter().map(|t| t.codec.api_name()).collect();
        if let Err(e) = publisher.start(bus) {
            self.respond(&req, 400, &[], b"");
            return Err(format!("cannot start the stream: {e}"));
        }
        self.guard.info.details.lock().state = ConnState::Publish;
        info!(
            "{} conn {} [{}]: is publishing to path '{}', {} track(s) ({})",
            self.cfg.scheme,
            self.peer,
            self.guard.info.id,
            publisher.path_name(),
            codecs.len(),
            codecs.join(", ")
        );
        self.role = Role::Publishing {
            publisher,
            tracks,
            started: std::time::Instant::now(),
        };
        let s = format!("{};timeout=60", self.session_id);
        self.respond(&req, 200, &[("Session", s)], b"");
        Ok(())
    }

    fn on_interleaved(&mut self, channel: u8, data: &[u8]) -> Result<(), String> {
        let Role::Publishing {
            publisher,
            tracks,
            started,
        } = &mut self.role
        else {
            return Ok(()); // RTCP receiver reports from a reader
        };
        let Some(idx) = tracks.iter().position(|t| t.channel == Some(channel)) else {
            return Ok(()); // RTCP (odd channels) or an unknown channel
        };
        let pkt = match RtpPacket::parse(data) {
            Ok(p) => p,
            Err(e) => {
                return Err(format!("malformed RTP packet on channel {channel}: {e}"));
            }
        };
        let mut frames = Vec::new();
        if let Err(e) = tracks[idx].depacketizer.push(&pkt, &mut frames) {
            // One broken packet loses one frame, not the session.
            tracing::debug!("{} conn {}: track {idx}: {e}", self.cfg.scheme, self.peer);
        }
        for f in frames {
            let t = &mut tracks[idx];
            let dts = t.dts.dts(&f);
            let clock = t.track.clock_rate;
            let (first, at) = *t.base.get_or_insert_with(|| {
                let us = started.elapsed().as_micros() as i64;
                (f.pts, rescale(us, 1_000_000, clock))
            });
            let (pts, dts) = (f.pts - first + at, dts - first + at);
            if let Some(config) = f.config {
                if let Some(s) = publisher.stream() {
                    let mut all = s.tracks().as_ref().clone();
                    if let Some(t) = all.get_mut(idx) {
                        t.config = config;
                    }
                    s.update_tracks(all);
                }
            }
            publisher.write(Unit::new(idx, dts, pts, f.key, f.data));
        }
        Ok(())
    }

    fn on_units(&mut self, batch: &mut Vec<Arc<Unit>>) {
        let tag = format!(
            "{} conn {} [{}]",
            self.cfg.scheme, self.peer, self.guard.info.id
        );
        let Role::Reading {
            reader,
            tracks,
            drops,
            ..
        } = &mut self.role
        else {
            batch.clear();
            return;
        };
        let source = reader.stream().source_tracks();
        let mut payloads: Vec<Payload> = Vec::new();
        for unit in batch.drain(..) {
            let Some(t) = tracks.iter_mut().find(|t| t.index == unit.track) else {
                continue;
            };
            let clock = source
                .get(unit.track)
                .map(|s| s.clock_rate)
                .unwrap_or(90000);
            payloads.clear();
            if t.packetizer
                .packetize(&unit.data, unit.key, &mut payloads)
                .is_err()
            {
                continue;
            }
            let ts = t
                .ts_base
                .wrapping_add(rescale(unit.pts, clock, t.clock_rate) as u32);
            for p in &payloads {
                let header = RtpHeader {
                    marker: p.marker,
                    payload_type: t.payload_type,
                    sequence: t.seq,
                    timestamp: ts.wrapping_add(p.timestamp_offset),
                    ssrc: t.ssrc,
                };
                t.seq = t.seq.wrapping_add(1);
                let mut h = [0u8; 12];
                if header.write(&mut h).is_err() {
                    continue;
                }
                let len = 12 + p.payload.len();
                if len > 0xffff {
                    continue;
                }
                self.out
                    .extend_from_slice(&message::interleaved_header(t.channel, len));
                self.out.extend_from_slice(&h);
                self.out.extend_from_slice(&p.payload);
            }
        }
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
