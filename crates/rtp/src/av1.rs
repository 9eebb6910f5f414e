//! AV1 over RTP (AOMedia "RTP Payload Format for AV1", v1.0): aggregation header, OBU
//! elements without size fields, fragments across packets. The bus carries temporal units
//! as low-overhead OBUs (every OBU with obu_has_size_field = 1), no temporal delimiters.

use bytes::{BufMut, Bytes, BytesMut};

use crate::{check_frame_size, need, Error, Frame, Payload};

const OBU_SEQUENCE_HEADER: u8 = 1;
const OBU_TEMPORAL_DELIMITER: u8 = 2;
const OBU_FRAME_HEADER: u8 = 3;
const OBU_FRAME: u8 = 6;
const OBU_TILE_LIST: u8 = 8;
const OBU_PADDING: u8 = 15;

/// Reads a leb128 value (AV1 4.10.5): at most 8 bytes, below 2^32.
fn leb128(b: &[u8]) -> Result<(usize, usize), Error> {
    let mut v: u64 = 0;
    for (i, byte) in b.iter().take(8).enumerate() {
        v |= ((byte & 0x7f) as u64) << (7 * i);
        if byte & 0x80 == 0 {
            if v > u32::MAX as u64 {
                return Err(Error::Malformed("leb128 value above 2^32"));
            }
            return Ok((v as usize, i + 1));
        }
    }
    Err(Error::Malformed("leb128"))
}

fn put_leb128(out: &mut BytesMut, mut v: usize) {
    loop {
        let b = (v & 0x7f) as u8;
        v >>= 7;
        if v == 0 {
            out.put_u8(b);
            return;
        }
        out.put_u8(b | 0x80);
    }
}

fn leb128_len(v: usize) -> usize {
    let mut n = 1;
    let mut v = v >> 7;
    while v > 0 {
        n += 1;
        v >>= 7;
    }
    n
}

/// One OBU split into header (1 or 2 bytes, obu_has_size_field cleared) and payload.
struct Obu<'a> {
    header: &'a [u8],
    typ: u8,
    payload: &'a [u8],
}

/// Parses the OBU at the start of `b`; returns it and the bytes it takes. Without a size
/// field the OBU takes all of `b`.
fn obu(b: &[u8]) -> Result<(Obu<'_>, usize), Error> {
    need("OBU header", b, 1)?;
    if b[0] & 0x80 != 0 {
        return Err(Error::Malformed("OBU forbidden bit"));
    }
    let hlen = 1 + ((b[0] >> 2) & 1) as usize;
    need("OBU extension header", b, hlen)?;
    let (payload, used) = if b[0] & 0x02 != 0 {
        let (size, n) = leb128(&b[hlen..])?;
        let start = hlen + n;
        need("OBU", &b[start..], size)?;
        (&b[start..start + size], start + size)
    } else {
        (&b[hlen..], b.len())
    };
    Ok((
        Obu {
            header: &b[..hlen],
            typ: (b[0] >> 3) & 0x0f,
            payload,
        },
        used,
    ))
}

/// Reassembles temporal units; see [`crate::Depacketizer`].
#[derive(Debug, Default)]
pub(crate) struct Depacketizer {
    tu: BytesMut,
    pts: Option<i64>,
    /// An OBU element continued in the next packet (Y=1).
    frag: Option<BytesMut>,
    skip: bool,
    /// reduced_still_picture_header of the last sequence header.
    reduced_still: bool,
    has_sequence_header: bool,
    /// None until the first frame header of the temporal unit.
    key: Option<bool>,
}

