//! H.264 sequence parameter sets (ITU-T H.264 7.3.2.1.1 and E.1.1): the fields the server
//! needs for the API (size, profile, level), for timestamps (POC type, frame_num and POC
//! lengths) and for decoders that must know the reorder depth (VUI bitstream restriction).

use crate::bits::{rbsp, BitReader};

/// NAL unit types (Table 7-1).
pub const NAL_SLICE: u8 = 1;
pub const NAL_IDR: u8 = 5;
pub const NAL_SEI: u8 = 6;
pub const NAL_SPS: u8 = 7;
pub const NAL_PPS: u8 = 8;
pub const NAL_AUD: u8 = 9;
pub const NAL_END_OF_SEQUENCE: u8 = 10;

#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Sps {
    pub profile_idc: u8,
    pub constraint_flags: u8,
    pub level_idc: u8,
    pub seq_parameter_set_id: u32,
    pub chroma_format_idc: u32,
    pub bit_depth_luma_minus8: u32,
    pub bit_depth_chroma_minus8: u32,
    pub separate_colour_plane: bool,
    pub log2_max_frame_num: u32,
    pub pic_order_cnt_type: u32,
    pub log2_max_pic_order_cnt_lsb: u32,
    pub delta_pic_order_always_zero: bool,
    pub offset_for_non_ref_pic: i32,
    pub offset_for_top_to_bottom_field: i32,
    pub offsets_for_ref_frame: Vec<i32>,
    pub max_num_ref_frames: u32,
    pub frame_mbs_only: bool,
    /// Displayed size after cropping.
    pub width: u32,
    pub height: u32,
    /// VUI timing: `time_scale / (2 * num_units_in_tick)` frames per second.
    pub timing: Option<(u32, u32)>,
    /// VUI bitstream restriction: (max_num_reorder_frames, max_dec_frame_buffering).
    /// `None` when the SPS does not say (decoders then guess the reorder depth).
    pub reorder: Option<(u32, u32)>,
}

impl Sps {
    /// Parses an SPS NAL unit (with its one-byte header). `None` when it is truncated or
    /// out of range.
    pub fn parse(nal: &[u8]) -> Option<Sps> {
        let data = rbsp(nal);
        let mut r = BitReader::new(data.get(1..)?);
        let mut s = Sps {
            profile_idc: r.bits(8)? as u8,
            constraint_flags: r.bits(8)? as u8,
            level_idc: r.bits(8)? as u8,
            seq_parameter_set_id: r.ue()?,
            chroma_format_idc: 1,
            ..Sps::default()
        };
        if s.seq_parameter_set_id > 31 {
            return None;
        }
        if matches!(
            s.profile_idc,
            100 | 110 | 122 | 244 | 44 | 83 | 86 | 118 | 128 | 138 | 139 | 134 | 135
        ) {
            s.chroma_format_idc = r.ue()?;
            if s.chroma_format_idc > 3 {
                return None;
            }
            if s.chroma_format_idc == 3 {
                s.separate_colour_plane = r.flag()?;
            }
            s.bit_depth_luma_minus8 = r.ue()?;
            s.bit_depth_chroma_minus8 = r.ue()?;
            if s.bit_depth_luma_minus8 > 6 || s.bit_depth_chroma_minus8 > 6 {
                return None;
            }
            r.skip(1)?; // qpprime_y_zero_transform_bypass_flag
            if r.flag()? {
                let lists = if s.chroma_format_idc != 3 { 8 } else { 12 };
                for i in 0..lists {
                    if r.flag()? {
                        skip_scaling_list(&mut r, if i < 6 { 16 } else { 64 })?;
                    }
                }
            }
        }
        s.log2_max_frame_num = r.ue()?.checked_add(4).filter(|v| *v <= 16)?;
        s.pic_order_cnt_type = r.ue()?;
        match s.pic_order_cnt_type {
            0 => {
                s.log2_max_pic_order_cnt_lsb = r.ue()?.checked_add(4).filter(|v| *v <= 16)?;
            }
            1 => {
                s.delta_pic_order_always_zero = r.flag()?;
                s.offset_for_non_ref_pic = r.se()?;
                s.offset_for_top_to_bottom_field = r.se()?;
                let n = r.ue()?;
                if n > 255 {
                    return None;
                }
                for _ in 0..n {
                    s.offsets_for_ref_frame.push(r.se()?);
                }
            }
            2 => {}
            _ => return None,
        }
        s.max_num_ref_frames = r.ue()?;
        r.skip(1)?; // gaps_in_frame_num_value_allowed_flag
        let width_mbs = r.ue()?.checked_add(1)?;
        let height_map_units = r.ue()?.checked_add(1)?;
        s.frame_mbs_only = r.flag()?;
        if !s.frame_mbs_only {
            r.skip(1)?; // mb_adaptive_frame_field_flag
        }
        r.skip(1)?; // direct_8x8_inference_flag
        let (mut left, mut right, mut top, mut bottom) = (0u32, 0u32, 0u32, 0u32);
        if r.flag()? {
            left = r.ue()?;
            right = r.ue()?;
            top = r.ue()?;
            bottom = r.ue()?;
        }
        let fmo = u32::from(!s.frame_mbs_only);
        let chroma_array_type = if s.separate_colour_plane {
            0
        } else {
            s.chroma_format_idc
        };
        let (crop_x, crop_y) = if chroma_array_type == 0 {
            (1, 2 - (1 - fmo))
        } else {
            let sub_width_c = if s.chroma_format_idc == 3 { 1 } else { 2 };
            let sub_height_c = if s.chroma_format_idc == 1 { 2 } else { 1 };
            (sub_width_c, sub_height_c * (1 + fmo))
        };
        s.width = width_mbs
            .checked_mul(16)?
            .checked_sub(crop_x * left.checked_add(right)?)?;
        s.height = ((1 + fmo) * height_map_units)
            .checked_mul(16)?
            .checked_sub(crop_y * top.checked_add(bottom)?)?;
        // The VUI is optional for the fields above: a truncated one leaves them valid.
        if r.flag() == Some(true) {
            let mut v = r.clone();
            if let Some((timing, reorder)) = parse_vui(&mut v) {
                s.timing = timing;
                s.reorder = reorder;
            }
        }
        Some(s)
    }

