//! The sessions of one protocol server, as the API lists and kicks them.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::atomic::AtomicU64;
use std::sync::Arc;
use std::time::SystemTime;

use parking_lot::Mutex;
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConnState {
    Idle,
    Read,
    Publish,
}

impl ConnState {
    pub fn api_name(self) -> &'static str {
        match self {
            ConnState::Idle => "idle",
            ConnState::Read => "read",
            ConnState::Publish => "publish",
        }
    }
}

#[derive(Debug)]
pub struct ConnDetails {
    pub state: ConnState,
    pub path: String,
    pub query: String,
    pub user: String,
    pub user_agent: String,
    /// RTSP: the session of this connection (after its first ANNOUNCE or SETUP).
    pub session: Option<Uuid>,
    /// RTSP: "TCP", "UDP" or "UDP-MULTICAST" once set up; WebRTC: the candidate pair.
    pub transport: String,
    /// RTSP: "AVP" or "SAVP".
    pub profile: String,
}

/// RTP and RTCP counters of an RTP-based session (RTSP, WebRTC); zero for the others.
#[derive(Debug, Default)]
pub struct RtpCounters {
    pub inbound_rtp_packets: AtomicU64,
    pub inbound_rtp_packets_lost: AtomicU64,
    pub inbound_rtp_packets_in_error: AtomicU64,
    /// Interarrival jitter (RTP clock units) of the incoming streams, as f64 bits.
    pub inbound_rtp_jitter: AtomicU64,
    pub inbound_rtcp_packets: AtomicU64,
    pub inbound_rtcp_packets_in_error: AtomicU64,
    pub outbound_rtp_packets: AtomicU64,
    pub outbound_rtcp_packets: AtomicU64,
    /// Packets the readers' receiver reports say were lost.
    pub outbound_rtp_packets_reported_lost: AtomicU64,
}

impl RtpCounters {
    pub fn jitter(&self) -> f64 {
        f64::from_bits(
            self.inbound_rtp_jitter
                .load(std::sync::atomic::Ordering::Relaxed),
        )
    }

    pub fn set_jitter(&self, j: f64) {
        self.inbound_rtp_jitter
            .store(j.to_bits(), std::sync::atomic::Ordering::Relaxed);
    }
}

/// One connection; counters are updated by its session task.
#[derive(Debug)]
pub struct ConnInfo {
    pub id: Uuid,
    pub created: SystemTime,
    pub remote_addr: SocketAddr,
    pub details: Mutex<ConnDetails>,
    pub bytes_received: AtomicU64,
    pub bytes_sent: AtomicU64,
    /// Units this connection's reader queue dropped because it was full.
    pub frames_discarded: AtomicU64,
    pub rtp: RtpCounters,
    pub token: CancellationToken,
}

impl ConnInfo {
    pub fn new(remote_addr: SocketAddr, token: CancellationToken) -> ConnInfo {
        ConnInfo {
            id: Uuid::new_v4(),
            created: SystemTime::now(),
            remote_addr,
            details: Mutex::new(ConnDetails {
                state: ConnState::Idle,
                path: String::new(),
                query: String::new(),
                user: String::new(),
                user_agent: String::new(),
                session: None,
                transport: String::new(),
                profile: String::new(),
            }),
            bytes_received: AtomicU64::new(0),
            bytes_sent: AtomicU64::new(0),
            frames_discarded: AtomicU64::new(0),
            rtp: RtpCounters::default(),
            token,
        }
    }
}

/// Connections of one server (e.g. "rtmpconns" or "rtmpsconns").
#[derive(Debug, Default)]
pub struct ConnRegistry {
    conns: Mutex<BTreeMap<Uuid, Arc<ConnInfo>>>,
}

impl ConnRegistry {
    pub fn new() -> Arc<ConnRegistry> {
        Arc::new(ConnRegistry::default())
    }

    /// Registers a connection until the returned guard is dropped.
    pub fn add(self: &Arc<Self>, info: Arc<ConnInfo>) -> ConnGuard {
        self.conns.lock().insert(info.id, info.clone());
        ConnGuard {
            registry: self.clone(),
            info,
        }
    }

    /// Connections in creation order.
    pub fn list(&self) -> Vec<Arc<ConnInfo>> {
        let mut v: Vec<_> = self.conns.lock().values().cloned().collect();
        v.sort_by_key(|c| c.created);
        v
    }

    pub fn get(&self, id: Uuid) -> Option<Arc<ConnInfo>> {
        self.conns.lock().get(&id).cloned()
    }

    /// Asks a connection to close. Returns false when there is no such connection.
    pub fn kick(&self, id: Uuid) -> bool {
        match self.get(id) {
            Some(c) => {
                c.token.cancel();
                true
            }
            None => false,
        }
    }

    pub fn len(&self) -> usize {
        self.conns.lock().len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// Removes its connection from the registry when dropped.
#[derive(Debug)]
pub struct ConnGuard {
    registry: Arc<ConnRegistry>,
    pub info: Arc<ConnInfo>,
}

impl Drop for ConnGuard {
    fn drop(&mut self) {
        self.registry.conns.lock().remove(&self.info.id);
    }
}
