//! WebRTC for Ferrocast: WHEP egress (browsers and WebRTC clients read a path) and WHIP
//! ingest (they publish to one), on str0m, with one UDP socket for every peer.
//!
//! Layout: sans-IO parts [`h264`] (AVCC <-> Annex B, avcC), `sdp` (offer inspection),
//! `egress` (units -> frames), `ingest` (frames -> units), `udp` (datagram routing); tokio
//! drivers `session` (one task per peer connection, owning its `Rtc`) and `http` (WHIP/WHEP
//! endpoints and pages, on axum); `client` (WHIP forwards and WHEP sources, on the same
//! session driver).
#![forbid(unsafe_code)]

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use tokio::net::UdpSocket;
use tokio_util::sync::CancellationToken;
use tracing::{info, warn};

pub mod client;
mod dcvideo;
mod egress;
pub mod h264;
mod http;
pub mod ice;
mod ingest;
mod pages;
mod sdp;
mod session;
mod tcp;
mod udp;

/// Entry points into the SDP, ICE and HTTP input this crate reads or rewrites itself, for
/// the fuzz targets (`fuzz/fuzz_targets/webrtc_sdp.rs`, `webrtc_client.rs`) and the malformed-input tests
/// (`tests/malformed_sdp.rs`). Thin wrappers, not an API: nothing outside those may use it.
#[doc(hidden)]
pub mod fuzzing {
    use std::net::SocketAddr;
    use std::sync::{Arc, OnceLock};
    use std::time::Instant;

    use bytes::Bytes;
    use str0m::change::SdpOffer;
    use str0m::config::{CryptoProvider, DtlsCert};
    use str0m::{Candidate, IceCreds, Output, RtcConfig};

    pub use crate::sdp::OfferedH264;
    pub use ferrocast_core::{Codec, Track};

    /// The WHIP/WHEP client's reading of a server's HTTP response (status, headers,
    /// Content-Length or chunked body) and of its Location; `None` while incomplete.
    pub fn whip_http_response(data: &[u8]) -> Option<(u16, usize)> {
        let r = crate::client::parse_response(data).ok()??;
        if let Some((_, l)) = r.headers.iter().find(|(k, _)| k == "location") {
            let _ = crate::client::resource_target(l);
        }
        Some((r.status, r.body.len()))
    }

    /// `tcp::next_frame` over `data` delivered in reads of `step` bytes: the RFC 4571 frames
    /// an ICE-TCP connection would hand to its session, until the first framing error.
    pub fn ice_tcp_frames(data: &[u8], step: usize, max: usize) -> (Vec<Bytes>, bool) {
        let mut buf = bytes::BytesMut::new();
        let mut out = Vec::new();
        for piece in data.chunks(step.max(1)) {
            buf.extend_from_slice(piece);
            loop {
                match crate::tcp::next_frame(&mut buf, max) {
                    Ok(Some(f)) => out.push(f),
                    Ok(None) => break,
                    Err(_) => return (out, true),
                }
            }
        }
        (out, false)
    }

    /// `tcp::put_frame`: an RFC 4571 frame.
    pub fn ice_tcp_frame(packet: &[u8]) -> Vec<u8> {
        let mut b = bytes::BytesMut::new();
        crate::tcp::put_frame(&mut b, packet);
        b.to_vec()
    }

    /// `dcvideo::is_keyframe_request`: a player page's message on its video channel.
    pub fn video_channel_message(data: &[u8]) -> bool {
        crate::dcvideo::is_keyframe_request(data)
    }

    /// `dcvideo::chunks`: the messages of one frame on the video channel.
    pub fn video_channel_chunks(pts: i64, key: bool, data: &[u8]) -> Vec<Vec<u8>> {
        crate::dcvideo::chunks(pts, key, data)
    }

    /// `client::WhipUrl::parse`: a forward destination or source URL.
    pub fn whip_url(url: &str) -> bool {
        crate::client::WhipUrl::parse(url).is_ok()
    }

