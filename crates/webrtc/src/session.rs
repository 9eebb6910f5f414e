//! One WebRTC session: the tokio driver around a str0m `Rtc`.
//!
//! read (datagrams from the demultiplexer) -> `handle_input` -> drain `poll_output` until
//! `Timeout` (transmits go out on the shared socket, events drive ingest) -> wait for the
//! next datagram, timeout, bus units (readers) or kick. Every mutation of the `Rtc` is
//! followed by a complete drain, as str0m requires.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use ferrocast_core::conns::ConnGuard;
use ferrocast_core::{Codec, Publisher, ReadError, Reader, Unit};
use str0m::media::{KeyframeRequestKind, Mid, Pt};
use str0m::net::{Protocol, Receive};
use str0m::{Candidate, Event, IceConnectionState, Input, Output, Rtc};
use tokio::net::UdpSocket;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;
use tracing::{debug, info, warn};

use crate::dcvideo::{self, DcVideo, Route};
use crate::egress::{str0m_codec, Egress, Frame};
use crate::ingest::{InFrame, Ingest, IngestEvent};
use crate::udp::SessionMsg;

/// A connected session that hears nothing from its peer this long is gone (browsers and
/// aiortc send ICE consent checks every few seconds, RFC 7675).
const INACTIVITY_TIMEOUT: Duration = Duration::from_secs(30);

/// ICE-TCP connections one session takes (a browser may open a new one after a drop).
const MAX_TCP_PER_SESSION: usize = 4;

/// Readers' keyframe requests reach a WHIP publisher at most this often (a few readers
/// losing packets at once must not make it send keyframes back to back).
const UPSTREAM_KEYFRAME_INTERVAL: Duration = Duration::from_millis(500);

pub(crate) enum Role {
    Read {
        reader: Reader,
        egress: Egress,
        /// Payload type per egress track, found on first write.
        pts: Vec<Option<Pt>>,
        tracks_version: u64,
        drops: ferrocast_core::DropReport,
        keyframe_requests: u64,
        /// H264 with B-frames to the player page's WebCodecs decoder.
        dc: DcVideo,
    },
    Publish {
        publisher: Publisher,
        ingest: Ingest,
        /// Readers' keyframe requests seen, and when one was last passed on.
        upstream_requests: (u64, Option<Instant>),
    },
}

/// Where the session sends and how it names the local end of a datagram.
pub(crate) struct Net {
    pub socket: Arc<UdpSocket>,
    /// The socket is IPv6 (IPv4 peers are reached through mapped addresses).
    pub v6: bool,
    /// Host candidates: a datagram is reported to str0m as received on one of them.
    pub candidates: Vec<SocketAddr>,
    /// ICE-TCP host candidates (`webrtcLocalTCPAddress`), passive.
    pub tcp_candidates: Arc<Vec<SocketAddr>>,
}

impl Net {
    /// The local candidate a datagram from `source` most likely arrived on. The socket may be
    /// bound to a wildcard address, which does not tell; any host candidate of the family
    /// works for ICE-lite, and replies leave through the same socket either way.
    fn destination(&self, source: SocketAddr) -> SocketAddr {
        let same_family = |c: &&SocketAddr| c.is_ipv4() == source.is_ipv4();
        self.candidates
            .iter()
            .filter(same_family)
            .find(|c| c.ip().is_loopback() == source.ip().is_loopback())
            .or_else(|| self.candidates.iter().find(same_family))
            .or_else(|| self.candidates.first())
            .copied()
            .unwrap_or(source)
    }

    fn send_addr(&self, dest: SocketAddr) -> SocketAddr {
        match (self.v6, dest) {
            (true, SocketAddr::V4(v4)) => {
                SocketAddr::new(std::net::IpAddr::V6(v4.ip().to_ipv6_mapped()), v4.port())
            }
            _ => dest,
        }
    }
}

