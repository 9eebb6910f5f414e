//! SDP media formats (`a=rtpmap`, `a=fmtp`) and the bus tracks they map to.

use bytes::Bytes;
use ferrocast_core::{Codec, Track};

use crate::aac::{self, AuHeaderLayout};
use crate::bits::{hex, unhex};
use crate::{h264, h265, Error};

/// One payload format of an SDP media description.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MediaFormat {
    /// The RTP payload type (0..=127).
    pub payload_type: u8,
    /// The encoding name of `a=rtpmap` (compared case-insensitively), e.g. `H264`.
    pub encoding: String,
    /// The RTP clock rate of `a=rtpmap`, in Hz.
    pub clock_rate: u32,
    /// The channel count of `a=rtpmap`, when given.
    pub channels: Option<u8>,
    /// The parameters of `a=fmtp` (after the payload type).
    pub fmtp: Option<String>,
}

/// Static payload types (RFC 3551 6) as (type, encoding, clock rate, channels).
const STATIC: [(u8, &str, u32, Option<u8>); 11] = [
    (0, "PCMU", 8000, Some(1)),
    (3, "GSM", 8000, Some(1)),
    (8, "PCMA", 8000, Some(1)),
    (9, "G722", 8000, Some(1)),
    (10, "L16", 44100, Some(2)),
    (11, "L16", 44100, Some(1)),
    (14, "MPA", 90000, None),
    (26, "JPEG", 90000, None),
    (32, "MPV", 90000, None),
    (33, "MP2T", 90000, None),
    (34, "H263", 90000, None),
];

impl MediaFormat {
    /// Builds a format from SDP attribute values: `rtpmap` is `ENCODING/CLOCK[/CHANNELS]`
    /// (may be absent for static payload types), `fmtp` is what follows the payload type.
    pub fn parse(
        payload_type: u8,
        rtpmap: Option<&str>,
        fmtp: Option<&str>,
    ) -> Result<MediaFormat, Error> {
        if payload_type > 127 {
            return Err(Error::Format(format!("payload type {payload_type}")));
        }
        // Values come from single SDP lines: control characters (CR, LF) would let them
        // inject lines where they are written back into an SDP.
        let has_control = |v: &str| v.chars().any(char::is_control);
        if rtpmap.is_some_and(has_control) || fmtp.is_some_and(has_control) {
            return Err(Error::Format("control characters in rtpmap or fmtp".into()));
        }
        let fmtp = fmtp
            .map(str::trim)
            .filter(|f| !f.is_empty())
            .map(String::from);
        let Some(rtpmap) = rtpmap else {
            let (_, encoding, clock_rate, channels) =
                STATIC.iter().find(|s| s.0 == payload_type).ok_or_else(|| {
                    Error::Format(format!("payload type {payload_type} without rtpmap"))
                })?;
            return Ok(MediaFormat {
                payload_type,
                encoding: encoding.to_string(),
                clock_rate: *clock_rate,
                channels: *channels,
                fmtp,
            });
        };
        let mut parts = rtpmap.trim().split('/');
        let encoding = parts.next().unwrap_or_default().trim();
        let clock_rate = parts
            .next()
            .and_then(|c| c.trim().parse::<u32>().ok())
            .filter(|c| *c > 0)
            .ok_or_else(|| Error::Format(format!("rtpmap without a clock rate: {rtpmap}")))?;
        let channels = match parts.next() {
            Some(c) => Some(
                c.trim()
                    .parse::<u8>()
                    .map_err(|_| Error::Format(format!("rtpmap channels: {rtpmap}")))?,
            ),
            None => None,
        };
        if encoding.is_empty() || encoding.contains(char::is_whitespace) {
            return Err(Error::Format(format!("rtpmap encoding: {rtpmap}")));
        }
        Ok(MediaFormat {
            payload_type,
            encoding: encoding.to_string(),
            clock_rate,
            channels,
            fmtp,
        })
    }

