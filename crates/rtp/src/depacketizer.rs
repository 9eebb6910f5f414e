//! RTP packets -> bus frames, with loss detection common to all codecs.

use bytes::Bytes;
use ferrocast_core::Track;

use crate::format::{classify, Kind, MediaFormat};
use crate::packet::{RtpPacket, TimestampUnwrapper};
use crate::{aac, av1, h264, h265, jpeg, mpa, vp8, vp9, Error};

/// One frame in the bus's canonical form (see `ferrocast_core::unit::Unit`):
/// H.264/H.265 access units as 4-byte length-prefixed NAL units without parameter sets
/// (see `config`), one raw AAC frame, one Opus packet, G.711 samples, a VP8/VP9 frame, an
/// AV1 temporal unit of low-overhead OBUs, a complete JPEG image, an MPEG audio frame, or
/// for generic formats the whole RTP packet.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Frame {
    /// Presentation time in the RTP clock, unwrapped to 64 bits (starts at the first
    /// packet's 32-bit timestamp).
    pub pts: i64,
    /// A random access point (H.264 IDR, H.265 IRAP, VP8/VP9/AV1 key frame); always true
    /// for audio, JPEG and generic formats.
    pub key: bool,
    /// The payload in canonical form (see above).
    pub data: Bytes,
    /// A new decoder configuration (avcC/hvcC/av1C) when in-band parameter sets (AV1:
    /// the sequence header) changed.
    pub config: Option<Bytes>,
    /// Video: packets were lost since the last key frame, so this frame may not decode
    /// cleanly (readers may skip to the next key frame and request one).
    pub after_loss: bool,
}

impl Frame {
    pub(crate) fn video(pts: i64, key: bool, data: Bytes) -> Frame {
        Frame {
            pts,
            key,
            data,
            config: None,
            after_loss: false,
        }
    }

    pub(crate) fn audio(pts: i64, data: Bytes) -> Frame {
        Frame::video(pts, true, data)
    }
}

/// What one [`Depacketizer::push`] noticed besides frames.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub struct Pushed {
    /// Packets missing before this one (by sequence number).
    pub lost: u32,
    /// The packet was dropped: a duplicate or arrived too late (after its successors).
    pub late: bool,
}

#[derive(Debug)]
enum Inner {
    H264(h264::Depacketizer),
    H265(h265::Depacketizer),
    Aac(aac::GenericDepacketizer),
    Latm(aac::LatmDepacketizer),
    /// Opus, G.711: the payload is the frame.
    Audio,
    Vp8(vp8::Depacketizer),
    Vp9(vp9::Depacketizer),
    Av1(av1::Depacketizer),
    Jpeg(jpeg::Depacketizer),
    Mpa(mpa::Depacketizer),
    Generic,
}

/// Packets that far behind the newest one start a new sequence (RFC 3550 A.1).
const MAX_MISORDER: u16 = 100;

/// Turns the RTP packets of one track into frames. Packets must arrive in order (use a
/// [`crate::reorder::Reorderer`] for UDP); a sequence gap drops the partial frame, and for
/// video marks frames up to the next key frame as [`Frame::after_loss`].
#[derive(Debug)]
pub struct Depacketizer {
    inner: Inner,
    track: Track,
    timestamps: TimestampUnwrapper,
    last_seq: Option<u16>,
    ssrc: Option<u32>,
    damaged: bool,
    /// Marker bit and timestamp of the last packet taken.
    last_marker: bool,
    last_ts: u32,
    /// After a loss inside an access unit: the rest of it (this timestamp) is dropped.
    skip_ts: Option<u32>,
}

impl Depacketizer {
    /// A depacketizer for a format (see [`crate::track_from_format`]).
    pub fn new(format: &MediaFormat) -> Result<Depacketizer, Error> {
        let (track, kind) = classify(format)?;
        let inner = match kind {
            Kind::H264 => Inner::H264(h264::Depacketizer::new(&track.config)),
            Kind::H265 => Inner::H265(h265::Depacketizer::new(&track.config)),
            Kind::Aac {
                layout,
                frame_duration,
            } => Inner::Aac(aac::GenericDepacketizer::new(layout, frame_duration)),
            Kind::Latm {
                config,
                frame_duration,
            } => Inner::Latm(aac::LatmDepacketizer::new(&config, frame_duration)),
            Kind::Audio => Inner::Audio,
            Kind::Vp8 => Inner::Vp8(vp8::Depacketizer::default()),
            Kind::Vp9 => Inner::Vp9(vp9::Depacketizer::default()),
            Kind::Av1 => Inner::Av1(av1::Depacketizer::default()),
            Kind::Jpeg => Inner::Jpeg(jpeg::Depacketizer::default()),
            Kind::Mpa => Inner::Mpa(mpa::Depacketizer::new(format.clock_rate)),
            Kind::Generic => Inner::Generic,
        };
        Ok(Depacketizer {
            inner,
            track,
            timestamps: TimestampUnwrapper::new(),
            last_seq: None,
            ssrc: None,
            damaged: false,
            last_marker: true,
            last_ts: 0,
            skip_ts: None,
        })
    }

