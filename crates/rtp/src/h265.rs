//! H.265 over RTP (RFC 7798, without DONL): single NAL unit, aggregation (AP) and
//! fragmentation (FU) packets; SPS/PPS fields for hvcC and DTS; hvcC records.

use base64::Engine;
use bytes::{BufMut, Bytes, BytesMut};

use crate::bits::{rbsp, BitReader};
use crate::h264::nal_units;
use crate::{check_frame_size, need, Error, Frame, Payload};

pub(crate) const NAL_VPS: u8 = 32;
pub(crate) const NAL_SPS: u8 = 33;
pub(crate) const NAL_PPS: u8 = 34;
const NAL_AUD: u8 = 35;
const NAL_FD: u8 = 38;
const AP: u8 = 48;
const FU: u8 = 49;
const PACI: u8 = 50;

pub(crate) fn nal_type(first_byte: u8) -> u8 {
    (first_byte >> 1) & 0x3f
}

/// IRAP pictures (BLA, IDR, CRA and the reserved IRAP types): random access points.
pub(crate) fn is_irap(typ: u8) -> bool {
    (16..=23).contains(&typ)
}

/// The SPS fields this crate needs (H.265 7.3.2.2).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub(crate) struct Sps {
    /// general_profile_space .. general_level_idc (12 bytes of profile_tier_level).
    pub general_ptl: [u8; 12],
    pub max_sub_layers: u8,
    pub temporal_id_nesting: bool,
    pub chroma_format_idc: u32,
    pub separate_colour_plane: bool,
    pub bit_depth_luma_minus8: u32,
    pub bit_depth_chroma_minus8: u32,
    pub log2_max_poc_lsb: u32,
    /// sps_max_num_reorder_pics for the highest temporal sub-layer.
    pub max_num_reorder_pics: u32,
}

impl Sps {
    pub fn parse(nal: &[u8]) -> Option<Sps> {
        let data = rbsp(nal.get(..nal.len().min(512))?);
        let data = data.get(2..)?;
        let mut r = BitReader::new(data);
        r.skip(4)?; // sps_video_parameter_set_id
        let max_sub_layers_minus1 = r.bits(3)? as usize;
        if max_sub_layers_minus1 > 6 {
            return None;
        }
        let mut s = Sps {
            max_sub_layers: max_sub_layers_minus1 as u8 + 1,
            temporal_id_nesting: r.flag()?,
            general_ptl: data.get(1..13)?.try_into().ok()?,
            ..Sps::default()
        };
        r.skip(96)?;
        let mut present = [(false, false); 7];
        for p in present.iter_mut().take(max_sub_layers_minus1) {
            *p = (r.flag()?, r.flag()?);
        }
        if max_sub_layers_minus1 > 0 {
            r.skip(2 * (8 - max_sub_layers_minus1))?;
        }
        for (profile, level) in present.iter().take(max_sub_layers_minus1) {
            if *profile {
                r.skip(88)?;
            }
            if *level {
                r.skip(8)?;
            }
        }
        if r.ue()? > 15 {
            return None;
        }
        s.chroma_format_idc = r.ue()?;
        if s.chroma_format_idc > 3 {
            return None;
        }
        if s.chroma_format_idc == 3 {
            s.separate_colour_plane = r.flag()?;
        }
        r.ue()?; // pic_width_in_luma_samples
        r.ue()?; // pic_height_in_luma_samples
        if r.flag()? {
            for _ in 0..4 {
                r.ue()?; // conformance window offsets
            }
        }
        s.bit_depth_luma_minus8 = r.ue()?;
        s.bit_depth_chroma_minus8 = r.ue()?;
        if s.bit_depth_luma_minus8 > 8 || s.bit_depth_chroma_minus8 > 8 {
            return None;
        }
        s.log2_max_poc_lsb = r.ue()?.checked_add(4).filter(|v| *v <= 16)?;
        let first = if r.flag()? { 0 } else { max_sub_layers_minus1 };
        for _ in first..=max_sub_layers_minus1 {
            r.ue()?; // sps_max_dec_pic_buffering_minus1
            s.max_num_reorder_pics = r.ue()?;
            r.ue()?; // sps_max_latency_increase_plus1
        }
        if s.max_num_reorder_pics > 16 {
            return None;
        }
        Some(s)
    }
}