    /// The value of an fmtp parameter; keys are case-insensitive.
    pub fn param(&self, key: &str) -> Option<&str> {
        self.fmtp.as_deref()?.split(';').find_map(|p| {
            let (k, v) = p.split_once('=').unwrap_or((p, ""));
            k.trim().eq_ignore_ascii_case(key).then(|| v.trim())
        })
    }

    fn param_u32(&self, key: &str) -> Result<Option<u32>, Error> {
        self.param(key)
            .map(|v| {
                v.parse::<u32>()
                    .map_err(|_| Error::Format(format!("fmtp {key}={v}")))
            })
            .transpose()
    }

    /// The encoding name, from the static payload type table when `encoding` is empty.
    fn encoding(&self) -> &str {
        if self.encoding.is_empty() {
            if let Some(s) = STATIC.iter().find(|s| s.0 == self.payload_type) {
                return s.1;
            }
        }
        &self.encoding
    }

    fn is(&self, name: &str) -> bool {
        self.encoding().eq_ignore_ascii_case(name)
    }
}

/// What the depacketizer needs beyond the track.
#[derive(Debug, Clone)]
pub(crate) enum Kind {
    H264,
    H265,
    Aac {
        layout: AuHeaderLayout,
        frame_duration: i64,
    },
    Latm {
        config: aac::StreamMuxConfig,
        frame_duration: i64,
    },
    Audio,
    Vp8,
    Vp9,
    Av1,
    Jpeg,
    Mpa,
    Generic,
}

fn video(codec: Codec, config: Bytes) -> Track {
    Track {
        codec,
        clock_rate: 90000,
        config,
        sample_rate: 0,
        channels: 0,
    }
}

/// The bus track for a format. Formats this crate cannot convert (other codecs,
/// interleaved H.264, LATM with in-band configuration, ...) become [`Codec::Generic`]:
/// their packets are carried untouched, with the attribute lines as config.
pub fn track_from_format(f: &MediaFormat) -> Result<Track, Error> {
    classify(f).map(|(t, _)| t)
}

