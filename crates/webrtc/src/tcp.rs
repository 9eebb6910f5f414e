//! ICE-TCP (RFC 6544), passive only: the `webrtcLocalTCPAddress` listener, for peers whose
//! network blocks UDP. Every connection carries RFC 4571 frames (a 2-byte big-endian length,
//! then one STUN, DTLS, RTP or RTCP packet). The first frame must be an ICE check whose
//! USERNAME names a session (as on UDP, `udp::local_ufrag`); the connection then belongs to
//! that session for good and is never re-routed.
//!
//! Reading applies backpressure (the session's queue fills, the task waits, TCP slows that
//! peer only). Writing goes through a bounded queue per connection: when it is full the
//! session drops whole packets, never partial frames, so the framing survives and the
//! peer recovers with NACK/PLI like after UDP loss (MediaMTX's writes block instead, which
//! its docs describe as "progressive delay").
//!
//! Limits: frames of at most [`MAX_FRAME`] bytes (the first at most [`MAX_FIRST_FRAME`]),
//! the first within the handshake timeout (Chromium opens its TCP connection even when it
//! then uses UDP, and sends nothing on it: this reclaims it), nothing received for
//! [`IDLE_TIMEOUT`] ends a connection, a write stalled for [`WRITE_STALL`] too, and at most
//! [`MAX_CONNECTIONS`] connections at once.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::{Buf, BufMut, Bytes, BytesMut};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{mpsc, Semaphore};
use tokio_util::sync::CancellationToken;
use tracing::{debug, info};

use crate::udp::{local_ufrag, unmap, Routes, SessionMsg};

/// The largest frame accepted (str0m sends at most about 1200-1400 bytes; RFC 4571 allows
/// 65535, which would let a peer make us buffer that much per connection).
pub(crate) const MAX_FRAME: usize = 2048;
/// The first frame is an ICE check: Chromium's are about 100-150 bytes (pion takes 512).
pub(crate) const MAX_FIRST_FRAME: usize = 512;
/// A connection that has received nothing this long is closed (ICE consent checks come
/// every few seconds; sessions end after 30 s of silence).
const IDLE_TIMEOUT: Duration = Duration::from_secs(35);
/// A write that cannot complete in this time means the peer stopped reading.
const WRITE_STALL: Duration = Duration::from_secs(10);
/// Open ICE-TCP connections at most.
const MAX_CONNECTIONS: usize = 1024;
/// Packets queued for writing per connection (about 1 s at 8 Mb/s).
pub(crate) const WRITE_QUEUE: usize = 1024;

#[derive(Debug, PartialEq, Eq)]
pub(crate) enum FrameError {
    TooLarge(usize),
}

impl std::fmt::Display for FrameError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            FrameError::TooLarge(n) => write!(f, "a {n}-byte frame (at most {MAX_FRAME})"),
        }
    }
}

/// The next complete RFC 4571 frame in `buf`, removed from it; `None` until one is complete.
/// Empty frames are skipped.
pub(crate) fn next_frame(buf: &mut BytesMut, max: usize) -> Result<Option<Bytes>, FrameError> {
    loop {
        if buf.len() < 2 {
            return Ok(None);
        }
        let len = usize::from(u16::from_be_bytes([buf[0], buf[1]]));
        if len > max {
            return Err(FrameError::TooLarge(len));
        }
        if buf.len() < 2 + len {
            return Ok(None);
        }
        buf.advance(2);
        let frame = buf.split_to(len).freeze();
        if !frame.is_empty() {
            return Ok(Some(frame));
        }
    }
}

/// Appends `packet` as an RFC 4571 frame (packets are never above 65535 bytes: str0m's are
/// about 1200; a bigger one is dropped).
pub(crate) fn put_frame(out: &mut BytesMut, packet: &[u8]) {
    if let Ok(len) = u16::try_from(packet.len()) {
        out.put_u16(len);
        out.put_slice(packet);
    }
}

