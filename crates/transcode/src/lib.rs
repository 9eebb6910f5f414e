//! Codec-level audio transcoders for Ferrocast renditions: AAC -> Opus (WebRTC readers of an
//! RTMP/RTSP/SRT stream) and Opus -> AAC (RTMP/HLS readers of a WHIP stream).
//!
//! No I/O and no async: a transcoder takes one compressed frame with its PTS and returns the
//! compressed frames that are ready, with their PTS. One transcoder is one stream's state
//! (a few hundred KiB, mostly codec state); the per-frame path reuses its buffers.
//!
//! - [`AacToOpus`]: AAC-LC decoded with `symphonia-codec-aac` (pure Rust), resampled to
//!   48 kHz with `rubato` when needed, encoded with libopus (bundled, built with cmake) into
//!   20 ms packets, 96 kbit/s stereo / 64 kbit/s mono by default. HE-AAC v1/v2 is accepted,
//!   but only its AAC-LC core is decoded (no SBR/PS): band-limited to the core's half rate,
//!   and v2 comes out mono.
//! - [`OpusToAac`]: decoded with libopus, encoded to AAC-LC 48 kHz (1024-sample frames,
//!   128 kbit/s stereo / 64 kbit/s mono by default) with the Fraunhofer FDK AAC encoder (cargo
//!   feature `fdk`, on by default).
//!
//! ```
//! use ferrocast_transcode::{AacToOpus, TranscodeError};
//!
//! # fn main() -> Result<(), TranscodeError> {
//! // AAC-LC 44.1 kHz stereo, as an RTMP sequence header or SDP `config=` carries it.
//! let mut t = AacToOpus::new(&[0x12, 0x10])?;
//! assert_eq!(t.channels(), 2);
//! // One raw AAC frame (here one with no channel element, just ID_END) at PTS 0 (44.1 kHz).
//! for p in t.push(&[0xE0], 0)? {
//!     // p.pts is in 48 kHz, p.duration == 960
//!     let _ = (p.data, p.pts);
//! }
//! # Ok(())
//! # }
//! ```
//!
//! Building needs cmake and a C and C++ compiler (libopus is built from the bundled source
//! with cmake, FDK AAC with the `cc` crate); no system codec library is used.
//!
//! # Timestamps
//!
//! Output PTS count samples, so consecutive packets advance by exactly their duration, and the
//! count is kept locked to the input PTS: a deviation of 10 ms or more (a lost frame, clock
//! drift adding up) is corrected in the audio (the missing span is concealed with silence or
//! Opus packet-loss concealment, an overlap is cut), and a deviation over 100 ms re-bases the
//! output on the input's PTS. Encoder delay (Opus lookahead, AAC's 2048 samples) is taken out
//! of the output PTS so audio stays in sync with video; the first packets after a (re)start,
//! which would be stamped before the input's first PTS, are dropped.
//!
//! # Licences
//!
//! `symphonia-codec-aac` is MPL-2.0 (file-level copyleft: modified files of it must stay
//! MPL; using it unmodified is fine in an MIT/Apache project), libopus BSD-3-Clause, rubato
//! MIT/Apache-2.0.
//!
//! The `fdk` feature (on by default) compiles the **Fraunhofer FDK AAC** library (C++,
//! bundled by the `fdk-aac-sys` crate) into the binary. Its licence ("Software License for
//! The Fraunhofer FDK AAC Codec Library for Android") is **not GPL-compatible** and grants
//! **no patent licence**:
//! - whoever ships a binary must keep the complete licence text in its documentation and
//!   make the complete FDK AAC source code available free of charge to the binary's
//!   recipients; no copyright licence fees may be charged for it;
//! - AAC is covered by patents (licensed through Via Licensing Alliance); the FDK licence
//!   only allows use "for purposes that are authorized by appropriate patent licenses", which
//!   the distributor or user has to obtain.
//!
//! Build with `--no-default-features` to leave it out: [`OpusToAac::new`] then returns
//! [`TranscodeError::FeatureDisabled`] and nothing else changes.

mod aac_to_opus;
mod asc;
mod fifo;
mod opus_to_aac;
mod timeline;

pub use aac_to_opus::AacToOpus;
pub use asc::adts_header;
pub use opus_to_aac::OpusToAac;

/// One compressed audio frame out of a transcoder.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AudioPacket {
    pub data: bytes::Bytes,
    /// Presentation timestamp in the output clock (48 kHz).
    pub pts: i64,
    /// Duration in the output clock: 960 for Opus (20 ms), 1024 for AAC.
    pub duration: u32,
}

/// Why a transcoder could not be made, or could not handle one frame.
///
/// Errors from `push` are about that one frame: the transcoder stays usable, and the gap the
/// frame leaves is concealed when the next frame arrives.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum TranscodeError {
    /// The AudioSpecificConfig cannot be parsed.
    #[error("invalid AAC AudioSpecificConfig: {0}")]
    InvalidConfig(String),
    /// The stream is valid but uses something these transcoders don't handle.
    #[error("unsupported audio: {0}")]
    Unsupported(String),
    /// One input frame could not be decoded; it is skipped (and concealed).
    #[error("corrupt {codec} frame skipped: {reason}")]
    CorruptFrame { codec: &'static str, reason: String },
    /// The encoder or resampler failed: a bug or resource problem, not bad input.
    #[error("{codec} encoder failed: {reason}")]
    Encoder { codec: &'static str, reason: String },
    /// A codec needed here was compiled out.
    #[error("{0}")]
    FeatureDisabled(&'static str),
}

#[cfg(test)]
mod send_check {
    fn is_send<T: Send>() {}
    #[test]
    fn transcoders_are_send() {
        is_send::<super::AacToOpus>();
        is_send::<super::OpusToAac>();
    }
}
