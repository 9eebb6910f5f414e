//! RTSP pull sources (`source: rtsp://...`): a camera-like RTSP server (GStreamer's
//! gst-rtsp-server, tests/camera/rtsp_camera.py) is pulled over TCP and UDP, statically and
//! on demand, with credentials; RTMP, RTSP and WebRTC readers decode what it sends; the
//! path recovers when the camera restarts. An edge pulls an origin Ferrocast over RTSP
//! with Digest authentication.

mod common;

use std::fs;
use std::net::TcpStream;
use std::path::PathBuf;
use std::process::Command;
use std::time::Duration;

use common::*;

const READY: Duration = Duration::from_secs(30);

fn camera_script() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/camera/rtsp_camera.py")
}

/// Starts the camera on `port` and waits until it listens.
fn camera(dir: &TempDir, name: &str, port: u16, extra: &[&str]) -> Proc {
    require("/usr/bin/python3");
    require_gst_element("x264enc");
    require_gst_element("avenc_aac");
    let mut cmd = Command::new("/usr/bin/python3");
    clean_env(&mut cmd);
    cmd.arg(camera_script())
        .arg(port.to_string())
        .arg("cam")
        .args(extra);
    let p = Proc::spawn(name, cmd, dir);
    wait_for(Duration::from_secs(20), || {
        TcpStream::connect(("127.0.0.1", port)).ok().map(|_| ())
    })
    .unwrap_or_else(|| panic!("the camera did not start:\n{}", p.output()));
    p
}

/// A server with RTSP on a free TCP port (UDP and multicast on free ports) and the given
/// `paths:` section.
fn server_with_paths(label: &str, extra: &str, paths: &str) -> (Server, u16) {
    let dir = TempDir::new(label);
    let rtmp = free_port();
    let api = free_port();
    let rtsp = free_port();
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
         {webrtc}\
         rtsp: yes\n\
         rtspAddress: 127.0.0.1:{rtsp}\n\
         rtpAddress: :{}\n\
         rtcpAddress: :{}\n\
         multicastRTPPort: {}\n\
         multicastRTCPPort: {}\n\
         {extra}\
         paths:\n{paths}",
        free_udp_port(),
        free_udp_port(),
        free_udp_port(),
        free_udp_port(),
    );
    let config = dir.join("mediamtx.yml");
    fs::write(&config, yaml).expect("write the configuration");
    let arg = config.display().to_string();
    (Server::launch(dir, Some(&arg), &[], rtmp, api), rtsp)
}

/// A static source pulled over TCP reaches RTMP, RTSP and WebRTC readers.
#[test]
fn camera_pulled_over_tcp_reaches_rtmp_rtsp_and_webrtc() {
    let cam_port = free_port();
    let http_port = free_port();
    let udp = free_udp_port();
    let extra = format!(
        "webrtc: yes\nwebrtcAddress: 127.0.0.1:{http_port}\nwebrtcLocalUDPAddress: 127.0.0.1:{udp}\n"
    );
    let paths =
        format!("  cam:\n    source: rtsp://127.0.0.1:{cam_port}/cam\n    rtspTransport: tcp\n");
    let dir = TempDir::new("rtsp-source-cam-dir");
    let _camera = camera(&dir, "camera", cam_port, &[]);
    let (server, rtsp) = server_with_paths("rtsp-source-tcp", &extra, &paths);
    let item = server.wait_ready("cam", READY);
    assert_eq!(item["source"]["type"], "rtspSource", "{item}");
    let streams = probe(&server.rtmp_url("cam"), 4);
    eprintln!("RTMP read of the pulled camera: {streams:?}");
    assert_h264_aac(&streams, 60, 100);
    let r = probe_raw(
        &format!("rtsp://127.0.0.1:{rtsp}/cam"),
        4,
        &["-rtsp_transport", "tcp"],
    );
    assert!(r.success(), "{}", r.stderr);
    assert_h264_aac(&parse_probe(&r.stdout), 60, 100);
    let v = run_client(
        &[
            "whep",
            &format!("http://127.0.0.1:{http_port}/cam/whep"),
            "--seconds",
            "5",
        ],
        Duration::from_secs(60),
    );
    let video = v["video_frames"].as_u64().unwrap_or(0);
    let audio = v["audio_frames"].as_u64().unwrap_or(0);
    assert!(video > 60, "WebRTC video frames: {v}");
    assert!(
        audio > 100,
        "WebRTC audio frames (AAC -> Opus rendition): {v}"
    );
}

