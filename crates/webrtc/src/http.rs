//! The HTTP side: WHIP/WHEP endpoints in MediaMTX's layout, CORS, and the pages.
//!
//! - `POST /{path}/whep` | `/{path}/whip` with an SDP offer -> `201` with the answer,
//!   `Location: /{path}/whe[ip]/{session}` and `ETag`
//! - `PATCH` the Location with `application/trickle-ice-sdpfrag` -> `204`
//! - `DELETE` the Location -> `200`
//! - `OPTIONS` anything -> `204` with CORS headers
//! - `GET /{path}` (player), `GET /{path}/publish` (publisher)
//!
//! Path names may contain slashes, so routing is done here on the raw URI path.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::body::Body;
use axum::extract::{ConnectInfo, Request, State};
use axum::http::{header, HeaderMap, HeaderValue, Method, StatusCode};
use axum::response::Response;
use base64::Engine;
use ferrocast_core::conns::{ConnInfo, ConnState};
use ferrocast_core::{Access, Action, PathError, SessionRef};
use parking_lot::Mutex;
use str0m::change::SdpOffer;
use str0m::config::{CryptoProvider, DtlsCert};
use str0m::{Candidate, IceCreds, RtcConfig};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;
use tracing::info;
use uuid::Uuid;

use crate::dcvideo::DcVideo;
use crate::egress::{self, Egress};
use crate::ingest::Ingest;
use crate::pages;
use crate::sdp::{fix_rejected_mlines, fragment_candidates};
use crate::session::{Net, Role, Session};
use crate::udp::{Routes, SessionMsg, SESSION_QUEUE};

/// Largest SDP offer or fragment accepted.
const MAX_BODY: usize = 64 * 1024;

/// MediaMTX's API type of these sessions.
const KIND: &str = "webRTCSession";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Endpoint {
    Whep,
    Whip,
}

impl Endpoint {
    fn name(self) -> &'static str {
        match self {
            Endpoint::Whep => "whep",
            Endpoint::Whip => "whip",
        }
    }
}

/// A live session as PATCH and DELETE find it.
struct Entry {
    tx: mpsc::Sender<SessionMsg>,
    path: String,
    endpoint: Endpoint,
    etag: String,
}

pub(crate) struct Shared {
    pub paths: Arc<ferrocast_core::PathManager>,
    pub sessions: Arc<ferrocast_core::conns::ConnRegistry>,
    pub handshake_timeout: Duration,
    pub allow_origins: Vec<String>,
    pub net: Arc<Net>,
    pub routes: Arc<Routes>,
    pub crypto: Arc<CryptoProvider>,
    pub cert: DtlsCert,
    pub shutdown: CancellationToken,
    pub ice_servers: Vec<crate::ice::IceServer>,
    entries: Mutex<HashMap<Uuid, Entry>>,
}

impl Shared {
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        paths: Arc<ferrocast_core::PathManager>,
        sessions: Arc<ferrocast_core::conns::ConnRegistry>,
        handshake_timeout: Duration,
        allow_origins: Vec<String>,
        net: Arc<Net>,
        routes: Arc<Routes>,
        crypto: Arc<CryptoProvider>,
        cert: DtlsCert,
        shutdown: CancellationToken,
        ice_servers: Vec<crate::ice::IceServer>,
    ) -> Shared {
        Shared {
            paths,
            sessions,
            handshake_timeout,
            allow_origins,
            net,
            routes,
            crypto,
            cert,
            shutdown,
            ice_servers,
            entries: Mutex::new(HashMap::new()),
        }
    }
}

/// What a request's URI path addresses.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Target {
    /// `/{path}/whep` or `/{path}/whip`
    Endpoint(String, Endpoint),
    /// `/{path}/whep/{id}` or `/{path}/whip/{id}`
    Session(String, Endpoint, String),
    /// `/{path}` or `/{path}/`
    Player(String),
    /// `/{path}/publish`
    Publisher(String),
}