impl Depacketizer {
    pub fn reset(&mut self) {
        self.tu.clear();
        self.pts = None;
        self.frag = None;
        self.skip = true;
        self.has_sequence_header = false;
        self.key = None;
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
        self.pts = Some(pts);
        need("AV1 aggregation header", payload, 1)?;
        let agg = payload[0];
        let (z, y, w) = (agg & 0x80 != 0, agg & 0x40 != 0, ((agg >> 4) & 3) as usize);
        let mut elements = vec![];
        let mut p = 1;
        while p < payload.len() {
            let len = if w != 0 && elements.len() + 1 == w {
                payload.len() - p
            } else {
                let (len, n) = leb128(&payload[p..])?;
                p += n;
                len
            };
            need("AV1 OBU element", &payload[p..], len)?;
            elements.push(&payload[p..p + len]);
            p += len;
            if elements.len() > 256 {
                return Err(Error::Malformed("AV1 too many OBU elements"));
            }
        }
        let count = elements.len();
        for (i, el) in elements.into_iter().enumerate() {
            let continues = i + 1 == count && y;
            if i == 0 && z {
                let Some(f) = self.frag.as_mut() else {
                    if self.skip {
                        continue;
                    }
                    return Err(Error::Malformed("AV1 OBU fragment without a start"));
                };
                check_frame_size(self.tu.len() + f.len() + el.len())?;
                f.put_slice(el);
                if !continues {
                    if let Some(f) = self.frag.take() {
                        self.element(&f)?;
                    }
                }
                continue;
            }
            self.frag = None;
            if continues {
                check_frame_size(self.tu.len() + el.len())?;
                self.frag = Some(BytesMut::from(el));
                self.skip = false;
            } else {
                self.skip = false;
                self.element(el)?;
            }
        }
        if marker {
            self.emit(out);
        }
        Ok(())
    }

    /// Appends one complete OBU element to the temporal unit with a size field.
    fn element(&mut self, el: &[u8]) -> Result<(), Error> {
        let (o, _) = obu(el)?;
        match o.typ {
            OBU_TEMPORAL_DELIMITER | OBU_TILE_LIST | OBU_PADDING => return Ok(()),
            OBU_SEQUENCE_HEADER => {
                // seq_profile (3), still_picture (1), reduced_still_picture_header (1).
                self.reduced_still = o.payload.first().is_some_and(|b| b & 0x08 != 0);
                self.has_sequence_header = true;
            }
            OBU_FRAME_HEADER | OBU_FRAME if self.key.is_none() => {
                // show_existing_frame (1), frame_type (2): KEY_FRAME is 0.
                self.key = Some(
                    self.reduced_still
                        || o.payload
                            .first()
                            .is_some_and(|b| b & 0x80 == 0 && b & 0x60 == 0),
                );
            }
            _ => {}
        }
        check_frame_size(self.tu.len() + el.len() + 8)?;
        self.tu.put_u8(o.header[0] | 0x02);
        self.tu.put_slice(&o.header[1..]);
        put_leb128(&mut self.tu, o.payload.len());
        self.tu.put_slice(o.payload);
        Ok(())
    }

    fn emit(&mut self, out: &mut Vec<Frame>) {
        self.frag = None;
        let key = self.has_sequence_header && self.key == Some(true);
        self.has_sequence_header = false;
        self.key = None;
        let Some(pts) = self.pts.take() else {
            return;
        };
        if self.tu.is_empty() {
            return;
        }
        out.push(Frame::video(pts, key, self.tu.split().freeze()));
    }
}

/// Splits temporal units into packets of length-prefixed OBU elements (W = 0).
#[derive(Debug)]
pub(crate) struct Packetizer {
    pub mtu: usize,
}