/// The PPS fields the slice segment header depends on before slice_pic_order_cnt_lsb.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(crate) struct Pps {
    pub id: u32,
    pub dependent_slice_segments_enabled: bool,
    pub output_flag_present: bool,
    pub num_extra_slice_header_bits: u32,
}

impl Pps {
    pub fn parse(nal: &[u8]) -> Option<Pps> {
        let data = rbsp(nal.get(..nal.len().min(32))?);
        let mut r = BitReader::new(data.get(2..)?);
        let id = r.ue()?;
        if id > 63 {
            return None;
        }
        r.ue()?; // pps_seq_parameter_set_id
        Some(Pps {
            id,
            dependent_slice_segments_enabled: r.flag()?,
            output_flag_present: r.flag()?,
            num_extra_slice_header_bits: r.bits(3)?,
        })
    }
}

/// Builds an HEVCDecoderConfigurationRecord (ISO/IEC 14496-15 8.3.3.1) with 4-byte lengths.
pub(crate) fn hvcc(vps: &[Bytes], sps: &[Bytes], pps: &[Bytes]) -> Result<Bytes, Error> {
    let first = sps.first().ok_or(Error::Malformed("hvcC without SPS"))?;
    let s = Sps::parse(first).ok_or(Error::Malformed("H265 SPS"))?;
    let mut v = BytesMut::new();
    v.put_u8(1);
    v.put_slice(&s.general_ptl);
    v.put_u16(0xf000); // min_spatial_segmentation_idc unknown
    v.put_u8(0xfc); // parallelismType unknown
    v.put_u8(0xfc | s.chroma_format_idc as u8);
    v.put_u8(0xf8 | s.bit_depth_luma_minus8 as u8);
    v.put_u8(0xf8 | s.bit_depth_chroma_minus8 as u8);
    v.put_u16(0); // avgFrameRate
    v.put_u8((s.max_sub_layers << 3) | ((s.temporal_id_nesting as u8) << 2) | 3);
    v.put_u8(3);
    for (typ, nals) in [(NAL_VPS, vps), (NAL_SPS, sps), (NAL_PPS, pps)] {
        if nals.len() > 0xffff || nals.iter().any(|n| n.len() > 0xffff) {
            return Err(Error::Malformed("H265 parameter set sizes"));
        }
        v.put_u8(0x80 | typ);
        v.put_u16(nals.len() as u16);
        for n in nals {
            v.put_u16(n.len() as u16);
            v.put_slice(n);
        }
    }
    Ok(v.freeze())
}

/// VPS, SPS and PPS NAL units of an hvcC record.
pub(crate) fn parameter_sets(hvcc: &[u8]) -> Result<[Vec<Bytes>; 3], Error> {
    ferrocast_codec::avc::hvcc_parameter_sets(hvcc).map_err(|e| match e {
        ferrocast_codec::CodecError::Truncated { what, len } => Error::Truncated { what, len },
        _ => Error::Malformed("hvcC record"),
    })
}

/// An hvcC from sprop-vps/sps/pps (RFC 7798 7.1), or an empty config when they are absent.
pub(crate) fn hvcc_from_sprop(
    vps: Option<&str>,
    sps: Option<&str>,
    pps: Option<&str>,
) -> Result<Bytes, Error> {
    let (Some(vps), Some(sps), Some(pps)) = (vps, sps, pps) else {
        return Ok(Bytes::new());
    };
    let (vps, sps, pps) = (
        crate::h264::parse_sprop(vps)?,
        crate::h264::parse_sprop(sps)?,
        crate::h264::parse_sprop(pps)?,
    );
    if vps.is_empty() || sps.is_empty() || pps.is_empty() {
        return Ok(Bytes::new());
    }
    hvcc(&vps, &sps, &pps).map_err(|e| Error::Format(format!("H265 sprop parameter sets: {e}")))
}

