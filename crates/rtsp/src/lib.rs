//! RTSP server for Ferrocast (RFC 2326): publishers (ANNOUNCE/RECORD) and readers
//! (DESCRIBE/PLAY) over TCP-interleaved RTP, UDP unicast and UDP multicast; RTSPS with
//! SRTP (MIKEY keys) over UDP.
//!
//! - [`auth`]: Basic and Digest authentication, both sides.
//! - [`client`]: the RTSP client of pull sources.
//! - [`message`]: sans-IO request/response/interleaved framing with size limits.
//! - [`sdp`]: the SDP subset RTSP needs.
//! - [`mikey`]: SRTP keys in MIKEY messages (RTSPS over UDP).
//! - [`transport`]: the `Transport` header.
//! - [`egress`]: bus units -> RTP packets and sender reports (per reader or group).
//! - [`ingest`]: received RTP -> bus units, receiver statistics and reports.
//! - [`udp`]: the shared RTP/RTCP sockets and the routing of datagrams to sessions.
//! - [`keys`]: SRTP keys of RTSPS readers, per path.
//! - [`multicast`]: one multicast group per path, shared by its multicast readers.
//! - [`source`]: `source: rtsp://` pull sources, on the client.
//! - [`session`]: the sans-IO session state machine (requests, RTP, time in; responses,
//!   packets, routes out).
//! - [`server`]: its tokio driver, one task per connection.
#![forbid(unsafe_code)]

pub mod auth;
pub mod client;
pub mod egress;
pub mod ingest;
pub mod keys;
pub mod message;
pub mod mikey;
pub mod multicast;
pub mod sdp;
pub mod server;
pub mod session;
pub mod source;
pub mod transport;
pub mod udp;

pub use multicast::Multicast;
pub use server::{serve, ServerConfig};
pub use udp::UdpServer;
