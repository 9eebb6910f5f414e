//! `codecProps` of the API's `PathTrack`: what MediaMTX reports for each codec, read from
//! the track's out-of-band configuration (avcC, hvcC, av1C, AudioSpecificConfig).

use ferrocast_codec::bits::{rbsp, BitReader};
use ferrocast_core::{Codec, Track};
use serde::Serialize;

/// One `PathTrackCodecProps` variant; field order follows MediaMTX's structs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(untagged)]
pub(crate) enum CodecProps {
    Av1 {
        width: u32,
        height: u32,
        profile: u32,
        level: u32,
        tier: u32,
    },
    Vp9 {
        profile: u32,
    },
    /// H264 and H265 share a shape.
    Video {
        width: u32,
        height: u32,
        profile: String,
        level: String,
    },
    Opus {
        #[serde(rename = "channelCount")]
        channel_count: u32,
    },
    Mpeg4Audio {
        #[serde(rename = "sampleRate")]
        sample_rate: u32,
        #[serde(rename = "channelCount")]
        channel_count: u32,
    },
}

/// The codec properties MediaMTX shows for a track; `None` (JSON null) for codecs it has
/// none for (VP8, MPEG-1/2 Audio).
pub(crate) fn codec_props(track: &Track) -> Option<CodecProps> {
    match track.codec {
        Codec::H264 => {
            let sps = avcc_sps(&track.config).and_then(|s| parse_h264_sps(&s));
            Some(video_props(sps, h264_profile_string, h264_level_string))
        }
        Codec::H265 => {
            let sps = hvcc_sps(&track.config).and_then(|s| parse_h265_sps(&s));
            Some(video_props(sps, h265_profile_string, h265_level_string))
        }
        Codec::Av1 => {
            // av1C: marker+version, then seq_profile(3) seq_level_idx_0(5), seq_tier_0(1)...
            let c = &track.config;
            let (profile, level, tier) = if c.len() >= 3 && c[0] & 0x80 != 0 {
                (
                    u32::from(c[1] >> 5),
                    u32::from(c[1] & 0x1f),
                    u32::from(c[2] >> 7),
                )
            } else {
                (0, 0, 0)
            };
            Some(CodecProps::Av1 {
                width: 0,
                height: 0,
                profile,
                level,
                tier,
            })
        }
        Codec::Vp9 => {
            // vpcC (full box payload after version/flags): profile is its first byte.
            let profile = if track.config.len() >= 5 {
                u32::from(track.config[4])
            } else {
                0
            };
            Some(CodecProps::Vp9 { profile })
        }
        Codec::Opus => Some(CodecProps::Opus {
            channel_count: u32::from(track.channels),
        }),
        Codec::Aac => {
            let (mut sample_rate, mut channel_count) =
                (track.sample_rate, u32::from(track.channels));
            if sample_rate == 0 || channel_count == 0 {
                if let Some((sr, ch)) = parse_audio_specific_config(&track.config) {
                    if sample_rate == 0 {
                        sample_rate = sr;
                    }
                    if channel_count == 0 {
                        channel_count = ch;
                    }
                }
            }
            Some(CodecProps::Mpeg4Audio {
                sample_rate,
                channel_count,
            })
        }
        _ => None,
    }
}

fn video_props(
    sps: Option<SpsInfo>,
    profile: fn(u8) -> String,
    level: fn(u8) -> String,
) -> CodecProps {
    match sps {
        Some(s) => CodecProps::Video {
            width: s.width,
            height: s.height,
            profile: profile(s.profile_idc),
            level: level(s.level_idc),
        },
        None => CodecProps::Video {
            width: 0,
            height: 0,
            profile: String::new(),
            level: String::new(),
        },
    }
}

fn h264_profile_string(idc: u8) -> String {
    match idc {
        66 => "Baseline".into(),
        77 => "Main".into(),
        88 => "Extended".into(),
        100 => "High".into(),
        110 => "High 10".into(),
        122 => "High 4:2:2".into(),
        244 => "High 4:4:4 Predictive".into(),
        n => n.to_string(),
    }
}

fn h264_level_string(idc: u8) -> String {
    if idc % 10 == 0 {
        format!("{}", idc / 10)
    } else {
        format!("{}.{}", idc / 10, idc % 10)
    }
}

fn h265_profile_string(idc: u8) -> String {
    match idc {
        1 => "Main".into(),
        2 => "Main 10".into(),
        3 => "Main Still Picture".into(),
        4 => "Range Extensions".into(),
        5 => "High Throughput".into(),
        6 => "Multiview Main".into(),
        7 => "Scalable Main".into(),
        8 => "3D Main".into(),
        9 => "Screen Content Coding Extensions".into(),
        10 => "Scalable Range Extensions".into(),
        n => n.to_string(),
    }
}

