//! Ferrocast control API: MediaMTX's REST API v3 (paths, shapes and status codes), served
//! with axum.
//!
//! - `GET /v3/info`
//! - `GET /v3/paths/list`, `GET /v3/paths/get/{name}`
//! - `GET /v3/rtmpconns/list`, `GET /v3/rtmpconns/get/{id}`, `POST /v3/rtmpconns/kick/{id}`
//!   and the same under `/v3/rtmpsconns/`
//! - `GET /v3/rtspconns/list`, `GET /v3/rtspconns/get/{id}`, `GET /v3/rtspsessions/list`,
//!   `GET /v3/rtspsessions/get/{id}`, `POST /v3/rtspsessions/kick/{id}`, and the `rtsps` ones
//! - `GET /v3/config/global/get`, `PATCH /v3/config/global/patch`
//! - `GET /v3/config/pathdefaults/get`, `PATCH /v3/config/pathdefaults/patch`
//! - `GET /v3/config/paths/list`, `GET .../get/{name}`, `POST .../add/{name}`,
//!   `PATCH .../patch/{name}`, `POST .../replace/{name}`, `DELETE .../delete/{name}`
//!
//! Every request is authenticated with action `api` (credentials from `Authorization` or
//! `?user=&pass=`, the peer IP from [`axum::extract::ConnectInfo`]); CORS follows
//! `apiAllowOrigins`, proxies in `apiTrustedProxies` may forward the client IP.
#![forbid(unsafe_code)]

mod codec_props;
mod http;
mod json;
mod paginate;

use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use axum::body::Body;
use axum::extract::rejection::PathRejection;
use axum::extract::{ConnectInfo, Path, Query, Request, State};
use axum::http::header::{
    ACCESS_CONTROL_ALLOW_HEADERS, ACCESS_CONTROL_ALLOW_METHODS, ACCESS_CONTROL_ALLOW_ORIGIN,
    ACCESS_CONTROL_REQUEST_METHOD, ORIGIN, WWW_AUTHENTICATE,
};
use axum::http::{HeaderValue, Method, StatusCode, Uri};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, patch, post};
use axum::{Json, Router};
use ferrocast_conf::{AuthAction, Conf};
use ferrocast_core::conns::{ConnInfo, ConnRegistry};
use ferrocast_core::{CancellationToken, PathManager};
use serde_json::{json, Value};
use tracing::{info, warn};
use uuid::Uuid;

use crate::http::{allowed_origin, client_ip, credentials, HttpSettings};
use crate::json::{ApiPath, Info, RtmpConn};
use crate::paginate::paginate;

/// Largest accepted request body (MediaMTX's limit for configuration bodies).
const MAX_BODY: usize = 10 * 1024 * 1024;

/// How long a request with wrong credentials waits before its 401, against brute force.
const PAUSE_AFTER_AUTH_ERROR: Duration = Duration::from_secs(2);

/// What the API reads and acts on.
#[derive(Clone)]
pub struct ApiState {
    /// Live paths; `paths.conf()` is the current configuration.
    pub paths: Arc<PathManager>,
    pub rtmp_conns: Arc<ConnRegistry>,
    pub rtmps_conns: Arc<ConnRegistry>,
    pub webrtc_sessions: Arc<ConnRegistry>,
    pub rtsp_conns: Arc<ConnRegistry>,
    pub rtsps_conns: Arc<ConnRegistry>,
    /// Applies a new validated config to the whole server (paths, listeners...).
    /// Err = message for a 400.
    pub apply_conf: Arc<dyn Fn(Conf) -> Result<(), String> + Send + Sync>,
    pub started: SystemTime,
    pub version: &'static str,
}

impl std::fmt::Debug for ApiState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ApiState")
            .field("started", &self.started)
            .field("version", &self.version)
            .finish_non_exhaustive()
    }
}

struct Shared {
    st: ApiState,
    /// Serializes configuration writes so that concurrent patches do not lose each other.
    write_lock: tokio::sync::Mutex<()>,
    /// HTTP settings derived from the last configuration seen.
    http: Mutex<Option<(Arc<Conf>, Arc<HttpSettings>)>>,
}

