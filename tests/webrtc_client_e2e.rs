//! Our WHIP and WHEP clients against aiortc servers (tests/webrtc/client.py):
//! `forward: whip://` pushes what ffmpeg publishes over RTMP to an aiortc WHIP server that
//! decodes H264 and Opus (the AAC -> Opus rendition); `source: whep://` pulls an aiortc
//! WHEP server's H264 + Opus, and ffprobe decodes it over RTMP (Opus -> AAC rendition).

mod common;

use std::net::TcpStream;
use std::process::Command;
use std::time::Duration;

use common::*;
use serde_json::Value;

fn wait_listening(port: u16) {
    wait_for(Duration::from_secs(30), || {
        TcpStream::connect(("127.0.0.1", port)).ok().map(|_| ())
    })
    .unwrap_or_else(|| panic!("the aiortc server did not listen on {port}"));
}

#[test]
fn forward_to_an_aiortc_whip_server() {
    let port = free_port();
    let server_thread = std::thread::spawn(move || {
        run_client(
            &["whip-server", &port.to_string(), "--seconds", "5"],
            Duration::from_secs(120),
        )
    });
    wait_listening(port);
    let yaml = format!(
        "paths:\n  \"~^fwd/(.+)$\":\n    forward:\n      - dest: whip://127.0.0.1:{port}/in/$G1/whip\n        whipBearerToken: t0ken\n  all_others:\n"
    );
    let server = Server::start_with(ServerOpts::new("forward-whip", &yaml));
    let _publisher = publish(
        &server.dir,
        "publisher",
        Source::Plain,
        &server.rtmp_url("fwd/cam"),
    );
    server.wait_ready("fwd/cam", Duration::from_secs(20));
    let item: Value = wait_for(Duration::from_secs(30), || {
        let v = server.get_json("/v3/paths/forward/list?path=fwd/cam");
        let item = v["items"].get(0)?.clone();
        (item["state"] == "forwarding").then_some(item)
    })
    .unwrap_or_else(|| panic!("the WHIP forward never started:\n{}", server.log()));
    assert_eq!(item["protocol"], "whip", "{item}");
    assert_eq!(item["conf"]["whipBearerToken"], "t0ken", "{item}");
    let v = server_thread.join().expect("the aiortc WHIP server thread");
    eprintln!("aiortc WHIP server: {v}");
    assert_eq!(v["offers"], 1, "{v}");
    assert_eq!(v["authorization"], "Bearer t0ken", "{v}");
    assert!(
        v["video_frames"].as_u64().unwrap_or(0) > 60,
        "video frames decoded by aiortc: {v}"
    );
    assert!(
        v["audio_frames"].as_u64().unwrap_or(0) > 100,
        "Opus frames decoded by aiortc (AAC -> Opus rendition): {v}"
    );
    let item = server.get_json("/v3/paths/forward/list?path=fwd/cam")["items"][0].clone();
    assert!(
        item["outboundBytes"].as_u64().unwrap_or(0) > 100_000,
        "{item}"
    );
}

/// A WHIP forward whose server goes away reconnects when it comes back: the first aiortc
/// WHIP server stops after 4 s, a second one starts on the same port a little later and
/// decodes the stream again, and the API shows the forward back in `forwarding`.
#[test]
fn whip_forward_reconnects_after_the_server_restarts() {
    let port = free_port();
    let whip_server = move || {
        std::thread::spawn(move || {
            run_client(
                &["whip-server", &port.to_string(), "--seconds", "4"],
                Duration::from_secs(120),
            )
        })
    };
    let first = whip_server();
    wait_listening(port);
    let yaml = format!(
        "paths:\n  cam:\n    forward:\n      - dest: whip://127.0.0.1:{port}/in/whip\n  all_others:\n"
    );
    let server = Server::start_with(ServerOpts::new("forward-whip-again", &yaml));
    let _publisher = publish(
        &server.dir,
        "publisher",
        Source::Plain,
        &server.rtmp_url("cam"),
    );
    server.wait_ready("cam", Duration::from_secs(20));
    let v = first.join().expect("the first aiortc WHIP server");
    assert!(
        v["video_frames"].as_u64().unwrap_or(0) > 30,
        "first server: {v}"
    );
    // The forward notices that the server left, and retries while it is away.
    let state = wait_for(Duration::from_secs(40), || {
        let v = server.get_json("/v3/paths/forward/list?path=cam");
        let item = v["items"].get(0)?.clone();
        (item["state"] != "forwarding").then_some(item)
    })
    .unwrap_or_else(|| {
        panic!(
            "the forward never noticed the server left:\n{}",
            server.log()
        )
    });
    eprintln!("while the WHIP server is away: {state}");
    std::thread::sleep(Duration::from_secs(2));
    let second = whip_server();
    let v = second.join().expect("the second aiortc WHIP server");
    eprintln!("second aiortc WHIP server: {v}");
    assert_eq!(v["offers"], 1, "{v}");
    assert!(
        v["video_frames"].as_u64().unwrap_or(0) > 30,
        "second server: {v}"
    );
    assert!(
        v["audio_frames"].as_u64().unwrap_or(0) > 50,
        "second server: {v}"
    );
    assert!(
        server.log().contains("whip://127.0.0.1"),
        "the forward's reconnection is logged:\n{}",
        server.log()
    );
}

