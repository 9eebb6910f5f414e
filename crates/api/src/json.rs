//! MediaMTX's API JSON shapes (field names and order as in its `defs` structs).

use std::sync::atomic::Ordering;

use ferrocast_core::conns::ConnInfo;
use ferrocast_core::{rfc3339, PathSnapshot};
use serde::Serialize;

use crate::codec_props::{codec_props, CodecProps};

#[derive(Debug, Serialize)]
pub(crate) struct Info {
    pub version: &'static str,
    pub started: String,
}

/// `PathSource` and `PathReader`.
#[derive(Debug, Serialize)]
pub(crate) struct TypeId {
    #[serde(rename = "type")]
    pub kind: &'static str,
    pub id: String,
}

#[derive(Debug, Serialize)]
pub(crate) struct PathTrack {
    pub codec: &'static str,
    #[serde(rename = "codecProps")]
    pub codec_props: Option<CodecProps>,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct ApiPath {
    pub name: String,
    pub conf_name: String,
    pub ready: bool,
    pub ready_time: Option<String>,
    pub available: bool,
    pub available_time: Option<String>,
    pub online: bool,
    pub online_time: Option<String>,
    pub source: Option<TypeId>,
    pub tracks: Vec<&'static str>,
    pub tracks2: Vec<PathTrack>,
    pub readers: Vec<TypeId>,
    pub inbound_bytes: u64,
    pub outbound_bytes: u64,
    pub inbound_frames_in_error: u64,
    pub bytes_received: u64,
    pub bytes_sent: u64,
}

impl From<&PathSnapshot> for ApiPath {
    fn from(p: &PathSnapshot) -> ApiPath {
        let time = if p.ready {
            p.ready_time.map(rfc3339)
        } else {
            None
        };
        ApiPath {
            name: p.name.clone(),
            conf_name: p.conf_name.clone(),
            ready: p.ready,
            ready_time: time.clone(),
            available: p.ready,
            available_time: time.clone(),
            online: p.ready,
            online_time: time,
            source: p.source.map(|(kind, id)| TypeId {
                kind,
                id: id.map(|id| id.to_string()).unwrap_or_default(),
            }),
            tracks: p.tracks.iter().map(|t| t.codec.api_name()).collect(),
            tracks2: p
                .tracks
                .iter()
                .map(|t| PathTrack {
                    codec: t.codec.api_name(),
                    codec_props: codec_props(t),
                })
                .collect(),
            readers: p
                .readers
                .iter()
                .map(|(kind, id)| TypeId {
                    kind,
                    id: id.to_string(),
                })
                .collect(),
            inbound_bytes: p.bytes_received,
            outbound_bytes: p.bytes_sent,
            inbound_frames_in_error: 0,
            bytes_received: p.bytes_received,
            bytes_sent: p.bytes_sent,
        }
    }
}

/// `RTMPConn`.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct RtmpConn {
    pub id: String,
    pub created: String,
    pub remote_addr: String,
    pub state: &'static str,
    pub path: String,
    pub query: String,
    pub user: String,
    pub user_agent: String,
    pub inbound_bytes: u64,
    pub outbound_bytes: u64,
    pub outbound_frames_discarded: u64,
    pub bytes_received: u64,
    pub bytes_sent: u64,
}

impl From<&ConnInfo> for RtmpConn {
    fn from(c: &ConnInfo) -> RtmpConn {
        let d = c.details.lock();
        let rx = c.bytes_received.load(Ordering::Relaxed);
        let tx = c.bytes_sent.load(Ordering::Relaxed);
        RtmpConn {
            id: c.id.to_string(),
            created: rfc3339(c.created),
            remote_addr: c.remote_addr.to_string(),
            state: d.state.api_name(),
            path: d.path.clone(),
            query: d.query.clone(),
            user: d.user.clone(),
            user_agent: d.user_agent.clone(),
            inbound_bytes: rx,
            outbound_bytes: tx,
            outbound_frames_discarded: c.frames_discarded.load(Ordering::Relaxed),
            bytes_received: rx,
            bytes_sent: tx,
        }
    }
}