impl Shared {
    fn http_settings(&self, conf: &Arc<Conf>) -> Arc<HttpSettings> {
        let mut cache = self.http.lock().unwrap_or_else(|e| e.into_inner());
        if let Some((c, s)) = cache.as_ref() {
            if Arc::ptr_eq(c, conf) {
                return s.clone();
            }
        }
        let s = Arc::new(HttpSettings::from_global(&conf.global_json()));
        *cache = Some((conf.clone(), s.clone()));
        s
    }

    /// Computes a new configuration from the current one and applies it.
    async fn write_conf(
        &self,
        f: impl FnOnce(&Conf) -> Result<Conf, ApiError>,
    ) -> Result<Response, ApiError> {
        let _guard = self.write_lock.lock().await;
        let current = self.st.paths.conf();
        let new = f(&current)?;
        (self.st.apply_conf)(new).map_err(ApiError::bad_request)?;
        Ok(ok())
    }
}

type St = State<Arc<Shared>>;

/// An error answer: `{"status":"error","error":"..."}`.
#[derive(Debug)]
struct ApiError {
    status: StatusCode,
    message: String,
}

impl ApiError {
    fn new(status: StatusCode, message: impl Into<String>) -> ApiError {
        ApiError {
            status,
            message: message.into(),
        }
    }
    fn bad_request(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::BAD_REQUEST, message)
    }
    fn not_found(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::NOT_FOUND, message)
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        if self.status != StatusCode::NOT_FOUND && self.status != StatusCode::UNAUTHORIZED {
            warn!(status = %self.status, "[API] {}", self.message);
        }
        (
            self.status,
            Json(json!({"status": "error", "error": self.message})),
        )
            .into_response()
    }
}

fn ok() -> Response {
    Json(json!({"status": "ok"})).into_response()
}

/// The router of the API. Handlers need [`ConnectInfo<SocketAddr>`] in the request
/// extensions for the client IP (see [`serve`]); without it the client counts as
/// `0.0.0.0`, which default configurations do not trust.
pub fn router(state: ApiState) -> Router {
    let shared = Arc::new(Shared {
        st: state,
        write_lock: tokio::sync::Mutex::new(()),
        http: Mutex::new(None),
    });
    let router = Router::new();
    let router = conn_routes(router, "webrtcsessions", WEBRTC_SESSIONS, true);
    let router = conn_routes(router, "rtspconns", RTSP_CONNS, false);
    let router = conn_routes(router, "rtspsessions", RTSP_SESSIONS, true);
    let router = conn_routes(router, "rtspsconns", RTSPS_CONNS, false);
    let router = conn_routes(router, "rtspssessions", RTSPS_SESSIONS, true);
    let router = conn_routes(router, "rtmpconns", RTMP_CONNS, true);
    let router = conn_routes(router, "rtmpsconns", RTMPS_CONNS, true);
    router
        .route("/v3/info", get(on_info))
        .route("/v3/paths/list", get(on_paths_list))
        .route("/v3/paths/get/{*name}", get(on_paths_get))
        .route("/v3/paths/get/", get(on_invalid_name))
        .route("/v3/paths/forward/list", get(on_forward_list))
        .route("/v3/paths/forward/get", get(on_forward_get))
        .route("/v3/config/global/get", get(on_global_get))
        .route("/v3/config/global/patch", patch(on_global_patch))
        .route("/v3/config/pathdefaults/get", get(on_path_defaults_get))
        .route(
            "/v3/config/pathdefaults/patch",
            patch(on_path_defaults_patch),
        )
        .route("/v3/config/paths/list", get(on_conf_paths_list))
        .route("/v3/config/paths/get/{*name}", get(on_conf_paths_get))
        .route("/v3/config/paths/get/", get(on_invalid_name))
        .route("/v3/config/paths/add/{*name}", post(on_conf_paths_add))
        .route("/v3/config/paths/add/", post(on_invalid_name))
        .route("/v3/config/paths/patch/{*name}", patch(on_conf_paths_patch))
        .route("/v3/config/paths/patch/", patch(on_invalid_name))
        .route(
            "/v3/config/paths/replace/{*name}",
            post(on_conf_paths_replace),
        )
        .route("/v3/config/paths/replace/", post(on_invalid_name))
        .route(
            "/v3/config/paths/delete/{*name}",
            delete(on_conf_paths_delete),
        )
        .route("/v3/config/paths/delete/", delete(on_invalid_name))
        .fallback(on_not_found)
        .method_not_allowed_fallback(on_not_found)
        .layer(middleware::from_fn_with_state(shared.clone(), gate))
        .with_state(shared)
}