#[test]
fn source_from_an_aiortc_whep_server() {
    let port = free_port();
    let server_thread = std::thread::spawn(move || {
        run_client(
            &["whep-server", &port.to_string(), "--seconds", "25"],
            Duration::from_secs(120),
        )
    });
    wait_listening(port);
    let yaml = format!("paths:\n  cam:\n    source: whep://127.0.0.1:{port}/cam/whep\n");
    let server = Server::start_with(ServerOpts::new("source-whep", &yaml));
    let item = server.wait_ready("cam", Duration::from_secs(30));
    assert_eq!(item["source"]["type"], "webRTCSource", "{item}");
    let streams = probe(&server.rtmp_url("cam"), 4);
    eprintln!("RTMP read of the WHEP source: {streams:?}");
    // aiortc sends 30 fps H264 and 50 Opus packets/s; RTMP readers get AAC.
    assert_h264_aac(&streams, 60, 100);
    let v = server_thread.join().expect("the aiortc WHEP server thread");
    assert!(v["sessions"].as_u64().unwrap_or(0) >= 1, "{v}");
}

/// `/v3/webrtcsessions`: an aiortc WHEP reader is listed with MediaMTX's fields, its RTP
/// counters grow, `get` finds it and `kick` ends it.
#[test]
fn webrtc_sessions_api_with_rtp_counters_and_kick() {
    let http = free_port();
    let udp = free_udp_port();
    let yaml = format!(
        "webrtc: yes\nwebrtcAddress: 127.0.0.1:{http}\nwebrtcLocalUDPAddress: 127.0.0.1:{udp}\n"
    );
    let server = Server::start_with(ServerOpts::new("webrtc-sessions-api", &yaml));
    let _publisher = publish(
        &server.dir,
        "publisher",
        Source::Plain,
        &server.rtmp_url("live/show"),
    );
    server.wait_ready("live/show", Duration::from_secs(20));
    let url = format!("http://127.0.0.1:{http}/live/show/whep");
    let reader = std::thread::spawn(move || {
        run_client(&["whep", &url, "--seconds", "20"], Duration::from_secs(90))
    });
    let item: Value = wait_for(Duration::from_secs(30), || {
        let v = server.get_json("/v3/webrtcsessions/list");
        let item = v["items"].get(0)?.clone();
        (item["outboundRTPPackets"].as_u64()? > 100).then_some(item)
    })
    .unwrap_or_else(|| {
        panic!(
            "no WebRTC session with RTP counters: {}\n{}",
            server.get_json("/v3/webrtcsessions/list"),
            server.log()
        )
    });
    eprintln!("listed session: {item}");
    assert_eq!(item["state"], "read", "{item}");
    assert_eq!(item["path"], "live/show", "{item}");
    assert_eq!(item["peerConnectionEstablished"], true, "{item}");
    assert_eq!(item["rtpPacketsSent"], item["outboundRTPPackets"], "{item}");
    assert!(
        item["outboundBytes"].as_u64().unwrap_or(0) > 10_000,
        "{item}"
    );
    let id = item["id"].as_str().expect("an id").to_string();
    let got = server.get_json(&format!("/v3/webrtcsessions/get/{id}"));
    assert_eq!(got["id"], id, "{got}");
    let r = server.api("POST", &format!("/v3/webrtcsessions/kick/{id}"), None);
    assert_eq!(r.status, 200, "{r:?}");
    wait_for(Duration::from_secs(10), || {
        (server.get_json("/v3/webrtcsessions/list")["itemCount"] == 0).then_some(())
    })
    .expect("the kicked session is still listed");
    let v = reader.join().expect("the WHEP reader thread");
    assert!(v["video_frames"].as_u64().unwrap_or(0) > 10, "{v}");
}

