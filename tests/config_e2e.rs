//! The binary's command line and configuration loading: strict keys with locations,
//! `--version`/`--help`, MediaMTX's own reference file, `./mediamtx.yml`, the embedded
//! default and `MTX_*` overrides.

mod common;

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use common::*;

fn ferrocast(args: &[&str], dir: &TempDir) -> Ran {
    let mut cmd = Command::new(FERROCAST);
    cmd.args(args).current_dir(&dir.path);
    clean_env(&mut cmd);
    run(cmd, Duration::from_secs(15))
}

/// Runs the binary on `yaml`; it must exit with an error naming `key` at `line`.
fn assert_rejected(yaml: &str, key: &str, line: usize) {
    let dir = TempDir::new("badconf");
    let file = dir.join("bad.yml");
    std::fs::write(&file, yaml).unwrap();
    let r = ferrocast(&[file.to_str().unwrap()], &dir);
    let out = r.all_output();
    eprintln!("output for unknown key '{key}': {}", out.trim());
    assert!(
        r.status.is_some(),
        "the server kept running with an unknown key '{key}'"
    );
    assert!(
        !r.success(),
        "exit status 0 with an unknown key '{key}': {out}"
    );
    assert!(out.contains(key), "the error does not name '{key}': {out}");
    let location = format!("{}:{line}:", file.display());
    assert!(
        out.contains(&location),
        "the error does not give the location '{location}COL': {out}"
    );
}

#[test]
fn unknown_keys_fail_with_file_line_and_column() {
    let rtmp = free_port();
    assert_rejected(
        &format!("logLevel: info\nrtmpAddress: 127.0.0.1:{rtmp}\napi: no\nnotARealKey: 1\n"),
        "notARealKey",
        4,
    );
    // Inside a path.
    assert_rejected(
        &format!(
            "rtmpAddress: 127.0.0.1:{rtmp}\n\
             paths:\n\
             \x20 cam:\n\
             \x20   source: publisher\n\
             \x20   sourcee: publisher\n"
        ),
        "sourcee",
        5,
    );
    // Inside pathDefaults.
    assert_rejected(
        &format!("rtmpAddress: 127.0.0.1:{rtmp}\npathDefaults:\n  maxReadrs: 3\n"),
        "maxReadrs",
        3,
    );
}

#[test]
fn invalid_values_fail() {
    let dir = TempDir::new("badvalue");
    let file = dir.join("bad.yml");
    std::fs::write(&file, "rtmpAddress: 127.0.0.1:1\nwriteQueueSize: lots\n").unwrap();
    let r = ferrocast(&[file.to_str().unwrap()], &dir);
    assert!(r.status.is_some() && !r.success(), "{}", r.all_output());
    assert!(
        r.all_output().contains("writeQueueSize"),
        "{}",
        r.all_output()
    );

    let r = ferrocast(&[dir.join("missing.yml").to_str().unwrap()], &dir);
    assert!(
        r.status.is_some() && !r.success(),
        "a missing configuration file must fail: {}",
        r.all_output()
    );
}

#[test]
fn version_and_help() {
    let dir = TempDir::new("cli");
    for flag in ["--version", "-V"] {
        let r = ferrocast(&[flag], &dir);
        assert!(r.success(), "{flag}: {}", r.all_output());
        assert!(
            r.stdout.contains(env!("CARGO_PKG_VERSION")),
            "{flag} does not print the version: {}",
            r.stdout
        );
    }
    for flag in ["--help", "-h"] {
        let r = ferrocast(&[flag], &dir);
        assert!(r.success(), "{flag}: {}", r.all_output());
        assert!(r.stdout.contains("Usage"), "{flag}: {}", r.stdout);
        assert!(r.stdout.contains("mediamtx.yml"), "{flag}: {}", r.stdout);
    }
    let r = ferrocast(&["--no-such-option"], &dir);
    assert!(
        r.status.is_some() && !r.success(),
        "an unknown option must fail: {}",
        r.all_output()
    );
}

