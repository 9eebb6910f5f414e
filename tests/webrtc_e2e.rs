//! WebRTC end to end with real clients. Each test runs the RTMP server and the WebRTC
//! server in-process around one `PathManager` (tests/webrtc_client_e2e.rs and
//! tests/browser_e2e.rs use the binary): ffmpeg publishes over RTMP and aiortc reads over WHEP (decoding frames);
//! aiortc publishes over WHIP and ffprobe reads over RTMP.
//!
//! aiortc is required, never skipped: `python3 -m venv target/webrtc-venv &&
//! target/webrtc-venv/bin/pip install aiortc` (or `pip install aiortc`, or point
//! FERROCAST_PYTHON at a python that has it).

mod common;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream, UdpSocket};
use std::process::Command;
use std::sync::Arc;
use std::time::Duration;

use common::*;
use ferrocast_core::conns::ConnRegistry;
use ferrocast_core::{CancellationToken, Codec, PathManager};
use serde_json::Value;

const READY: Duration = Duration::from_secs(20);

/// RTMP + WebRTC servers in this process, on free ports.
struct Rig {
    rt: tokio::runtime::Runtime,
    paths: Arc<PathManager>,
    sessions: Arc<ConnRegistry>,
    rtmp_port: u16,
    http_port: u16,
    udp_port: u16,
    /// ICE-TCP (webrtcLocalTCPAddress): on in every rig, so aiortc (UDP only) also meets
    /// answers with a passive TCP candidate.
    tcp_port: u16,
    shutdown: CancellationToken,
    dir: TempDir,
}

impl Rig {
    fn start(label: &str) -> Rig {
        Rig::start_with(label, "paths:\n  all_others:\n", Duration::from_secs(10))
    }

    fn start_with(label: &str, yaml: &str, handshake_timeout: Duration) -> Rig {
        // Server logs in the test output (shown for failing tests).
        let _ = tracing_subscriber::fmt()
            .with_env_filter(
                tracing_subscriber::EnvFilter::try_from_env("FERROCAST_TEST_LOG")
                    .unwrap_or_else(|_| "info,str0m=warn".into()),
            )
            .with_test_writer()
            .try_init();
        let dir = TempDir::new(label);
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .expect("a tokio runtime");
        let (conf, _) = ferrocast_conf::Conf::from_yaml(yaml, "t.yml").expect("test configuration");
        let paths = PathManager::new(Arc::new(conf));
        let sessions = ConnRegistry::new();
        let shutdown = CancellationToken::new();
        let (rtmp, http, udp_port) = rt.block_on(async {
            let rtmp = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
            let http = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
            (rtmp, http, free_udp_port())
        });
        let tcp_port = free_port();
        let rtmp_port = rtmp.local_addr().unwrap().port();
        let http_port = http.local_addr().unwrap().port();
        let rtmp_cfg = ferrocast_rtmp::server::ServerConfig {
            paths: paths.clone(),
            conns: ConnRegistry::new(),
            tls: None,
            read_timeout: Duration::from_secs(10),
            write_timeout: Duration::from_secs(10),
            scheme: "rtmp",
        };
        rt.spawn(ferrocast_rtmp::server::serve(
            rtmp,
            rtmp_cfg,
            shutdown.clone(),
        ));
        let cfg = ferrocast_webrtc::WebRtcConfig {
            paths: paths.clone(),
            sessions: sessions.clone(),
            udp_addr: SocketAddr::from(([0, 0, 0, 0], udp_port)),
            tcp_addr: Some(SocketAddr::from(([127, 0, 0, 1], tcp_port))),
            additional_hosts: vec![],
            ips_from_interfaces: false,
            handshake_timeout,
            allow_origins: vec!["*".into()],
            ice_servers: vec![ferrocast_webrtc::ice::IceServer {
                url: "stun:stun.example.org:3478".into(),
                username: String::new(),
                password: String::new(),
            }],
        };
        let token = shutdown.clone();
        rt.spawn(async move {
            if let Err(e) = ferrocast_webrtc::serve(http, cfg, token).await {
                panic!("webrtc server failed: {e}");
            }
        });
        Rig {
            rt,
            paths,
            sessions,
            rtmp_port,
            http_port,
            udp_port,
            tcp_port,
            shutdown,
            dir,
        }
    }