/// G711 over WebRTC, both ways: ffmpeg publishes H264 + PCMU over RTSP and aiortc reads
/// both over WHEP; aiortc publishes H264 + PCMA over WHIP and another aiortc reads it back.
#[test]
fn g711_over_webrtc_both_ways() {
    require("ffmpeg");
    let (http, udp, rtsp) = (free_port(), free_udp_port(), free_port());
    let yaml = format!(
        "webrtc: yes\nwebrtcAddress: 127.0.0.1:{http}\nwebrtcLocalUDPAddress: 127.0.0.1:{udp}\n\
         rtsp: yes\nrtspAddress: 127.0.0.1:{rtsp}\nrtspTransports: [tcp]\n"
    );
    let server = Server::start_with(ServerOpts::new("webrtc-g711", &yaml));
    let mut cmd = Command::new("ffmpeg");
    cmd.args(["-hide_banner", "-loglevel", "warning", "-nostdin", "-re"])
        .args(["-stream_loop", "-1", "-i"])
        .arg(source(Source::Plain))
        .args([
            "-c:v",
            "copy",
            "-c:a",
            "pcm_mulaw",
            "-ar",
            "8000",
            "-ac",
            "1",
        ])
        .args(["-f", "rtsp", "-rtsp_transport", "tcp"])
        .arg(format!("rtsp://127.0.0.1:{rtsp}/g711/cam"));
    let _ffmpeg = Proc::spawn("ffmpeg-rtsp-pcmu", cmd, &server.dir);
    // The path has H264 + G711, and an aiortc WHEP reader decodes both.
    let read = |path: &str| {
        let item = server.wait_ready(path, Duration::from_secs(20));
        assert_eq!(
            item["tracks"],
            serde_json::json!(["H264", "G711"]),
            "{item}"
        );
        let url = format!("http://127.0.0.1:{http}/{path}/whep");
        let v = run_client(&["whep", &url, "--seconds", "5"], Duration::from_secs(60));
        eprintln!("aiortc WHEP reader of {path}: {v}");
        assert!(v["video_frames"].as_u64().unwrap_or(0) > 30, "{v}");
        // 20 ms G711 packets: ~250 in 5 s.
        assert!(v["audio_frames"].as_u64().unwrap_or(0) > 100, "{v}");
    };
    read("g711/cam");

    let url = format!("http://127.0.0.1:{http}/g711/web/whip");
    let mut cmd = Command::new(aiortc_python());
    cmd.arg(client_script())
        .args(["whip", &url, "--seconds", "20", "--audio", "pcma"]);
    let mut publisher = Proc::spawn("aiortc-whip-pcma", cmd, &server.dir);
    read("g711/web");
    publisher.kill();
}

/// An independent WHEP reader that decodes H265: GStreamer's webrtcbin
/// (tests/webrtc/gst_whep.py; aiortc and Debian's Chromium have no H265 over WebRTC).
/// ffmpeg publishes H265 + Opus over RTSP; the reader decodes both, and H264 + Opus from
/// another path the same way.
#[test]
fn h265_and_h264_over_webrtc_to_gstreamer_webrtcbin() {
    require("ffmpeg");
    require("/usr/bin/python3");
    for e in [
        "webrtcbin",
        "nicesrc",
        "rtph265depay",
        "avdec_h265",
        "opusdec",
    ] {
        require_gst_element(e);
    }
    let (http, udp, rtsp) = (free_port(), free_udp_port(), free_port());
    let yaml = format!(
        "webrtc: yes\nwebrtcAddress: 127.0.0.1:{http}\nwebrtcLocalUDPAddress: 127.0.0.1:{udp}\n\
         rtsp: yes\nrtspAddress: 127.0.0.1:{rtsp}\nrtspTransports: [tcp]\n"
    );
    let server = Server::start_with(ServerOpts::new("webrtc-h265", &yaml));
    for (codec, encoder) in [("h265", "libx265"), ("h264", "libx264")] {
        let mut cmd = Command::new("ffmpeg");
        cmd.args(["-hide_banner", "-loglevel", "warning", "-nostdin", "-re"])
            .args(["-f", "lavfi", "-i", "testsrc=size=320x240:rate=30"])
            .args(["-f", "lavfi", "-i", "sine=frequency=440:sample_rate=48000"])
            .args([
                "-c:v", encoder, "-pix_fmt", "yuv420p", "-g", "30", "-bf", "0",
            ])
            .args(["-preset", "ultrafast"]);
        if codec == "h265" {
            cmd.args(["-x265-params", "log-level=error"]);
        }
        cmd.args(["-c:a", "libopus", "-t", "60"])
            .args(["-f", "rtsp", "-rtsp_transport", "tcp"])
            .arg(format!("rtsp://127.0.0.1:{rtsp}/{codec}"));
        let _ffmpeg = Proc::spawn(&format!("ffmpeg-rtsp-{codec}"), cmd, &server.dir);
        let item = server.wait_ready(codec, Duration::from_secs(30));
        eprintln!("path {codec}: {item}");
        let mut cmd = Command::new("/usr/bin/python3");
        cmd.arg(client_script().with_file_name("gst_whep.py"))
            .arg(format!("http://127.0.0.1:{http}/{codec}/whep"))
            .args(["--codec", codec, "--seconds", "5", "--audio"]);
        let r = run(cmd, Duration::from_secs(60));
        eprintln!(
            "gst_whep {codec}: {:?}\n{}\n{}",
            r.status, r.stdout, r.stderr
        );
        assert!(r.success(), "gst_whep.py failed");
        let v: Value = r
            .stdout
            .lines()
            .rev()
            .find_map(|l| serde_json::from_str(l).ok())
            .expect("gst_whep.py printed no JSON");
        assert_eq!(v["error"], Value::Null, "{v}");
        assert_eq!(v["video_codec"], codec.to_uppercase(), "{v}");
        assert_eq!(v["width"], 320, "{v}");
        // 30 fps for 5 s, 20 ms Opus packets: well above these.
        assert!(v["video_frames"].as_u64().unwrap_or(0) > 60, "{v}");
        assert!(v["audio_frames"].as_u64().unwrap_or(0) > 100, "{v}");
    }
}
