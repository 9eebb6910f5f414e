//! H.264 over RTP (RFC 6184, non-interleaved mode): single NAL unit, STAP-A and FU-A
//! packets; SPS fields for avcC and DTS; avcC records.

use base64::Engine;
use bytes::{BufMut, Bytes, BytesMut};

use crate::bits::{rbsp, BitReader};
use crate::{check_frame_size, need, Error, Frame, Payload};

pub(crate) const NAL_SLICE: u8 = 1;
pub(crate) const NAL_IDR: u8 = 5;
pub(crate) const NAL_SPS: u8 = 7;
pub(crate) const NAL_PPS: u8 = 8;
const NAL_AUD: u8 = 9;
const NAL_FILLER: u8 = 12;
const STAP_A: u8 = 24;
const FU_A: u8 = 28;

/// The SPS fields used for avcC records and DTS.
pub(crate) use ferrocast_codec::h264::Sps;

/// pic_parameter_set_id of a PPS NAL unit.
fn pps_id(nal: &[u8]) -> Option<u32> {
    let data = rbsp(nal.get(..nal.len().min(8))?);
    BitReader::new(data.get(1..)?).ue()
}

/// Builds an AVCDecoderConfigurationRecord (ISO/IEC 14496-15 5.3.3.1) with 4-byte lengths.
pub(crate) fn avcc(sps: &[u8], pps: &[Bytes]) -> Result<Bytes, Error> {
    need("H264 SPS", sps, 4)?;
    if sps.len() > 0xffff || pps.len() > 255 || pps.iter().any(|p| p.len() > 0xffff) {
        return Err(Error::Malformed("H264 parameter set sizes"));
    }
    let mut v =
        BytesMut::with_capacity(16 + sps.len() + pps.iter().map(|p| p.len() + 2).sum::<usize>());
    v.put_slice(&[1, sps[1], sps[2], sps[3], 0xff, 0xe1]);
    v.put_u16(sps.len() as u16);
    v.put_slice(sps);
    v.put_u8(pps.len() as u8);
    for p in pps {
        v.put_u16(p.len() as u16);
        v.put_slice(p);
    }
    if matches!(sps[1], 100 | 110 | 122 | 144) {
        if let Some(s) = Sps::parse(sps) {
            v.put_slice(&[
                0xfc | s.chroma_format_idc as u8,
                0xf8 | s.bit_depth_luma_minus8 as u8,
                0xf8 | s.bit_depth_chroma_minus8 as u8,
                0,
            ]);
        }
    }
    Ok(v.freeze())
}

/// SPS and PPS NAL units of an avcC record.
pub(crate) fn parameter_sets(avcc: &[u8]) -> Result<(Vec<Bytes>, Vec<Bytes>), Error> {
    ferrocast_codec::avc::avcc_parameter_sets(avcc).map_err(|_| Error::Malformed("avcC record"))
}

/// Parses `sprop-parameter-sets` (RFC 6184 8.1): comma-separated base64 NAL units.
pub(crate) fn parse_sprop(s: &str) -> Result<Vec<Bytes>, Error> {
    s.split(',')
        .map(str::trim)
        .filter(|p| !p.is_empty())
        .map(|p| {
            base64::engine::general_purpose::STANDARD
                .decode(p)
                .map(Bytes::from)
                .map_err(|_| Error::Format(format!("bad base64 in sprop-parameter-sets: {p}")))
        })
        .collect()
}

/// An avcC from sprop-parameter-sets, or an empty config when they are absent.
pub(crate) fn avcc_from_sprop(sprop: Option<&str>) -> Result<Bytes, Error> {
    let Some(sprop) = sprop else {
        return Ok(Bytes::new());
    };
    let sets = parse_sprop(sprop)?;
    let sps = sets
        .iter()
        .find(|n| n.first().map(|b| b & 0x1f) == Some(NAL_SPS));
    let pps: Vec<Bytes> = sets
        .iter()
        .filter(|n| n.first().map(|b| b & 0x1f) == Some(NAL_PPS))
        .cloned()
        .collect();
    match sps {
        Some(sps) if !pps.is_empty() => avcc(sps, &pps),
        _ => Ok(Bytes::new()),
    }
}

/// The base64 sprop-parameter-sets of an avcC record.
pub(crate) fn sprop(avcc: &[u8]) -> Option<String> {
    let (sps, pps) = parameter_sets(avcc).ok()?;
    if sps.is_empty() {
        return None;
    }
    let b64 = base64::engine::general_purpose::STANDARD;
    Some(
        sps.iter()
            .chain(pps.iter())
            .map(|n| b64.encode(n))
            .collect::<Vec<_>>()
            .join(","),
    )
}

