//! Captured real-client exchanges (tests/fixtures, recorded with fixtures/capture.py)
//! replayed through the sans-IO [`Session`]: what ffmpeg and GStreamer sent is fed in
//! item by item, and our answers must carry the same statuses and transports as the
//! server's answers in the capture. Publisher captures go on to feed their RTP into the
//! path; reader captures then receive it as interleaved frames or datagrams.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Instant;

use ferrocast_conf::Conf;
use ferrocast_core::conns::ConnInfo;
use ferrocast_core::{CancellationToken, PathManager, Unit};
use ferrocast_rtsp::message::{Decoder, Item, Request, Response};
use ferrocast_rtsp::session::{Session, SessionConfig};

const OPEN: &str = "paths:\n  all_others:\n";

fn fixture(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(name)
}

/// Every item of a captured byte stream.
fn items(file: &str) -> Vec<Item> {
    let bytes = std::fs::read(fixture(file)).unwrap_or_else(|e| panic!("{file}: {e}"));
    let mut d = Decoder::new();
    d.push(&bytes);
    let mut out = Vec::new();
    while let Some(item) = d.next_item().unwrap_or_else(|e| panic!("{file}: {e}")) {
        out.push(item);
    }
    assert_eq!(d.buffered(), 0, "{file}: trailing bytes");
    out
}

/// A capture: the client's items and the server's responses.
struct Capture {
    name: String,
    client: Vec<Item>,
    server: Vec<Response>,
}

impl Capture {
    fn load(name: &str) -> Capture {
        let server = items(&format!("{name}.server"))
            .into_iter()
            .filter_map(|i| match i {
                Item::Response(r) => Some(r),
                _ => None,
            })
            .collect();
        Capture {
            name: name.into(),
            client: items(&format!("{name}.client")),
            server,
        }
    }

    /// The session id the capturing server gave.
    fn session_id(&self) -> Option<String> {
        self.server.iter().find_map(|r| {
            let s = r.header("Session")?;
            Some(s.split(';').next()?.trim().to_string())
        })
    }

    /// The nonce of the capturing server's Digest challenge.
    fn nonce(&self) -> Option<String> {
        self.server.iter().find_map(|r| {
            r.headers
                .iter()
                .filter(|(k, _)| k.eq_ignore_ascii_case("WWW-Authenticate"))
                .find_map(|(_, v)| {
                    let rest = v.split("nonce=\"").nth(1)?;
                    Some(rest.split('"').next()?.to_string())
                })
        })
    }

    /// The capturing server's UDP ports (server_port=), if a UDP SETUP was answered.
    fn server_ports(&self) -> Option<(u16, u16)> {
        self.server.iter().find_map(|r| {
            let t = r.header("Transport")?;
            let p = t.split(';').find_map(|p| p.strip_prefix("server_port="))?;
            let (a, b) = p.split_once('-')?;
            Some((a.parse().ok()?, b.parse().ok()?))
        })
    }
}

/// A session replaying one capture, and what it answered.
struct Replay {
    cap: Capture,
    session: Session,
    info: Arc<ConnInfo>,
    next: usize,
    responses: Vec<Response>,
    /// Interleaved frames we sent, per channel.
    frames: Vec<(u8, usize)>,
    ended: Option<String>,
}

impl Replay {
    fn new(name: &str, paths: &Arc<PathManager>) -> Replay {
        Replay::with_multicast(name, paths, None)
    }

