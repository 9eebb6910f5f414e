//! VP9 over RTP (RFC 9628).

use bytes::{BufMut, Bytes, BytesMut};

use crate::bits::BitReader;
use crate::{check_frame_size, need, Error, Frame, Payload};

/// The parsed parts of a VP9 payload descriptor (RFC 9628 4.2).
#[derive(Debug, PartialEq, Eq)]
struct Descriptor {
    len: usize,
    /// B: start of a layer frame. E: end of a layer frame.
    start: bool,
    end: bool,
}

fn descriptor(p: &[u8]) -> Result<Descriptor, Error> {
    need("VP9 payload descriptor", p, 1)?;
    let b = p[0];
    let (i, pred, l, f, v) = (
        b & 0x80 != 0,
        b & 0x40 != 0,
        b & 0x20 != 0,
        b & 0x10 != 0,
        b & 0x02 != 0,
    );
    let mut len = 1;
    let byte = |len: usize| -> Result<u8, Error> {
        p.get(len).copied().ok_or(Error::Truncated {
            what: "VP9 payload descriptor",
            len: p.len(),
        })
    };
    if i {
        len += if byte(len)? & 0x80 != 0 { 2 } else { 1 };
    }
    if l {
        len += if f { 1 } else { 2 }; // layer indices, TL0PICIDX in non-flexible mode
    }
    if f && pred {
        // Up to 3 reference indices, each with a "next" bit.
        for k in 0..3 {
            let d = byte(len)?;
            len += 1;
            if d & 1 == 0 {
                break;
            }
            if k == 2 {
                return Err(Error::Malformed("VP9 more than 3 P_DIFF"));
            }
        }
    }
    if v {
        // Scalability structure.
        let ss = byte(len)?;
        len += 1;
        let layers = ((ss >> 5) + 1) as usize;
        if ss & 0x10 != 0 {
            len += 4 * layers;
        }
        if ss & 0x08 != 0 {
            let groups = byte(len)?;
            len += 1;
            for _ in 0..groups {
                let g = byte(len)?;
                len += 1 + ((g >> 2) & 3) as usize;
            }
        }
    }
    need("VP9 payload descriptor", p, len)?;
    Ok(Descriptor {
        len,
        start: b & 0x08 != 0,
        end: b & 0x04 != 0,
    })
}

/// The start of a VP9 uncompressed header (VP9 spec 6.2): whether the frame is a key
/// frame, and its size when it is.
fn key_frame(frame: &[u8]) -> Option<Option<(u16, u16)>> {
    let mut r = BitReader::new(frame);
    if r.bits(2)? != 2 {
        return None;
    }
    let profile = r.bit()? | r.bit()? << 1;
    if profile == 3 {
        r.skip(1)?;
    }
    if r.flag()? || r.flag()? {
        // show_existing_frame, or frame_type 1 (NON_KEY_FRAME).
        return Some(None);
    }
    r.skip(2)?; // show_frame, error_resilient_mode
    if r.bits(24)? != 0x49_83_42 {
        return None;
    }
    if profile >= 2 {
        r.skip(1)?;
    }
    if r.bits(3)? != 7 {
        r.skip(1)?; // color_range
        if profile == 1 || profile == 3 {
            r.skip(3)?;
        }
    } else if profile == 1 || profile == 3 {
        r.skip(1)?;
    }
    Some(Some((r.bits(16)? as u16 + 1, r.bits(16)? as u16 + 1)))
}

/// Reassembles pictures (all layer frames of one timestamp; several become a superframe);
/// see [`crate::Depacketizer`].
#[derive(Debug, Default)]
pub(crate) struct Depacketizer {
    layers: Vec<Bytes>,
    current: Option<BytesMut>,
    size: usize,
    pts: Option<i64>,
    skip: bool,
}

impl Depacketizer {
    pub fn reset(&mut self) {
        self.layers.clear();
        self.current = None;
        self.size = 0;
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
        let d = descriptor(payload)?;
        if d.start {
            if let Some(c) = self.current.take() {
                self.size -= c.len();
            }
            self.current = Some(BytesMut::new());
            self.skip = false;
        }
        let Some(cur) = self.current.as_mut() else {
            if self.skip {
                return Ok(());
            }
            return Err(Error::Malformed("VP9 packet without a layer frame start"));
        };
        self.pts = Some(pts);
        let data = &payload[d.len..];
        check_frame_size(self.size + data.len() + 64)?;
        cur.put_slice(data);
        self.size += data.len();
        if d.end {
            if let Some(c) = self.current.take() {
                if self.layers.len() == 8 {
                    return Err(Error::Malformed("VP9 more than 8 layer frames"));
                }
                self.layers.push(c.freeze());
            }
        }
        if marker {
            self.emit(out);
        }
        Ok(())
    }

    fn emit(&mut self, out: &mut Vec<Frame>) {
        if let Some(c) = self.current.take() {
            self.size -= c.len(); // no end bit: incomplete
        }
        let layers = std::mem::take(&mut self.layers);
        self.size = 0;
        let Some(pts) = self.pts.take() else {
            return;
        };
        let layers: Vec<Bytes> = layers.into_iter().filter(|l| !l.is_empty()).collect();
        let Some(first) = layers.first() else {
            return;
        };
        let key = matches!(key_frame(first), Some(Some(_)));
        let data = if layers.len() == 1 {
            first.clone()
        } else {
            superframe(&layers)
        };
        out.push(Frame::video(pts, key, data));
    }
}