/// Reassembles access units; see [`crate::Depacketizer`].
#[derive(Debug, Default)]
pub(crate) struct Depacketizer {
    /// Length-prefixed NAL units of the access unit in progress.
    au: BytesMut,
    au_pts: Option<i64>,
    idr: bool,
    /// Offset in `au` of the FU-A NAL unit in progress (its length placeholder).
    fu: Option<usize>,
    /// After a loss: FU-A fragments are dropped until the next start fragment.
    fu_skip: bool,
    sps: Option<Bytes>,
    pps: Vec<(u32, Bytes)>,
    config_changed: bool,
}

impl Depacketizer {
    pub fn new(avcc: &[u8]) -> Self {
        let mut d = Depacketizer::default();
        if let Ok((sps, pps)) = parameter_sets(avcc) {
            d.sps = sps.into_iter().next();
            d.pps = pps
                .into_iter()
                .map(|p| (pps_id(&p).unwrap_or(0), p))
                .collect();
        }
        d
    }

    pub fn reset(&mut self) {
        self.au.clear();
        self.au_pts = None;
        self.idr = false;
        self.fu = None;
        self.fu_skip = true;
    }

    pub fn push(
        &mut self,
        pts: i64,
        payload: &[u8],
        marker: bool,
        out: &mut Vec<Frame>,
    ) -> Result<(), Error> {
        if self.au_pts.is_some_and(|p| p != pts) {
            // RFC 6184 5.1: a new timestamp starts a new access unit (the marker was lost
            // or not set by the sender).
            self.flush(out);
        }
        self.au_pts = Some(pts);
        need("H264 payload", payload, 1)?;
        match payload[0] & 0x1f {
            1..=23 => {
                self.drop_fu();
                self.nal(payload)?;
            }
            STAP_A => {
                self.drop_fu();
                let mut b = &payload[1..];
                while !b.is_empty() {
                    need("STAP-A NAL unit size", b, 2)?;
                    let len = u16::from_be_bytes([b[0], b[1]]) as usize;
                    need("STAP-A NAL unit", &b[2..], len)?;
                    self.nal(&b[2..2 + len])?;
                    b = &b[2 + len..];
                }
            }
            FU_A => {
                need("FU-A header", payload, 2)?;
                let (start, end) = (payload[1] & 0x80 != 0, payload[1] & 0x40 != 0);
                if start {
                    self.drop_fu();
                    check_frame_size(self.au.len() + payload.len() + 4)?;
                    self.fu = Some(self.au.len());
                    self.fu_skip = false;
                    self.au.put_u32(0);
                    self.au.put_u8((payload[0] & 0xe0) | (payload[1] & 0x1f));
                } else if self.fu.is_none() {
                    if self.fu_skip {
                        return Ok(());
                    }
                    return Err(Error::Malformed("FU-A fragment without a start"));
                }
                check_frame_size(self.au.len() + payload.len())?;
                self.au.put_slice(&payload[2..]);
                if end {
                    self.finish_fu()?;
                }
            }
            25..=27 | 29 => {
                return Err(Error::Unsupported(
                    "H264 interleaved packetization (STAP-B, MTAP, FU-B)",
                ))
            }
            _ => return Err(Error::Malformed("H264 NAL unit type 0, 30 or 31")),
        }
        if marker {
            self.flush(out);
        }
        Ok(())
    }

    /// Discards an unfinished FU-A NAL unit.
    fn drop_fu(&mut self) {
        if let Some(at) = self.fu.take() {
            self.au.truncate(at);
        }
    }

    fn finish_fu(&mut self) -> Result<(), Error> {
        let Some(at) = self.fu.take() else {
            return Ok(());
        };
        let len = self.au.len() - at - 4;
        let typ = self.au[at + 4] & 0x1f;
        if len == 1 {
            self.au.truncate(at);
            return Err(Error::Malformed("empty FU-A NAL unit"));
        }
        if matches!(typ, NAL_SPS | NAL_PPS | NAL_AUD | NAL_FILLER) {
            let nal = self.au.split_off(at).split_off(4);
            return self.nal(&nal);
        }
        self.au[at..at + 4].copy_from_slice(&(len as u32).to_be_bytes());
        self.idr |= typ == NAL_IDR;
        Ok(())
    }