/// An on-demand source over UDP starts with the first reader, needs the camera's
/// credentials, and stops after the last reader left.
#[test]
fn camera_pulled_on_demand_over_udp_with_credentials() {
    let cam_port = free_port();
    let dir = TempDir::new("rtsp-source-od-dir");
    let _camera = camera(
        &dir,
        "camera",
        cam_port,
        &["--user", "admin", "--pass", "p@ss"],
    );
    let paths = format!(
        "  cam:\n    source: rtsp://admin:p%40ss@127.0.0.1:{cam_port}/cam\n    rtspTransport: udp\n    \
         sourceOnDemand: yes\n    sourceOnDemandCloseAfter: 1s\n  \
         wrong:\n    source: rtsp://admin:nope@127.0.0.1:{cam_port}/cam\n    sourceOnDemand: yes\n    \
         sourceOnDemandStartTimeout: 3s\n"
    );
    let (server, rtsp) = server_with_paths("rtsp-source-od", "", &paths);
    let item = server.path_item("cam").expect("cam is listed");
    assert_eq!(
        item["ready"], false,
        "an on-demand source runs without readers: {item}"
    );
    let r = probe_raw(
        &format!("rtsp://127.0.0.1:{rtsp}/cam"),
        4,
        &["-rtsp_transport", "udp"],
    );
    assert!(r.success(), "{}", r.stderr);
    let streams = parse_probe(&r.stdout);
    eprintln!("RTSP/UDP read of the on-demand camera: {streams:?}");
    assert_h264_aac(&streams, 60, 100);
    // Closed after the last reader left.
    wait_for(Duration::from_secs(20), || {
        (server.path_item("cam").is_some_and(|p| p["ready"] == false)).then_some(())
    })
    .expect("the on-demand source was not closed");
    // Wrong credentials: readers are refused and the log says why.
    let r = probe_raw(&server.rtmp_url("wrong"), 1, &[]);
    assert!(!r.success(), "a reader of a refused source got a stream");
    assert!(
        server.log().contains("401"),
        "the refused camera login is not logged:\n{}",
        server.log()
    );
}

/// The camera goes away and comes back on the same port: the path recovers by itself.
#[test]
fn camera_restart_recovers() {
    let cam_port = free_port();
    let dir = TempDir::new("rtsp-source-restart-dir");
    let mut cam = camera(&dir, "camera", cam_port, &[]);
    let paths = format!("  cam:\n    source: rtsp://127.0.0.1:{cam_port}/cam\n");
    let (server, _) = server_with_paths("rtsp-source-restart", "readTimeout: 3s\n", &paths);
    server.wait_ready("cam", READY);
    cam.kill();
    wait_for(Duration::from_secs(30), || {
        (server.path_item("cam").is_some_and(|p| p["ready"] == false)).then_some(())
    })
    .unwrap_or_else(|| {
        panic!(
            "the path stayed ready without its camera:\n{}",
            server.log()
        )
    });
    let _cam = camera(&dir, "camera-again", cam_port, &[]);
    server.wait_ready("cam", Duration::from_secs(60));
    let streams = probe(&server.rtmp_url("cam"), 3);
    assert_h264_aac(&streams, 30, 50);
}

/// An edge Ferrocast pulls an origin Ferrocast over RTSP (UDP, Digest authentication):
/// our client against our server, next to the independent peers above.
#[test]
fn edge_pulls_origin_over_rtsp_with_digest() {
    let (origin, origin_rtsp) = server_with_paths(
        "rtsp-origin",
        "rtspAuthMethods: [digest]\n\
         authInternalUsers:\n\
         - user: any\n  pass:\n  ips: ['127.0.0.1', '::1']\n  permissions:\n  - action: api\n  - action: publish\n\
         - user: edge\n  pass: k3y\n  ips: []\n  permissions:\n  - action: read\n",
        "  all_others:\n",
    );
    let _publisher = publish(
        &origin.dir,
        "publisher",
        Source::BFrames,
        &origin.rtmp_url("live/show"),
    );
    origin.wait_ready("live/show", READY);
    let paths = format!(
        "  show:\n    source: rtsp://edge:k3y@127.0.0.1:{origin_rtsp}/live/show\n    rtspTransport: udp\n"
    );
    let (edge, _) = server_with_paths("rtsp-edge", "", &paths);
    edge.wait_ready("show", READY);
    let streams = probe(&edge.rtmp_url("show"), 4);
    eprintln!("RTMP read at the edge: {streams:?}");
    assert_h264_aac(&streams, 60, 100);
}

/// Automatic transport: the camera accepts UDP but its packets never arrive (a proxy in
/// between rewrites client_port= like a broken NAT); after a few seconds without a packet
/// the source switches to TCP by itself and the path plays.
#[test]
fn automatic_transport_falls_back_to_tcp_when_udp_is_blocked() {
    let cam_port = free_port();
    let proxy_port = free_port();
    let dir = TempDir::new("rtsp-source-fallback-dir");
    let _camera = camera(&dir, "camera", cam_port, &[]);
    let mut cmd = Command::new("/usr/bin/python3");
    clean_env(&mut cmd);
    cmd.arg(PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/camera/port_mangling_proxy.py"))
        .arg(proxy_port.to_string())
        .arg(cam_port.to_string());
    let _proxy = Proc::spawn("proxy", cmd, &dir);
    wait_for(Duration::from_secs(10), || {
        TcpStream::connect(("127.0.0.1", proxy_port))
            .ok()
            .map(|_| ())
    })
    .expect("the proxy did not start");
    // rtspTransport is not set: automatic.
    let paths = format!("  cam:\n    source: rtsp://127.0.0.1:{proxy_port}/cam\n");
    let (server, _) = server_with_paths("rtsp-source-fallback", "", &paths);
    wait_for(Duration::from_secs(30), || {
        server.log().contains("switching to TCP").then_some(())
    })
    .unwrap_or_else(|| panic!("no fallback to TCP:\n{}", server.log()));
    server.wait_ready("cam", READY);
    let streams = probe(&server.rtmp_url("cam"), 4);
    eprintln!("RTMP read of the camera after the fallback: {streams:?}");
    assert_h264_aac(&streams, 60, 100);
    assert!(
        server.log().contains("over TCP"),
        "the source does not say it reads over TCP:\n{}",
        server.log()
    );
}
