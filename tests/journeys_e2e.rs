//! The user journeys across protocols, against the real binary with WebRTC on:
//! 1. OBS (ffmpeg) publishes H264 + AAC over RTMP; a WebRTC reader (aiortc, over WHEP)
//!    decodes the video and the audio (AAC -> Opus rendition).
//! 2. A browser (aiortc) publishes H264 + Opus over WHIP; the path forwards to an RTMP CDN
//!    (nginx-rtmp) that receives H264 + AAC (Opus -> AAC rendition), and RTMP readers of the
//!    path get AAC too.

mod common;

use std::time::Duration;

use common::*;

fn webrtc_server(label: &str, paths: &str) -> (Server, u16) {
    let http = free_port();
    let udp = free_udp_port();
    let yaml = format!(
        "webrtc: yes\nwebrtcAddress: 127.0.0.1:{http}\nwebrtcLocalUDPAddress: 127.0.0.1:{udp}\n{paths}"
    );
    (Server::start_with(ServerOpts::new(label, &yaml)), http)
}

#[test]
fn journey1_rtmp_to_webrtc_with_sound() {
    let (server, http_port) = webrtc_server("journey1", "");
    let url = server.rtmp_url("live/show");
    let _publisher = publish(&server.dir, "publisher", Source::BFrames, &url);
    server.wait_ready("live/show", Duration::from_secs(20));
    let v = run_client(
        &[
            "whep",
            &format!("http://127.0.0.1:{http_port}/live/show/whep"),
            "--seconds",
            "5",
        ],
        Duration::from_secs(60),
    );
    let video = v["video_frames"].as_u64().unwrap_or(0);
    let audio = v["audio_frames"].as_u64().unwrap_or(0);
    assert!(video > 60, "video frames: {v}");
    // 20 ms Opus frames: ~250 in 5 s.
    assert!(audio > 100, "audio frames (AAC -> Opus rendition): {v}");
    assert!(
        server.log().contains("rendition started"),
        "{}",
        server.log()
    );
    // The RTMP reader of the same path still gets AAC (it never sees the rendition).
    let streams = probe(&url, 2);
    assert_h264_aac(&streams, 30, 45);
    // The player page is served.
    let page = http(http_port, "GET", "/live/show", None).expect("player page");
    assert_eq!(page.status, 200);
}

#[test]
fn journey2_whip_to_rtmp_cdn_with_aac() {
    let dir = TempDir::new("journey2-cdn");
    let nginx = Nginx::start(&dir);
    let paths = format!(
        "paths:\n  studio:\n    forward:\n      - dest: {}\n  all_others:\n",
        nginx.url("live/cdnkey")
    );
    let (server, http) = webrtc_server("journey2", &paths);
    let whip_url = format!("http://127.0.0.1:{http}/studio/whip");
    let mut cmd = std::process::Command::new(aiortc_python());
    cmd.arg(client_script())
        .args(["whip", &whip_url, "--seconds", "25"]);
    let _whip = Proc::spawn("whip", cmd, &server.dir);
    let path = server.wait_ready("studio", Duration::from_secs(30));
    assert_eq!(
        path["tracks"],
        serde_json::json!(["H264", "Opus"]),
        "{path}"
    );
    // Give the CDN a keyframe interval to start.
    std::thread::sleep(Duration::from_secs(3));
    let streams = probe(&nginx.url("live/cdnkey"), 3);
    assert_h264_aac(&streams, 20, 45);
    let streams = probe(&server.rtmp_url("studio"), 3);
    assert_h264_aac(&streams, 20, 45);
}
