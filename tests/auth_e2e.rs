//! Internal authentication (`authInternalUsers`, MediaMTX shape) with credentials in the
//! RTMP query: `rtmp://host/path?user=X&pass=Y`.

mod common;

use std::time::Duration;

use common::*;

const AUTH: &str = "\
authInternalUsers:
- user: any
  pass:
  ips: ['127.0.0.1', '::1']
  permissions:
  - action: api
- user: pub
  pass: secret
  ips: []
  permissions:
  - action: publish
- user: viewer
  pass: vpass
  ips: []
  permissions:
  - action: read
";

/// Publishing with `query` must be refused: ffmpeg fails and the path never gets ready.
fn assert_publish_refused(server: &Server, name: &str, query: &str) {
    let url = format!("{}{query}", server.rtmp_url("live/test"));
    let mut p = publish(&server.dir, name, Source::Plain, &url);
    let status = p.wait_timeout(Duration::from_secs(20));
    assert!(
        matches!(status, Some(s) if !s.success()),
        "publishing with '{query}' was not refused: {status:?}\n{}",
        p.output()
    );
    assert!(
        server
            .path_item("live/test")
            .map(|p| p["ready"] != true)
            .unwrap_or(true),
        "the path became ready without valid credentials"
    );
}

fn assert_read_refused(server: &Server, query: &str) {
    let url = format!("{}{query}", server.rtmp_url("live/test"));
    let r = probe_raw(&url, 1, &[]);
    assert!(
        !r.success(),
        "reading with '{query}' was not refused: {}",
        r.stdout
    );
}

#[test]
fn publish_and_read_need_credentials() {
    let server = Server::start_with(ServerOpts::new("auth", AUTH));

    assert_publish_refused(&server, "no-credentials", "");
    server
        .wait_log_line(&["live/test", "refused"], Duration::from_secs(5))
        .expect("the refusal is logged");
    assert_publish_refused(&server, "wrong-password", "?user=pub&pass=wrong");
    assert_publish_refused(&server, "reader-credentials", "?user=viewer&pass=vpass");

    let url = format!("{}?user=pub&pass=secret", server.rtmp_url("live/test"));
    let _publisher = publish(&server.dir, "publisher", Source::Plain, &url);
    server.wait_ready("live/test", Duration::from_secs(20));
    let conns = server.rtmp_conns();
    let publisher = conns
        .iter()
        .find(|c| c["state"] == "publish")
        .unwrap_or_else(|| panic!("no publishing connection: {conns:?}"));
    assert_eq!(publisher["user"], "pub", "{publisher}");
    assert_eq!(publisher["path"], "live/test", "{publisher}");

    assert_read_refused(&server, "");
    assert_read_refused(&server, "?user=viewer&pass=nope");
    assert_read_refused(&server, "?user=pub&pass=secret");
    let streams = probe(
        &format!("{}?user=viewer&pass=vpass", server.rtmp_url("live/test")),
        2,
    );
    assert_h264_aac(&streams, 30, 45);
}

const AUTH_API: &str = "\
authInternalUsers:
- user: admin
  pass: adminpass
  ips: []
  permissions:
  - action: api
- user: any
  pass:
  ips: []
  permissions:
  - action: publish
  - action: read
";

#[test]
fn api_needs_credentials_when_configured() {
    // Only "admin" has the api permission. (A user "any" with the permission would let
    // every request through, credentials or not, as in MediaMTX.)
    let server = Server::start_with(ServerOpts::new("auth-api", AUTH_API));
    let port = server.api_port;
    let get = |path: &str, headers: &[(&str, &str)]| {
        http_with_headers(port, "GET", path, headers, None).expect("API request")
    };
    let r = get("/v3/paths/list", &[]);
    assert_eq!(r.status, 401, "no credentials: {}", r.body);
    let r = get("/v3/paths/list?user=admin&pass=wrong", &[]);
    assert_eq!(r.status, 401, "wrong password: {}", r.body);
    let r = get("/v3/paths/list?user=admin&pass=adminpass", &[]);
    assert_eq!(r.status, 200, "credentials in the query: {}", r.body);
    // "admin:adminpass" in Basic auth.
    let r = get(
        "/v3/paths/list",
        &[("Authorization", "Basic YWRtaW46YWRtaW5wYXNz")],
    );
    assert_eq!(r.status, 200, "Basic credentials: {}", r.body);
    assert!(r.json()["items"].is_array());

    // Publishing and reading are open to anyone here.
    let url = server.rtmp_url("live/test");
    let _publisher = publish(&server.dir, "publisher", Source::Plain, &url);
    assert_h264_aac(&probe_until_ready(&url), 30, 45);
}

/// Probes `url` until the stream is there (the API needs credentials, so poll RTMP).
fn probe_until_ready(url: &str) -> Vec<ProbedStream> {
    let ready = wait_for(Duration::from_secs(20), || {
        probe_raw(url, 1, &[]).success().then_some(())
    });
    assert!(ready.is_some(), "{url} never became readable");
    probe(url, 2)
}
