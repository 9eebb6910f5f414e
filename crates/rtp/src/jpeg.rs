//! Motion JPEG over RTP (RFC 2435): the depacketizer rebuilds a complete baseline JPEG
//! (quantization tables from the Q header or computed from Q, the standard Huffman tables of
//! ITU-T T.81 Annex K.3); the packetizer sends tables in-band (Q = 255).

use bytes::{BufMut, Bytes, BytesMut};

use crate::{check_frame_size, need, Error, Frame, Payload};

/// Natural-order index of each zig-zag position.
const ZIGZAG: [usize; 64] = [
    0, 1, 8, 16, 9, 2, 3, 10, 17, 24, 32, 25, 18, 11, 4, 5, 12, 19, 26, 33, 40, 48, 41, 34, 27, 20,
    13, 6, 7, 14, 21, 28, 35, 42, 49, 56, 57, 50, 43, 36, 29, 22, 15, 23, 30, 37, 44, 51, 58, 59,
    52, 45, 38, 31, 39, 46, 53, 60, 61, 54, 47, 55, 62, 63,
];

/// ITU-T T.81 Table K.1 and K.2 (natural order).
const LUMA_Q: [u16; 64] = [
    16, 11, 10, 16, 24, 40, 51, 61, 12, 12, 14, 19, 26, 58, 60, 55, 14, 13, 16, 24, 40, 57, 69, 56,
    14, 17, 22, 29, 51, 87, 80, 62, 18, 22, 37, 56, 68, 109, 103, 77, 24, 35, 55, 64, 81, 104, 113,
    92, 49, 64, 78, 87, 103, 121, 120, 101, 72, 92, 95, 98, 112, 100, 103, 99,
];
const CHROMA_Q: [u16; 64] = [
    17, 18, 24, 47, 99, 99, 99, 99, 18, 21, 26, 66, 99, 99, 99, 99, 24, 26, 56, 99, 99, 99, 99, 99,
    47, 66, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99,
    99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99,
];

