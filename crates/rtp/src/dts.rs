//! Decode timestamps for H.264 and H.265 received over RTP, which carries only
//! presentation timestamps.
//!
//! With B-frames, decode order differs from presentation order. The picture order count
//! (POC) in each slice header gives a frame's presentation index p; its decode index n is
//! counted since the last IDR. A decoder needs a reorder depth R (frames held back) with
//! `n - p <= R` for every frame, and then frame n can be decoded at the presentation time
//! of the frame at presentation index `n - R`, which has already been received. That PTS
//! is the DTS: it increases monotonically and never exceeds the frame's own PTS.
//!
//! R comes from the SPS (H.264 VUI `max_num_reorder_frames`, H.265
//! `sps_max_num_reorder_pics`) when present; otherwise it is inferred: when a frame jumps
//! ahead in presentation order, the frames it skips must come later, which bounds R from
//! below before they arrive. Without reordering (or with H.264 POC type 2) DTS = PTS.
//! Whatever the input, the output is strictly increasing.

use std::collections::VecDeque;

use crate::bits::{rbsp, BitReader};
use crate::{h264, h265, Frame};

/// The deepest reordering accepted (the DPB holds at most 16 frames).
const MAX_REORDER: i64 = 16;
/// Presentation indices remembered per GOP.
const WINDOW: usize = 64;

#[derive(Debug)]
struct Gop {
    base_pts: i64,
    base_poc: i64,
    /// Decode index of the last frame.
    n: i64,
    /// POC units per frame (H.264 frames usually count in 2s).
    step: i64,
    /// PTS by presentation index, for indices `lo..lo + pts.len()`.
    lo: i64,
    pts: VecDeque<Option<i64>>,
}

impl Gop {
    fn get(&self, p: i64) -> Option<i64> {
        let i = usize::try_from(p - self.lo).ok()?;
        self.pts.get(i).copied().flatten()
    }

    fn set(&mut self, p: i64, pts: i64) {
        if p < self.lo {
            return;
        }
        while p >= self.lo + self.pts.len() as i64 {
            if self.pts.len() == WINDOW {
                self.pts.pop_front();
                self.lo += 1;
            }
            self.pts.push_back(None);
        }
        let i = (p - self.lo) as usize;
        self.pts[i] = Some(pts);
    }

    /// Switches from 2 to 1 POC units per frame: presentation indices double.
    fn halve_step(&mut self) {
        self.step = 1;
        let old = std::mem::take(&mut self.pts);
        self.lo *= 2;
        for (i, v) in old.into_iter().enumerate() {
            if i > 0 {
                self.pts.push_back(None);
            }
            self.pts.push_back(v);
        }
        while self.pts.len() > WINDOW {
            self.pts.pop_front();
            self.lo += 1;
        }
    }

    /// The lower bound on R implied by the frames skipped so far: they will be decoded at
    /// indices n + 1, n + 2, ... at the earliest.
    fn pending_bound(&self) -> i64 {
        let mut bound = 0;
        let mut i = 0;
        let last = self.pts.iter().rposition(Option::is_some);
        for (k, v) in self.pts.iter().enumerate() {
            if Some(k) >= last {
                break;
            }
            let h = self.lo + k as i64;
            if v.is_none() && h >= self.n + 1 - MAX_REORDER {
                i += 1;
                bound = bound.max(self.n + i - h);
            }
        }
        bound
    }
}

/// The codec-independent part: POCs in, DTS out.
#[derive(Debug, Default)]
struct Core {
    prev_dts: Option<i64>,
    /// Reorder depth from the SPS.
    sps_reorder: Option<i64>,
    /// Reorder depth in use, and the largest `n - p` seen in the current GOP.
    reorder: i64,
    needed: i64,
    frame_duration: Option<i64>,
    gop: Option<Gop>,
}

impl Core {
    fn reset_sps(&mut self, reorder: Option<u32>) {
        self.sps_reorder = reorder.map(|r| (r as i64).min(MAX_REORDER));
        self.reorder = self.sps_reorder.unwrap_or(0);
        self.needed = 0;
        self.gop = None;
    }

    /// One access unit: `poc` is None when it could not be read; `idr` starts a new GOP.
    fn frame(&mut self, idr: bool, poc: Option<(i64, i64)>, pts: i64) -> i64 {
        let candidate = match poc {
            Some((poc, step)) => self.candidate(idr, poc, step, pts),
            None => {
                if let Some(g) = self.gop.as_mut() {
                    g.n += 1;
                }
                pts
            }
        };
        let min = self.prev_dts.map_or(i64::MIN, |d| d.saturating_add(1));
        let dts = candidate.min(pts).max(min);
        self.prev_dts = Some(dts);
        dts
    }

