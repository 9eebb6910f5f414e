//! WHEP egress, sans-IO: which tracks of a path a WebRTC reader gets, the codec
//! configuration to answer with, and units -> frames for str0m's packetizers.

use std::time::{Duration, Instant};

use bytes::Bytes;
use ferrocast_core::{rescale, Codec, Track, Unit};
use str0m::format::CodecConfig;
use str0m::media::{Frequency, MediaKind, MediaTime, Mid};

use crate::h264;
use crate::sdp::{choose_h264, offered_h264};

/// A track of the path that this reader is sent.
#[derive(Debug)]
pub(crate) struct OutTrack {
    /// Index into the stream's tracks.
    pub track: usize,
    pub codec: Codec,
    /// The m-line it goes out on, once str0m announced it.
    pub mid: Option<Mid>,
    clock: u32,
    rtp_clock: Frequency,
    /// H264: parameter sets from avcC, sent in band before each keyframe.
    sps: Vec<Bytes>,
    pps: Vec<Bytes>,
    /// H265: VPS, SPS and PPS from hvcC, sent in band before each keyframe.
    h265_params: Vec<Bytes>,
    /// AV1: the configOBUs of av1C (the sequence header), for keyframes without one.
    av1_config: Bytes,
    /// H264 whose SPS does not rule out B-frames (see `dcvideo`).
    pub may_reorder: bool,
}

impl OutTrack {
    /// H264: the WebCodecs codec string of its SPS.
    pub fn codec_string(&self) -> String {
        crate::dcvideo::codec_string(self.sps.first().map(|s| &s[..]).unwrap_or(&[]))
    }

    /// The RTP clock rate it is sent with.
    pub fn rtp_clock(&self) -> u32 {
        self.rtp_clock.get()
    }

    pub fn kind(&self) -> MediaKind {
        if self.codec.is_video() {
            MediaKind::Video
        } else {
            MediaKind::Audio
        }
    }
}

/// What a reader will get: the tracks and the codecs to accept in the offer.
#[derive(Debug)]
pub(crate) struct Plan {
    pub tracks: Vec<OutTrack>,
    pub codecs: CodecConfig,
    /// Tracks of the path that WebRTC cannot carry (yet), for the log.
    pub skipped: Vec<&'static str>,
}