/// Joins frames into a superframe (VP9 spec Annex B) with 4-byte sizes.
fn superframe(frames: &[Bytes]) -> Bytes {
    let mut v = BytesMut::new();
    for f in frames {
        v.put_slice(f);
    }
    let marker = 0xc0 | (3 << 3) | (frames.len() as u8 - 1);
    v.put_u8(marker);
    for f in frames {
        v.put_u32_le(f.len() as u32);
    }
    v.put_u8(marker);
    v.freeze()
}

/// Splits frames with a descriptor carrying a 15-bit PictureID, and a scalability
/// structure with the picture size on key frames.
#[derive(Debug)]
pub(crate) struct Packetizer {
    pub mtu: usize,
    pub picture_id: u16,
}

impl Packetizer {
    pub fn packetize(&mut self, data: &Bytes, out: &mut Vec<Payload>) -> Result<(), Error> {
        if data.is_empty() {
            return Err(Error::Malformed("empty VP9 frame"));
        }
        let pid = self.picture_id & 0x7fff;
        self.picture_id = self.picture_id.wrapping_add(1);
        let key = key_frame(data);
        let mut ss = vec![];
        if let Some(Some((w, h))) = key {
            ss.push(0x10); // N_S = 0 (one spatial layer), Y = 1, G = 0
            ss.extend(w.to_be_bytes());
            ss.extend(h.to_be_bytes());
        }
        let first_len = 3 + ss.len();
        if self.mtu <= first_len + 1 {
            return Err(Error::Malformed("MTU too small for VP9"));
        }
        let mut rest = &data[..];
        let mut first = true;
        while !rest.is_empty() {
            let hdr = if first { first_len } else { 3 };
            let n = rest.len().min(self.mtu - hdr);
            let (chunk, r) = rest.split_at(n);
            rest = r;
            // I, P (inter-predicted), B (start), E (end), V (scalability structure).
            let mut b0 = 0x80;
            if !matches!(key, Some(Some(_))) {
                b0 |= 0x40;
            }
            if first {
                b0 |= 0x08;
                if !ss.is_empty() {
                    b0 |= 0x02;
                }
            }
            if rest.is_empty() {
                b0 |= 0x04;
            }
            let mut p = BytesMut::with_capacity(hdr + chunk.len());
            p.put_u8(b0);
            p.put_u16(0x8000 | pid);
            if first {
                p.put_slice(&ss);
            }
            p.put_slice(chunk);
            out.push(Payload::new(rest.is_empty(), p.freeze()));
            first = false;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // Start of a libvpx VP9 profile 0 key frame, 320x240.
    const KEY: [u8; 10] = [0x82, 0x49, 0x83, 0x42, 0x00, 0x13, 0xf0, 0x0e, 0xf6, 0x00];

    #[test]
    fn key_frame_header() {
        assert_eq!(key_frame(&KEY), Some(Some((320, 240))));
        assert_eq!(key_frame(&[0x86, 0]), Some(None));
        assert_eq!(key_frame(&[0x00]), None);
    }

    #[test]
    fn descriptors() {
        assert_eq!(
            descriptor(&[0x8c, 0x80, 0x01]).unwrap(),
            Descriptor {
                len: 3,
                start: true,
                end: true
            }
        );
        // Flexible mode with two P_DIFFs and layer indices.
        assert_eq!(
            descriptor(&[0xf0, 0x05, 0x00, 0x03, 0x04, 0xaa])
                .unwrap()
                .len,
            5
        );
        // SS with one layer, sizes and one picture group.
        let d = [0x0a, 0x18, 0, 1, 0, 1, 1, 0x04, 0x01, 0xbb];
        assert_eq!(descriptor(&d).unwrap().len, 9);
        assert!(descriptor(&d[..8]).is_err());
        assert!(descriptor(&[0xd0, 0x01, 0x01, 0x01]).is_err());
    }

    #[test]
    fn round_trip() {
        let mut frame = KEY.to_vec();
        frame.extend((0..2500u32).map(|i| i as u8));
        let frame = Bytes::from(frame);
        let mut p = Packetizer {
            mtu: 1000,
            picture_id: 5,
        };
        let mut pkts = vec![];
        p.packetize(&frame, &mut pkts).unwrap();
        assert_eq!(pkts.len(), 3);
        let mut d = Depacketizer::default();
        let mut out = vec![];
        for p in &pkts {
            d.push(3, &p.payload, p.marker, &mut out).unwrap();
        }
        assert_eq!(out.len(), 1);
        assert_eq!(out[0].data, frame);
        assert!(out[0].key);
        // Two layer frames of one picture become a superframe.
        d.push(4, &[0x8c, 0x80, 1, 0x86, 1], false, &mut out)
            .unwrap();
        d.push(4, &[0x8c, 0x80, 1, 0x86, 2], true, &mut out)
            .unwrap();
        assert_eq!(out[1].data.len(), 4 + 2 + 8);
        assert!(!out[1].key);
    }
}
