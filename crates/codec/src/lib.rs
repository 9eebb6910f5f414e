//! Pure media code, no I/O.
#![forbid(unsafe_code)]

pub mod aac;
pub mod avc;
pub mod bits;
pub mod flv;
pub mod h264;

/// A malformed bitstream or container element.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum CodecError {
    #[error("{what}: truncated ({len} bytes)")]
    Truncated { what: &'static str, len: usize },
    #[error("{0}")]
    Invalid(String),
    #[error("unsupported {0}")]
    Unsupported(String),
}

pub(crate) fn need(what: &'static str, buf: &[u8], n: usize) -> Result<(), CodecError> {
    if buf.len() < n {
        Err(CodecError::Truncated {
            what,
            len: buf.len(),
        })
    } else {
        Ok(())
    }
}
