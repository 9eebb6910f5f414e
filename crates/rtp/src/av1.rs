//! AV1 over RTP (AOMedia "RTP Payload Format for AV1", v1.0): aggregation header, OBU
//! elements without size fields, fragments across packets. The bus carries temporal units
//! as low-overhead OBUs (every OBU with obu_has_size_field = 1), no temporal delimiters.

use bytes::{BufMut, Bytes, BytesMut};

use crate::bits::BitReader;
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

/// uvlc() (AV1 4.10.3).
fn uvlc(r: &mut BitReader<'_>) -> Option<u32> {
    let mut zeros = 0;
    while r.bit()? == 0 {
        zeros += 1;
        if zeros >= 32 {
            return None;
        }
    }
    r.bits(zeros)
}

/// Builds an AV1CodecConfigurationRecord (av1C, AV1-ISOBMFF 2.3) from a sequence header
/// OBU payload (AV1 5.5); the record carries the OBU itself as configOBUs.
pub(crate) fn av1c(header: &[u8], payload: &[u8]) -> Option<Bytes> {
    let mut r = BitReader::new(payload);
    let profile = r.bits(3)?;
    r.skip(1)?; // still_picture
    let reduced = r.flag()?;
    let (level, mut tier) = if reduced {
        (r.bits(5)?, 0)
    } else {
        let mut decoder_model = false;
        let mut buffer_delay_bits = 0;
        if r.flag()? {
            // timing_info
            r.skip(64)?;
            if r.flag()? {
                uvlc(&mut r)?;
            }
            decoder_model = r.flag()?;
            if decoder_model {
                buffer_delay_bits = r.bits(5)? as usize + 1;
                r.skip(32 + 5 + 5)?;
            }
        }
        let initial_display_delay = r.flag()?;
        let count = r.bits(5)? + 1;
        let (mut level0, mut tier0) = (0, 0);
        for i in 0..count {
            r.skip(12)?; // operating_point_idc
            let level = r.bits(5)?;
            let tier = if level > 7 { r.bit()? } else { 0 };
            if i == 0 {
                (level0, tier0) = (level, tier);
            }
            if decoder_model && r.flag()? {
                r.skip(2 * buffer_delay_bits + 1)?;
            }
            if initial_display_delay && r.flag()? {
                r.skip(4)?;
            }
        }
        (level0, tier0)
    };
    let width_bits = r.bits(4)? as usize + 1;
    let height_bits = r.bits(4)? as usize + 1;
    r.skip(width_bits + height_bits)?;
    if !reduced && r.flag()? {
        r.skip(7)?; // frame id lengths
    }
    r.skip(3)?; // 128x128 superblocks, filter intra, intra edge filter
    if !reduced {
        r.skip(4)?; // interintra, masked compound, warped motion, dual filter
        let order_hint = r.flag()?;
        if order_hint {
            r.skip(2)?;
        }
        let force_screen_content = if r.flag()? { 2 } else { r.bit()? };
        if force_screen_content > 0 && !r.flag()? {
            r.skip(1)?; // seq_force_integer_mv
        }
        if order_hint {
            r.skip(3)?;
        }
    }
    r.skip(3)?; // superres, cdef, restoration
                // color_config (5.5.2).
    let high_bitdepth = r.bit()?;
    let twelve_bit = if profile == 2 && high_bitdepth == 1 {
        r.bit()?
    } else {
        0
    };
    let mono = if profile == 1 { 0 } else { r.bit()? };
    let (mut cp, mut tc, mut mc) = (2, 2, 2);
    if r.flag()? {
        (cp, tc, mc) = (r.bits(8)?, r.bits(8)?, r.bits(8)?);
    }
    let (ss_x, ss_y, mut csp) = if mono == 1 {
        (1, 1, 0)
    } else if cp == 1 && tc == 13 && mc == 0 {
        (0, 0, 0)
    } else {
        r.skip(1)?; // color_range
        let (x, y) = match profile {
            0 => (1, 1),
            1 => (0, 0),
            _ if twelve_bit == 1 => {
                let x = r.bit()?;
                (x, if x == 1 { r.bit()? } else { 0 })
            }
            _ => (1, 0),
        };
        (x, y, 0)
    };
    if mono == 0 && ss_x == 1 && ss_y == 1 && !(cp == 1 && tc == 13 && mc == 0) {
        csp = r.bits(2)?;
    }
    if reduced {
        tier = 0;
    }
    let mut v = BytesMut::with_capacity(8 + header.len() + payload.len());
    v.put_u8(0x81); // marker, version 1
    v.put_u8((profile << 5 | level) as u8);
    v.put_u8(
        (tier << 7 | high_bitdepth << 6 | twelve_bit << 5 | mono << 4 | ss_x << 3 | ss_y << 2 | csp)
            as u8,
    );
    v.put_u8(0);
    v.put_u8(header[0] | 0x02);
    v.put_slice(&header[1..]);
    put_leb128(&mut v, payload.len());
    v.put_slice(payload);
    Some(v.freeze())
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
    /// The last sequence header OBU payload, and an av1C to report when it changed.
    sequence_header: Option<Bytes>,
    config: Option<Bytes>,
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
                if self.sequence_header.as_deref() != Some(o.payload) {
                    self.sequence_header = Some(Bytes::copy_from_slice(o.payload));
                    self.config = av1c(o.header, o.payload);
                }
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
        let mut f = Frame::video(pts, key, self.tu.split().freeze());
        f.config = self.config.take();
        out.push(f);
    }
}