pub(crate) struct Session {
    pub rtc: Rtc,
    pub net: Arc<Net>,
    pub rx: mpsc::Receiver<SessionMsg>,
    pub guard: ConnGuard,
    pub token: CancellationToken,
    pub role: Role,
    pub path: String,
    /// The HTTP client, for logs.
    pub peer: SocketAddr,
    pub handshake_timeout: Duration,
    pub created: Instant,
    pub connected: bool,
    pub connected_at: Instant,
    /// The peer's address of its first packet, for logs (`tcp/ADDR` over ICE-TCP).
    pub ice_peer: Option<String>,
    /// ICE-TCP connections of this session, by the peer's address.
    pub tcp: HashMap<SocketAddr, mpsc::Sender<Bytes>>,
    pub last_rx: Instant,
    pub input_errors: u64,
    /// Cumulative RTP statistics per m-line from str0m: (mid, egress, packets, lost).
    pub media_stats: Vec<(Mid, bool, u64, u64)>,
}

enum Wake {
    Msg(Option<SessionMsg>),
    Units(Result<usize, ReadError>),
    Timeout,
    Kicked,
}

impl Session {
    fn tag(&self) -> String {
        format!("webrtc session {} [{}]", self.peer, self.guard.info.id)
    }

    /// Runs the session to its end; returns why it ended.
    pub async fn run(&mut self) -> String {
        let mut batch: Vec<Arc<Unit>> = Vec::new();
        let cancelled = self.token.clone().cancelled_owned();
        tokio::pin!(cancelled);
        loop {
            let timeout = match self.drain().await {
                Ok(t) => t,
                Err(reason) => return reason,
            };
            if !self.rtc.is_alive() {
                return "the peer connection closed".into();
            }
            let now = Instant::now();
            let limit = if self.connected {
                self.last_rx + INACTIVITY_TIMEOUT
            } else {
                self.created + self.handshake_timeout
            };
            if now >= limit {
                return if self.connected {
                    format!("nothing received from the peer for {INACTIVITY_TIMEOUT:?}")
                } else {
                    format!(
                        "no WebRTC connection within {:?} (webrtcHandshakeTimeout): ICE or DTLS \
                         did not complete",
                        self.handshake_timeout
                    )
                };
            }
            let mut deadline = timeout.min(limit);
            let queue = match &self.role {
                Role::Read { reader, dc, .. } if self.connected => {
                    if dc.ready(self.connected_at, now) {
                        Some(reader.queue().clone())
                    } else {
                        deadline = deadline.min(self.connected_at + dcvideo::OPEN_WAIT);
                        None
                    }
                }
                _ => None,
            };
            let wake = tokio::select! {
                biased;
                _ = &mut cancelled => Wake::Kicked,
                m = self.rx.recv() => Wake::Msg(m),
                r = async {
                    match &queue {
                        Some(q) => q.recv(&mut batch).await,
                        None => std::future::pending().await,
                    }
                } => Wake::Units(r),
                _ = tokio::time::sleep_until(deadline.into()) => Wake::Timeout,
            };
            let result = match wake {
                Wake::Kicked => {
                    return "closed by the server (kicked, path removed or replaced, or shutting \
                            down)"
                        .into()
                }
                Wake::Msg(None) => return "the server is shutting down".into(),
                Wake::Msg(Some(SessionMsg::Close(reason))) => return reason.into(),
                Wake::Msg(Some(SessionMsg::Candidate(c))) => {
                    match Candidate::from_sdp_string(&c) {
                        Ok(c) => self.rtc.add_remote_candidate(c),
                        Err(e) => debug!("{}: ignoring trickled candidate {c:?}: {e}", self.tag()),
                    }
                    Ok(())
                }
                Wake::Msg(Some(SessionMsg::Datagram {
                    source,
                    tcp_local,
                    data,
                    at,
                })) => {
                    self.on_datagram(source, tcp_local, &data, at);
                    Ok(())
                }
                Wake::Msg(Some(SessionMsg::TcpAttach { peer, writer })) => {
                    // A few connections per session at most (a browser reconnecting).
                    if self.tcp.len() < MAX_TCP_PER_SESSION {
                        self.tcp.insert(peer, writer);
                    }
                    Ok(())
                }
                Wake::Msg(Some(SessionMsg::TcpDetach { peer })) => {
                    self.tcp.remove(&peer);
                    Ok(())
                }
                Wake::Timeout => self
                    .rtc
                    .handle_input(Input::Timeout(Instant::now()))
                    .map_err(|e| format!("WebRTC error: {e}")),
                Wake::Units(Ok(_)) => self.on_units(&mut batch).await,
                Wake::Units(Err(ReadError::Closed(reason))) => return reason,
            };
            if let Err(reason) = result {
                return reason;
            }
            self.pass_keyframe_requests();
        }
    }

