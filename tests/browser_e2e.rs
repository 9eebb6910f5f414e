//! The two user journeys with a real browser: headless Chromium (Debian's `chromium`),
//! driven by playwright-core (`tests/browser/drive.mjs`) through the server's own pages.
//! 1. OBS (ffmpeg) publishes H264 + AAC over RTMP; Chromium opens the player page
//!    `http://HOST:8889/live/show`: the `<video>` shows the picture (its size is known, its
//!    clock runs, frames are rendered at the stream's pace) and the sound arrives (Opus,
//!    the AAC -> Opus rendition) and is not silence.
//! 2. Chromium opens the publish page `http://HOST:8889/studio/publish` with its fake
//!    camera and microphone and clicks "Publish" (WHIP, H264 + Opus); the path forwards to
//!    an RTMP CDN (nginx-rtmp), where a viewer who joins later decodes H264 + AAC.
//!
//! Chromium offers loopback candidates only with --allow-loopback-in-peer-connection, and
//! offers odd addresses when the machine has other interfaces: each test re-runs itself
//! (this same test, `--exact`) inside a loopback-only network namespace
//! (`unshare -n` + `ip link set lo up`; `unshare -rn` when not root), where the server,
//! ffmpeg, nginx, ffprobe and Chromium all run as the normal harness starts them.
//!
//! Needs `chromium`, `node`, and `npm ci` in tests/browser (playwright-core); `.ci/run`
//! installs them. Missing tools fail the tests, never skip them.

mod common;

use std::path::PathBuf;
use std::process::Command;
use std::time::Duration;

use serde_json::Value;

use common::*;

/// Set in the re-run inside the namespace.
const IN_NETNS: &str = "FERROCAST_BROWSER_NETNS";

/// Runs `body` in a loopback-only network namespace: outside one, re-runs the test named
/// `test` (this binary, `--exact`) under `unshare -n` and asserts that it passed.
fn in_netns(test: &str, body: impl FnOnce()) {
    if std::env::var_os(IN_NETNS).is_some() {
        body();
        return;
    }
    require("unshare");
    require("ip");
    // Checked here too, so that a missing tool says so at once.
    require_browser();
    let exe = std::env::current_exe().expect("the test binary's path");
    let mut cmd = Command::new("unshare");
    if !is_root() {
        // A user namespace where we are root, so that `ip` may bring `lo` up.
        cmd.arg("--map-root-user");
    }
    // `lo` is down in a new namespace: bring it up, then become the test.
    let up_then_exec = "ip link set lo up && exec \"$@\"";
    cmd.args(["--net", "--", "sh", "-c", up_then_exec, "sh"])
        .arg(&exe)
        .args([
            test,
            "--exact",
            "--nocapture",
            "--include-ignored",
            "--test-threads=1",
        ])
        .env(IN_NETNS, "1");
    let r = run(cmd, Duration::from_secs(300));
    eprintln!(
        "===== {test} in a loopback-only network namespace ({:?}, {:?}) =====\n{}\n{}\n===== end of {test} =====",
        r.status, r.elapsed, r.stdout, r.stderr
    );
    // The first line of the inner test's panic message, for the summary.
    let why: String = r
        .stderr
        .lines()
        .skip_while(|l| !l.contains("panicked at"))
        .nth(1)
        .unwrap_or("(no panic message)")
        .chars()
        .take(1000)
        .collect();
    assert!(
        r.success(),
        "{test} failed in the network namespace ({:?}); its output is above. {why}",
        r.status
    );
    // Guard against a filter that ran nothing.
    assert!(
        r.stdout.contains("1 passed"),
        "the re-run of {test} did not run it:\n{}",
        r.stdout
    );
}

fn is_root() -> bool {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("Uid:"))
                .and_then(|l| l.split_whitespace().nth(1).map(|u| u == "0"))
        })
        .unwrap_or(false)
}

fn browser_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/browser")
}

/// Chromium, node and playwright-core must be there.
fn require_browser() {
    require("chromium");
    require("node");
    let pw = browser_dir().join("node_modules/playwright-core/package.json");
    assert!(
        pw.is_file(),
        "playwright-core is not installed in {}: run `npm ci` there (.ci/run does)",
        browser_dir().display()
    );
}

fn webrtc_server(label: &str, paths: &str) -> (Server, u16) {
    let http = free_port();
    let udp = free_udp_port();
    let yaml = format!(
        "webrtc: yes\nwebrtcAddress: 127.0.0.1:{http}\nwebrtcLocalUDPAddress: 127.0.0.1:{udp}\n{paths}"
    );
    (Server::start_with(ServerOpts::new(label, &yaml)), http)
}