    fn rtmp_url(&self, path: &str) -> String {
        format!("rtmp://127.0.0.1:{}/{path}", self.rtmp_port)
    }

    fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}/{path}", self.http_port)
    }

    fn wait_ready(&self, path: &str) -> ferrocast_core::PathSnapshot {
        wait_for(READY, || self.paths.get(path).filter(|p| p.ready))
            .unwrap_or_else(|| panic!("path '{path}' was not ready within {READY:?}"))
    }

    /// Publishes the generated H264 + AAC source with ffmpeg over RTMP.
    fn publish_rtmp(&self, path: &str) -> Proc {
        let p = publish(&self.dir, "publisher", Source::Plain, &self.rtmp_url(path));
        self.wait_ready(path);
        p
    }

    fn request(&self, method: &str, path: &str, ctype: Option<&str>, body: &str) -> Resp {
        request(self.http_port, method, path, ctype, &[], body)
    }
}

impl Drop for Rig {
    fn drop(&mut self) {
        self.shutdown.cancel();
        // Let sessions and servers see the cancellation before the runtime goes.
        std::thread::sleep(Duration::from_millis(100));
        let _ = &self.rt;
    }
}

#[derive(Debug)]
struct Resp {
    status: u16,
    headers: Vec<(String, String)>,
    body: String,
}

impl Resp {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// One HTTP/1.1 request with an explicit content type (the common client sends JSON only).
fn request(
    port: u16,
    method: &str,
    path: &str,
    ctype: Option<&str>,
    headers: &[(&str, &str)],
    body: &str,
) -> Resp {
    let mut s = TcpStream::connect(("127.0.0.1", port)).expect("connect to the WebRTC server");
    s.set_read_timeout(Some(Duration::from_secs(15))).unwrap();
    let mut req = format!(
        "{method} {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\nContent-Length: {}\r\n",
        body.len()
    );
    if let Some(c) = ctype {
        req.push_str(&format!("Content-Type: {c}\r\n"));
    }
    for (k, v) in headers {
        req.push_str(&format!("{k}: {v}\r\n"));
    }
    req.push_str("\r\n");
    req.push_str(body);
    s.write_all(req.as_bytes()).unwrap();
    let mut raw = Vec::new();
    let _ = s.read_to_end(&mut raw);
    let text = String::from_utf8_lossy(&raw).into_owned();
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    let mut lines = head.split("\r\n");
    let status = lines
        .next()
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    let headers = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_string(), v.trim().to_string()))
        .collect();
    Resp {
        status,
        headers,
        body: body.to_string(),
    }
}

fn assert_decoded(v: &Value, min_frames: u64) {
    let frames = v["video_frames"].as_u64().unwrap_or(0);
    assert!(
        frames > min_frames,
        "aiortc decoded {frames} video frames, expected > {min_frames}: {v}"
    );
    assert_eq!(
        (v["width"].as_u64(), v["height"].as_u64()),
        (Some(320), Some(240)),
        "{v}"
    );
}

#[test]
fn whep_aiortc_decodes_h264_published_over_rtmp() {
    let rig = Rig::start("whep");
    let _publisher = rig.publish_rtmp("live/show");
    let v = run_client(
        &["whep", &rig.url("live/show/whep"), "--seconds", "5"],
        Duration::from_secs(60),
    );
    assert_decoded(&v, 30);
    assert_eq!(v["connection"], "connected", "{v}");
    assert_eq!(v["delete_status"], 200, "{v}");
    // The session was listed while it ran and is gone after DELETE.
    assert!(
        wait_for(Duration::from_secs(5), || rig
            .sessions
            .is_empty()
            .then_some(()))
        .is_some(),
        "the session is still listed after DELETE"
    );
}

