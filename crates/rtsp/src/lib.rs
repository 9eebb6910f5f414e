//! RTSP server for Ferrocast (RFC 2326): publishers (ANNOUNCE/RECORD) and readers
//! (DESCRIBE/PLAY) over TCP-interleaved RTP.
//!
//! - [`message`]: sans-IO request/response/interleaved framing with size limits.
//! - [`sdp`]: the SDP subset RTSP needs.
//! - [`transport`]: the `Transport` header.
//! - [`server`]: the tokio driver, one task per connection.
#![forbid(unsafe_code)]

pub mod message;
pub mod sdp;
pub mod server;
pub mod transport;

pub use server::{serve, ServerConfig};
