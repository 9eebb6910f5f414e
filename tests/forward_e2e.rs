//! Forwarding (restreaming) a path to an RTMP CDN: nginx-rtmp receives what ffmpeg
//! publishes to Ferrocast, ffprobe decodes it from nginx, and the forward comes back after
//! nginx restarts.

mod common;

use std::time::Duration;

use common::*;
use serde_json::Value;

fn forward_item(server: &Server, path: &str) -> Value {
    let list = server.get_json(&format!("/v3/paths/forward/list?path={path}"));
    assert_eq!(list["itemCount"], 1, "{list}");
    list["items"][0].clone()
}

fn wait_forwarding(server: &Server, path: &str) -> Value {
    wait_for(Duration::from_secs(30), || {
        let r = server.api("GET", &format!("/v3/paths/forward/list?path={path}"), None);
        let v: Value = serde_json::from_str(&r.body).ok()?;
        let item = v["items"].get(0)?.clone();
        (item["state"] == "forwarding" && item["outboundBytes"].as_u64()? > 0).then_some(item)
    })
    .unwrap_or_else(|| {
        panic!(
            "forward never started: {}\n{}",
            server.log(),
            forward_item(server, path)
        )
    })
}

#[test]
fn forward_to_nginx_rtmp_with_reconnect() {
    let dir = TempDir::new("forward-cdn");
    let nginx = Nginx::start(&dir);
    let port = nginx.port;
    let yaml = format!(
        "paths:\n  \"~^fwd/(.+)$\":\n    forward:\n      - dest: rtmp://127.0.0.1:{port}/live/out-$G1\n  all_others:\n"
    );
    let server = Server::start_with(ServerOpts::new("forward", &yaml));
    let _publisher = publish(
        &server.dir,
        "publisher",
        Source::Plain,
        &server.rtmp_url("fwd/cam"),
    );
    server.wait_ready("fwd/cam", Duration::from_secs(20));

    let item = wait_forwarding(&server, "fwd/cam");
    assert_eq!(item["protocol"], "rtmp");
    assert_eq!(
        item["conf"]["dest"],
        format!("rtmp://127.0.0.1:{port}/live/out-$G1")
    );
    let streams = probe(&nginx.url("live/out-cam"), 3);
    assert_h264_aac(&streams, 45, 70);
    // The forward is not a reader of the path in the API.
    let path = server.path_item("fwd/cam").expect("path listed");
    assert_eq!(
        path["readers"].as_array().map(|a| a.len()),
        Some(0),
        "{path}"
    );

    // The CDN goes away: the forward reports the error and retries.
    drop(nginx);
    let err = wait_for(Duration::from_secs(20), || {
        let item = forward_item(&server, "fwd/cam");
        (item["state"] == "error").then_some(item)
    })
    .expect("forward state becomes error while the CDN is down");
    assert!(
        !err["lastError"].as_str().unwrap_or_default().is_empty(),
        "{err}"
    );

    // It comes back on the same port: the forward reconnects by itself.
    let nginx = Nginx::start_on(&dir, port);
    wait_forwarding(&server, "fwd/cam");
    let streams = probe(&nginx.url("live/out-cam"), 3);
    assert_h264_aac(&streams, 45, 70);
    assert!(
        server.log().contains("forward 'fwd/cam'"),
        "forward log lines: {}",
        server.log()
    );
}

#[test]
fn forward_list_errors() {
    let server = Server::start("forward-api");
    let r = server.api("GET", "/v3/paths/forward/list", None);
    assert_eq!(r.status, 400, "{}", r.body);
    let r = server.api("GET", "/v3/paths/forward/list?path=nothing/here", None);
    assert_eq!(r.status, 404, "{}", r.body);
}
