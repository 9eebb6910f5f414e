//! The RTSP session state machine, sans IO: requests, interleaved frames, datagrams,
//! bus units and time go in; responses and RTP/RTCP packets come out in an [`Outbox`],
//! UDP routes in [`Session::take_routes`], and a reason when the session ends. The
//! tokio driver ([`crate::server`]) owns the sockets, the timers and the UDP routing.
//!
//! The only shared state it touches is the in-memory [`PathManager`] (publishers and
//! readers of paths) and the connection's [`ConnInfo`] (API counters), so tests replay
//! captured client exchanges through it without a socket (tests/fixtures).

use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use ferrocast_conf::RtspAuthMethod;
use ferrocast_core::conns::{ConnInfo, ConnState};
use ferrocast_core::{
    Access, Action, CancellationToken, PathError, PathManager, Publisher, Reader, ReaderQueue,
    SessionRef, Track, Unit,
};
use ferrocast_rtp::rtcp::{self, RtcpPacket};
use ferrocast_rtp::srtp::{MasterKey, SrtpReceiver, SrtpSender};
use tracing::{info, warn};
use uuid::Uuid;

use crate::auth::Credentials;
use crate::egress::{Delivery, Outbox, RtpSender};
use crate::ingest::{InTrack, Ingest};
use crate::keys::{PathKeys, SrtpKeys, SsrcLease};
use crate::message::{self, MessageError, Request};
use crate::mikey;
use crate::multicast::{Group, Multicast, REPORT_PERIOD};
use crate::sdp;
use crate::transport::{self, Profile, Transport};
use crate::udp::Datagram;

/// The realm of authentication challenges.
const REALM: &str = "ferrocast";

/// How long a session lives without requests or RTCP (announced as `timeout=`), for
/// UDP readers whose connection stays silent while we send.
pub const SESSION_TIMEOUT: Duration = Duration::from_secs(60);

/// What a session may do, from the listener's settings.
#[derive(Clone)]
pub struct SessionConfig {
    pub paths: Arc<PathManager>,
    /// "rtsp" or "rtsps", for logs.
    pub scheme: &'static str,
    pub read_timeout: Duration,
    /// TCP interleaving allowed (rtspTransports has `tcp`).
    pub tcp: bool,
    /// UDP unicast allowed: the server's RTP and RTCP ports.
    pub udp: Option<(u16, u16)>,
    /// UDP multicast (rtspTransports has `multicast`).
    pub multicast: Option<Arc<Multicast>>,
    /// RTSPS (session kind `rtspsSession`): plain RTP only inside TLS, SRTP over UDP.
    pub tls: bool,
    /// RTSPS: the SRTP keys of readers, per path (shared with the multicast group).
    pub srtp: Option<Arc<SrtpKeys>>,
}

/// A UDP route: datagrams from this client address (on the RTCP port or not) belong to
/// this track of the session.
pub type Route = (bool, SocketAddr, usize);

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
        ingest: Box<Ingest>,
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
        /// SRTP: the keys of the client's RTCP, per track.
        srtp_in: Vec<(usize, SrtpReceiver)>,
        /// SRTP: the SSRCs our tracks send as.
        leases: Vec<SsrcLease>,
    },
}

/// What a DESCRIBE on an RTSPS connection promised: the path's keys and an SSRC per
/// track, announced in `a=key-mgmt` and used by the SETUPs that follow.
struct Offer {
    keys: Arc<PathKeys>,
    ssrcs: Vec<(usize, SsrcLease)>,
}

/// One RTSP connection's session.
pub struct Session {
    cfg: SessionConfig,
    info: Arc<ConnInfo>,
    peer: SocketAddr,
    role: Role,
    /// The RTSP session, from the first SETUP or ANNOUNCE.
    session: Option<Uuid>,
    /// What to send: responses and interleaved frames, and datagrams.
    pub out: Outbox,
    routes: Vec<Route>,
    routes_changed: bool,
    /// Last request, media or RTCP from the peer.
    last_input: Instant,
    next_report: Option<Instant>,
    /// Our SSRC in receiver reports.
    ssrc: u32,
    /// The nonce of Digest challenges on this connection.
    nonce: String,
    /// RTSPS readers: the keys the last DESCRIBE announced.
    offer: Option<Offer>,
    /// RTSPS publishers: our key, for our receiver reports.
    srtp_key: Option<MasterKey>,
}