    /// `sdp::offered_h264`: the H264 payload types of an offer.
    pub fn offered_h264(offer: &str) -> Vec<OfferedH264> {
        crate::sdp::offered_h264(offer)
    }

    /// `sdp::choose_h264`: the payload type answered for a stream's profile-level-id.
    pub fn choose_h264(offered: &[OfferedH264], stream: Option<u32>) -> Option<OfferedH264> {
        crate::sdp::choose_h264(offered, stream)
    }

    /// `sdp::fix_rejected_mlines`: the answer repair.
    pub fn fix_rejected_mlines(answer: &str, offer: &str) -> String {
        crate::sdp::fix_rejected_mlines(answer, offer)
    }

    /// `sdp::unify_msid`: one media stream for all tracks of an answer.
    pub fn unify_msid(answer: &str) -> String {
        crate::sdp::unify_msid(answer)
    }

    /// `sdp::fragment_candidates`: the candidates of a trickle-ICE fragment (PATCH).
    pub fn fragment_candidates(frag: &str) -> Vec<&str> {
        crate::sdp::fragment_candidates(frag)
    }

    /// `udp::stun_username`: USERNAME of a STUN message, as the demultiplexer reads it.
    pub fn stun_username(datagram: &[u8]) -> Option<&str> {
        crate::udp::stun_username(datagram)
    }

    /// `udp::local_ufrag`: the ufrag a datagram is routed by.
    pub fn local_ufrag(datagram: &[u8]) -> Option<&str> {
        crate::udp::local_ufrag(datagram)
    }

    /// `udp::unmap`: IPv4-mapped IPv6 source addresses as IPv4.
    pub fn unmap(addr: SocketAddr) -> SocketAddr {
        crate::udp::unmap(addr)
    }

    /// `http::target`: what a request's URI path addresses, as its `Debug` text.
    pub fn target(uri_path: &str) -> Option<String> {
        crate::http::target(uri_path).map(|t| format!("{t:?}"))
    }

    /// A stream's tracks as a path holds them: `video` and `audio` (`None`: no such track);
    /// H264 gets an avcC record with `h264_profile_level_id` and one SPS and PPS.
    pub fn tracks(
        video: Option<Codec>,
        audio: Option<Codec>,
        h264_profile_level_id: u32,
    ) -> Vec<Track> {
        let [_, p, c, l] = h264_profile_level_id.to_be_bytes();
        let mut out = Vec::new();
        if let Some(codec) = video {
            let config = match codec {
                Codec::H264 => Bytes::from(vec![
                    1, p, c, l, 0xff, 0xe1, 0, 4, 0x67, p, c, l, 1, 0, 2, 0x68, 0xce,
                ]),
                _ => Bytes::new(),
            };
            out.push(Track {
                codec,
                clock_rate: 90000,
                config,
                sample_rate: 0,
                channels: 0,
            });
        }
        if let Some(codec) = audio {
            out.push(Track {
                codec,
                clock_rate: 48000,
                config: match codec {
                    Codec::Aac => Bytes::from_static(&[0x11, 0x90]),
                    _ => Bytes::new(),
                },
                sample_rate: 48000,
                channels: 2,
            });
        }
        out
    }

    /// What `egress::plan` made of an offer for some tracks.
    #[derive(Debug)]
    pub struct PlanSummary {
        /// The tracks sent, in order.
        pub codecs: Vec<Codec>,
        /// The payload types str0m is configured to answer with.
        pub pts: Vec<u8>,
        pub skipped: Vec<&'static str>,
    }

    /// `egress::plan` with every track wanted.
    pub fn plan(tracks: &[Track], offer: &str) -> Result<PlanSummary, String> {
        let p = crate::egress::plan(tracks, |_| true, offer)?;
        Ok(PlanSummary {
            codecs: p.tracks.iter().map(|t| t.codec).collect(),
            pts: p.codecs.params().iter().map(|p| *p.pt()).collect(),
            skipped: p.skipped,
        })
    }