    fn candidate(&mut self, idr: bool, poc: i64, step: i64, pts: i64) -> i64 {
        if idr || self.gop.is_none() {
            // The next GOP needs the depth the last one needed (or the SPS says).
            self.reorder = self.sps_reorder.unwrap_or(0).max(self.needed);
            self.needed = 0;
            let mut gop = Gop {
                base_pts: pts,
                base_poc: poc,
                n: 0,
                step,
                lo: 0,
                pts: VecDeque::new(),
            };
            gop.set(0, pts);
            self.gop = Some(gop);
        } else if let Some(g) = self.gop.as_mut() {
            g.n += 1;
            let diff = poc - g.base_poc;
            if g.step == 2 && diff % 2 != 0 {
                g.halve_step();
            }
            let p = diff.div_euclid(g.step);
            if p < g.lo || p > g.n + MAX_REORDER * 2 {
                return pts; // nonsense POC: fall back
            }
            g.set(p, pts);
            if p > 0 && pts > g.base_pts {
                self.frame_duration = Some((pts - g.base_pts) / p).filter(|d| *d > 0);
            }
            self.needed = self.needed.max(g.n - p).min(MAX_REORDER);
            self.reorder = self
                .reorder
                .max(self.needed)
                .max(g.pending_bound())
                .min(MAX_REORDER);
        }
        let Some(g) = self.gop.as_ref() else {
            return pts;
        };
        if self.reorder == 0 {
            return pts;
        }
        let q = g.n - self.reorder;
        if let Some(t) = g.get(q) {
            return t;
        }
        match self.frame_duration {
            Some(d) => g.base_pts + q * d,
            None => pts,
        }
    }
}

/// The NAL units of a 4-byte length-prefixed access unit (stops at a bad length).
fn nal_units(au: &[u8]) -> impl Iterator<Item = &[u8]> {
    let mut p = 0;
    std::iter::from_fn(move || {
        let len = au.get(p..p + 4)?;
        let len = u32::from_be_bytes([len[0], len[1], len[2], len[3]]) as usize;
        let nal = au.get(p + 4..(p + 4).checked_add(len)?)?;
        p += 4 + len;
        Some(nal)
    })
}

/// DTS for H.264 access units (POC types 0 and 2; type 1 and field pictures fall back to
/// DTS = PTS, kept monotonic).
#[derive(Debug, Default)]
pub struct H264DtsExtractor {
    sps: Option<h264::Sps>,
    sps_raw: Vec<u8>,
    /// prevPicOrderCntMsb/Lsb of the last reference picture (H.264 8.2.1.1).
    prev_msb: i64,
    prev_lsb: i64,
    core: Core,
}

impl H264DtsExtractor {
    /// An extractor that knows no SPS yet (see [`set_config`](Self::set_config)).
    pub fn new() -> Self {
        Self::default()
    }

    /// Takes the SPS of a decoder configuration (avcC), e.g. the track's or a
    /// [`Frame::config`].
    pub fn set_config(&mut self, avcc: &[u8]) {
        if let Ok((sps, _)) = h264::parameter_sets(avcc) {
            if let Some(s) = sps.first() {
                self.set_sps(s);
            }
        }
    }

    fn set_sps(&mut self, nal: &[u8]) {
        if self.sps_raw == nal {
            return;
        }
        self.sps_raw = nal.to_vec();
        self.sps = h264::Sps::parse(nal);
        let reorder = match &self.sps {
            Some(s) if s.pic_order_cnt_type == 2 => Some(0),
            Some(s) => s.max_num_reorder_frames(),
            None => None,
        };
        self.core.reset_sps(reorder);
    }

    /// The DTS of an access unit (4-byte length-prefixed NAL units) presented at `pts`.
    pub fn extract(&mut self, au: &[u8], pts: i64) -> i64 {
        let mut slice = None;
        for nal in nal_units(au) {
            match nal.first().map(|b| b & 0x1f) {
                Some(h264::NAL_SPS) => self.set_sps(nal),
                Some(h264::NAL_SLICE | h264::NAL_IDR) if slice.is_none() => slice = Some(nal),
                _ => {}
            }
        }
        let (Some(nal), Some(sps)) = (slice, &self.sps) else {
            return self.core.frame(false, None, pts);
        };
        let idr = nal[0] & 0x1f == h264::NAL_IDR;
        let poc = match sps.pic_order_cnt_type {
            2 => None,
            0 => self.poc_type0(nal, idr),
            _ => None,
        };
        self.core.frame(idr, poc.map(|p| (p, 2)), pts)
    }