/// Chromium flag that leaves it no UDP of its own: it offers no local candidates and
/// reaches the server over ICE-TCP only (docs/ice-tcp.md).
const NO_UDP: &str = "--webrtc-ip-handling-policy=disable_non_proxied_udp";

fn driver(mode: &str, url: &str, seconds: u32) -> Command {
    require_browser();
    let mut cmd = Command::new("node");
    cmd.arg(browser_dir().join("drive.mjs"))
        .args([mode, url, "--seconds", &seconds.to_string()])
        .current_dir(browser_dir());
    cmd
}

/// The driver's result: the last line of `output` that is a JSON object with a `mode`.
fn driver_result(output: &str) -> Value {
    output
        .lines()
        .rev()
        .filter(|l| l.starts_with('{'))
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .find(|v| v.get("mode").is_some())
        .unwrap_or_else(|| panic!("the browser driver printed no result:\n{output}"))
}

fn num(v: &Value, pointer: &str) -> f64 {
    v.pointer(pointer).and_then(Value::as_f64).unwrap_or(0.0)
}

/// `last - first` of a number in the driver's two page snapshots.
fn grew(r: &Value, pointer: &str) -> f64 {
    num(r, &format!("/last{pointer}")) - num(r, &format!("/first{pointer}"))
}

/// The `a=msid` stream ids of the m-sections of an SDP, in order.
fn msid_streams(sdp: &str) -> Vec<String> {
    sdp.lines()
        .filter_map(|l| l.trim().strip_prefix("a=msid:"))
        .filter_map(|m| m.split_whitespace().next())
        .map(str::to_string)
        .collect()
}

/// What the test prints of a driver result (the SDPs are printed by the driver itself).
fn summary(r: &Value) -> String {
    let mut r = r.clone();
    if let Some(o) = r.as_object_mut() {
        o.remove("offer");
        o.remove("answer");
    }
    serde_json::to_string_pretty(&r).unwrap_or_default()
}