/// Chooses the tracks to send (the first video and the first audio track WebRTC can
/// carry) and the codec configuration that makes str0m answer with them.
pub(crate) fn plan(
    tracks: &[Track],
    wanted: impl Fn(usize) -> bool,
    offer: &str,
) -> Result<Plan, String> {
    let mut out = Vec::new();
    let mut codecs = CodecConfig::empty();
    let mut skipped = Vec::new();
    let (mut have_video, mut have_audio) = (false, false);
    for (i, t) in tracks.iter().enumerate() {
        if !wanted(i) {
            continue; // e.g. AAC replaced by its Opus rendition
        }
        let video = t.codec.is_video();
        if (video && have_video) || (!video && have_audio) {
            skipped.push(t.codec.api_name());
            continue;
        }
        let ok = match t.codec {
            Codec::H264 => {
                let stream_plid = h264::avcc_profile_level_id(&t.config);
                match choose_h264(&offered_h264(offer), stream_plid) {
                    Some(o) => {
                        codecs.add_h264(
                            o.pt.into(),
                            o.rtx.map(Into::into),
                            true,
                            o.profile_level_id,
                        );
                        true
                    }
                    None => false,
                }
            }
            // Only when offered: browsers that cannot decode it then get the idle video
            // m-line below rather than a rejected one.
            Codec::H265 if offer.to_ascii_uppercase().contains(" H265/90000") => {
                codecs.enable_h265(true);
                true
            }
            Codec::Vp8 => {
                codecs.enable_vp8(true);
                true
            }
            Codec::Vp9 => {
                codecs.enable_vp9(true);
                true
            }
            Codec::Av1 => {
                codecs.enable_av1(true);
                true
            }
            Codec::Opus => {
                codecs.enable_opus(true, false);
                true
            }
            // G711 as WebRTC has it: 8 kHz mono (RFC 3551).
            Codec::Pcmu | Codec::Pcma if t.clock_rate == 8000 && t.channels <= 1 => {
                if t.codec == Codec::Pcmu {
                    codecs.enable_pcmu(true, false);
                } else {
                    codecs.enable_pcma(true, false);
                }
                true
            }
            // AAC reaches WebRTC readers through the path's AAC -> Opus rendition (see
            // `http.rs`); without a transcoder it is not sent.
            Codec::Aac => false,
            _ => false,
        };
        if !ok {
            skipped.push(t.codec.api_name());
            continue;
        }
        let (sps, pps) = match t.codec {
            Codec::H264 => ferrocast_codec::avc::avcc_parameter_sets(&t.config).unwrap_or_default(),
            _ => (vec![], vec![]),
        };
        let h265_params = match t.codec {
            Codec::H265 => h265_parameter_sets(&t.config),
            _ => vec![],
        };
        let av1_config = match t.codec {
            // av1C (AV1-ISOBMFF 2.3.3): 4 fixed bytes, then configOBUs.
            Codec::Av1 if t.config.len() > 4 => t.config.slice(4..),
            _ => Bytes::new(),
        };
        out.push(OutTrack {
            track: i,
            codec: t.codec,
            mid: None,
            clock: t.clock_rate.max(1),
            rtp_clock: if video {
                Frequency::NINETY_KHZ
            } else if matches!(t.codec, Codec::Pcmu | Codec::Pcma) {
                Frequency::EIGHT_KHZ
            } else {
                Frequency::FORTY_EIGHT_KHZ
            },
            may_reorder: crate::dcvideo::may_reorder(sps.first().map(|s| &s[..])),
            sps,
            pps,
            h265_params,
            av1_config,
        });
        if video {
            have_video = true;
        } else {
            have_audio = true;
        }
    }
    // An m-line the stream has nothing for is still accepted, as an idle track: some
    // clients (aiortc) cannot take a rejected m-line in an answer, and a player then just
    // gets a track without packets.
    let has_mline = |kind: &str| offer.lines().any(|l| l.trim().starts_with(kind));
    if !out.is_empty() && !have_audio && has_mline("m=audio") {
        codecs.enable_opus(true, false);
    }
    if !out.is_empty() && !have_video && has_mline("m=video") {
        match choose_h264(&offered_h264(offer), None) {
            Some(o) => codecs.add_h264(o.pt.into(), None, true, o.profile_level_id),
            None => codecs.enable_vp8(true),
        }
    }
    if out.is_empty() {
        let codecs: Vec<_> = tracks.iter().map(|t| t.codec.api_name()).collect();
        return Err(format!(
            "the stream has no track this offer can receive over WebRTC (stream: {}; WebRTC \
             carries H264, H265, VP8, VP9, AV1, Opus and G711)",
            if codecs.is_empty() {
                "no tracks".to_string()
            } else {
                codecs.join(", ")
            }
        ));
    }
    Ok(Plan {
        tracks: out,
        codecs,
        skipped,
    })
}

/// One frame for `Writer::write`.
#[derive(Debug)]
pub(crate) struct Frame {
    pub mid: Mid,
    pub codec: Codec,
    pub rtp_time: MediaTime,
    pub wallclock: Instant,
    /// The PTS in microseconds on the reader's timeline (RTP time 0 = 0).
    pub pts_us: i64,
    pub key: bool,
    /// H264: PTS differs from DTS (a B-frame, or a frame before one).
    pub reorders: bool,
    pub data: Vec<u8>,
}

/// Turns units into frames: timestamps and payload forms.
///
/// RTP time is the unit's PTS (what receivers render by), units go out in the bus's DTS
/// order (what decoders need with B-frames). The wallclock (for RTCP sender reports, which
/// receivers use for lip sync) follows PTS on one timeline shared by all tracks.
#[derive(Debug)]
pub(crate) struct Egress {
    pub tracks: Vec<OutTrack>,
    /// (instant, microseconds) of the timeline origin, set by the first unit.
    origin: Option<(Instant, i64)>,
    pub malformed: u64,
    /// Set once H264 with B-frames went over RTP (browsers play it badly: logged once).
    pub bframes_seen: bool,
}

/// Margin below the first unit's time, so that units presented before it (B-frames, audio
/// that leads video) still get non-negative RTP times.
const ORIGIN_MARGIN_US: i64 = 1_000_000;

impl Egress {
    pub fn new(tracks: Vec<OutTrack>) -> Egress {
        Egress {
            tracks,
            origin: None,
            malformed: 0,
            bframes_seen: false,
        }
    }

    /// Picks up changed codec configuration (a new SPS from the publisher).
    pub fn update_tracks(&mut self, tracks: &[Track]) {
        for t in &mut self.tracks {
            let Some(track) = tracks.get(t.track) else {
                continue;
            };
            match t.codec {
                Codec::H264 => {
                    if let Ok((sps, pps)) = ferrocast_codec::avc::avcc_parameter_sets(&track.config)
                    {
                        t.may_reorder = crate::dcvideo::may_reorder(sps.first().map(|s| &s[..]));
                        t.sps = sps;
                        t.pps = pps;
                    }
                }
                Codec::H265 => t.h265_params = h265_parameter_sets(&track.config),
                _ => {}
            }
        }
    }

