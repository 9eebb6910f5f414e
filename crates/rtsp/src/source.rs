//! `source: rtsp://...` and `rtsps://...`: a path pulls its stream from a camera or another
//! RTSP server. One call of [`run`] is one attempt (the core retries with backoff).

use ferrocast_conf::RtspSourceTransport;
use ferrocast_core::conns::RtpCounters;
use ferrocast_core::source::{SourceCtx, SourceFactory};

use crate::client::{pull, PullConfig, PullTransport};

/// The driver to register for the "rtsp" and "rtsps" schemes.
pub fn factory() -> SourceFactory {
    SourceFactory::new(|ctx| Box::pin(run(ctx)))
}

/// Pulls until the remote ends the stream or fails (`Err`), or `ctx.token` is cancelled.
pub async fn run(ctx: SourceCtx) -> Result<(), String> {
    let c = &ctx.conf;
    let range = &c.rtsp_udp_source_port_range;
    let cfg = PullConfig {
        url: ctx.url.clone(),
        transport: match c.rtsp_transport {
            RtspSourceTransport::Udp => PullTransport::Udp,
            RtspSourceTransport::Tcp => PullTransport::Tcp,
            // Multicast sources are read over UDP unicast or TCP for now.
            RtspSourceTransport::Multicast | RtspSourceTransport::Automatic => {
                PullTransport::Automatic
            }
        },
        any_port: c.rtsp_any_port,
        read_timeout: ctx.read_timeout,
        write_timeout: ctx.write_timeout,
        udp_port_range: (
            range.first().copied().unwrap_or(32768),
            range.get(1).copied().unwrap_or(60999),
        ),
        fingerprint: c.source_fingerprint.clone(),
    };
    let counters = RtpCounters::default();
    let token = ctx.token.clone();
    pull(
        &cfg,
        &counters,
        &ctx.status.bytes_received,
        &token,
        |tracks| {
            let mut p = ctx.publisher().map_err(|e| e.to_string())?;
            p.start(tracks)
                .map_err(|e| format!("cannot start the stream: {e}"))?;
            Ok(p)
        },
    )
    .await
}
