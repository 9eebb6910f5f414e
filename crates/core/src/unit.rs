use std::sync::OnceLock;

use bytes::Bytes;

/// The closed set of codecs the bus carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Codec {
    H264,
    H265,
    Av1,
    Vp8,
    Vp9,
    Aac,
    Opus,
    Mp3,
    /// G.711 mu-law (PCMU), 8-bit samples.
    Pcmu,
    /// G.711 A-law (PCMA), 8-bit samples.
    Pcma,
    /// Motion JPEG: one JPEG image (with its own tables) per unit.
    Mjpeg,
    /// A payload the server does not understand, carried as whole RTP packets (one per unit)
    /// so RTSP readers get it untouched. `Track::config` holds the SDP media attributes
    /// (`a=rtpmap`/`a=fmtp` lines, payload type 96) it was announced with.
    Generic,
}

impl Codec {
    pub fn is_video(self) -> bool {
        matches!(
            self,
            Codec::H264 | Codec::H265 | Codec::Av1 | Codec::Vp8 | Codec::Vp9 | Codec::Mjpeg
        )
    }

    /// The name MediaMTX's API uses for this codec.
    pub fn api_name(self) -> &'static str {
        match self {
            Codec::H264 => "H264",
            Codec::H265 => "H265",
            Codec::Av1 => "AV1",
            Codec::Vp8 => "VP8",
            Codec::Vp9 => "VP9",
            Codec::Aac => "MPEG-4 Audio",
            Codec::Opus => "Opus",
            Codec::Mp3 => "MPEG-1/2 Audio",
            Codec::Pcmu | Codec::Pcma => "G711",
            Codec::Mjpeg => "M-JPEG",
            Codec::Generic => "Generic",
        }
    }
}

/// One elementary stream of a path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Track {
    pub codec: Codec,
    /// Units of `Unit::dts`/`Unit::pts` per second.
    pub clock_rate: u32,
    /// Out-of-band codec configuration in its ISO-BMFF form: avcC, hvcC, av1C for video;
    /// AudioSpecificConfig for AAC; empty when the codec has none.
    pub config: Bytes,
    /// Audio only: sample rate and channel count (0 for video).
    pub sample_rate: u32,
    pub channels: u8,
}

impl Track {
    /// Two tracks are compatible when a reader decoding one can go on decoding the other:
    /// same codec and clock. A changed `config` is sent to readers in-band.
    pub fn compatible(&self, other: &Track) -> bool {
        self.codec == other.codec
            && self.clock_rate == other.clock_rate
            && self.sample_rate == other.sample_rate
            && self.channels == other.channels
    }
}

/// Formats that egress code derives from a unit. Each is computed at most once per unit and
/// shared by every reader of that format, so fan-out costs no per-reader serialization.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(usize)]
pub enum EgressFormat {
    /// RTMP chunks (message stream 1, chunk size [`EgressCache`] users agree on).
    Rtmp = 0,
    /// RTP payloads at the default MTU, with marker and timestamp offset, before the
    /// per-reader RTP header (RTSP readers and multicast groups).
    Rtp = 1,
}

const EGRESS_FORMATS: usize = 2;

/// Lazily filled per-format serializations of one unit.
#[derive(Debug, Default)]
pub struct EgressCache {
    slots: [OnceLock<Bytes>; EGRESS_FORMATS],
}

impl EgressCache {
    pub fn get_or_init(&self, format: EgressFormat, f: impl FnOnce() -> Bytes) -> Bytes {
        self.slots[format as usize].get_or_init(f).clone()
    }
}

/// One access unit of one track.
///
/// Payload forms (canonical, converted once at ingest):
/// - H264/H265: NAL units, each prefixed by a 4-byte big-endian length (AVCC), without
///   parameter sets when they are unchanged from `Track::config`.
/// - AV1: low-overhead OBUs as in av1C-described samples.
/// - AAC: one raw frame. Opus: one packet.
#[derive(Debug)]
pub struct Unit {
    /// Index into the stream's tracks.
    pub track: usize,
    /// Decode and presentation timestamps in the track's clock rate.
    pub dts: i64,
    pub pts: i64,
    /// Video: a random access point. Audio: always true.
    pub key: bool,
    pub data: Bytes,
    pub egress: EgressCache,
}

impl Unit {
    pub fn new(track: usize, dts: i64, pts: i64, key: bool, data: Bytes) -> Unit {
        Unit {
            track,
            dts,
            pts,
            key,
            data,
            egress: EgressCache::default(),
        }
    }
}

/// Converts `value` from clock rate `from` to clock rate `to`, rounding down.
pub fn rescale(value: i64, from: u32, to: u32) -> i64 {
    if from == to || from == 0 {
        return value;
    }
    ((value as i128 * to as i128).div_euclid(from as i128)) as i64
}
