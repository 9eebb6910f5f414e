//! End-to-end tests of the API router: MediaMTX v3 shapes, status codes, auth and CORS.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use axum::body::Body;
use axum::extract::ConnectInfo;
use axum::http::{HeaderMap, Request, StatusCode};
use axum::Router;
use bytes::Bytes;
use ferrocast_api::{router, serve, ApiState};
use ferrocast_conf::Conf;
use ferrocast_core::conns::{ConnInfo, ConnRegistry};
use ferrocast_core::{Access, Action, CancellationToken, Codec, PathManager, SessionRef, Track};
use serde_json::{json, Value};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tower::ServiceExt;
use uuid::Uuid;

const LOCAL: &str = "127.0.0.1:40000";
const REMOTE: &str = "203.0.113.7:40000";

struct Env {
    router: Router,
    state: ApiState,
    applied: Arc<Mutex<Vec<Conf>>>,
}

fn env(yaml: &str) -> Env {
    let (conf, _warnings) = Conf::from_yaml(yaml, "test.yml").expect("valid test config");
    let paths = PathManager::new(Arc::new(conf));
    let applied = Arc::new(Mutex::new(Vec::new()));
    let (p, a) = (paths.clone(), applied.clone());
    let state = ApiState {
        paths,
        rtmp_conns: ConnRegistry::new(),
        rtmps_conns: ConnRegistry::new(),
        webrtc_sessions: ConnRegistry::new(),
        rtsp_conns: ConnRegistry::new(),
        rtsps_conns: ConnRegistry::new(),
        apply_conf: Arc::new(move |c: Conf| {
            p.set_conf(Arc::new(c.clone()));
            a.lock().unwrap().push(c);
            Ok(())
        }),
        started: SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000),
        version: "v0.0.0-test",
    };
    Env {
        router: router(state.clone()),
        state,
        applied,
    }
}

struct Resp {
    status: StatusCode,
    headers: HeaderMap,
    body: Bytes,
}

impl Resp {
    fn json(&self) -> Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {:?}", String::from_utf8_lossy(&self.body)))
    }
    fn error(&self) -> String {
        let v = self.json();
        assert_eq!(v["status"], "error", "{v}");
        v["error"].as_str().expect("error message").to_string()
    }
}

async fn call_with(
    router: &Router,
    method: &str,
    uri: &str,
    body: Option<&str>,
    peer: Option<&str>,
    headers: &[(&str, &str)],
) -> Resp {
    let mut req = Request::builder().method(method).uri(uri);
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    let mut req = req
        .body(
            body.map(|b| Body::from(b.to_string()))
                .unwrap_or_else(Body::empty),
        )
        .unwrap();
    if let Some(peer) = peer {
        let addr: SocketAddr = peer.parse().unwrap();
        req.extensions_mut().insert(ConnectInfo(addr));
    }
    let resp = router.clone().oneshot(req).await.unwrap();
    let status = resp.status();
    let headers = resp.headers().clone();
    let body = axum::body::to_bytes(resp.into_body(), usize::MAX)
        .await
        .unwrap();
    Resp {
        status,
        headers,
        body,
    }
}

async fn call(router: &Router, method: &str, uri: &str, body: Option<&str>) -> Resp {
    call_with(router, method, uri, body, Some(LOCAL), &[]).await
}

async fn get_json(router: &Router, uri: &str) -> Value {
    let r = call(router, "GET", uri, None).await;
    assert_eq!(r.status, StatusCode::OK, "{uri}: {:?}", r.body);
    r.json()
}

fn assert_ok(r: &Resp) {
    assert_eq!(
        r.status,
        StatusCode::OK,
        "{}",
        String::from_utf8_lossy(&r.body)
    );
    assert_eq!(r.json(), json!({"status": "ok"}));
}

#[tokio::test]
async fn info() {
    let e = env("");
    let v = get_json(&e.router, "/v3/info").await;
    assert_eq!(v["version"], "v0.0.0-test");
    assert_eq!(v["started"], "2023-11-14T22:13:20Z");
}

