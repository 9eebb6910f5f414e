//! RTSPS with SRTP through the sans-IO [`Session`]: the request sequences GStreamer's
//! rtspclientsink and rtspsrc send (docs/srtp-rtsps.md 1.2 and 1.3), with the media of
//! the captured ffmpeg publisher (tests/fixtures) protected and unprotected on the way.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Instant;

use bytes::Bytes;
use ferrocast_conf::Conf;
use ferrocast_core::conns::ConnInfo;
use ferrocast_core::{CancellationToken, PathManager};
use ferrocast_rtp::srtp::{MasterKey, SrtpReceiver, SrtpSender};
use ferrocast_rtp::RtpPacket;
use ferrocast_rtsp::keys::SrtpKeys;
use ferrocast_rtsp::message::{Decoder, Item, Request, Response};
use ferrocast_rtsp::mikey;
use ferrocast_rtsp::session::{Session, SessionConfig};
use ferrocast_rtsp::udp::Datagram;

const URL: &str = "rtsps://127.0.0.1:8322/sec";

fn manager() -> Arc<PathManager> {
    let (conf, _) = Conf::from_yaml("paths:\n  all_others:\n", "test.yml").expect("config");
    PathManager::new(Arc::new(conf))
}

struct Client {
    session: Session,
    info: Arc<ConnInfo>,
    cseq: u32,
    id: Option<String>,
}

impl Client {
    /// A connection to the plain listener (`keys` None) or the RTSPS one.
    fn new(paths: &Arc<PathManager>, keys: Option<&Arc<SrtpKeys>>, port: u16) -> Client {
        let tls = keys.is_some();
        let peer = SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), port);
        let info = Arc::new(ConnInfo::new(peer, CancellationToken::new()));
        let cfg = SessionConfig {
            paths: paths.clone(),
            scheme: if tls { "rtsps" } else { "rtsp" },
            read_timeout: std::time::Duration::from_secs(10),
            tcp: true,
            udp: Some((8004, 8005)),
            multicast: None,
            tls,
            srtp: keys.cloned(),
        };
        let session = Session::new(cfg, info.clone(), peer, "n".into(), Instant::now());
        Client {
            session,
            info,
            cseq: 0,
            id: None,
        }
    }

    /// Sends a request; returns the answer and what else was queued on the connection.
    fn request(
        &mut self,
        method: &str,
        uri: &str,
        headers: &[(&str, String)],
        body: &str,
    ) -> (Response, Vec<(u8, Bytes)>) {
        self.cseq += 1;
        let mut h: Vec<(String, String)> = vec![("CSeq".into(), self.cseq.to_string())];
        if let Some(id) = &self.id {
            h.push(("Session".into(), id.clone()));
        }
        h.extend(headers.iter().map(|(k, v)| (k.to_string(), v.clone())));
        let req = Request {
            method: method.into(),
            uri: uri.into(),
            headers: h,
            body: Bytes::from(body.to_string()),
        };
        let r = self.session.on_request(req, Instant::now());
        assert!(r.is_ok(), "{method}: {r:?}");
        let (mut responses, frames) = self.collect();
        assert_eq!(responses.len(), 1, "{method}");
        let res = responses.remove(0);
        if let Some(s) = res.header("Session") {
            self.id = s.split(';').next().map(str::to_string);
        }
        (res, frames)
    }

    fn collect(&mut self) -> (Vec<Response>, Vec<(u8, Bytes)>) {
        let bytes = std::mem::take(&mut self.session.out.tcp);
        let mut d = Decoder::new();
        d.push(&bytes);
        let (mut responses, mut frames) = (Vec::new(), Vec::new());
        while let Some(item) = d.next_item().expect("our own output parses") {
            match item {
                Item::Response(r) => responses.push(r),
                Item::Interleaved { channel, data } => frames.push((channel, data)),
                Item::Request(r) => panic!("we sent a request: {r:?}"),
            }
        }
        (responses, frames)
    }

    /// Datagrams queued: (RTCP?, port, bytes).
    fn datagrams(&mut self) -> Vec<(bool, u16, Vec<u8>)> {
        let d = self
            .session
            .out
            .datagrams()
            .map(|(rtcp, to, b)| (rtcp, to.port(), b.to_vec()))
            .collect();
        self.session.out.clear_datagrams();
        d
    }

    /// Gives the session what its reader queue holds (the path's GOP cache).
    fn deliver(&mut self) -> usize {
        let q = self.session.queue().cloned().expect("playing");
        let mut batch = Vec::new();
        let _ = q.try_recv(&mut batch);
        let n = batch.len();
        self.session.on_units(&mut batch);
        n
    }
}

