//! One UDP socket for every peer: the demultiplexer that hands each datagram to its session.
//!
//! A peer's first datagrams are ICE connectivity checks whose USERNAME attribute starts with
//! our ufrag (RFC 8445 7.2.2), which names the session; after that the peer's address does.
//! Datagrams that match no session (port scans, stale peers, garbage) are dropped and logged
//! once per source address, so they never reach, let alone disturb, a session.

use std::collections::{HashMap, HashSet};
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use parking_lot::Mutex;
use tokio::net::UdpSocket;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;
use tracing::{debug, info, warn};
use uuid::Uuid;

/// What a session task receives from the outside.
#[derive(Debug)]
pub(crate) enum SessionMsg {
    Datagram {
        source: SocketAddr,
        /// Over ICE-TCP: the local TCP candidate it arrived on (`None`: the UDP socket).
        tcp_local: Option<SocketAddr>,
        data: Bytes,
        at: Instant,
    },
    /// An ICE-TCP connection from `peer` now belongs to the session: packets for `peer`
    /// go to `writer` (see `tcp`).
    TcpAttach {
        peer: SocketAddr,
        writer: mpsc::Sender<Bytes>,
    },
    /// That connection closed.
    TcpDetach { peer: SocketAddr },
    /// A trickled remote candidate (`candidate:...`).
    Candidate(String),
    /// Closed through the API (DELETE).
    Close(&'static str),
}

/// Queued datagrams per session before the demultiplexer drops them (a session that cannot
/// keep up loses packets like a slow network would, and other sessions go on).
pub(crate) const SESSION_QUEUE: usize = 2048;

/// Largest datagram read; anything bigger is truncated by the kernel and then rejected.
const MAX_DATAGRAM: usize = 2048;

/// The sessions the demultiplexer routes to, by local ICE ufrag.
#[derive(Debug, Default)]
pub(crate) struct Routes {
    by_ufrag: Mutex<HashMap<String, (Uuid, mpsc::Sender<SessionMsg>)>>,
}

impl Routes {
    pub fn add(&self, ufrag: &str, id: Uuid, tx: mpsc::Sender<SessionMsg>) {
        self.by_ufrag.lock().insert(ufrag.to_string(), (id, tx));
    }

    pub fn remove(&self, ufrag: &str) {
        self.by_ufrag.lock().remove(ufrag);
    }

    pub(crate) fn get(&self, ufrag: &str) -> Option<(Uuid, mpsc::Sender<SessionMsg>)> {
        self.by_ufrag.lock().get(ufrag).cloned()
    }
}

/// The USERNAME of a STUN message (RFC 5389 15.3), or `None` when `buf` is not a STUN
/// message with one. Never panics on any input.
pub(crate) fn stun_username(buf: &[u8]) -> Option<&str> {
    const MAGIC: [u8; 4] = [0x21, 0x12, 0xa4, 0x42];
    if buf.len() < 20 || buf[0] & 0xc0 != 0 || buf[4..8] != MAGIC {
        return None;
    }
    let len = u16::from_be_bytes([buf[2], buf[3]]) as usize;
    let body = buf.get(20..20 + len)?;
    let mut p = 0usize;
    while p + 4 <= body.len() {
        let typ = u16::from_be_bytes([body[p], body[p + 1]]);
        let alen = u16::from_be_bytes([body[p + 2], body[p + 3]]) as usize;
        let value = body.get(p + 4..p + 4 + alen)?;
        if typ == 0x0006 {
            return std::str::from_utf8(value).ok();
        }
        p += 4 + alen.div_ceil(4) * 4;
    }
    None
}

/// The local ufrag of an ICE check: USERNAME is "receiver:sender" (RFC 8445 7.2.2).
pub(crate) fn local_ufrag(buf: &[u8]) -> Option<&str> {
    stun_username(buf).and_then(|u| u.split(':').next())
}

/// An IPv4-mapped IPv6 address as IPv4 (what a dual-stack socket reports for IPv4 peers).
pub(crate) fn unmap(addr: SocketAddr) -> SocketAddr {
    match addr {
        SocketAddr::V6(v6) => match v6.ip().to_ipv4_mapped() {
            Some(v4) => SocketAddr::new(IpAddr::V4(v4), v6.port()),
            None => addr,
        },
        SocketAddr::V4(_) => addr,
    }
}

/// Routing state of the demultiplexer task.
struct Demux {
    routes: Arc<Routes>,
    by_addr: HashMap<SocketAddr, (Uuid, mpsc::Sender<SessionMsg>)>,
    logged: HashSet<SocketAddr>,
    dropped_full: u64,
    last_sweep: Instant,
}

impl Demux {
    fn route(&mut self, source: SocketAddr, data: &[u8], at: Instant) {
        // ICE checks are routed by ufrag first: a peer may move to another address, and an
        // address may be reused by a new session after the old one ended.
        if let Some(ufrag) = local_ufrag(data) {
            if let Some((id, tx)) = self.routes.get(ufrag) {
                let known = matches!(self.by_addr.get(&source), Some((old, _)) if *old == id);
                if !known {
                    debug!("webrtc: {source} -> session {id}");
                    self.by_addr.insert(source, (id, tx));
                }
            }
        }
        let Some((_, tx)) = self.by_addr.get(&source) else {
            self.log_once(source, "matches no session");
            return;
        };
        let msg = SessionMsg::Datagram {
            source,
            tcp_local: None,
            data: Bytes::copy_from_slice(data),
            at,
        };
        match tx.try_send(msg) {
            Ok(()) => {}
            Err(mpsc::error::TrySendError::Full(_)) => self.dropped_full += 1,
            Err(mpsc::error::TrySendError::Closed(_)) => {
                self.by_addr.remove(&source);
            }
        }
    }