/// Serves the API on `listener` until `shutdown` is cancelled, then lets in-flight
/// requests finish.
pub async fn serve(
    listener: tokio::net::TcpListener,
    state: ApiState,
    shutdown: CancellationToken,
) -> std::io::Result<()> {
    if let Ok(addr) = listener.local_addr() {
        info!("[API] listener opened on {addr}");
    }
    let app = router(state).into_make_service_with_connect_info::<SocketAddr>();
    axum::serve(listener, app)
        .with_graceful_shutdown(async move { shutdown.cancelled().await })
        .await
}

fn query_map(uri: &Uri) -> HashMap<String, String> {
    Query::<HashMap<String, String>>::try_from_uri(uri)
        .map(|q| q.0)
        .unwrap_or_default()
}

/// CORS, preflight requests and authentication, in front of every route.
async fn gate(State(sh): St, req: Request, next: Next) -> Response {
    let conf = sh.st.paths.conf();
    let settings = sh.http_settings(&conf);
    let origin = req
        .headers()
        .get(ORIGIN)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let allow_origin = allowed_origin(origin, &settings.allow_origins)
        .and_then(|o| HeaderValue::from_str(&o).ok());

    let mut resp = if req.method() == Method::OPTIONS
        && req.headers().contains_key(ACCESS_CONTROL_REQUEST_METHOD)
    {
        let mut r = StatusCode::NO_CONTENT.into_response();
        let h = r.headers_mut();
        h.insert(
            ACCESS_CONTROL_ALLOW_METHODS,
            HeaderValue::from_static("OPTIONS, GET, POST, PATCH, DELETE"),
        );
        h.insert(
            ACCESS_CONTROL_ALLOW_HEADERS,
            HeaderValue::from_static("Authorization, Content-Type"),
        );
        r
    } else {
        let peer = req
            .extensions()
            .get::<ConnectInfo<SocketAddr>>()
            .map(|c| c.0.ip().to_canonical())
            .unwrap_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED));
        let ip = client_ip(peer, req.headers(), &settings.trusted_proxies);
        let (user, pass) = credentials(req.headers(), &query_map(req.uri()));
        match conf.authenticate(AuthAction::Api, "", &user, &pass, ip) {
            Ok(()) => next.run(req).await,
            Err(e) => {
                let ask = user.is_empty() && pass.is_empty();
                if !ask {
                    info!(
                        "[API] connection {ip} failed to authenticate: {}",
                        e.message
                    );
                    tokio::time::sleep(PAUSE_AFTER_AUTH_ERROR).await;
                }
                let mut r =
                    ApiError::new(StatusCode::UNAUTHORIZED, "authentication error").into_response();
                if ask {
                    r.headers_mut().insert(
                        WWW_AUTHENTICATE,
                        HeaderValue::from_static("Basic realm=\"mediamtx\""),
                    );
                }
                r
            }
        }
    };
    if let Some(o) = allow_origin {
        resp.headers_mut().insert(ACCESS_CONTROL_ALLOW_ORIGIN, o);
    }
    resp
}

async fn on_not_found() -> ApiError {
    ApiError::not_found("not found")
}

async fn on_invalid_name() -> ApiError {
    ApiError::bad_request("invalid name")
}

/// A `{*name}` parameter: non-empty, percent-decoded.
fn name_param(p: Result<Path<String>, PathRejection>) -> Result<String, ApiError> {
    match p {
        Ok(Path(name)) => {
            let name = name.strip_prefix('/').unwrap_or(&name).to_string();
            if name.is_empty() {
                Err(ApiError::bad_request("invalid name"))
            } else {
                Ok(name)
            }
        }
        Err(e) => Err(ApiError::bad_request(format!(
            "invalid name: {}",
            e.body_text()
        ))),
    }
}

async fn on_info(State(sh): St) -> Json<Info> {
    Json(Info {
        version: sh.st.version,
        started: ferrocast_core::rfc3339(sh.st.started),
    })
}