/// The local candidate a connection accepted on `local` is known as: the address itself
/// when it is a candidate, else one of its family (a wildcard bind, NAT, additional hosts).
pub(crate) fn candidate_for(candidates: &[SocketAddr], local: SocketAddr) -> Option<SocketAddr> {
    candidates
        .iter()
        .find(|c| **c == local)
        .or_else(|| {
            candidates
                .iter()
                .find(|c| c.is_ipv4() == local.is_ipv4() && c.port() == local.port())
        })
        .or_else(|| candidates.first())
        .copied()
}

/// Accepts ICE-TCP connections until `shutdown`.
pub(crate) async fn run_listener(
    listener: TcpListener,
    routes: Arc<Routes>,
    candidates: Arc<Vec<SocketAddr>>,
    handshake_timeout: Duration,
    shutdown: CancellationToken,
) {
    let permits = Arc::new(Semaphore::new(MAX_CONNECTIONS));
    let mut refused_logged = false;
    loop {
        let (stream, peer) = tokio::select! {
            r = listener.accept() => match r {
                Ok(a) => a,
                Err(e) => {
                    debug!("webrtc: ICE-TCP accept failed: {e}");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            _ = shutdown.cancelled() => return,
        };
        let Ok(permit) = permits.clone().try_acquire_owned() else {
            if !refused_logged {
                info!(
                    "webrtc: refusing ICE-TCP connections: {MAX_CONNECTIONS} are open (logged \
                     once)"
                );
                refused_logged = true;
            }
            continue;
        };
        let routes = routes.clone();
        let candidates = candidates.clone();
        let shutdown = shutdown.clone();
        tokio::spawn(async move {
            let peer = unmap(peer);
            let r = tokio::select! {
                r = connection(stream, peer, &routes, &candidates, handshake_timeout) => r,
                _ = shutdown.cancelled() => Ok(()),
            };
            if let Err(e) = r {
                debug!("webrtc: ICE-TCP connection from {peer} closed: {e}");
            }
            drop(permit);
        });
    }
}

async fn read_frame(
    stream: &mut tokio::net::tcp::OwnedReadHalf,
    buf: &mut BytesMut,
    max: usize,
) -> Result<Option<Bytes>, String> {
    loop {
        if let Some(f) = next_frame(buf, max).map_err(|e| e.to_string())? {
            return Ok(Some(f));
        }
        buf.reserve(4096);
        match stream.read_buf(buf).await {
            Ok(0) => return Ok(None),
            Ok(_) => {}
            Err(e) => return Err(e.to_string()),
        }
    }
}

async fn connection(
    stream: TcpStream,
    peer: SocketAddr,
    routes: &Routes,
    candidates: &[SocketAddr],
    handshake_timeout: Duration,
) -> Result<(), String> {
    let _ = stream.set_nodelay(true);
    let local = stream.local_addr().map(unmap).map_err(|e| e.to_string())?;
    let (mut rd, wr) = stream.into_split();
    let mut buf = BytesMut::with_capacity(4096);
    let first = tokio::time::timeout(
        handshake_timeout,
        read_frame(&mut rd, &mut buf, MAX_FIRST_FRAME),
    )
    .await
    .map_err(|_| format!("no ICE check within {handshake_timeout:?}"))??
    .ok_or("closed before an ICE check")?;
    let ufrag = local_ufrag(&first).ok_or("the first frame is not an ICE check")?;
    let (id, tx) = routes
        .get(ufrag)
        .ok_or_else(|| format!("ICE check for unknown ufrag {ufrag:?}"))?;
    let local = candidate_for(candidates, local).ok_or("no TCP candidate")?;
    debug!("webrtc: ICE-TCP {peer} -> session {id}");
    let (wtx, wrx) = mpsc::channel::<Bytes>(WRITE_QUEUE);
    let writer = tokio::spawn(write_loop(wr, wrx));
    let attach = SessionMsg::TcpAttach { peer, writer: wtx };
    tx.send(attach).await.map_err(|_| "the session ended")?;
    let ended = forward(first, peer, local, &tx, &mut rd, &mut buf).await;
    // However it ended, the session forgets the connection and its writer stops.
    let _ = tx.send(SessionMsg::TcpDetach { peer }).await;
    writer.abort();
    ended
}

/// Hands `first`, then every frame read, to the session until EOF, an error, silence for
/// [`IDLE_TIMEOUT`], or the session's end.
async fn forward(
    first: Bytes,
    peer: SocketAddr,
    local: SocketAddr,
    tx: &mpsc::Sender<SessionMsg>,
    rd: &mut tokio::net::tcp::OwnedReadHalf,
    buf: &mut BytesMut,
) -> Result<(), String> {
    let mut frame = first;
    loop {
        let msg = SessionMsg::Datagram {
            source: peer,
            tcp_local: Some(local),
            data: frame,
            at: Instant::now(),
        };
        if tx.send(msg).await.is_err() {
            return Ok(());
        }
        frame = match tokio::time::timeout(IDLE_TIMEOUT, read_frame(rd, buf, MAX_FRAME)).await {
            Err(_) => return Err(format!("nothing received for {IDLE_TIMEOUT:?}")),
            Ok(r) => match r? {
                Some(f) => f,
                None => return Ok(()),
            },
        };
    }
}

/// Writes the session's packets, framed, batching what is queued into one write.
async fn write_loop(mut wr: tokio::net::tcp::OwnedWriteHalf, mut rx: mpsc::Receiver<Bytes>) {
    let mut batch: Vec<Bytes> = Vec::new();
    let mut out = BytesMut::with_capacity(16 * 1024);
    while rx.recv_many(&mut batch, 64).await > 0 {
        out.clear();
        for p in batch.drain(..) {
            put_frame(&mut out, &p);
        }
        match tokio::time::timeout(WRITE_STALL, wr.write_all(&out)).await {
            Ok(Ok(())) => {}
            _ => break,
        }
    }
    let _ = wr.shutdown().await;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames() {
        let mut b = BytesMut::new();
        assert_eq!(next_frame(&mut b, MAX_FRAME), Ok(None));
        b.extend_from_slice(&[0]);
        assert_eq!(next_frame(&mut b, MAX_FRAME), Ok(None));
        b.extend_from_slice(&[3, 1, 2]);
        assert_eq!(next_frame(&mut b, MAX_FRAME), Ok(None)); // split across reads
        b.extend_from_slice(&[3, 0, 0, 0, 1, 9]);
        assert_eq!(
            next_frame(&mut b, MAX_FRAME),
            Ok(Some(Bytes::from_static(&[1, 2, 3])))
        );
        // An empty frame is skipped.
        assert_eq!(
            next_frame(&mut b, MAX_FRAME),
            Ok(Some(Bytes::from_static(&[9])))
        );
        assert!(b.is_empty());
        b.extend_from_slice(&[0x08, 0x01]);
        assert_eq!(
            next_frame(&mut b, MAX_FRAME),
            Err(FrameError::TooLarge(2049))
        );
        let mut b = BytesMut::from(&[0x02, 0x01][..]);
        assert_eq!(
            next_frame(&mut b, MAX_FIRST_FRAME),
            Err(FrameError::TooLarge(513))
        );
        let mut out = BytesMut::new();
        put_frame(&mut out, &[7, 8]);
        put_frame(&mut out, &vec![0; 70000]);
        assert_eq!(&out[..], &[0, 2, 7, 8]);
    }

    #[test]
    fn candidates() {
        let c: Vec<SocketAddr> = vec![
            "127.0.0.1:8189".parse().unwrap(),
            "[::1]:8189".parse().unwrap(),
        ];
        assert_eq!(
            candidate_for(&c, "127.0.0.1:8189".parse().unwrap()),
            Some(c[0])
        );
        assert_eq!(candidate_for(&c, "[::1]:8189".parse().unwrap()), Some(c[1]));
        // Accepted on another address of the host (wildcard bind): one of its family.
        assert_eq!(
            candidate_for(&c, "10.0.0.5:8189".parse().unwrap()),
            Some(c[0])
        );
        assert_eq!(candidate_for(&[], "10.0.0.5:8189".parse().unwrap()), None);
    }
}
