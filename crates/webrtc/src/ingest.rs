//! WHIP ingest, sans-IO: depacketized WebRTC frames -> bus units and tracks.
//!
//! H264 arrives in Annex B; it becomes AVCC with the parameter sets moved out of band into
//! an avcC record. The stream starts once every video track has its parameter sets and a
//! keyframe (readers must be able to start decoding at once); Opus is known from the
//! negotiation alone. Tracks are aligned on one timeline by the arrival time of their first
//! packet (RTP timestamps of different streams share no origin).

use std::time::{Duration, Instant};

use bytes::{BufMut, Bytes, BytesMut};
use ferrocast_core::{Codec, Track, Unit};
use str0m::media::{MediaKind, Mid};

use crate::h264;

/// How often a keyframe is requested at most while waiting for one.
const KEYFRAME_REQUEST_INTERVAL: Duration = Duration::from_millis(1000);
/// Browsers send a keyframe only when asked (or every few minutes): ask this often, as
/// MediaMTX does, so readers and forwards that join get a picture within that time (the
/// GOP cache holds only what follows the last keyframe).
const KEYFRAME_PERIOD: Duration = Duration::from_secs(2);

#[derive(Debug)]
struct InTrack {
    mid: Mid,
    kind: MediaKind,
    /// Known from the first frame (video) or from the negotiation (audio: Opus or G711).
    codec: Option<Codec>,
    /// (first RTP time in the track clock, its arrival) for timestamps.
    first: Option<(u64, Instant)>,
    sps: Option<Bytes>,
    pps: Option<Bytes>,
    /// A keyframe was seen (video); before it, frames are dropped.
    keyed: bool,
    /// After a gap in RTP: drop frames until the next keyframe.
    resync: bool,
    last_request: Option<Instant>,
    last_key: Option<Instant>,
}

/// What the driver does with the ingest's results.
#[derive(Debug)]
pub(crate) enum IngestEvent {
    /// Every track is known: call `Publisher::start`.
    Start(Vec<Track>),
    /// A track's configuration changed (new SPS/PPS).
    TracksChanged(Vec<Track>),
    Unit(Unit),
    /// Ask the sender of this m-line for a keyframe (RTCP PLI).
    RequestKeyframe(Mid),
}

/// A depacketized frame, as str0m reports it (the fields this module uses).
#[derive(Debug)]
pub(crate) struct InFrame<'a> {
    pub mid: Mid,
    pub codec: Option<Codec>,
    /// RTP time extended to 64 bits, in the codec's RTP clock (90 kHz video, 48 kHz Opus).
    pub rtp_time: u64,
    pub arrival: Instant,
    pub contiguous: bool,
    pub data: &'a [u8],
}

#[derive(Debug, Default)]
pub(crate) struct Ingest {
    tracks: Vec<InTrack>,
    origin: Option<Instant>,
    started: bool,
    pub dropped_before_start: u64,
}

impl Ingest {
    pub fn new() -> Ingest {
        Ingest::default()
    }

    /// The m-lines that carry video.
    pub fn video_mids(&self) -> Vec<Mid> {
        self.tracks
            .iter()
            .filter(|t| t.kind == MediaKind::Video)
            .map(|t| t.mid)
            .collect()
    }

    /// An m-line the peer sends on; `audio` is the codec negotiated for audio m-lines.
    pub fn media_added(&mut self, mid: Mid, kind: MediaKind, audio: Codec) {
        if self.started || self.tracks.iter().any(|t| t.mid == mid) {
            return;
        }
        self.tracks.push(InTrack {
            mid,
            kind,
            codec: (kind == MediaKind::Audio).then_some(audio),
            first: None,
            sps: None,
            pps: None,
            keyed: false,
            resync: false,
            last_request: None,
            last_key: None,
        });
    }

    fn track_list(&self) -> Vec<Track> {
        self.tracks
            .iter()
            .filter_map(|t| {
                let codec = t.codec?;
                Some(match codec {
                    Codec::H264 => Track {
                        codec,
                        clock_rate: 90000,
                        config: h264::build_avcc(t.sps.as_deref()?, t.pps.as_deref()?)?,
                        sample_rate: 0,
                        channels: 0,
                    },
                    Codec::Opus => Track {
                        codec,
                        clock_rate: 48000,
                        config: Bytes::new(),
                        sample_rate: 48000,
                        channels: 2,
                    },
                    Codec::Pcmu | Codec::Pcma => Track {
                        codec,
                        clock_rate: 8000,
                        config: Bytes::new(),
                        sample_rate: 8000,
                        channels: 1,
                    },
                    _ => Track {
                        codec,
                        clock_rate: 90000,
                        config: Bytes::new(),
                        sample_rate: 0,
                        channels: 0,
                    },
                })
            })
            .collect()
    }