// ---- paths ----

async fn on_paths_list(State(sh): St, uri: Uri) -> Result<Response, ApiError> {
    let items: Vec<ApiPath> = sh.st.paths.snapshot().iter().map(ApiPath::from).collect();
    let list = paginate(items, &query_map(&uri)).map_err(ApiError::bad_request)?;
    Ok(Json(list).into_response())
}

async fn on_paths_get(
    State(sh): St,
    name: Result<Path<String>, PathRejection>,
) -> Result<Response, ApiError> {
    let name = name_param(name)?;
    let snap = sh
        .st
        .paths
        .get(&name)
        .ok_or_else(|| ApiError::not_found("path not found"))?;
    Ok(Json(ApiPath::from(&snap)).into_response())
}

// ---- forward destinations ----

#[derive(serde::Serialize)]
struct ApiForwardConf {
    dest: String,
    #[serde(rename = "destFingerprint")]
    dest_fingerprint: String,
    #[serde(rename = "whipBearerToken")]
    whip_bearer_token: String,
}

#[derive(serde::Serialize)]
struct ApiForward {
    id: Uuid,
    created: String,
    conf: ApiForwardConf,
    protocol: String,
    state: &'static str,
    #[serde(rename = "lastError")]
    last_error: String,
    #[serde(rename = "outboundBytes")]
    outbound_bytes: u64,
    pos: i64,
}

fn forwards_of(sh: &Shared, uri: &Uri) -> Result<Vec<ApiForward>, ApiError> {
    let q = query_map(uri);
    let path = q
        .get("path")
        .filter(|p| !p.is_empty())
        .ok_or_else(|| ApiError::bad_request("the 'path' query parameter is required"))?;
    let list = sh
        .st
        .paths
        .forwards(path)
        .ok_or_else(|| ApiError::not_found("path not found"))?;
    Ok(list
        .iter()
        .enumerate()
        .map(|(pos, f)| {
            let (state, last_error) = f.state();
            ApiForward {
                id: f.id,
                created: ferrocast_core::rfc3339(f.created),
                conf: ApiForwardConf {
                    dest: f.dest_conf.clone(),
                    dest_fingerprint: f.fingerprint.clone(),
                    whip_bearer_token: f.bearer.clone(),
                },
                protocol: f.protocol().to_string(),
                state: state.api_name(),
                last_error,
                outbound_bytes: f.outbound_bytes.load(std::sync::atomic::Ordering::Relaxed),
                pos: pos as i64,
            }
        })
        .collect())
}

async fn on_forward_list(State(sh): St, uri: Uri) -> Result<Response, ApiError> {
    let items = forwards_of(&sh, &uri)?;
    let list = paginate(items, &query_map(&uri)).map_err(ApiError::bad_request)?;
    Ok(Json(list).into_response())
}

async fn on_forward_get(State(sh): St, uri: Uri) -> Result<Response, ApiError> {
    let id = query_map(&uri)
        .get("id")
        .map(|s| Uuid::parse_str(s))
        .transpose()
        .map_err(|e| ApiError::bad_request(format!("invalid id: {e}")))?
        .ok_or_else(|| ApiError::bad_request("the 'id' query parameter is required"))?;
    let item = forwards_of(&sh, &uri)?
        .into_iter()
        .find(|f| f.id == id)
        .ok_or_else(|| ApiError::not_found("forward destination not found"))?;
    Ok(Json(item).into_response())
}

// ---- connections and sessions (RTMP, RTMPS, RTSP, RTSPS, WebRTC) ----

/// How one API section shows a connection registry: `list`, `get/{id}` and `kick/{id}`.
#[derive(Clone, Copy)]
struct ConnView {
    registry: fn(&ApiState) -> &Arc<ConnRegistry>,
    /// The item of a connection (`None`: not listed, e.g. an RTSP connection without a
    /// session in a session list).
    item: fn(&ConnInfo) -> Option<Value>,
    /// The connection an id names (its own id, or its RTSP session's).
    find: fn(&ConnRegistry, Uuid) -> Option<Arc<ConnInfo>>,
    /// "connection" or "session", for errors and logs.
    what: &'static str,
}