pub(crate) fn classify(f: &MediaFormat) -> Result<(Track, Kind), Error> {
    let generic = || {
        let mut g = f.clone();
        g.payload_type = 96;
        Ok((
            Track {
                codec: Codec::Generic,
                clock_rate: f.clock_rate,
                config: Bytes::from(sdp_attributes(&g)),
                sample_rate: 0,
                channels: f.channels.unwrap_or(0),
            },
            Kind::Generic,
        ))
    };
    if f.is("H264") {
        if f.param_u32("packetization-mode")?.unwrap_or(0) > 1 {
            return generic();
        }
        // Unusable sprop-parameter-sets are ignored: the parameter sets then come in-band.
        let avcc = h264::avcc_from_sprop(f.param("sprop-parameter-sets")).unwrap_or_default();
        return Ok((video(Codec::H264, avcc), Kind::H264));
    }
    if f.is("H265") {
        if f.param_u32("sprop-max-don-diff")?.unwrap_or(0) > 0 {
            return generic();
        }
        let hvcc = h265::hvcc_from_sprop(
            f.param("sprop-vps"),
            f.param("sprop-sps"),
            f.param("sprop-pps"),
        )
        .unwrap_or_default();
        return Ok((video(Codec::H265, hvcc), Kind::H265));
    }
    if f.is("MPEG4-GENERIC") {
        let mode = f.param("mode").unwrap_or_default();
        if !mode.eq_ignore_ascii_case("AAC-hbr") && !mode.eq_ignore_ascii_case("AAC-lbr") {
            return generic();
        }
        let config = f
            .param("config")
            .and_then(unhex)
            .ok_or_else(|| Error::Format("MPEG4-GENERIC without a hex config".into()))?;
        let get = |k: &str| f.param_u32(k).map(|v| v.unwrap_or(0));
        let layout = AuHeaderLayout {
            size_length: get("sizelength")?,
            index_length: get("indexlength")?,
            index_delta_length: get("indexdeltalength")?,
            cts_delta_length: get("ctsdeltalength")?,
            dts_delta_length: get("dtsdeltalength")?,
            random_access_indication: get("randomaccessindication")? != 0,
            stream_state_indication: get("streamstateindication")?,
            auxiliary_data_size_length: get("auxiliarydatasizelength")?,
        };
        layout.validate()?;
        let (track, frame_duration) = aac_track(f, Bytes::from(config))?;
        return Ok((
            track,
            Kind::Aac {
                layout,
                frame_duration,
            },
        ));
    }
    if f.is("MP4A-LATM") {
        if f.param("cpresent").unwrap_or("1") != "0" {
            return generic();
        }
        let config = f
            .param("config")
            .and_then(unhex)
            .ok_or_else(|| Error::Format("MP4A-LATM without a hex config".into()))?;
        let config = aac::parse_stream_mux_config(&config)?;
        let (track, frame_duration) = aac_track(f, config.asc.clone())?;
        return Ok((
            track,
            Kind::Latm {
                config,
                frame_duration,
            },
        ));
    }
    if f.is("opus") {
        if f.clock_rate != 48000 {
            return Err(Error::Format(format!("opus clock rate {}", f.clock_rate)));
        }
        let track = Track {
            codec: Codec::Opus,
            clock_rate: 48000,
            config: Bytes::new(),
            sample_rate: 48000,
            channels: f.channels.unwrap_or(2).clamp(1, 2),
        };
        return Ok((track, Kind::Audio));
    }
    for (name, codec) in [("PCMU", Codec::Pcmu), ("PCMA", Codec::Pcma)] {
        if f.is(name) {
            let track = Track {
                codec,
                clock_rate: f.clock_rate,
                config: Bytes::new(),
                sample_rate: f.clock_rate,
                channels: f.channels.unwrap_or(1).max(1),
            };
            return Ok((track, Kind::Audio));
        }
    }
    let simple = [
        ("VP8", Codec::Vp8, Kind::Vp8),
        ("VP9", Codec::Vp9, Kind::Vp9),
        ("AV1", Codec::Av1, Kind::Av1),
        ("JPEG", Codec::Mjpeg, Kind::Jpeg),
    ];
    for (name, codec, kind) in simple {
        if f.is(name) {
            return Ok((video(codec, Bytes::new()), kind));
        }
    }
    if f.is("MPA") {
        let track = Track {
            codec: Codec::Mp3,
            clock_rate: f.clock_rate,
            config: Bytes::new(),
            sample_rate: 0,
            channels: f.channels.unwrap_or(0),
        };
        return Ok((track, Kind::Mpa));
    }
    generic()
}

fn aac_track(f: &MediaFormat, asc: Bytes) -> Result<(Track, i64), Error> {
    let info = aac::parse_asc(&asc)
        .map_err(|e| Error::Format(format!("AudioSpecificConfig {}: {e}", hex(&asc))))?;
    let c = ferrocast_codec::aac::AudioSpecificConfig::parse(&asc)
        .map_err(|e| Error::Format(format!("AudioSpecificConfig {}: {e}", hex(&asc))))?;
    let channels = if c.channels > 0 {
        c.channels
    } else {
        f.channels.unwrap_or(0)
    };
    let track = Track {
        codec: Codec::Aac,
        clock_rate: f.clock_rate,
        config: asc,
        sample_rate: c.sample_rate,
        channels,
    };
    Ok((track, aac::frame_duration(&info, f.clock_rate)))
}

