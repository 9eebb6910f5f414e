//! RTSP server end to end with real clients: ffmpeg publishes over TCP and UDP, GStreamer's
//! rtspclientsink publishes H264 + Opus; ffprobe and GStreamer read over TCP, UDP and
//! multicast; RTMP <-> RTSP both ways; the API lists connections and sessions with RTP
//! counters; bad requests close only their own connection.

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

/// A server with every RTSP transport on (UDP and multicast on free ports): the server, its
/// RTSP port and its RTP and RTCP ports.
fn rtsp_server_all(label: &str) -> (Server, u16, [u16; 2]) {
    let port = free_port();
    let udp = [free_udp_port(), free_udp_port()];
    let yaml = format!(
        "rtsp: yes\nrtspAddress: 127.0.0.1:{port}\nrtspTransports: [udp, multicast, tcp]\n\
         rtpAddress: :{}\nrtcpAddress: :{}\nmulticastRTPPort: {}\nmulticastRTCPPort: {}\n",
        udp[0],
        udp[1],
        free_udp_port(),
        free_udp_port()
    );
    (Server::start_with(ServerOpts::new(label, &yaml)), port, udp)
}

fn rtsp_publish(dir: &TempDir, name: &str, kind: Source, url: &str) -> Proc {
    rtsp_publish_over(dir, name, kind, url, "tcp")
}

