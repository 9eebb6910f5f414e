//! WebRTC for Ferrocast: WHEP egress (browsers and WebRTC clients read a path) and WHIP
//! ingest (they publish to one), on str0m, with one UDP socket for every peer.
//!
//! Layout: sans-IO parts [`h264`] (AVCC <-> Annex B, avcC), `sdp` (offer inspection),
//! `egress` (units -> frames), `ingest` (frames -> units), `udp` (datagram routing); tokio
//! drivers `session` (one task per peer connection, owning its `Rtc`) and `http` (WHIP/WHEP
//! endpoints and pages, on axum).
#![forbid(unsafe_code)]

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use tokio::net::UdpSocket;
use tokio_util::sync::CancellationToken;
use tracing::{info, warn};

mod egress;
pub mod h264;
mod http;
mod ingest;
mod pages;
mod sdp;
mod session;
mod udp;

/// Settings of the WebRTC server (MediaMTX's `webrtc*` keys).
#[derive(Clone)]
pub struct WebRtcConfig {
    pub paths: Arc<ferrocast_core::PathManager>,
    /// Sessions for `/v3/webrtcsessions` (API type "webRTCSession").
    pub sessions: Arc<ferrocast_core::conns::ConnRegistry>,
    /// `webrtcLocalUDPAddress`, default 0.0.0.0:8189.
    pub udp_addr: SocketAddr,
    /// `webrtcAdditionalHosts`: more host candidates (IPs or names, resolved at start).
    pub additional_hosts: Vec<String>,
    /// `webrtcIPsFromInterfaces`: offer the interfaces' addresses as host candidates.
    pub ips_from_interfaces: bool,
    /// `webrtcHandshakeTimeout`: ICE + DTLS must complete within this time.
    pub handshake_timeout: Duration,
    /// `webrtcAllowOrigins` (CORS); "*" allows any.
    pub allow_origins: Vec<String>,
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
    let http_addr = http.local_addr()?;
    info!(
        "webrtc: listening on {http_addr} (HTTP, WHIP/WHEP) and {local} (UDP); host candidates: {}",
        candidates
            .iter()
            .map(|c| c.to_string())
            .collect::<Vec<_>>()
            .join(", ")
    );
    let socket = Arc::new(socket);
    let net = Arc::new(session::Net {
        socket: socket.clone(),
        v6: local.is_ipv6(),
        candidates,
    });
    let routes = Arc::new(udp::Routes::default());
    let demux = tokio::spawn(udp::run_demux(socket, routes.clone(), shutdown.clone()));
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