pub(crate) fn target(uri_path: &str) -> Option<Target> {
    let p = uri_path.trim_start_matches('/');
    let endpoint = |s: &str| match s {
        "whep" => Some(Endpoint::Whep),
        "whip" => Some(Endpoint::Whip),
        _ => None,
    };
    if p.is_empty() {
        return None;
    }
    if let Some((head, last)) = p.rsplit_once('/') {
        if let Some(e) = endpoint(last) {
            return (!head.is_empty()).then(|| Target::Endpoint(head.to_string(), e));
        }
        if let Some((path, kind)) = head.rsplit_once('/') {
            if let Some(e) = endpoint(kind) {
                if !path.is_empty() && !last.is_empty() {
                    return Some(Target::Session(path.to_string(), e, last.to_string()));
                }
            }
        }
        if last == "publish" {
            return (!head.is_empty()).then(|| Target::Publisher(head.to_string()));
        }
        if last.is_empty() {
            return Some(Target::Player(head.to_string()));
        }
    }
    Some(Target::Player(p.to_string()))
}

fn cors(shared: &Shared, req_headers: &HeaderMap, h: &mut HeaderMap) {
    let origin = req_headers
        .get(header::ORIGIN)
        .and_then(|v| v.to_str().ok());
    let allow = if shared.allow_origins.iter().any(|o| o == "*") {
        Some("*".to_string())
    } else {
        origin
            .filter(|o| shared.allow_origins.iter().any(|a| a == o))
            .map(str::to_string)
    };
    if let Some(a) = allow.and_then(|a| HeaderValue::from_str(&a).ok()) {
        h.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, a);
        h.insert(
            header::ACCESS_CONTROL_ALLOW_CREDENTIALS,
            HeaderValue::from_static("true"),
        );
        h.insert(
            header::ACCESS_CONTROL_EXPOSE_HEADERS,
            HeaderValue::from_static("Location, ETag, Accept-Patch, Link"),
        );
        h.append(header::VARY, HeaderValue::from_static("Origin"));
    }
}

fn reply(
    shared: &Shared,
    req_headers: &HeaderMap,
    status: StatusCode,
    headers: &[(header::HeaderName, String)],
    content_type: Option<&'static str>,
    body: impl Into<Body>,
) -> Response {
    let mut r = Response::new(body.into());
    *r.status_mut() = status;
    let h = r.headers_mut();
    cors(shared, req_headers, h);
    if let Some(ct) = content_type {
        h.insert(header::CONTENT_TYPE, HeaderValue::from_static(ct));
    }
    for (k, v) in headers {
        if let Ok(v) = HeaderValue::from_str(v) {
            h.insert(k.clone(), v);
        }
    }
    r
}

/// `Link: <url>; rel="ice-server"` per configured ICE server (RFC 9725 4.4).
fn add_links(shared: &Shared, h: &mut HeaderMap) {
    let now = std::time::SystemTime::now();
    for s in &shared.ice_servers {
        if let Ok(v) = HeaderValue::from_str(&s.link(now)) {
            h.append(header::LINK, v);
        }
    }
}

fn error(shared: &Shared, req_headers: &HeaderMap, status: StatusCode, msg: &str) -> Response {
    let body = format!("{{\"status\":\"error\",\"error\":{}}}", json_string(msg));
    let mut extra = vec![];
    if status == StatusCode::UNAUTHORIZED {
        extra.push((
            header::WWW_AUTHENTICATE,
            "Basic realm=\"ferrocast\"".to_string(),
        ));
    }
    reply(
        shared,
        req_headers,
        status,
        &extra,
        Some("application/json"),
        body,
    )
}

fn json_string(s: &str) -> String {
    let mut o = String::with_capacity(s.len() + 2);
    o.push('"');
    for c in s.chars() {
        match c {
            '"' => o.push_str("\\\""),
            '\\' => o.push_str("\\\\"),
            c if (c as u32) < 0x20 => o.push_str(&format!("\\u{:04x}", c as u32)),
            c => o.push(c),
        }
    }
    o.push('"');
    o
}

fn content_type_is(h: &HeaderMap, want: &str) -> bool {
    h.get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .map(|v| {
            v.split(';')
                .next()
                .unwrap_or("")
                .trim()
                .eq_ignore_ascii_case(want)
        })
        .unwrap_or(false)
}

