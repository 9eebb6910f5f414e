//! UDP multicast: one group per path, shared by every multicast reader of it.
//!
//! The first reader that sets up multicast on a path creates the group: one address per
//! track from `multicastIPRange`, on `multicastRTPPort`/`multicastRTCPPort`, and one task
//! that reads the path once and sends each packet once, whatever the number of readers.
//! The group stops when its last reader leaves.
//!
//! On RTSPS the group sends SRTP with the path's keys ([`crate::keys`]), on its own ports
//! (multicastSRTPPort/multicastSRTCPPort). Its addresses come from the same range as
//! the plain group's and may coincide with them: the ports differ, so that is harmless.

use std::collections::{HashMap, HashSet};
use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Weak};
use std::time::Duration;

use ferrocast_core::{CancellationToken, PathError, Reader, Unit};
use parking_lot::Mutex;
use tokio::net::UdpSocket;
use tracing::{info, warn};

use crate::egress::{Delivery, Outbox, RtpSender};
use crate::keys::{SrtpKeys, SsrcLease};
use ferrocast_rtp::srtp::SrtpSender;

/// Time between RTCP sender reports.
pub const REPORT_PERIOD: Duration = Duration::from_secs(5);

/// Multicast settings and the groups in use.
pub struct Multicast {
    range: ipnet::Ipv4Net,
    pub rtp_port: u16,
    pub rtcp_port: u16,
    socket: UdpSocket,
    groups: Mutex<HashMap<String, Weak<Group>>>,
    used: Mutex<HashSet<Ipv4Addr>>,
    /// RTSPS: groups send SRTP with these keys.
    srtp: Option<Arc<SrtpKeys>>,
}

/// A path's multicast group.
pub struct Group {
    owner: Arc<Multicast>,
    /// The address of each track of the path's stream (None: RTP cannot carry it).
    addrs: Vec<Option<Ipv4Addr>>,
    /// SSRC, first sequence number and RTP time of each track, for SETUP and PLAY.
    pub ssrc: Vec<u32>,
    /// SRTP rollover counter of each track, kept by the sending task.
    rocs: Arc<Vec<AtomicU32>>,
    /// SRTP: the SSRCs leased under the path's keys.
    _leases: Vec<SsrcLease>,
    token: CancellationToken,
}

impl Group {
    pub fn addr(&self, track: usize) -> Option<Ipv4Addr> {
        self.addrs.get(track).copied().flatten()
    }

    /// SSRC and SRTP rollover counter of track `index`, for key exchanges.
    pub fn stream(&self, index: usize) -> Option<(u32, u32)> {
        let ssrc = *self.ssrc.get(index).filter(|s| **s != 0)?;
        let roc = self.rocs.get(index)?.load(Ordering::Relaxed);
        Some((ssrc, roc))
    }

    pub fn is_running(&self) -> bool {
        !self.token.is_cancelled()
    }
}

impl Drop for Group {
    fn drop(&mut self) {
        self.token.cancel();
        let mut used = self.owner.used.lock();
        for a in self.addrs.iter().flatten() {
            used.remove(a);
        }
    }
}

impl Multicast {
    /// `range` like `224.1.0.0/16`; `srtp` for the RTSPS listener.
    pub async fn new(
        range: &str,
        rtp_port: u16,
        rtcp_port: u16,
        srtp: Option<Arc<SrtpKeys>>,
    ) -> Result<Arc<Multicast>, String> {
        let range: ipnet::Ipv4Net = range
            .parse()
            .map_err(|e| format!("multicastIPRange '{range}': {e}"))?;
        if !range.network().is_multicast() {
            return Err(format!(
                "multicastIPRange '{range}' is not a multicast range"
            ));
        }
        let socket = UdpSocket::bind("0.0.0.0:0")
            .await
            .map_err(|e| format!("multicast socket: {e}"))?;
        socket
            .set_multicast_ttl_v4(16)
            .map_err(|e| format!("multicast socket: {e}"))?;
        Ok(Arc::new(Multicast {
            range,
            rtp_port,
            rtcp_port,
            socket,
            groups: Mutex::new(HashMap::new()),
            used: Mutex::new(HashSet::new()),
            srtp,
        }))
    }

    /// The group of `path` if one is sending.
    pub fn running_group(&self, path: &str) -> Option<Arc<Group>> {
        let g = self.groups.lock().get(path).and_then(Weak::upgrade)?;
        g.is_running().then_some(g)
    }