#[test]
fn garbage_udp_does_not_disturb_a_session() {
    let rig = Rig::start("garbage");
    let _publisher = rig.publish_rtmp("cam");
    let port = rig.udp_port;
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let stop2 = stop.clone();
    let spammer = std::thread::spawn(move || {
        let s = UdpSocket::bind("127.0.0.1:0").unwrap();
        let mut n = 0u32;
        let shapes: [&[u8]; 6] = [
            b"hello",
            &[0x80, 0x60, 0, 1, 0, 0, 0, 0, 0, 0, 0, 1, 0xde, 0xad], // RTP-looking
            &[0x16, 0xfe, 0xfd, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0],       // DTLS-looking
            &[
                0, 1, 0, 8, 0x21, 0x12, 0xa4, 0x42, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 0, 6, 0,
                4,
            ],
            &[0u8; 1500],
            &[0xff; 3],
        ];
        while !stop2.load(std::sync::atomic::Ordering::Relaxed) {
            let _ = s.send_to(shapes[n as usize % shapes.len()], ("127.0.0.1", port));
            n += 1;
            std::thread::sleep(Duration::from_millis(2));
        }
        n
    });
    let v = run_client(
        &["whep", &rig.url("cam/whep"), "--seconds", "5"],
        Duration::from_secs(60),
    );
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let sent = spammer.join().unwrap();
    eprintln!("sent {sent} garbage datagrams");
    assert!(sent > 100);
    assert_decoded(&v, 30);
}

/// ICE-TCP connections that are not ICE (garbage, an oversized frame, an unknown ufrag, or
/// silence past the handshake timeout) are closed, and a reader on UDP goes on.
#[test]
fn ice_tcp_strangers_are_closed_and_sessions_go_on() {
    let rig = Rig::start_with("ice-tcp", "paths:\n  all_others:\n", Duration::from_secs(3));
    let _publisher = rig.publish_rtmp("cam");
    let url = rig.url("cam/whep");
    let reader = std::thread::spawn(move || {
        run_client(&["whep", &url, "--seconds", "5"], Duration::from_secs(60))
    });
    let closed = |stream: &mut TcpStream| {
        stream
            .set_read_timeout(Some(Duration::from_secs(10)))
            .unwrap();
        let mut b = [0u8; 64];
        // EOF (or a reset) means the server closed it; a timeout means it did not.
        match stream.read(&mut b) {
            Ok(0) => true,
            Ok(_) => false,
            Err(e) => {
                e.kind() != std::io::ErrorKind::WouldBlock
                    && e.kind() != std::io::ErrorKind::TimedOut
            }
        }
    };
    let connect = || TcpStream::connect(("127.0.0.1", rig.tcp_port)).unwrap();
    // A STUN Binding request with USERNAME "nosuch:peer" (no session has that ufrag).
    let mut stun = vec![0x00, 0x01, 0x00, 0x10, 0x21, 0x12, 0xa4, 0x42];
    stun.extend_from_slice(&[7; 12]);
    stun.extend_from_slice(&[0x00, 0x06, 0x00, 0x0b]);
    stun.extend_from_slice(b"nosuch:peer\0");
    let mut framed_stun = (stun.len() as u16).to_be_bytes().to_vec();
    framed_stun.extend_from_slice(&stun);
    let cases: [(&str, Vec<u8>); 3] = [
        ("a frame that is not STUN", b"\x00\x05hello".to_vec()),
        ("an oversized frame", vec![0xff, 0xff, 1, 2, 3]),
        ("an ICE check for an unknown ufrag", framed_stun),
    ];
    for (what, bytes) in cases {
        let mut s = connect();
        s.write_all(&bytes).unwrap();
        assert!(closed(&mut s), "{what}: the connection stayed open");
    }
    // Silence: closed after webrtcHandshakeTimeout (3 s here).
    let mut s = connect();
    assert!(closed(&mut s), "a silent connection stayed open");
    let v = reader.join().unwrap();
    assert_decoded(&v, 30);
}