// ITU-T T.81 Annex K.3: code lengths (16 bytes) followed by the symbols.
const DC_LUMA: [u8; 28] = [
    0x00, 0x01, 0x05, 0x01, 0x01, 0x01, 0x01, 0x01, 0x01, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
    0x00, 0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07, 0x08, 0x09, 0x0a, 0x0b,
];
const DC_CHROMA: [u8; 28] = [
    0x00, 0x03, 0x01, 0x01, 0x01, 0x01, 0x01, 0x01, 0x01, 0x01, 0x01, 0x00, 0x00, 0x00, 0x00, 0x00,
    0x00, 0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07, 0x08, 0x09, 0x0a, 0x0b,
];
const AC_LUMA: [u8; 178] = [
    0x00, 0x02, 0x01, 0x03, 0x03, 0x02, 0x04, 0x03, 0x05, 0x05, 0x04, 0x04, 0x00, 0x00, 0x01, 0x7d,
    0x01, 0x02, 0x03, 0x00, 0x04, 0x11, 0x05, 0x12, 0x21, 0x31, 0x41, 0x06, 0x13, 0x51, 0x61, 0x07,
    0x22, 0x71, 0x14, 0x32, 0x81, 0x91, 0xa1, 0x08, 0x23, 0x42, 0xb1, 0xc1, 0x15, 0x52, 0xd1, 0xf0,
    0x24, 0x33, 0x62, 0x72, 0x82, 0x09, 0x0a, 0x16, 0x17, 0x18, 0x19, 0x1a, 0x25, 0x26, 0x27, 0x28,
    0x29, 0x2a, 0x34, 0x35, 0x36, 0x37, 0x38, 0x39, 0x3a, 0x43, 0x44, 0x45, 0x46, 0x47, 0x48, 0x49,
    0x4a, 0x53, 0x54, 0x55, 0x56, 0x57, 0x58, 0x59, 0x5a, 0x63, 0x64, 0x65, 0x66, 0x67, 0x68, 0x69,
    0x6a, 0x73, 0x74, 0x75, 0x76, 0x77, 0x78, 0x79, 0x7a, 0x83, 0x84, 0x85, 0x86, 0x87, 0x88, 0x89,
    0x8a, 0x92, 0x93, 0x94, 0x95, 0x96, 0x97, 0x98, 0x99, 0x9a, 0xa2, 0xa3, 0xa4, 0xa5, 0xa6, 0xa7,
    0xa8, 0xa9, 0xaa, 0xb2, 0xb3, 0xb4, 0xb5, 0xb6, 0xb7, 0xb8, 0xb9, 0xba, 0xc2, 0xc3, 0xc4, 0xc5,
    0xc6, 0xc7, 0xc8, 0xc9, 0xca, 0xd2, 0xd3, 0xd4, 0xd5, 0xd6, 0xd7, 0xd8, 0xd9, 0xda, 0xe1, 0xe2,
    0xe3, 0xe4, 0xe5, 0xe6, 0xe7, 0xe8, 0xe9, 0xea, 0xf1, 0xf2, 0xf3, 0xf4, 0xf5, 0xf6, 0xf7, 0xf8,
    0xf9, 0xfa,
];
const AC_CHROMA: [u8; 178] = [
    0x00, 0x02, 0x01, 0x02, 0x04, 0x04, 0x03, 0x04, 0x07, 0x05, 0x04, 0x04, 0x00, 0x01, 0x02, 0x77,
    0x00, 0x01, 0x02, 0x03, 0x11, 0x04, 0x05, 0x21, 0x31, 0x06, 0x12, 0x41, 0x51, 0x07, 0x61, 0x71,
    0x13, 0x22, 0x32, 0x81, 0x08, 0x14, 0x42, 0x91, 0xa1, 0xb1, 0xc1, 0x09, 0x23, 0x33, 0x52, 0xf0,
    0x15, 0x62, 0x72, 0xd1, 0x0a, 0x16, 0x24, 0x34, 0xe1, 0x25, 0xf1, 0x17, 0x18, 0x19, 0x1a, 0x26,
    0x27, 0x28, 0x29, 0x2a, 0x35, 0x36, 0x37, 0x38, 0x39, 0x3a, 0x43, 0x44, 0x45, 0x46, 0x47, 0x48,
    0x49, 0x4a, 0x53, 0x54, 0x55, 0x56, 0x57, 0x58, 0x59, 0x5a, 0x63, 0x64, 0x65, 0x66, 0x67, 0x68,
    0x69, 0x6a, 0x73, 0x74, 0x75, 0x76, 0x77, 0x78, 0x79, 0x7a, 0x82, 0x83, 0x84, 0x85, 0x86, 0x87,
    0x88, 0x89, 0x8a, 0x92, 0x93, 0x94, 0x95, 0x96, 0x97, 0x98, 0x99, 0x9a, 0xa2, 0xa3, 0xa4, 0xa5,
    0xa6, 0xa7, 0xa8, 0xa9, 0xaa, 0xb2, 0xb3, 0xb4, 0xb5, 0xb6, 0xb7, 0xb8, 0xb9, 0xba, 0xc2, 0xc3,
    0xc4, 0xc5, 0xc6, 0xc7, 0xc8, 0xc9, 0xca, 0xd2, 0xd3, 0xd4, 0xd5, 0xd6, 0xd7, 0xd8, 0xd9, 0xda,
    0xe2, 0xe3, 0xe4, 0xe5, 0xe6, 0xe7, 0xe8, 0xe9, 0xea, 0xf2, 0xf3, 0xf4, 0xf5, 0xf6, 0xf7, 0xf8,
    0xf9, 0xfa,
];

/// The quantization tables (zig-zag order) for Q 1..=99 (RFC 2435 4.2, Appendix A).
fn make_tables(q: u8) -> [u8; 128] {
    let q = q.clamp(1, 99) as u32;
    let factor = if q < 50 { 5000 / q } else { 200 - q * 2 };
    let mut t = [0u8; 128];
    for i in 0..64 {
        let scale = |v: u16| ((v as u32 * factor + 50) / 100).clamp(1, 255) as u8;
        t[i] = scale(LUMA_Q[ZIGZAG[i]]);
        t[64 + i] = scale(CHROMA_Q[ZIGZAG[i]]);
    }
    t
}

/// The main JPEG header fields of a frame (RFC 2435 3.1).
#[derive(Debug, Clone, PartialEq, Eq)]
struct Header {
    /// 0: 4:2:2, 1: 4:2:0 (the type without the restart marker flag).
    typ: u8,
    width: u16,
    height: u16,
    restart_interval: u16,
    /// 8-bit quantization tables, 64 bytes each, zig-zag order.
    tables: Bytes,
}

/// Rebuilds JPEG images; see [`crate::Depacketizer`].
#[derive(Debug, Default)]
pub(crate) struct Depacketizer {
    header: Option<Header>,
    scan: BytesMut,
    pts: i64,
    /// Tables last sent in-band for a Q of 128..=255, reused when a frame sends none.
    q_tables: Option<(u8, Bytes)>,
}

impl Depacketizer {
    pub fn reset(&mut self) {
        self.header = None;
        self.scan.clear();
    }