fn to_value(v: impl serde::Serialize) -> Option<Value> {
    serde_json::to_value(v).ok()
}

fn by_conn_id(reg: &ConnRegistry, id: Uuid) -> Option<Arc<ConnInfo>> {
    reg.get(id)
}

fn by_session_id(reg: &ConnRegistry, id: Uuid) -> Option<Arc<ConnInfo>> {
    reg.list()
        .into_iter()
        .find(|c| c.details.lock().session == Some(id))
}

const RTMP_CONNS: ConnView = ConnView {
    registry: |s| &s.rtmp_conns,
    item: |c| to_value(RtmpConn::from(c)),
    find: by_conn_id,
    what: "connection",
};
const RTMPS_CONNS: ConnView = ConnView {
    registry: |s| &s.rtmps_conns,
    ..RTMP_CONNS
};
const WEBRTC_SESSIONS: ConnView = ConnView {
    registry: |s| &s.webrtc_sessions,
    item: |c| to_value(json::WebRtcSession::from(c)),
    find: by_conn_id,
    what: "session",
};
const RTSP_CONNS: ConnView = ConnView {
    registry: |s| &s.rtsp_conns,
    item: |c| to_value(json::RtspConn::from(c)),
    find: by_conn_id,
    what: "connection",
};
const RTSPS_CONNS: ConnView = ConnView {
    registry: |s| &s.rtsps_conns,
    ..RTSP_CONNS
};
/// Ferrocast ties an RTSP session to its connection: a session is a connection that has one.
const RTSP_SESSIONS: ConnView = ConnView {
    registry: |s| &s.rtsp_conns,
    item: |c| to_value(json::RtspSession::of(c)?),
    find: by_session_id,
    what: "session",
};
const RTSPS_SESSIONS: ConnView = ConnView {
    registry: |s| &s.rtsps_conns,
    ..RTSP_SESSIONS
};

/// `/v3/{base}/list`, `/v3/{base}/get/{id}` and, with `kick`, `/v3/{base}/kick/{id}`.
fn conn_routes(
    router: Router<Arc<Shared>>,
    base: &str,
    view: ConnView,
    kick: bool,
) -> Router<Arc<Shared>> {
    let router = router
        .route(
            &format!("/v3/{base}/list"),
            get(move |State(sh): St, uri: Uri| async move {
                list_of((view.registry)(&sh.st), &uri, view.item)
            }),
        )
        .route(
            &format!("/v3/{base}/get/{{id}}"),
            get(
                move |State(sh): St, id: Result<Path<String>, PathRejection>| async move {
                    let (_, c) = found(&sh, view, id)?;
                    let item = (view.item)(&c)
                        .ok_or_else(|| ApiError::not_found(format!("{} not found", view.what)))?;
                    Ok::<_, ApiError>(Json(item).into_response())
                },
            ),
        );
    if !kick {
        return router;
    }
    router.route(
        &format!("/v3/{base}/kick/{{id}}"),
        post(
            move |State(sh): St, id: Result<Path<String>, PathRejection>| async move {
                let (id, c) = found(&sh, view, id)?;
                c.token.cancel();
                info!("[API] kicked {} {id}", view.what);
                Ok::<_, ApiError>(ok())
            },
        ),
    )
}

/// The connection an id in the request path names.
fn found(
    sh: &Shared,
    view: ConnView,
    id: Result<Path<String>, PathRejection>,
) -> Result<(Uuid, Arc<ConnInfo>), ApiError> {
    let Path(id) = id.map_err(|e| ApiError::bad_request(e.body_text()))?;
    let id = Uuid::parse_str(&id).map_err(|e| ApiError::bad_request(format!("invalid id: {e}")))?;
    let c = (view.find)((view.registry)(&sh.st), id)
        .ok_or_else(|| ApiError::not_found(format!("{} not found", view.what)))?;
    Ok((id, c))
}

/// One page of a registry's connections as the API shows them (`shown` skips those it
/// returns `None` for).
fn list_of<T: serde::Serialize>(
    reg: &ConnRegistry,
    uri: &Uri,
    shown: impl Fn(&ConnInfo) -> Option<T>,
) -> Result<Response, ApiError> {
    let items: Vec<T> = reg.list().iter().filter_map(|c| shown(c)).collect();
    let list = paginate(items, &query_map(uri)).map_err(ApiError::bad_request)?;
    Ok(Json(list).into_response())
}