    fn crypto() -> &'static (Arc<CryptoProvider>, DtlsCert) {
        static CRYPTO: OnceLock<(Arc<CryptoProvider>, DtlsCert)> = OnceLock::new();
        CRYPTO.get_or_init(|| {
            let crypto = Arc::new(str0m::crypto::from_feature_flags());
            let cert = crypto
                .dtls_provider
                .generate_certificate()
                .expect("a DTLS certificate");
            (crypto, cert)
        })
    }

    /// The PATCH handler's reading of a trickle-ICE fragment: the candidates it would hand
    /// to the session, or the error it would answer with.
    pub fn trickle(body: &[u8]) -> Result<Vec<String>, String> {
        let frag = String::from_utf8_lossy(body);
        let mut out = Vec::new();
        for c in crate::sdp::fragment_candidates(&frag) {
            if Candidate::from_sdp_string(c).is_err() {
                return Err(format!("invalid candidate: {c}"));
            }
            out.push(c.to_string());
        }
        Ok(out)
    }

    /// The offer -> answer steps of a WHEP (`Some(tracks)`: the stream read) or WHIP
    /// (`None`) POST, as `http::create_session` takes them without a path or a network:
    /// str0m parses the offer, `egress::plan` picks the codecs, str0m answers,
    /// `fix_rejected_mlines` and `unify_msid` rewrite the answer and it must keep a usable
    /// m-line. Then the
    /// candidates of `trickle` (a PATCH body) are added as the session adds them, and the
    /// `Rtc` is drained. Returns the answer or the error the POST would answer with.
    pub fn negotiate(
        tracks: Option<&[Track]>,
        offer_text: &str,
        trickle: &[u8],
    ) -> Result<String, String> {
        let offer =
            SdpOffer::from_sdp_string(offer_text).map_err(|e| format!("invalid SDP offer: {e}"))?;
        let (crypto, cert) = crypto();
        let mut cfg = RtcConfig::new()
            .set_ice_lite(true)
            .set_crypto_provider(crypto.clone())
            .set_dtls_cert(cert.clone())
            .set_local_ice_credentials(IceCreds {
                ufrag: "fuzzufrg".into(),
                pass: "fuzzpassfuzzpassfuzzpass".into(),
            })
            .clear_codecs();
        match tracks {
            Some(tracks) => {
                let plan = crate::egress::plan(tracks, |_| true, offer_text)?;
                *cfg.codec_config() = plan.codecs;
            }
            None => {
                let c = cfg.codec_config();
                c.enable_h264(true);
                c.enable_vp8(true);
                c.enable_opus(true, false);
            }
        }
        let now = Instant::now();
        let mut rtc = cfg.build(now);
        if let Ok(c) = Candidate::host(([127, 0, 0, 1], 8189).into(), "udp") {
            rtc.add_local_candidate(c);
        }
        let answer = rtc
            .sdp_api()
            .accept_offer(offer)
            .map_err(|e| format!("cannot answer the offer: {e}"))?;
        let answer = crate::sdp::unify_msid(&crate::sdp::fix_rejected_mlines(
            &answer.to_sdp_string(),
            offer_text,
        ));
        if !answer
            .lines()
            .any(|l| l.starts_with("m=") && !l.starts_with("m=application") && !l.contains(" 0 "))
        {
            return Err("the offer has no media section this server can use".into());
        }
        let drain = |rtc: &mut str0m::Rtc| {
            for _ in 0..1000 {
                match rtc.poll_output() {
                    Ok(Output::Timeout(_)) | Err(_) => return,
                    Ok(_) => {}
                }
            }
        };
        drain(&mut rtc);
        // The PATCH handler forwards candidates until the first invalid one.
        let frag = String::from_utf8_lossy(trickle);
        for c in crate::sdp::fragment_candidates(&frag) {
            let Ok(c) = Candidate::from_sdp_string(c) else {
                break;
            };
            rtc.add_remote_candidate(c);
            drain(&mut rtc);
        }
        Ok(answer)
    }
}