    /// Like [`extract`](Self::extract), taking a new configuration from the frame first.
    pub fn extract_frame(&mut self, f: &Frame) -> i64 {
        if let Some(c) = &f.config {
            self.set_config(c);
        }
        self.extract(&f.data, f.pts)
    }

    fn poc_type0(&mut self, nal: &[u8], idr: bool) -> Option<i64> {
        let sps = self.sps.as_ref()?;
        let data = rbsp(&nal[..nal.len().min(64)]);
        let mut r = BitReader::new(data.get(1..)?);
        r.ue()?; // first_mb_in_slice
        r.ue()?; // slice_type
        r.ue()?; // pic_parameter_set_id
        if sps.separate_colour_plane {
            r.skip(2)?;
        }
        r.skip(sps.log2_max_frame_num as usize)?;
        if !sps.frame_mbs_only && r.flag()? {
            return None; // field picture
        }
        if idr {
            r.ue()?; // idr_pic_id
        }
        let lsb = r.bits(sps.log2_max_pic_order_cnt_lsb)? as i64;
        let max = 1i64 << sps.log2_max_pic_order_cnt_lsb;
        let (prev_msb, prev_lsb) = if idr {
            (0, 0)
        } else {
            (self.prev_msb, self.prev_lsb)
        };
        let msb = if lsb < prev_lsb && prev_lsb - lsb >= max / 2 {
            prev_msb + max
        } else if lsb > prev_lsb && lsb - prev_lsb > max / 2 {
            prev_msb - max
        } else {
            prev_msb
        };
        if nal[0] & 0x60 != 0 {
            (self.prev_msb, self.prev_lsb) = (msb, lsb);
        }
        Some(msb + lsb)
    }
}

/// DTS for H.265 access units.
#[derive(Debug, Default)]
pub struct H265DtsExtractor {
    sps: Option<h265::Sps>,
    sps_raw: Vec<u8>,
    pps: Vec<h265::Pps>,
    /// prevTid0Pic POC (H.265 8.3.1).
    prev_msb: i64,
    prev_lsb: i64,
    started: bool,
    core: Core,
}

impl H265DtsExtractor {
    /// An extractor that knows no SPS/PPS yet (see [`set_config`](Self::set_config)).
    pub fn new() -> Self {
        Self::default()
    }

    /// Takes the SPS and PPS of a decoder configuration (hvcC).
    pub fn set_config(&mut self, hvcc: &[u8]) {
        if let Ok([_, sps, pps]) = h265::parameter_sets(hvcc) {
            if let Some(s) = sps.first() {
                self.set_sps(s);
            }
            for p in pps {
                self.set_pps(&p);
            }
        }
    }

    fn set_sps(&mut self, nal: &[u8]) {
        if self.sps_raw == nal {
            return;
        }
        self.sps_raw = nal.to_vec();
        self.sps = h265::Sps::parse(nal);
        self.core
            .reset_sps(self.sps.as_ref().map(|s| s.max_num_reorder_pics));
        self.started = false;
    }

    fn set_pps(&mut self, nal: &[u8]) {
        if let Some(p) = h265::Pps::parse(nal) {
            self.pps.retain(|q| q.id != p.id);
            if self.pps.len() < 64 {
                self.pps.push(p);
            }
        }
    }

    /// The DTS of an access unit (4-byte length-prefixed NAL units) presented at `pts`.
    pub fn extract(&mut self, au: &[u8], pts: i64) -> i64 {
        let mut slice = None;
        for nal in nal_units(au) {
            if nal.len() < 3 {
                continue;
            }
            match h265::nal_type(nal[0]) {
                h265::NAL_SPS => self.set_sps(nal),
                h265::NAL_PPS => self.set_pps(nal),
                // The first slice segment of the picture.
                0..=31 if slice.is_none() && nal[2] & 0x80 != 0 => slice = Some(nal),
                _ => {}
            }
        }
        let Some(nal) = slice else {
            return self.core.frame(false, None, pts);
        };
        let typ = h265::nal_type(nal[0]);
        // IDR and BLA pictures (and the first picture) restart POC.
        let reset = (16..=20).contains(&typ) || !self.started;
        let poc = self.poc(nal, typ, reset);
        if poc.is_some() {
            self.started = true;
        }
        self.core.frame(reset, poc.map(|p| (p, 1)), pts)
    }