#[tokio::test]
async fn paths_list_empty() {
    let e = env("");
    let v = get_json(&e.router, "/v3/paths/list").await;
    assert_eq!(v, json!({"itemCount": 0, "pageCount": 0, "items": []}));
    let r = call(&e.router, "GET", "/v3/paths/get/nothing", None).await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    assert_eq!(r.error(), "path not found");
}

#[tokio::test]
async fn paths_list_static_path() {
    let e = env("paths:\n  cam1:\n  ~^re[0-9]$:\n  all_others:\n");
    let v = get_json(&e.router, "/v3/paths/list").await;
    assert_eq!(v["itemCount"], 1);
    assert_eq!(v["pageCount"], 1);
    let p = &v["items"][0];
    assert_eq!(
        *p,
        json!({
            "name": "cam1",
            "confName": "cam1",
            "ready": false,
            "readyTime": null,
            "available": false,
            "availableTime": null,
            "online": false,
            "onlineTime": null,
            "source": null,
            "tracks": [],
            "tracks2": [],
            "readers": [],
            "inboundBytes": 0,
            "outboundBytes": 0,
            "inboundFramesInError": 0,
            "bytesReceived": 0,
            "bytesSent": 0,
        })
    );
    assert_eq!(get_json(&e.router, "/v3/paths/get/cam1").await, *p);
}

fn access(action: Action, path: &str) -> Access {
    Access {
        action,
        path: path.to_string(),
        query: String::new(),
        user: String::new(),
        pass: String::new(),
        ip: "127.0.0.1".parse().unwrap(),
    }
}

#[tokio::test]
async fn live_path_with_tracks_and_readers() {
    let e = env("paths:\n  all_others:\n");
    let pub_id = Uuid::new_v4();
    let mut publisher = e
        .state
        .paths
        .add_publisher(
            &access(Action::Publish, "live/stream"),
            SessionRef {
                kind: "rtmpConn",
                id: pub_id,
                token: CancellationToken::new(),
            },
        )
        .unwrap();
    // avcC with a 1280x720 High@3.1 SPS.
    let sps: &[u8] = &[
        0x67, 0x64, 0x00, 0x1f, 0xac, 0xd9, 0x40, 0x50, 0x05, 0xbb, 0x01, 0x6c, 0x80, 0x00, 0x00,
        0x03, 0x00, 0x80, 0x00, 0x00, 0x1e, 0x07, 0x8c, 0x18, 0xcb,
    ];
    let mut avcc = vec![1, 0x64, 0x00, 0x1f, 0xff, 0xe1, 0, sps.len() as u8];
    avcc.extend_from_slice(sps);
    avcc.extend_from_slice(&[1, 0, 4, 0x68, 0xeb, 0xe3, 0xcb]);
    publisher
        .start(vec![
            Track {
                codec: Codec::H264,
                clock_rate: 90000,
                config: Bytes::from(avcc),
                sample_rate: 0,
                channels: 0,
            },
            Track {
                codec: Codec::Aac,
                clock_rate: 44100,
                config: Bytes::from_static(&[0x12, 0x10]),
                sample_rate: 44100,
                channels: 2,
            },
        ])
        .unwrap();
    let reader_id = Uuid::new_v4();
    let _reader = e
        .state
        .paths
        .add_reader(
            &access(Action::Read, "live/stream"),
            SessionRef {
                kind: "rtmpsConn",
                id: reader_id,
                token: CancellationToken::new(),
            },
        )
        .unwrap();

    let p = get_json(&e.router, "/v3/paths/get/live/stream").await;
    assert_eq!(p["name"], "live/stream");
    assert_eq!(p["confName"], "all_others");
    assert_eq!(p["ready"], true);
    assert_eq!(p["available"], true);
    assert_eq!(p["online"], true);
    assert!(p["readyTime"].as_str().unwrap().ends_with('Z'));
    assert_eq!(p["readyTime"], p["onlineTime"]);
    assert_eq!(
        p["source"],
        json!({"type": "rtmpConn", "id": pub_id.to_string()})
    );
    assert_eq!(p["tracks"], json!(["H264", "MPEG-4 Audio"]));
    assert_eq!(
        p["tracks2"],
        json!([
            {"codec": "H264", "codecProps": {"width": 1280, "height": 720, "profile": "High", "level": "3.1"}},
            {"codec": "MPEG-4 Audio", "codecProps": {"sampleRate": 44100, "channelCount": 2}},
        ])
    );
    assert_eq!(
        p["readers"],
        json!([{"type": "rtmpsConn", "id": reader_id.to_string()}])
    );

    let list = get_json(&e.router, "/v3/paths/list").await;
    assert_eq!(list["itemCount"], 1);
    assert_eq!(list["items"][0], p);
}

