//! RTSP server: the tokio driver of [`Session`]. One task per connection reads the socket,
//! the UDP datagrams [`UdpServer`] routes to it, the reader's queue and a 1 s tick, feeds
//! them to the session and sends what it queued. Requests are answered in order.

use std::net::SocketAddr;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

use ferrocast_core::conns::{ConnGuard, ConnInfo, ConnRegistry};
use ferrocast_core::{CancellationToken, PathManager, Unit};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpListener;
use tokio::sync::mpsc;
use tracing::info;

use crate::message::{Decoder, Item};
use crate::multicast::Multicast;
use crate::session::{Session, SessionConfig};
use crate::udp::{Datagram, Routes, UdpServer};

pub use crate::session::SESSION_TIMEOUT;

/// Settings of one listener.
#[derive(Clone)]
pub struct ServerConfig {
    pub paths: Arc<PathManager>,
    pub conns: Arc<ConnRegistry>,
    pub read_timeout: Duration,
    pub write_timeout: Duration,
    /// "rtsp" or "rtsps", for logs.
    pub scheme: &'static str,
    /// TCP interleaving allowed (rtspTransports has `tcp`).
    pub tcp: bool,
    /// UDP unicast sockets (rtspTransports has `udp`).
    pub udp: Option<Arc<UdpServer>>,
    /// UDP multicast (rtspTransports has `multicast`).
    pub multicast: Option<Arc<Multicast>>,
    /// RTSPS: the TLS acceptor.
    pub tls: Option<tokio_rustls::TlsAcceptor>,
    /// RTSPS: SRTP keys of readers (shared with `multicast`); RTP/SAVP is refused without.
    pub srtp: Option<Arc<crate::keys::SrtpKeys>>,
}

/// A connection's byte stream: TCP, or TLS over TCP.
trait Io: AsyncRead + AsyncWrite + Unpin + Send {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send> Io for T {}

/// Accepts connections until `shutdown` is cancelled.
pub async fn serve(listener: TcpListener, cfg: ServerConfig, shutdown: CancellationToken) {
    let scheme = cfg.scheme;
    ferrocast_core::net::accept_loop(listener, scheme, shutdown, move |sock, peer, token| {
        let cfg = cfg.clone();
        async move {
            let io: Box<dyn Io> = match cfg.tls.clone() {
                Some(acceptor) => {
                    let hs = tokio::time::timeout(cfg.read_timeout, acceptor.accept(sock)).await;
                    match hs {
                        Ok(Ok(tls)) => Box::new(tls),
                        Ok(Err(e)) => {
                            info!("{scheme} conn {peer}: TLS handshake failed: {e}");
                            return;
                        }
                        Err(_) => {
                            info!("{scheme} conn {peer}: TLS handshake timed out");
                            return;
                        }
                    }
                }
                None => Box::new(sock),
            };
            run_conn(io, peer, cfg, token).await
        }
    })
    .await;
}

struct Conn {
    cfg: ServerConfig,
    guard: ConnGuard,
    peer: SocketAddr,
    session: Session,
    udp_tx: mpsc::Sender<Datagram>,
    routes: Option<Routes>,
}

async fn run_conn(
    mut sock: Box<dyn Io>,
    peer: SocketAddr,
    cfg: ServerConfig,
    token: CancellationToken,
) {
    let info = Arc::new(ConnInfo::new(peer, token.clone()));
    let guard = cfg.conns.add(info.clone());
    let scheme = cfg.scheme;
    info!("{scheme} conn {peer} [{}]: opened", info.id);
    let (udp_tx, mut udp_rx) = mpsc::channel(1024);
    let scfg = SessionConfig {
        paths: cfg.paths.clone(),
        scheme,
        read_timeout: cfg.read_timeout,
        tcp: cfg.tcp,
        udp: cfg.udp.as_ref().map(|u| (u.rtp_port, u.rtcp_port)),
        multicast: cfg.multicast.clone(),
        tls: cfg.tls.is_some(),
        srtp: cfg.srtp.clone(),
    };
    let session = Session::new(
        scfg,
        info.clone(),
        peer,
        Session::random_nonce(),
        Instant::now(),
    );
    let mut conn = Conn {
        cfg,
        guard,
        peer,
        session,
        udp_tx,
        routes: None,
    };
    let reason = conn.run(&mut sock, &mut udp_rx, &token).await;
    let path = info.details.lock().path.clone();
    info!(
        "{scheme} conn {peer} [{}]: closed{}: {reason}",
        info.id,
        if path.is_empty() {
            String::new()
        } else {
            format!(" (path '{path}')")
        }
    );
}

enum Wake {
    Read(std::io::Result<usize>),
    Units(Result<usize, ferrocast_core::ReadError>),
    Udp(Option<Datagram>),
    Kicked,
    Tick,
}

impl Conn {
    async fn run(
        &mut self,
        sock: &mut Box<dyn Io>,
        udp_rx: &mut mpsc::Receiver<Datagram>,
        token: &CancellationToken,
    ) -> String {
        let mut buf = vec![0u8; 65536];
        let mut decoder = Decoder::new();
        let mut batch: Vec<Arc<Unit>> = Vec::new();
        let mut tick = tokio::time::interval(Duration::from_secs(1));
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            let queue = self.session.queue().cloned();
            let wake = tokio::select! {
                biased;
                _ = token.cancelled() => Wake::Kicked,
                r = sock.read(&mut buf) => Wake::Read(r),
                d = udp_rx.recv() => Wake::Udp(d),
                r = async {
                    match &queue {
                        Some(q) => q.recv(&mut batch).await,
                        None => std::future::pending().await,
                    }
                } => Wake::Units(r),
                _ = tick.tick() => Wake::Tick,
            };
            let result = match wake {
                Wake::Read(Ok(0)) => return "the peer closed the connection".into(),
                Wake::Read(Err(e)) => return format!("read error: {e}"),
                Wake::Read(Ok(n)) => {
                    self.guard
                        .info
                        .bytes_received
                        .fetch_add(n as u64, Ordering::Relaxed);
                    decoder.push(&buf[..n]);
                    self.on_input(&mut decoder).await
                }
                Wake::Udp(Some(d)) => {
                    self.guard
                        .info
                        .bytes_received
                        .fetch_add(d.data.len() as u64, Ordering::Relaxed);
                    self.session.on_datagram(d, Instant::now())
                }
                Wake::Udp(None) => Ok(()),
                Wake::Units(Ok(_)) => {
                    self.session.on_units(&mut batch);
                    Ok(())
                }
                Wake::Units(Err(ferrocast_core::ReadError::Closed(reason))) => {
                    return reason;
                }
                Wake::Kicked => {
                    return "closed by the server (kicked, path removed or replaced, or shutting down)"
                        .into()
                }
                Wake::Tick => self.session.on_tick(Instant::now()),
            };
            if let Some(table) = self.session.take_routes() {
                self.set_routes(table);
            }
            if let Err(reason) = self.flush(sock).await {
                return reason;
            }
            if let Err(reason) = result {
                return reason;
            }
        }
    }

