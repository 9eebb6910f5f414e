//! RTMP and RTMPS for Ferrocast.
//!
//! Sans-IO protocol parts: [`chunk`] (chunk stream), [`amf0`], [`session`] (handshake and
//! command flow, server and client). Media conversion: [`ingest`] (FLV -> units) and
//! [`egress`] (units -> shared chunked messages). Thin tokio drivers: [`server`], [`client`],
//! [`forward`] (push a path to a remote server) and [`source`] (pull a path from one).
#![forbid(unsafe_code)]

pub mod amf0;
pub mod chunk;
pub mod client;
pub mod egress;
pub mod forward;
pub mod ingest;
mod io;
pub mod server;
pub mod session;
pub mod source;
pub mod tls;

pub use io::write_all_vectored;