    fn log_once(&mut self, source: SocketAddr, what: &str) {
        if self.logged.len() >= 4096 {
            self.logged.clear();
        }
        if self.logged.insert(source) {
            info!("webrtc: dropping UDP datagrams from {source}: {what} (logged once per address)");
        }
    }

    fn sweep(&mut self, now: Instant) {
        if now.duration_since(self.last_sweep) < Duration::from_secs(10) {
            return;
        }
        self.last_sweep = now;
        self.by_addr.retain(|_, (_, tx)| !tx.is_closed());
        if self.dropped_full > 0 {
            warn!(
                "webrtc: {} datagrams dropped in the last period: sessions did not keep up",
                self.dropped_full
            );
            self.dropped_full = 0;
        }
    }
}

/// Reads the socket until `shutdown`, handing datagrams to sessions.
pub(crate) async fn run_demux(
    socket: Arc<UdpSocket>,
    routes: Arc<Routes>,
    shutdown: CancellationToken,
) {
    let mut demux = Demux {
        routes,
        by_addr: HashMap::new(),
        logged: HashSet::new(),
        dropped_full: 0,
        last_sweep: Instant::now(),
    };
    let mut buf = vec![0u8; MAX_DATAGRAM];
    loop {
        let r = tokio::select! {
            r = socket.recv_from(&mut buf) => r,
            _ = shutdown.cancelled() => return,
        };
        let now = Instant::now();
        match r {
            Ok((n, source)) => {
                let source = unmap(source);
                if n == 0 || n >= MAX_DATAGRAM {
                    demux.log_once(source, "empty or oversized datagram");
                } else {
                    demux.route(source, &buf[..n], now);
                }
            }
            // ICMP port unreachable from a peer that went away surfaces here on some
            // systems; it concerns that peer only.
            Err(e) => debug!("webrtc: UDP receive error: {e}"),
        }
        demux.sweep(now);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn binding_request(username: &str) -> Vec<u8> {
        let mut attrs = Vec::new();
        attrs.extend_from_slice(&0x0006u16.to_be_bytes());
        attrs.extend_from_slice(&(username.len() as u16).to_be_bytes());
        attrs.extend_from_slice(username.as_bytes());
        while attrs.len() % 4 != 0 {
            attrs.push(0);
        }
        let mut m = vec![0x00, 0x01];
        m.extend_from_slice(&(attrs.len() as u16).to_be_bytes());
        m.extend_from_slice(&[0x21, 0x12, 0xa4, 0x42]);
        m.extend_from_slice(&[7; 12]);
        m.extend_from_slice(&attrs);
        m
    }

    #[test]
    fn username() {
        let m = binding_request("srv1:cli2");
        assert_eq!(stun_username(&m), Some("srv1:cli2"));
        assert_eq!(local_ufrag(&m), Some("srv1"));
        for n in 0..m.len() {
            let _ = stun_username(&m[..n]); // never panics
        }
        assert_eq!(stun_username(&[0x80; 40]), None); // RTP
        assert_eq!(stun_username(b"garbage garbage garbage garbage"), None);
    }

    #[tokio::test]
    async fn routes_by_ufrag_then_address() {
        let routes = Arc::new(Routes::default());
        let (tx, mut rx) = mpsc::channel(8);
        let id = Uuid::new_v4();
        routes.add("srv1", id, tx);
        let mut d = Demux {
            routes: routes.clone(),
            by_addr: HashMap::new(),
            logged: HashSet::new(),
            dropped_full: 0,
            last_sweep: Instant::now(),
        };
        let peer: SocketAddr = "127.0.0.1:5000".parse().unwrap();
        let other: SocketAddr = "127.0.0.1:5001".parse().unwrap();
        let now = Instant::now();
        d.route(peer, &[0x80, 1, 2, 3], now); // before any check: dropped
        d.route(peer, &binding_request("nope:x"), now); // unknown ufrag: dropped
        d.route(peer, &binding_request("srv1:cli"), now);
        d.route(peer, &[0x80, 1, 2, 3], now); // RTP from the known address
        d.route(other, &[0x16, 0xfe, 0xfd], now); // DTLS from a stranger: dropped
        let mut got = vec![];
        while let Ok(SessionMsg::Datagram { data, .. }) = rx.try_recv() {
            got.push(data.len());
        }
        assert_eq!(got.len(), 2);
        assert_eq!(d.logged.len(), 2);
        drop(rx);
        d.route(peer, &[0x80, 1, 2, 3], now); // session gone: forgotten
        assert!(d.by_addr.is_empty());
    }

    #[test]
    fn unmaps() {
        let a: SocketAddr = "[::ffff:10.0.0.1]:9".parse().unwrap();
        assert_eq!(unmap(a), "10.0.0.1:9".parse::<SocketAddr>().unwrap());
    }
}