    /// Decodes and handles every complete item of the input.
    async fn on_input(&mut self, decoder: &mut Decoder) -> Result<(), String> {
        loop {
            match decoder.next_item() {
                Ok(None) => return Ok(()),
                Ok(Some(Item::Request(req))) => {
                    // A reader of a path with an on-demand source waits for it here.
                    if let Some(access) = self.session.reads_source(&req) {
                        let paths = self.cfg.paths.clone();
                        if let Err(e) = paths.wait_for_source(&access).await {
                            self.session.refuse(&req, &e)?;
                            continue;
                        }
                    }
                    self.session.on_request(req, Instant::now())?
                }
                Ok(Some(Item::Response(_))) => {} // answers to nothing we asked: ignore
                Ok(Some(Item::Interleaved { channel, data })) => {
                    self.session.on_interleaved(channel, data, Instant::now())?
                }
                Err(e) => return Err(self.session.on_malformed(&e)),
            }
        }
    }

    /// Replaces this connection's UDP routes with the session's table.
    fn set_routes(&mut self, table: Vec<crate::session::Route>) {
        self.routes = None;
        let Some(udp) = self.cfg.udp.clone() else {
            return;
        };
        if table.is_empty() {
            return;
        }
        let mut routes = Routes::new(udp, self.udp_tx.clone());
        for (rtcp, from, track) in table {
            routes.add(rtcp, from, track);
        }
        self.routes = Some(routes);
    }

    /// Sends what the last event queued.
    async fn flush(&mut self, sock: &mut Box<dyn Io>) -> Result<(), String> {
        let out = &mut self.session.out;
        if out.has_datagrams() {
            if let Some(udp) = &self.cfg.udp {
                let mut sent = 0u64;
                for (rtcp, to, data) in out.datagrams() {
                    match udp.send(rtcp, data, to) {
                        Ok(()) => sent += data.len() as u64,
                        Err(e) => {
                            tracing::debug!(
                                "{} conn {}: UDP send to {to}: {e}",
                                self.cfg.scheme,
                                self.peer
                            );
                        }
                    }
                }
                self.guard
                    .info
                    .bytes_sent
                    .fetch_add(sent, Ordering::Relaxed);
            }
            out.clear_datagrams();
        }
        if out.tcp.is_empty() {
            return Ok(());
        }
        let bytes = std::mem::take(&mut out.tcp);
        let w = tokio::time::timeout(self.cfg.write_timeout, sock.write_all(&bytes)).await;
        match w {
            Ok(Ok(())) => {
                self.guard
                    .info
                    .bytes_sent
                    .fetch_add(bytes.len() as u64, Ordering::Relaxed);
            }
            Ok(Err(e)) => return Err(format!("write error: {e}")),
            Err(_) => return Err(format!("write timed out ({:?})", self.cfg.write_timeout)),
        }
        let out = &mut self.session.out;
        out.tcp = bytes;
        out.tcp.clear();
        if out.tcp.capacity() > 1 << 20 {
            out.tcp = Vec::new();
        }
        Ok(())
    }
}
