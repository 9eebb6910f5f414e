//! FLV audio/video tag bodies (the payload of RTMP audio/video messages), legacy and
//! Enhanced RTMP (v1/v2 FourCC headers), and the FLV file container.

use bytes::{BufMut, Bytes, BytesMut};

use crate::{need, CodecError};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum VideoCodec {
    Avc,
    Hevc,
    Av1,
    Vp9,
}

impl VideoCodec {
    fn fourcc(self) -> &'static [u8; 4] {
        match self {
            VideoCodec::Avc => b"avc1",
            VideoCodec::Hevc => b"hvc1",
            VideoCodec::Av1 => b"av01",
            VideoCodec::Vp9 => b"vp09",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum VideoPacket {
    /// Decoder configuration (avcC/hvcC/av1C/vpcC).
    SequenceStart(Bytes),
    /// Coded frames; `cts` = PTS - DTS in milliseconds.
    Frames {
        cts: i32,
        data: Bytes,
    },
    SequenceEnd,
    /// Anything else a server passes over (metadata, command frames).
    Other,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VideoTag {
    pub codec: VideoCodec,
    pub keyframe: bool,
    pub packet: VideoPacket,
}

fn si24(b: &[u8]) -> i32 {
    let v = ((b[0] as i32) << 16) | ((b[1] as i32) << 8) | b[2] as i32;
    (v << 8) >> 8
}

/// Parses a video tag body. `data` shares the input buffer.
pub fn parse_video(body: &Bytes) -> Result<VideoTag, CodecError> {
    need("FLV video tag", body, 1)?;
    let b0 = body[0];
    if b0 & 0x80 != 0 {
        // Enhanced RTMP: [1 | FrameType(3) | PacketType(4)] FourCC ...
        let frame_type = (b0 >> 4) & 7;
        let packet_type = b0 & 0x0f;
        need("enhanced video tag", body, 5)?;
        let codec = match &body[1..5] {
            b"avc1" => VideoCodec::Avc,
            b"hvc1" => VideoCodec::Hevc,
            b"av01" => VideoCodec::Av1,
            b"vp09" => VideoCodec::Vp9,
            other => {
                return Err(CodecError::Unsupported(format!(
                    "video FourCC {:?}",
                    String::from_utf8_lossy(other)
                )))
            }
        };
        let packet = match packet_type {
            0 => VideoPacket::SequenceStart(body.slice(5..)),
            1 if matches!(codec, VideoCodec::Avc | VideoCodec::Hevc) => {
                need("enhanced video CodedFrames", body, 8)?;
                VideoPacket::Frames {
                    cts: si24(&body[5..8]),
                    data: body.slice(8..),
                }
            }
            1 | 3 => VideoPacket::Frames {
                cts: 0,
                data: body.slice(5..),
            },
            2 => VideoPacket::SequenceEnd,
            6 => {
                return Err(CodecError::Unsupported(
                    "enhanced RTMP multitrack video".into(),
                ))
            }
            _ => VideoPacket::Other,
        };
        return Ok(VideoTag {
            codec,
            keyframe: frame_type == 1,
            packet,
        });
    }
    let frame_type = b0 >> 4;
    let codec = match b0 & 0x0f {
        7 => VideoCodec::Avc,
        12 => VideoCodec::Hevc, // legacy non-standard HEVC id used by several encoders
        id => return Err(CodecError::Unsupported(format!("FLV video codec id {id}"))),
    };
    if frame_type == 5 {
        return Ok(VideoTag {
            codec,
            keyframe: false,
            packet: VideoPacket::Other,
        });
    }
    need("AVC video tag", body, 5)?;
    let packet = match body[1] {
        0 => VideoPacket::SequenceStart(body.slice(5..)),
        1 => VideoPacket::Frames {
            cts: si24(&body[2..5]),
            data: body.slice(5..),
        },
        2 => VideoPacket::SequenceEnd,
        t => return Err(CodecError::Invalid(format!("AVCPacketType {t}"))),
    };
    Ok(VideoTag {
        codec,
        keyframe: frame_type == 1,
        packet,
    })
}

/// Writes a video tag header for `codec`; the caller appends the payload.
/// Uses the legacy header for AVC (every player knows it) and Enhanced RTMP otherwise.
pub fn video_header(codec: VideoCodec, keyframe: bool, seq_start: bool, cts: i32) -> BytesMut {
    let mut b = BytesMut::with_capacity(8);
    let ft: u8 = if keyframe || seq_start { 1 } else { 2 };
    if codec == VideoCodec::Avc {
        b.put_u8(ft << 4 | 7);
        b.put_u8(if seq_start { 0 } else { 1 });
        put_si24(&mut b, if seq_start { 0 } else { cts });
    } else {
        let with_cts = !seq_start && codec == VideoCodec::Hevc && cts != 0;
        let pt = if seq_start {
            0
        } else if with_cts {
            1
        } else {
            3
        };
        b.put_u8(0x80 | ft << 4 | pt);
        b.put_slice(codec.fourcc());
        if with_cts {
            put_si24(&mut b, cts);
        }
    }
    b
}

fn put_si24(b: &mut BytesMut, v: i32) {
    let v = v.clamp(-(1 << 23), (1 << 23) - 1) as u32;
    b.put_slice(&[(v >> 16) as u8, (v >> 8) as u8, v as u8]);
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AudioCodec {
    Aac,
    Opus,
    Mp3,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AudioPacket {
    /// AudioSpecificConfig (AAC) or OpusHead (Opus, may be empty).
    SequenceStart(Bytes),
    Frame(Bytes),
    Other,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AudioTag {
    pub codec: AudioCodec,
    pub packet: AudioPacket,
}

/// Parses an audio tag body.
pub fn parse_audio(body: &Bytes) -> Result<AudioTag, CodecError> {
    need("FLV audio tag", body, 1)?;
    let b0 = body[0];
    match b0 >> 4 {
        10 => {
            need("AAC audio tag", body, 2)?;
            let packet = match body[1] {
                0 => AudioPacket::SequenceStart(body.slice(2..)),
                1 => AudioPacket::Frame(body.slice(2..)),
                t => return Err(CodecError::Invalid(format!("AACPacketType {t}"))),
            };
            Ok(AudioTag {
                codec: AudioCodec::Aac,
                packet,
            })
        }
        2 => Ok(AudioTag {
            codec: AudioCodec::Mp3,
            packet: AudioPacket::Frame(body.slice(1..)),
        }),
        9 => {
            // Enhanced RTMP v2: [9 | AudioPacketType(4)] FourCC ...
            need("enhanced audio tag", body, 5)?;
            let codec = match &body[1..5] {
                b"Opus" => AudioCodec::Opus,
                b"mp4a" => AudioCodec::Aac,
                b".mp3" => AudioCodec::Mp3,
                other => {
                    return Err(CodecError::Unsupported(format!(
                        "audio FourCC {:?}",
                        String::from_utf8_lossy(other)
                    )))
                }
            };
            let packet = match b0 & 0x0f {
                0 => AudioPacket::SequenceStart(body.slice(5..)),
                1 => AudioPacket::Frame(body.slice(5..)),
                5 => {
                    return Err(CodecError::Unsupported(
                        "enhanced RTMP multitrack audio".into(),
                    ))
                }
                _ => AudioPacket::Other,
            };
            Ok(AudioTag { codec, packet })
        }
        f => Err(CodecError::Unsupported(format!("FLV sound format {f}"))),
    }
}

/// Writes an audio tag header; the caller appends the payload.
pub fn audio_header(codec: AudioCodec, seq_start: bool) -> BytesMut {
    let mut b = BytesMut::with_capacity(5);
    match codec {
        AudioCodec::Aac => {
            b.put_u8(0xaf);
            b.put_u8(if seq_start { 0 } else { 1 });
        }
        AudioCodec::Mp3 => b.put_u8(0x2f),
        AudioCodec::Opus => {
            b.put_u8(0x90 | if seq_start { 0 } else { 1 });
            b.put_slice(b"Opus");
        }
    }
    b
}

/// One tag of an FLV file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileTag {
    /// 8 audio, 9 video, 18 script data.
    pub tag_type: u8,
    pub timestamp: u32,
    pub body: Bytes,
}

/// Reads the tags of a whole FLV file (E.4 of the FLV specification).
pub fn read_file(data: &Bytes) -> Result<Vec<FileTag>, CodecError> {
    need("FLV header", data, 9)?;
    if &data[0..3] != b"FLV" {
        return Err(CodecError::Invalid("not an FLV file".into()));
    }
    let header_len = u32::from_be_bytes([data[5], data[6], data[7], data[8]]) as usize;
    let mut p = header_len + 4;
    let mut tags = vec![];
    while p + 11 <= data.len() {
        let h = &data[p..p + 11];
        let size = ((h[1] as usize) << 16) | ((h[2] as usize) << 8) | h[3] as usize;
        let ts = ((h[7] as u32) << 24) | ((h[4] as u32) << 16) | ((h[5] as u32) << 8) | h[6] as u32;
        let start = p + 11;
        if start + size > data.len() {
            break; // truncated last tag
        }
        tags.push(FileTag {
            tag_type: h[0] & 0x1f,
            timestamp: ts,
            body: data.slice(start..start + size),
        });
        p = start + size + 4;
    }
    Ok(tags)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn avc_round_trip() {
        let mut b = video_header(VideoCodec::Avc, true, false, -40);
        b.put_slice(&[0, 0, 0, 1, 0x65]);
        let tag = parse_video(&b.freeze()).unwrap();
        assert_eq!(tag.codec, VideoCodec::Avc);
        assert!(tag.keyframe);
        assert_eq!(
            tag.packet,
            VideoPacket::Frames {
                cts: -40,
                data: Bytes::from_static(&[0, 0, 0, 1, 0x65])
            }
        );
    }

    #[test]
    fn enhanced_hevc_and_av1() {
        let mut b = video_header(VideoCodec::Hevc, false, false, 33);
        b.put_slice(b"xx");
        let tag = parse_video(&b.freeze()).unwrap();
        assert_eq!(tag.codec, VideoCodec::Hevc);
        assert!(!tag.keyframe);
        assert_eq!(
            tag.packet,
            VideoPacket::Frames {
                cts: 33,
                data: Bytes::from_static(b"xx")
            }
        );
        let mut b = video_header(VideoCodec::Av1, true, true, 0);
        b.put_slice(b"cfg");
        let tag = parse_video(&b.freeze()).unwrap();
        assert_eq!(tag.codec, VideoCodec::Av1);
        assert_eq!(
            tag.packet,
            VideoPacket::SequenceStart(Bytes::from_static(b"cfg"))
        );
    }

    #[test]
    fn audio() {
        let t = parse_audio(&Bytes::from_static(&[0xaf, 0, 0x11, 0x90])).unwrap();
        assert_eq!(
            t.packet,
            AudioPacket::SequenceStart(Bytes::from_static(&[0x11, 0x90]))
        );
        let mut b = audio_header(AudioCodec::Opus, false);
        b.put_slice(b"op");
        let t = parse_audio(&b.freeze()).unwrap();
        assert_eq!(t.codec, AudioCodec::Opus);
        assert_eq!(t.packet, AudioPacket::Frame(Bytes::from_static(b"op")));
    }

    #[test]
    fn malformed_never_panics() {
        for body in [
            &[][..],
            &[0x17],
            &[0x17, 1, 0],
            &[0x90, b'x'],
            &[0xaf],
            &[0x80, b'a', b'v'],
            &[0x91, b'a', b'v', b'c', b'1'],
            &[0x60, 0, 0, 0, 0],
        ] {
            let b = Bytes::copy_from_slice(body);
            let _ = parse_video(&b);
            let _ = parse_audio(&b);
        }
        assert!(read_file(&Bytes::from_static(b"FLV")).is_err());
    }
}