    fn ready(&self) -> bool {
        !self.tracks.is_empty()
            && self.tracks.iter().all(|t| match t.codec {
                None => false,
                Some(Codec::H264) => t.keyed && t.sps.is_some() && t.pps.is_some(),
                Some(c) if c.is_video() => t.keyed,
                Some(_) => true,
            })
    }

    fn request(t: &mut InTrack, now: Instant, out: &mut Vec<IngestEvent>) {
        if t.last_request
            .is_none_or(|at| now.duration_since(at) >= KEYFRAME_REQUEST_INTERVAL)
        {
            t.last_request = Some(now);
            out.push(IngestEvent::RequestKeyframe(t.mid));
        }
    }

    /// Handles one frame; `now` is the current time.
    pub fn push(&mut self, f: InFrame<'_>, now: Instant) -> Vec<IngestEvent> {
        let mut out = Vec::new();
        let origin = *self.origin.get_or_insert(f.arrival);
        let Some(idx) = self.tracks.iter().position(|t| t.mid == f.mid) else {
            return out;
        };
        let started = self.started;
        let t = &mut self.tracks[idx];
        let Some(codec) = f.codec else { return out };
        match t.codec {
            None if !started && codec.is_video() == (t.kind == MediaKind::Video) => {
                t.codec = Some(codec)
            }
            Some(c) if c == codec => {}
            // A payload type of another codec than the one the stream declared.
            _ => return out,
        }
        let first = *t.first.get_or_insert((f.rtp_time, f.arrival));
        let clock: u64 = match codec {
            Codec::Opus => 48000,
            Codec::Pcmu | Codec::Pcma => 8000,
            _ => 90000,
        };
        let offset = first.1.saturating_duration_since(origin);
        let ts = (f.rtp_time.wrapping_sub(first.0) as i64)
            + (offset.as_micros() as i64 * clock as i64 / 1_000_000);

        let (payload, key, config_changed) = match codec {
            Codec::H264 => {
                let mut avcc = BytesMut::with_capacity(f.data.len() + 16);
                let mut key = false;
                let mut changed = false;
                for nal in h264::annexb_nals(f.data) {
                    match h264::nal_type(nal) {
                        h264::NAL_SPS => {
                            if t.sps.as_deref() != Some(nal) {
                                changed |= t.sps.is_some();
                                t.sps = Some(Bytes::copy_from_slice(nal));
                            }
                        }
                        h264::NAL_PPS => {
                            if t.pps.as_deref() != Some(nal) {
                                changed |= t.pps.is_some();
                                t.pps = Some(Bytes::copy_from_slice(nal));
                            }
                        }
                        h264::NAL_AUD => {}
                        ty => {
                            key |= ty == h264::NAL_IDR;
                            avcc.put_u32(nal.len() as u32);
                            avcc.put_slice(nal);
                        }
                    }
                }
                (avcc.freeze(), key, changed)
            }
            // VP8 payload header: P bit 0 means a key frame (RFC 6386 9.1).
            Codec::Vp8 => (
                Bytes::copy_from_slice(f.data),
                f.data.first().is_some_and(|b| b & 1 == 0),
                false,
            ),
            _ => (Bytes::copy_from_slice(f.data), true, false),
        };
        if payload.is_empty() {
            return out;
        }
        if codec.is_video() {
            if !f.contiguous && t.keyed {
                // Lost packets: the following frames reference what is missing.
                t.resync = true;
            }
            if key {
                t.keyed = true;
                t.resync = false;
                t.last_key = Some(now);
            } else if t
                .last_key
                .is_some_and(|k| now.duration_since(k) >= KEYFRAME_PERIOD)
            {
                Self::request(t, now, &mut out);
            }
            if !key && (!t.keyed || t.resync) {
                Self::request(t, now, &mut out);
                if started {
                    return out;
                }
            }
        }
        if !self.started {
            if !self.ready() {
                self.dropped_before_start += 1;
                return out;
            }
            self.started = true;
            out.push(IngestEvent::Start(self.track_list()));
        } else if config_changed {
            out.push(IngestEvent::TracksChanged(self.track_list()));
        }
        out.push(IngestEvent::Unit(Unit::new(idx, ts, ts, key, payload)));
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SPS: &[u8] = &[0x67, 0x42, 0xc0, 0x1e, 0xda];
    const PPS: &[u8] = &[0x68, 0xce, 0x3c];

    fn annexb(nals: &[&[u8]]) -> Vec<u8> {
        let mut v = vec![];
        for n in nals {
            v.extend_from_slice(&[0, 0, 0, 1]);
            v.extend_from_slice(n);
        }
        v
    }

    #[test]
    fn starts_at_keyframe_with_avcc() {
        let mut ing = Ingest::new();
        let (v, a) = (Mid::from("0"), Mid::from("1"));
        ing.media_added(v, MediaKind::Video, Codec::Opus);
        ing.media_added(a, MediaKind::Audio, Codec::Opus);
        fn frame(mid: Mid, codec: Codec, rtp_time: u64, data: &[u8]) -> InFrame<'_> {
            InFrame {
                mid,
                codec: Some(codec),
                rtp_time,
                arrival: T0.with(|t| *t),
                contiguous: true,
                data,
            }
        }
        thread_local!(static T0: Instant = Instant::now());
        let t0 = T0.with(|t| *t);
        // Audio and a delta frame before the keyframe: dropped, keyframe requested.
        assert!(ing
            .push(frame(a, Codec::Opus, 1000, &[1, 2]), t0)
            .is_empty());
        let p = annexb(&[&[0x41, 9]]);
        let ev = ing.push(frame(v, Codec::H264, 5000, &p), t0);
        assert!(matches!(ev[..], [IngestEvent::RequestKeyframe(m)] if m == v));
        let k = annexb(&[SPS, PPS, &[0x65, 1, 2]]);
        let ev = ing.push(frame(v, Codec::H264, 8000, &k), t0);
        let IngestEvent::Start(tracks) = &ev[0] else {
            panic!("{ev:?}")
        };
        assert_eq!(tracks.len(), 2);
        assert_eq!(tracks[0].codec, Codec::H264);
        assert_eq!(tracks[1].codec, Codec::Opus);
        let (sps, pps) = ferrocast_codec::avc::avcc_parameter_sets(&tracks[0].config).unwrap();
        assert_eq!((&sps[0][..], &pps[0][..]), (SPS, PPS));
        let IngestEvent::Unit(u) = &ev[1] else {
            panic!()
        };
        assert!(u.key);
        assert_eq!(&u.data[..], &[0, 0, 0, 3, 0x65, 1, 2]);
        assert_eq!(u.pts, 3000);
        let ev = ing.push(frame(a, Codec::Opus, 1960, &[3]), t0);
        assert!(matches!(&ev[..], [IngestEvent::Unit(u)] if u.track == 1 && u.pts == 960));
        // A gap: frames dropped until the next keyframe.
        let mut f = frame(v, Codec::H264, 11000, &p);
        f.contiguous = false;
        assert!(matches!(
            ing.push(f, t0 + Duration::from_secs(2))[..],
            [IngestEvent::RequestKeyframe(_)]
        ));
        let ev = ing.push(frame(v, Codec::H264, 14000, &k), t0);
        assert!(matches!(&ev[..], [IngestEvent::Unit(u)] if u.key));
    }

    #[test]
    fn garbage_never_panics() {
        let mut seed = 0x2545f491u32;
        let mut next = move || {
            seed ^= seed << 13;
            seed ^= seed >> 17;
            seed ^= seed << 5;
            seed
        };
        let mut ing = Ingest::new();
        let v = Mid::from("0");
        ing.media_added(v, MediaKind::Video, Codec::Opus);
        let t0 = Instant::now();
        for _ in 0..2000 {
            let len = (next() % 64) as usize;
            let mut data: Vec<u8> = (0..len).map(|_| next() as u8).collect();
            if next() % 3 == 0 && data.len() > 4 {
                data[..4].copy_from_slice(&[0, 0, 0, 1]);
            }
            let _ = h264::annexb_nals(&data);
            let _ = h264::avcc_to_annexb(&data, None);
            let _ = ing.push(
                InFrame {
                    mid: v,
                    codec: Some(Codec::H264),
                    rtp_time: next() as u64,
                    arrival: t0,
                    contiguous: next() % 2 == 0,
                    data: &data,
                },
                t0,
            );
        }
    }
}