    /// A publisher passes its readers' keyframe requests to its sender (RTCP PLI).
    fn pass_keyframe_requests(&mut self) {
        let Role::Publish {
            publisher,
            ingest,
            upstream_requests: (seen, last),
        } = &mut self.role
        else {
            return;
        };
        let Some(n) = publisher.stream().map(|s| s.keyframe_requests()) else {
            return;
        };
        let now = Instant::now();
        if n == *seen || last.is_some_and(|t| now.duration_since(t) < UPSTREAM_KEYFRAME_INTERVAL) {
            return;
        }
        *seen = n;
        *last = Some(now);
        for mid in ingest.video_mids() {
            self.request_keyframe(mid);
        }
    }

    /// Closes the peer connection politely (RTCP BYE, DTLS close_notify) when it is still
    /// up, so the peer notices at once instead of after its timeouts.
    pub async fn close(&mut self) {
        if self.rtc.is_alive() && self.rtc.close().is_ok() {
            let _ = self.drain().await;
        }
    }

    fn on_datagram(
        &mut self,
        source: SocketAddr,
        tcp_local: Option<SocketAddr>,
        data: &[u8],
        at: Instant,
    ) {
        self.last_rx = at;
        if self.ice_peer.is_none() {
            self.ice_peer = Some(match tcp_local {
                Some(_) => format!("tcp/{source}"),
                None => source.to_string(),
            });
        }
        self.guard
            .info
            .bytes_received
            .fetch_add(data.len() as u64, Ordering::Relaxed);
        let (proto, destination) = match tcp_local {
            Some(local) => (Protocol::Tcp, local),
            None => (Protocol::Udp, self.net.destination(source)),
        };
        let input = match Receive::new(proto, source, destination, data) {
            Ok(r) => Input::Receive(at, r),
            Err(e) => {
                self.note_bad_input(source, &format!("not STUN, DTLS, RTP or RTCP: {e}"));
                return;
            }
        };
        if let Err(e) = self.rtc.handle_input(input) {
            // A broken packet from the peer's address (or one spoofing it) is dropped; a
            // fatal error ends the Rtc, which `is_alive` reports after the drain.
            self.note_bad_input(source, &e.to_string());
        }
    }

    fn note_bad_input(&mut self, source: SocketAddr, what: &str) {
        self.input_errors += 1;
        if self.input_errors == 1 {
            info!(
                "{}: dropping a bad datagram from {source}: {what} (logged once per session)",
                self.tag()
            );
        }
    }