impl Session {
    /// A session for the connection `info` from `peer`; `nonce` is the Digest nonce of
    /// its challenges (random in the server, fixed when replaying a capture).
    pub fn new(
        cfg: SessionConfig,
        info: Arc<ConnInfo>,
        peer: SocketAddr,
        nonce: String,
        now: Instant,
    ) -> Session {
        Session {
            ssrc: (info.id.as_u128() >> 64) as u32,
            cfg,
            info,
            peer,
            role: Role::Idle,
            session: None,
            out: Outbox::default(),
            routes: Vec::new(),
            routes_changed: false,
            last_input: now,
            next_report: None,
            nonce,
            offer: None,
            srtp_key: None,
        }
    }

    /// A random Digest nonce.
    pub fn random_nonce() -> String {
        format!("{:032x}", Uuid::new_v4().as_u128())
    }

    /// The access a request needs an on-demand source for, if any: DESCRIBE and a
    /// reader's first SETUP wait for the path's source before [`Session::on_request`].
    pub fn reads_source(&self, req: &Request) -> Option<Access> {
        let reads =
            req.method == "DESCRIBE" || (req.method == "SETUP" && matches!(self.role, Role::Idle));
        if !reads {
            return None;
        }
        self.access(req, Action::Read).ok()
    }

    /// The reader's queue while it plays (not for multicast readers: their group sends).
    pub fn queue(&self) -> Option<&Arc<ReaderQueue>> {
        match &self.role {
            Role::Reading {
                reader,
                playing: true,
                group: None,
                ..
            } => Some(reader.queue()),
            _ => None,
        }
    }

    /// The complete UDP route table, when it changed since the last call.
    pub fn take_routes(&mut self) -> Option<Vec<Route>> {
        if !std::mem::take(&mut self.routes_changed) {
            return None;
        }
        Some(self.routes.clone())
    }

    /// The session id as in `Session:` headers, once there is a session.
    pub fn id(&self) -> Option<String> {
        self.session
            .map(|id| format!("{:016x}", id.as_u128() as u64))
    }

    /// A request the decoder could not parse: answers 400 and returns why to close.
    pub fn on_malformed(&mut self, e: &MessageError) -> String {
        self.out.tcp.extend(message::render_response(
            400,
            None,
            &[],
            e.to_string().as_bytes(),
        ));
        format!("malformed request: {e}")
    }

    /// Requests naming another session get 454 (RFC 2326 12.37): a session belongs to
    /// the connection that made it.
    fn check_session(&mut self, req: &Request) -> Option<Result<(), String>> {
        let given = req.header("Session")?.split(';').next()?.trim().to_string();
        if self.id().is_some_and(|id| id.eq_ignore_ascii_case(&given)) {
            return None;
        }
        self.respond(req, 454, &[], b"");
        Some(Ok(()))
    }

    pub fn on_tick(&mut self, now: Instant) -> Result<(), String> {
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
        self.info
            .rtp
            .outbound_rtcp_packets
            .fetch_add(sent, Ordering::Relaxed);
    }

    fn respond(&mut self, req: &Request, status: u16, headers: &[(&str, String)], body: &[u8]) {
        self.out
            .tcp
            .extend(message::render_response(status, req.cseq(), headers, body));
    }

