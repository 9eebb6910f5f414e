//! Forwarding (restreaming) a path to remote servers: the path's `forward` destinations.
//!
//! The path starts one forward per destination when it becomes ready, each with its own
//! reader; the protocol code that pushes to the destination is injected
//! (`ForwarderFactory`), so the core does not depend on protocol crates. A forward keeps its
//! identity (and its API entry) for as long as the path exists.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::SystemTime;

use parking_lot::Mutex;
use uuid::Uuid;

use crate::path::Reader;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ForwardState {
    Idle,
    Forwarding,
    Error,
}

impl ForwardState {
    pub fn api_name(self) -> &'static str {
        match self {
            ForwardState::Idle => "idle",
            ForwardState::Forwarding => "forwarding",
            ForwardState::Error => "error",
        }
    }
}

/// What the API shows of one forward destination; updated by the forwarder.
#[derive(Debug)]
pub struct ForwardStatus {
    pub id: Uuid,
    pub created: SystemTime,
    /// The destination as configured (before `$MTX_PATH`/`$G1` substitution).
    pub dest_conf: String,
    /// The destination actually used.
    pub url: String,
    /// `destFingerprint`: the SHA-256 fingerprint a TLS destination must have.
    pub fingerprint: String,
    /// `whipBearerToken`.
    pub bearer: String,
    state: Mutex<(ForwardState, String)>,
    pub outbound_bytes: AtomicU64,
}

impl ForwardStatus {
    pub fn new(dest_conf: &str, url: &str) -> ForwardStatus {
        ForwardStatus {
            id: Uuid::new_v4(),
            created: SystemTime::now(),
            dest_conf: dest_conf.to_string(),
            url: url.to_string(),
            fingerprint: String::new(),
            bearer: String::new(),
            state: Mutex::new((ForwardState::Idle, String::new())),
            outbound_bytes: AtomicU64::new(0),
        }
    }

    /// With `destFingerprint` and `whipBearerToken`.
    pub fn with_credentials(mut self, fingerprint: &str, bearer: &str) -> ForwardStatus {
        self.fingerprint = fingerprint.to_string();
        self.bearer = bearer.to_string();
        self
    }

    /// The scheme of the destination URL (rtmp, rtmps, whip, ...).
    pub fn protocol(&self) -> &str {
        self.url.split("://").next().unwrap_or_default()
    }

    pub fn state(&self) -> (ForwardState, String) {
        self.state.lock().clone()
    }

    pub fn set_state(&self, s: ForwardState) {
        self.state.lock().0 = s;
    }

    /// Records an error: the state becomes `error` until the next success.
    pub fn set_error(&self, e: &str) {
        let mut st = self.state.lock();
        st.0 = ForwardState::Error;
        st.1 = e.to_string();
    }

    pub fn add_bytes(&self, n: u64) {
        self.outbound_bytes.fetch_add(n, Ordering::Relaxed);
    }
}

/// One forward to run: push what `reader` receives to `status.url` until the reader's
/// queue ends, reconnecting when the destination drops.
#[derive(Debug)]
pub struct ForwardJob {
    pub reader: Reader,
    pub status: Arc<ForwardStatus>,
}

type StartForward = dyn Fn(ForwardJob) -> Result<(), String> + Send + Sync;

/// Starts forward jobs (spawning their tasks); errs when the scheme is not supported.
#[derive(Clone)]
pub struct ForwarderFactory(pub Arc<StartForward>);

impl std::fmt::Debug for ForwarderFactory {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ForwarderFactory")
    }
}

/// Replaces `$MTX_PATH` and `$G1`..`$G9` in a destination.
pub fn substitute(dest: &str, path: &str, groups: &[String]) -> String {
    let mut s = dest.replace("$MTX_PATH", path);
    for (i, g) in groups.iter().enumerate().rev() {
        s = s.replace(&format!("$G{}", i + 1), g);
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn substitution() {
        assert_eq!(
            substitute("rtmp://cdn/live/$MTX_PATH?k=$G1", "cam/1", &["x".into()]),
            "rtmp://cdn/live/cam/1?k=x"
        );
    }
}