/// `WebRTCSession` (the fields a `ConnInfo` knows; RTP counters are not tracked yet).
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct WebRtcSession {
    pub id: String,
    pub created: String,
    pub remote_addr: String,
    pub peer_connection_established: bool,
    pub local_candidate: String,
    pub remote_candidate: String,
    pub state: &'static str,
    pub path: String,
    pub query: String,
    pub user: String,
    pub user_agent: String,
    pub inbound_bytes: u64,
    pub outbound_bytes: u64,
    pub outbound_frames_discarded: u64,
    #[serde(rename = "inboundRTPPackets")]
    pub inbound_rtp_packets: u64,
    #[serde(rename = "inboundRTPPacketsLost")]
    pub inbound_rtp_packets_lost: u64,
    #[serde(rename = "inboundRTPPacketsJitter")]
    pub inbound_rtp_packets_jitter: f64,
    #[serde(rename = "inboundRTCPPackets")]
    pub inbound_rtcp_packets: u64,
    #[serde(rename = "outboundRTPPackets")]
    pub outbound_rtp_packets: u64,
    #[serde(rename = "outboundRTCPPackets")]
    pub outbound_rtcp_packets: u64,
    pub bytes_received: u64,
    pub bytes_sent: u64,
    pub rtp_packets_received: u64,
    pub rtp_packets_sent: u64,
    pub rtp_packets_lost: u64,
    pub rtp_packets_jitter: f64,
    pub rtcp_packets_received: u64,
    pub rtcp_packets_sent: u64,
}

impl From<&ConnInfo> for WebRtcSession {
    fn from(c: &ConnInfo) -> WebRtcSession {
        let d = c.details.lock();
        let rx = c.bytes_received.load(Ordering::Relaxed);
        let tx = c.bytes_sent.load(Ordering::Relaxed);
        let r = &c.rtp;
        let get = |a: &std::sync::atomic::AtomicU64| a.load(Ordering::Relaxed);
        let jitter = f64::from_bits(get(&r.inbound_rtp_jitter));
        WebRtcSession {
            id: c.id.to_string(),
            created: rfc3339(c.created),
            remote_addr: c.remote_addr.to_string(),
            peer_connection_established: rx > 0 || tx > 0,
            local_candidate: String::new(),
            remote_candidate: String::new(),
            state: match d.state.api_name() {
                "publish" => "publish",
                _ => "read",
            },
            path: d.path.clone(),
            query: d.query.clone(),
            user: d.user.clone(),
            user_agent: d.user_agent.clone(),
            inbound_bytes: rx,
            outbound_bytes: tx,
            outbound_frames_discarded: c.frames_discarded.load(Ordering::Relaxed),
            inbound_rtp_packets: get(&r.inbound_rtp_packets),
            inbound_rtp_packets_lost: get(&r.inbound_rtp_packets_lost),
            inbound_rtp_packets_jitter: jitter,
            inbound_rtcp_packets: get(&r.inbound_rtcp_packets),
            outbound_rtp_packets: get(&r.outbound_rtp_packets),
            outbound_rtcp_packets: get(&r.outbound_rtcp_packets),
            bytes_received: rx,
            bytes_sent: tx,
            rtp_packets_received: get(&r.inbound_rtp_packets),
            rtp_packets_sent: get(&r.outbound_rtp_packets),
            rtp_packets_lost: get(&r.inbound_rtp_packets_lost),
            rtp_packets_jitter: jitter,
            rtcp_packets_received: get(&r.inbound_rtcp_packets),
            rtcp_packets_sent: get(&r.outbound_rtcp_packets),
        }
    }
}

/// `RTSPConn`.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct RtspConn {
    pub id: String,
    pub created: String,
    pub remote_addr: String,
    pub inbound_bytes: u64,
    pub outbound_bytes: u64,
    pub session: Option<String>,
    pub tunnel: &'static str,
    pub bytes_received: u64,
    pub bytes_sent: u64,
}

impl From<&ConnInfo> for RtspConn {
    fn from(c: &ConnInfo) -> RtspConn {
        let d = c.details.lock();
        let rx = c.bytes_received.load(Ordering::Relaxed);
        let tx = c.bytes_sent.load(Ordering::Relaxed);
        RtspConn {
            id: c.id.to_string(),
            created: rfc3339(c.created),
            remote_addr: c.remote_addr.to_string(),
            inbound_bytes: rx,
            outbound_bytes: tx,
            session: d.session.map(|s| s.to_string()),
            tunnel: "none",
            bytes_received: rx,
            bytes_sent: tx,
        }
    }
}

