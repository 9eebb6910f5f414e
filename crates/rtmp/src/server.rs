//! RTMP/RTMPS server: the tokio driver around [`ServerSession`].
//!
//! One task per connection: read -> session -> events -> path registry; for players, one
//! vectored write per wake-up carrying every queued unit, from buffers shared by all
//! readers of the path.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::task::Poll;
use std::time::{Duration, Instant};

use bytes::{Bytes, BytesMut};
use ferrocast_core::conns::{ConnGuard, ConnInfo, ConnRegistry, ConnState};
use ferrocast_core::{
    Access, Action, CancellationToken, PathError, PathManager, Publisher, Reader, SessionRef,
    Track, Unit,
};
use std::pin::Pin;

use tokio::io::{AsyncRead, AsyncReadExt, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tracing::{info, warn};

use crate::egress;
use crate::ingest::{Ingest, IngestEvent};
use crate::io::{write_all_vectored, SendVectored};
use crate::session::{ServerEvent, ServerSession};

/// How often a player's socket and kick token are polled while units keep it busy.
const FULL_POLL_INTERVAL: Duration = Duration::from_millis(200);

/// Settings of one listener.
#[derive(Clone)]
pub struct ServerConfig {
    pub paths: Arc<PathManager>,
    pub conns: Arc<ConnRegistry>,
    pub tls: Option<tokio_rustls::TlsAcceptor>,
    pub read_timeout: Duration,
    pub write_timeout: Duration,
    /// "rtmp" or "rtmps", for logs.
    pub scheme: &'static str,
}

/// Accepts connections until `shutdown` is cancelled.
pub async fn serve(listener: TcpListener, cfg: ServerConfig, shutdown: CancellationToken) {
    let scheme = cfg.scheme;
    ferrocast_core::net::accept_loop(listener, scheme, shutdown, move |sock, peer, token| {
        let cfg = cfg.clone();
        async move {
            match cfg.tls.clone() {
                Some(acceptor) => {
                    let hs = tokio::time::timeout(cfg.read_timeout, acceptor.accept(sock)).await;
                    match hs {
                        Ok(Ok(tls)) => run_conn(tls, peer, cfg, token).await,
                        Ok(Err(e)) => info!("{scheme} conn {peer}: TLS handshake failed: {e}"),
                        Err(_) => info!("{scheme} conn {peer}: TLS handshake timed out"),
                    }
                }
                None => run_conn::<TcpStream>(sock, peer, cfg, token).await,
            }
        }
    })
    .await;
}

enum Role {
    Idle,
    Publishing {
        publisher: Publisher,
        ingest: Ingest,
    },
    Playing {
        reader: Reader,
        stream_id: u32,
        tracks: Arc<Vec<Track>>,
        tracks_version: u64,
        headers_sent: bool,
        drops: ferrocast_core::DropReport,
    },
}

struct Conn<S> {
    io: S,
    session: ServerSession,
    cfg: ServerConfig,
    guard: ConnGuard,
    peer: SocketAddr,
    app: String,
    role: Role,
    out: Vec<Bytes>,
    /// The socket read and the kick token have wakers registered (see `run`).
    others_armed: bool,
    last_full_poll: Instant,
}

async fn run_conn<S: AsyncRead + SendVectored>(
    io: S,
    peer: SocketAddr,
    cfg: ServerConfig,
    token: CancellationToken,
) {
    let info = Arc::new(ConnInfo::new(peer, token.clone()));
    let guard = cfg.conns.add(info.clone());
    let scheme = cfg.scheme;
    info!("{scheme} conn {peer} [{}]: opened", info.id);
    let mut conn = Conn {
        io,
        session: ServerSession::new(),
        cfg,
        guard,
        peer,
        app: String::new(),
        role: Role::Idle,
        out: Vec::new(),
        others_armed: false,
        last_full_poll: Instant::now(),
    };
    let reason = conn.run(&token).await;
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
    /// Bytes a player sent (read without a per-connection buffer).
    Data(Vec<u8>),
    Units(Result<usize, ferrocast_core::ReadError>),
    Kicked,
    ReadTimeout,
}

impl<S: AsyncRead + SendVectored> Conn<S> {
    async fn run(&mut self, token: &CancellationToken) -> String {
        // Handshake and commands fit in 4 KiB; a publisher's buffer grows on its first media
        // read; a player reads into a stack buffer instead (see below), keeping the memory
        // per reader low.
        let mut buf = vec![0u8; 4096];
        let mut batch: Vec<Arc<Unit>> = Vec::new();
        // Created once: registering a fresh waiter on every wake-up costs a lock each time.
        let cancelled = token.cancelled();
        tokio::pin!(cancelled);
        loop {
            let wake = match &self.role {
                Role::Playing { reader, .. } => {
                    if buf.capacity() > 0 {
                        buf = Vec::new();
                    }
                    // A player mostly waits for units. The socket and the kick token are
                    // polled only when the task wakes with no unit to send: after they were
                    // polled once, their registrations stay and wake this task, so
                    // re-polling them on every unit (a lock each) would be wasted work.
                    let queue = reader.queue().clone();
                    // Every FULL_POLL_INTERVAL, and on any wake-up that brings no unit, the
                    // socket and the token are polled too: pings get answered and kicks
                    // noticed while units keep flowing.
                    let mut full =
                        !self.others_armed || self.last_full_poll.elapsed() >= FULL_POLL_INTERVAL;
                    let mut first = true;
                    let armed = &mut self.others_armed;
                    let last_full_poll = &mut self.last_full_poll;
                    let io = &mut self.io;
                    let mut cancelled = cancelled.as_mut();
                    std::future::poll_fn(|cx| {
                        if !std::mem::take(&mut full) {
                            if let Poll::Ready(r) = queue.poll_recv(cx, &mut batch) {
                                return Poll::Ready(Wake::Units(r));
                            }
                            if std::mem::take(&mut first) && *armed {
                                return Poll::Pending; // registrations in place: wait
                            }
                        }
                        *armed = false;
                        *last_full_poll = Instant::now();
                        if cancelled.as_mut().poll(cx).is_ready() {
                            return Poll::Ready(Wake::Kicked);
                        }
                        let mut tmp = [0u8; 1024];
                        let mut rb = ReadBuf::new(&mut tmp);
                        match Pin::new(&mut *io).poll_read(cx, &mut rb) {
                            Poll::Ready(Ok(())) => {
                                return Poll::Ready(Wake::Data(rb.filled().to_vec()))
                            }
                            Poll::Ready(Err(e)) => return Poll::Ready(Wake::Read(Err(e))),
                            Poll::Pending => *armed = true,
                        }
                        first = false;
                        match queue.poll_recv(cx, &mut batch) {
                            Poll::Ready(r) => Poll::Ready(Wake::Units(r)),
                            Poll::Pending => Poll::Pending,
                        }
                    })
                    .await
                }
                _ => {
                    if buf.is_empty() {
                        buf = vec![0u8; 4096]; // back from playing
                    }
                    let timeout = self.cfg.read_timeout;
                    tokio::select! {
                        biased;
                        _ = &mut cancelled => Wake::Kicked,
                        r = tokio::time::timeout(timeout, self.io.read(&mut buf)) => match r {
                            Ok(r) => Wake::Read(r),
                            Err(_) => Wake::ReadTimeout,
                        },
                    }
                }
            };
            let result = match wake {
                Wake::Read(Ok(0)) => return "the peer closed the connection".into(),
                Wake::Read(Err(e)) => return format!("read error: {e}"),
                Wake::Read(Ok(n)) => {
                    self.guard
                        .info
                        .bytes_received
                        .fetch_add(n as u64, Ordering::Relaxed);
                    let r = self.on_input(&buf[..n]).await;
                    if matches!(self.role, Role::Publishing { .. }) && buf.len() < 65536 {
                        buf.resize(65536, 0); // publishers send a lot: read more at once
                    }
                    r
                }
                Wake::Data(data) if data.is_empty() => {
                    return "the peer closed the connection".into()
                }
                Wake::Data(data) => {
                    self.guard
                        .info
                        .bytes_received
                        .fetch_add(data.len() as u64, Ordering::Relaxed);
                    self.on_input(&data).await
                }
                Wake::Units(Ok(_)) => {
                    self.on_units(&mut batch);
                    Ok(())
                }
                Wake::Units(Err(ferrocast_core::ReadError::Closed(reason))) => {
                    if let Role::Playing { stream_id, .. } = self.role {
                        self.session.send_unpublished(stream_id);
                        let _ = self.flush().await;
                    }
                    return reason;
                }
                Wake::Kicked => return "closed by the server (kicked, path removed or replaced, or shutting down)".into(),
                Wake::ReadTimeout => {
                    return format!("no data for {:?} (readTimeout)", self.cfg.read_timeout)
                }
            };
            if let Err(reason) = result {
                let _ = self.flush().await;
                return reason;
            }
            if let Err(e) = self.flush().await {
                return e;
            }
        }
    }

    async fn on_input(&mut self, data: &[u8]) -> Result<(), String> {
        let events = self
            .session
            .handle_input(data)
            .map_err(|e| format!("protocol error: {e}"))?;
        for ev in events {
            self.on_event(ev).await?;
        }
        Ok(())
    }

    async fn on_event(&mut self, ev: ServerEvent) -> Result<(), String> {
        match ev {
            ServerEvent::Connect { app, flash_ver, .. } => {
                self.app = app;
                self.guard.info.details.lock().user_agent = flash_ver;
            }
            ServerEvent::Publish { stream_id, name } => {
                self.start(Action::Publish, stream_id, &name).await?
            }
            ServerEvent::Play { stream_id, name } => {
                self.start(Action::Read, stream_id, &name).await?
            }
            ServerEvent::Unpublish => {
                // The stream ends; the connection stays until the client closes it (some
                // clients report an error when the server hangs up first).
                let what = match self.role {
                    Role::Publishing { .. } => "stopped publishing",
                    Role::Playing { .. } => "stopped reading",
                    Role::Idle => return Ok(()),
                };
                let path = self.guard.info.details.lock().path.clone();
                info!(
                    "{} conn {} [{}]: {what} (path '{path}')",
                    self.cfg.scheme, self.peer, self.guard.info.id
                );
                self.role = Role::Idle;
                self.others_armed = false;
                self.guard.info.details.lock().state = ConnState::Idle;
            }
            ServerEvent::Media(m) => {
                let Role::Publishing { publisher, ingest } = &mut self.role else {
                    return Ok(()); // media from a player: ignore
                };
                let events = ingest.push(m).map_err(|e| format!("invalid media: {e}"))?;
                for ev in events {
                    match ev {
                        IngestEvent::Ready(tracks) => {
                            let codecs: Vec<_> =
                                tracks.iter().map(|t| t.codec.api_name()).collect();
                            publisher
                                .start(tracks)
                                .map_err(|e| format!("cannot start the stream: {e}"))?;
                            info!(
                                "{} conn {} [{}]: is publishing to path '{}', {} track(s) ({})",
                                self.cfg.scheme,
                                self.peer,
                                self.guard.info.id,
                                publisher.path_name(),
                                codecs.len(),
                                codecs.join(", ")
                            );
                        }
                        IngestEvent::TracksChanged(tracks) => {
                            if let Some(s) = publisher.stream() {
                                s.update_tracks(tracks);
                            }
                        }
                        IngestEvent::Unit(u) => publisher.write(u),
                    }
                }
            }
        }
        Ok(())
    }

    async fn start(&mut self, action: Action, stream_id: u32, name: &str) -> Result<(), String> {
        if !matches!(self.role, Role::Idle) {
            return Err("a second publish/play on one connection is not supported".into());
        }
        let (path, query) = path_and_query(&self.app, name);
        let q = parse_query(&query);
        let get = |k: &str| {
            q.iter()
                .find(|(key, _)| key == k)
                .map(|(_, v)| v.clone())
                .unwrap_or_default()
        };
        let access = Access {
            action,
            path: path.clone(),
            query: query.clone(),
            user: get("user"),
            pass: get("pass"),
            ip: self.peer.ip(),
        };
        {
            let mut d = self.guard.info.details.lock();
            d.path = path.clone();
            d.query = query;
            d.user = access.user.clone();
        }
        if action == Action::Read {
            // An on-demand pull source starts now; the player waits until it is ready.
            let token = self.guard.info.token.clone();
            let waited = tokio::select! {
                r = self.cfg.paths.wait_for_source(&access) => r,
                _ = token.cancelled() => return Err("closed by the server while waiting for the source".into()),
            };
            if let Err(e) = waited {
                let code = match e {
                    PathError::Auth { .. } => "NetStream.Play.Unauthorized",
                    _ => "NetStream.Play.StreamNotFound",
                };
                self.session.reject(stream_id, code, &e.to_string());
                return Err(format!("play refused: {e}"));
            }
        }
        let session_ref = SessionRef {
            kind: if self.cfg.tls.is_some() {
                "rtmpsConn"
            } else {
                "rtmpConn"
            },
            id: self.guard.info.id,
            token: self.guard.info.token.clone(),
        };
        match action {
            Action::Publish => match self.cfg.paths.add_publisher(&access, session_ref) {
                Ok(publisher) => {
                    self.session.accept_publish(stream_id, name);
                    self.guard.info.details.lock().state = ConnState::Publish;
                    self.role = Role::Publishing {
                        publisher,
                        ingest: Ingest::new(),
                    };
                    Ok(())
                }
                Err(e) => {
                    let code = match e {
                        PathError::Auth { .. } => "NetStream.Publish.Unauthorized",
                        PathError::AlreadyPublishing(_) => "NetStream.Publish.BadName",
                        _ => "NetStream.Publish.Rejected",
                    };
                    self.session.reject(stream_id, code, &e.to_string());
                    Err(format!("publish refused: {e}"))
                }
            },
            Action::Read => match self.cfg.paths.add_reader(&access, session_ref) {
                Ok(mut reader) => {
                    // Most RTMP players know AAC, not Opus: read Opus (e.g. from a WebRTC
                    // publisher) through an AAC rendition when the server can make one.
                    let opus: Vec<usize> = reader
                        .stream()
                        .source_tracks()
                        .iter()
                        .enumerate()
                        .filter(|(_, t)| t.codec == ferrocast_core::Codec::Opus)
                        .map(|(i, _)| i)
                        .collect();
                    for i in opus {
                        if let Err(e) = reader.use_rendition(i, ferrocast_core::Codec::Aac) {
                            info!(
                                "{} conn {}: Opus audio sent as is (enhanced RTMP): {e}",
                                self.cfg.scheme, self.peer
                            );
                        }
                    }
                    self.session.accept_play(stream_id, name);
                    self.guard.info.details.lock().state = ConnState::Read;
                    info!(
                        "{} conn {} [{}]: is reading from path '{}'",
                        self.cfg.scheme, self.peer, self.guard.info.id, path
                    );
                    let tracks = reader.stream().tracks();
                    let tracks_version = reader.stream().tracks_version();
                    self.role = Role::Playing {
                        reader,
                        stream_id,
                        tracks,
                        tracks_version,
                        headers_sent: false,
                        drops: Default::default(),
                    };
                    Ok(())
                }
                Err(e) => {
                    let code = match e {
                        PathError::Auth { .. } => "NetStream.Play.Unauthorized",
                        _ => "NetStream.Play.StreamNotFound",
                    };
                    self.session.reject(stream_id, code, &e.to_string());
                    Err(format!("play refused: {e}"))
                }
            },
        }
    }

    fn on_units(&mut self, batch: &mut Vec<Arc<Unit>>) {
        let Role::Playing {
            reader,
            stream_id,
            tracks,
            tracks_version,
            headers_sent,
            drops,
        } = &mut self.role
        else {
            batch.clear();
            return;
        };
        let stream = reader.stream();
        let v = stream.tracks_version();
        if v != *tracks_version {
            *tracks = stream.tracks();
            *tracks_version = v;
            *headers_sent = false;
        }
        let mut bytes = 0u64;
        for unit in batch.drain(..) {
            let Some(track) = tracks.get(unit.track) else {
                continue;
            };
            if !egress::supported(track) {
                continue;
            }
            if !*headers_sent {
                let mut h = BytesMut::new();
                let queue = reader.queue();
                let mine: Vec<Track> = tracks
                    .iter()
                    .enumerate()
                    .filter(|(i, _)| queue.wants(*i))
                    .map(|(_, t)| t.clone())
                    .collect();
                egress::headers(&mut h, &mine, *stream_id, egress::unit_ms(&unit, track));
                bytes += h.len() as u64;
                self.out.push(h.freeze());
                *headers_sent = true;
            }
            let b = egress::unit_bytes(&unit, track, *stream_id);
            bytes += b.len() as u64;
            self.out.push(b);
        }
        stream.bytes_sent.fetch_add(bytes, Ordering::Relaxed);
        // The first batch (the GOP cache) is large; don't keep its capacity per reader.
        if batch.capacity() > 64 {
            batch.shrink_to(16);
        }
        // Drops: counted in the API, one aggregated warning per second at most.
        if let Some(n) = drops.poll(reader.queue(), &self.guard.info.frames_discarded) {
            warn!(
                "{} conn {} [{}]: reader too slow for path '{}': {n} units dropped since last report; it resumes at the next keyframe",
                self.cfg.scheme,
                self.peer,
                self.guard.info.id,
                reader.path_name(),
            );
        }
    }

    /// Writes session output and queued media in one vectored write.
    async fn flush(&mut self) -> Result<(), String> {
        if let Some(b) = self.session.take_output() {
            // Session messages (status, acknowledgements) go before queued media.
            self.out.insert(0, b);
        }
        if self.out.is_empty() {
            return Ok(());
        }
        let timeout = self.cfg.write_timeout;
        let result = {
            let mut write = std::pin::pin!(write_all_vectored(&mut self.io, &mut self.out));
            // Most writes complete at once: arm the writeTimeout timer only when one waits.
            match std::future::poll_fn(|cx| Poll::Ready(write.as_mut().poll(cx))).await {
                Poll::Ready(r) => Ok(r),
                Poll::Pending => tokio::time::timeout(timeout, write).await,
            }
        };
        if self.out.capacity() > 64 {
            self.out.shrink_to(16);
        }
        match result {
            Ok(Ok(n)) => {
                self.guard
                    .info
                    .bytes_sent
                    .fetch_add(n as u64, Ordering::Relaxed);
                Ok(())
            }
            Ok(Err(e)) => Err(format!("write error: {e}")),
            Err(_) => Err(format!(
                "the reader did not take data for {timeout:?} (writeTimeout)"
            )),
        }
    }
}

/// Path and query of an RTMP URL as clients split it: `rtmp://host/APP/NAME?query`.
/// The app may carry the query too (some clients put it in tcUrl), and may itself contain
/// slashes (`rtmp://host/a/b/c` is app "a/b", name "c" for ffmpeg).
pub fn path_and_query(app: &str, name: &str) -> (String, String) {
    let (app_path, app_q) = app.split_once('?').unwrap_or((app, ""));
    let (name_path, name_q) = name.split_once('?').unwrap_or((name, ""));
    let path = [app_path, name_path]
        .iter()
        .map(|s| s.trim_matches('/'))
        .filter(|s| !s.is_empty())
        .collect::<Vec<_>>()
        .join("/");
    let query = [app_q, name_q]
        .iter()
        .filter(|s| !s.is_empty())
        .copied()
        .collect::<Vec<_>>()
        .join("&");
    (path, query)
}

/// Splits `a=1&b=2` into pairs, percent-decoding values.
pub fn parse_query(q: &str) -> Vec<(String, String)> {
    url::form_urlencoded::parse(q.as_bytes())
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths() {
        assert_eq!(
            path_and_query("live", "test"),
            ("live/test".into(), "".into())
        );
        assert_eq!(path_and_query("", "test"), ("test".into(), "".into()));
        assert_eq!(
            path_and_query("live", "test?user=a&pass=b"),
            ("live/test".into(), "user=a&pass=b".into())
        );
        assert_eq!(
            path_and_query("live?user=a", "cam"),
            ("live/cam".into(), "user=a".into())
        );
        assert_eq!(path_and_query("a/b", "c"), ("a/b/c".into(), "".into()));
    }
}