impl Packetizer {
    pub fn packetize(
        &mut self,
        data: &Bytes,
        key: bool,
        out: &mut Vec<Payload>,
    ) -> Result<(), Error> {
        // OBU elements: header with obu_has_size_field cleared, then the payload.
        let mut elements = vec![];
        let mut p = 0;
        while p < data.len() {
            let (o, used) = obu(&data[p..])?;
            p += used;
            if matches!(o.typ, OBU_TEMPORAL_DELIMITER | OBU_TILE_LIST | OBU_PADDING) {
                continue;
            }
            let mut el = BytesMut::with_capacity(o.header.len() + o.payload.len());
            el.put_u8(o.header[0] & !0x02);
            el.put_slice(&o.header[1..]);
            el.put_slice(o.payload);
            elements.push(el.freeze());
        }
        let start = out.len();
        let mut pkt = BytesMut::new();
        let mut agg = 0u8;
        for el in &elements {
            let mut rest = &el[..];
            let mut continued = false;
            loop {
                if pkt.is_empty() {
                    pkt.put_u8(0); // aggregation header, set below
                    if continued {
                        agg |= 0x80; // Z
                    }
                }
                let room = self.mtu - pkt.len();
                if leb128_len(rest.len()) + rest.len() <= room {
                    put_leb128(&mut pkt, rest.len());
                    pkt.put_slice(rest);
                    break;
                }
                if room < 4 {
                    // Too little room for a useful fragment: next packet.
                    flush(&mut pkt, &mut agg, out);
                    continue;
                }
                let n = room - leb128_len(room);
                put_leb128(&mut pkt, n);
                pkt.put_slice(&rest[..n]);
                rest = &rest[n..];
                agg |= 0x40; // Y
                flush(&mut pkt, &mut agg, out);
                continued = true;
            }
        }
        if !pkt.is_empty() {
            flush(&mut pkt, &mut agg, out);
        }
        if let Some(last) = out[start..].last_mut() {
            last.marker = true;
        }
        if key {
            if let Some(first) = out[start..].first_mut() {
                let mut b = BytesMut::from(&first.payload[..]);
                b[0] |= 0x08; // N: first packet of a coded video sequence
                first.payload = b.freeze();
            }
        }
        Ok(())
    }
}

fn flush(pkt: &mut BytesMut, agg: &mut u8, out: &mut Vec<Payload>) {
    pkt[0] = *agg;
    *agg = 0;
    out.push(Payload::new(false, pkt.split().freeze()));
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tu(obus: &[(u8, &[u8])]) -> Bytes {
        let mut v = BytesMut::new();
        for (typ, payload) in obus {
            v.put_u8(typ << 3 | 0x02);
            put_leb128(&mut v, payload.len());
            v.put_slice(payload);
        }
        v.freeze()
    }

    #[test]
    fn leb() {
        assert_eq!(leb128(&[0x80, 0x01]).unwrap(), (128, 2));
        assert!(leb128(&[0x80]).is_err());
        assert!(leb128(&[0xff, 0xff, 0xff, 0xff, 0x7f]).is_err());
        let mut b = BytesMut::new();
        put_leb128(&mut b, 300);
        assert_eq!(leb128(&b).unwrap(), (300, leb128_len(300)));
    }

    #[test]
    fn round_trip() {
        let big: Vec<u8> = (0..3000u32).map(|i| i as u8 | 1).collect();
        let key_tu = tu(&[(OBU_SEQUENCE_HEADER, &[0, 0, 0]), (OBU_FRAME, &big)]);
        let with_td = {
            let mut v = BytesMut::from(&[OBU_TEMPORAL_DELIMITER << 3 | 2, 0][..]);
            v.put_slice(&key_tu);
            v.freeze()
        };
        let mut p = Packetizer { mtu: 1000 };
        let mut pkts = vec![];
        p.packetize(&with_td, true, &mut pkts).unwrap();
        assert!(pkts.len() >= 4);
        assert!(pkts.iter().all(|p| p.payload.len() <= 1000));
        assert_eq!(pkts[0].payload[0] & 0x08, 0x08);
        let mut d = Depacketizer::default();
        let mut out = vec![];
        for p in &pkts {
            d.push(9, &p.payload, p.marker, &mut out).unwrap();
        }
        assert_eq!(out.len(), 1);
        assert_eq!(out[0].data, key_tu);
        assert!(out[0].key);
        // A W=2 packet with elements without size fields: an inter frame.
        let pkt = [
            0x20,
            2,
            OBU_FRAME_HEADER << 3,
            0x80,
            OBU_FRAME << 3,
            0x40,
            1,
        ];
        d.push(10, &pkt, true, &mut out).unwrap();
        assert_eq!(
            &out[1].data[..],
            &tu(&[(OBU_FRAME_HEADER, &[0x80]), (OBU_FRAME, &[0x40, 1])])[..]
        );
        assert!(!out[1].key);
        assert!(d.push(11, &[0x80, 1, 0], true, &mut out).is_err());
        assert!(d.push(11, &[0x00, 5, 0], true, &mut out).is_err());
    }
}