// ---- configuration ----

/// Reads a JSON object body.
async fn json_body(body: Body) -> Result<Value, ApiError> {
    let bytes = axum::body::to_bytes(body, MAX_BODY)
        .await
        .map_err(|e| ApiError::bad_request(format!("invalid body: {e}")))?;
    let v: Value = serde_json::from_slice(&bytes)
        .map_err(|e| ApiError::bad_request(format!("invalid JSON: {e}")))?;
    if !v.is_object() {
        return Err(ApiError::bad_request("invalid JSON: expected an object"));
    }
    Ok(v)
}

fn conf_err(e: ferrocast_conf::ConfError) -> ApiError {
    if e.is_not_found() {
        ApiError::not_found(e.to_string())
    } else {
        ApiError::bad_request(e.to_string())
    }
}

async fn on_global_get(State(sh): St) -> Json<Value> {
    Json(sh.st.paths.conf().global_json())
}

async fn on_global_patch(State(sh): St, body: Body) -> Result<Response, ApiError> {
    let v = json_body(body).await?;
    sh.write_conf(|c| c.patch_global(&v).map_err(conf_err))
        .await
}

async fn on_path_defaults_get(State(sh): St) -> Json<Value> {
    Json(sh.st.paths.conf().path_defaults_json())
}

async fn on_path_defaults_patch(State(sh): St, body: Body) -> Result<Response, ApiError> {
    let v = json_body(body).await?;
    sh.write_conf(|c| c.patch_path_defaults(&v).map_err(conf_err))
        .await
}

async fn on_conf_paths_list(State(sh): St, uri: Uri) -> Result<Response, ApiError> {
    let conf = sh.st.paths.conf();
    let mut names: Vec<&String> = conf.paths.keys().collect();
    names.sort();
    let items: Vec<Value> = names.iter().filter_map(|n| conf.path_json(n)).collect();
    let list = paginate(items, &query_map(&uri)).map_err(ApiError::bad_request)?;
    Ok(Json(list).into_response())
}

async fn on_conf_paths_get(
    State(sh): St,
    name: Result<Path<String>, PathRejection>,
) -> Result<Response, ApiError> {
    let name = name_param(name)?;
    let v = sh
        .st
        .paths
        .conf()
        .path_json(&name)
        .ok_or_else(|| ApiError::not_found("path configuration not found"))?;
    Ok(Json(v).into_response())
}

fn require_path(conf: &Conf, name: &str) -> Result<(), ApiError> {
    if conf.paths.contains_key(name) {
        Ok(())
    } else {
        Err(ApiError::not_found("path not found"))
    }
}

async fn on_conf_paths_add(
    State(sh): St,
    name: Result<Path<String>, PathRejection>,
    body: Body,
) -> Result<Response, ApiError> {
    let name = name_param(name)?;
    let v = json_body(body).await?;
    sh.write_conf(|c| c.add_path(&name, &v).map_err(conf_err))
        .await
}

async fn on_conf_paths_patch(
    State(sh): St,
    name: Result<Path<String>, PathRejection>,
    body: Body,
) -> Result<Response, ApiError> {
    let name = name_param(name)?;
    let v = json_body(body).await?;
    sh.write_conf(|c| {
        require_path(c, &name)?;
        c.patch_path(&name, &v).map_err(conf_err)
    })
    .await
}

async fn on_conf_paths_replace(
    State(sh): St,
    name: Result<Path<String>, PathRejection>,
    body: Body,
) -> Result<Response, ApiError> {
    let name = name_param(name)?;
    let v = json_body(body).await?;
    sh.write_conf(|c| {
        require_path(c, &name)?;
        c.replace_path(&name, &v).map_err(conf_err)
    })
    .await
}

async fn on_conf_paths_delete(
    State(sh): St,
    name: Result<Path<String>, PathRejection>,
) -> Result<Response, ApiError> {
    let name = name_param(name)?;
    sh.write_conf(|c| {
        require_path(c, &name)?;
        c.delete_path(&name).map_err(conf_err)
    })
    .await
}