/// `RTSPSession`: one per connection that sent ANNOUNCE or SETUP (Ferrocast ties a session
/// to its connection).
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct RtspSession {
    pub id: String,
    pub created: String,
    pub remote_addr: String,
    pub state: &'static str,
    pub path: String,
    pub query: String,
    pub user: String,
    pub user_agent: String,
    pub transport: Option<String>,
    pub profile: Option<String>,
    pub conns: Vec<String>,
    pub inbound_bytes: u64,
    #[serde(rename = "inboundRTPPackets")]
    pub inbound_rtp_packets: u64,
    #[serde(rename = "inboundRTPPacketsLost")]
    pub inbound_rtp_packets_lost: u64,
    #[serde(rename = "inboundRTPPacketsInError")]
    pub inbound_rtp_packets_in_error: u64,
    #[serde(rename = "inboundRTPPacketsJitter")]
    pub inbound_rtp_packets_jitter: f64,
    #[serde(rename = "inboundRTCPPackets")]
    pub inbound_rtcp_packets: u64,
    #[serde(rename = "inboundRTCPPacketsInError")]
    pub inbound_rtcp_packets_in_error: u64,
    pub outbound_bytes: u64,
    #[serde(rename = "outboundRTPPackets")]
    pub outbound_rtp_packets: u64,
    #[serde(rename = "outboundRTPPacketsReportedLost")]
    pub outbound_rtp_packets_reported_lost: u64,
    #[serde(rename = "outboundRTPPacketsDiscarded")]
    pub outbound_rtp_packets_discarded: u64,
    #[serde(rename = "outboundRTCPPackets")]
    pub outbound_rtcp_packets: u64,
    pub bytes_received: u64,
    pub bytes_sent: u64,
    pub rtp_packets_received: u64,
    pub rtp_packets_sent: u64,
    pub rtp_packets_lost: u64,
    pub rtp_packets_in_error: u64,
    pub rtp_packets_jitter: f64,
    pub rtcp_packets_received: u64,
    pub rtcp_packets_sent: u64,
    pub rtcp_packets_in_error: u64,
}

impl RtspSession {
    /// The session of a connection, if it has one.
    pub fn of(c: &ConnInfo) -> Option<RtspSession> {
        let d = c.details.lock();
        let id = d.session?;
        let rx = c.bytes_received.load(Ordering::Relaxed);
        let tx = c.bytes_sent.load(Ordering::Relaxed);
        let r = &c.rtp;
        let get = |a: &std::sync::atomic::AtomicU64| a.load(Ordering::Relaxed);
        let opt = |s: &str| (!s.is_empty()).then(|| s.to_string());
        Some(RtspSession {
            id: id.to_string(),
            created: rfc3339(c.created),
            remote_addr: c.remote_addr.to_string(),
            state: d.state.api_name(),
            path: d.path.clone(),
            query: d.query.clone(),
            user: d.user.clone(),
            user_agent: d.user_agent.clone(),
            transport: opt(&d.transport),
            profile: opt(&d.profile),
            conns: vec![c.id.to_string()],
            inbound_bytes: rx,
            inbound_rtp_packets: get(&r.inbound_rtp_packets),
            inbound_rtp_packets_lost: get(&r.inbound_rtp_packets_lost),
            inbound_rtp_packets_in_error: get(&r.inbound_rtp_packets_in_error),
            inbound_rtp_packets_jitter: r.jitter(),
            inbound_rtcp_packets: get(&r.inbound_rtcp_packets),
            inbound_rtcp_packets_in_error: get(&r.inbound_rtcp_packets_in_error),
            outbound_bytes: tx,
            outbound_rtp_packets: get(&r.outbound_rtp_packets),
            outbound_rtp_packets_reported_lost: get(&r.outbound_rtp_packets_reported_lost),
            outbound_rtp_packets_discarded: get(&c.frames_discarded),
            outbound_rtcp_packets: get(&r.outbound_rtcp_packets),
            bytes_received: rx,
            bytes_sent: tx,
            rtp_packets_received: get(&r.inbound_rtp_packets),
            rtp_packets_sent: get(&r.outbound_rtp_packets),
            rtp_packets_lost: get(&r.inbound_rtp_packets_lost),
            rtp_packets_in_error: get(&r.inbound_rtp_packets_in_error),
            rtp_packets_jitter: r.jitter(),
            rtcp_packets_received: get(&r.inbound_rtcp_packets),
            rtcp_packets_sent: get(&r.outbound_rtcp_packets),
            rtcp_packets_in_error: get(&r.inbound_rtcp_packets_in_error),
        })
    }
}

/// `*List`: a page of items.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct List<T> {
    pub item_count: usize,
    pub page_count: usize,
    pub items: Vec<T>,
}
