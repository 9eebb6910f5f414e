//! Units -> RTMP messages for players. Each unit's chunked form is computed once and
//! shared by every RTMP reader through the unit's egress cache.

use bytes::{BufMut, Bytes, BytesMut};
use ferrocast_codec::flv::{self, AudioCodec, VideoCodec};
use ferrocast_core::{rescale, Codec, EgressFormat, Track, Unit};

use crate::amf0::{self, Amf0};
use crate::chunk::{self, MSG_AUDIO, MSG_DATA_AMF0, MSG_VIDEO};
use crate::session::{CSID_AUDIO, CSID_DATA, CSID_VIDEO, OUT_CHUNK_SIZE};

/// The message stream id every player gets from our createStream (the first one).
pub const SHARED_STREAM_ID: u32 = 1;

fn video_codec(c: Codec) -> Option<VideoCodec> {
    match c {
        Codec::H264 => Some(VideoCodec::Avc),
        Codec::H265 => Some(VideoCodec::Hevc),
        Codec::Av1 => Some(VideoCodec::Av1),
        Codec::Vp9 => Some(VideoCodec::Vp9),
        _ => None,
    }
}

fn audio_codec(c: Codec) -> Option<AudioCodec> {
    match c {
        Codec::Aac => Some(AudioCodec::Aac),
        Codec::Opus => Some(AudioCodec::Opus),
        Codec::Mp3 => Some(AudioCodec::Mp3),
        _ => None,
    }
}

/// Whether RTMP can carry a track.
pub fn supported(t: &Track) -> bool {
    video_codec(t.codec).is_some() || audio_codec(t.codec).is_some()
}

fn ms(v: i64, clock: u32) -> u32 {
    rescale(v, clock, 1000) as u32
}

/// onMetaData and sequence headers for `tracks`; sequence headers are stamped `ts` ms.
pub fn headers(out: &mut BytesMut, tracks: &[Track], stream_id: u32, ts: u32) {
    let mut meta = vec![("duration".to_string(), Amf0::Number(0.0))];
    for t in tracks {
        if let Some(c) = video_codec(t.codec) {
            let id = match c {
                VideoCodec::Avc => 7.0,
                VideoCodec::Hevc => u32::from_be_bytes(*b"hvc1") as f64,
                VideoCodec::Av1 => u32::from_be_bytes(*b"av01") as f64,
                VideoCodec::Vp9 => u32::from_be_bytes(*b"vp09") as f64,
            };
            meta.push(("videocodecid".into(), Amf0::Number(id)));
        } else if let Some(c) = audio_codec(t.codec) {
            let id = match c {
                AudioCodec::Aac => 10.0,
                AudioCodec::Mp3 => 2.0,
                AudioCodec::Opus => u32::from_be_bytes(*b"Opus") as f64,
            };
            meta.push(("audiocodecid".into(), Amf0::Number(id)));
            meta.push(("audiosamplerate".into(), Amf0::Number(t.sample_rate as f64)));
            meta.push(("stereo".into(), Amf0::Boolean(t.channels >= 2)));
        }
    }
    // Timestamp 0: ffmpeg turns script data with another timestamp into a data stream.
    let p = amf0::encode_all(&[Amf0::str("onMetaData"), Amf0::EcmaArray(meta)]);
    chunk::encode(
        out,
        CSID_DATA,
        0,
        MSG_DATA_AMF0,
        stream_id,
        &p,
        OUT_CHUNK_SIZE,
    );
    for t in tracks {
        if let Some(c) = video_codec(t.codec) {
            let mut b = flv::video_header(c, true, true, 0);
            b.put_slice(&t.config);
            chunk::encode(
                out,
                CSID_VIDEO,
                ts,
                MSG_VIDEO,
                stream_id,
                &b,
                OUT_CHUNK_SIZE,
            );
        } else if let Some(c) = audio_codec(t.codec) {
            if c == AudioCodec::Mp3 || (c == AudioCodec::Opus && t.config.is_empty()) {
                continue;
            }
            let mut b = flv::audio_header(c, true);
            b.put_slice(&t.config);
            chunk::encode(
                out,
                CSID_AUDIO,
                ts,
                MSG_AUDIO,
                stream_id,
                &b,
                OUT_CHUNK_SIZE,
            );
        }
    }
}

/// Timestamp in ms that a unit has on RTMP.
pub fn unit_ms(unit: &Unit, track: &Track) -> u32 {
    ms(unit.dts, track.clock_rate)
}

fn encode_unit(unit: &Unit, track: &Track, stream_id: u32) -> Bytes {
    let ts = ms(unit.dts, track.clock_rate);
    let mut out = BytesMut::new();
    if let Some(c) = video_codec(track.codec) {
        let cts = ms(unit.pts, track.clock_rate).wrapping_sub(ts) as i32;
        let mut b = flv::video_header(c, unit.key, false, cts);
        b.put_slice(&unit.data);
        chunk::encode(
            &mut out,
            CSID_VIDEO,
            ts,
            MSG_VIDEO,
            stream_id,
            &b,
            OUT_CHUNK_SIZE,
        );
    } else if let Some(c) = audio_codec(track.codec) {
        let mut b = flv::audio_header(c, false);
        b.put_slice(&unit.data);
        chunk::encode(
            &mut out,
            CSID_AUDIO,
            ts,
            MSG_AUDIO,
            stream_id,
            &b,
            OUT_CHUNK_SIZE,
        );
    }
    out.freeze()
}

/// The chunked RTMP message of a unit, shared between readers on the usual stream id.
pub fn unit_bytes(unit: &Unit, track: &Track, stream_id: u32) -> Bytes {
    if stream_id == SHARED_STREAM_ID {
        unit.egress
            .get_or_init(EgressFormat::Rtmp, || encode_unit(unit, track, stream_id))
    } else {
        encode_unit(unit, track, stream_id)
    }
}
