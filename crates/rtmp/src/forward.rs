//! Forwarding a path to a remote RTMP/RTMPS server (an RTMP CDN): a reader of the path
//! that publishes what it reads with our client, reconnecting with backoff.

use std::sync::Arc;
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use ferrocast_core::forward::{ForwardJob, ForwardState, ForwardStatus};
use ferrocast_core::{Codec, ReadError, Reader, Unit};
use tracing::{info, warn};

use crate::client::{Client, RtmpUrl};
use crate::egress;
use crate::session::ClientMode;

const MAX_BACKOFF: Duration = Duration::from_secs(30);

/// Starts forwarding `job` to its rtmp:// or rtmps:// destination.
pub fn start(job: ForwardJob) -> Result<(), String> {
    let proto = job.status.protocol();
    if proto != "rtmp" && proto != "rtmps" {
        return Err(format!("forward protocol '{proto}' is not supported"));
    }
    RtmpUrl::parse(&job.status.url).map_err(|e| e.to_string())?;
    let rt = tokio::runtime::Handle::try_current().map_err(|e| e.to_string())?;
    rt.spawn(run(job));
    Ok(())
}

async fn run(job: ForwardJob) {
    let ForwardJob { mut reader, status } = job;
    let path = reader.path_name().to_string();
    // RTMP CDNs want AAC: take Opus audio (WebRTC publishers) through a rendition.
    let opus: Vec<usize> = reader
        .stream()
        .source_tracks()
        .iter()
        .enumerate()
        .filter(|(_, t)| t.codec == Codec::Opus)
        .map(|(i, _)| i)
        .collect();
    for i in opus {
        if let Err(e) = reader.use_rendition(i, Codec::Aac) {
            warn!("forward '{path}' -> {}: Opus sent as is: {e}", status.url);
        }
    }
    // `destFingerprint`: rtmps:// destinations must present this certificate.
    let tls = match status.fingerprint.as_str() {
        "" => None,
        f => match crate::tls::fingerprint_client(f) {
            Ok(c) => Some(c),
            Err(e) => {
                warn!("forward '{path}' -> {}: destFingerprint: {e}", status.url);
                status.set_error(&format!("destFingerprint: {e}"));
                return;
            }
        },
    };
    let mut backoff = Duration::from_secs(1);
    let mut batch = Vec::new();
    loop {
        status.set_state(ForwardState::Idle);
        let result = match Client::connect_with(
            &status.url,
            ClientMode::Publish,
            Duration::from_secs(10),
            tls.clone(),
        )
        .await
        {
            Ok(mut client) => {
                info!("forward '{path}' -> {}: connected", status.url);
                status.set_state(ForwardState::Forwarding);
                backoff = Duration::from_secs(1);
                let r = pump(&mut client, &reader, &status, &mut batch).await;
                client.close().await;
                r
            }
            Err(e) => Err(Some(e.to_string())),
        };
        match result {
            Ok(()) | Err(None) => {
                info!(
                    "forward '{path}' -> {}: stopped (the path's stream ended)",
                    status.url
                );
                status.set_state(ForwardState::Idle);
                return;
            }
            Err(Some(e)) => {
                warn!(
                    "forward '{path}' -> {}: {e}; retrying in {backoff:?}",
                    status.url
                );
                status.set_error(&e);
            }
        }
        // Wait, discarding what arrives meanwhile: the next connection starts fresh at a
        // keyframe rather than with a backlog.
        let deadline = tokio::time::Instant::now() + backoff;
        loop {
            tokio::select! {
                _ = tokio::time::sleep_until(deadline) => break,
                r = reader.queue().recv(&mut batch) => {
                    batch.clear();
                    if r.is_err() {
                        status.set_state(ForwardState::Idle);
                        return;
                    }
                }
            }
        }
        backoff = (backoff * 2).min(MAX_BACKOFF);
    }
}

/// Sends units until the stream ends (`Ok`, or `Err(None)`) or the destination fails
/// (`Err(Some(reason))`).
async fn pump(
    client: &mut Client,
    reader: &Reader,
    status: &Arc<ForwardStatus>,
    batch: &mut Vec<Arc<Unit>>,
) -> Result<(), Option<String>> {
    let stream = reader.stream();
    let queue = reader.queue().clone();
    let stream_id = client.stream_id();
    let mut tracks = stream.tracks();
    let mut version = stream.tracks_version();
    let mut headers_sent = false;
    let has_video = tracks
        .iter()
        .enumerate()
        .any(|(i, t)| t.codec.is_video() && queue.wants(i));
    let mut started = !has_video;
    batch.clear();
    loop {
        tokio::select! {
            r = queue.recv(batch) => match r {
                Ok(_) => {}
                Err(ReadError::Closed(_)) => return Ok(()),
            },
            r = client.read_input() => {
                r.map_err(|e| Some(e.to_string()))?;
                continue;
            }
        }
        if stream.tracks_version() != version {
            version = stream.tracks_version();
            tracks = stream.tracks();
            headers_sent = false;
        }
        let mut out: Vec<Bytes> = Vec::with_capacity(batch.len() + 1);
        for u in batch.drain(..) {
            let Some(track) = tracks.get(u.track) else {
                continue;
            };
            if !egress::supported(track) {
                continue;
            }
            if !started {
                // A fresh connection starts on a keyframe.
                if !(track.codec.is_video() && u.key) {
                    continue;
                }
                started = true;
            }
            if !headers_sent {
                let mine: Vec<_> = tracks
                    .iter()
                    .enumerate()
                    .filter(|(i, _)| queue.wants(*i))
                    .map(|(_, t)| t.clone())
                    .collect();
                let mut h = BytesMut::new();
                egress::headers(&mut h, &mine, stream_id, egress::unit_ms(&u, track));
                out.push(h.freeze());
                headers_sent = true;
            }
            out.push(egress::unit_bytes(&u, track, stream_id));
        }
        if out.is_empty() {
            continue;
        }
        let n = client
            .send_raw(out)
            .await
            .map_err(|e| Some(format!("write: {e}")))?;
        status.add_bytes(n as u64);
    }
}
