//! Pull sources: paths whose `source` is a URL (`rtmp://`, `rtsp://`, ...) take their
//! stream from a remote server instead of from a publisher.
//!
//! The protocol code that pulls is injected per URL scheme ([`SourceFactory`], registered
//! with [`crate::PathManager::set_source`]), so the core does not depend on protocol crates.
//! The core owns the policy: static sources (`sourceOnDemand: no`) run for as long as their
//! path is configured, on-demand sources run while someone reads
//! ([`crate::PathManager::wait_for_source`]), and both reconnect with backoff. A factory
//! runs one attempt: connect, attach with [`SourceCtx::publisher`], pump until the remote
//! ends or `token` is cancelled, and return why it stopped.

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use ferrocast_conf::PathConf;
use parking_lot::Mutex;
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

use crate::path::{Path, PathManager, Publisher, SessionRef};
use crate::PathError;

/// A boxed, sendable future (what a [`SourceFactory`] returns).
pub type BoxFuture<T> = Pin<Box<dyn Future<Output = T> + Send + 'static>>;

type RunSource = dyn Fn(SourceCtx) -> BoxFuture<Result<(), String>> + Send + Sync;

/// Runs one attempt of a pull source. `Ok(())`: the remote ended the stream (or `token`
/// was cancelled); `Err(reason)`: the attempt failed. The core retries either way until
/// the source is stopped.
#[derive(Clone)]
pub struct SourceFactory(pub Arc<RunSource>);

impl SourceFactory {
    pub fn new<F>(f: F) -> SourceFactory
    where
        F: Fn(SourceCtx) -> BoxFuture<Result<(), String>> + Send + Sync + 'static,
    {
        SourceFactory(Arc::new(f))
    }
}

impl std::fmt::Debug for SourceFactory {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SourceFactory")
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SourceState {
    /// Not running (an on-demand source nobody reads).
    Idle,
    /// An attempt is running and has not published yet.
    Connecting,
    /// The source publishes to its path.
    Ready,
    /// The last attempt failed; the next one starts after a pause.
    Error,
}

impl SourceState {
    pub fn api_name(self) -> &'static str {
        match self {
            SourceState::Idle => "idle",
            SourceState::Connecting => "connecting",
            SourceState::Ready => "ready",
            SourceState::Error => "error",
        }
    }
}

/// What the API can show of a path's source; updated by the core and the factory.
#[derive(Debug)]
pub struct SourceStatus {
    /// MediaMTX API type: "rtmpSource", "rtspSource", ...
    pub kind: &'static str,
    /// The source as configured (before `$G1`/`$MTX_PATH` substitution).
    pub conf_url: String,
    /// The URL pulled (`$MTX_QUERY` is replaced when a run starts).
    pub url: String,
    state: Mutex<(SourceState, String)>,
    /// Bytes the factory reports as received, over every attempt.
    pub bytes_received: AtomicU64,
}

impl SourceStatus {
    pub(crate) fn new(conf_url: &str, url: &str) -> SourceStatus {
        SourceStatus {
            kind: source_type(url),
            conf_url: conf_url.to_string(),
            url: url.to_string(),
            state: Mutex::new((SourceState::Idle, String::new())),
            bytes_received: AtomicU64::new(0),
        }
    }

    /// State and last error (empty when the last attempt did not fail).
    pub fn state(&self) -> (SourceState, String) {
        self.state.lock().clone()
    }

    pub fn set_state(&self, s: SourceState) {
        let mut st = self.state.lock();
        st.0 = s;
        if s == SourceState::Ready {
            st.1.clear();
        }
    }

    pub fn set_error(&self, e: &str) {
        *self.state.lock() = (SourceState::Error, e.to_string());
    }

    pub fn add_bytes(&self, n: u64) {
        self.bytes_received.fetch_add(n, Ordering::Relaxed);
    }
}

/// Everything one attempt of a pull source needs.
pub struct SourceCtx {
    /// The URL to pull, after `$G1..$Gn`, `$MTX_PATH` and `$MTX_QUERY` substitution.
    pub url: String,
    /// The path the source publishes to.
    pub path: String,
    /// The path's configuration (`rtspTransport`, `sourceFingerprint`, ...).
    pub conf: PathConf,
    /// The server's `readTimeout` and `writeTimeout`.
    pub read_timeout: Duration,
    pub write_timeout: Duration,
    /// Cancelled when the attempt must stop (source stopped, path removed, shutdown).
    pub token: CancellationToken,
    pub status: Arc<SourceStatus>,
    pub(crate) manager: Arc<PathManager>,
    pub(crate) target: Arc<Path>,
}