    pub fn on_request(&mut self, req: Request, now: Instant) -> Result<(), String> {
        self.last_input = now;
        if let Some(refused) = self.check_session(&req) {
            return refused;
        }
        match req.method.as_str() {
            "OPTIONS" => {
                self.respond(
                    &req,
                    200,
                    &[(
                        "Public",
                        "OPTIONS, DESCRIBE, ANNOUNCE, SETUP, PLAY, RECORD, PAUSE, \
                         GET_PARAMETER, SET_PARAMETER, TEARDOWN"
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
            "PLAY" => self.play(req, now),
            "RECORD" => self.record(req, now),
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
            self.info.details.lock().session = Some(id);
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
            let mut d = self.info.details.lock();
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
            kind: if self.cfg.tls {
                "rtspsSession"
            } else {
                "rtspSession"
            },
            id: self.session.unwrap_or(self.info.id),
            token: self.info.token.clone(),
        }
    }

    /// Answers a refused path operation; `Err` ends the connection only for hard errors.
    pub fn refuse(&mut self, req: &Request, e: &PathError) -> Result<(), String> {
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
        let mut sections = describe_sections(&tracks);
        if sections.is_empty() {
            self.respond(&req, 404, &[], b"");
            return Err("the stream has no track RTSP can carry".into());
        }
        // RTSPS: SRTP with the path's keys. rtspsrc reads keys only here, so every track
        // gets its key and SSRC now, and the SETUPs use them.
        let profile = match &self.cfg.srtp {
            Some(all) => {
                let keys = all.path(&access.path);
                let running = self
                    .cfg
                    .multicast
                    .as_ref()
                    .and_then(|m| m.running_group(&access.path));
                let mut ssrcs = Vec::new();
                for (index, _, attrs) in &mut sections {
                    let lease = keys.lease_ssrc();
                    let mut map = vec![(lease.ssrc, 0)];
                    // A multicast group already sending: its SSRC and rollover counter.
                    if let Some(g) = &running {
                        if let Some(s) = g.stream(*index) {
                            map.push(s);
                        }
                    }
                    let msg = mikey::encode(&keys.key(*index), &map);
                    attrs.push('\n');
                    attrs.push_str(&mikey::sdp_attribute(&msg));
                    ssrcs.push((*index, lease));
                }
                self.offer = Some(Offer { keys, ssrcs });
                Profile::Savp
            }
            None => Profile::Avp,
        };
        let body = sdp::describe(&sections, "Stream", profile);
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
        let mut key_mgmt = Vec::new();
        for m in medias {
            let mut srtp_in = None;
            if m.profile == Profile::Savp {
                if self.cfg.srtp.is_none() {
                    self.respond(&req, 400, &[], b"RTP/SAVP needs RTSPS");
                    return Err(
                        "SRTP media announced on plain RTSP (keys would travel in clear text)"
                            .into(),
                    );
                }
                // The key comes here (rtspclientsink) or in the SETUP (gortsplib).
                if let Some(b64) = &m.key_mgmt {
                    match mikey::from_base64(b64) {
                        Ok(k) => srtp_in = Some(SrtpReceiver::new(&k.key, &k.streams)),
                        Err(e) => {
                            self.respond(&req, 400, &[], e.to_string().as_bytes());
                            return Err(format!("invalid a=key-mgmt in ANNOUNCE: {e}"));
                        }
                    }
                }
                // Our key for receiver reports, one KeyMgmt per media (rtspclientsink
                // reads it from this answer).
                let key = self.srtp_key.get_or_insert_with(MasterKey::random).clone();
                let uri = if m.control.contains("://") {
                    m.control.clone()
                } else {
                    format!("{}/{}", req.uri.trim_end_matches('/'), m.control)
                };
                let msg = mikey::encode(&key, &[(self.ssrc, 0)]);
                key_mgmt.push(("KeyMgmt", mikey::key_mgmt_header(&uri, &msg)));
            }
            match InTrack::new(m.control, &m.format) {
                Ok(mut t) => {
                    t.srtp_in = srtp_in;
                    tracks.push(t)
                }
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
        let mut h = self.session_header_new();
        h.extend(key_mgmt);
        self.respond(&req, 200, &h, b"");
        Ok(())
    }

    fn session_header_new(&mut self) -> Vec<(&'static str, String)> {
        self.session_id();
        self.session_header()
    }

    /// The transport to use among those the client offered, per rtspTransports. On RTSPS,
    /// UDP and multicast need SRTP while TCP may carry either (ffmpeg sends plain RTP
    /// inside TLS); plain RTSP refuses SRTP, whose keys would travel in clear text.
    fn choose_transport(
        &self,
        header: &str,
        next_channel: u8,
        record: bool,
    ) -> Option<(Transport, Profile)> {
        let secure = self.cfg.srtp.is_some();
        transport::parse_all(header, next_channel)
            .into_iter()
            .find(|(t, p)| {
                let allowed = match t {
                    Transport::Interleaved { .. } => self.cfg.tcp,
                    Transport::Udp { .. } => self.cfg.udp.is_some(),
                    Transport::Multicast => !record && self.cfg.multicast.is_some(),
                };
                let profile_ok = match p {
                    Profile::Savp => secure,
                    Profile::Avp => !self.cfg.tls || matches!(t, Transport::Interleaved { .. }),
                };
                allowed && profile_ok
            })
    }

    /// Routes the client's UDP ports to this session as track `idx`.
    fn udp_delivery(&mut self, client_rtp: u16, client_rtcp: u16, idx: usize) -> Option<Delivery> {
        self.cfg.udp?;
        let ip: IpAddr = self.peer.ip();
        let rtp = SocketAddr::new(ip, client_rtp);
        let rtcp = SocketAddr::new(ip, client_rtcp);
        self.routes.push((false, rtp, idx));
        self.routes.push((true, rtcp, idx));
        self.routes_changed = true;
        Some(Delivery::Udp { rtp, rtcp })
    }

    /// The delivery, the Transport answer and the API transport name of a TCP or UDP
    /// transport for track `idx`; `None` for multicast or UDP without the UDP listener.
    fn unicast(
        &mut self,
        t: Transport,
        profile: Profile,
        idx: usize,
    ) -> Option<(Delivery, String, &'static str)> {
        let proto = profile.name();
        match t {
            Transport::Interleaved { rtp, rtcp } => Some((
                Delivery::Tcp { rtp, rtcp },
                format!("{proto}/TCP;unicast;interleaved={rtp}-{rtcp}"),
                "TCP",
            )),
            Transport::Udp {
                client_rtp,
                client_rtcp,
            } => {
                let (sp, sc) = self.cfg.udp?;
                let d = self.udp_delivery(client_rtp, client_rtcp, idx)?;
                let answer = format!(
                    "{proto};unicast;client_port={client_rtp}-{client_rtcp};server_port={sp}-{sc}"
                );
                Some((d, answer, "UDP"))
            }
            Transport::Multicast => None,
        }
    }

    fn set_transport(&self, t: &str, profile: Profile) {
        let mut d = self.info.details.lock();
        d.transport = t.to_string();
        d.profile = profile.api_name().into();
    }

    /// The client's SRTP key from a SETUP's `KeyMgmt` header, if it sent one.
    fn client_key(req: &Request) -> Option<Result<mikey::Mikey, mikey::MikeyError>> {
        let all: Vec<&str> = req
            .headers
            .iter()
            .filter(|(k, _)| k.eq_ignore_ascii_case("KeyMgmt"))
            .map(|(_, v)| v.as_str())
            .collect();
        (!all.is_empty()).then(|| mikey::parse_key_mgmt(&all.join(","), &req.uri))
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
        let Some((t, profile)) = self.choose_transport(th, next, true) else {
            self.respond(&req, 461, &[], b"");
            return Ok(());
        };
        // SRTP: the client's key, from this SETUP or else from the ANNOUNCE.
        let client_key = match profile {
            Profile::Savp => match Self::client_key(&req) {
                Some(Ok(k)) => Some(SrtpReceiver::new(&k.key, &k.streams)),
                Some(Err(e)) => {
                    self.respond(&req, 400, &[], e.to_string().as_bytes());
                    return Err(format!("invalid KeyMgmt in SETUP: {e}"));
                }
                None => None,
            },
            Profile::Avp => None,
        };
        if let (Profile::Savp, None, Role::Announced { tracks, .. }) =
            (profile, &client_key, &self.role)
        {
            if tracks[idx].srtp_in.is_none() {
                self.respond(&req, 400, &[], b"no SRTP key (KeyMgmt or a=key-mgmt)");
                return Err("RTP/SAVP SETUP without a key".into());
            }
        }
        let Some((delivery, answer, name)) = self.unicast(t, profile, idx) else {
            self.respond(&req, 461, &[], b"");
            return Ok(());
        };
        let mut h = vec![("Transport", answer)];
        if profile == Profile::Savp {
            let key = self.srtp_key.get_or_insert_with(MasterKey::random).clone();
            let msg = mikey::encode(&key, &[(self.ssrc, 0)]);
            h.push(("KeyMgmt", mikey::key_mgmt_header(&req.uri, &msg)));
        }
        let Role::Announced { tracks, .. } = &mut self.role else {
            return Ok(());
        };
        let track = &mut tracks[idx];
        track.set_delivery(delivery);
        match (profile, client_key) {
            (Profile::Avp, _) => track.srtp_in = None,
            (Profile::Savp, Some(k)) => track.srtp_in = Some(k),
            (Profile::Savp, None) => {}
        }
        self.set_transport(name, profile);
        h.extend(self.session_header_new());
        self.respond(&req, 200, &h, b"");
        Ok(())
    }

    fn setup_play(&mut self, req: Request, th: &str) -> Result<(), String> {
        let next = match &self.role {
            Role::Reading { sender, .. } => sender.tracks.len() as u8 * 2,
            _ => 0,
        };
        let Some((transport, profile)) = self.choose_transport(th, next, false) else {
            self.respond(&req, 461, &[], b"");
            return Ok(());
        };
        let client_key = match (profile, Self::client_key(&req)) {
            (Profile::Savp, Some(Ok(k))) => Some(SrtpReceiver::new(&k.key, &k.streams)),
            (Profile::Savp, Some(Err(e))) => {
                self.respond(&req, 400, &[], e.to_string().as_bytes());
                return Err(format!("invalid KeyMgmt in SETUP: {e}"));
            }
            // Without it, the client's RTCP cannot be read, and is dropped.
            _ => None,
        };
        let access = self.access(&req, Action::Read)?;
        if matches!(self.role, Role::Idle) {
            self.session_id();
            let reader = match self.cfg.paths.add_reader(&access, self.session_ref()) {
                Ok(r) => r,
                Err(e) => return self.refuse(&req, &e),
            };
            self.info.details.lock().state = ConnState::Read;
            self.role = Role::Reading {
                reader,
                sender: RtpSender::default(),
                playing: false,
                drops: Default::default(),
                group: None,
                reported_lost: Vec::new(),
                srtp_in: Vec::new(),
                leases: Vec::new(),
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
            Transport::Interleaved { .. } | Transport::Udp { .. } => {
                match self.unicast(transport, profile, index) {
                    Some(x) => x,
                    None => {
                        self.respond(&req, 461, &[], b"");
                        return Ok(());
                    }
                }
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
                    "{};multicast;destination={ip};port={}-{};ttl=16;ssrc={:08X}",
                    profile.name(),
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
        let seed = crate::egress::random_seed();
        let multicast = delivery == Delivery::Multicast;
        // SRTP: the path's key for this track and the SSRC DESCRIBE announced with it
        // (or a new one, for clients that SETUP without DESCRIBE on this connection).
        let mut secure = None;
        if profile == Profile::Savp && !multicast {
            let Some(all) = self.cfg.srtp.clone() else {
                self.respond(&req, 461, &[], b"");
                return Ok(());
            };
            let offer = self.offer.as_mut().filter(|o| o.keys.path == access.path);
            let lease = match offer {
                Some(o) => match o.ssrcs.iter().position(|(i, _)| *i == index) {
                    Some(p) => o.ssrcs.swap_remove(p).1,
                    None => o.keys.lease_ssrc(),
                },
                None => all.path(&access.path).lease_ssrc(),
            };
            secure = Some(lease);
        }
        let group_stream = match &self.role {
            Role::Reading { group: Some(g), .. } if multicast => g.stream(index),
            _ => None,
        };
        let Role::Reading {
            sender,
            srtp_in,
            leases,
            ..
        } = &mut self.role
        else {
            return Ok(());
        };
        let Some(out) = sender.add_track(&track, index, delivery, seed) else {
            self.respond(&req, 404, &[], b"");
            return Ok(());
        };
        let mut key_mgmt = None;
        if let Some(lease) = secure {
            let key = lease.keys.key(index);
            out.secure(lease.ssrc, SrtpSender::new(&key));
            key_mgmt = Some(mikey::encode(&key, &[(lease.ssrc, 0)]));
            leases.push(lease);
        } else if profile == Profile::Savp {
            if let (Some((ssrc, roc)), Some(all)) = (group_stream, &self.cfg.srtp) {
                let key = all.path(&access.path).key(index);
                key_mgmt = Some(mikey::encode(&key, &[(ssrc, roc)]));
            }
        }
        srtp_in.retain(|(i, _)| *i != index);
        if let Some(k) = client_key {
            srtp_in.push((index, k));
        }
        if !multicast {
            answer.push_str(&format!(";ssrc={:08X}", out.ssrc));
        }
        self.set_transport(name, profile);
        let s = self.session_header();
        let mut h = vec![("Transport", answer)];
        if let Some(msg) = key_mgmt {
            h.push(("KeyMgmt", mikey::key_mgmt_header(&req.uri, &msg)));
        }
        h.extend(s);
        self.respond(&req, 200, &h, b"");
        Ok(())
    }

    fn play(&mut self, req: Request, now: Instant) -> Result<(), String> {
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
        let transport = self.info.details.lock().transport.clone();
        self.next_report = Some(now + Duration::from_secs(1));
        let mut h = self.session_header();
        if !rtp_info.is_empty() {
            h.push(("RTP-Info", rtp_info));
        }
        self.respond(&req, 200, &h, b"");
        info!(
            "{} conn {} [{}]: is reading from path '{path}', {n} track(s) over {transport}",
            self.cfg.scheme, self.peer, self.info.id
        );
        Ok(())
    }

    fn record(&mut self, req: Request, now: Instant) -> Result<(), String> {
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
        let mut ingest = Box::new(Ingest::new(tracks, self.ssrc));
        if ingest.tracks.iter().any(|t| t.srtp_in.is_some()) {
            ingest.srtp_out = self.srtp_key.as_ref().map(SrtpSender::new);
        }
        let bus = ingest.bus_tracks();
        let codecs: Vec<_> = bus.iter().map(|t| t.codec.api_name()).collect();
        if let Err(e) = publisher.start(bus) {
            self.respond(&req, 400, &[], b"");
            return Err(format!("cannot start the stream: {e}"));
        }
        let transport = {
            let mut d = self.info.details.lock();
            d.state = ConnState::Publish;
            d.transport.clone()
        };
        info!(
            "{} conn {} [{}]: is publishing to path '{}', {} track(s) ({}) over {transport}",
            self.cfg.scheme,
            self.peer,
            self.info.id,
            publisher.path_name(),
            codecs.len(),
            codecs.join(", ")
        );
        // Routes now point at indices of the tracks kept.
        self.routes.clear();
        for (i, t) in ingest.tracks.iter().enumerate() {
            if let Some(Delivery::Udp { rtp, rtcp }) = t.delivery {
                self.routes.push((false, rtp, i));
                self.routes.push((true, rtcp, i));
            }
        }
        self.routes_changed = true;
        self.role = Role::Publishing { publisher, ingest };
        self.next_report = Some(now + Duration::from_secs(1));
        let s = self.session_header();
        self.respond(&req, 200, &s, b"");
        Ok(())
    }

    pub fn on_interleaved(&mut self, channel: u8, data: Bytes, now: Instant) -> Result<(), String> {
        self.last_input = now;
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

    pub fn on_datagram(&mut self, d: Datagram, now: Instant) -> Result<(), String> {
        self.last_input = now;
        if d.rtcp {
            self.on_rtcp(d.track, &d.data);
            return Ok(());
        }
        self.on_rtp(d.track, d.data, true)
    }

    fn on_rtcp(&mut self, track: usize, data: &[u8]) {
        let counters = &self.info.rtp;
        if let Role::Publishing { ingest, .. } = &mut self.role {
            ingest.on_rtcp(track, data, counters);
            return;
        }
        // A reader's RTCP over SRTP: with the key of its SETUP, else unreadable.
        let plain;
        let data = match &mut self.role {
            Role::Reading {
                srtp_in, sender, ..
            } if sender
                .tracks
                .iter()
                .any(|t| t.index == track && t.is_secure()) =>
            {
                let r = srtp_in
                    .iter_mut()
                    .find(|(i, _)| *i == track)
                    .map(|(_, k)| k.unprotect_rtcp(data));
                match r {
                    Some(Ok(p)) => {
                        plain = p;
                        &plain[..]
                    }
                    _ => {
                        counters
                            .inbound_rtcp_packets_in_error
                            .fetch_add(1, Ordering::Relaxed);
                        return;
                    }
                }
            }
            _ => data,
        };
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
        ingest.on_rtp(idx, data, udp, &self.info.rtp, publisher)
    }

    pub fn on_units(&mut self, batch: &mut Vec<Arc<Unit>>) {
        let tag = format!("{} conn {} [{}]", self.cfg.scheme, self.peer, self.info.id);
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
        self.info
            .rtp
            .outbound_rtp_packets
            .fetch_add(n, Ordering::Relaxed);
        if let Some(n) = drops.poll(reader.queue(), &self.info.frames_discarded) {
            warn!(
                "{tag}: reader too slow for path '{}': {n} units dropped since last report; \
                 it resumes at the next keyframe",
                reader.path_name()
            );
        }
    }
}

/// `(track index, video, SDP attribute lines)` per track RTSP can carry, in track order.
fn describe_sections(tracks: &[Track]) -> Vec<(usize, bool, String)> {
    tracks
        .iter()
        .enumerate()
        .filter_map(|(i, t)| {
            let fmt = ferrocast_rtp::format_for_track(t, 96 + i as u8)?;
            Some((i, t.codec.is_video(), ferrocast_rtp::sdp_attributes(&fmt)))
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