fn h265_level_string(idc: u8) -> String {
    // level_idc = 30 * level: 90 -> "3", 123 -> "4.1".
    if idc % 30 == 0 {
        format!("{}", idc / 30)
    } else {
        format!("{:.1}", f64::from(idc) / 30.0)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct SpsInfo {
    width: u32,
    height: u32,
    profile_idc: u8,
    level_idc: u8,
}

/// The first SPS of an AVCDecoderConfigurationRecord.
fn avcc_sps(c: &[u8]) -> Option<Vec<u8>> {
    if c.len() < 8 || c[0] != 1 || c[5] & 0x1f == 0 {
        return None;
    }
    let len = usize::from(u16::from_be_bytes([c[6], c[7]]));
    c.get(8..8 + len).map(<[u8]>::to_vec)
}

/// The first SPS (NAL type 33) of an HEVCDecoderConfigurationRecord.
fn hvcc_sps(c: &[u8]) -> Option<Vec<u8>> {
    if c.len() < 23 {
        return None;
    }
    let arrays = c[22];
    let mut pos = 23;
    for _ in 0..arrays {
        let nal_type = c.get(pos)? & 0x3f;
        let count = u16::from_be_bytes([*c.get(pos + 1)?, *c.get(pos + 2)?]);
        pos += 3;
        for _ in 0..count {
            let len = usize::from(u16::from_be_bytes([*c.get(pos)?, *c.get(pos + 1)?]));
            pos += 2;
            let nal = c.get(pos..pos + len)?;
            if nal_type == 33 {
                return Some(nal.to_vec());
            }
            pos += len;
        }
    }
    None
}

fn parse_h264_sps(nal: &[u8]) -> Option<SpsInfo> {
    let s = ferrocast_codec::h264::Sps::parse(nal)?;
    Some(SpsInfo {
        width: s.width,
        height: s.height,
        profile_idc: s.profile_idc,
        level_idc: s.level_idc,
    })
}

fn parse_h265_sps(nal: &[u8]) -> Option<SpsInfo> {
    let data = rbsp(nal);
    let mut r = BitReader::new(data.get(2..)?); // skip the 2-byte NAL header
    r.skip(4)?; // sps_video_parameter_set_id
    let max_sub_layers_minus1 = r.bits(3)?;
    r.skip(1)?; // sps_temporal_id_nesting_flag
                // profile_tier_level(1, max_sub_layers_minus1)
    r.skip(2 + 1)?; // general_profile_space, general_tier_flag
    let profile_idc = r.bits(5)? as u8;
    r.skip(32 + 48)?; // compatibility flags, constraint flags
    let level_idc = r.bits(8)? as u8;
    let mut sub_profile = [false; 8];
    let mut sub_level = [false; 8];
    for i in 0..max_sub_layers_minus1 as usize {
        sub_profile[i] = r.bit()? == 1;
        sub_level[i] = r.bit()? == 1;
    }
    if max_sub_layers_minus1 > 0 {
        for _ in max_sub_layers_minus1..8 {
            r.skip(2)?;
        }
    }
    for i in 0..max_sub_layers_minus1 as usize {
        if sub_profile[i] {
            r.skip(88)?;
        }
        if sub_level[i] {
            r.skip(8)?;
        }
    }
    r.ue()?; // sps_seq_parameter_set_id
    let chroma_format_idc = r.ue()?;
    if chroma_format_idc == 3 {
        r.skip(1)?; // separate_colour_plane_flag
    }
    let mut width = r.ue()?;
    let mut height = r.ue()?;
    if r.bit()? == 1 {
        let left = r.ue()?;
        let right = r.ue()?;
        let top = r.ue()?;
        let bottom = r.ue()?;
        let sub_width_c = if chroma_format_idc == 1 || chroma_format_idc == 2 {
            2
        } else {
            1
        };
        let sub_height_c = if chroma_format_idc == 1 { 2 } else { 1 };
        width = width.checked_sub(sub_width_c * (left + right))?;
        height = height.checked_sub(sub_height_c * (top + bottom))?;
    }
    Some(SpsInfo {
        width,
        height,
        profile_idc,
        level_idc,
    })
}

/// Sample rate and channel count of an AudioSpecificConfig.
fn parse_audio_specific_config(c: &[u8]) -> Option<(u32, u32)> {
    const RATES: [u32; 13] = [
        96000, 88200, 64000, 48000, 44100, 32000, 24000, 22050, 16000, 12000, 11025, 8000, 7350,
    ];
    let mut r = BitReader::new(c);
    let object_type = r.bits(5)?;
    if object_type == 31 {
        r.skip(6)?;
    }
    let index = r.bits(4)?;
    let rate = if index == 15 {
        r.bits(24)?
    } else {
        *RATES.get(index as usize)?
    };
    let channel_config = r.bits(4)?;
    let channels = match channel_config {
        7 => 8,
        n => n,
    };
    Some((rate, channels))
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::Bytes;

    fn track(codec: Codec, config: &[u8]) -> Track {
        Track {
            codec,
            clock_rate: 90000,
            config: Bytes::copy_from_slice(config),
            sample_rate: 0,
            channels: 0,
        }
    }

    // x264 1280x720 High@3.1 SPS.
    const SPS_720P: &[u8] = &[
        0x67, 0x64, 0x00, 0x1f, 0xac, 0xd9, 0x40, 0x50, 0x05, 0xbb, 0x01, 0x6c, 0x80, 0x00, 0x00,
        0x03, 0x00, 0x80, 0x00, 0x00, 0x1e, 0x07, 0x8c, 0x18, 0xcb,
    ];

    #[test]
    fn h264_from_avcc() {
        let mut avcc = vec![1, 0x64, 0x00, 0x1f, 0xff, 0xe1];
        avcc.extend_from_slice(&(SPS_720P.len() as u16).to_be_bytes());
        avcc.extend_from_slice(SPS_720P);
        avcc.extend_from_slice(&[1, 0, 4, 0x68, 0xeb, 0xe3, 0xcb]);
        let p = codec_props(&track(Codec::H264, &avcc)).unwrap();
        assert_eq!(
            p,
            CodecProps::Video {
                width: 1280,
                height: 720,
                profile: "High".into(),
                level: "3.1".into()
            }
        );
    }

    #[test]
    fn h264_1080_cropping() {
        // Baseline 1920x1080 (1088 coded, cropped by 8 lines).
        let sps = [
            0x67, 0x42, 0xc0, 0x28, 0xd9, 0x00, 0x78, 0x02, 0x27, 0xe5, 0x84, 0x00, 0x00, 0x03,
            0x00, 0x04, 0x00, 0x00, 0x03, 0x00, 0xf0, 0x3c, 0x60, 0xc9, 0x20,
        ];
        let info = parse_h264_sps(&sps).unwrap();
        assert_eq!((info.width, info.height), (1920, 1080));
        assert_eq!(h264_profile_string(info.profile_idc), "Baseline");
        assert_eq!(h264_level_string(info.level_idc), "4");
    }

    #[test]
    fn h265_from_hvcc() {
        // 1920x1080 Main@4.1 SPS (x265).
        let sps = [
            0x42, 0x01, 0x01, 0x01, 0x60, 0x00, 0x00, 0x03, 0x00, 0x90, 0x00, 0x00, 0x03, 0x00,
            0x00, 0x03, 0x00, 0x7b, 0xa0, 0x03, 0xc0, 0x80, 0x10, 0xe5, 0x96, 0x66, 0x69, 0x24,
            0xca, 0xe0, 0x10, 0x00, 0x00, 0x03, 0x00, 0x10, 0x00, 0x00, 0x03, 0x01, 0xe0, 0x80,
        ];
        let mut hvcc = vec![0u8; 23];
        hvcc[0] = 1;
        hvcc[22] = 1;
        hvcc.extend_from_slice(&[0x80 | 33, 0, 1]);
        hvcc.extend_from_slice(&(sps.len() as u16).to_be_bytes());
        hvcc.extend_from_slice(&sps);
        let p = codec_props(&track(Codec::H265, &hvcc)).unwrap();
        assert_eq!(
            p,
            CodecProps::Video {
                width: 1920,
                height: 1080,
                profile: "Main".into(),
                level: "4.1".into()
            }
        );
    }

    #[test]
    fn missing_config_gives_zero_props() {
        let p = codec_props(&track(Codec::H264, &[])).unwrap();
        assert_eq!(
            serde_json::to_value(&p).unwrap(),
            serde_json::json!({"width":0,"height":0,"profile":"","level":""})
        );
        assert!(codec_props(&track(Codec::Vp8, &[])).is_none());
        assert!(codec_props(&track(Codec::Mp3, &[])).is_none());
    }

    #[test]
    fn aac_from_asc_and_fields() {
        let p = codec_props(&track(Codec::Aac, &[0x12, 0x10])).unwrap();
        assert_eq!(
            serde_json::to_value(&p).unwrap(),
            serde_json::json!({"sampleRate":44100,"channelCount":2})
        );
        let mut t = track(Codec::Aac, &[]);
        t.sample_rate = 48000;
        t.channels = 1;
        assert_eq!(
            serde_json::to_value(codec_props(&t).unwrap()).unwrap(),
            serde_json::json!({"sampleRate":48000,"channelCount":1})
        );
    }

    #[test]
    fn av1_and_opus() {
        let p = codec_props(&track(Codec::Av1, &[0x81, 0x08, 0x0c, 0x00])).unwrap();
        assert_eq!(
            serde_json::to_value(&p).unwrap(),
            serde_json::json!({"width":0,"height":0,"profile":0,"level":8,"tier":0})
        );
        let mut t = track(Codec::Opus, &[]);
        t.channels = 2;
        assert_eq!(
            serde_json::to_value(codec_props(&t).unwrap()).unwrap(),
            serde_json::json!({"channelCount":2})
        );
    }

    #[test]
    fn h265_levels() {
        assert_eq!(h265_level_string(90), "3");
        assert_eq!(h265_level_string(123), "4.1");
        assert_eq!(h265_level_string(153), "5.1");
    }
}