/// The format to announce a track with. `payload_type` is used for codecs without a static
/// payload type (JPEG is 26, MPA 14, PCMU/PCMA at 8 kHz mono 0/8). The clock rate is the
/// RTP clock, which may differ from `track.clock_rate` (MP3 is sent at 90 kHz): rescale
/// timestamps then. `None` when the track cannot be sent over RTP (AAC without config).
pub fn format_for_track(track: &Track, payload_type: u8) -> Option<MediaFormat> {
    let f = |encoding: &str, clock_rate: u32, channels: Option<u8>, fmtp: Option<String>| {
        Some(MediaFormat {
            payload_type,
            encoding: encoding.into(),
            clock_rate,
            channels,
            fmtp,
        })
    };
    let with_pt = |m: Option<MediaFormat>, pt: u8| {
        m.map(|mut m| {
            m.payload_type = pt;
            m
        })
    };
    match track.codec {
        Codec::H264 => {
            let mut fmtp = "packetization-mode=1".to_string();
            if let (Some(sprop), Some(p)) = (h264::sprop(&track.config), track.config.get(1..4)) {
                fmtp += &format!(
                    ";profile-level-id={};sprop-parameter-sets={sprop}",
                    hex(p).to_uppercase()
                );
            }
            f("H264", 90000, None, Some(fmtp))
        }
        Codec::H265 => {
            let fmtp = h265::sprop(&track.config)
                .map(|[v, s, p]| format!("sprop-vps={v};sprop-sps={s};sprop-pps={p}"));
            f("H265", 90000, None, fmtp)
        }
        Codec::Aac => {
            if track.config.is_empty() {
                return None;
            }
            let rate = if track.sample_rate > 0 {
                track.sample_rate
            } else {
                track.clock_rate
            };
            let fmtp = format!(
                "profile-level-id=1;mode=AAC-hbr;sizelength=13;indexlength=3;indexdeltalength=3;config={}",
                hex(&track.config)
            );
            f(
                "MPEG4-GENERIC",
                rate,
                Some(track.channels.max(1)),
                Some(fmtp),
            )
        }
        Codec::Opus => {
            let fmtp = (track.channels == 2).then(|| "sprop-stereo=1".to_string());
            f("opus", 48000, Some(2), fmtp)
        }
        Codec::Pcmu | Codec::Pcma => {
            let (name, pt) = if track.codec == Codec::Pcmu {
                ("PCMU", 0)
            } else {
                ("PCMA", 8)
            };
            let rate = if track.sample_rate > 0 {
                track.sample_rate
            } else {
                track.clock_rate
            };
            let channels = track.channels.max(1);
            let m = f(name, rate, (channels > 1).then_some(channels), None);
            if rate == 8000 && channels == 1 {
                with_pt(m, pt)
            } else {
                m
            }
        }
        Codec::Vp8 => f("VP8", 90000, None, None),
        Codec::Vp9 => f("VP9", 90000, None, None),
        Codec::Av1 => f("AV1", 90000, None, None),
        Codec::Mjpeg => with_pt(f("JPEG", 90000, None, None), 26),
        Codec::Mp3 => with_pt(f("MPA", 90000, None, None), 14),
        Codec::Generic => {
            let text = std::str::from_utf8(&track.config).ok()?;
            let mut rtpmap = None;
            let mut fmtp = None;
            for line in text.lines() {
                let line = line.trim();
                let value = |prefix: &str| {
                    let rest = line.strip_prefix(prefix)?;
                    let (_, v) = rest.split_once(' ')?;
                    Some(v.trim())
                };
                rtpmap = rtpmap.or(value("a=rtpmap:"));
                fmtp = fmtp.or(value("a=fmtp:"));
            }
            MediaFormat::parse(payload_type, rtpmap, fmtp).ok()
        }
        _ => None,
    }
}