/// Settings of the WebRTC server (MediaMTX's `webrtc*` keys).
#[derive(Clone)]
pub struct WebRtcConfig {
    pub paths: Arc<ferrocast_core::PathManager>,
    /// Sessions for `/v3/webrtcsessions` (API type "webRTCSession").
    pub sessions: Arc<ferrocast_core::conns::ConnRegistry>,
    /// `webrtcLocalUDPAddress`, default 0.0.0.0:8189.
    pub udp_addr: SocketAddr,
    /// `webrtcLocalTCPAddress`: ICE-TCP listener (passive candidates), off when `None`.
    pub tcp_addr: Option<SocketAddr>,
    /// `webrtcAdditionalHosts`: more host candidates (IPs or names, resolved at start).
    pub additional_hosts: Vec<String>,
    /// `webrtcIPsFromInterfaces`: offer the interfaces' addresses as host candidates.
    pub ips_from_interfaces: bool,
    /// `webrtcHandshakeTimeout`: ICE + DTLS must complete within this time.
    pub handshake_timeout: Duration,
    /// `webrtcAllowOrigins` (CORS); "*" allows any.
    pub allow_origins: Vec<String>,
    /// `webrtcICEServers2`: STUN/TURN servers announced to clients in `Link` headers.
    pub ice_servers: Vec<ice::IceServer>,
}

/// Serves HTTP (WHIP/WHEP and the pages) on `http` and media on one UDP socket until
/// `shutdown` is cancelled. Fails when the UDP socket cannot be bound or no DTLS
/// certificate can be made.
pub async fn serve(
    http: tokio::net::TcpListener,
    cfg: WebRtcConfig,
    shutdown: CancellationToken,
) -> std::io::Result<()> {
    let socket = UdpSocket::bind(cfg.udp_addr).await.map_err(|e| {
        std::io::Error::new(
            e.kind(),
            format!("webrtc: cannot bind UDP {}: {e}", cfg.udp_addr),
        )
    })?;
    // Publishers send bursts (a keyframe is hundreds of datagrams): a larger receive buffer
    // keeps the kernel from dropping them while the demultiplexer catches up.
    let _ = socket2::SockRef::from(&socket).set_recv_buffer_size(4 << 20);
    let _ = socket2::SockRef::from(&socket).set_send_buffer_size(4 << 20);
    let local = socket.local_addr()?;
    let candidates = host_candidates(&cfg.additional_hosts, cfg.ips_from_interfaces, local).await;
    let crypto = Arc::new(str0m::crypto::from_feature_flags());
    // One ECDSA P-256 certificate for every session (aiortc's DTLS client offers ECDSA
    // suites only); str0m's providers generate ECDSA.
    let cert = crypto
        .dtls_provider
        .generate_certificate()
        .ok_or_else(|| std::io::Error::other("webrtc: cannot generate a DTLS certificate"))?;
    let tcp = match cfg.tcp_addr {
        Some(addr) => {
            let l = tokio::net::TcpListener::bind(addr).await.map_err(|e| {
                std::io::Error::new(
                    e.kind(),
                    format!("webrtc: cannot bind TCP {addr} (webrtcLocalTCPAddress): {e}"),
                )
            })?;
            let local = l.local_addr()?;
            let c = host_candidates(&cfg.additional_hosts, cfg.ips_from_interfaces, local).await;
            Some((l, c))
        }
        None => None,
    };
    let http_addr = http.local_addr()?;
    let list = |c: &[SocketAddr]| {
        c.iter()
            .map(|c| c.to_string())
            .collect::<Vec<_>>()
            .join(", ")
    };
    info!(
        "webrtc: listening on {http_addr} (HTTP, WHIP/WHEP) and {local} (UDP); host candidates: {}",
        list(&candidates)
    );
    if let Some((l, c)) = &tcp {
        info!(
            "webrtc: listening on {} (ICE-TCP); TCP host candidates: {}",
            l.local_addr()?,
            list(c)
        );
    }
    let socket = Arc::new(socket);
    let tcp_candidates = Arc::new(tcp.as_ref().map(|(_, c)| c.clone()).unwrap_or_default());
    let net = Arc::new(session::Net {
        socket: socket.clone(),
        v6: local.is_ipv6(),
        candidates,
        tcp_candidates: tcp_candidates.clone(),
    });
    let routes = Arc::new(udp::Routes::default());
    let demux = tokio::spawn(udp::run_demux(socket, routes.clone(), shutdown.clone()));
    if let Some((l, _)) = tcp {
        tokio::spawn(tcp::run_listener(
            l,
            routes.clone(),
            tcp_candidates,
            cfg.handshake_timeout,
            shutdown.clone(),
        ));
    }
    let shared = Arc::new(http::Shared::new(
        cfg.paths.clone(),
        cfg.sessions.clone(),
        cfg.handshake_timeout,
        cfg.allow_origins.clone(),
        net,
        routes,
        crypto,
        cert,
        shutdown.clone(),
        cfg.ice_servers.clone(),
    ));
    let app = axum::Router::new()
        .fallback(http::handle)
        .with_state(shared)
        .into_make_service_with_connect_info::<SocketAddr>();
    let r = axum::serve(http, app)
        .with_graceful_shutdown(shutdown.clone().cancelled_owned())
        .await;
    shutdown.cancel();
    let _ = demux.await;
    r
}