    fn allocate(&self) -> Option<Ipv4Addr> {
        let mut used = self.used.lock();
        let a = self
            .range
            .hosts()
            .find(|a| !used.contains(a) && !a.octets().ends_with(&[0]))?;
        used.insert(a);
        Some(a)
    }

    /// The running group of `path`, or a new one reading through `reader()`.
    pub fn group(
        self: &Arc<Self>,
        path: &str,
        reader: impl FnOnce() -> Result<Reader, PathError>,
    ) -> Result<Arc<Group>, PathError> {
        let mut groups = self.groups.lock();
        if let Some(g) = groups.get(path).and_then(Weak::upgrade) {
            if g.is_running() {
                return Ok(g);
            }
        }
        let reader = reader()?;
        let tracks = reader.stream().source_tracks();
        let mut sender = RtpSender::default();
        let mut addrs = Vec::new();
        let mut ssrc = Vec::new();
        let mut leases = Vec::new();
        let keys = self.srtp.as_ref().map(|k| k.path(path));
        let token = CancellationToken::new();
        for (i, t) in tracks.iter().enumerate() {
            let addr = self.allocate();
            let Some(a) = addr else {
                warn!(
                    "RTSP multicast: multicastIPRange {} is exhausted",
                    self.range
                );
                addrs.push(None);
                ssrc.push(0);
                continue;
            };
            let delivery = Delivery::Udp {
                rtp: SocketAddr::V4(SocketAddrV4::new(a, self.rtp_port)),
                rtcp: SocketAddr::V4(SocketAddrV4::new(a, self.rtcp_port)),
            };
            let seed = crate::egress::random_seed();
            match sender.add_track(t, i, delivery, seed) {
                Some(o) => {
                    if let Some(keys) = &keys {
                        let lease = keys.lease_ssrc();
                        o.secure(lease.ssrc, SrtpSender::new(&keys.key(i)));
                        leases.push(lease);
                    }
                    addrs.push(Some(a));
                    ssrc.push(o.ssrc);
                }
                None => {
                    self.used.lock().remove(&a);
                    addrs.push(None);
                    ssrc.push(0);
                }
            }
        }
        let rocs: Arc<Vec<AtomicU32>> =
            Arc::new(tracks.iter().map(|_| AtomicU32::new(0)).collect());
        let group = Arc::new(Group {
            owner: self.clone(),
            addrs,
            ssrc,
            rocs: rocs.clone(),
            _leases: leases,
            token: token.clone(),
        });
        groups.retain(|_, g| g.strong_count() > 0);
        groups.insert(path.to_string(), Arc::downgrade(&group));
        info!(
            "RTSP multicast group for path '{path}' started on {}",
            group
                .addrs
                .iter()
                .flatten()
                .map(|a| a.to_string())
                .collect::<Vec<_>>()
                .join(", ")
        );
        let me = self.clone();
        let path = path.to_string();
        tokio::spawn(async move {
            let reason = me.run(reader, sender, &rocs, &token).await;
            token.cancel();
            info!("RTSP multicast group for path '{path}' stopped: {reason}");
        });
        Ok(group)
    }

    async fn run(
        &self,
        reader: Reader,
        mut sender: RtpSender,
        rocs: &[AtomicU32],
        token: &CancellationToken,
    ) -> String {
        let mut batch: Vec<Arc<Unit>> = Vec::new();
        let mut out = Outbox::default();
        let mut reports = tokio::time::interval(REPORT_PERIOD);
        loop {
            tokio::select! {
                _ = token.cancelled() => return "no reader left".into(),
                r = reader.queue().recv(&mut batch) => {
                    if let Err(ferrocast_core::ReadError::Closed(reason)) = r {
                        return reason;
                    }
                    for u in batch.drain(..) {
                        sender.write(&u, &mut out);
                    }
                }
                _ = reports.tick() => {
                    sender.sender_reports(&mut out);
                }
            }
            for (_, to, data) in out.datagrams() {
                // A full socket buffer loses the packet, as any UDP sender would.
                let _ = self.socket.try_send_to(data, to);
            }
            out.clear_datagrams();
            for t in &sender.tracks {
                if let Some(r) = rocs.get(t.index) {
                    r.store(t.roc(), Ordering::Relaxed);
                }
            }
        }
    }
}
