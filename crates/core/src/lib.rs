//! Ferrocast core: the in-memory bus between publishers and readers.
//!
//! - [`Unit`]: one access unit of one track, shared as `Arc` by every reader.
//! - [`Stream`]: the tracks of a path, a GOP cache and the fan-out to bounded reader queues.
//! - [`PathManager`]: maps path names to configs, authenticates, and owns the live paths.
//! - [`conns::ConnRegistry`]: the sessions of one protocol server, for the API.
#![forbid(unsafe_code)]

pub mod conns;
pub mod forward;
pub mod net;
mod path;
pub mod rendition;
pub mod source;
mod stream;
pub mod tls;
mod unit;

pub use path::{
    Access, Action, PathError, PathManager, PathSnapshot, Publisher, Reader, SessionRef,
};
pub use stream::{DropReport, ReadError, ReaderQueue, Stream};
pub use tokio_util::sync::CancellationToken;
pub use unit::{rescale, Codec, EgressCache, EgressFormat, Track, Unit};

/// Formats a UTC time the way MediaMTX's API does (RFC 3339).
pub fn rfc3339(t: std::time::SystemTime) -> String {
    time::OffsetDateTime::from(t)
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_default()
}