/// The host candidates: the bound address, or with a wildcard bind the loopback address and
/// (with `ips_from_interfaces`) the interfaces' addresses; then the additional hosts.
async fn host_candidates(
    additional_hosts: &[String],
    ips_from_interfaces: bool,
    local: SocketAddr,
) -> Vec<SocketAddr> {
    let port = local.port();
    let mut ips: Vec<IpAddr> = Vec::new();
    if local.ip().is_unspecified() {
        ips.push(if local.is_ipv4() {
            IpAddr::V4(Ipv4Addr::LOCALHOST)
        } else {
            IpAddr::V6(Ipv6Addr::LOCALHOST)
        });
        if ips_from_interfaces {
            match if_addrs::get_if_addrs() {
                Ok(ifs) => {
                    for i in ifs {
                        let ip = i.ip();
                        // An IPv4 socket cannot reach IPv6 peers; link-local IPv6 needs a
                        // scope that candidates do not carry.
                        let usable = !ip.is_loopback()
                            && !i.is_link_local()
                            && (local.is_ipv6() || ip.is_ipv4());
                        if usable {
                            ips.push(ip);
                        }
                    }
                }
                Err(e) => warn!("webrtc: cannot list network interfaces: {e}"),
            }
        }
    } else {
        ips.push(local.ip());
    }
    for host in additional_hosts {
        match host.parse::<IpAddr>() {
            Ok(ip) => ips.push(ip),
            Err(_) => match tokio::net::lookup_host((host.as_str(), port)).await {
                Ok(addrs) => ips.extend(addrs.map(|a| a.ip())),
                Err(e) => warn!("webrtc: additional host '{host}' does not resolve: {e}"),
            },
        }
    }
    let mut out: Vec<SocketAddr> = Vec::new();
    for ip in ips {
        let a = SocketAddr::new(ip, port);
        if !out.contains(&a) {
            out.push(a);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn candidates() {
        let any: SocketAddr = "0.0.0.0:8189".parse().unwrap();
        let extra = vec!["203.0.113.7".to_string(), "localhost".to_string()];
        let c = host_candidates(&extra, false, any).await;
        assert_eq!(c[0], "127.0.0.1:8189".parse::<SocketAddr>().unwrap());
        assert!(c.contains(&"203.0.113.7:8189".parse().unwrap()), "{c:?}");
        let with_ifs = host_candidates(&[], true, any).await;
        assert!(
            with_ifs.iter().all(|a| a.is_ipv4() && a.port() == 8189),
            "{with_ifs:?}"
        );
        let bound: SocketAddr = "10.1.2.3:9000".parse().unwrap();
        assert_eq!(host_candidates(&[], true, bound).await, vec![bound]);
    }
}
