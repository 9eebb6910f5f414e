//! The REST API (MediaMTX v3 shapes) against a live server with real RTMP clients.

mod common;

use std::time::Duration;

use common::*;
use serde_json::{json, Value};

const READY: Duration = Duration::from_secs(20);

fn ids(items: &[Value]) -> Vec<String> {
    items
        .iter()
        .map(|i| i["id"].as_str().unwrap_or_default().to_string())
        .collect()
}

#[test]
fn paths_and_conns_reflect_publisher_and_readers_and_kick_works() {
    let server = Server::start("api-paths");
    let url = server.rtmp_url("live/test");
    let mut publisher = publish(&server.dir, "publisher", Source::Plain, &url);
    server.wait_ready("live/test", READY);

    let mut r1 = FfmpegReader::start(&server.dir, "reader1", &url, None);
    let mut r2 = FfmpegReader::start(&server.dir, "reader2", &url, None);
    r1.wait_frames(10, Duration::from_secs(20));
    r2.wait_frames(10, Duration::from_secs(20));

    // /v3/paths/list
    let list = server.get_json("/v3/paths/list");
    assert_eq!(list["itemCount"], 1, "{list}");
    assert_eq!(list["pageCount"], 1, "{list}");
    let path = server.wait_readers("live/test", 2, Duration::from_secs(5));
    assert_eq!(path["ready"], true, "{path}");
    assert_eq!(path["tracks"], json!(["H264", "MPEG-4 Audio"]), "{path}");
    assert_eq!(path["source"]["type"], "rtmpConn", "{path}");
    let readers = path["readers"].as_array().unwrap().clone();
    assert!(readers.iter().all(|r| r["type"] == "rtmpConn"), "{path}");
    assert!(path["bytesReceived"].as_u64().unwrap_or(0) > 0, "{path}");

    // /v3/paths/get/{name} agrees.
    let got = server.get_json("/v3/paths/get/live/test");
    assert_eq!(got["name"], "live/test");
    assert_eq!(got["tracks"], json!(["H264", "MPEG-4 Audio"]));
    let missing = server.api("GET", "/v3/paths/get/live/nothing", None);
    assert_eq!(missing.status, 404, "{}", missing.body);

    // /v3/rtmpconns/list: one publisher, two readers, ids matching the path's.
    let conns = server.rtmp_conns();
    assert_eq!(conns.len(), 3, "{conns:?}");
    let publishers: Vec<&Value> = conns.iter().filter(|c| c["state"] == "publish").collect();
    assert_eq!(publishers.len(), 1, "{conns:?}");
    assert_eq!(publishers[0]["path"], "live/test");
    assert_eq!(
        publishers[0]["id"], path["source"]["id"],
        "source id = publisher conn id"
    );
    assert!(publishers[0]["bytesReceived"].as_u64().unwrap_or(0) > 0);
    let reading: Vec<Value> = conns
        .iter()
        .filter(|c| c["state"] == "read")
        .cloned()
        .collect();
    assert_eq!(reading.len(), 2, "{conns:?}");
    let mut reader_ids = ids(&reading);
    let mut path_reader_ids = ids(&readers);
    reader_ids.sort();
    path_reader_ids.sort();
    assert_eq!(reader_ids, path_reader_ids);

    // Kick one reader: which ffmpeg is it? Match on the remote port is not possible from
    // ffmpeg, so kick the first id and see exactly one reader process end.
    let victim = reader_ids[0].clone();
    let get = server.get_json(&format!("/v3/rtmpconns/get/{victim}"));
    assert_eq!(get["state"], "read");
    assert_eq!(get["path"], "live/test");
    let victim_addr = get["remoteAddr"].as_str().unwrap_or_default().to_string();
    assert!(victim_addr.starts_with("127.0.0.1:"), "{get}");
    let r = server.api("POST", &format!("/v3/rtmpconns/kick/{victim}"), None);
    assert_eq!(r.status, 200, "kick: {}", r.body);
    let ended = wait_for(Duration::from_secs(10), || {
        let a = !r1.proc.is_alive();
        let b = !r2.proc.is_alive();
        (a || b).then_some((a, b))
    })
    .expect("no reader process ended after the kick");
    assert!(!(ended.0 && ended.1), "both readers ended after one kick");
    let (gone, survivor) = if ended.0 {
        (&r1, &mut r2)
    } else {
        (&r2, &mut r1)
    };
    eprintln!("kicked {victim}: {} ended", gone.proc.name);
    let conns = server.rtmp_conns();
    assert!(
        !ids(&conns).contains(&victim),
        "kicked conn still listed: {conns:?}"
    );
    server.wait_readers("live/test", 1, Duration::from_secs(5));
    let before = survivor.frames();
    survivor.wait_frames(before + 30, Duration::from_secs(10));
    // One log line for the close, with the peer address, the path and the reason.
    let line = server
        .wait_log_line(
            &[&victim_addr, "closed", "live/test"],
            Duration::from_secs(5),
        )
        .unwrap_or_else(|| panic!("no close line for the kicked reader {victim_addr}"));
    eprintln!("{line}");

    // Kick the publisher too.
    let publisher_id = publishers[0]["id"].as_str().unwrap().to_string();
    let r = server.api("POST", &format!("/v3/rtmpconns/kick/{publisher_id}"), None);
    assert_eq!(r.status, 200, "kick: {}", r.body);
    assert!(
        publisher.wait_timeout(Duration::from_secs(10)).is_some(),
        "the kicked publisher is still running"
    );
    let conns = server.rtmp_conns();
    assert!(
        conns.iter().all(|c| c["state"] != "publish"),
        "a publisher is still listed: {conns:?}"
    );

    // Unknown ids.
    let r = server.api(
        "POST",
        "/v3/rtmpconns/kick/00000000-0000-0000-0000-000000000000",
        None,
    );
    assert_eq!(r.status, 404, "{}", r.body);
}