    pub fn push(
        &mut self,
        pts: i64,
        payload: &[u8],
        marker: bool,
        out: &mut Vec<Frame>,
    ) -> Result<(), Error> {
        need("JPEG header", payload, 8)?;
        let offset = u32::from_be_bytes([0, payload[1], payload[2], payload[3]]) as usize;
        let (typ, q) = (payload[4], payload[5]);
        let (width, height) = (payload[6] as u16 * 8, payload[7] as u16 * 8);
        let mut p = 8;
        let mut restart_interval = 0;
        if (64..128).contains(&typ) {
            // 3.1.7: restart marker header.
            need("JPEG restart marker header", payload, 12)?;
            restart_interval = u16::from_be_bytes([payload[8], payload[9]]);
            p = 12;
        }
        if typ & 0x3f > 1 {
            self.reset();
            return Err(Error::Unsupported(
                "RFC 2435 JPEG type other than 0, 1, 64, 65",
            ));
        }
        if offset == 0 {
            let tables = if q >= 128 {
                // 3.1.8: quantization table header.
                need("JPEG quantization table header", &payload[p..], 4)?;
                let (precision, len) = (
                    payload[p + 1],
                    u16::from_be_bytes([payload[p + 2], payload[p + 3]]) as usize,
                );
                p += 4;
                if len == 0 {
                    match &self.q_tables {
                        Some((cq, t)) if *cq == q => t.clone(),
                        _ => {
                            self.reset();
                            return Err(Error::Malformed("JPEG Q >= 128 without tables"));
                        }
                    }
                } else {
                    if precision != 0 {
                        self.reset();
                        return Err(Error::Unsupported("16-bit JPEG quantization tables"));
                    }
                    need("JPEG quantization tables", &payload[p..], len)?;
                    if len % 64 != 0 || len > 128 {
                        self.reset();
                        return Err(Error::Malformed("JPEG quantization table length"));
                    }
                    // One table (as ffmpeg sends) serves both luma and chroma.
                    let mut t = BytesMut::from(&payload[p..p + len]);
                    if len == 64 {
                        t.extend_from_slice(&payload[p..p + len]);
                    }
                    let t = t.freeze();
                    p += len;
                    self.q_tables = Some((q, t.clone()));
                    t
                }
            } else if q == 0 {
                self.reset();
                return Err(Error::Malformed("JPEG Q 0"));
            } else {
                Bytes::copy_from_slice(&make_tables(q))
            };
            if width == 0 || height == 0 {
                self.reset();
                return Err(Error::Malformed("JPEG size 0"));
            }
            self.scan.clear();
            self.pts = pts;
            self.header = Some(Header {
                typ: typ & 1,
                width,
                height,
                restart_interval,
                tables,
            });
        } else if self.header.is_none() {
            return Ok(()); // the start of this frame was lost
        } else if self.pts != pts || self.scan.len() != offset {
            self.reset();
            return Err(Error::Malformed("JPEG fragment offset"));
        }
        check_frame_size(self.scan.len() + payload.len() + 1024)?;
        self.scan.put_slice(&payload[p..]);
        if marker {
            if let Some(h) = self.header.take() {
                let jpeg = build_jpeg(&h, &self.scan);
                self.scan.clear();
                out.push(Frame::video(self.pts, true, jpeg));
            }
        }
        Ok(())
    }
}

fn segment(out: &mut BytesMut, marker: u8, body: &[u8]) {
    out.put_slice(&[0xff, marker]);
    out.put_u16(body.len() as u16 + 2);
    out.put_slice(body);
}

/// A complete baseline JPEG (JFIF-less, as RFC 2435 Appendix B builds it).
fn build_jpeg(h: &Header, scan: &[u8]) -> Bytes {
    let mut v = BytesMut::with_capacity(scan.len() + 700);
    v.put_slice(&[0xff, 0xd8]);
    let mut dqt = vec![];
    for (i, t) in h.tables.chunks(64).enumerate() {
        dqt.push(i as u8);
        dqt.extend_from_slice(t);
    }
    segment(&mut v, 0xdb, &dqt);
    let chroma_table = u8::from(h.tables.len() > 64);
    let luma_sampling = if h.typ == 0 { 0x21 } else { 0x22 };
    let mut sof = vec![8];
    sof.extend(h.height.to_be_bytes());
    sof.extend(h.width.to_be_bytes());
    sof.extend([
        3,
        1,
        luma_sampling,
        0,
        2,
        0x11,
        chroma_table,
        3,
        0x11,
        chroma_table,
    ]);
    segment(&mut v, 0xc0, &sof);
    let mut dht = vec![];
    for (class, table) in [
        (0x00, &DC_LUMA[..]),
        (0x10, &AC_LUMA[..]),
        (0x01, &DC_CHROMA[..]),
        (0x11, &AC_CHROMA[..]),
    ] {
        dht.push(class);
        dht.extend_from_slice(table);
    }
    segment(&mut v, 0xc4, &dht);
    if h.restart_interval > 0 {
        segment(&mut v, 0xdd, &h.restart_interval.to_be_bytes());
    }
    segment(&mut v, 0xda, &[3, 1, 0x00, 2, 0x11, 3, 0x11, 0, 63, 0]);
    v.put_slice(scan);
    if !scan.ends_with(&[0xff, 0xd9]) {
        v.put_slice(&[0xff, 0xd9]);
    }
    v.freeze()
}