/// Credentials from `Authorization: Basic` or, as MediaMTX accepts, `?user=&pass=`.
fn credentials(h: &HeaderMap, query: &str) -> (String, String) {
    if let Some(b64) = h
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| {
            v.strip_prefix("Basic ")
                .or_else(|| v.strip_prefix("basic "))
        })
    {
        if let Ok(raw) = base64::engine::general_purpose::STANDARD.decode(b64.trim()) {
            if let Ok(s) = String::from_utf8(raw) {
                if let Some((u, p)) = s.split_once(':') {
                    return (u.to_string(), p.to_string());
                }
            }
        }
    }
    let mut user = String::new();
    let mut pass = String::new();
    for (k, v) in url::form_urlencoded::parse(query.as_bytes()) {
        match &*k {
            "user" => user = v.into_owned(),
            "pass" => pass = v.into_owned(),
            _ => {}
        }
    }
    (user, pass)
}

fn status_of(e: &PathError) -> StatusCode {
    match e {
        PathError::Auth { .. } => StatusCode::UNAUTHORIZED,
        PathError::NoOnePublishing(_) | PathError::NotConfigured(_) => StatusCode::NOT_FOUND,
        _ => StatusCode::BAD_REQUEST,
    }
}

fn random_token(len: usize) -> String {
    let mut s = String::new();
    while s.len() < len {
        s.push_str(&Uuid::new_v4().simple().to_string());
    }
    s.truncate(len);
    s
}

