//! RTP fixed header (RFC 3550 5.1) and sequence/timestamp unwrapping.

use crate::{need, Error};

/// Length of the RTP header [`RtpHeader::write`] produces (no CSRCs, no extension).
pub const HEADER_LEN: usize = 12;

/// A parsed RTP packet borrowing the buffer it came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RtpPacket<'a> {
    pub marker: bool,
    pub payload_type: u8,
    pub sequence: u16,
    pub timestamp: u32,
    pub ssrc: u32,
    /// The payload without CSRCs, header extension and padding.
    pub payload: &'a [u8],
    /// The whole packet as received.
    pub raw: &'a [u8],
}

impl<'a> RtpPacket<'a> {
    /// Parses a packet: version 2, CSRC list and header extension skipped, padding removed.
    pub fn parse(buf: &'a [u8]) -> Result<Self, Error> {
        need("RTP header", buf, HEADER_LEN)?;
        if buf[0] >> 6 != 2 {
            return Err(Error::Malformed("RTP version (not 2)"));
        }
        let padding = buf[0] & 0x20 != 0;
        let extension = buf[0] & 0x10 != 0;
        let csrcs = (buf[0] & 0x0f) as usize;
        let mut start = HEADER_LEN + 4 * csrcs;
        need("RTP CSRC list", buf, start)?;
        if extension {
            // RFC 3550 5.3.1: 16-bit profile, 16-bit length in 32-bit words, then the words.
            need("RTP header extension", buf, start + 4)?;
            let words = u16::from_be_bytes([buf[start + 2], buf[start + 3]]) as usize;
            start += 4 + 4 * words;
            need("RTP header extension", buf, start)?;
        }
        let mut end = buf.len();
        if padding {
            // The last octet counts the padding octets, itself included.
            let pad = buf[end - 1] as usize;
            if pad == 0 || pad > end - start {
                return Err(Error::Malformed("RTP padding length"));
            }
            end -= pad;
        }
        Ok(RtpPacket {
            marker: buf[1] & 0x80 != 0,
            payload_type: buf[1] & 0x7f,
            sequence: u16::from_be_bytes([buf[2], buf[3]]),
            timestamp: u32::from_be_bytes([buf[4], buf[5], buf[6], buf[7]]),
            ssrc: u32::from_be_bytes([buf[8], buf[9], buf[10], buf[11]]),
            payload: &buf[start..end],
            raw: buf,
        })
    }
}

/// The fields of a 12-byte RTP header a sender writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct RtpHeader {
    pub marker: bool,
    pub payload_type: u8,
    pub sequence: u16,
    pub timestamp: u32,
    pub ssrc: u32,
}

impl RtpHeader {
    /// Writes the header into the first [`HEADER_LEN`] bytes of `buf`.
    pub fn write(&self, buf: &mut [u8]) -> Result<usize, Error> {
        if self.payload_type > 127 {
            return Err(Error::Malformed("RTP payload type above 127"));
        }
        let Some(h) = buf.get_mut(..HEADER_LEN) else {
            return Err(Error::Truncated {
                what: "RTP header buffer",
                len: buf.len(),
            });
        };
        h[0] = 0x80;
        h[1] = self.payload_type | if self.marker { 0x80 } else { 0 };
        h[2..4].copy_from_slice(&self.sequence.to_be_bytes());
        h[4..8].copy_from_slice(&self.timestamp.to_be_bytes());
        h[8..12].copy_from_slice(&self.ssrc.to_be_bytes());
        Ok(HEADER_LEN)
    }

    /// A whole packet: this header followed by `payload`.
    pub fn packet(&self, payload: &[u8]) -> Result<Vec<u8>, Error> {
        let mut v = vec![0; HEADER_LEN + payload.len()];
        self.write(&mut v)?;
        v[HEADER_LEN..].copy_from_slice(payload);
        Ok(v)
    }
}