/// The `a=rtpmap` and `a=fmtp` lines (CRLF-terminated) of a format. Control characters
/// in the fields (possible in a format built by hand) are left out.
pub fn sdp_attributes(f: &MediaFormat) -> String {
    let clean = |v: &str| v.chars().filter(|c| !c.is_control()).collect::<String>();
    let mut s = format!(
        "a=rtpmap:{} {}/{}",
        f.payload_type,
        clean(f.encoding()),
        f.clock_rate
    );
    if let Some(c) = f.channels {
        s += &format!("/{c}");
    }
    s += "\r\n";
    if let Some(fmtp) = &f.fmtp {
        s += &format!("a=fmtp:{} {}\r\n", f.payload_type, clean(fmtp));
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fmt(pt: u8, rtpmap: Option<&str>, fmtp: Option<&str>) -> MediaFormat {
        MediaFormat::parse(pt, rtpmap, fmtp).unwrap()
    }

    #[test]
    fn parse_and_params() {
        let f = fmt(
            96,
            Some("H264/90000"),
            Some("packetization-mode=1; sprop-parameter-sets=Z0LADdkBQfsBEAAAAwAQAAADAyDxQqSA,aMuMsg==; profile-level-id=42C00D"),
        );
        assert_eq!(f.param("Profile-Level-Id"), Some("42C00D"));
        assert_eq!(f.param("sprop-parameter-sets").unwrap().len(), 41);
        let t = track_from_format(&f).unwrap();
        assert_eq!((t.codec, t.clock_rate), (Codec::H264, 90000));
        assert_eq!(&t.config[..4], &[1, 0x42, 0xc0, 0x0d]);
        let back = format_for_track(&t, 97).unwrap();
        assert_eq!(
            sdp_attributes(&back),
            "a=rtpmap:97 H264/90000\r\na=fmtp:97 packetization-mode=1;profile-level-id=42C00D;\
             sprop-parameter-sets=Z0LADdkBQfsBEAAAAwAQAAADAyDxQqSA,aMuMsg==\r\n"
        );
        assert_eq!(track_from_format(&back).unwrap(), t);
        assert!(MediaFormat::parse(96, Some("H264"), None).is_err());
        assert!(MediaFormat::parse(96, None, None).is_err());
        assert!(MediaFormat::parse(200, Some("H264/90000"), None).is_err());
        // Fuzz finding: a line break in fmtp ended up in a generic track's SDP lines.
        assert!(MediaFormat::parse(96, Some("X/90000"), Some("a=1\r\nm=video")).is_err());
        assert!(MediaFormat::parse(96, Some("X Y/90000"), None).is_err());
        let mut hand = fmt(96, Some("X/90000"), None);
        hand.fmtp = Some("a\r\nb".into());
        assert_eq!(
            sdp_attributes(&hand),
            "a=rtpmap:96 X/90000\r\na=fmtp:96 ab\r\n"
        );
    }

    #[test]
    fn audio_formats() {
        let aac = fmt(
            97,
            Some("MPEG4-GENERIC/44100/2"),
            Some("profile-level-id=1;mode=AAC-hbr;sizelength=13;indexlength=3;indexdeltalength=3; config=121056E500"),
        );
        let t = track_from_format(&aac).unwrap();
        assert_eq!((t.codec, t.sample_rate, t.channels), (Codec::Aac, 44100, 2));
        assert_eq!(&t.config[..], &[0x12, 0x10, 0x56, 0xe5, 0x00]);
        let back = format_for_track(&t, 97).unwrap();
        assert_eq!(back.encoding, "MPEG4-GENERIC");
        assert_eq!(back.param("config"), Some("121056e500"));
        assert_eq!(track_from_format(&back).unwrap(), t);

        let latm = fmt(
            97,
            Some("MP4A-LATM/48000/1"),
            Some("profile-level-id=41;cpresent=0;config=400023103fc0"),
        );
        let t = track_from_format(&latm).unwrap();
        assert_eq!((t.codec, t.sample_rate, t.channels), (Codec::Aac, 48000, 1));
        assert_eq!(&t.config[..], &[0x11, 0x88]);
        let inband = fmt(97, Some("MP4A-LATM/48000/1"), Some("cpresent=1"));
        assert_eq!(track_from_format(&inband).unwrap().codec, Codec::Generic);

        let pcmu = fmt(0, None, None);
        let t = track_from_format(&pcmu).unwrap();
        assert_eq!((t.codec, t.clock_rate, t.channels), (Codec::Pcmu, 8000, 1));
        assert_eq!(format_for_track(&t, 96).unwrap().payload_type, 0);
        let wide = fmt(96, Some("pcma/16000/2"), None);
        let t = track_from_format(&wide).unwrap();
        assert_eq!(
            (t.codec, t.sample_rate, t.channels),
            (Codec::Pcma, 16000, 2)
        );
        assert_eq!(
            sdp_attributes(&format_for_track(&t, 96).unwrap()),
            "a=rtpmap:96 PCMA/16000/2\r\n"
        );

        let opus = fmt(
            111,
            Some("opus/48000/2"),
            Some("minptime=10;useinbandfec=1"),
        );
        let t = track_from_format(&opus).unwrap();
        assert_eq!((t.codec, t.channels), (Codec::Opus, 2));
        assert_eq!(
            sdp_attributes(&format_for_track(&t, 111).unwrap()),
            "a=rtpmap:111 opus/48000/2\r\na=fmtp:111 sprop-stereo=1\r\n"
        );
        assert_eq!(
            track_from_format(&fmt(14, None, None)).unwrap().codec,
            Codec::Mp3
        );
        assert!(track_from_format(&fmt(
            97,
            Some("MPEG4-GENERIC/44100/2"),
            Some("mode=AAC-hbr;sizelength=13;config=zz")
        ))
        .is_err());
    }

    #[test]
    fn video_and_generic() {
        let h265 = fmt(
            96,
            Some("H265/90000"),
            Some("sprop-vps=QAEMAf//AWAAAAMAkAAAAwAAAwA8koCQ; sprop-sps=QgEBAWAAAAMAkAAAAwAAAwA8oAoIDxZZKkkyvAWgIAAAAwAgAAADAyE=; sprop-pps=RAHBcrRiQA=="),
        );
        let t = track_from_format(&h265).unwrap();
        assert_eq!(t.codec, Codec::H265);
        assert_eq!(
            track_from_format(&format_for_track(&t, 96).unwrap()).unwrap(),
            t
        );
        let jpeg = track_from_format(&fmt(26, None, None)).unwrap();
        assert_eq!(jpeg.codec, Codec::Mjpeg);
        assert_eq!(format_for_track(&jpeg, 96).unwrap().payload_type, 26);
        for (name, codec) in [
            ("VP8", Codec::Vp8),
            ("vp9", Codec::Vp9),
            ("AV1", Codec::Av1),
        ] {
            let t = track_from_format(&fmt(96, Some(&format!("{name}/90000")), None)).unwrap();
            assert_eq!(t.codec, codec);
        }
        let g = fmt(98, Some("L16/44100/2"), Some("x=1"));
        let t = track_from_format(&g).unwrap();
        assert_eq!(t.codec, Codec::Generic);
        assert_eq!(
            &t.config[..],
            b"a=rtpmap:96 L16/44100/2\r\na=fmtp:96 x=1\r\n"
        );
        let back = format_for_track(&t, 99).unwrap();
        assert_eq!(
            (back.payload_type, back.clock_rate, back.fmtp.as_deref()),
            (99, 44100, Some("x=1"))
        );
        let bad = fmt(96, Some("H264/90000"), Some("sprop-parameter-sets=!!,Zz=="));
        let t = track_from_format(&bad).unwrap();
        assert!(t.codec == Codec::H264 && t.config.is_empty());
        let interleaved = fmt(96, Some("H264/90000"), Some("packetization-mode=2"));
        assert_eq!(
            track_from_format(&interleaved).unwrap().codec,
            Codec::Generic
        );
    }
}