pub(crate) async fn handle(
    State(shared): State<Arc<Shared>>,
    ConnectInfo(remote): ConnectInfo<SocketAddr>,
    req: Request,
) -> Response {
    let method = req.method().clone();
    let headers = req.headers().clone();
    let query = req.uri().query().unwrap_or("").to_string();
    let Some(target) = target(req.uri().path()) else {
        return error(&shared, &headers, StatusCode::NOT_FOUND, "not found");
    };
    if method == Method::OPTIONS {
        let mut r = reply(&shared, &headers, StatusCode::NO_CONTENT, &[], None, "");
        let h = r.headers_mut();
        h.insert(
            header::ACCESS_CONTROL_ALLOW_METHODS,
            HeaderValue::from_static("OPTIONS, GET, POST, PATCH, DELETE"),
        );
        h.insert(
            header::ACCESS_CONTROL_ALLOW_HEADERS,
            HeaderValue::from_static("Authorization, Content-Type, If-Match"),
        );
        if let Target::Endpoint(..) = target {
            h.insert("accept-post", HeaderValue::from_static("application/sdp"));
            add_links(&shared, h);
        }
        return r;
    }
    match (method, target) {
        (Method::POST, Target::Endpoint(path, endpoint)) => {
            if !content_type_is(&headers, "application/sdp") {
                return error(
                    &shared,
                    &headers,
                    StatusCode::UNSUPPORTED_MEDIA_TYPE,
                    "the offer must be sent with Content-Type: application/sdp",
                );
            }
            let body = match axum::body::to_bytes(req.into_body(), MAX_BODY).await {
                Ok(b) => b,
                Err(_) => {
                    return error(
                        &shared,
                        &headers,
                        StatusCode::PAYLOAD_TOO_LARGE,
                        "the offer is too large",
                    )
                }
            };
            let Ok(offer) = std::str::from_utf8(&body) else {
                return error(
                    &shared,
                    &headers,
                    StatusCode::BAD_REQUEST,
                    "the offer is not UTF-8",
                );
            };
            let user_agent = headers
                .get(header::USER_AGENT)
                .and_then(|v| v.to_str().ok())
                .unwrap_or("")
                .to_string();
            if endpoint == Endpoint::Whep {
                // An on-demand pull source starts now; the reader waits until it is ready.
                let (user, pass) = credentials(&headers, &query);
                let access = Access {
                    action: Action::Read,
                    path: path.clone(),
                    query: query.clone(),
                    user,
                    pass,
                    ip: remote.ip(),
                };
                if let Err(e) = shared.paths.wait_for_source(&access).await {
                    return error(&shared, &headers, status_of(&e), &e.to_string());
                }
            }
            match create_session(
                &shared, remote, &headers, &query, &path, endpoint, offer, user_agent,
            ) {
                Ok((id, etag, answer)) => {
                    let mut r = reply(
                        &shared,
                        &headers,
                        StatusCode::CREATED,
                        &[
                            (
                                header::LOCATION,
                                format!("/{path}/{}/{id}", endpoint.name()),
                            ),
                            (header::ETAG, etag),
                            (
                                header::HeaderName::from_static("accept-patch"),
                                "application/trickle-ice-sdpfrag".into(),
                            ),
                        ],
                        Some("application/sdp"),
                        answer,
                    );
                    add_links(&shared, r.headers_mut());
                    r
                }
                Err((status, msg)) => error(&shared, &headers, status, &msg),
            }
        }
        (Method::PATCH, Target::Session(_, _, id)) => {
            let Some((tx, etag)) = find(&shared, &id) else {
                return error(&shared, &headers, StatusCode::NOT_FOUND, "no such session");
            };
            if !content_type_is(&headers, "application/trickle-ice-sdpfrag") {
                return error(
                    &shared,
                    &headers,
                    StatusCode::UNSUPPORTED_MEDIA_TYPE,
                    "a PATCH must carry Content-Type: application/trickle-ice-sdpfrag",
                );
            }
            if let Some(m) = headers.get(header::IF_MATCH).and_then(|v| v.to_str().ok()) {
                if m != "*" && m != etag {
                    return error(
                        &shared,
                        &headers,
                        StatusCode::PRECONDITION_FAILED,
                        "If-Match does not match the session's ETag",
                    );
                }
            }
            let Ok(body) = axum::body::to_bytes(req.into_body(), MAX_BODY).await else {
                return error(
                    &shared,
                    &headers,
                    StatusCode::PAYLOAD_TOO_LARGE,
                    "the fragment is too large",
                );
            };
            let frag = String::from_utf8_lossy(&body);
            for c in fragment_candidates(&frag) {
                if Candidate::from_sdp_string(c).is_err() {
                    return error(
                        &shared,
                        &headers,
                        StatusCode::BAD_REQUEST,
                        &format!("invalid candidate: {c}"),
                    );
                }
                let _ = tx.try_send(SessionMsg::Candidate(c.to_string()));
            }
            reply(&shared, &headers, StatusCode::NO_CONTENT, &[], None, "")
        }
        (Method::DELETE, Target::Session(_, _, id)) => {
            let Some((tx, _)) = find(&shared, &id) else {
                return error(&shared, &headers, StatusCode::NOT_FOUND, "no such session");
            };
            let _ = tx.try_send(SessionMsg::Close("closed by the peer (WHIP/WHEP DELETE)"));
            reply(&shared, &headers, StatusCode::OK, &[], None, "")
        }
        (Method::GET, Target::Player(_)) => reply(
            &shared,
            &headers,
            StatusCode::OK,
            &[],
            Some("text/html; charset=utf-8"),
            pages::PLAYER,
        ),
        (Method::GET, Target::Publisher(_)) => reply(
            &shared,
            &headers,
            StatusCode::OK,
            &[],
            Some("text/html; charset=utf-8"),
            pages::PUBLISHER,
        ),
        _ => error(
            &shared,
            &headers,
            StatusCode::METHOD_NOT_ALLOWED,
            "method not allowed",
        ),
    }
}

fn find(shared: &Shared, id: &str) -> Option<(mpsc::Sender<SessionMsg>, String)> {
    let id = Uuid::parse_str(id).ok()?;
    shared
        .entries
        .lock()
        .get(&id)
        .map(|e| (e.tx.clone(), e.etag.clone()))
}

type HttpError = (StatusCode, String);