#[test]
fn whip_aiortc_publishes_h264_and_opus_read_over_rtmp() {
    let rig = Rig::start("whip");
    let mut cmd = Command::new(aiortc_python());
    cmd.arg(client_script())
        .args(["whip", &rig.url("web/cam/whip"), "--seconds", "20"]);
    let mut publisher = Proc::spawn("aiortc-whip", cmd, &rig.dir);
    let snap = wait_for(READY, || {
        if !publisher.is_alive() {
            panic!("the WHIP publisher exited early:\n{}", publisher.output());
        }
        rig.paths.get("web/cam").filter(|p| p.ready)
    })
    .unwrap_or_else(|| {
        panic!(
            "WHIP publish did not make the path ready:\n{}",
            publisher.output()
        )
    });
    let codecs: Vec<Codec> = snap.tracks.iter().map(|t| t.codec).collect();
    assert_eq!(codecs, vec![Codec::H264, Codec::Opus], "{snap:?}");
    assert_eq!(snap.source.map(|s| s.0), Some("webRTCSession"));
    assert_eq!(rig.sessions.len(), 1);
    // ffprobe decodes the H264 over RTMP (it cannot read Opus over RTMP: ffmpeg 5.1).
    // ffprobe cannot identify the Opus track (enhanced RTMP); without a short analysis
    // window it keeps probing for it and never gets to counting.
    let r = probe_raw(
        &rig.rtmp_url("web/cam"),
        4,
        &["-analyzeduration", "1000000"],
    );
    eprintln!("ffprobe: {:?}\n{}\n{}", r.status, r.stdout, r.stderr);
    let streams = parse_probe(&r.stdout);
    let video = streams
        .iter()
        .find(|s| s.codec_type == "video")
        .unwrap_or_else(|| panic!("no video stream over RTMP: {streams:?}\n{}", r.stderr));
    assert_eq!(video.codec_name, "h264");
    assert!(
        video.frames > 30,
        "ffprobe decoded {} H264 frames from the WHIP publisher: {streams:?}",
        video.frames
    );
    publisher.kill();
}

#[test]
fn http_errors() {
    let rig = Rig::start("errors");
    let offer = "v=0\r\no=- 1 1 IN IP4 0.0.0.0\r\ns=-\r\nt=0 0\r\n";
    // Nothing published: 404 (the offer is fine as far as this goes).
    let good_offer = aiortc_offer();
    let r = rig.request(
        "POST",
        "/nothing/here/whep",
        Some("application/sdp"),
        &good_offer,
    );
    assert_eq!(r.status, 404, "{r:?}");
    // Wrong content type: 415.
    let r = rig.request("POST", "/x/whep", Some("application/json"), "{}");
    assert_eq!(r.status, 415, "{r:?}");
    // Unparsable offer: 400 with a reason.
    let r = rig.request(
        "POST",
        "/x/whep",
        Some("application/sdp"),
        "this is not SDP",
    );
    assert_eq!(r.status, 400, "{r:?}");
    assert!(r.body.contains("SDP"), "{r:?}");
    let r = rig.request("POST", "/x/whip", Some("application/sdp"), offer);
    assert_eq!(r.status, 400, "{r:?}");
    // CORS preflight.
    let r = rig.request("OPTIONS", "/x/whep", None, "");
    assert_eq!(r.status, 204, "{r:?}");
    assert_eq!(r.header("access-control-allow-origin"), Some("*"), "{r:?}");
    assert!(r
        .header("access-control-allow-methods")
        .unwrap_or("")
        .contains("PATCH"));
    // webrtcICEServers2 in a Link header (RFC 9725 4.4), for clients and the pages.
    assert_eq!(
        r.header("link"),
        Some("<stun:stun.example.org:3478>; rel=\"ice-server\""),
        "{r:?}"
    );
    // Unknown session.
    let r = rig.request(
        "DELETE",
        "/x/whep/6c1c7e9e-9b1a-4c8e-9d53-000000000000",
        None,
        "",
    );
    assert_eq!(r.status, 404, "{r:?}");
    // Pages.
    let r = rig.request("GET", "/live/show", None, "");
    assert_eq!(r.status, 200);
    assert!(r.body.contains("/whep"), "{r:?}");
    let r = rig.request("GET", "/live/show/publish", None, "");
    assert_eq!(r.status, 200);
    assert!(r.body.contains("/whip"), "{r:?}");
}

