//! `source: rtmp://...` and `rtmps://...`: a path pulls its stream from a remote RTMP
//! server. One call of [`run`] is one attempt (the core retries): connect, play, and turn
//! what arrives into units with the same [`Ingest`] as the server's publishers.

use ferrocast_core::source::{SourceCtx, SourceFactory};
use ferrocast_core::Publisher;

use crate::client::{Client, ClientError, RtmpUrl};
use crate::ingest::{Ingest, IngestEvent};
use crate::session::ClientMode;

/// The driver to register for the "rtmp" and "rtmps" schemes.
pub fn factory() -> SourceFactory {
    SourceFactory::new(|ctx| Box::pin(run(ctx)))
}

/// Pulls until the remote ends the stream (`Ok`), fails (`Err`), or `ctx.token` is
/// cancelled (`Ok`).
pub async fn run(ctx: SourceCtx) -> Result<(), String> {
    let token = ctx.token.clone();
    tokio::select! {
        r = pull(&ctx) => r,
        _ = token.cancelled() => Ok(()),
    }
}

async fn pull(ctx: &SourceCtx) -> Result<(), String> {
    RtmpUrl::parse(&ctx.url).map_err(|e| e.to_string())?;
    let tls = match ctx.conf.source_fingerprint.as_str() {
        "" => None,
        f => Some(crate::tls::fingerprint_client(f)?),
    };
    let mut client = Client::connect_with(&ctx.url, ClientMode::Play, ctx.read_timeout, tls)
        .await
        .map_err(|e| format!("cannot play: {e}"))?;
    let result = pump(ctx, &mut client).await;
    client.close().await;
    result
}

async fn pump(ctx: &SourceCtx, client: &mut Client) -> Result<(), String> {
    let mut ingest = Ingest::new();
    // Attached once the tracks are known: until then the path is not ready, and readers
    // kept from a previous attempt wait in the publisher grace period.
    let mut publisher: Option<Publisher> = None;
    loop {
        let m = match tokio::time::timeout(ctx.read_timeout, client.recv()).await {
            Err(_) => return Err(format!("no data for {:?} (readTimeout)", ctx.read_timeout)),
            Ok(Err(ClientError::Refused { code, .. }))
                if code == "NetStream.Play.UnpublishNotify" =>
            {
                return Ok(()); // the remote's publisher left
            }
            Ok(Err(e)) => return Err(e.to_string()),
            Ok(Ok(m)) => m,
        };
        ctx.status.add_bytes(m.payload.len() as u64);
        let events = ingest.push(m).map_err(|e| format!("invalid media: {e}"))?;
        for ev in events {
            match ev {
                IngestEvent::Ready(tracks) => {
                    let mut p = ctx.publisher().map_err(|e| e.to_string())?;
                    p.start(tracks)
                        .map_err(|e| format!("cannot start the stream: {e}"))?;
                    publisher = Some(p);
                }
                IngestEvent::TracksChanged(tracks) => {
                    if let Some(s) = publisher.as_ref().and_then(|p| p.stream()) {
                        s.update_tracks(tracks);
                    }
                }
                IngestEvent::Unit(u) => {
                    if let Some(p) = &mut publisher {
                        p.write(u);
                    }
                }
            }
        }
    }
}