/// Journey 1: RTMP publisher -> the built-in player page in Chromium; with `ice_tcp`, the
/// server also listens for ICE-TCP and Chromium may not use UDP.
fn rtmp_to_player(label: &str, kind: Source, ice_tcp: bool) {
    const SECONDS: u32 = 5;
    let tcp_port = free_port();
    let extra = if ice_tcp {
        format!("webrtcLocalTCPAddress: 127.0.0.1:{tcp_port}\n")
    } else {
        String::new()
    };
    let (server, http_port) = webrtc_server(label, &extra);
    let url = server.rtmp_url("live/show");
    let _publisher = publish(&server.dir, "publisher", kind, &url);
    server.wait_ready("live/show", Duration::from_secs(20));
    let page = format!("http://127.0.0.1:{http_port}/live/show");
    let mut cmd = driver("player", &page, SECONDS);
    if ice_tcp {
        cmd.env("CHROMIUM_ARGS", NO_UDP);
    }
    let ran = run(cmd, Duration::from_secs(120));
    eprintln!(
        "----- browser driver ({:?}, {:?}) -----\n{}\n{}\n-----",
        ran.status, ran.elapsed, ran.stderr, ran.stdout
    );
    assert!(
        ran.success(),
        "the browser driver failed ({:?})",
        ran.status
    );
    let r = driver_result(&ran.stdout);
    let s = summary(&r);
    eprintln!("player result: {s}");

    // Signalling and transport.
    assert_eq!(r["http_status"], 201, "WHEP POST: {s}");
    assert_eq!(
        r.pointer("/last/pc/connectionState"),
        Some(&Value::from("connected")),
        "{s}"
    );
    let pair = r
        .pointer("/last/pc/pair")
        .and_then(Value::as_str)
        .unwrap_or_default();
    if ice_tcp {
        let answer = r["answer"].as_str().unwrap_or_default();
        assert!(
            answer.contains(&format!("127.0.0.1 {tcp_port} typ host tcptype passive")),
            "the answer has no passive TCP candidate on {tcp_port}: {answer}"
        );
        assert!(
            pair.starts_with("tcp ") && pair.ends_with(&format!(":{tcp_port}")),
            "the selected candidate pair is not ICE-TCP to :{tcp_port}: {pair:?}; {s}"
        );
    } else {
        assert!(pair.starts_with("udp "), "{pair:?}: {s}");
    }
    // Chromium received and decoded H264: over RTP (its WebRTC decoder), or, with
    // B-frames, over the page's data channel (WebCodecs in the page).
    let (decoded, received) = match kind {
        Source::Plain => {
            assert_eq!(
                r.pointer("/last/pc/in_video/codec"),
                Some(&Value::from("video/H264")),
                "{s}"
            );
            assert_eq!(
                r.pointer("/last/wc/mode"),
                Some(&Value::from("rtp")),
                "H264 without B-frames goes over RTP: {s}"
            );
            (
                grew(&r, "/pc/in_video/framesDecoded"),
                grew(&r, "/pc/in_video/framesReceived"),
            )
        }
        Source::BFrames => {
            assert_eq!(
                r.pointer("/last/wc/mode"),
                Some(&Value::from("webcodecs")),
                "H264 with B-frames goes over the data channel to WebCodecs: {s}"
            );
            assert_eq!(num(&r, "/last/wc/errors"), 0.0, "decoder errors: {s}");
            // Every frame reaches the screen in presentation order.
            assert_eq!(
                num(&r, "/last/wc/nonMonotonic"),
                0.0,
                "the decoder gave frames out of presentation order: {s}"
            );
            assert_eq!(
                r.pointer("/last/wc/clock"),
                Some(&Value::from("audio")),
                "the video is paced by the sound: {s}"
            );
            (grew(&r, "/wc/decoded"), grew(&r, "/wc/received"))
        }
    };

    // The page shows the picture.
    let answer = r["answer"].as_str().unwrap_or_default();
    let streams = msid_streams(answer);
    assert!(
        r["started"] == true && num(&r, "/last/video/videoWidth") == 320.0,
        "the player page shows no picture: <video> videoWidth {}, srcObject tracks {}, \
         while Chromium decoded {decoded} of {received} video frames received in the last \
         {SECONDS} s. The answer's a=msid streams per m-line: {streams:?} (the page plays \
         `ontrack`'s streams[0]: audio and video in different streams replace each other). \
         {s}",
        r.pointer("/last/video/videoWidth").unwrap_or(&Value::Null),
        r.pointer("/last/video/srcObjectTracks")
            .unwrap_or(&Value::Null),
    );
    let wall = num(&r, "/wall_seconds").max(1.0);
    let clock = grew(&r, "/video/currentTime");
    assert!(
        clock > 0.8 * wall,
        "the video clock advanced {clock:.2} s in {wall:.2} s: {s}"
    );
    let rendered = grew(&r, "/video/totalVideoFrames");
    let fps = rendered / wall;
    // The source has 30 fps: a user sees fluid motion at half of it at least; with
    // B-frames, every frame must be shown (dropping B-frames would leave about 12 fps).
    let floor = match kind {
        Source::Plain => 15.0,
        Source::BFrames => 0.8 * f64::from(FPS),
    };
    assert!(
        fps >= floor,
        "the player rendered {rendered} frames in {wall:.2} s ({fps:.1} fps; the source has \
         {FPS} fps); Chromium decoded {decoded} of {received} frames received \
         (framesDropped {}, keyFramesDecoded {}, pliCount {}): {s}",
        num(&r, "/last/pc/in_video/framesDropped"),
        num(&r, "/last/pc/in_video/keyFramesDecoded"),
        num(&r, "/last/pc/in_video/pliCount"),
    );

    // The sound: Opus packets, decoded samples at 48 kHz, and not silence.
    assert_eq!(
        r.pointer("/last/pc/in_audio/codec"),
        Some(&Value::from("audio/opus")),
        "{s}"
    );
    let packets = grew(&r, "/pc/in_audio/packetsReceived");
    assert!(
        packets > 40.0 * wall,
        "{packets} audio packets in {wall:.2} s (20 ms Opus: ~50/s): {s}"
    );
    let samples = grew(&r, "/pc/in_audio/totalSamplesReceived");
    assert!(
        samples > 0.8 * 48000.0 * wall,
        "{samples} audio samples in {wall:.2} s at 48 kHz: {s}"
    );
    // The source is a full-scale 440 Hz sine through AAC and Opus: RMS ~0.06 or more.
    let rms = num(&r, "/audio_rms");
    assert!(rms > 0.01, "the received audio is silent (RMS {rms}): {s}");
}

/// Journey 1 as the brief has it: OBS-like H264 with B-frames + AAC. The player page
/// gets the video over a data channel and decodes it with WebCodecs (see below for why
/// Chromium's WebRTC video receiver cannot).
///
/// Why not over RTP (findings of session 2, from Chromium's own logs with
/// CHROMIUM_ARGS="--enable-logging=stderr --vmodule=..."): libwebrtc's H264 depacketizer
/// rewrites the VUI of every SPS it receives to max_num_reorder_frames=0; FFmpeg then
/// never holds a picture back and drops each B-frame as out of order, and libwebrtc's
/// decoder wrapper turns that into a decode error and waits for the next keyframe
/// (docs/webrtc-bframes.md).
#[test]
fn journey1_rtmp_bframes_to_chromium_player() {
    in_netns("journey1_rtmp_bframes_to_chromium_player", || {
        rtmp_to_player("browser-j1-bframes", Source::BFrames, false)
    });
}