/// What the packetizer takes from a JPEG image.
struct Parsed<'a> {
    header: Header,
    scan: &'a [u8],
}

fn parse_jpeg(b: &[u8]) -> Result<Parsed<'_>, Error> {
    if !b.starts_with(&[0xff, 0xd8]) {
        return Err(Error::Malformed("JPEG without SOI"));
    }
    let mut tables: [Option<&[u8]>; 4] = [None; 4];
    let mut sof: Option<(u8, u16, u16, [u8; 3])> = None;
    let mut restart_interval = 0;
    let mut p = 2;
    loop {
        need("JPEG marker", &b[p..], 2)?;
        if b[p] != 0xff {
            return Err(Error::Malformed("JPEG marker"));
        }
        let m = b[p + 1];
        p += 2;
        if m == 0xff || (0xd0..=0xd7).contains(&m) || m == 0x01 {
            if m == 0xff {
                p -= 1; // fill byte
            }
            continue;
        }
        need("JPEG segment", &b[p..], 2)?;
        let len = u16::from_be_bytes([b[p], b[p + 1]]) as usize;
        if len < 2 {
            return Err(Error::Malformed("JPEG segment length"));
        }
        need("JPEG segment", &b[p..], len)?;
        let body = &b[p + 2..p + len];
        p += len;
        match m {
            0xdb => {
                let mut t = body;
                while !t.is_empty() {
                    if t[0] >> 4 != 0 {
                        return Err(Error::Unsupported("16-bit JPEG quantization tables"));
                    }
                    need("JPEG DQT", t, 65)?;
                    tables[(t[0] & 3) as usize] = Some(&t[1..65]);
                    t = &t[65..];
                }
            }
            0xc0 | 0xc1 => {
                need("JPEG SOF", body, 15)?;
                if body[0] != 8 || body[5] != 3 {
                    return Err(Error::Unsupported("JPEG other than 8-bit YCbCr"));
                }
                let typ = match (body[7], body[10], body[13]) {
                    (0x21, 0x11, 0x11) => 0,
                    (0x22, 0x11, 0x11) => 1,
                    _ => {
                        return Err(Error::Unsupported(
                            "JPEG sampling other than 4:2:2 or 4:2:0",
                        ))
                    }
                };
                sof = Some((
                    typ,
                    u16::from_be_bytes([body[1], body[2]]),
                    u16::from_be_bytes([body[3], body[4]]),
                    [body[8] & 3, body[11] & 3, body[14] & 3],
                ));
            }
            0xc2..=0xcf if m != 0xc4 && m != 0xc8 && m != 0xcc => {
                return Err(Error::Unsupported(
                    "progressive, lossless or arithmetic JPEG",
                ));
            }
            0xc4 => {
                let mut t = body;
                while !t.is_empty() {
                    need("JPEG DHT", t, 17)?;
                    let n: usize = t[1..17].iter().map(|c| *c as usize).sum();
                    need("JPEG DHT", t, 17 + n)?;
                    let standard = match t[0] {
                        0x00 => &DC_LUMA[..],
                        0x10 => &AC_LUMA[..],
                        0x01 => &DC_CHROMA[..],
                        0x11 => &AC_CHROMA[..],
                        _ => &[][..],
                    };
                    if t[1..17 + n] != *standard {
                        return Err(Error::Unsupported(
                            "JPEG Huffman tables other than the standard ones (RFC 2435)",
                        ));
                    }
                    t = &t[17 + n..];
                }
            }
            0xdd => {
                need("JPEG DRI", body, 2)?;
                restart_interval = u16::from_be_bytes([body[0], body[1]]);
            }
            0xda => break,
            _ => {}
        }
    }
    let (typ, height, width, tq) = sof.ok_or(Error::Malformed("JPEG without SOF"))?;
    if width == 0 || height == 0 || width > 2040 || height > 2040 {
        return Err(Error::Unsupported("JPEG size above 2040 (RFC 2435)"));
    }
    if tq[1] != tq[2] {
        return Err(Error::Unsupported("JPEG with different Cb and Cr tables"));
    }
    let luma = tables[tq[0] as usize].ok_or(Error::Malformed("JPEG table missing"))?;
    let chroma = tables[tq[1] as usize].ok_or(Error::Malformed("JPEG table missing"))?;
    // Types 0 and 1 take two tables (luma, chroma), also when the image shares one:
    // receivers such as ffmpeg reject other lengths.
    let mut t = BytesMut::with_capacity(128);
    t.put_slice(luma);
    t.put_slice(chroma);
    let mut end = b.len();
    if b.ends_with(&[0xff, 0xd9]) {
        end -= 2;
    }
    Ok(Parsed {
        header: Header {
            typ,
            width: width.div_ceil(8) * 8,
            height: height.div_ceil(8) * 8,
            restart_interval,
            tables: t.freeze(),
        },
        scan: &b[p..end.max(p)],
    })
}