    /// Frames a decoder holds back before output; 0 when the stream has no reordering.
    /// Without a VUI bitstream restriction, H.264 allows the DPB size; decoders usually
    /// guess, so this returns `None` then (also for values above the DPB limit of 16).
    pub fn max_num_reorder_frames(&self) -> Option<u32> {
        self.reorder.map(|(n, _)| n).filter(|n| *n <= 16)
    }
}

fn skip_scaling_list(r: &mut BitReader<'_>, size: usize) -> Option<()> {
    let (mut last, mut next) = (8i32, 8i32);
    for _ in 0..size {
        if next != 0 {
            let delta = r.se()?;
            next = (last + delta).rem_euclid(256);
        }
        if next != 0 {
            last = next;
        }
    }
    Some(())
}

type Vui = (Option<(u32, u32)>, Option<(u32, u32)>);

fn parse_vui(r: &mut BitReader<'_>) -> Option<Vui> {
    if r.flag()? {
        // aspect_ratio_info_present_flag
        if r.bits(8)? == 255 {
            r.skip(32)?; // sar_width, sar_height
        }
    }
    if r.flag()? {
        r.skip(1)?; // overscan_appropriate_flag
    }
    if r.flag()? {
        // video_signal_type_present_flag
        r.skip(4)?; // video_format, video_full_range_flag
        if r.flag()? {
            r.skip(24)?; // colour description
        }
    }
    if r.flag()? {
        r.ue()?; // chroma_sample_loc_type_top_field
        r.ue()?;
    }
    let mut timing = None;
    if r.flag()? {
        let num_units_in_tick = r.bits(32)?;
        let time_scale = r.bits(32)?;
        r.skip(1)?; // fixed_frame_rate_flag
        timing = Some((num_units_in_tick, time_scale));
    }
    let nal_hrd = r.flag()?;
    if nal_hrd {
        skip_hrd(r)?;
    }
    let vcl_hrd = r.flag()?;
    if vcl_hrd {
        skip_hrd(r)?;
    }
    if nal_hrd || vcl_hrd {
        r.skip(1)?; // low_delay_hrd_flag
    }
    r.skip(1)?; // pic_struct_present_flag
    let mut reorder = None;
    if r.flag()? {
        r.skip(1)?; // motion_vectors_over_pic_boundaries_flag
        r.ue()?; // max_bytes_per_pic_denom
        r.ue()?; // max_bits_per_mb_denom
        r.ue()?; // log2_max_mv_length_horizontal
        r.ue()?; // log2_max_mv_length_vertical
        let max_num_reorder_frames = r.ue()?;
        let max_dec_frame_buffering = r.ue()?;
        reorder = Some((max_num_reorder_frames, max_dec_frame_buffering));
    }
    Some((timing, reorder))
}

fn skip_hrd(r: &mut BitReader<'_>) -> Option<()> {
    let cpb_cnt = r.ue()?.checked_add(1).filter(|n| *n <= 32)?;
    r.skip(8)?; // bit_rate_scale, cpb_size_scale
    for _ in 0..cpb_cnt {
        r.ue()?; // bit_rate_value_minus1
        r.ue()?; // cpb_size_value_minus1
        r.skip(1)?; // cbr_flag
    }
    r.skip(20) // four 5-bit lengths
}

#[cfg(test)]
mod tests {
    use super::*;

    /// x264 (`-preset veryfast -bf 2`, 320x240): VUI with a bitstream restriction.
    const X264_BF2: &[u8] = &[
        0x67, 0x64, 0x00, 0x0d, 0xac, 0xd9, 0x41, 0x41, 0xfb, 0x01, 0x10, 0x00, 0x00, 0x03, 0x00,
        0x10, 0x00, 0x00, 0x03, 0x03, 0xc0, 0xf1, 0x42, 0x99, 0x60,
    ];

    #[test]
    fn x264_sps_with_reorder() {
        let s = Sps::parse(X264_BF2).expect("parses");
        assert_eq!((s.width, s.height), (320, 240));
        assert_eq!((s.profile_idc, s.level_idc), (100, 13));
        assert_eq!(s.pic_order_cnt_type, 0);
        assert_eq!(s.max_num_reorder_frames(), Some(2));
        assert!(s.frame_mbs_only);
    }

    #[test]
    fn truncated_sps_is_none_not_a_panic() {
        for n in 0..X264_BF2.len() {
            let _ = Sps::parse(&X264_BF2[..n]);
        }
        assert_eq!(Sps::parse(&[0x67]), None);
    }
}