/// (sprop-vps, sprop-sps, sprop-pps) of an hvcC record.
pub(crate) fn sprop(hvcc: &[u8]) -> Option<[String; 3]> {
    let sets = parameter_sets(hvcc).ok()?;
    if sets.iter().any(|s| s.is_empty()) {
        return None;
    }
    let b64 = base64::engine::general_purpose::STANDARD;
    let join = |s: &[Bytes]| {
        s.iter()
            .map(|n| b64.encode(n))
            .collect::<Vec<_>>()
            .join(",")
    };
    Some([join(&sets[0]), join(&sets[1]), join(&sets[2])])
}

/// Reassembles access units; see [`crate::Depacketizer`].
#[derive(Debug, Default)]
pub(crate) struct Depacketizer {
    au: BytesMut,
    au_pts: Option<i64>,
    irap: bool,
    fu: Option<usize>,
    fu_skip: bool,
    vps: Option<Bytes>,
    sps: Option<Bytes>,
    pps: Vec<(u32, Bytes)>,
    config_changed: bool,
}

impl Depacketizer {
    pub fn new(hvcc: &[u8]) -> Self {
        let mut d = Depacketizer::default();
        if let Ok([vps, sps, pps]) = parameter_sets(hvcc) {
            d.vps = vps.into_iter().next();
            d.sps = sps.into_iter().next();
            d.pps = pps
                .into_iter()
                .map(|p| (Pps::parse(&p).map_or(0, |p| p.id), p))
                .collect();
        }
        d
    }