#[test]
fn whep_session_lifecycle_patch_and_delete() {
    let rig = Rig::start("lifecycle");
    let _publisher = rig.publish_rtmp("life");
    let r = rig.request(
        "POST",
        "/life/whep",
        Some("application/sdp"),
        &aiortc_offer(),
    );
    assert_eq!(r.status, 201, "{r:?}");
    assert_eq!(r.header("content-type"), Some("application/sdp"));
    assert!(r.body.contains("a=fingerprint:sha-256"), "{}", r.body);
    assert!(r.body.contains("H264/90000"), "{}", r.body);
    assert!(
        r.body.contains(&format!(" {} typ host", rig.udp_port)),
        "{}",
        r.body
    );
    let location = r.header("location").expect("Location").to_string();
    assert!(location.starts_with("/life/whep/"), "{location}");
    assert!(r.header("etag").is_some());
    assert_eq!(rig.sessions.len(), 1);
    let item = &rig.sessions.list()[0];
    assert_eq!(item.details.lock().path, "life");
    // Trickle ICE.
    let frag = "a=ice-ufrag:abcd\r\na=ice-pwd:0123456789abcdef012345\r\nm=video 9 UDP/TLS/RTP/SAVPF 0\r\na=mid:0\r\n\
                a=candidate:1 1 udp 2130706431 127.0.0.1 40000 typ host\r\n";
    let r = rig.request(
        "PATCH",
        &location,
        Some("application/trickle-ice-sdpfrag"),
        frag,
    );
    assert_eq!(r.status, 204, "{r:?}");
    let r = rig.request("PATCH", &location, Some("application/sdp"), frag);
    assert_eq!(r.status, 415, "{r:?}");
    let r = rig.request("DELETE", &location, None, "");
    assert_eq!(r.status, 200, "{r:?}");
    assert!(
        wait_for(Duration::from_secs(5), || rig
            .sessions
            .is_empty()
            .then_some(()))
        .is_some(),
        "the session is still listed after DELETE"
    );
    assert!(
        wait_for(Duration::from_secs(5), || rig
            .paths
            .get("life")
            .filter(|p| p.readers.is_empty())
            .map(|_| ()))
        .is_some(),
        "the reader is still attached after DELETE"
    );
}