impl std::fmt::Debug for SourceCtx {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SourceCtx")
            .field("url", &redact(&self.url))
            .field("path", &self.path)
            .finish_non_exhaustive()
    }
}

impl SourceCtx {
    /// Attaches the source as its path's publisher (no authentication: the source is the
    /// path's configured stream). Call it once the tracks are known, then
    /// [`Publisher::start`] them; readers kept through a reconnect continue on it.
    pub fn publisher(&self) -> Result<Publisher, PathError> {
        if self.token.is_cancelled() {
            return Err(PathError::Closed("the source was stopped".into()));
        }
        let session = SessionRef {
            kind: self.status.kind,
            id: Uuid::new_v4(),
            token: self.token.clone(),
        };
        self.manager.attach_source(&self.target, session)
    }
}

/// The scheme of a URL ("rtmp" for "rtmp://host/x"), lower case.
pub fn scheme(url: &str) -> String {
    url.split_once("://")
        .map(|(s, _)| s.to_ascii_lowercase())
        .unwrap_or_default()
}

/// Whether a path's `source` is a URL that the server pulls.
pub fn is_pull_source(source: &str) -> bool {
    source.contains("://")
}

/// The MediaMTX API type of a source URL. MediaMTX has one type per protocol, TLS or not
/// (`rtmps://` is an "rtmpSource").
pub fn source_type(url: &str) -> &'static str {
    match scheme(url).as_str() {
        "rtsp" | "rtsps" => "rtspSource",
        "rtmp" | "rtmps" => "rtmpSource",
        "http" | "https" => "hlsSource",
        "srt" => "srtSource",
        "whep" | "wheps" => "webRTCSource",
        "udp+rtp" => "rtpSource",
        "moqt" => "moqSource",
        _ => "mpegtsSource", // udp://, udp+mpegts://, unix+mpegts://
    }
}

/// Replaces `$MTX_PATH`, `$MTX_QUERY` and `$G1`..`$Gn` in a source URL.
pub fn substitute(source: &str, path: &str, groups: &[String], query: &str) -> String {
    let s = crate::forward::substitute(source, path, groups);
    s.replace("$MTX_QUERY", query)
}

/// A URL with its password hidden, for logs.
pub fn redact(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_string();
    };
    let authority_end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let (authority, tail) = rest.split_at(authority_end);
    match authority.rsplit_once('@') {
        Some((userinfo, host)) => match userinfo.split_once(':') {
            Some((user, _)) => format!("{scheme}://{user}:***@{host}{tail}"),
            None => url.to_string(),
        },
        None => url.to_string(),
    }
}

/// First pause between attempts; it doubles after each failure up to [`MAX_RETRY_PAUSE`]
/// and starts over once an attempt published.
pub const MIN_RETRY_PAUSE: Duration = Duration::from_secs(1);
pub const MAX_RETRY_PAUSE: Duration = Duration::from_secs(10);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn substitution_and_types() {
        assert_eq!(
            substitute(
                "rtsp://cam-$G1.local/$G2/$MTX_PATH?$MTX_QUERY",
                "cam7",
                &["7".into(), "main".into()],
                "a=1"
            ),
            "rtsp://cam-7.local/main/cam7?a=1"
        );
        // $G1 does not eat the start of $G10.
        let groups: Vec<String> = (1..=10).map(|i| format!("g{i}")).collect();
        assert_eq!(substitute("$G10/$G1", "p", &groups, ""), "g10/g1");
        assert_eq!(source_type("rtmps://h/a/b"), "rtmpSource");
        assert_eq!(source_type("RTSP://h/a"), "rtspSource");
        assert_eq!(source_type("wheps://h/a/whep"), "webRTCSource");
        assert_eq!(source_type("udp+mpegts://238.0.0.1:1234"), "mpegtsSource");
        assert!(is_pull_source("srt://h:1"));
        assert!(!is_pull_source("publisher"));
    }

    #[test]
    fn redaction() {
        assert_eq!(
            redact("rtsp://admin:secret@10.0.0.1:554/s?x=@"),
            "rtsp://admin:***@10.0.0.1:554/s?x=@"
        );
        assert_eq!(redact("rtmp://h/live/x"), "rtmp://h/live/x");
        assert_eq!(redact("publisher"), "publisher");
    }
}