    pub fn reset(&mut self) {
        self.au.clear();
        self.au_pts = None;
        self.irap = false;
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
            self.flush(out);
        }
        self.au_pts = Some(pts);
        need("H265 payload", payload, 2)?;
        match nal_type(payload[0]) {
            0..=47 => {
                self.drop_fu();
                self.nal(payload)?;
            }
            AP => {
                // RFC 7798 4.4.2 (no DONL/DOND: sprop-max-don-diff is 0).
                self.drop_fu();
                let mut b = &payload[2..];
                while !b.is_empty() {
                    need("AP NAL unit size", b, 2)?;
                    let len = u16::from_be_bytes([b[0], b[1]]) as usize;
                    need("AP NAL unit", &b[2..], len)?;
                    self.nal(&b[2..2 + len])?;
                    b = &b[2 + len..];
                }
            }
            FU => {
                // RFC 7798 4.4.3: payload header, FU header (S, E, FuType), fragment.
                need("FU header", payload, 3)?;
                let fu = payload[2];
                let (start, end) = (fu & 0x80 != 0, fu & 0x40 != 0);
                if start {
                    self.drop_fu();
                    check_frame_size(self.au.len() + payload.len() + 4)?;
                    self.fu = Some(self.au.len());
                    self.fu_skip = false;
                    self.au.put_u32(0);
                    self.au.put_u8((payload[0] & 0x81) | ((fu & 0x3f) << 1));
                    self.au.put_u8(payload[1]);
                } else if self.fu.is_none() {
                    if self.fu_skip {
                        return Ok(());
                    }
                    return Err(Error::Malformed("H265 FU fragment without a start"));
                }
                check_frame_size(self.au.len() + payload.len())?;
                self.au.put_slice(&payload[3..]);
                if end {
                    self.finish_fu()?;
                }
            }
            PACI => return Err(Error::Unsupported("H265 PACI packets")),
            _ => return Err(Error::Malformed("H265 NAL unit type above 50")),
        }
        if marker {
            self.flush(out);
        }
        Ok(())
    }

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
        let typ = nal_type(self.au[at + 4]);
        if len == 2 {
            self.au.truncate(at);
            return Err(Error::Malformed("empty H265 FU NAL unit"));
        }
        if matches!(typ, NAL_VPS | NAL_SPS | NAL_PPS | NAL_AUD | NAL_FD) {
            let nal = self.au.split_off(at).split_off(4);
            return self.nal(&nal);
        }
        self.au[at..at + 4].copy_from_slice(&(len as u32).to_be_bytes());
        self.irap |= is_irap(typ);
        Ok(())
    }

    fn nal(&mut self, nal: &[u8]) -> Result<(), Error> {
        need("H265 NAL unit", nal, 2)?;
        let set = |slot: &mut Option<Bytes>, changed: &mut bool| {
            if slot.as_deref() != Some(nal) {
                *slot = Some(Bytes::copy_from_slice(nal));
                *changed = true;
            }
        };
        match nal_type(nal[0]) {
            NAL_VPS => set(&mut self.vps, &mut self.config_changed),
            NAL_SPS => set(&mut self.sps, &mut self.config_changed),
            NAL_PPS => {
                let id = Pps::parse(nal).map_or(0, |p| p.id);
                match self.pps.iter().position(|(i, _)| *i == id) {
                    Some(i) if self.pps[i].1[..] == *nal => {}
                    Some(i) => {
                        self.pps[i].1 = Bytes::copy_from_slice(nal);
                        self.config_changed = true;
                    }
                    None if self.pps.len() < 64 => {
                        self.pps.push((id, Bytes::copy_from_slice(nal)));
                        self.config_changed = true;
                    }
                    None => return Err(Error::Malformed("H265 PPS id")),
                }
            }
            NAL_AUD | NAL_FD => {}
            typ => {
                check_frame_size(self.au.len() + 4 + nal.len())?;
                self.au.put_u32(nal.len() as u32);
                self.au.put_slice(nal);
                self.irap |= is_irap(typ);
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
            if let (Some(vps), Some(sps), false) = (&self.vps, &self.sps, self.pps.is_empty()) {
                let pps: Vec<Bytes> = self.pps.iter().map(|(_, p)| p.clone()).collect();
                config = hvcc(std::slice::from_ref(vps), std::slice::from_ref(sps), &pps).ok();
                self.config_changed = false;
            }
        }
        out.push(Frame {
            pts,
            key: std::mem::take(&mut self.irap),
            data: self.au.split().freeze(),
            config,
            after_loss: false,
        });
    }
}

/// Splits access units into single NAL unit and FU packets; see [`crate::Packetizer`].
#[derive(Debug)]
pub(crate) struct Packetizer {
    mtu: usize,
    params: Vec<Bytes>,
}

impl Packetizer {
    pub fn new(hvcc: &[u8], mtu: usize) -> Self {
        let mut p = Packetizer {
            mtu,
            params: vec![],
        };
        p.set_config(hvcc);
        p
    }

    pub fn set_config(&mut self, hvcc: &[u8]) {
        self.params = parameter_sets(hvcc)
            .map(|s| s.into_iter().flatten().collect())
            .unwrap_or_default();
    }

