//! VP8 over RTP (RFC 7741).

use bytes::{BufMut, Bytes, BytesMut};

use crate::{check_frame_size, need, Error, Frame, Payload};

/// The length of the VP8 payload descriptor at the start of `p` (RFC 7741 4.2), and
/// whether the packet starts a frame (S=1, PID=0).
fn descriptor(p: &[u8]) -> Result<(usize, bool), Error> {
    need("VP8 payload descriptor", p, 1)?;
    let mut len = 1;
    if p[0] & 0x80 != 0 {
        need("VP8 payload descriptor", p, 2)?;
        let x = p[1];
        len = 2;
        if x & 0x80 != 0 {
            // PictureID: 7 or 15 bits (M).
            need("VP8 PictureID", p, len + 1)?;
            len += if p[len] & 0x80 != 0 { 2 } else { 1 };
        }
        if x & 0x40 != 0 {
            len += 1; // TL0PICIDX
        }
        if x & 0x30 != 0 {
            len += 1; // TID/Y/KEYIDX
        }
        need("VP8 payload descriptor", p, len)?;
    }
    Ok((len, p[0] & 0x10 != 0 && p[0] & 0x07 == 0))
}

/// Reassembles frames; see [`crate::Depacketizer`].
#[derive(Debug, Default)]
pub(crate) struct Depacketizer {
    frame: BytesMut,
    pts: Option<i64>,
    skip: bool,
}

impl Depacketizer {
    pub fn reset(&mut self) {
        self.frame.clear();
        self.pts = None;
        self.skip = true;
    }

    pub fn push(
        &mut self,
        pts: i64,
        payload: &[u8],
        marker: bool,
        out: &mut Vec<Frame>,
    ) -> Result<(), Error> {
        if self.pts.is_some_and(|p| p != pts) {
            self.emit(out);
        }
        let (len, start) = descriptor(payload)?;
        if start {
            self.frame.clear();
            self.skip = false;
        } else if self.frame.is_empty() {
            if self.skip {
                return Ok(());
            }
            return Err(Error::Malformed("VP8 packet without a frame start"));
        }
        self.pts = Some(pts);
        check_frame_size(self.frame.len() + payload.len())?;
        self.frame.put_slice(&payload[len..]);
        if marker {
            self.emit(out);
        }
        Ok(())
    }

    fn emit(&mut self, out: &mut Vec<Frame>) {
        let Some(pts) = self.pts.take() else {
            return;
        };
        if self.frame.is_empty() {
            return;
        }
        // RFC 6386 9.1: the P bit of the frame tag is 0 for key frames.
        let key = self.frame[0] & 1 == 0;
        out.push(Frame::video(pts, key, self.frame.split().freeze()));
    }
}

/// Splits frames with a 4-byte descriptor (X, I, 15-bit PictureID).
#[derive(Debug)]
pub(crate) struct Packetizer {
    pub mtu: usize,
    pub picture_id: u16,
}

impl Packetizer {
    pub fn packetize(&mut self, data: &Bytes, out: &mut Vec<Payload>) -> Result<(), Error> {
        if data.is_empty() {
            return Err(Error::Malformed("empty VP8 frame"));
        }
        let pid = self.picture_id & 0x7fff;
        self.picture_id = self.picture_id.wrapping_add(1);
        let chunks: Vec<&[u8]> = data.chunks(self.mtu - 4).collect();
        for (i, chunk) in chunks.iter().enumerate() {
            let mut p = BytesMut::with_capacity(chunk.len() + 4);
            p.put_u8(0x80 | if i == 0 { 0x10 } else { 0 });
            p.put_u8(0x80);
            p.put_u16(0x8000 | pid);
            p.put_slice(chunk);
            out.push(Payload::new(i + 1 == chunks.len(), p.freeze()));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn descriptors() {
        assert_eq!(descriptor(&[0x10]).unwrap(), (1, true));
        assert_eq!(descriptor(&[0x90, 0x80, 0x05]).unwrap(), (3, true));
        assert_eq!(
            descriptor(&[0x80, 0xf0, 0x80, 1, 2, 3]).unwrap(),
            (6, false)
        );
        assert!(descriptor(&[0x80, 0xf0, 0x80, 1, 2]).is_err());
        assert!(descriptor(&[]).is_err());
    }

    #[test]
    fn round_trip() {
        let frame = Bytes::from((0..3000u32).map(|i| (i * 2) as u8).collect::<Vec<_>>());
        let mut p = Packetizer {
            mtu: 1200,
            picture_id: 0x7fff,
        };
        let mut pkts = vec![];
        p.packetize(&frame, &mut pkts).unwrap();
        assert_eq!(pkts.len(), 3);
        let mut d = Depacketizer::default();
        let mut out = vec![];
        for p in &pkts {
            d.push(1, &p.payload, p.marker, &mut out).unwrap();
        }
        assert_eq!(out.len(), 1);
        assert_eq!(out[0].data, frame);
        assert!(out[0].key);
        // A continuation without a start.
        assert!(d.push(2, &pkts[1].payload, false, &mut out).is_err());
    }
}
