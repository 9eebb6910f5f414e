//! RTSP server end to end with real clients: ffmpeg publishes over TCP; ffprobe and
//! GStreamer read over TCP; RTMP <-> RTSP both ways; bad requests close only their own
//! connection.

mod common;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::process::Command;
use std::time::Duration;

use common::*;

fn rtsp_server(label: &str) -> (Server, u16) {
    let port = free_port();
    let yaml = format!("rtsp: yes\nrtspAddress: 127.0.0.1:{port}\nrtspTransports: [tcp]\n");
    (Server::start_with(ServerOpts::new(label, &yaml)), port)
}

fn rtsp_publish(dir: &TempDir, name: &str, kind: Source, url: &str) -> Proc {
    require("ffmpeg");
    let mut cmd = Command::new("ffmpeg");
    clean_env(&mut cmd);
    cmd.args(["-hide_banner", "-loglevel", "warning", "-nostdin", "-re"])
        .args(["-stream_loop", "-1", "-i"])
        .arg(source(kind))
        .args(["-c", "copy", "-f", "rtsp", "-rtsp_transport", "tcp"])
        .arg(url);
    Proc::spawn(name, cmd, dir)
}

/// ffmpeg publishes H264 + AAC over RTSP/TCP; ffprobe decodes it over RTSP/TCP and over
/// RTMP (cross-protocol), and the API shows the path with both tracks.
#[test]
fn ffmpeg_publishes_rtsp_tcp_read_by_rtsp_and_rtmp() {
    let (server, port) = rtsp_server("rtsp-publish");
    let url = format!("rtsp://127.0.0.1:{port}/live/cam");
    let _publisher = rtsp_publish(&server.dir, "publisher", Source::Plain, &url);
    let path = server.wait_ready("live/cam", Duration::from_secs(20));
    assert_eq!(
        path["tracks"],
        serde_json::json!(["H264", "MPEG-4 Audio"]),
        "{path}"
    );
    let rtsp = probe_raw(&url, 4, &["-rtsp_transport", "tcp"]);
    assert!(rtsp.success(), "ffprobe over RTSP failed: {}", rtsp.stderr);
    let streams = parse_probe(&rtsp.stdout);
    eprintln!("RTSP read: {streams:?}");
    assert_h264_aac(&streams, 60, 100);
    let streams = probe(&server.rtmp_url("live/cam"), 4);
    assert_h264_aac(&streams, 60, 100);
}

/// An RTMP publisher (OBS-like, with B-frames) read over RTSP/TCP by ffprobe and by
/// GStreamer's rtspsrc, which decodes the video.
#[test]
fn rtmp_publisher_read_over_rtsp_by_ffprobe_and_gstreamer() {
    let (server, port) = rtsp_server("rtsp-read");
    let _publisher = publish(
        &server.dir,
        "publisher",
        Source::BFrames,
        &server.rtmp_url("live/show"),
    );
    server.wait_ready("live/show", Duration::from_secs(20));
    let url = format!("rtsp://127.0.0.1:{port}/live/show");
    let r = probe_raw(&url, 4, &["-rtsp_transport", "tcp"]);
    assert!(r.success(), "ffprobe over RTSP failed: {}", r.stderr);
    let streams = parse_probe(&r.stdout);
    eprintln!("RTSP read: {streams:?}");
    assert_h264_aac(&streams, 60, 100);

    require("gst-launch-1.0");
    require_gst_element("rtspsrc");
    let mut cmd = Command::new("gst-launch-1.0");
    clean_env(&mut cmd);
    cmd.arg("rtspsrc")
        .arg(format!("location={url}"))
        .args([
            "protocols=tcp",
            "latency=100",
            "!",
            "rtph264depay",
            "!",
            "h264parse",
        ])
        .args([
            "!",
            "avdec_h264",
            "!",
            "identity",
            "eos-after=60",
            "silent=false",
        ])
        .args(["!", "fakesink", "-v"]);
    let ran = run(cmd, Duration::from_secs(30));
    let decoded = ran.stdout.matches("chain").count();
    assert!(
        ran.success() && decoded >= 30,
        "GStreamer decoded {decoded} frames ({:?}):\n{}\n{}",
        ran.status,
        ran.stdout.chars().take(2000).collect::<String>(),
        ran.stderr
    );
}

/// Garbage, an oversized request and a malformed interleaved frame each close their own
/// connection with an error; a reader on another connection keeps reading.
#[test]
fn malformed_requests_close_only_their_connection() {
    let (server, port) = rtsp_server("rtsp-bad");
    let url = format!("rtsp://127.0.0.1:{port}/live/cam");
    let _publisher = rtsp_publish(&server.dir, "publisher", Source::Plain, &url);
    server.wait_ready("live/cam", Duration::from_secs(20));
    let mut reader = FfmpegReader::start(&server.dir, "reader", &url, None);
    assert!(reader.wait_frames(30, Duration::from_secs(20)) >= 30);

    let send = |bytes: &[u8]| -> String {
        let mut s = TcpStream::connect(("127.0.0.1", port)).expect("connect");
        s.set_read_timeout(Some(Duration::from_secs(5))).ok();
        let _ = s.write_all(bytes);
        let mut out = Vec::new();
        let _ = s.read_to_end(&mut out);
        String::from_utf8_lossy(&out).into_owned()
    };
    let r = send(b"GARBAGE\r\n\r\n");
    assert!(r.starts_with("RTSP/1.0 400"), "{r:?}");
    let r = send(&vec![b'A'; 64 * 1024]);
    assert!(r.starts_with("RTSP/1.0 400"), "{r:?}");
    let r = send(b"OPTIONS rtsp://x/ RTSP/1.0\r\nCSeq: 1\r\nContent-Length: 999999999\r\n\r\n");
    assert!(r.starts_with("RTSP/1.0 400"), "{r:?}");
    let r = send(b"OPTIONS rtsp://x/ RTSP/1.0\r\nCSeq: 7\r\n\r\n");
    assert!(
        r.starts_with("RTSP/1.0 200") && r.contains("CSeq: 7"),
        "{r:?}"
    );

    let before = reader.frames();
    assert!(
        reader.wait_frames(before + 30, Duration::from_secs(20)) >= before + 30,
        "the reader stopped after the bad connections"
    );
    assert!(
        server.log().contains("malformed request"),
        "{}",
        server.log()
    );
}
