//! Pull sources (`source: rtmp://...`): a path takes its stream from a remote RTMP server:
//! another path of the same server, nginx-rtmp, or an RTMPS server pinned by
//! `sourceFingerprint`. ffprobe reads the pulled path and must decode video and audio.

mod common;

use std::fs;
use std::process::Command;
use std::thread::sleep;
use std::time::Duration;

use common::*;

const READY: Duration = Duration::from_secs(30);

/// A server whose `paths:` section is made by `paths(rtmp_port)`, so a path can pull
/// from another path of the same server.
fn start_server(label: &str, extra: &str, paths: impl FnOnce(u16) -> String) -> Server {
    let dir = TempDir::new(label);
    let rtmp = free_port();
    let api = free_port();
    // WebRTC is off unless `extra` configures it (parallel servers can't share its ports).
    let webrtc = if extra.contains("webrtc:") {
        ""
    } else {
        "webrtc: no\n"
    };
    let yaml = format!(
        "logLevel: info\n\
         rtmp: yes\n\
         rtmpAddress: 127.0.0.1:{rtmp}\n\
         api: yes\n\
         apiAddress: 127.0.0.1:{api}\n\
         rtsp: no\n\
         {webrtc}{extra}\
         paths:\n{}",
        paths(rtmp)
    );
    let config = dir.join("mediamtx.yml");
    fs::write(&config, yaml).expect("write the configuration");
    let arg = config.display().to_string();
    Server::launch(dir, Some(&arg), &[], rtmp, api)
}

fn readers(server: &Server, path: &str) -> usize {
    server
        .path_item(path)
        .and_then(|p| p["readers"].as_array().map(|r| r.len()))
        .unwrap_or(0)
}

#[test]
fn static_rtmp_source_from_the_same_server() {
    let server = start_server("source-static", "", |port| {
        format!("  origin:\n  pulled:\n    source: rtmp://127.0.0.1:{port}/origin\n")
    });
    // Listed before anything is published, with its source type, not ready.
    let item = server.path_item("pulled").expect("pulled is listed");
    assert_eq!(item["ready"], false, "{item}");
    assert_eq!(item["source"]["type"], "rtmpSource", "{item}");
    assert_eq!(item["source"]["id"], "", "{item}");

    let _publisher = publish(
        &server.dir,
        "publisher",
        Source::Plain,
        &server.rtmp_url("origin"),
    );
    server.wait_ready("origin", READY);
    let item = server.wait_ready("pulled", READY);
    assert_eq!(item["source"]["type"], "rtmpSource", "{item}");
    assert_eq!(item["tracks"], serde_json::json!(["H264", "MPEG-4 Audio"]));
    // The source is an RTMP reader of `origin`.
    assert_eq!(readers(&server, "origin"), 1);

    assert_h264_aac(&probe(&server.rtmp_url("pulled"), 3), 45, 70);
    let item = server.path_item("pulled").expect("pulled");
    assert!(item["inboundBytes"].as_u64().unwrap_or(0) > 0, "{item}");
    // Nobody publishes to a path that has a source.
    let mut intruder = publish(
        &server.dir,
        "intruder",
        Source::Plain,
        &server.rtmp_url("pulled"),
    );
    assert!(
        intruder.wait_timeout(Duration::from_secs(20)).is_some(),
        "a publisher was accepted on a path with a source"
    );
    assert!(
        server.log().contains("takes its stream from a source"),
        "{}",
        server.log()
    );
}

#[test]
fn on_demand_rtmp_source_starts_with_the_first_reader() {
    let server = start_server("source-on-demand", "", |port| {
        format!(
            "  origin:\n  pulled:\n    source: rtmp://127.0.0.1:{port}/origin\n    sourceOnDemand: yes\n    sourceOnDemandCloseAfter: 1s\n"
        )
    });
    let _publisher = publish(
        &server.dir,
        "publisher",
        Source::Plain,
        &server.rtmp_url("origin"),
    );
    server.wait_ready("origin", READY);
    // Nobody reads `pulled`: its source does not run.
    sleep(Duration::from_secs(2));
    let item = server.path_item("pulled").expect("pulled is listed");
    assert_eq!(item["ready"], false, "{item}");
    assert_eq!(item["source"]["type"], "rtmpSource", "{item}");
    assert_eq!(
        readers(&server, "origin"),
        0,
        "the source runs without readers"
    );

    // The reader starts it and waits for it.
    assert_h264_aac(&probe(&server.rtmp_url("pulled"), 3), 45, 70);
    assert!(
        server
            .log()
            .contains("source of path 'pulled': pulling rtmp://"),
        "{}",
        server.log()
    );
    // The reader left: the source stops after sourceOnDemandCloseAfter.
    server
        .wait_log_line(
            &["source of path 'pulled' stopped", "no one reads it"],
            Duration::from_secs(20),
        )
        .unwrap_or_else(|| panic!("the source did not stop:\n{}", server.log()));
    server.wait_readers("origin", 0, Duration::from_secs(10));
    let item = server.path_item("pulled").expect("pulled is listed");
    assert_eq!(item["ready"], false, "{item}");

    // Again, with a reader that stays: the source runs while it reads.
    let mut reader = FfmpegReader::start(&server.dir, "reader", &server.rtmp_url("pulled"), None);
    reader.wait_frames(60, Duration::from_secs(30));
    server.wait_ready("pulled", READY);
    assert_eq!(readers(&server, "origin"), 1);
}