/// Extends 16-bit sequence numbers to a counter that continues across wrap-arounds. A
/// number within half the range of the last one is taken as the nearest (so reordered
/// packets map below it).
#[derive(Debug, Clone, Default)]
pub struct SequenceUnwrapper {
    last: Option<i64>,
}

impl SequenceUnwrapper {
    /// An unwrapper that takes its first number as is.
    pub fn new() -> Self {
        Self::default()
    }

    /// The extended value of `seq`.
    pub fn unwrap(&mut self, seq: u16) -> i64 {
        let v = match self.last {
            None => seq as i64,
            Some(last) => last + seq.wrapping_sub(last as u16) as i16 as i64,
        };
        if self.last.is_none_or(|l| v > l) {
            self.last = Some(v);
        }
        v
    }
}

/// Extends 32-bit RTP timestamps to i64: each value is taken as the nearest to the previous
/// one, so timestamps may go backwards (B-frames, reordering) without jumping by 2^32.
#[derive(Debug, Clone, Default)]
pub struct TimestampUnwrapper {
    last: Option<i64>,
}

impl TimestampUnwrapper {
    /// An unwrapper that takes its first timestamp as is.
    pub fn new() -> Self {
        Self::default()
    }

    /// The extended value of `ts`.
    pub fn unwrap(&mut self, ts: u32) -> i64 {
        let v = match self.last {
            None => ts as i64,
            Some(last) => last + ts.wrapping_sub(last as u32) as i32 as i64,
        };
        self.last = Some(v);
        v
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_and_write() {
        let h = RtpHeader {
            marker: true,
            payload_type: 96,
            sequence: 0xfffe,
            timestamp: 0x01020304,
            ssrc: 0xdeadbeef,
        };
        let p = h.packet(&[1, 2, 3]).unwrap();
        let r = RtpPacket::parse(&p).unwrap();
        assert!(r.marker);
        assert_eq!(
            (r.payload_type, r.sequence, r.timestamp, r.ssrc),
            (96, 0xfffe, 0x01020304, 0xdeadbeef)
        );
        assert_eq!(r.payload, &[1, 2, 3]);
        assert!(h.write(&mut [0; 11]).is_err());
    }

    #[test]
    fn csrc_extension_padding() {
        let mut p = vec![0xb2, 0x60, 0, 1, 0, 0, 0, 2, 0, 0, 0, 3];
        p.extend([0, 0, 0, 9, 0, 0, 0, 10]); // 2 CSRCs
        p.extend([0xbe, 0xde, 0, 1, 1, 2, 3, 4]); // extension, one word
        p.extend([7, 8, 0, 0, 3]); // payload, 3 bytes padding
        let r = RtpPacket::parse(&p).unwrap();
        assert_eq!(r.payload, &[7, 8]);
        for n in 0..p.len() {
            let _ = RtpPacket::parse(&p[..n]);
        }
        let mut bad = p.clone();
        *bad.last_mut().unwrap() = 0;
        assert!(RtpPacket::parse(&bad).is_err());
        *bad.last_mut().unwrap() = 6;
        assert!(RtpPacket::parse(&bad).is_err());
        bad[0] = 0x40;
        assert!(RtpPacket::parse(&bad).is_err());
    }

    #[test]
    fn unwrapping() {
        let mut s = SequenceUnwrapper::new();
        assert_eq!(s.unwrap(65534), 65534);
        assert_eq!(s.unwrap(1), 65537);
        assert_eq!(s.unwrap(65535), 65535);
        assert_eq!(s.unwrap(2), 65538);
        let mut t = TimestampUnwrapper::new();
        assert_eq!(t.unwrap(u32::MAX - 10), u32::MAX as i64 - 10);
        assert_eq!(t.unwrap(5), u32::MAX as i64 + 6);
        assert_eq!(t.unwrap(u32::MAX - 100), u32::MAX as i64 - 100);
        assert_eq!(t.unwrap(100), u32::MAX as i64 + 101);
    }
}