/// A recvonly video+audio offer as aiortc makes it (with its candidates).
fn aiortc_offer() -> String {
    let out = Command::new(aiortc_python())
        .arg(client_script())
        .arg("offer")
        .output()
        .expect("run python");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// aiortc publishes over WHIP, another aiortc reads over WHEP: video and Opus audio go
/// through the bus and back out (VP8 and H264).
fn round_trip(codec: &str) {
    let rig = Rig::start(&format!("roundtrip-{codec}"));
    let mut cmd = Command::new(aiortc_python());
    cmd.arg(client_script()).args([
        "whip",
        &rig.url("rt/whip"),
        "--seconds",
        "20",
        "--codec",
        codec,
    ]);
    let mut publisher = Proc::spawn("aiortc-whip", cmd, &rig.dir);
    let snap = wait_for(READY, || {
        if !publisher.is_alive() {
            panic!("the WHIP publisher exited early:\n{}", publisher.output());
        }
        rig.paths.get("rt").filter(|p| p.ready)
    })
    .unwrap_or_else(|| {
        panic!(
            "WHIP publish did not make the path ready:\n{}",
            publisher.output()
        )
    });
    let want = if codec == "vp8" {
        Codec::Vp8
    } else {
        Codec::H264
    };
    let codecs: Vec<Codec> = snap.tracks.iter().map(|t| t.codec).collect();
    assert_eq!(codecs, vec![want, Codec::Opus], "{snap:?}");
    let v = run_client(
        &["whep", &rig.url("rt/whep"), "--seconds", "5"],
        Duration::from_secs(60),
    );
    assert_decoded(&v, 30);
    let audio = v["audio_frames"].as_u64().unwrap_or(0);
    // 20 ms Opus frames: ~250 in 5 s.
    assert!(
        audio > 100,
        "aiortc decoded {audio} Opus frames over WHEP: {v}"
    );
    publisher.kill();
}

#[test]
fn whip_to_whep_round_trip_h264_opus() {
    round_trip("h264");
}

#[test]
fn whip_to_whep_round_trip_vp8_opus() {
    round_trip("vp8");
}

#[test]
fn credentials_from_basic_auth_or_query() {
    let yaml = "authInternalUsers:\n  - user: u\n    pass: p\n    permissions:\n      - action: read\n      - action: publish\npaths:\n  all_others:\n";
    let rig = Rig::start_with("auth", yaml, Duration::from_secs(10));
    let offer = aiortc_offer();
    let sdp = Some("application/sdp");
    let r = rig.request("POST", "/secret/whep", sdp, &offer);
    assert_eq!(r.status, 401, "{r:?}");
    assert!(r.header("www-authenticate").is_some(), "{r:?}");
    let r = rig.request("POST", "/secret/whep?user=u&pass=wrong", sdp, &offer);
    assert_eq!(r.status, 401, "{r:?}");
    // Right credentials: authentication passes, and nothing is published there.
    let r = rig.request("POST", "/secret/whep?user=u&pass=p", sdp, &offer);
    assert_eq!(r.status, 404, "{r:?}");
    let r = request(
        rig.http_port,
        "POST",
        "/secret/whep",
        sdp,
        &[("Authorization", "Basic dTpw")], // u:p
        &offer,
    );
    assert_eq!(r.status, 404, "{r:?}");
    let r = rig.request("POST", "/secret/whip?user=x&pass=p", sdp, &offer);
    assert_eq!(r.status, 401, "{r:?}");
}

#[test]
fn unconnected_session_times_out_and_kick_closes_a_session() {
    let rig = Rig::start_with("timeout", "paths:\n  all_others:\n", Duration::from_secs(1));
    let _publisher = rig.publish_rtmp("t");
    // Nobody connects: the session ends after webrtcHandshakeTimeout.
    let r = rig.request("POST", "/t/whep", Some("application/sdp"), &aiortc_offer());
    assert_eq!(r.status, 201, "{r:?}");
    assert_eq!(rig.sessions.len(), 1);
    assert!(
        wait_for(Duration::from_secs(5), || rig
            .sessions
            .is_empty()
            .then_some(()))
        .is_some(),
        "an unconnected session outlived the handshake timeout"
    );
    // A session kicked through the registry (the API's kick) ends too.
    let r = rig.request("POST", "/t/whep", Some("application/sdp"), &aiortc_offer());
    assert_eq!(r.status, 201, "{r:?}");
    let id = rig.sessions.list()[0].id;
    assert!(rig.sessions.kick(id));
    assert!(
        wait_for(Duration::from_millis(500), || rig
            .sessions
            .is_empty()
            .then_some(()))
        .is_some(),
        "a kicked session is still listed"
    );
}

#[test]
fn whep_with_b_frames() {
    let rig = Rig::start("bframes");
    let _p = publish(&rig.dir, "publisher", Source::BFrames, &rig.rtmp_url("bf"));
    rig.wait_ready("bf");
    let v = run_client(
        &["whep", &rig.url("bf/whep"), "--seconds", "5"],
        Duration::from_secs(60),
    );
    assert_decoded(&v, 30);
}

/// Offers that made str0m panic (found by the webrtc_sdp fuzz target) get a 400, and the
/// server goes on answering good offers.
#[test]
fn inconsistent_offer_gets_400() {
    let rig = Rig::start("bad-offer");
    let _publisher = rig.publish_rtmp("live/show");
    let bad = std::fs::read_to_string(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/webrtc/offer-pt99-in-both-mlines.sdp"),
    )
    .expect("fixture")
    .replace('\n', "\r\n");
    let r = wait_for(Duration::from_secs(20), || {
        let r = rig.request("POST", "/live/show/whep", Some("application/sdp"), &bad);
        (r.status != 404).then_some(r)
    })
    .expect("the path becomes ready");
    assert_eq!(r.status, 400, "{r:?}");
    let v = run_client(
        &["whep", &rig.url("live/show/whep"), "--seconds", "2"],
        Duration::from_secs(60),
    );
    assert!(v["video_frames"].as_u64().unwrap_or(0) > 10, "{v}");
}

/// A WHEP reader's keyframe requests reach the WHIP publisher as RTCP PLI, at most twice a
/// second: aiortc reads and sends 20 PLIs in 4 s, and its publisher (aiortc too) is asked
/// for keyframes in that window far more often than the ingest's own requests (one per
/// 2 s without a keyframe) would.
#[test]
fn reader_keyframe_requests_reach_the_whip_publisher() {
    let rig = Rig::start("pli");
    let mut cmd = Command::new(aiortc_python());
    cmd.arg(client_script())
        .args(["whip", &rig.url("kf/whip"), "--seconds", "14"]);
    let mut publisher = Proc::spawn("aiortc-whip", cmd, &rig.dir);
    wait_for(READY, || {
        if !publisher.is_alive() {
            panic!("the WHIP publisher exited early:\n{}", publisher.output());
        }
        rig.paths.get("kf").filter(|p| p.ready)
    })
    .unwrap_or_else(|| panic!("WHIP publish did not make the path ready"));
    let v = run_client(
        &["whep", &rig.url("kf/whep"), "--seconds", "6", "--pli", "20"],
        Duration::from_secs(60),
    );
    assert_decoded(&v, 30);
    let times = |v: &Value| -> Vec<f64> {
        v.as_array()
            .map(|a| a.iter().filter_map(Value::as_f64).collect())
            .unwrap_or_default()
    };
    let plis = times(&v["plis"]);
    assert_eq!(plis.len(), 20, "{v}");
    publisher.wait_timeout(Duration::from_secs(30));
    let out = publisher.output();
    let result: Value = out
        .lines()
        .rev()
        .find_map(|l| serde_json::from_str(l).ok())
        .unwrap_or_else(|| panic!("no result from the WHIP publisher:\n{out}"));
    let asked = times(&result["keyframe_requests"]);
    let (first, last) = (plis[0], plis[plis.len() - 1]);
    let during = asked
        .iter()
        .filter(|t| **t >= first && **t <= last + 0.5)
        .count();
    eprintln!(
        "the publisher was asked for {} keyframes, {during} while the reader sent PLIs \
         ({:.1} s)",
        asked.len(),
        last - first
    );
    assert!(
        during >= 5,
        "{during} keyframe requests reached the publisher during {:.1} s of reader PLIs: {result}",
        last - first
    );
}