/// Splits JPEG images into RFC 2435 packets with in-band tables (Q = 255).
#[derive(Debug)]
pub(crate) struct Packetizer {
    pub mtu: usize,
}

impl Packetizer {
    pub fn packetize(&mut self, data: &Bytes, out: &mut Vec<Payload>) -> Result<(), Error> {
        let j = parse_jpeg(data)?;
        let h = &j.header;
        if j.scan.len() >= 1 << 24 {
            return Err(Error::Malformed("JPEG larger than 16 MiB"));
        }
        let restart = h.restart_interval > 0;
        let typ = h.typ + if restart { 64 } else { 0 };
        let mut offset = 0;
        let mut rest = j.scan;
        loop {
            let mut p = BytesMut::with_capacity(self.mtu);
            p.put_u32(offset as u32); // type-specific 0, 24-bit fragment offset
            p.put_slice(&[typ, 255, (h.width / 8) as u8, (h.height / 8) as u8]);
            if restart {
                p.put_u16(h.restart_interval);
                p.put_u16(0xffff); // F, L, restart count 0x3fff: whole frame
            }
            if offset == 0 {
                p.put_slice(&[0, 0]);
                p.put_u16(h.tables.len() as u16);
                p.put_slice(&h.tables);
            }
            let room = self.mtu.saturating_sub(p.len()).max(1);
            let n = rest.len().min(room);
            p.put_slice(&rest[..n]);
            rest = &rest[n..];
            offset += n;
            out.push(Payload::new(rest.is_empty(), p.freeze()));
            if rest.is_empty() {
                return Ok(());
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tables_from_q() {
        let t = make_tables(50);
        assert_eq!(&t[..4], &[16, 11, 12, 14]);
        assert_eq!(t[64], 17);
        assert_eq!(make_tables(1)[0], 255);
    }

    #[test]
    fn round_trip() {
        let h = Header {
            typ: 1,
            width: 64,
            height: 48,
            restart_interval: 4,
            tables: Bytes::copy_from_slice(&make_tables(70)),
        };
        let scan: Vec<u8> = (0..3000u32).map(|i| (i % 200) as u8).collect();
        let jpeg = build_jpeg(&h, &scan);
        let parsed = parse_jpeg(&jpeg).unwrap();
        assert_eq!(parsed.header, h);
        assert_eq!(parsed.scan, &scan[..]);
        let mut p = Packetizer { mtu: 1000 };
        let mut pkts = vec![];
        p.packetize(&jpeg, &mut pkts).unwrap();
        assert_eq!(pkts.len(), 4);
        let mut d = Depacketizer::default();
        let mut out = vec![];
        for p in &pkts {
            d.push(0, &p.payload, p.marker, &mut out).unwrap();
        }
        assert_eq!(out.len(), 1);
        assert_eq!(out[0].data, jpeg);
        // Q < 128: tables computed from Q.
        let mut pkt = vec![0, 0, 0, 0, 1, 70, 8, 6, 0xff, 0xd9];
        d.push(1, &pkt, true, &mut out).unwrap();
        assert_eq!(
            &out[1].data[..],
            &build_jpeg(
                &Header {
                    restart_interval: 0,
                    ..h.clone()
                },
                &[0xff, 0xd9]
            )[..]
        );
        pkt[4] = 5;
        assert!(d.push(2, &pkt, true, &mut out).is_err());
    }
}