#[tokio::test]
async fn config_global_get_patch() {
    let e = env("");
    let g = get_json(&e.router, "/v3/config/global/get").await;
    assert!(g.get("logLevel").is_some(), "{g}");
    assert!(g.get("apiAddress").is_some(), "{g}");

    let r = call(
        &e.router,
        "PATCH",
        "/v3/config/global/patch",
        Some(r#"{"logLevel":"debug"}"#),
    )
    .await;
    assert_ok(&r);
    assert_eq!(e.applied.lock().unwrap().len(), 1);
    let g = get_json(&e.router, "/v3/config/global/get").await;
    assert_eq!(g["logLevel"], "debug");

    // Invalid JSON.
    let r = call(
        &e.router,
        "PATCH",
        "/v3/config/global/patch",
        Some(r#"{"logLevel":"#),
    )
    .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert!(r.error().contains("invalid JSON"), "{}", r.error());

    // Unknown key.
    let r = call(
        &e.router,
        "PATCH",
        "/v3/config/global/patch",
        Some(r#"{"notAKey":1}"#),
    )
    .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert!(r.error().contains("notAKey"), "{}", r.error());

    // Not an object.
    let r = call(&e.router, "PATCH", "/v3/config/global/patch", Some("[1]")).await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert_eq!(e.applied.lock().unwrap().len(), 1);
}

#[tokio::test]
async fn config_path_defaults() {
    let e = env("");
    let d = get_json(&e.router, "/v3/config/pathdefaults/get").await;
    assert_eq!(d["maxReaders"], 0);
    let r = call(
        &e.router,
        "PATCH",
        "/v3/config/pathdefaults/patch",
        Some(r#"{"maxReaders":7}"#),
    )
    .await;
    assert_ok(&r);
    let d = get_json(&e.router, "/v3/config/pathdefaults/get").await;
    assert_eq!(d["maxReaders"], 7);
    let r = call(
        &e.router,
        "PATCH",
        "/v3/config/pathdefaults/patch",
        Some(r#"{"bogusField":true}"#),
    )
    .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert!(r.error().contains("bogusField"), "{}", r.error());
}

#[tokio::test]
async fn config_paths_round_trip() {
    let e = env("");
    let r = call(
        &e.router,
        "POST",
        "/v3/config/paths/add/cam/1",
        Some(r#"{"maxReaders":3}"#),
    )
    .await;
    assert_ok(&r);
    assert!(e.state.paths.conf().paths.contains_key("cam/1"));

    let p = get_json(&e.router, "/v3/config/paths/get/cam/1").await;
    assert_eq!(p["name"], "cam/1");
    assert_eq!(p["maxReaders"], 3);

    // The static path shows up among the runtime paths too.
    let list = get_json(&e.router, "/v3/paths/list").await;
    assert_eq!(list["items"][0]["name"], "cam/1");

    // Adding twice fails.
    let r = call(&e.router, "POST", "/v3/config/paths/add/cam/1", Some("{}")).await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert!(!r.error().is_empty());

    let r = call(
        &e.router,
        "PATCH",
        "/v3/config/paths/patch/cam/1",
        Some(r#"{"overridePublisher":false}"#),
    )
    .await;
    assert_ok(&r);
    let p = get_json(&e.router, "/v3/config/paths/get/cam/1").await;
    assert_eq!(p["maxReaders"], 3);
    assert_eq!(p["overridePublisher"], false);

    let r = call(
        &e.router,
        "PATCH",
        "/v3/config/paths/patch/cam/1",
        Some(r#"{"unknownThing":1}"#),
    )
    .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert!(r.error().contains("unknownThing"), "{}", r.error());

    let r = call(
        &e.router,
        "POST",
        "/v3/config/paths/replace/cam/1",
        Some(r#"{"maxReaders":5}"#),
    )
    .await;
    assert_ok(&r);
    let p = get_json(&e.router, "/v3/config/paths/get/cam/1").await;
    assert_eq!(p["maxReaders"], 5);
    assert_eq!(p["overridePublisher"], true);

    let r = call(&e.router, "DELETE", "/v3/config/paths/delete/cam/1", None).await;
    assert_ok(&r);
    let r = call(&e.router, "GET", "/v3/config/paths/get/cam/1", None).await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    assert_eq!(r.error(), "path configuration not found");

    for (m, uri, body) in [
        ("DELETE", "/v3/config/paths/delete/cam/1", None),
        ("PATCH", "/v3/config/paths/patch/cam/1", Some("{}")),
        ("POST", "/v3/config/paths/replace/cam/1", Some("{}")),
    ] {
        let r = call(&e.router, m, uri, body).await;
        assert_eq!(r.status, StatusCode::NOT_FOUND, "{m} {uri}");
        assert_eq!(r.error(), "path not found");
    }

    // Empty name.
    let r = call(&e.router, "GET", "/v3/config/paths/get/", None).await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert_eq!(r.error(), "invalid name");

    // Invalid body on add.
    let r = call(&e.router, "POST", "/v3/config/paths/add/x", Some("nope")).await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert!(r.error().starts_with("invalid JSON"), "{}", r.error());
    assert!(!e.state.paths.conf().paths.contains_key("x"));
}

#[tokio::test]
async fn config_paths_pagination() {
    let e = env("paths:\n  c:\n  a:\n  b:\n");
    let v = get_json(&e.router, "/v3/config/paths/list").await;
    assert_eq!(v["itemCount"], 3);
    assert_eq!(v["pageCount"], 1);
    let names: Vec<&str> = v["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["a", "b", "c"]);

    let v = get_json(&e.router, "/v3/config/paths/list?itemsPerPage=2&page=1").await;
    assert_eq!(v["itemCount"], 3);
    assert_eq!(v["pageCount"], 2);
    assert_eq!(v["items"].as_array().unwrap().len(), 1);
    assert_eq!(v["items"][0]["name"], "c");

    let v = get_json(&e.router, "/v3/paths/list?itemsPerPage=1&page=2").await;
    assert_eq!(v["pageCount"], 3);
    assert_eq!(v["items"][0]["name"], "c");

    for q in ["itemsPerPage=0", "itemsPerPage=x", "page=-1", "page=abc"] {
        for base in [
            "/v3/config/paths/list",
            "/v3/paths/list",
            "/v3/rtmpconns/list",
        ] {
            let r = call(&e.router, "GET", &format!("{base}?{q}"), None).await;
            assert_eq!(r.status, StatusCode::BAD_REQUEST, "{base}?{q}");
            assert!(!r.error().is_empty());
        }
    }
}

#[tokio::test]
async fn rtmp_conns() {
    let e = env("");
    let token = CancellationToken::new();
    let info = Arc::new(ConnInfo::new(
        "10.1.2.3:5555".parse().unwrap(),
        token.clone(),
    ));
    {
        let mut d = info.details.lock();
        d.state = ferrocast_core::conns::ConnState::Publish;
        d.path = "live/a".into();
        d.query = "k=v".into();
    }
    info.bytes_received
        .store(1234, std::sync::atomic::Ordering::Relaxed);
    let _guard = e.state.rtmp_conns.add(info.clone());

    let v = get_json(&e.router, "/v3/rtmpconns/list").await;
    assert_eq!(v["itemCount"], 1);
    let c = &v["items"][0];
    assert_eq!(c["id"], info.id.to_string());
    assert_eq!(c["remoteAddr"], "10.1.2.3:5555");
    assert_eq!(c["state"], "publish");
    assert_eq!(c["path"], "live/a");
    assert_eq!(c["query"], "k=v");
    assert_eq!(c["user"], "");
    assert_eq!(c["userAgent"], "");
    assert_eq!(c["inboundBytes"], 1234);
    assert_eq!(c["bytesReceived"], 1234);
    assert_eq!(c["outboundBytes"], 0);
    assert_eq!(c["outboundFramesDiscarded"], 0);
    assert!(c["created"].as_str().unwrap().contains('T'));

    let one = get_json(&e.router, &format!("/v3/rtmpconns/get/{}", info.id)).await;
    assert_eq!(one, *c);

    // Not in the RTMPS registry.
    let v = get_json(&e.router, "/v3/rtmpsconns/list").await;
    assert_eq!(v, json!({"itemCount": 0, "pageCount": 0, "items": []}));
    let r = call(
        &e.router,
        "GET",
        &format!("/v3/rtmpsconns/get/{}", info.id),
        None,
    )
    .await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);

    let r = call(
        &e.router,
        "POST",
        &format!("/v3/rtmpconns/kick/{}", info.id),
        None,
    )
    .await;
    assert_ok(&r);
    assert!(token.is_cancelled());

    let unknown = Uuid::new_v4();
    for base in ["/v3/rtmpconns", "/v3/rtmpsconns"] {
        let r = call(&e.router, "POST", &format!("{base}/kick/{unknown}"), None).await;
        assert_eq!(r.status, StatusCode::NOT_FOUND);
        assert_eq!(r.error(), "connection not found");
        let r = call(&e.router, "POST", &format!("{base}/kick/not-a-uuid"), None).await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST);
        assert!(r.error().contains("invalid id"), "{}", r.error());
    }
}

#[tokio::test]
async fn auth_default_config_is_local_only() {
    let e = env("");
    // Remote without credentials: asked for credentials.
    let r = call_with(&e.router, "GET", "/v3/info", None, Some(REMOTE), &[]).await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    assert_eq!(r.error(), "authentication error");
    assert_eq!(
        r.headers.get("www-authenticate").unwrap(),
        "Basic realm=\"mediamtx\""
    );
    // No peer address known: refused too.
    let r = call_with(&e.router, "GET", "/v3/info", None, None, &[]).await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    // Local, IPv6 local.
    let r = call_with(&e.router, "GET", "/v3/info", None, Some("[::1]:1"), &[]).await;
    assert_eq!(r.status, StatusCode::OK);
    // Unknown routes are authenticated too.
    let r = call_with(&e.router, "GET", "/v3/nothing", None, Some(REMOTE), &[]).await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn auth_with_credentials() {
    let yaml = "\
authInternalUsers:
- user: admin
  pass: secret
  ips: []
  permissions:
  - action: api
- user: any
  pass:
  ips: ['127.0.0.1', '::1']
  permissions:
  - action: api
";
    let e = env(yaml);
    let basic = "Basic YWRtaW46c2VjcmV0"; // admin:secret
    let r = call_with(
        &e.router,
        "GET",
        "/v3/info",
        None,
        Some(REMOTE),
        &[("authorization", basic)],
    )
    .await;
    assert_eq!(r.status, StatusCode::OK);
    let r = call_with(
        &e.router,
        "GET",
        "/v3/info?user=admin&pass=secret",
        None,
        Some(REMOTE),
        &[],
    )
    .await;
    assert_eq!(r.status, StatusCode::OK);

    // Wrong credentials: refused after a pause, without asking again.
    let t0 = std::time::Instant::now();
    let r = call_with(
        &e.router,
        "GET",
        "/v3/info",
        None,
        Some(REMOTE),
        &[("authorization", "Basic YWRtaW46d3Jvbmc=")],
    )
    .await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    assert!(r.headers.get("www-authenticate").is_none());
    assert!(t0.elapsed() >= Duration::from_secs(1));
}

#[tokio::test]
async fn cors_and_preflight() {
    let e = env("");
    // Preflight is answered before authentication.
    let r = call_with(
        &e.router,
        "OPTIONS",
        "/v3/config/global/patch",
        None,
        Some(REMOTE),
        &[
            ("origin", "http://example.com"),
            ("access-control-request-method", "PATCH"),
        ],
    )
    .await;
    assert_eq!(r.status, StatusCode::NO_CONTENT);
    assert_eq!(r.headers["access-control-allow-origin"], "*");
    assert_eq!(
        r.headers["access-control-allow-methods"],
        "OPTIONS, GET, POST, PATCH, DELETE"
    );
    assert_eq!(
        r.headers["access-control-allow-headers"],
        "Authorization, Content-Type"
    );

    let r = call_with(
        &e.router,
        "GET",
        "/v3/info",
        None,
        Some(LOCAL),
        &[("origin", "http://example.com")],
    )
    .await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.headers["access-control-allow-origin"], "*");
}

#[tokio::test]
async fn unknown_route_and_method() {
    let e = env("");
    let r = call(&e.router, "GET", "/v3/nothing/here", None).await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    assert!(!r.error().is_empty());
    let r = call(&e.router, "DELETE", "/v3/info", None).await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    assert!(!r.error().is_empty());
}

#[tokio::test]
async fn apply_conf_error_is_400() {
    let mut e = env("");
    e.state.apply_conf = Arc::new(|_| Err("cannot listen on :1: permission denied".into()));
    let router = router(e.state.clone());
    let r = call(&router, "POST", "/v3/config/paths/add/x", Some("{}")).await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert_eq!(r.error(), "cannot listen on :1: permission denied");
    assert!(!e.state.paths.conf().paths.contains_key("x"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_writes_are_serialized() {
    let e = env("");
    let mut tasks = vec![];
    for i in 0..16 {
        let router = e.router.clone();
        tasks.push(tokio::spawn(async move {
            let r = call(
                &router,
                "POST",
                &format!("/v3/config/paths/add/p{i}"),
                Some("{}"),
            )
            .await;
            assert_ok(&r);
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    let conf = e.state.paths.conf();
    for i in 0..16 {
        assert!(conf.paths.contains_key(&format!("p{i}")), "p{i} lost");
    }
    assert_eq!(e.applied.lock().unwrap().len(), 16);
}

#[tokio::test]
async fn serve_over_tcp() {
    let e = env("");
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let shutdown = CancellationToken::new();
    let server = tokio::spawn(serve(listener, e.state.clone(), shutdown.clone()));

    let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
    s.write_all(b"GET /v3/paths/list HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        .await
        .unwrap();
    let mut out = Vec::new();
    tokio::time::timeout(Duration::from_secs(5), s.read_to_end(&mut out))
        .await
        .unwrap()
        .unwrap();
    let text = String::from_utf8(out).unwrap();
    assert!(text.starts_with("HTTP/1.1 200"), "{text}");
    assert!(text.contains(r#""itemCount":0"#), "{text}");
    assert!(text
        .to_ascii_lowercase()
        .contains("content-type: application/json"));

    shutdown.cancel();
    tokio::time::timeout(Duration::from_secs(5), server)
        .await
        .unwrap()
        .unwrap()
        .unwrap();
}