    pub fn packetize(
        &mut self,
        data: &Bytes,
        key: bool,
        out: &mut Vec<Payload>,
    ) -> Result<(), Error> {
        let nals = nal_units(data)?;
        if nals.iter().any(|n| n.len() < 2) {
            return Err(Error::Malformed("H265 NAL unit shorter than its header"));
        }
        let has_sps = nals.iter().any(|n| nal_type(n[0]) == NAL_SPS);
        let params = if key && !has_sps {
            &self.params[..]
        } else {
            &[]
        };
        let all: Vec<&Bytes> = params
            .iter()
            .chain(nals.iter().filter(|n| nal_type(n[0]) != NAL_AUD))
            .collect();
        for (i, nal) in all.iter().enumerate() {
            let last = i + 1 == all.len();
            if nal.len() <= self.mtu {
                out.push(Payload::new(last, (*nal).clone()));
                continue;
            }
            let header = [(nal[0] & 0x81) | (FU << 1), nal[1]];
            let chunks: Vec<&[u8]> = nal[2..].chunks(self.mtu - 3).collect();
            for (j, chunk) in chunks.iter().enumerate() {
                let mut fu = nal_type(nal[0]);
                if j == 0 {
                    fu |= 0x80;
                }
                let end = j + 1 == chunks.len();
                if end {
                    fu |= 0x40;
                }
                let mut p = BytesMut::with_capacity(chunk.len() + 3);
                p.put_slice(&header);
                p.put_u8(fu);
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

    // The sprop of the h265_x265_sprop fixture (ffmpeg/libx265, 320x240, Main).
    const VPS: &str = "QAEMAf//AWAAAAMAkAAAAwAAAwA8koCQ";
    const SPS: &str = "QgEBAWAAAAMAkAAAAwAAAwA8oAoIDxZZKkkyvAWgIAAAAwAgAAADAyE=";
    const PPS: &str = "RAHBcrRiQA==";

    #[test]
    fn sps_and_hvcc() {
        let sps = crate::h264::parse_sprop(SPS).unwrap();
        let s = Sps::parse(&sps[0]).unwrap();
        assert_eq!(s.general_ptl[0], 1); // Main profile
        assert_eq!(s.chroma_format_idc, 1);
        assert_eq!(s.bit_depth_luma_minus8, 0);
        let hvcc = hvcc_from_sprop(Some(VPS), Some(SPS), Some(PPS)).unwrap();
        assert_eq!(ferrocast_codec::avc::hvcc_length_size(&hvcc).unwrap(), 4);
        assert_eq!(sprop(&hvcc).unwrap(), [VPS, SPS, PPS]);
        let pps = Pps::parse(&crate::h264::parse_sprop(PPS).unwrap()[0]).unwrap();
        assert_eq!(pps.id, 0);
        for n in 0..sps[0].len() {
            let _ = Sps::parse(&sps[0][..n]);
        }
        for n in 0..hvcc.len() {
            let _ = parameter_sets(&hvcc[..n]);
        }
    }

    #[test]
    fn ap_and_fu() {
        let hvcc = hvcc_from_sprop(Some(VPS), Some(SPS), Some(PPS)).unwrap();
        let mut p = Packetizer::new(&hvcc, 64);
        let mut nal = vec![0x26, 0x01]; // IDR_W_RADL
        nal.extend((0..200u32).map(|i| i as u8));
        let mut data = (nal.len() as u32).to_be_bytes().to_vec();
        data.extend(&nal);
        let mut out = vec![];
        p.packetize(&Bytes::from(data.clone()), true, &mut out)
            .unwrap();
        let mut d = Depacketizer::default();
        let mut frames = vec![];
        for o in &out {
            d.push(7, &o.payload, o.marker, &mut frames).unwrap();
        }
        assert_eq!(frames.len(), 1);
        assert_eq!(frames[0].data, data);
        assert!(frames[0].key);
        assert_eq!(frames[0].config.as_ref(), Some(&hvcc));
        // An AP with two slices.
        let ap = [0x60, 0x01, 0, 3, 0x02, 0x01, 0xaa, 0, 3, 0x02, 0x01, 0xbb];
        d.push(8, &ap, true, &mut frames).unwrap();
        assert_eq!(
            &frames[1].data[..],
            &[0, 0, 0, 3, 2, 1, 0xaa, 0, 0, 0, 3, 2, 1, 0xbb]
        );
        assert!(!frames[1].key);
        assert!(d.push(9, &[0x62, 0x01, 0x05], false, &mut frames).is_err());
        assert!(d
            .push(9, &[0x60, 0x01, 0, 9, 1], false, &mut frames)
            .is_err());
    }
}
