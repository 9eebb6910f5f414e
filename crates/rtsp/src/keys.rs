//! SRTP keys of RTSPS readers: one master key per (path, track), shared by every reader
//! of the path and by its multicast group.
//!
//! Why shared: rtspsrc takes the key from the DESCRIBE SDP, before it has chosen unicast
//! or multicast, so the SDP key must be the one the multicast group uses; MediaMTX does the
//! same. Sharing a key is safe because the SRTP IV includes the SSRC, so SSRCs are leased
//! here, unique within the path, and given back when the reader's track goes away.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Weak};

use ferrocast_rtp::srtp::MasterKey;
use parking_lot::Mutex;

/// The keys of every path with RTSPS readers, for one listener.
#[derive(Default)]
pub struct SrtpKeys {
    paths: Mutex<HashMap<String, Weak<PathKeys>>>,
}

impl SrtpKeys {
    pub fn new() -> Arc<SrtpKeys> {
        Arc::new(SrtpKeys::default())
    }

    /// The keys of `path`, made when nobody holds them.
    pub fn path(&self, path: &str) -> Arc<PathKeys> {
        let mut paths = self.paths.lock();
        if let Some(k) = paths.get(path).and_then(Weak::upgrade) {
            return k;
        }
        paths.retain(|_, k| k.strong_count() > 0);
        let k = Arc::new(PathKeys {
            path: path.to_string(),
            tracks: Mutex::new(Vec::new()),
            ssrcs: Mutex::new(HashSet::new()),
        });
        paths.insert(path.to_string(), Arc::downgrade(&k));
        k
    }
}

/// One path's keys and the SSRCs in use under them.
pub struct PathKeys {
    pub path: String,
    tracks: Mutex<Vec<MasterKey>>,
    ssrcs: Mutex<HashSet<u32>>,
}

impl PathKeys {
    /// The master key of track `index`.
    pub fn key(&self, index: usize) -> MasterKey {
        let mut t = self.tracks.lock();
        while t.len() <= index.min(64) {
            t.push(MasterKey::random());
        }
        t[index.min(64)].clone()
    }

    /// A random SSRC no other sender of this path uses.
    pub fn lease_ssrc(self: &Arc<Self>) -> SsrcLease {
        use rand::Rng;
        let mut used = self.ssrcs.lock();
        let mut rng = rand::thread_rng();
        loop {
            let ssrc: u32 = rng.gen();
            if ssrc != 0 && used.insert(ssrc) {
                return SsrcLease {
                    keys: self.clone(),
                    ssrc,
                };
            }
        }
    }
}

/// An SSRC in use under a path's keys, until dropped.
pub struct SsrcLease {
    pub keys: Arc<PathKeys>,
    pub ssrc: u32,
}

impl Drop for SsrcLease {
    fn drop(&mut self) {
        self.keys.ssrcs.lock().remove(&self.ssrc);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shared_while_held() {
        let all = SrtpKeys::new();
        let a = all.path("cam");
        let k0 = a.key(0);
        assert_eq!(all.path("cam").key(0), k0);
        assert_ne!(a.key(1), k0);
        assert_ne!(all.path("other").key(0), k0);
        let l1 = a.lease_ssrc();
        let l2 = a.lease_ssrc();
        assert_ne!(l1.ssrc, l2.ssrc);
        assert_eq!(a.ssrcs.lock().len(), 2);
        drop(l1);
        assert_eq!(a.ssrcs.lock().len(), 1);
        drop((a, l2));
        assert_ne!(all.path("cam").key(0), k0, "a new key once nobody held it");
    }
}