#[test]
fn whep_reader_starts_an_on_demand_source() {
    let http_port = free_port();
    let udp = free_udp_port();
    let extra = format!(
        "webrtc: yes\nwebrtcAddress: 127.0.0.1:{http_port}\nwebrtcLocalUDPAddress: 127.0.0.1:{udp}\n"
    );
    let server = start_server("source-whep", &extra, |port| {
        format!(
            "  origin:\n  pulled:\n    source: rtmp://127.0.0.1:{port}/origin\n    sourceOnDemand: yes\n"
        )
    });
    let _publisher = publish(
        &server.dir,
        "publisher",
        Source::Plain,
        &server.rtmp_url("origin"),
    );
    server.wait_ready("origin", READY);
    assert_eq!(
        readers(&server, "origin"),
        0,
        "the source runs without readers"
    );
    let v = run_client(
        &[
            "whep",
            &format!("http://127.0.0.1:{http_port}/pulled/whep"),
            "--seconds",
            "5",
        ],
        Duration::from_secs(60),
    );
    let video = v["video_frames"].as_u64().unwrap_or(0);
    let audio = v["audio_frames"].as_u64().unwrap_or(0);
    assert!(video > 60, "video frames: {v}");
    assert!(audio > 100, "audio frames (AAC -> Opus rendition): {v}");
}

#[test]
fn on_demand_source_without_remote_stream_refuses_readers() {
    let server = start_server("source-on-demand-missing", "", |port| {
        format!(
            "  origin:\n  pulled:\n    source: rtmp://127.0.0.1:{port}/origin\n    sourceOnDemand: yes\n    sourceOnDemandStartTimeout: 2s\n"
        )
    });
    let r = probe_raw(&server.rtmp_url("pulled"), 2, &[]);
    assert!(
        !r.success(),
        "ffprobe read a path whose source has no stream"
    );
    server
        .wait_log_line(
            &["source of path 'pulled'", "NetStream.Play.StreamNotFound"],
            Duration::from_secs(10),
        )
        .unwrap_or_else(|| panic!("no failure logged:\n{}", server.log()));
    server
        .wait_log_line(
            &["source of path 'pulled' did not become ready"],
            Duration::from_secs(10),
        )
        .unwrap_or_else(|| panic!("no timeout logged:\n{}", server.log()));
}

#[test]
fn static_rtmp_source_reconnects_when_the_origin_returns() {
    let server = start_server("source-reconnect", "", |port| {
        format!("  origin:\n  pulled:\n    source: rtmp://127.0.0.1:{port}/origin\n")
    });
    let url = server.rtmp_url("origin");
    let mut first = publish(&server.dir, "publisher1", Source::Plain, &url);
    server.wait_ready("pulled", READY);

    // The origin's publisher goes away for longer than the origin keeps its readers.
    first.kill();
    wait_for(Duration::from_secs(40), || {
        server.path_item("pulled").filter(|p| p["ready"] == false)
    })
    .unwrap_or_else(|| panic!("pulled stayed ready:\n{}", server.log()));
    server
        .wait_log_line(
            &["source of path 'pulled'", "retrying in"],
            Duration::from_secs(20),
        )
        .unwrap_or_else(|| panic!("no retry logged:\n{}", server.log()));

    let _second = publish(&server.dir, "publisher2", Source::Plain, &url);
    server.wait_ready("pulled", READY);
    assert_h264_aac(&probe(&server.rtmp_url("pulled"), 3), 45, 70);
}

#[test]
fn rtmp_source_from_nginx_rtmp() {
    let dir = TempDir::new("source-nginx");
    let nginx = Nginx::start(&dir);
    let _publisher = publish(&dir, "publisher", Source::Plain, &nginx.url("live/cam"));
    let cam = nginx.url("live/cam");
    let server = start_server("source-nginx-edge", "", |_| {
        format!("  pulled:\n    source: {cam}\n")
    });
    let item = server.wait_ready("pulled", READY);
    assert_eq!(item["source"]["type"], "rtmpSource", "{item}");
    assert_h264_aac(&probe(&server.rtmp_url("pulled"), 3), 45, 70);
}