    fn with_multicast(
        name: &str,
        paths: &Arc<PathManager>,
        multicast: Option<Arc<ferrocast_rtsp::Multicast>>,
    ) -> Replay {
        let cap = Capture::load(name);
        let peer = SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), 41000);
        let info = Arc::new(ConnInfo::new(peer, CancellationToken::new()));
        let cfg = SessionConfig {
            paths: paths.clone(),
            scheme: "rtsp",
            read_timeout: std::time::Duration::from_secs(10),
            tcp: true,
            udp: Some(cap.server_ports().unwrap_or((8000, 8001))),
            multicast,
            tls: false,
            srtp: None,
        };
        let nonce = cap.nonce().unwrap_or_else(Session::random_nonce);
        let session = Session::new(cfg, info.clone(), peer, nonce, Instant::now());
        Replay {
            cap,
            session,
            info,
            next: 0,
            responses: Vec::new(),
            frames: Vec::new(),
            ended: None,
        }
    }

    /// Feeds client items until `stop` says to stop before one (or to the end).
    fn run_until(&mut self, stop: impl Fn(&Item) -> bool) {
        while self.next < self.cap.client.len() && self.ended.is_none() {
            let item = self.cap.client[self.next].clone();
            if stop(&item) {
                return;
            }
            self.next += 1;
            let now = Instant::now();
            let r = match item {
                Item::Request(req) => {
                    let req = self.rewrite(req);
                    self.session.on_request(req, now)
                }
                Item::Interleaved { channel, data } => {
                    self.session.on_interleaved(channel, data, now)
                }
                Item::Response(_) => Ok(()),
            };
            self.collect();
            if let Err(reason) = r {
                self.ended = Some(reason);
            }
        }
    }

    fn run(&mut self) {
        self.run_until(|_| false)
    }

    /// The capture's session id becomes ours.
    fn rewrite(&self, mut req: Request) -> Request {
        if let (Some(theirs), Some(ours)) = (self.cap.session_id(), self.session.id()) {
            for (k, v) in req.headers.iter_mut() {
                if k.eq_ignore_ascii_case("Session") {
                    *v = v.replace(&theirs, &ours);
                }
            }
        }
        req
    }

    /// Decodes what the session queued for the TCP connection.
    fn collect(&mut self) {
        let bytes = std::mem::take(&mut self.session.out.tcp);
        let mut d = Decoder::new();
        d.push(&bytes);
        while let Some(item) = d.next_item().expect("our own output parses") {
            match item {
                Item::Response(r) => self.responses.push(r),
                Item::Interleaved { channel, .. } => {
                    match self.frames.iter_mut().find(|(c, _)| *c == channel) {
                        Some(e) => e.1 += 1,
                        None => self.frames.push((channel, 1)),
                    }
                }
                Item::Request(r) => panic!("we sent a request: {r:?}"),
            }
        }
    }

    /// Our answers match the capture's: same statuses in order, same transports (SSRCs
    /// aside), same content types.
    fn assert_same_answers(&self) {
        let name = &self.cap.name;
        let ours: Vec<u16> = self.responses.iter().map(|r| r.status).collect();
        let theirs: Vec<u16> = self.cap.server.iter().map(|r| r.status).collect();
        assert_eq!(ours, theirs, "{name}: statuses");
        for (i, (a, b)) in self.responses.iter().zip(&self.cap.server).enumerate() {
            for h in ["CSeq", "Content-Type"] {
                assert_eq!(a.header(h), b.header(h), "{name}: response {i}: {h}");
            }
            let t = |r: &Response| r.header("Transport").map(without_ssrc);
            assert_eq!(t(a), t(b), "{name}: response {i}: Transport");
            assert_eq!(
                a.header("Session").is_some(),
                b.header("Session").is_some(),
                "{name}: response {i}: Session"
            );
        }
    }

    fn frames_on(&self, channel: u8) -> usize {
        self.frames
            .iter()
            .find(|(c, _)| *c == channel)
            .map(|e| e.1)
            .unwrap_or(0)
    }

    fn is_teardown(item: &Item) -> bool {
        matches!(item, Item::Request(r) if r.method == "TEARDOWN")
    }

    /// Stops before the client pauses or tears down: while it plays.
    fn is_pause_or_teardown(item: &Item) -> bool {
        matches!(item, Item::Request(r) if r.method == "TEARDOWN" || r.method == "PAUSE")
    }

    /// Passes what the reader's queue holds (the path's GOP cache) to the session.
    fn deliver(&mut self) -> usize {
        let Some(q) = self.session.queue().cloned() else {
            return 0;
        };
        let mut batch = Vec::new();
        let _ = q.try_recv(&mut batch);
        let n = batch.len();
        self.session.on_units(&mut batch);
        self.collect();
        n
    }

    /// Datagrams the session queued, per destination port; cleared.
    fn datagrams(&mut self) -> Vec<(u16, usize)> {
        let mut ports: Vec<(u16, usize)> = Vec::new();
        for (_, to, _) in self.session.out.datagrams() {
            match ports.iter_mut().find(|(p, _)| *p == to.port()) {
                Some(e) => e.1 += 1,
                None => ports.push((to.port(), 1)),
            }
        }
        self.session.out.clear_datagrams();
        ports
    }

    /// The client ports of the capture's UDP SETUPs.
    fn client_ports(&self) -> Vec<u16> {
        self.cap
            .server
            .iter()
            .filter_map(|r| {
                let t = r.header("Transport")?;
                let p = t.split(';').find_map(|p| p.strip_prefix("client_port="))?;
                p.split_once('-')?.0.parse().ok()
            })
            .collect()
    }
}

/// A Transport header without what is chosen at random: SSRC and multicast address.
fn without_ssrc(t: &str) -> String {
    t.split(';')
        .filter(|p| !p.starts_with("ssrc=") && !p.starts_with("destination="))
        .collect::<Vec<_>>()
        .join(";")
}

fn manager(yaml: &str) -> Arc<PathManager> {
    let (conf, _) = Conf::from_yaml(yaml, "test.yml").expect("test config");
    PathManager::new(Arc::new(conf))
}