#[allow(clippy::too_many_arguments)]
fn create_session(
    shared: &Arc<Shared>,
    remote: SocketAddr,
    headers: &HeaderMap,
    query: &str,
    path: &str,
    endpoint: Endpoint,
    offer_text: &str,
    user_agent: String,
) -> Result<(Uuid, String, String), HttpError> {
    let offer = SdpOffer::from_sdp_string(offer_text)
        .map_err(|e| (StatusCode::BAD_REQUEST, format!("invalid SDP offer: {e}")))?;
    let (user, pass) = credentials(headers, query);
    let action = match endpoint {
        Endpoint::Whep => Action::Read,
        Endpoint::Whip => Action::Publish,
    };
    let access = Access {
        action,
        path: path.to_string(),
        query: query.to_string(),
        user,
        pass,
        ip: remote.ip(),
    };
    let token = shared.shutdown.child_token();
    let info = Arc::new(ConnInfo::new(remote, token.clone()));
    let id = info.id;
    {
        let mut d = info.details.lock();
        d.path = path.to_string();
        d.query = query.to_string();
        d.user = access.user.clone();
        d.user_agent = user_agent;
    }
    let session_ref = SessionRef {
        kind: KIND,
        id,
        token: token.clone(),
    };
    let ufrag = random_token(8);
    let mut cfg = RtcConfig::new()
        .set_stats_interval(Some(Duration::from_secs(1)))
        .set_ice_lite(true)
        .set_crypto_provider(shared.crypto.clone())
        .set_dtls_cert(shared.cert.clone())
        .set_local_ice_credentials(IceCreds {
            ufrag: ufrag.clone(),
            pass: random_token(24),
        })
        .clear_codecs();
    let (role, state, what) = match endpoint {
        Endpoint::Whep => {
            let mut reader = shared
                .paths
                .add_reader(&access, session_ref)
                .map_err(|e| (status_of(&e), e.to_string()))?;
            // Browsers don't decode AAC: an AAC-only stream is read through the path's
            // AAC -> Opus rendition (made once per path, shared by all WebRTC readers).
            let source = reader.stream().source_tracks();
            if !source
                .iter()
                .any(|t| t.codec == ferrocast_core::Codec::Opus)
            {
                if let Some(aac) = source
                    .iter()
                    .position(|t| t.codec == ferrocast_core::Codec::Aac)
                {
                    if let Err(e) = reader.use_rendition(aac, ferrocast_core::Codec::Opus) {
                        info!("webrtc session [{id}]: AAC audio not sent: {e}");
                    }
                }
            }
            let tracks = reader.stream().tracks();
            let queue = reader.queue().clone();
            // The player page asks for H264 with B-frames over a data channel (dcvideo).
            let offers_data_channel = offer_text
                .lines()
                .any(|l| l.trim_start().starts_with("m=application"));
            if offers_data_channel {
                cfg = cfg.set_sctp_max_buffered_amount(crate::dcvideo::SEND_BUFFER);
            }
            let plan = egress::plan(&tracks, |i| queue.wants(i), offer_text)
                .map_err(|e| (StatusCode::BAD_REQUEST, e))?;
            *cfg.codec_config() = plan.codecs;
            let served: Vec<_> = plan.tracks.iter().map(|t| t.codec.api_name()).collect();
            let what = if plan.skipped.is_empty() {
                format!("reading path '{path}' ({})", served.join(", "))
            } else {
                format!(
                    "reading path '{path}' ({}; not sent: {})",
                    served.join(", "),
                    plan.skipped.join(", ")
                )
            };
            let n = plan.tracks.len();
            let tracks_version = reader.stream().tracks_version();
            (
                Role::Read {
                    reader,
                    egress: Egress::new(plan.tracks),
                    pts: vec![None; n],
                    tracks_version,
                    drops: Default::default(),
                    keyframe_requests: 0,
                    dc: DcVideo::new(offers_data_channel),
                },
                ConnState::Read,
                what,
            )
        }
        Endpoint::Whip => {
            let publisher = shared
                .paths
                .add_publisher(&access, session_ref)
                .map_err(|e| (status_of(&e), e.to_string()))?;
            let c = cfg.codec_config();
            c.enable_h264(true);
            c.enable_vp8(true);
            c.enable_opus(true, false);
            c.enable_pcmu(true, false);
            c.enable_pcma(true, false);
            (
                Role::Publish {
                    publisher,
                    ingest: Ingest::new(),
                    upstream_requests: (0, None),
                },
                ConnState::Publish,
                format!("publishing to path '{path}'"),
            )
        }
    };
    let now = Instant::now();
    let mut rtc = cfg.build(now);
    for addr in &shared.net.candidates {
        if let Ok(c) = Candidate::host(*addr, "udp") {
            rtc.add_local_candidate(c);
        }
    }
    // ICE-TCP (webrtcLocalTCPAddress): passive candidates, the peer connects to us.
    for addr in shared.net.tcp_candidates.iter() {
        let c = Candidate::builder()
            .tcp()
            .host(*addr)
            .tcptype(str0m::net::TcpType::Passive)
            .build();
        if let Ok(c) = c {
            rtc.add_local_candidate(c);
        }
    }
    // str0m asserts on some inconsistent offers (found by fuzz/fuzz_targets/webrtc_sdp.rs,
    // e.g. one payload type in two m-lines): such an offer gets a 400, not a dead handler.
    let answer = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        rtc.sdp_api().accept_offer(offer)
    }))
    .map_err(|_| {
        (
            StatusCode::BAD_REQUEST,
            "cannot answer the offer: it is inconsistent (e.g. one payload type in two media \
             sections)"
                .to_string(),
        )
    })?
    .map_err(|e| {
        (
            StatusCode::BAD_REQUEST,
            format!("cannot answer the offer: {e}"),
        )
    })?;
    let answer = crate::sdp::unify_msid(&fix_rejected_mlines(&answer.to_sdp_string(), offer_text));
    if !answer
        .lines()
        .any(|l| l.starts_with("m=") && !l.starts_with("m=application") && !l.contains(" 0 "))
    {
        return Err((
            StatusCode::BAD_REQUEST,
            "the offer has no media section this server can use".into(),
        ));
    }
    info.details.lock().state = state;
    let guard = shared.sessions.add(info.clone());
    let (tx, rx) = mpsc::channel(SESSION_QUEUE);
    let etag = format!("\"{}\"", random_token(16));
    shared.routes.add(&ufrag, id, tx.clone());
    shared.entries.lock().insert(
        id,
        Entry {
            tx,
            path: path.to_string(),
            endpoint,
            etag: etag.clone(),
        },
    );
    info!("webrtc session {remote} [{id}]: opened, {what}");
    let mut session = Session {
        rtc,
        net: shared.net.clone(),
        rx,
        guard,
        token,
        role,
        path: path.to_string(),
        peer: remote,
        handshake_timeout: shared.handshake_timeout,
        created: now,
        connected: false,
        connected_at: now,
        ice_peer: None,
        tcp: Default::default(),
        last_rx: now,
        input_errors: 0,
        media_stats: Vec::new(),
    };
    let shared2 = shared.clone();
    tokio::spawn(async move {
        let reason = session.run().await;
        session.close().await;
        shared2.routes.remove(&ufrag);
        let entry = shared2.entries.lock().remove(&id);
        let path = entry.as_ref().map(|e| e.path.as_str()).unwrap_or("");
        let endpoint = entry.as_ref().map(|e| e.endpoint.name()).unwrap_or("");
        info!("webrtc session {remote} [{id}]: closed ({endpoint}, path '{path}'): {reason}");
        // Reader/publisher and the API entry go with the session.
        drop(session);
    });
    Ok((id, etag, answer))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn targets() {
        use Endpoint::*;
        assert_eq!(
            target("/live/show/whep"),
            Some(Target::Endpoint("live/show".into(), Whep))
        );
        assert_eq!(
            target("/cam/whip"),
            Some(Target::Endpoint("cam".into(), Whip))
        );
        assert_eq!(
            target("/a/b/whep/123"),
            Some(Target::Session("a/b".into(), Whep, "123".into()))
        );
        assert_eq!(target("/a/b"), Some(Target::Player("a/b".into())));
        assert_eq!(target("/a/b/"), Some(Target::Player("a/b".into())));
        assert_eq!(target("/a/publish"), Some(Target::Publisher("a".into())));
        assert_eq!(target("/whep"), Some(Target::Player("whep".into())));
        assert_eq!(target("/"), None);
    }

    #[test]
    fn basic_auth_and_query() {
        let mut h = HeaderMap::new();
        assert_eq!(
            credentials(&h, "user=a&pass=b%20c"),
            ("a".into(), "b c".into())
        );
        h.insert(
            header::AUTHORIZATION,
            HeaderValue::from_static("Basic dTE6cDE="),
        );
        assert_eq!(credentials(&h, "user=a&pass=b"), ("u1".into(), "p1".into()));
    }
}