    /// The track announced by the format (its config may be refreshed by
    /// [`Frame::config`]).
    pub fn track(&self) -> &Track {
        &self.track
    }

    /// Drops any partial frame and forgets the sequence (e.g. after a seek or reconnect).
    pub fn reset(&mut self) {
        self.reset_inner();
        self.last_seq = None;
        self.skip_ts = None;
        self.last_marker = true;
    }

    fn reset_inner(&mut self) {
        match &mut self.inner {
            Inner::H264(d) => d.reset(),
            Inner::H265(d) => d.reset(),
            Inner::Aac(d) => d.reset(),
            Inner::Latm(d) => d.reset(),
            Inner::Vp8(d) => d.reset(),
            Inner::Vp9(d) => d.reset(),
            Inner::Av1(d) => d.reset(),
            Inner::Jpeg(d) => d.reset(),
            Inner::Mpa(d) => d.reset(),
            Inner::Audio | Inner::Generic => {}
        }
        if self.track.codec.is_video() {
            self.damaged = true;
        }
    }

    /// Codecs whose packets do not mark the start of an access unit.
    fn unmarked(&self) -> bool {
        matches!(self.inner, Inner::H264(_) | Inner::H265(_) | Inner::Av1(_))
    }

    /// Feeds one packet of this track (the caller routes by payload type and SSRC);
    /// completed frames are appended to `out`. On an error the partial frame is dropped
    /// (H.264/H.265/AV1: with the rest of its access unit) and the next packets are
    /// processed normally.
    pub fn push(&mut self, pkt: &RtpPacket<'_>, out: &mut Vec<Frame>) -> Result<Pushed, Error> {
        let mut pushed = Pushed::default();
        if self.ssrc.is_some_and(|s| s != pkt.ssrc) {
            // A new source: its sequence numbers and timestamps start elsewhere.
            self.reset();
            self.timestamps = TimestampUnwrapper::new();
        }
        self.ssrc = Some(pkt.ssrc);
        if let Some(last) = self.last_seq {
            let diff = pkt.sequence.wrapping_sub(last);
            if diff == 0 || (diff >= 0x8000 && diff.wrapping_neg() <= MAX_MISORDER) {
                pushed.late = true;
                return Ok(pushed);
            }
            if diff >= 0x8000 || diff > 1 {
                // Lost packets (or a restarted sequence, far behind).
                if diff < 0x8000 {
                    pushed.lost = diff as u32 - 1;
                }
                self.reset_inner();
                // H.264/H.265/AV1 packets do not say where an access unit starts: unless
                // the loss fell between two access units, drop the rest of this one.
                if self.unmarked() && !(self.last_marker && pkt.timestamp != self.last_ts) {
                    self.skip_ts = Some(pkt.timestamp);
                }
            }
        }
        self.last_seq = Some(pkt.sequence);
        self.last_marker = pkt.marker;
        self.last_ts = pkt.timestamp;
        if let Some(ts) = self.skip_ts {
            if ts == pkt.timestamp {
                return Ok(pushed);
            }
            self.skip_ts = None;
        }
        let pts = self.timestamps.unwrap(pkt.timestamp);
        let start = out.len();
        let (payload, marker) = (pkt.payload, pkt.marker);
        let r = match &mut self.inner {
            Inner::H264(d) => d.push(pts, payload, marker, out),
            Inner::H265(d) => d.push(pts, payload, marker, out),
            Inner::Aac(d) => d.push(pts, payload, marker, out),
            Inner::Latm(d) => d.push(pts, payload, marker, out),
            Inner::Vp8(d) => d.push(pts, payload, marker, out),
            Inner::Vp9(d) => d.push(pts, payload, marker, out),
            Inner::Av1(d) => d.push(pts, payload, marker, out),
            Inner::Jpeg(d) => d.push(pts, payload, marker, out),
            Inner::Mpa(d) => d.push(pts, payload, out),
            Inner::Audio => {
                if !payload.is_empty() {
                    out.push(Frame::audio(pts, Bytes::copy_from_slice(payload)));
                }
                Ok(())
            }
            Inner::Generic => {
                out.push(Frame::audio(pts, Bytes::copy_from_slice(pkt.raw)));
                Ok(())
            }
        };
        if self.track.codec.is_video() {
            for f in &mut out[start..] {
                if f.key {
                    self.damaged = false;
                }
                f.after_loss = self.damaged;
            }
        }
        if r.is_err() {
            self.reset_inner();
            if self.unmarked() && !pkt.marker {
                self.skip_ts = Some(pkt.timestamp);
            }
        }
        r.map(|_| pushed)
    }
}
