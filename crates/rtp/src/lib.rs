//! RTP for Ferrocast: packets and RTCP, SDP media formats, payload depacketizers (RTP -> bus
//! units) and packetizers (bus units -> RTP payloads), and DTS recovery for H.264/H.265.
//!
//! Pure code without I/O: the RTSP server and client feed packets in and write headers out.
//!
//! - [`packet`]: RTP header parse/write (RFC 3550 5.1), sequence and timestamp unwrapping.
//! - [`rtcp`]: compound packets, sender and receiver reports (RFC 3550 6.4).
//! - [`format`]: `a=rtpmap`/`a=fmtp` <-> [`Track`](ferrocast_core::unit::Track).
//! - [`Depacketizer`]: one per received track; yields [`Frame`]s in the bus's canonical form.
//! - [`Packetizer`]: one per sent track; yields [`Payload`]s (the caller adds headers).
//! - [`reorder::Reorderer`]: puts UDP packets back in sequence order.
//! - [`dts`]: decode timestamps for streams with B-frames (RTP carries only PTS).
//! - [`srtp`]: SRTP/SRTCP protection (RTSPS over UDP).
#![forbid(unsafe_code)]

mod aac;
mod av1;
mod bits;
mod depacketizer;
pub mod dts;
pub mod format;
mod h264;
mod h265;
mod jpeg;
mod mpa;
pub mod packet;
mod packetizer;
pub mod reorder;
pub mod rtcp;
pub mod srtp;
pub mod stats;
mod vp8;
mod vp9;

pub use depacketizer::{Depacketizer, Frame, Pushed};
pub use format::{format_for_track, sdp_attributes, track_from_format, MediaFormat};
pub use packet::{RtpHeader, RtpPacket, SequenceUnwrapper, TimestampUnwrapper};
pub use packetizer::{Packetizer, Payload};

/// The most bytes a depacketizer buffers for one frame before giving up on it.
pub const MAX_FRAME_SIZE: usize = 8 << 20;

/// The default payload size limit of packetizers, in bytes (fits a 1500-byte MTU with IP,
/// UDP, RTP headers and SRTP or RTSP interleaving overhead).
pub const DEFAULT_MTU: usize = 1200;

/// Malformed or unsupported RTP, RTCP, payload or SDP format data.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// `what` needs more bytes than the `len` there are.
    #[error("{what}: truncated ({len} bytes)")]
    Truncated { what: &'static str, len: usize },
    /// Input that breaks the format's rules.
    #[error("malformed {0}")]
    Malformed(&'static str),
    /// Valid input using a feature this crate does not implement.
    #[error("unsupported {0}")]
    Unsupported(&'static str),
    /// A frame would exceed [`MAX_FRAME_SIZE`]; it is dropped.
    #[error("frame larger than {limit} bytes")]
    FrameTooLarge { limit: usize },
    /// A media format (rtpmap/fmtp) that cannot be used.
    #[error("media format: {0}")]
    Format(String),
}

pub(crate) fn need(what: &'static str, buf: &[u8], n: usize) -> Result<(), Error> {
    if buf.len() < n {
        Err(Error::Truncated {
            what,
            len: buf.len(),
        })
    } else {
        Ok(())
    }
}

/// Checks that a frame of `len` bytes stays within [`MAX_FRAME_SIZE`].
pub(crate) fn check_frame_size(len: usize) -> Result<(), Error> {
    if len > MAX_FRAME_SIZE {
        Err(Error::FrameTooLarge {
            limit: MAX_FRAME_SIZE,
        })
    } else {
        Ok(())
    }
}