/// Units a reader of `path` gets now.
fn read_now(paths: &Arc<PathManager>, path: &str) -> Vec<Arc<Unit>> {
    let access = ferrocast_core::Access {
        action: ferrocast_core::Action::Read,
        path: path.into(),
        query: String::new(),
        user: String::new(),
        pass: String::new(),
        ip: IpAddr::V4(Ipv4Addr::LOCALHOST),
    };
    let session = ferrocast_core::SessionRef {
        kind: "test",
        id: uuid::Uuid::new_v4(),
        token: CancellationToken::new(),
    };
    let reader = paths.add_reader(&access, session).expect("path is ready");
    let mut out = Vec::new();
    let _ = reader.queue().try_recv(&mut out);
    out
}

/// Replays a publisher capture up to its TEARDOWN; the path then has its tracks and
/// the units of the frames it sent.
fn publish(name: &str, paths: &Arc<PathManager>) -> Replay {
    let mut p = Replay::new(name, paths);
    p.run_until(Replay::is_teardown);
    assert!(p.ended.is_none(), "{name}: ended early: {:?}", p.ended);
    p
}

#[tokio::test]
async fn ffmpeg_publishes_over_tcp() {
    let paths = manager(OPEN);
    let mut p = publish("ffmpeg-publish-tcp", &paths);
    let units = read_now(&paths, "live/fx");
    assert!(!units.is_empty(), "no unit reached the path");
    let snap = paths.snapshot();
    let fx = snap.iter().find(|s| s.name == "live/fx").expect("path");
    assert!(fx.ready, "path not ready");
    assert!(
        p.info
            .rtp
            .inbound_rtp_packets
            .load(std::sync::atomic::Ordering::Relaxed)
            > 10,
        "RTP counters"
    );
    p.run();
    assert_eq!(p.ended.as_deref(), Some("the client sent TEARDOWN"));
    p.assert_same_answers();
}

#[tokio::test]
async fn ffmpeg_publishes_over_udp() {
    let paths = manager(OPEN);
    let mut p = publish("ffmpeg-publish-udp", &paths);
    // Two tracks, each with an RTP and an RTCP route from ffmpeg's ports.
    let routes = p.session.take_routes().expect("routes");
    assert_eq!(routes.len(), 4, "{routes:?}");
    let ports = p.client_ports();
    assert_eq!(ports.len(), 2);
    for port in ports {
        assert!(routes.iter().any(|(rtcp, a, _)| !rtcp && a.port() == port));
        assert!(routes
            .iter()
            .any(|(rtcp, a, _)| *rtcp && a.port() == port + 1));
    }
    let snap = paths.snapshot();
    assert!(snap.iter().any(|s| s.name == "live/fx" && s.ready));
    p.run();
    assert_eq!(p.ended.as_deref(), Some("the client sent TEARDOWN"));
    p.assert_same_answers();
}

#[tokio::test]
async fn gstreamer_publishes_h264_and_opus_over_tcp() {
    let paths = manager(OPEN);
    // rtspclientsink sets up its second stream first, and pauses instead of tearing down.
    let mut p = publish("gst-publish-tcp", &paths);
    let snap = paths.snapshot();
    let path = snap.iter().find(|s| s.name == "live/gstfx").expect("path");
    let codecs: Vec<_> = path.tracks.iter().map(|t| t.codec.api_name()).collect();
    assert_eq!(path.tracks.len(), 2, "{codecs:?}");
    assert!(
        codecs.contains(&"H264") && codecs.contains(&"Opus"),
        "{codecs:?}"
    );
    let units = read_now(&paths, "live/gstfx");
    assert!(units.iter().any(|u| u.key), "no keyframe reached the path");
    p.run();
    assert!(p.ended.is_none());
    p.assert_same_answers();
}

/// Replays a reader capture against the path ffmpeg-publish-tcp publishes, checks what
/// it receives while playing, then lets it finish.
fn read(name: &str, multicast: Option<Arc<ferrocast_rtsp::Multicast>>) -> Replay {
    let paths = manager(OPEN);
    let _publisher = publish("ffmpeg-publish-tcp", &paths);
    let mut r = Replay::with_multicast(name, &paths, multicast);
    r.run_until(Replay::is_pause_or_teardown);
    assert!(r.ended.is_none(), "{name}: {:?}", r.ended);
    let units = r.deliver();
    let _ = r.datagrams(); // (checked by the callers that read over UDP)
    r.run();
    assert_eq!(
        r.ended.as_deref(),
        Some("the client sent TEARDOWN"),
        "{name}: {:?}",
        r.responses.last()
    );
    r.assert_same_answers();
    assert!(
        units > 0 || multicast_name(name),
        "{name}: no unit delivered"
    );
    r
}

fn multicast_name(name: &str) -> bool {
    name.contains("multicast")
}