    fn nal(&mut self, nal: &[u8]) -> Result<(), Error> {
        need("H264 NAL unit", nal, 1)?;
        match nal[0] & 0x1f {
            NAL_SPS => {
                if self.sps.as_deref() != Some(nal) {
                    self.sps = Some(Bytes::copy_from_slice(nal));
                    self.config_changed = true;
                }
            }
            NAL_PPS => {
                let id = pps_id(nal).unwrap_or(0);
                match self.pps.iter().position(|(i, _)| *i == id) {
                    Some(i) if self.pps[i].1[..] == *nal => {}
                    Some(i) => {
                        self.pps[i].1 = Bytes::copy_from_slice(nal);
                        self.config_changed = true;
                    }
                    None if self.pps.len() < 256 => {
                        self.pps.push((id, Bytes::copy_from_slice(nal)));
                        self.config_changed = true;
                    }
                    None => return Err(Error::Malformed("H264 PPS id")),
                }
            }
            NAL_AUD | NAL_FILLER => {}
            typ => {
                check_frame_size(self.au.len() + 4 + nal.len())?;
                self.au.put_u32(nal.len() as u32);
                self.au.put_slice(nal);
                self.idr |= typ == NAL_IDR;
            }
        }
        Ok(())
    }

    fn flush(&mut self, out: &mut Vec<Frame>) {
        self.drop_fu();
        let Some(pts) = self.au_pts.take() else {
            return;
        };
        if self.au.is_empty() {
            return;
        }
        let mut config = None;
        if self.config_changed {
            if let (Some(sps), false) = (&self.sps, self.pps.is_empty()) {
                let pps: Vec<Bytes> = self.pps.iter().map(|(_, p)| p.clone()).collect();
                config = avcc(sps, &pps).ok();
                self.config_changed = false;
            }
        }
        out.push(Frame {
            pts,
            key: std::mem::take(&mut self.idr),
            data: self.au.split().freeze(),
            config,
            after_loss: false,
        });
    }
}

/// Iterates over 4-byte length-prefixed NAL units, checking every length first.
pub(crate) fn nal_units(data: &Bytes) -> Result<Vec<Bytes>, Error> {
    let mut v = vec![];
    let mut p = 0;
    while p < data.len() {
        need("NAL unit length", &data[p..], 4)?;
        let len = u32::from_be_bytes([data[p], data[p + 1], data[p + 2], data[p + 3]]) as usize;
        p += 4;
        need("NAL unit", &data[p..], len)?;
        if len == 0 {
            return Err(Error::Malformed("empty NAL unit"));
        }
        v.push(data.slice(p..p + len));
        p += len;
    }
    Ok(v)
}

/// Splits access units into single NAL unit and FU-A packets; see [`crate::Packetizer`].
#[derive(Debug)]
pub(crate) struct Packetizer {
    mtu: usize,
    params: Vec<Bytes>,
}

impl Packetizer {
    pub fn new(avcc: &[u8], mtu: usize) -> Self {
        let mut p = Packetizer {
            mtu,
            params: vec![],
        };
        p.set_config(avcc);
        p
    }

    pub fn set_config(&mut self, avcc: &[u8]) {
        self.params = parameter_sets(avcc)
            .map(|(s, p)| s.into_iter().chain(p).collect())
            .unwrap_or_default();
    }