/// The ANNOUNCE SDP and the interleaved RTP of the captured ffmpeg publisher.
fn ffmpeg_capture() -> (String, Vec<(u8, Bytes)>) {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/ffmpeg-publish-tcp.client"
    );
    let bytes = std::fs::read(path).expect("fixture");
    let mut d = Decoder::new();
    d.push(&bytes);
    let (mut sdp, mut frames) = (String::new(), Vec::new());
    while let Some(item) = d.next_item().expect("fixture parses") {
        match item {
            Item::Request(r) if r.method == "ANNOUNCE" => {
                sdp = String::from_utf8(r.body.to_vec()).expect("SDP")
            }
            Item::Interleaved { channel, data } => frames.push((channel, data)),
            _ => {}
        }
    }
    (sdp, frames)
}

fn key(response: &Response) -> mikey::Mikey {
    let v = response.header("KeyMgmt").expect("a KeyMgmt header");
    mikey::parse_key_mgmt(v, "").expect("a MIKEY key")
}

/// rtspclientsink publishes with `profiles=savp` over UDP (keys in the ANNOUNCE SDP),
/// then rtspsrc reads over UDP with its key in the SETUP (docs/srtp-rtsps.md 1.2, 1.3).
#[tokio::test]
async fn publish_and_read_with_srtp() {
    let paths = manager();
    let keys = SrtpKeys::new();
    let (sdp, frames) = ffmpeg_capture();
    // One client key per media, in the SDP, as rtspclientsink does.
    let client_keys = [MasterKey::random(), MasterKey::random()];
    let mut secure_sdp = String::new();
    let mut media = 0;
    for line in sdp.lines() {
        if line.starts_with("m=") {
            if media > 0 {
                let msg = mikey::encode(&client_keys[media - 1], &[(0x547d_c02b, 0)]);
                secure_sdp.push_str(&format!("{}\r\n", mikey::sdp_attribute(&msg)));
            }
            media += 1;
            secure_sdp.push_str(&line.replace("RTP/AVP", "RTP/SAVP"));
        } else {
            secure_sdp.push_str(line);
        }
        secure_sdp.push_str("\r\n");
    }
    let msg = mikey::encode(&client_keys[1], &[(0x547d_c02b, 0)]);
    secure_sdp.push_str(&format!("{}\r\n", mikey::sdp_attribute(&msg)));

    let mut p = Client::new(&paths, Some(&keys), 41000);
    let (res, _) = p.request(
        "ANNOUNCE",
        URL,
        &[("Content-Type", "application/sdp".into())],
        &secure_sdp,
    );
    assert_eq!(res.status, 200);
    // Our key for receiver reports: one KeyMgmt line per media.
    let server_keys: Vec<&str> = res
        .headers
        .iter()
        .filter(|(k, _)| k == "KeyMgmt")
        .map(|(_, v)| v.as_str())
        .collect();
    assert_eq!(server_keys.len(), 2, "{res:?}");
    assert!(server_keys[0].contains(&format!("uri=\"{URL}/streamid=0\"")));
    let rr_key = mikey::parse_key_mgmt(server_keys[0], "").unwrap();
    for (i, ports) in [(0, "38288-38289"), (1, "38290-38291")] {
        let (res, _) = p.request(
            "SETUP",
            &format!("{URL}/streamid={i}"),
            &[(
                "Transport",
                format!("RTP/SAVP/UDP;unicast;client_port={ports};mode=RECORD"),
            )],
            "",
        );
        assert_eq!(res.status, 200, "{res:?}");
        let t = res.header("Transport").unwrap();
        assert!(
            t.starts_with("RTP/SAVP;unicast;client_port=") && t.contains("server_port=8004-8005"),
            "{t}"
        );
        assert_eq!(key(&res).key, rr_key.key, "the same key as in the ANNOUNCE");
    }
    let (res, _) = p.request("RECORD", URL, &[], "");
    assert_eq!(res.status, 200);
    assert_eq!(p.info.details.lock().profile, "SAVP");

    // The captured media, protected with the client keys, arrives as datagrams.
    let mut senders = [
        SrtpSender::new(&client_keys[0]),
        SrtpSender::new(&client_keys[1]),
    ];
    let now = Instant::now();
    let mut sent = 0;
    for (channel, data) in &frames {
        if channel % 2 == 1 {
            continue;
        }
        let track = usize::from(channel / 2);
        let mut pkt = data.to_vec();
        senders[track].protect_rtp(&mut pkt, 0);
        let d = Datagram {
            rtcp: false,
            track,
            data: Bytes::from(pkt),
        };
        p.session.on_datagram(d, now).expect("datagram");
        sent += 1;
    }
    let rtp = &p.info.rtp;
    assert_eq!(rtp.inbound_rtp_packets.load(Ordering::Relaxed), sent);
    assert_eq!(rtp.inbound_rtp_packets_in_error.load(Ordering::Relaxed), 0);
    // Forged and plain packets are counted and dropped; the session goes on.
    let plain = Datagram {
        rtcp: false,
        track: 0,
        data: frames[0].1.clone(),
    };
    p.session
        .on_datagram(plain, now)
        .expect("dropped, not fatal");
    assert_eq!(rtp.inbound_rtp_packets_in_error.load(Ordering::Relaxed), 1);
    assert_eq!(rtp.inbound_rtp_packets.load(Ordering::Relaxed), sent);
    // Our receiver reports are SRTCP under the key we announced.
    p.session
        .on_tick(now + std::time::Duration::from_secs(2))
        .ok();
    let reports = p.datagrams();
    assert_eq!(reports.len(), 2, "one RR per track");
    let mut rr = SrtpReceiver::new(&rr_key.key, &rr_key.streams);
    for (rtcp, port, b) in &reports {
        assert!(*rtcp && (*port == 38289 || *port == 38291));
        let plain = rr.unprotect_rtcp(b).expect("SRTCP under the announced key");
        assert_eq!(plain[1], 201, "a receiver report");
    }

    // A reader: DESCRIBE gives SRTP and a key per track; SETUP sends the client's key.
    let mut r = Client::new(&paths, Some(&keys), 42000);
    let (res, _) = r.request("DESCRIBE", URL, &[], "");
    assert_eq!(res.status, 200);
    let sdp = String::from_utf8(res.body.to_vec()).unwrap();
    assert!(sdp.contains("m=video 0 RTP/SAVP 96\r\n"), "{sdp}");
    assert!(sdp.contains("m=audio 0 RTP/SAVP 97\r\n"), "{sdp}");
    let sdp_keys: Vec<mikey::Mikey> = sdp
        .lines()
        .filter_map(|l| l.strip_prefix("a=key-mgmt:mikey "))
        .map(|b| mikey::from_base64(b).unwrap())
        .collect();
    assert_eq!(sdp_keys.len(), 2, "{sdp}");
    assert_ne!(sdp_keys[0].key, sdp_keys[1].key);
    let reader_key = MasterKey::random();
    let (res, _) = r.request(
        "SETUP",
        &format!("{URL}/trackID=0"),
        &[
            (
                "Transport",
                "RTP/SAVP;unicast;client_port=33548-33549".into(),
            ),
            (
                "KeyMgmt",
                mikey::key_mgmt_header(
                    &format!("{URL}/trackID=0"),
                    &mikey::encode(&reader_key, &[(0x1685_5b5b, 0)]),
                ),
            ),
        ],
        "",
    );
    assert_eq!(res.status, 200, "{res:?}");
    let t = res.header("Transport").unwrap().to_string();
    assert!(t.starts_with("RTP/SAVP;unicast;client_port=33548-33549;server_port=8004-8005"));
    let k = key(&res);
    assert_eq!(
        k.key, sdp_keys[0].key,
        "SETUP and DESCRIBE give the same key"
    );
    assert_eq!(k.streams, sdp_keys[0].streams, "and the same SSRC");
    assert!(t.ends_with(&format!(";ssrc={:08X}", k.streams[0].0)), "{t}");
    let (res, _) = r.request("PLAY", URL, &[], "");
    assert_eq!(res.status, 200);
    assert!(r.deliver() > 0);
    let out = r.datagrams();
    assert!(out.len() > 10, "{}", out.len());
    let mut dec = SrtpReceiver::new(&sdp_keys[0].key, &[]);
    for (rtcp, port, b) in &out {
        assert!(!rtcp && *port == 33548);
        let plain = dec.unprotect_rtp(b).expect("SRTP under the SDP key");
        let pkt = RtpPacket::parse(&plain).expect("RTP");
        assert_eq!(pkt.ssrc, k.streams[0].0);
    }
    // The reader's receiver reports, under its own key, are read.
    let mut s = SrtpSender::new(&reader_key);
    let mut rtcp = vec![0x81, 201, 0, 7, 0x16, 0x85, 0x5b, 0x5b];
    rtcp.extend(k.streams[0].0.to_be_bytes());
    rtcp.extend([0u8; 20]);
    s.protect_rtcp(&mut rtcp, 0);
    let d = Datagram {
        rtcp: true,
        track: 0,
        data: Bytes::from(rtcp),
    };
    r.session.on_datagram(d, now).unwrap();
    assert_eq!(r.info.rtp.inbound_rtcp_packets.load(Ordering::Relaxed), 1);
    assert_eq!(
        r.info
            .rtp
            .inbound_rtcp_packets_in_error
            .load(Ordering::Relaxed),
        0
    );

    // A second reader over TCP with SRTP inside TLS (rtspsrc protocols=tcp): another
    // SSRC under the same path key.
    let mut t2 = Client::new(&paths, Some(&keys), 43000);
    let (res, _) = t2.request("DESCRIBE", URL, &[], "");
    assert_eq!(res.status, 200);
    let (res, _) = t2.request(
        "SETUP",
        &format!("{URL}/trackID=0"),
        &[("Transport", "RTP/SAVP/TCP;unicast;interleaved=0-1".into())],
        "",
    );
    assert_eq!(res.status, 200);
    assert!(res
        .header("Transport")
        .unwrap()
        .starts_with("RTP/SAVP/TCP;unicast;interleaved=0-1"));
    let k2 = key(&res);
    assert_eq!(k2.key, sdp_keys[0].key, "one key per path and track");
    assert_ne!(
        k2.streams[0].0, k.streams[0].0,
        "SSRCs differ under one key"
    );
    t2.request("PLAY", URL, &[], "");
    t2.deliver();
    let (_, frames) = t2.collect();
    assert!(frames.len() > 10);
    let mut dec = SrtpReceiver::new(&k2.key, &[]);
    for (channel, b) in frames {
        assert_eq!(channel, 0);
        dec.unprotect_rtp(&b).expect("SRTP inside TLS");
    }
}