#[test]
fn path_config_add_patch_delete() {
    let server = Server::start_with(ServerOpts::new("api-conf", "paths:\n  mypath:\n"));
    let url = server.rtmp_url("newpath");

    // Not configured yet: publishing is refused.
    let mut p = publish(&server.dir, "publisher-refused", Source::Plain, &url);
    let status = p.wait_timeout(Duration::from_secs(20));
    assert!(
        matches!(status, Some(s) if !s.success()),
        "publishing to an unconfigured path did not fail: {status:?}"
    );

    let list = server.get_json("/v3/config/paths/list");
    let names: Vec<&str> = list["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["name"].as_str().unwrap_or_default())
        .collect();
    assert_eq!(names, ["mypath"], "{list}");

    // Add.
    let r = server.api(
        "POST",
        "/v3/config/paths/add/newpath",
        Some(r#"{"source":"publisher"}"#),
    );
    assert_eq!(r.status, 200, "add: {}", r.body);
    let conf = server.get_json("/v3/config/paths/get/newpath");
    assert_eq!(conf["name"], "newpath");
    assert_eq!(conf["source"], "publisher");
    let r = server.api("POST", "/v3/config/paths/add/newpath", Some("{}"));
    assert_eq!(r.status, 400, "adding twice must fail: {}", r.body);
    let mut publisher = publish(&server.dir, "publisher", Source::Plain, &url);
    server.wait_ready("newpath", READY);

    // Patch: at most one reader.
    let r = server.api(
        "PATCH",
        "/v3/config/paths/patch/newpath",
        Some(r#"{"maxReaders":1}"#),
    );
    assert_eq!(r.status, 200, "patch: {}", r.body);
    let conf = server.get_json("/v3/config/paths/get/newpath");
    assert_eq!(conf["maxReaders"], 1, "{conf}");
    // A changed path configuration may restart the path (MediaMTX does): publish again if so.
    std::thread::sleep(Duration::from_millis(500));
    if !publisher.is_alive() {
        eprintln!("the patch restarted the path; publishing again");
        publisher = publish(&server.dir, "publisher2", Source::Plain, &url);
    }
    server.wait_ready("newpath", READY);
    let mut reader = FfmpegReader::start(&server.dir, "reader", &url, None);
    reader.wait_frames(10, Duration::from_secs(20));
    let second = probe_raw(&url, 1, &[]);
    assert!(
        !second.success(),
        "a second reader was accepted despite maxReaders: 1: {}",
        second.stdout
    );
    server.wait_readers("newpath", 1, Duration::from_secs(5));

    // Delete while the publisher and the reader are connected: both are disconnected.
    let r = server.api("DELETE", "/v3/config/paths/delete/newpath", None);
    assert_eq!(r.status, 200, "delete: {}", r.body);
    let status = publisher.wait_timeout(Duration::from_secs(15));
    assert!(
        status.is_some(),
        "the publisher is still connected after its path was deleted"
    );
    let status = reader.proc.wait_timeout(Duration::from_secs(15));
    assert!(
        status.is_some(),
        "the reader is still connected after its path was deleted"
    );
    assert!(server.path_item("newpath").is_none());
    let r = server.api("GET", "/v3/config/paths/get/newpath", None);
    assert_eq!(r.status, 404, "{}", r.body);
    let r = server.api("DELETE", "/v3/config/paths/delete/newpath", None);
    assert_eq!(r.status, 404, "deleting twice: {}", r.body);

    // And publishing is refused again.
    let mut p = publish(&server.dir, "publisher-refused2", Source::Plain, &url);
    let status = p.wait_timeout(Duration::from_secs(20));
    assert!(matches!(status, Some(s) if !s.success()), "{status:?}");
}

fn assert_error(r: &HttpResponse, what: &str) {
    assert_eq!(r.status, 400, "{what}: {}", r.body);
    let v = r.json();
    assert_eq!(v["status"], "error", "{what}: {v}");
    let msg = v["error"].as_str().unwrap_or_default();
    assert!(!msg.is_empty(), "{what}: empty error message: {v}");
    eprintln!("{what}: 400 {msg}");
}

#[test]
fn invalid_bodies_are_rejected_with_400() {
    let server = Server::start("api-invalid");
    let cases: &[(&str, &str, &str)] = &[
        ("PATCH", "/v3/config/global/patch", "{not json"),
        ("PATCH", "/v3/config/global/patch", r#"{"notAKey": 1}"#),
        (
            "PATCH",
            "/v3/config/global/patch",
            r#"{"writeQueueSize": "many"}"#,
        ),
        (
            "PATCH",
            "/v3/config/global/patch",
            r#"{"writeQueueSize": 1000}"#,
        ),
        (
            "PATCH",
            "/v3/config/global/patch",
            r#"{"readTimeout": "soon"}"#,
        ),
        ("POST", "/v3/config/paths/add/cam", "{not json"),
        (
            "POST",
            "/v3/config/paths/add/cam",
            r#"{"sourcee": "publisher"}"#,
        ),
        ("POST", "/v3/config/paths/add/cam", r#"{"maxReaders": "x"}"#),
        ("PATCH", "/v3/config/pathdefaults/patch", "[1,2"),
    ];
    for (method, path, body) in cases {
        let r = server.api(method, path, Some(body));
        assert_error(&r, &format!("{method} {path} {body}"));
    }
    // Nothing was changed by the rejected requests.
    let global = server.get_json("/v3/config/global/get");
    assert_eq!(global["writeQueueSize"], 512, "{global}");
    let r = server.api("GET", "/v3/config/paths/get/cam", None);
    assert_eq!(r.status, 404, "{}", r.body);
    // The server still works.
    assert!(server.get_json("/v3/paths/list")["items"].is_array());
}

#[test]
fn global_config_patch_is_reflected() {
    let server = Server::start("api-global");
    let global = server.get_json("/v3/config/global/get");
    assert_eq!(global["writeQueueSize"], 512, "{global}");
    assert_eq!(
        global["rtmpAddress"],
        format!("127.0.0.1:{}", server.rtmp_port)
    );
    assert_eq!(global["api"], true);
    let url = server.rtmp_url("live/test");
    let mut publisher = publish(&server.dir, "publisher", Source::Plain, &url);
    server.wait_ready("live/test", READY);

    let r = server.api(
        "PATCH",
        "/v3/config/global/patch",
        Some(r#"{"writeQueueSize": 1024, "logLevel": "debug"}"#),
    );
    assert_eq!(r.status, 200, "{}", r.body);
    let global = server.get_json("/v3/config/global/get");
    assert_eq!(global["writeQueueSize"], 1024, "{global}");
    assert_eq!(global["logLevel"], "debug", "{global}");
    // Untouched keys keep their value.
    assert_eq!(
        global["rtmpAddress"],
        format!("127.0.0.1:{}", server.rtmp_port)
    );
    assert_eq!(global["readTimeout"], "10s", "{global}");

    // Neither key needs the RTMP listener to restart: the publisher is still there, and
    // new readers work.
    assert!(
        publisher.is_alive(),
        "the publisher was disconnected by the patch"
    );
    assert_h264_aac(&probe(&url, 2), 30, 45);
}

#[test]
fn rtmp_listener_survives_patches_that_restart_it() {
    // readTimeout belongs to the RTMP listener's settings: each change restarts it on the
    // same address. Every patch must succeed and leave RTMP serving.
    let server = Server::start("api-restart");
    let url = server.rtmp_url("live/test");
    for (i, timeout) in ["11s", "12s", "13s", "14s", "15s"].iter().enumerate() {
        let body = format!(r#"{{"readTimeout": "{timeout}"}}"#);
        let r = server.api("PATCH", "/v3/config/global/patch", Some(&body));
        assert_eq!(r.status, 200, "patch #{i} ({body}): {}", r.body);
        let global = server.get_json("/v3/config/global/get");
        assert_eq!(global["readTimeout"], *timeout, "{global}");
        let up = wait_for(Duration::from_secs(5), || {
            std::net::TcpStream::connect(("127.0.0.1", server.rtmp_port)).ok()
        });
        assert!(
            up.is_some(),
            "the RTMP port is closed after patch #{i} ({body})"
        );
    }
    let _publisher = publish(&server.dir, "publisher", Source::Plain, &url);
    server.wait_ready("live/test", READY);
    assert_h264_aac(&probe(&url, 2), 30, 45);
}