#[tokio::test]
async fn ffmpeg_reads_over_tcp() {
    let r = read("ffmpeg-read-tcp", None);
    // The GOP cache went out interleaved on both tracks' RTP channels.
    assert!(r.frames_on(0) > 10, "{:?}", r.frames);
    assert!(r.frames_on(2) > 10, "{:?}", r.frames);
}

#[tokio::test]
async fn gstreamer_reads_over_tcp_and_pauses() {
    let r = read("gst-read-tcp", None);
    assert!(r.frames_on(0) > 10, "{:?}", r.frames);
    assert!(r.frames_on(2) > 10, "{:?}", r.frames);
}

/// Over UDP the packets go to the client ports the capture's SETUPs gave.
fn read_udp(name: &str) {
    let paths = manager(OPEN);
    let _publisher = publish("ffmpeg-publish-tcp", &paths);
    let mut r = Replay::new(name, &paths);
    r.run_until(Replay::is_pause_or_teardown);
    assert!(r.deliver() > 0, "{name}: no unit delivered");
    let sent = r.datagrams();
    let ports = r.client_ports();
    assert_eq!(ports.len(), 2, "{name}");
    for port in ports {
        let n = sent.iter().find(|(p, _)| *p == port).map(|e| e.1);
        assert!(n.unwrap_or(0) > 10, "{name}: {sent:?} (port {port})");
    }
    assert!(r.frames.is_empty(), "{name}: interleaved frames over UDP");
    r.run();
    assert_eq!(r.ended.as_deref(), Some("the client sent TEARDOWN"));
    r.assert_same_answers();
}

#[tokio::test]
async fn ffmpeg_reads_over_udp() {
    read_udp("ffmpeg-read-udp");
}

#[tokio::test]
async fn gstreamer_reads_over_udp() {
    read_udp("gst-read-udp");
}

#[tokio::test]
async fn gstreamer_reads_over_multicast() {
    let cap = Capture::load("gst-read-multicast");
    let port = cap
        .server
        .iter()
        .find_map(|r| {
            let t = r.header("Transport")?;
            let p = t.split(';').find_map(|p| p.strip_prefix("port="))?;
            p.split_once('-')?.0.parse::<u16>().ok()
        })
        .expect("a multicast port in the capture");
    let mc = ferrocast_rtsp::Multicast::new("224.1.0.0/16", port, port + 1, None)
        .await
        .expect("multicast socket");
    let r = read("gst-read-multicast", Some(mc));
    // The group sends, not the session.
    assert!(r.frames.is_empty(), "{:?}", r.frames);
}

const DIGEST: &str = "rtspAuthMethods: [digest]
authInternalUsers:
- user: cam
  pass: s3cret
  ips: []
  permissions:
  - action: publish
  - action: read
paths:
  all_others:
";

#[tokio::test]
async fn ffmpeg_publishes_with_digest() {
    // The capture's nonce is given to the session, so ffmpeg's recorded responses check.
    let paths = manager(DIGEST);
    let mut p = publish("ffmpeg-publish-digest", &paths);
    let snap = paths.snapshot();
    assert!(snap.iter().any(|s| s.name == "live/fx" && s.ready));
    p.run();
    assert_eq!(p.ended.as_deref(), Some("the client sent TEARDOWN"));
    p.assert_same_answers();
    assert_eq!(p.responses[1].status, 401);
    let challenge = p.responses[1].header("WWW-Authenticate").unwrap_or("");
    assert!(challenge.starts_with("Digest "), "{challenge}");
}

#[tokio::test]
async fn digest_with_another_password_is_refused() {
    let paths = manager(&DIGEST.replace("s3cret", "other"));
    let mut p = Replay::new("ffmpeg-publish-digest", &paths);
    p.run_until(|i| matches!(i, Item::Interleaved { .. }));
    let statuses: Vec<u16> = p.responses.iter().map(|r| r.status).collect();
    assert_eq!(&statuses[..3], &[200, 401, 401], "{statuses:?}");
}

#[tokio::test]
async fn requests_naming_another_session_get_454() {
    let paths = manager(OPEN);
    let _publisher = publish("ffmpeg-publish-tcp", &paths);
    let mut r = Replay::new("ffmpeg-read-tcp", &paths);
    r.run_until(|i| matches!(i, Item::Request(r) if r.method == "PLAY"));
    let Item::Request(mut play) = r.cap.client[r.next].clone() else {
        unreachable!()
    };
    for (k, v) in play.headers.iter_mut() {
        if k.eq_ignore_ascii_case("Session") {
            *v = "0123456789abcdef".into();
        }
    }
    r.session
        .on_request(play, Instant::now())
        .expect("454, not a close");
    r.collect();
    assert_eq!(r.responses.last().map(|r| r.status), Some(454));
    assert!(r.session.queue().is_none(), "not playing");
}