    /// Assigns an m-line announced by str0m to the first waiting track of its kind.
    pub fn media_added(&mut self, mid: Mid, kind: MediaKind) {
        if self.tracks.iter().any(|t| t.mid == Some(mid)) {
            return;
        }
        if let Some(t) = self
            .tracks
            .iter_mut()
            .find(|t| t.mid.is_none() && t.kind() == kind)
        {
            t.mid = Some(mid);
        }
    }

    /// The frame for `unit`, or `None` when no m-line carries its track or it is malformed.
    pub fn frame(&mut self, unit: &Unit, now: Instant) -> Option<Frame> {
        let idx = self.tracks.iter().position(|t| t.track == unit.track)?;
        let t = &self.tracks[idx];
        let mid = t.mid?;
        let dts_us = rescale(unit.dts, t.clock, 1_000_000);
        let pts_us = rescale(unit.pts, t.clock, 1_000_000);
        let (origin_at, origin_us) = *self.origin.get_or_insert_with(|| {
            let at = now
                .checked_sub(Duration::from_micros(ORIGIN_MARGIN_US as u64))
                .unwrap_or(now);
            (at, dts_us - ORIGIN_MARGIN_US)
        });
        let rel_us = (pts_us - origin_us).max(0);
        let rtp_hz = t.rtp_clock.get();
        let ticks = rescale(unit.pts, t.clock, rtp_hz) - rescale(origin_us, 1_000_000, rtp_hz);
        let rtp_time = MediaTime::new(ticks.max(0) as u64, t.rtp_clock);
        let wallclock = origin_at + Duration::from_micros(rel_us as u64);
        let data = match t.codec {
            Codec::H264 => {
                let params = unit.key.then_some((&t.sps[..], &t.pps[..]));
                match h264::avcc_to_annexb(&unit.data, params) {
                    Some(d) => d,
                    None => {
                        self.malformed += 1;
                        return None;
                    }
                }
            }
            Codec::H265 => {
                let params = unit.key.then_some(&t.h265_params[..]);
                match h264::hvcc_to_annexb(&unit.data, params) {
                    Some(d) => d,
                    None => {
                        self.malformed += 1;
                        return None;
                    }
                }
            }
            Codec::Av1
                if unit.key && !t.av1_config.is_empty() && !has_sequence_header(&unit.data) =>
            {
                let mut d = Vec::with_capacity(t.av1_config.len() + unit.data.len());
                d.extend_from_slice(&t.av1_config);
                d.extend_from_slice(&unit.data);
                d
            }
            _ => unit.data.to_vec(),
        };
        if data.is_empty() {
            return None;
        }
        Some(Frame {
            mid,
            codec: t.codec,
            rtp_time,
            wallclock,
            pts_us: pts_us - origin_us,
            key: unit.key,
            reorders: unit.pts != unit.dts,
            data,
        })
    }
}

/// VPS, SPS and PPS of an hvcC record, in that order (empty when it is unreadable).
fn h265_parameter_sets(hvcc: &[u8]) -> Vec<Bytes> {
    ferrocast_codec::avc::hvcc_parameter_sets(hvcc)
        .map(|sets| sets.into_iter().flatten().collect())
        .unwrap_or_default()
}

/// Whether low-overhead AV1 OBUs (AV1 spec 5.3) include a sequence header (type 1).
fn has_sequence_header(mut data: &[u8]) -> bool {
    while let Some(&header) = data.first() {
        let obu_type = (header >> 3) & 0x0f;
        if obu_type == 1 {
            return true;
        }
        let has_ext = header & 0x04 != 0;
        let has_size = header & 0x02 != 0;
        let mut p = 1 + usize::from(has_ext);
        if !has_size {
            return false; // the last OBU runs to the end
        }
        let mut size: u64 = 0;
        for i in 0..8 {
            let Some(&b) = data.get(p) else { return false };
            p += 1;
            size |= u64::from(b & 0x7f) << (7 * i);
            if b & 0x80 == 0 {
                break;
            }
        }
        let Some(rest) = usize::try_from(size)
            .ok()
            .and_then(|s| data.get(p.checked_add(s)?..))
        else {
            return false;
        };
        data = rest;
    }
    false
}