/// Journey 1 without B-frames (`-tune zerolatency`), to tell B-frame trouble apart.
#[test]
fn journey1_rtmp_plain_to_chromium_player() {
    in_netns("journey1_rtmp_plain_to_chromium_player", || {
        rtmp_to_player("browser-j1-plain", Source::Plain, false)
    });
}

/// Journey 1 over ICE-TCP (`webrtcLocalTCPAddress`): Chromium may not use UDP, so it
/// connects to the server's passive TCP candidate (RFC 6544, RFC 4571 framing).
#[test]
fn journey1_over_ice_tcp_to_chromium_player() {
    in_netns("journey1_over_ice_tcp_to_chromium_player", || {
        rtmp_to_player("browser-j1-tcp", Source::Plain, true)
    });
}

/// Journey 2: the publish page in Chromium -> WHIP -> forward -> nginx-rtmp -> ffprobe.
#[test]
fn journey2_chromium_publish_page_to_rtmp_cdn() {
    in_netns("journey2_chromium_publish_page_to_rtmp_cdn", || {
        const SECONDS: u32 = 15;
        let dir = TempDir::new("browser-j2-cdn");
        let nginx = Nginx::start(&dir);
        let paths = format!(
            "paths:\n  studio:\n    forward:\n      - dest: {}\n  all_others:\n",
            nginx.url("live/cdnkey")
        );
        let (server, http) = webrtc_server("browser-j2", &paths);
        let page = format!("http://127.0.0.1:{http}/studio/publish");
        let mut browser = Proc::spawn("browser", driver("publish", &page, SECONDS), &server.dir);
        let path = wait_for(Duration::from_secs(30), || {
            assert!(
                browser.is_alive(),
                "the browser driver ended early:\n{}",
                browser.output()
            );
            server.path_item("studio").filter(|p| p["ready"] == true)
        })
        .unwrap_or_else(|| {
            panic!(
                "the browser's WHIP session did not make path 'studio' ready within 30 s; \
                 paths: {}\nbrowser:\n{}",
                server.get_json("/v3/paths/list"),
                browser.output()
            )
        });
        let mut tracks: Vec<&str> = path["tracks"]
            .as_array()
            .map(|a| a.iter().filter_map(Value::as_str).collect())
            .unwrap_or_default();
        tracks.sort_unstable();
        assert_eq!(tracks, ["H264", "Opus"], "{path}");
        // A CDN viewer who joins a few seconds after the start.
        std::thread::sleep(Duration::from_secs(3));
        let streams = probe(&nginx.url("live/cdnkey"), 5);
        // The browser's side of it (keyframes sent, PLIs received).
        let ended = browser.wait_timeout(Duration::from_secs(u64::from(SECONDS) + 30));
        let out = browser.output();
        eprintln!("----- browser driver ({ended:?}) -----\n{out}\n-----");
        assert!(
            ended.map(|s| s.success()).unwrap_or(false),
            "the browser driver failed or hung ({ended:?})"
        );
        let r = driver_result(&out);
        let s = summary(&r);
        eprintln!("publisher result: {s}");
        assert_eq!(r["http_status"], 201, "WHIP POST: {s}");
        assert!(r["started"] == true, "the publisher never connected: {s}");
        assert_eq!(
            r.pointer("/last/pc/out_video/codec"),
            Some(&Value::from("video/H264")),
            "Chromium sent no H264: {s}"
        );
        let video = streams.iter().find(|s| s.codec_type == "video");
        assert!(
            video.is_some_and(|v| v.frames >= 20),
            "the CDN viewer (ffprobe on nginx, joined ~3 s after the start, reading 5 s) \
             decoded no H264: {streams:?}. Chromium encoded {} keyframe(s) in {} s \
             (pliCount {}, firCount {}): an RTMP viewer can only start on a keyframe, and \
             a WebRTC encoder sends one only when asked. {s}",
            num(&r, "/last/pc/out_video/keyFramesEncoded"),
            num(&r, "/wall_seconds") + num(&r, "/start_seconds"),
            num(&r, "/last/pc/out_video/pliCount"),
            num(&r, "/last/pc/out_video/firCount"),
        );
        assert_h264_aac(&streams, 20, 45);
    });
}