    pub fn packetize(
        &mut self,
        data: &Bytes,
        key: bool,
        out: &mut Vec<Payload>,
    ) -> Result<(), Error> {
        let nals = nal_units(data)?;
        let has_sps = nals.iter().any(|n| n[0] & 0x1f == NAL_SPS);
        let params = if key && !has_sps {
            &self.params[..]
        } else {
            &[]
        };
        let all: Vec<&Bytes> = params
            .iter()
            .chain(nals.iter().filter(|n| n[0] & 0x1f != NAL_AUD))
            .collect();
        for (i, nal) in all.iter().enumerate() {
            let last = i + 1 == all.len();
            if nal.len() <= self.mtu {
                out.push(Payload::new(last, (*nal).clone()));
                continue;
            }
            // RFC 6184 5.8: FU indicator (F, NRI, type 28), FU header (S, E, R, type).
            let indicator = (nal[0] & 0xe0) | FU_A;
            let chunks: Vec<&[u8]> = nal[1..].chunks(self.mtu - 2).collect();
            for (j, chunk) in chunks.iter().enumerate() {
                let mut header = nal[0] & 0x1f;
                if j == 0 {
                    header |= 0x80;
                }
                let end = j + 1 == chunks.len();
                if end {
                    header |= 0x40;
                }
                let mut p = BytesMut::with_capacity(chunk.len() + 2);
                p.put_slice(&[indicator, header]);
                p.put_slice(chunk);
                out.push(Payload::new(last && end, p.freeze()));
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // From ffmpeg/libx264 (baseline, 320x240), the sprop of the h264_x264_sprop fixture.
    const SPROP: &str = "Z0LADdkBQfsBEAAAAwAQAAADAyDxQqSA,aMuMsg==";

    #[test]
    fn sps_and_avcc() {
        let sets = parse_sprop(SPROP).unwrap();
        let s = Sps::parse(&sets[0]).unwrap();
        assert_eq!(s.profile_idc, 66);
        assert_eq!(s.pic_order_cnt_type, 2);
        assert!(s.frame_mbs_only);
        let avcc = avcc_from_sprop(Some(SPROP)).unwrap();
        assert_eq!(&avcc[..4], &[1, 0x42, 0xc0, 0x0d]);
        assert_eq!(sprop(&avcc).unwrap(), SPROP);
        for n in 0..sets[0].len() {
            let _ = Sps::parse(&sets[0][..n]);
        }
        assert!(avcc_from_sprop(Some("!!")).is_err());
        assert!(avcc_from_sprop(None).unwrap().is_empty());
    }

    fn frames(d: &mut Depacketizer, pkts: &[(i64, &[u8], bool)]) -> Vec<Frame> {
        let mut out = vec![];
        for (pts, p, m) in pkts {
            d.push(*pts, p, *m, &mut out).unwrap();
        }
        out
    }

    #[test]
    fn stap_fu_and_parameter_sets() {
        let sets = parse_sprop(SPROP).unwrap();
        let mut stap = vec![STAP_A | 0x60];
        for n in [&sets[0], &sets[1]] {
            stap.extend((n.len() as u16).to_be_bytes());
            stap.extend(&n[..]);
        }
        let mut d = Depacketizer::default();
        let out = frames(
            &mut d,
            &[
                (0, &[0x09, 0xf0], false), // AUD: dropped
                (0, &stap, false),
                (0, &[0x7c, 0x85, 1, 2], false),
                (0, &[0x7c, 0x05, 3], false),
                (0, &[0x7c, 0x45, 4], true),
                (3000, &[0x41, 9, 9], true),
            ],
        );
        assert_eq!(out.len(), 2);
        assert!(out[0].key && !out[1].key);
        assert_eq!(&out[0].data[..], &[0, 0, 0, 5, 0x65, 1, 2, 3, 4]);
        assert_eq!(out[0].config, Some(avcc_from_sprop(Some(SPROP)).unwrap()));
        assert_eq!(out[1].config, None);
        assert_eq!(out[1].pts, 3000);
    }

    #[test]
    fn timestamp_change_ends_access_unit() {
        let mut d = Depacketizer::default();
        let out = frames(&mut d, &[(0, &[0x41, 1], false), (1, &[0x41, 2], false)]);
        assert_eq!(out.len(), 1);
        assert_eq!(&out[0].data[..], &[0, 0, 0, 2, 0x41, 1]);
    }

    #[test]
    fn fu_errors() {
        let mut d = Depacketizer::default();
        assert!(d.push(0, &[0x7c, 0x05, 3], false, &mut vec![]).is_err());
        assert!(d.push(0, &[0x7c], false, &mut vec![]).is_err());
        assert!(d.push(0, &[0x78, 0, 5, 0x41], false, &mut vec![]).is_err());
        assert!(d.push(0, &[0x7a], false, &mut vec![]).is_err());
        d.reset();
        // After a reset, stray continuation fragments are skipped quietly.
        assert!(d.push(0, &[0x7c, 0x45, 3], true, &mut vec![]).is_ok());
    }

    #[test]
    fn packetize_fu() {
        let avcc = avcc_from_sprop(Some(SPROP)).unwrap();
        let mut p = Packetizer::new(&avcc, 100);
        let mut nal = vec![0x65];
        nal.extend((0..250u32).map(|i| i as u8));
        let mut data = vec![];
        data.extend((nal.len() as u32).to_be_bytes());
        data.extend(&nal);
        let mut out = vec![];
        p.packetize(&Bytes::from(data.clone()), true, &mut out)
            .unwrap();
        assert_eq!(out.len(), 2 + 3);
        assert!(out.iter().rev().skip(1).all(|p| !p.marker));
        assert!(out.last().unwrap().marker);
        let mut d = Depacketizer::new(&avcc);
        let mut frames = vec![];
        for o in &out {
            d.push(0, &o.payload, o.marker, &mut frames).unwrap();
        }
        assert_eq!(frames.len(), 1);
        assert_eq!(frames[0].data, data);
        assert!(frames[0].key);
        assert_eq!(frames[0].config, None);
        assert!(p
            .packetize(&Bytes::from_static(&[0, 0, 0, 9, 1]), false, &mut out)
            .is_err());
    }
}