#[test]
fn mediamtx_reference_config_starts() {
    let reference =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/reference/mediamtx-default.yml");
    if !reference.is_file() {
        eprintln!(
            "{} is absent: skipping the reference-config check",
            reference.display()
        );
        return;
    }
    let dir = TempDir::new("reference");
    let rtmp = free_port();
    let api = free_port();
    let env = vec![
        ("MTX_RTMPADDRESS".to_string(), format!("127.0.0.1:{rtmp}")),
        (
            "MTX_RTMPSADDRESS".to_string(),
            format!("127.0.0.1:{}", free_port()),
        ),
        ("MTX_API".to_string(), "yes".to_string()),
        // WebRTC is on in these configurations: keep it off the default ports.
        (
            "MTX_WEBRTCADDRESS".to_string(),
            format!("127.0.0.1:{}", free_port()),
        ),
        (
            "MTX_WEBRTCLOCALUDPADDRESS".to_string(),
            format!("127.0.0.1:{}", free_udp_port()),
        ),
        ("MTX_APIADDRESS".to_string(), format!("127.0.0.1:{api}")),
        // RTSP too (parallel tests can't share :8554).
        (
            "MTX_RTSPADDRESS".to_string(),
            format!("127.0.0.1:{}", free_port()),
        ),
        (
            "MTX_RTPADDRESS".to_string(),
            format!("127.0.0.1:{}", free_udp_port()),
        ),
        (
            "MTX_RTCPADDRESS".to_string(),
            format!("127.0.0.1:{}", free_udp_port()),
        ),
    ];
    let config = reference.display().to_string();
    let server = Server::launch(dir, Some(&config), &env, rtmp, api);
    // A warning lists what the file sets that Ferrocast does not implement yet.
    let line = server
        .wait_log_line(&["WARN", "not implemented"], Duration::from_secs(5))
        .unwrap_or_else(|| panic!("no warning about unimplemented keys:\n{}", server.log()));
    eprintln!("{line}");
    for key in ["hls", "srt"] {
        assert!(
            line.split(|c: char| !c.is_ascii_alphanumeric())
                .any(|w| w == key),
            "the warning does not list '{key}': {line}"
        );
    }
    // The env overrides took effect, and the server serves RTMP.
    let global = server.get_json("/v3/config/global/get");
    assert_eq!(
        global["rtmpAddress"],
        format!("127.0.0.1:{rtmp}"),
        "{global}"
    );
    let url = server.rtmp_url("mystream");
    let _publisher = publish(&server.dir, "publisher", Source::Plain, &url);
    server.wait_ready("mystream", Duration::from_secs(20));
    assert_h264_aac(&probe(&url, 2), 30, 45);
}

#[test]
fn mediamtx_yml_in_working_directory_is_used() {
    let dir = TempDir::new("cwdconf");
    let rtmp = free_port();
    let api = free_port();
    std::fs::write(
        dir.join("mediamtx.yml"),
        format!(
            "rtmpAddress: 127.0.0.1:{rtmp}\napi: yes\napiAddress: 127.0.0.1:{api}\n\
             writeQueueSize: 256\nwebrtc: no\nrtsp: no\npaths:\n  all_others:\n"
        ),
    )
    .unwrap();
    let server = Server::launch(dir, None, &[], rtmp, api);
    let global = server.get_json("/v3/config/global/get");
    assert_eq!(global["writeQueueSize"], 256, "{global}");
    assert!(
        server.log().contains("mediamtx.yml"),
        "the log does not say which configuration was loaded:\n{}",
        server.log()
    );
}

#[test]
fn embedded_default_and_env_overrides() {
    // No argument and no ./mediamtx.yml: the embedded default, with env overrides.
    let dir = TempDir::new("embedded");
    let rtmp = free_port();
    let api = free_port();
    let env = vec![
        ("MTX_RTMPADDRESS".to_string(), format!("127.0.0.1:{rtmp}")),
        (
            "MTX_RTMPSADDRESS".to_string(),
            format!("127.0.0.1:{}", free_port()),
        ),
        ("MTX_API".to_string(), "yes".to_string()),
        // WebRTC is on in these configurations: keep it off the default ports.
        (
            "MTX_WEBRTCADDRESS".to_string(),
            format!("127.0.0.1:{}", free_port()),
        ),
        (
            "MTX_WEBRTCLOCALUDPADDRESS".to_string(),
            format!("127.0.0.1:{}", free_udp_port()),
        ),
        ("MTX_APIADDRESS".to_string(), format!("127.0.0.1:{api}")),
        // RTSP too (parallel tests can't share :8554).
        (
            "MTX_RTSPADDRESS".to_string(),
            format!("127.0.0.1:{}", free_port()),
        ),
        (
            "MTX_RTPADDRESS".to_string(),
            format!("127.0.0.1:{}", free_udp_port()),
        ),
        (
            "MTX_RTCPADDRESS".to_string(),
            format!("127.0.0.1:{}", free_udp_port()),
        ),
        ("MTX_WRITEQUEUESIZE".to_string(), "2048".to_string()),
    ];
    let server = Server::launch(dir, None, &env, rtmp, api);
    assert!(
        server.log().contains("embedded default"),
        "the log does not say the embedded default was loaded:\n{}",
        server.log()
    );
    let global = server.get_json("/v3/config/global/get");
    assert_eq!(global["writeQueueSize"], 2048, "{global}");
    // The default configuration accepts any path.
    let url = server.rtmp_url("live/anything");
    let _publisher = publish(&server.dir, "publisher", Source::Plain, &url);
    server.wait_ready("live/anything", Duration::from_secs(20));
    assert_h264_aac(&probe(&url, 2), 30, 45);
}