/// The str0m codec of a bus codec.
pub(crate) fn str0m_codec(c: Codec) -> Option<str0m::format::Codec> {
    use str0m::format::Codec as S;
    Some(match c {
        Codec::H264 => S::H264,
        Codec::H265 => S::H265,
        Codec::Vp8 => S::Vp8,
        Codec::Vp9 => S::Vp9,
        Codec::Av1 => S::Av1,
        Codec::Opus => S::Opus,
        Codec::Pcmu => S::PCMU,
        Codec::Pcma => S::PCMA,
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const AVCC: &[u8] = &[
        0x01, 0x42, 0xc0, 0x1e, 0xff, 0xe1, 0x00, 0x04, 0x67, 0x42, 0xc0, 0x1e, 0x01, 0x00, 0x02,
        0x68, 0xce,
    ];

    fn tracks() -> Vec<Track> {
        vec![
            Track {
                codec: Codec::H264,
                clock_rate: 90000,
                config: Bytes::from_static(AVCC),
                sample_rate: 0,
                channels: 0,
            },
            Track {
                codec: Codec::Aac,
                clock_rate: 48000,
                config: Bytes::new(),
                sample_rate: 48000,
                channels: 2,
            },
        ]
    }

    const OFFER: &str = "a=rtpmap:96 H264/90000\r\n\
        a=fmtp:96 packetization-mode=1;profile-level-id=42001f\r\n\
        a=rtpmap:98 H264/90000\r\n\
        a=fmtp:98 packetization-mode=1;profile-level-id=42e01f\r\n";

    #[test]
    fn plans_h264_and_skips_aac() {
        let p = plan(&tracks(), |_| true, OFFER).unwrap();
        assert_eq!(p.tracks.len(), 1);
        assert_eq!(p.skipped, vec!["MPEG-4 Audio"]);
        let pts: Vec<u8> = p.codecs.params().iter().map(|p| *p.pt()).collect();
        assert_eq!(pts, vec![98]);
        // With an audio m-line in the offer, Opus is accepted (idle) for it.
        let offer = format!("{OFFER}m=audio 9 UDP/TLS/RTP/SAVPF 111\r\n");
        let p = plan(&tracks(), |_| true, &offer).unwrap();
        assert_eq!(p.codecs.params().len(), 2);
        assert_eq!(p.tracks.len(), 1);
        assert!(plan(&tracks()[1..], |_| true, OFFER).is_err());
    }

    #[test]
    fn av1_sequence_header_detection() {
        // Temporal delimiter (type 2, size 0), then a sequence header (type 1, size 1).
        assert!(has_sequence_header(&[0x12, 0x00, 0x0a, 0x01, 0xff]));
        // Temporal delimiter, then a frame (type 6).
        assert!(!has_sequence_header(&[0x12, 0x00, 0x32, 0x01, 0xff]));
        assert!(!has_sequence_header(&[0x12, 0x85]));
        assert!(!has_sequence_header(&[]));
    }

    #[test]
    fn frames_carry_parameter_sets_and_pts() {
        let p = plan(&tracks(), |_| true, OFFER).unwrap();
        let mut e = Egress::new(p.tracks);
        let unit = Unit::new(
            0,
            9000,
            12000,
            true,
            Bytes::from_static(&[0, 0, 0, 2, 0x65, 1]),
        );
        let now = Instant::now();
        assert!(e.frame(&unit, now).is_none()); // no m-line yet
        e.media_added(Mid::from("0"), MediaKind::Video);
        let f = e.frame(&unit, now).unwrap();
        assert_eq!(
            f.data,
            vec![0, 0, 0, 1, 0x67, 0x42, 0xc0, 0x1e, 0, 0, 0, 1, 0x68, 0xce, 0, 0, 0, 1, 0x65, 1]
        );
        // 1 s margin + (12000 - 9000) ticks of PTS after DTS.
        assert_eq!(f.rtp_time.numer(), 90000 + 3000);
        let next = Unit::new(
            0,
            12000,
            12000,
            false,
            Bytes::from_static(&[0, 0, 0, 1, 0x41]),
        );
        let f2 = e.frame(&next, now).unwrap();
        assert_eq!(f2.data, vec![0, 0, 0, 1, 0x41]);
        assert_eq!(f2.rtp_time.numer(), 90000 + 3000);
        let bad = Unit::new(
            0,
            15000,
            15000,
            false,
            Bytes::from_static(&[0, 0, 0, 9, 0x41]),
        );
        assert!(e.frame(&bad, now).is_none());
        assert_eq!(e.malformed, 1);
    }
}