    /// Like [`extract`](Self::extract), taking a new configuration from the frame first.
    pub fn extract_frame(&mut self, f: &Frame) -> i64 {
        if let Some(c) = &f.config {
            self.set_config(c);
        }
        self.extract(&f.data, f.pts)
    }

    fn poc(&mut self, nal: &[u8], typ: u8, reset: bool) -> Option<i64> {
        let sps = self.sps.as_ref()?;
        if typ == 19 || typ == 20 {
            (self.prev_msb, self.prev_lsb) = (0, 0);
            return Some(0);
        }
        let data = rbsp(&nal[..nal.len().min(64)]);
        let mut r = BitReader::new(data.get(2..)?);
        r.skip(1)?; // first_slice_segment_in_pic_flag
        if (16..=23).contains(&typ) {
            r.skip(1)?; // no_output_of_prior_pics_flag
        }
        let pps_id = r.ue()?;
        let pps = self.pps.iter().find(|p| p.id == pps_id)?;
        r.skip(pps.num_extra_slice_header_bits as usize)?;
        r.ue()?; // slice_type
        if pps.output_flag_present {
            r.skip(1)?;
        }
        if sps.separate_colour_plane {
            r.skip(2)?;
        }
        let lsb = r.bits(sps.log2_max_poc_lsb)? as i64;
        let max = 1i64 << sps.log2_max_poc_lsb;
        let msb = if reset {
            0
        } else if lsb < self.prev_lsb && self.prev_lsb - lsb >= max / 2 {
            self.prev_msb + max
        } else if lsb > self.prev_lsb && lsb - self.prev_lsb > max / 2 {
            self.prev_msb - max
        } else {
            self.prev_msb
        };
        let tid0 = nal[1] & 7 == 1;
        // RADL, RASL and sub-layer non-reference pictures do not update prevTid0Pic.
        let sub_layer_non_ref = typ <= 14 && typ % 2 == 0;
        if tid0 && !(6..=9).contains(&typ) && !sub_layer_non_ref {
            (self.prev_msb, self.prev_lsb) = (msb, lsb);
        }
        Some(msb + lsb)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Frames in decode order as (POC/2, PTS in frames) with 2 B-frames: I0 P3 B1 B2 P6 B4 B5.
    #[test]
    fn core_infers_reorder_depth() {
        let mut c = Core::default();
        c.reset_sps(None);
        let order = [0i64, 3, 1, 2, 6, 4, 5, 9, 7, 8];
        let mut dts = vec![];
        for (i, p) in order.iter().enumerate() {
            let pts = 1000 + p * 3600;
            dts.push(c.frame(i == 0, Some((p * 2, 2)), pts));
        }
        for (i, d) in dts.iter().enumerate() {
            assert!(*d <= 1000 + order[i] * 3600, "frame {i}");
            if i > 0 {
                assert!(*d > dts[i - 1]);
            }
        }
        // The P-frame announces the depth (1): from the first B-frame on, DTS is the PTS
        // of the frame one before in presentation order.
        assert_eq!(&dts[..2], &[1000, 1001]);
        assert_eq!(
            &dts[2..],
            &[4600, 8200, 11800, 15400, 19000, 22600, 26200, 29800]
        );
        // The next GOP starts with the depth learned.
        let d = c.frame(true, Some((0, 2)), 1000 + 10 * 3600);
        assert_eq!(d, 1000 + 9 * 3600);
    }

    #[test]
    fn core_with_known_depth_and_no_reordering() {
        let mut c = Core::default();
        c.reset_sps(Some(1));
        c.frame_duration = Some(3600);
        let order = [0i64, 3, 1, 2];
        let dts: Vec<i64> = order
            .iter()
            .enumerate()
            .map(|(i, p)| c.frame(i == 0, Some((p * 2, 2)), p * 3600))
            .collect();
        assert_eq!(dts, vec![-3600, 0, 3600, 7200]);
        let mut c = Core::default();
        c.reset_sps(Some(0));
        for i in 0..5 {
            assert_eq!(
                c.frame(i == 0, Some((i * 2, 2)), i * 3000 + 7),
                i * 3000 + 7
            );
        }
        // Garbage in: still strictly increasing.
        let mut c = Core::default();
        let mut prev = i64::MIN;
        for (i, poc) in [5i64, -9, 1 << 40, 3, 3, 0, 77].iter().enumerate() {
            let d = c.frame(i % 3 == 0, Some((*poc, 2)), (i as i64 * 7919) % 1000);
            assert!(d > prev);
            prev = d;
        }
    }
}
