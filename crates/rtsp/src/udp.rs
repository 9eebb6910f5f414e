//! The server's two shared UDP sockets (rtpAddress, rtcpAddress) for unicast RTP/RTCP.
//!
//! Every UDP session uses the same two ports, as in RFC 2326 and MediaMTX, so incoming
//! datagrams are routed to their session by source address (the client's `client_port`).
//! Sessions register routes for as long as they live ([`Routes`]); datagrams from unknown
//! addresses are dropped.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use ferrocast_core::CancellationToken;
use parking_lot::Mutex;
use tokio::net::UdpSocket;
use tokio::sync::mpsc;
use tracing::{debug, warn};

/// A datagram routed to a session.
#[derive(Debug)]
pub struct Datagram {
    pub rtcp: bool,
    /// The session's track this address was set up for.
    pub track: usize,
    pub data: Bytes,
}

#[derive(Clone)]
struct Route {
    tx: mpsc::Sender<Datagram>,
    track: usize,
}

/// The RTP and RTCP sockets and the routing table.
pub struct UdpServer {
    rtp: UdpSocket,
    rtcp: UdpSocket,
    pub rtp_port: u16,
    pub rtcp_port: u16,
    routes: Mutex<HashMap<(bool, SocketAddr), Route>>,
    dropped: AtomicU64,
}

impl UdpServer {
    /// Binds both sockets (`rtp` and `rtcp` are socket addresses like `0.0.0.0:8000`).
    pub async fn bind(rtp: SocketAddr, rtcp: SocketAddr) -> std::io::Result<Arc<UdpServer>> {
        let rtp = UdpSocket::bind(rtp).await?;
        let rtcp = UdpSocket::bind(rtcp).await?;
        Ok(Arc::new(UdpServer {
            rtp_port: rtp.local_addr()?.port(),
            rtcp_port: rtcp.local_addr()?.port(),
            rtp,
            rtcp,
            routes: Mutex::new(HashMap::new()),
            dropped: AtomicU64::new(0),
        }))
    }

    /// Receives on both sockets until `shutdown`.
    pub fn spawn(self: &Arc<Self>, shutdown: CancellationToken) {
        for rtcp in [false, true] {
            let s = self.clone();
            let token = shutdown.clone();
            tokio::spawn(async move {
                tokio::select! {
                    _ = token.cancelled() => {}
                    _ = s.recv_loop(rtcp) => {}
                }
            });
        }
    }

    async fn recv_loop(&self, rtcp: bool) {
        let sock = if rtcp { &self.rtcp } else { &self.rtp };
        let mut buf = vec![0u8; 65536];
        let mut last_warn = Instant::now();
        loop {
            let (n, from) = match sock.recv_from(&mut buf).await {
                Ok(x) => x,
                // ICMP port unreachable from a reader that went away shows up here on
                // some systems: not an error of the socket.
                Err(e) => {
                    debug!("RTSP UDP receive: {e}");
                    tokio::time::sleep(Duration::from_millis(1)).await;
                    continue;
                }
            };
            let route = self.routes.lock().get(&(rtcp, from)).cloned();
            let Some(route) = route else {
                debug!("RTSP UDP: {n} bytes from {from}, which has no session: dropped");
                continue;
            };
            let d = Datagram {
                rtcp,
                track: route.track,
                data: Bytes::copy_from_slice(&buf[..n]),
            };
            if route.tx.try_send(d).is_err() {
                self.dropped.fetch_add(1, Ordering::Relaxed);
            }
            if last_warn.elapsed() > Duration::from_secs(10) {
                let n = self.dropped.swap(0, Ordering::Relaxed);
                if n > 0 {
                    warn!("RTSP UDP: {n} datagrams dropped in the last 10 s: sessions too slow to take them");
                }
                last_warn = Instant::now();
            }
        }
    }

    /// Sends one datagram from the RTP or RTCP port. A full socket buffer drops it (UDP).
    pub fn send(&self, rtcp: bool, data: &[u8], to: SocketAddr) -> std::io::Result<()> {
        let sock = if rtcp { &self.rtcp } else { &self.rtp };
        match sock.try_send_to(data, to) {
            Ok(_) => Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                self.dropped.fetch_add(1, Ordering::Relaxed);
                Ok(())
            }
            Err(e) => Err(e),
        }
    }
}

/// The routes of one session; removed when dropped.
pub struct Routes {
    server: Arc<UdpServer>,
    tx: mpsc::Sender<Datagram>,
    keys: Vec<(bool, SocketAddr)>,
}

impl Routes {
    pub fn new(server: Arc<UdpServer>, tx: mpsc::Sender<Datagram>) -> Routes {
        Routes {
            server,
            tx,
            keys: Vec::new(),
        }
    }

    pub fn server(&self) -> &Arc<UdpServer> {
        &self.server
    }

    /// Routes datagrams from `from` on the RTP or RTCP port to this session as `track`
    /// (a later session from the same address takes the route over).
    pub fn add(&mut self, rtcp: bool, from: SocketAddr, track: usize) {
        self.server.routes.lock().insert(
            (rtcp, from),
            Route {
                tx: self.tx.clone(),
                track,
            },
        );
        self.keys.push((rtcp, from));
    }
}

impl Drop for Routes {
    fn drop(&mut self) {
        let mut routes = self.server.routes.lock();
        for k in &self.keys {
            if routes.get(k).is_some_and(|r| r.tx.same_channel(&self.tx)) {
                routes.remove(k);
            }
        }
    }
}