#[test]
fn rtmps_source_pinned_by_fingerprint() {
    let dir = TempDir::new("source-rtmps-cert");
    let (key, cert) = self_signed(&dir);
    let mut cmd = Command::new("openssl");
    cmd.args(["x509", "-noout", "-fingerprint", "-sha256", "-in"])
        .arg(&cert);
    let out = run_ok(cmd, Duration::from_secs(10));
    // "sha256 Fingerprint=AB:CD:..." (the prefix's case depends on the OpenSSL version).
    let text = String::from_utf8_lossy(&out.stdout);
    let fingerprint = text
        .trim()
        .split_once('=')
        .map(|(_, f)| f.to_string())
        .unwrap_or_else(|| panic!("unexpected openssl output: {text}"));
    let rtmps_port = free_port();
    let extra = format!(
        "rtmpEncryption: optional\nrtmpsAddress: 127.0.0.1:{rtmps_port}\nrtmpServerKey: {}\nrtmpServerCert: {}\n",
        key.display(),
        cert.display()
    );
    let wrong = "00".repeat(32);
    let server = start_server("source-rtmps", &extra, |_| {
        format!(
            "  origin:\n    forward:\n      - dest: rtmps://127.0.0.1:{rtmps_port}/pushed\n        \
             destFingerprint: {fingerprint}\n      - dest: rtmps://127.0.0.1:{rtmps_port}/stolen\n        \
             destFingerprint: {wrong}\n  pushed:\n  \
             secure:\n    source: rtmps://127.0.0.1:{rtmps_port}/origin\n    sourceFingerprint: {fingerprint}\n  \
             impostor:\n    source: rtmps://127.0.0.1:{rtmps_port}/origin\n    sourceFingerprint: {wrong}\n"
        )
    });
    let _publisher = publish(
        &server.dir,
        "publisher",
        Source::Plain,
        &server.rtmp_url("origin"),
    );
    server.wait_ready("secure", READY);
    assert_h264_aac(&probe(&server.rtmp_url("secure"), 3), 45, 70);
    server
        .wait_log_line(
            &[
                "source of path 'impostor'",
                "does not match the configured fingerprint",
            ],
            Duration::from_secs(10),
        )
        .unwrap_or_else(|| panic!("no fingerprint mismatch logged:\n{}", server.log()));
    let item = server.path_item("impostor").expect("impostor is listed");
    assert_eq!(item["ready"], false, "{item}");
    // Forwards: `destFingerprint` pins the rtmps:// destination the same way.
    server.wait_ready("pushed", READY);
    assert_h264_aac(&probe(&server.rtmp_url("pushed"), 3), 45, 70);
    let bad = wait_for(Duration::from_secs(20), || {
        let v = server.get_json("/v3/paths/forward/list?path=origin");
        let items = v["items"].as_array()?.clone();
        items.into_iter().find(|i| {
            i["conf"]["dest"]
                .as_str()
                .is_some_and(|d| d.ends_with("/stolen"))
                && i["state"] == "error"
        })
    })
    .unwrap_or_else(|| panic!("the mismatching forward did not fail:\n{}", server.log()));
    assert!(
        bad["lastError"]
            .as_str()
            .is_some_and(|e| e.contains("fingerprint")),
        "{bad}"
    );
    assert!(server
        .path_item("stolen")
        .is_none_or(|p| p["ready"] == false));
}

#[test]
fn sources_follow_config_changes_made_through_the_api() {
    let server = start_server("source-api", "", |_| "  origin:\n".to_string());
    let port = server.rtmp_port;
    let _publisher = publish(
        &server.dir,
        "publisher",
        Source::Plain,
        &server.rtmp_url("origin"),
    );
    server.wait_ready("origin", READY);

    // A path added with a source starts pulling at once.
    let body = format!(r#"{{"source":"rtmp://127.0.0.1:{port}/origin"}}"#);
    let r = server.api("POST", "/v3/config/paths/add/pulled", Some(&body));
    assert_eq!(r.status, 200, "add: {}", r.body);
    let item = server.wait_ready("pulled", READY);
    assert_eq!(item["source"]["type"], "rtmpSource", "{item}");
    assert_h264_aac(&probe(&server.rtmp_url("pulled"), 2), 30, 45);

    // Turned into an on-demand source: the running one stops, nothing pulls until a
    // reader comes.
    let r = server.api(
        "PATCH",
        "/v3/config/paths/patch/pulled",
        Some(r#"{"sourceOnDemand":true,"sourceOnDemandCloseAfter":"1s"}"#),
    );
    assert_eq!(r.status, 200, "patch: {}", r.body);
    server.wait_readers("origin", 0, Duration::from_secs(10));
    assert_eq!(server.path_item("pulled").expect("listed")["ready"], false);
    assert_h264_aac(&probe(&server.rtmp_url("pulled"), 2), 30, 45);

    // Deleted: the source stops and the path disappears.
    let mut reader = FfmpegReader::start(&server.dir, "reader", &server.rtmp_url("pulled"), None);
    reader.wait_frames(10, Duration::from_secs(30));
    assert_eq!(readers(&server, "origin"), 1);
    let r = server.api("DELETE", "/v3/config/paths/delete/pulled", None);
    assert_eq!(r.status, 200, "delete: {}", r.body);
    assert!(
        reader.proc.wait_timeout(Duration::from_secs(15)).is_some(),
        "the reader is still connected after its path was deleted"
    );
    server.wait_readers("origin", 0, Duration::from_secs(10));
    assert!(server.path_item("pulled").is_none());
}