    /// Drains str0m's output until it asks for the next timeout.
    async fn drain(&mut self) -> Result<Instant, String> {
        loop {
            let out = self
                .rtc
                .poll_output()
                .map_err(|e| format!("WebRTC error: {e}"))?;
            match out {
                Output::Timeout(t) => return Ok(t),
                Output::Transmit(t) if t.proto == Protocol::Tcp => {
                    // Over ICE-TCP: whole packets to the connection's writer; when its queue
                    // is full the packet is lost, as on a congested UDP path.
                    let Some(w) = self.tcp.get(&t.destination) else {
                        debug!("{}: no ICE-TCP connection to {}", self.tag(), t.destination);
                        continue;
                    };
                    let n = t.contents.len();
                    if w.try_send(Bytes::copy_from_slice(&t.contents)).is_ok() {
                        self.guard
                            .info
                            .bytes_sent
                            .fetch_add(n as u64, Ordering::Relaxed);
                    }
                }
                Output::Transmit(t) => {
                    let dest = self.net.send_addr(t.destination);
                    let sent = match self.net.socket.try_send_to(&t.contents, dest) {
                        Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                            self.net.socket.send_to(&t.contents, dest).await
                        }
                        r => r,
                    };
                    match sent {
                        Ok(n) => {
                            self.guard
                                .info
                                .bytes_sent
                                .fetch_add(n as u64, Ordering::Relaxed);
                        }
                        // The peer's network is its own business: UDP loses packets.
                        Err(e) => debug!("{}: send to {dest} failed: {e}", self.tag()),
                    }
                }
                Output::Event(e) => self.on_event(e)?,
            }
        }
    }

    fn on_event(&mut self, e: Event) -> Result<(), String> {
        match e {
            Event::Connected => {
                self.connected = true;
                self.last_rx = Instant::now();
                self.connected_at = self.last_rx;
                let what = match &self.role {
                    Role::Read { egress, .. } => format!(
                        "is reading from path '{}', {} track(s) ({})",
                        self.path,
                        egress.tracks.len(),
                        egress
                            .tracks
                            .iter()
                            .map(|t| t.codec.api_name())
                            .collect::<Vec<_>>()
                            .join(", ")
                    ),
                    Role::Publish { .. } => {
                        format!(
                            "peer connection established, waiting for media for path '{}'",
                            self.path
                        )
                    }
                };
                info!(
                    "{}: {what} (ICE peer {})",
                    self.tag(),
                    self.ice_peer.as_deref().unwrap_or("?")
                );
            }
            Event::IceConnectionStateChange(s) => {
                debug!("{}: ICE {s:?}", self.tag());
                if s == IceConnectionState::Disconnected {
                    return Err("ICE disconnected (the peer went away)".into());
                }
            }
            Event::MediaAdded(m) => {
                // The codec the peer prefers among those negotiated for this m-line (audio:
                // Opus, or G711 from a publisher that offered only that).
                let negotiated = self
                    .rtc
                    .media(m.mid)
                    .and_then(|media| media.remote_pts().first().copied())
                    .and_then(|pt| self.rtc.codec_config().find(|p| p.pt() == pt))
                    .map(|p| p.spec().codec);
                let audio = match negotiated {
                    Some(str0m::format::Codec::PCMU) => Codec::Pcmu,
                    Some(str0m::format::Codec::PCMA) => Codec::Pcma,
                    _ => Codec::Opus,
                };
                match &mut self.role {
                    Role::Read { egress, .. } => egress.media_added(m.mid, m.kind),
                    Role::Publish { ingest, .. } => {
                        if m.direction.is_receiving() {
                            ingest.media_added(m.mid, m.kind, audio)
                        }
                    }
                }
            }
            Event::MediaData(d) => {
                let tag = self.tag();
                let Role::Publish {
                    publisher, ingest, ..
                } = &mut self.role
                else {
                    return Ok(());
                };
                let codec = match d.params.spec().codec {
                    str0m::format::Codec::H264 => Some(Codec::H264),
                    str0m::format::Codec::Vp8 => Some(Codec::Vp8),
                    str0m::format::Codec::Opus => Some(Codec::Opus),
                    str0m::format::Codec::PCMU => Some(Codec::Pcmu),
                    str0m::format::Codec::PCMA => Some(Codec::Pcma),
                    _ => None,
                };
                let frame = InFrame {
                    mid: d.mid,
                    codec,
                    rtp_time: d.time.numer(),
                    arrival: d.network_time,
                    contiguous: d.contiguous,
                    data: &d.data,
                };
                let mut keyframe_requests: Vec<Mid> = Vec::new();
                for ev in ingest.push(frame, Instant::now()) {
                    match ev {
                        IngestEvent::Start(tracks) => {
                            let codecs: Vec<_> =
                                tracks.iter().map(|t| t.codec.api_name()).collect();
                            publisher
                                .start(tracks)
                                .map_err(|e| format!("cannot start the stream: {e}"))?;
                            info!(
                                "{tag}: is publishing to path '{}', {} track(s) ({})",
                                self.path,
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
                        IngestEvent::RequestKeyframe(mid) => keyframe_requests.push(mid),
                    }
                }
                for mid in keyframe_requests {
                    self.request_keyframe(mid);
                }
            }
            Event::MediaIngressStats(st) => {
                let lost = st
                    .remote
                    .map(|r| r.packets.saturating_sub(st.packets))
                    .unwrap_or(0);
                self.set_media_stats(st.mid, false, st.packets, lost);
                self.guard
                    .info
                    .rtp
                    .inbound_rtp_jitter
                    .store((st.jitter as f64).to_bits(), Ordering::Relaxed);
            }
            Event::MediaEgressStats(st) => {
                self.set_media_stats(st.mid, true, st.packets, 0);
            }
            Event::ChannelOpen(id, label) => {
                if let Role::Read { dc, .. } = &mut self.role {
                    if label == dcvideo::LABEL && dc.channel.is_none() {
                        dc.channel = Some(id);
                        debug!("{}: the player's video channel is open", self.tag());
                    } else if dc.channel.is_none() {
                        // A client's own channel: it is not our player, don't wait.
                        dc.offered = false;
                    }
                }
            }
            Event::ChannelClose(id) => {
                if let Role::Read { dc, .. } = &mut self.role {
                    if dc.channel == Some(id) {
                        dc.closed();
                    }
                }
            }
            Event::ChannelData(d) => {
                if let Role::Read { dc, reader, .. } = &mut self.role {
                    if dc.channel == Some(d.id)
                        && !d.binary
                        && dcvideo::is_keyframe_request(&d.data)
                    {
                        // The page's decoder lost its way: from the next keyframe, which
                        // the publisher is asked for when it can be.
                        dc.resync();
                        reader.stream().request_keyframe();
                    }
                }
            }
            Event::KeyframeRequest(r) => {
                // A reader lost pictures: its publisher asks its own sender when it can
                // (WHIP, WHEP sources). New readers start from the GOP cache without one.
                if let Role::Read {
                    keyframe_requests,
                    reader,
                    ..
                } = &mut self.role
                {
                    *keyframe_requests += 1;
                    reader.stream().request_keyframe();
                    debug!(
                        "{}: the peer asked for a keyframe ({:?})",
                        self.tag(),
                        r.kind
                    );
                }
            }
            _ => {}
        }
        Ok(())
    }

    /// Records str0m's cumulative counters of one m-line; the API shows the sums.
    fn set_media_stats(&mut self, mid: Mid, egress: bool, packets: u64, lost: u64) {
        match self
            .media_stats
            .iter_mut()
            .find(|(m, e, ..)| *m == mid && *e == egress)
        {
            Some(e) => {
                e.2 = packets;
                e.3 = lost;
            }
            None => self.media_stats.push((mid, egress, packets, lost)),
        }
        let sum = |egress: bool, f: fn(&(Mid, bool, u64, u64)) -> u64| -> u64 {
            self.media_stats
                .iter()
                .filter(|s| s.1 == egress)
                .map(f)
                .sum()
        };
        let r = &self.guard.info.rtp;
        r.inbound_rtp_packets
            .store(sum(false, |s| s.2), Ordering::Relaxed);
        r.inbound_rtp_packets_lost
            .store(sum(false, |s| s.3), Ordering::Relaxed);
        r.outbound_rtp_packets
            .store(sum(true, |s| s.2), Ordering::Relaxed);
    }

    fn request_keyframe(&mut self, mid: Mid) {
        let Some(mut w) = self.rtc.writer(mid) else {
            return;
        };
        for kind in [KeyframeRequestKind::Pli, KeyframeRequestKind::Fir] {
            if w.is_request_keyframe_possible(kind) {
                if let Err(e) = w.request_keyframe(None, kind) {
                    debug!("keyframe request on {mid}: {e}");
                }
                return;
            }
        }
    }

    async fn on_units(&mut self, batch: &mut Vec<Arc<Unit>>) -> Result<(), String> {
        let now = Instant::now();
        let mut units = std::mem::take(batch);
        let mut bytes = 0u64;
        for unit in units.drain(..) {
            let Role::Read {
                reader,
                egress,
                pts,
                tracks_version,
                dc,
                ..
            } = &mut self.role
            else {
                break;
            };
            let stream = reader.stream().clone();
            let v = stream.tracks_version();
            if v != *tracks_version {
                *tracks_version = v;
                egress.update_tracks(&stream.tracks());
            }
            let Some(frame) = egress.frame(&unit, now) else {
                continue;
            };
            let Some(idx) = egress.tracks.iter().position(|t| t.track == unit.track) else {
                continue;
            };
            if frame.codec == Codec::H264 {
                let track = &egress.tracks[idx];
                match dc.route(track.may_reorder, frame.reorders, frame.key) {
                    Route::Rtp => {
                        if frame.reorders && !egress.bframes_seen {
                            egress.bframes_seen = true;
                            warn!(
                                "webrtc session {} [{}]: the H264 stream has B-frames: over \
                                 WebRTC, browsers play it at a few frames per second \
                                 (libwebrtc rewrites every received SPS to say \"no \
                                 reordering\", so its decoder drops each B-frame). The \
                                 built-in player page plays it smoothly (WebCodecs); for \
                                 other players configure the encoder without B-frames (OBS: \
                                 x264 options \"bframes=0\"; ffmpeg: -bf 0)",
                                self.peer, self.guard.info.id
                            );
                        }
                    }
                    Route::Drop => continue,
                    Route::Channel { announce } => {
                        let announce = announce.then(|| {
                            info!(
                                "webrtc session {} [{}]: H264 with B-frames: the video goes \
                                 over the data channel to the page's WebCodecs decoder",
                                self.peer, self.guard.info.id
                            );
                            let audio_clock = egress
                                .tracks
                                .iter()
                                .find(|t| !t.codec.is_video())
                                .map(|t| t.rtp_clock())
                                .unwrap_or(48000);
                            dcvideo::announce(&track.codec_string(), audio_clock)
                        });
                        if send_over_channel(&mut self.rtc, dc, announce, &frame) {
                            bytes += frame.data.len() as u64;
                        }
                        self.drain().await?;
                        continue;
                    }
                }
            }
            let Some(writer) = self.rtc.writer(frame.mid) else {
                continue;
            };
            let pt = match pts[idx] {
                Some(pt) => pt,
                None => {
                    let want = str0m_codec(frame.codec);
                    let Some(pt) = writer
                        .payload_params()
                        .find(|p| Some(p.spec().codec) == want)
                        .map(|p| p.pt())
                    else {
                        continue;
                    };
                    pts[idx] = Some(pt);
                    pt
                }
            };
            let len = frame.data.len();
            match writer.write(pt, frame.wallclock, frame.rtp_time, frame.data) {
                Ok(()) => bytes += len as u64,
                Err(e) => debug!("{}: write failed: {e}", self.tag()),
            }
            self.drain().await?;
        }
        *batch = units;
        if batch.capacity() > 64 {
            batch.shrink_to(16);
        }
        let tag = self.tag();
        if let Role::Read {
            reader,
            drops,
            egress,
            ..
        } = &mut self.role
        {
            reader
                .stream()
                .bytes_sent
                .fetch_add(bytes, Ordering::Relaxed);
            if let Some(n) = drops.poll(reader.queue(), &self.guard.info.frames_discarded) {
                warn!(
                    "{tag}: reader too slow for path '{}': {n} units dropped since last report; \
                     it resumes at the next keyframe",
                    reader.path_name(),
                );
            }
            if egress.malformed == 1 {
                warn!("{tag}: dropping malformed H264 units (NAL lengths do not add up)");
                egress.malformed += 1;
            }
        }
        Ok(())
    }
}

/// Sends one H264 frame over the player's video channel; `false` when it was dropped (the
/// channel is gone, or its send buffer cannot take the whole frame: then nothing goes
/// until the next keyframe).
fn send_over_channel(
    rtc: &mut Rtc,
    dc: &mut DcVideo,
    announce: Option<String>,
    frame: &Frame,
) -> bool {
    let Some(mut ch) = dc.channel.and_then(|id| rtc.channel(id)) else {
        dc.closed();
        return false;
    };
    if let Some(text) = announce {
        if !matches!(ch.write(false, text.as_bytes()), Ok(true)) {
            dc.closed();
            return false;
        }
    }
    let need = dcvideo::wire_size(frame.data.len());
    if dcvideo::SEND_BUFFER.saturating_sub(ch.buffered_amount()) < need {
        dc.resync();
        dc.dropped += 1;
        return false;
    }
    for m in dcvideo::chunks(frame.pts_us, frame.key, &frame.data) {
        if !matches!(ch.write(true, &m), Ok(true)) {
            dc.resync();
            dc.dropped += 1;
            return false;
        }
    }
    dc.frames += 1;
    true
}