/// ffmpeg over `rtsps://` asks for plain RTP inside TLS even when the SDP says SAVP, and
/// gets it; plain UDP on RTSPS and SRTP on plain RTSP are refused.
#[tokio::test]
async fn which_profiles_each_listener_accepts() {
    let paths = manager();
    let keys = SrtpKeys::new();
    let (sdp, _) = ffmpeg_capture();
    let mut p = Client::new(&paths, None, 41000);
    let (res, _) = p.request(
        "ANNOUNCE",
        "rtsp://127.0.0.1:8554/sec",
        &[("Content-Type", "application/sdp".into())],
        &sdp,
    );
    assert_eq!(res.status, 200);
    for (i, t) in ["RTP/SAVP/UDP", "RTP/AVP/UDP"].iter().enumerate() {
        let (res, _) = p.request(
            "SETUP",
            "rtsp://127.0.0.1:8554/sec/streamid=0",
            &[(
                "Transport",
                format!("{t};unicast;client_port=5000-5001;mode=record"),
            )],
            "",
        );
        assert_eq!(res.status, [461, 200][i], "{t} on RTSP");
    }
    let (res, _) = p.request("RECORD", "rtsp://127.0.0.1:8554/sec", &[], "");
    assert_eq!(res.status, 200);
    assert_eq!(p.info.details.lock().profile, "AVP");

    let mut r = Client::new(&paths, Some(&keys), 42000);
    assert_eq!(r.request("DESCRIBE", URL, &[], "").0.status, 200);
    let (res, _) = r.request(
        "SETUP",
        &format!("{URL}/trackID=0"),
        &[("Transport", "RTP/AVP;unicast;client_port=5000-5001".into())],
        "",
    );
    assert_eq!(res.status, 461, "plain RTP over UDP on RTSPS");
    let (res, _) = r.request(
        "SETUP",
        &format!("{URL}/trackID=0"),
        &[("Transport", "RTP/AVP/TCP;unicast;interleaved=0-1".into())],
        "",
    );
    assert_eq!(res.status, 200);
    assert!(res
        .header("Transport")
        .unwrap()
        .starts_with("RTP/AVP/TCP;unicast;interleaved=0-1;ssrc="));
    assert!(res.header("KeyMgmt").is_none());
    assert_eq!(r.info.details.lock().profile, "AVP");

    // An SRTP publisher on plain RTSP is refused at ANNOUNCE.
    let mut bad = Client::new(&paths, None, 44000);
    let req = Request {
        method: "ANNOUNCE".into(),
        uri: "rtsp://127.0.0.1:8554/other".into(),
        headers: vec![("CSeq".into(), "1".into())],
        body: Bytes::from(sdp.replace("RTP/AVP", "RTP/SAVP")),
    };
    assert!(bad.session.on_request(req, Instant::now()).is_err());
    let (responses, _) = bad.collect();
    assert_eq!(responses[0].status, 400);
}