fn rtsp_publish_over(dir: &TempDir, name: &str, kind: Source, url: &str, transport: &str) -> Proc {
    require("ffmpeg");
    let mut cmd = Command::new("ffmpeg");
    clean_env(&mut cmd);
    cmd.args(["-hide_banner", "-loglevel", "warning", "-nostdin", "-re"])
        .args(["-stream_loop", "-1", "-i"])
        .arg(source(kind))
        .args(["-c", "copy", "-f", "rtsp", "-rtsp_transport", transport])
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

    let decoded = gst_decode(&url, "tcp");
    assert!(decoded >= 30, "GStreamer decoded {decoded} frames");
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

/// GStreamer's rtspsrc reads `url` over `protocols` (tcp, udp, udp-mcast) and decodes H264;
/// returns how many frames it decoded (up to 59).
fn gst_decode(url: &str, protocols: &str) -> usize {
    require("gst-launch-1.0");
    require_gst_element("rtspsrc");
    let mut cmd = Command::new("gst-launch-1.0");
    clean_env(&mut cmd);
    cmd.args(["rtspsrc", "name=src"])
        .arg(format!("location={url}"))
        .arg(format!("protocols={protocols}"));
    if url.starts_with("rtsps://") {
        cmd.arg("tls-validation-flags=0"); // self-signed test certificate
    }
    // The pipeline stops itself with an error after 60 decoded frames: an EOS would
    // have to reach the audio sink too.
    cmd.args(["latency=100", "!", "rtph264depay", "!", "h264parse"])
        .args(["!", "avdec_h264", "!", "identity", "error-after=60"])
        .args(["silent=false", "!", "fakesink", "-v"])
        // Audio goes to a sink too: an unlinked pad that receives data first can end
        // rtspsrc with not-linked before the video branch is linked.
        .args([
            "src.",
            "!",
            "application/x-rtp,media=audio",
            "!",
            "fakesink",
        ]);
    let ran = run(cmd, Duration::from_secs(30));
    let decoded = ran.stdout.matches("chain").count();
    if decoded < 59 {
        eprintln!(
            "GStreamer over {protocols} decoded {decoded} frames ({:?}):\n{}",
            ran.status, ran.stderr
        );
    }
    decoded
}

/// ffmpeg publishes over UDP; ffprobe decodes the path over UDP and multicast, GStreamer
/// over UDP and multicast, and the API shows the sessions with their transport and
/// RTP counters.
#[test]
fn ffmpeg_publishes_rtsp_udp_read_over_udp_and_multicast() {
    let (server, port, udp) = rtsp_server_all("rtsp-udp");
    let url = format!("rtsp://127.0.0.1:{port}/live/cam");
    let _publisher = rtsp_publish_over(&server.dir, "publisher", Source::Plain, &url, "udp");
    server.wait_ready("live/cam", Duration::from_secs(20));
    // Garbage on the shared RTP and RTCP ports (from an address with no session) is dropped:
    // the publisher and the readers below are not disturbed.
    let junk = std::net::UdpSocket::bind("127.0.0.1:0").expect("bind");
    for i in 0..2000u32 {
        let bytes = [0x80, 96, (i >> 8) as u8, i as u8, 0xff, 0xfe, 0xfd];
        for p in udp {
            let _ = junk.send_to(&bytes, ("127.0.0.1", p));
        }
    }
    for transport in ["udp", "udp_multicast"] {
        let r = probe_raw(&url, 4, &["-rtsp_transport", transport]);
        assert!(r.success(), "ffprobe over {transport} failed: {}", r.stderr);
        let streams = parse_probe(&r.stdout);
        eprintln!("RTSP read over {transport}: {streams:?}");
        assert_h264_aac(&streams, 60, 100);
    }
    for protocols in ["udp", "udp-mcast"] {
        let n = gst_decode(&url, protocols);
        assert!(n >= 30, "GStreamer decoded {n} frames over {protocols}");
    }
    // Publisher session: UDP, packets in, receiver reports out.
    let sessions = server.get_json("/v3/rtspsessions/list");
    eprintln!("{sessions:#}");
    let items = sessions["items"].as_array().cloned().unwrap_or_default();
    let publisher = items
        .iter()
        .find(|s| s["state"] == "publish")
        .unwrap_or_else(|| panic!("no publishing session: {sessions}"));
    assert_eq!(publisher["transport"], "UDP", "{publisher}");
    assert_eq!(publisher["path"], "live/cam", "{publisher}");
    assert!(publisher["inboundRTPPackets"].as_u64().unwrap_or(0) > 100);
    assert!(publisher["outboundRTCPPackets"].as_u64().unwrap_or(0) > 0);
    let id = publisher["id"].as_str().unwrap_or_default().to_string();
    let one = server.get_json(&format!("/v3/rtspsessions/get/{id}"));
    assert_eq!(one["id"], publisher["id"]);
    let conns = server.get_json("/v3/rtspconns/list");
    assert!(
        conns["items"]
            .as_array()
            .is_some_and(|c| c.iter().any(|c| c["session"] == publisher["id"])),
        "{conns}"
    );
    // Kicking the session stops the publisher's stream.
    let r = server.api("POST", &format!("/v3/rtspsessions/kick/{id}"), None);
    assert_eq!(r.status, 200);
    wait_for(Duration::from_secs(10), || {
        (server.get_json("/v3/rtspsessions/list")["items"]
            .as_array()
            .is_some_and(|a| a.iter().all(|s| s["id"] != publisher["id"])))
        .then_some(())
    })
    .expect("the kicked session is still listed");
}

/// RTSP over UDP with `rtspTransports: [tcp]`: the server answers 461 and ffmpeg falls
/// back to TCP by itself.
#[test]
fn rtsp_transports_restrict_udp() {
    let (server, port) = rtsp_server("rtsp-tcp-only");
    let url = format!("rtsp://127.0.0.1:{port}/live/cam");
    let _publisher = rtsp_publish_over(&server.dir, "publisher", Source::Plain, &url, "udp");
    // ffmpeg's UDP-only publisher is refused...
    std::thread::sleep(Duration::from_secs(2));
    assert!(server
        .path_item("live/cam")
        .is_none_or(|p| p["ready"] != true));
    let _publisher = rtsp_publish(&server.dir, "publisher-tcp", Source::Plain, &url);
    server.wait_ready("live/cam", Duration::from_secs(20));
    // ...and a reader that offers UDP and TCP gets TCP.
    let r = probe_raw(&url, 3, &[]);
    assert!(r.success(), "ffprobe failed: {}", r.stderr);
    let sessions = server.get_json("/v3/rtspsessions/list");
    assert!(
        sessions["items"]
            .as_array()
            .is_some_and(|a| a.iter().all(|s| s["transport"] == "TCP")),
        "{sessions}"
    );
}

/// GStreamer's rtspclientsink publishes H264 + Opus over TCP and UDP: ffprobe decodes both
/// tracks over RTSP, and an RTMP reader gets the Opus audio as AAC.
#[test]
fn gstreamer_rtspclientsink_publishes_h264_opus() {
    for e in [
        "rtspclientsink",
        "x264enc",
        "opusenc",
        "videotestsrc",
        "audiotestsrc",
    ] {
        require_gst_element(e);
    }
    let (server, port, _) = rtsp_server_all("rtsp-gst-publish");
    for (i, protocols) in ["tcp", "udp"].iter().enumerate() {
        let path = format!("live/gst{i}");
        let url = format!("rtsp://127.0.0.1:{port}/{path}");
        let mut cmd = Command::new("gst-launch-1.0");
        clean_env(&mut cmd);
        cmd.args(["-q", "rtspclientsink", "name=s"])
            .arg(format!("location={url}"))
            .arg(format!("protocols={protocols}"))
            .args(["videotestsrc", "is-live=true"])
            .args(["!", "video/x-raw,width=320,height=240,framerate=30/1"])
            .args(["!", "x264enc", "tune=zerolatency", "key-int-max=30"])
            .args(["!", "video/x-h264,profile=baseline", "!", "s.sink_0"])
            .args(["audiotestsrc", "is-live=true", "wave=sine"])
            .args(["!", "audioconvert", "!", "audioresample", "!", "opusenc"])
            .args(["!", "s.sink_1"]);
        let mut publisher = Proc::spawn(&format!("gst-publisher-{protocols}"), cmd, &server.dir);
        let p = server.wait_ready(&path, Duration::from_secs(20));
        eprintln!("{p}");
        let mut tracks: Vec<String> = p["tracks"]
            .as_array()
            .map(|a| {
                a.iter()
                    .map(|t| t.as_str().unwrap_or_default().to_string())
                    .collect()
            })
            .unwrap_or_default();
        tracks.sort();
        assert_eq!(tracks, ["H264", "Opus"], "{p}");
        let r = probe_raw(&url, 4, &["-rtsp_transport", "tcp"]);
        assert!(r.success(), "ffprobe failed: {}", r.stderr);
        let streams = parse_probe(&r.stdout);
        eprintln!("RTSP read of a GStreamer {protocols} publisher: {streams:?}");
        let frames = |name: &str| {
            streams
                .iter()
                .find(|s| s.codec_name == name)
                .map(|s| s.frames)
                .unwrap_or(0)
        };
        assert!(frames("h264") >= 60, "{streams:?}");
        assert!(frames("opus") >= 100, "{streams:?}");
        if i == 0 {
            let streams = probe(&server.rtmp_url(&path), 4);
            assert_h264_aac(&streams, 60, 100);
        }
        publisher.kill();
    }
}

/// `rtspAuthMethods: [digest]`: ffmpeg publishes and ffprobe reads with Digest credentials
/// from the URL; wrong credentials are refused with a Digest challenge.
#[test]
fn digest_authentication() {
    let port = free_port();
    let yaml = format!(
        "rtsp: yes\nrtspAddress: 127.0.0.1:{port}\nrtspTransports: [tcp]\n\
         rtspAuthMethods: [digest]\n\
         authInternalUsers:\n\
         - user: any\n  pass:\n  ips: ['127.0.0.1', '::1']\n  permissions:\n  - action: api\n\
         - user: cam\n  pass: s3cret\n  ips: []\n  permissions:\n  - action: publish\n  - action: read\n"
    );
    let server = Server::start_with(ServerOpts::new("rtsp-digest", &yaml));
    let good = format!("rtsp://cam:s3cret@127.0.0.1:{port}/live/cam");
    let _publisher = rtsp_publish(&server.dir, "publisher", Source::Plain, &good);
    server.wait_ready("live/cam", Duration::from_secs(20));
    let r = probe_raw(&good, 3, &["-rtsp_transport", "tcp"]);
    assert!(
        r.success(),
        "ffprobe with digest credentials failed: {}",
        r.stderr
    );
    assert_h264_aac(&parse_probe(&r.stdout), 30, 50);
    let bad = format!("rtsp://cam:wrong@127.0.0.1:{port}/live/cam");
    let r = probe_raw(&bad, 1, &["-rtsp_transport", "tcp"]);
    assert!(!r.success(), "wrong credentials were accepted");
    // The challenge is Digest only.
    let mut s = TcpStream::connect(("127.0.0.1", port)).expect("connect");
    s.set_read_timeout(Some(Duration::from_secs(5))).ok();
    let req = format!("DESCRIBE rtsp://127.0.0.1:{port}/live/cam RTSP/1.0\r\nCSeq: 1\r\n\r\n");
    s.write_all(req.as_bytes()).expect("send");
    let mut buf = [0u8; 2048];
    let n = s.read(&mut buf).unwrap_or(0);
    let r = String::from_utf8_lossy(&buf[..n]);
    assert!(r.starts_with("RTSP/1.0 401"), "{r}");
    assert!(r.contains("WWW-Authenticate: Digest realm="), "{r}");
    assert!(!r.contains("Basic"), "{r}");
}

/// `rtspEncryption: optional`: ffmpeg publishes over RTSPS (TLS, interleaved), ffprobe reads
/// it over RTSPS and plain RTSP, and the API lists it under /v3/rtspssessions.
#[test]
fn rtsps_publish_and_read() {
    let dir = TempDir::new("rtsps-cert");
    let (key, cert) = self_signed(&dir);
    let (port, tls_port) = (free_port(), free_port());
    let yaml = format!(
        "rtsp: yes\nrtspAddress: 127.0.0.1:{port}\nrtspTransports: [tcp]\n\
         rtspEncryption: optional\nrtspsAddress: 127.0.0.1:{tls_port}\n\
         rtspServerKey: {}\nrtspServerCert: {}\n",
        key.display(),
        cert.display()
    );
    let server = Server::start_with(ServerOpts::new("rtsps", &yaml));
    let secure = format!("rtsps://127.0.0.1:{tls_port}/live/secure");
    let _publisher = rtsp_publish(&server.dir, "publisher", Source::Plain, &secure);
    let path = server.wait_ready("live/secure", Duration::from_secs(20));
    assert_eq!(path["source"]["type"], "rtspsSession", "{path}");
    let r = probe_raw(&secure, 3, &[]);
    assert!(r.success(), "ffprobe over RTSPS failed: {}", r.stderr);
    assert_h264_aac(&parse_probe(&r.stdout), 30, 50);
    let plain = format!("rtsp://127.0.0.1:{port}/live/secure");
    let r = probe_raw(&plain, 3, &["-rtsp_transport", "tcp"]);
    assert!(r.success(), "ffprobe over RTSP failed: {}", r.stderr);
    let sessions = server.get_json("/v3/rtspssessions/list");
    assert!(
        sessions["items"]
            .as_array()
            .is_some_and(|a| a.iter().any(|s| s["state"] == "publish")),
        "{sessions}"
    );
}

/// RTSPS with SRTP, keys in MIKEY inside TLS: GStreamer's rtspclientsink publishes H264 +
/// Opus over UDP with `profiles=savp`; rtspsrc reads it over SRTP/UDP, SRTP inside TLS
/// and SRTP multicast and decodes it (srtpdec); ffprobe still reads plain RTP inside
/// TLS, and an RTMP reader gets it with AAC; the API shows the SAVP sessions.
#[test]
fn rtsps_srtp_over_udp_tcp_and_multicast() {
    for e in [
        "rtspclientsink",
        "rtspsrc",
        "srtpenc",
        "srtpdec",
        "x264enc",
        "opusenc",
        "avdec_h264",
    ] {
        require_gst_element(e);
    }
    let dir = TempDir::new("rtsps-srtp-cert");
    let (key, cert) = self_signed(&dir);
    let (port, tls_port) = (free_port(), free_port());
    let udp = || free_udp_port();
    let yaml = format!(
        "rtsp: yes\nrtspAddress: 127.0.0.1:{port}\nrtspTransports: [udp, multicast, tcp]\n\
         rtpAddress: :{}\nrtcpAddress: :{}\nmulticastRTPPort: {}\nmulticastRTCPPort: {}\n\
         rtspEncryption: optional\nrtspsAddress: 127.0.0.1:{tls_port}\n\
         srtpAddress: :{}\nsrtcpAddress: :{}\nmulticastSRTPPort: {}\nmulticastSRTCPPort: {}\n\
         rtspServerKey: {}\nrtspServerCert: {}\n",
        udp(),
        udp(),
        udp(),
        udp(),
        udp(),
        udp(),
        udp(),
        udp(),
        key.display(),
        cert.display()
    );
    let server = Server::start_with(ServerOpts::new("rtsps-srtp", &yaml));
    let url = format!("rtsps://127.0.0.1:{tls_port}/live/srtp");
    let mut cmd = Command::new("gst-launch-1.0");
    clean_env(&mut cmd);
    cmd.args(["-q", "rtspclientsink", "name=s"])
        .arg(format!("location={url}"))
        .args(["protocols=udp", "profiles=savp", "tls-validation-flags=0"])
        .args(["videotestsrc", "is-live=true"])
        .args(["!", "video/x-raw,width=320,height=240,framerate=30/1"])
        .args(["!", "x264enc", "tune=zerolatency", "key-int-max=30"])
        .args(["!", "video/x-h264,profile=baseline", "!", "s.sink_0"])
        .args(["audiotestsrc", "is-live=true", "wave=sine"])
        .args(["!", "audioconvert", "!", "audioresample", "!", "opusenc"])
        .args(["!", "s.sink_1"]);
    let mut publisher = Proc::spawn("gst-publisher-srtp", cmd, &server.dir);
    let p = server.wait_ready("live/srtp", Duration::from_secs(20));
    assert_eq!(p["source"]["type"], "rtspsSession", "{p}");

    for protocols in ["udp", "tcp", "udp-mcast"] {
        let n = gst_decode(&url, protocols);
        eprintln!("rtspsrc decoded {n} frames over SRTP/{protocols}");
        assert!(
            n >= 30,
            "GStreamer decoded {n} frames over SRTP/{protocols}"
        );
    }
    // ffmpeg asks for plain RTP inside TLS (it has no MIKEY).
    let r = probe_raw(&url, 4, &[]);
    assert!(r.success(), "ffprobe over RTSPS failed: {}", r.stderr);
    let streams = parse_probe(&r.stdout);
    let frames = |name: &str| {
        streams
            .iter()
            .find(|s| s.codec_name == name)
            .map(|s| s.frames)
            .unwrap_or(0)
    };
    assert!(frames("h264") >= 60 && frames("opus") >= 100, "{streams:?}");
    // Cross-protocol: an RTMP reader gets the Opus track as AAC.
    let streams = probe(&server.rtmp_url("live/srtp"), 4);
    assert_h264_aac(&streams, 60, 100);

    let sessions = server.get_json("/v3/rtspssessions/list");
    eprintln!("{sessions:#}");
    let items = sessions["items"].as_array().cloned().unwrap_or_default();
    let publishing = items
        .iter()
        .find(|s| s["state"] == "publish")
        .unwrap_or_else(|| panic!("no publishing session: {sessions}"));
    assert_eq!(publishing["profile"], "SAVP", "{publishing}");
    assert_eq!(publishing["transport"], "UDP", "{publishing}");
    assert!(publishing["inboundRTPPackets"].as_u64().unwrap_or(0) > 100);
    // Receiver reports went out as SRTCP; nothing failed to authenticate.
    assert_eq!(publishing["inboundRTPPacketsInError"], 0, "{publishing}");
    assert!(publishing["outboundRTCPPackets"].as_u64().unwrap_or(0) > 0);
    publisher.kill();
}