/// Splits temporal units into packets of length-prefixed OBU elements (W = 0). Key
/// frames without a sequence header get the one of the av1C configuration first.
#[derive(Debug)]
pub(crate) struct Packetizer {
    mtu: usize,
    /// The sequence header OBU element of the configuration.
    sequence_header: Option<Bytes>,
}

impl Packetizer {
    pub fn new(av1c: &[u8], mtu: usize) -> Self {
        let mut p = Packetizer {
            mtu,
            sequence_header: None,
        };
        p.set_config(av1c);
        p
    }

    pub fn set_config(&mut self, av1c: &[u8]) {
        self.sequence_header = av1c.get(4..).and_then(|obus| {
            let (o, _) = obu(obus).ok()?;
            (o.typ == OBU_SEQUENCE_HEADER).then(|| element(&o))
        });
    }

    pub fn packetize(
        &mut self,
        data: &Bytes,
        key: bool,
        out: &mut Vec<Payload>,
    ) -> Result<(), Error> {
        // OBU elements: header with obu_has_size_field cleared, then the payload.
        let mut elements = vec![];
        let mut has_sequence_header = false;
        let mut p = 0;
        while p < data.len() {
            let (o, used) = obu(&data[p..])?;
            p += used;
            if matches!(o.typ, OBU_TEMPORAL_DELIMITER | OBU_TILE_LIST | OBU_PADDING) {
                continue;
            }
            has_sequence_header |= o.typ == OBU_SEQUENCE_HEADER;
            elements.push(element(&o));
        }
        if key && !has_sequence_header {
            if let Some(sh) = &self.sequence_header {
                elements.insert(0, sh.clone());
            }
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

/// An OBU as an RTP OBU element: the header without obu_has_size_field, the payload.
fn element(o: &Obu<'_>) -> Bytes {
    let mut el = BytesMut::with_capacity(o.header.len() + o.payload.len());
    el.put_u8(o.header[0] & !0x02);
    el.put_slice(&o.header[1..]);
    el.put_slice(o.payload);
    el.freeze()
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
    fn av1c_from_sequence_header() {
        // libaom, 160x120 profile 0 level 2.0: av1C as ffmpeg writes it into MP4.
        let payload = [0x00, 0x00, 0x00, 0x03, 0xb4, 0xff, 0x73, 0x6b, 0xe4, 0x01];
        let c = av1c(&[0x0a], &payload).unwrap();
        let mut expected = vec![0x81, 0x00, 0x0c, 0x00, 0x0a, 0x0a];
        expected.extend(payload);
        assert_eq!(&c[..], &expected[..]);
        for n in 0..payload.len() {
            let _ = av1c(&[0x0a], &payload[..n]);
        }
        // A key frame without a sequence header gets the configuration's.
        let mut p = Packetizer::new(&c, 1200);
        let mut out = vec![];
        p.packetize(&Bytes::from_static(&[0x32, 0x01, 0x10]), true, &mut out)
            .unwrap();
        assert_eq!(&out[0].payload[..3], &[0x08, 11, 0x08]);
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
        let mut p = Packetizer::new(&[], 1000);
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
