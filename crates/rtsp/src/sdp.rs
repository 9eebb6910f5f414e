//! The parts of SDP (RFC 4566) RTSP needs: media sections of an ANNOUNCE, and the
//! description a DESCRIBE returns.

use ferrocast_rtp::MediaFormat;

use crate::transport::Profile;

/// One `m=` section of an announced description.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Media {
    /// "video", "audio", "application".
    pub kind: String,
    /// `a=control`, empty when absent.
    pub control: String,
    pub format: MediaFormat,
    /// `RTP/SAVP` in the `m=` line: the media is sent with SRTP.
    pub profile: Profile,
    /// The base64 MIKEY message of `a=key-mgmt:mikey` (the media's, else the session's).
    pub key_mgmt: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SdpError {
    #[error("SDP is not UTF-8")]
    NotUtf8,
    #[error("SDP has no media section")]
    NoMedia,
    #[error("SDP media line {0:?} is malformed")]
    MediaLine(String),
    #[error("SDP has more than {0} media sections")]
    TooManyMedia(usize),
}

const MAX_MEDIA: usize = 16;

/// A media section being read.
struct Section {
    kind: String,
    pt: u8,
    rtpmap: Option<String>,
    fmtp: Option<String>,
    control: String,
    profile: Profile,
    key_mgmt: Option<String>,
}

impl Section {
    /// `None` when the format is unusable (no rtpmap for a dynamic payload type): such a
    /// section is skipped, like a codec the server does not know.
    fn finish(self, session_key: &Option<String>) -> Option<Media> {
        let format =
            MediaFormat::parse(self.pt, self.rtpmap.as_deref(), self.fmtp.as_deref()).ok()?;
        Some(Media {
            kind: self.kind,
            control: self.control,
            format,
            profile: self.profile,
            key_mgmt: self.key_mgmt.or_else(|| session_key.clone()),
        })
    }
}

/// The media sections of `sdp`, each with its first payload format.
pub fn parse(sdp: &[u8]) -> Result<Vec<Media>, SdpError> {
    let text = std::str::from_utf8(sdp).map_err(|_| SdpError::NotUtf8)?;
    let mut sections: Vec<Section> = Vec::new();
    let mut session_key = None;
    for line in text.lines() {
        let line = line.trim();
        if let Some(m) = line.strip_prefix("m=") {
            if sections.len() >= MAX_MEDIA {
                return Err(SdpError::TooManyMedia(MAX_MEDIA));
            }
            let parts: Vec<&str> = m.split_whitespace().collect();
            let bad = || SdpError::MediaLine(m.chars().take(80).collect());
            let (Some(kind), Some(pt)) = (parts.first(), parts.get(3)) else {
                return Err(bad());
            };
            let pt: u8 = pt.parse().ok().filter(|p| *p < 128).ok_or_else(bad)?;
            let secure = parts
                .get(2)
                .is_some_and(|p| p.to_ascii_uppercase().starts_with("RTP/SAVP"));
            sections.push(Section {
                kind: kind.to_string(),
                pt,
                rtpmap: None,
                fmtp: None,
                control: String::new(),
                profile: if secure { Profile::Savp } else { Profile::Avp },
                key_mgmt: None,
            });
            continue;
        }
        let key = line
            .strip_prefix("a=key-mgmt:")
            .and_then(|v| v.trim().strip_prefix("mikey "))
            .map(|v| v.trim().to_string());
        let Some(c) = sections.last_mut() else {
            if key.is_some() {
                session_key = key;
            }
            continue;
        };
        if key.is_some() {
            c.key_mgmt = key;
            continue;
        }
        let pt = c.pt;
        let for_pt = |v: &str| -> Option<String> {
            let (p, rest) = v.split_once(' ')?;
            (p.trim().parse::<u8>().ok() == Some(pt)).then(|| rest.trim().to_string())
        };
        if let Some(v) = line.strip_prefix("a=rtpmap:") {
            if let Some(m) = for_pt(v) {
                c.rtpmap = Some(m);
            }
        } else if let Some(v) = line.strip_prefix("a=fmtp:") {
            if let Some(f) = for_pt(v) {
                c.fmtp = Some(f);
            }
        } else if let Some(v) = line.strip_prefix("a=control:") {
            c.control = v.trim().to_string();
        }
    }
    if sections.is_empty() {
        return Err(SdpError::NoMedia);
    }
    Ok(sections
        .into_iter()
        .filter_map(|s| s.finish(&session_key))
        .collect())
}

/// The description of a stream for DESCRIBE: one section per track, controls `trackID=N`.
/// With [`Profile::Savp`], each section's attributes should include its `a=key-mgmt`.
/// Sections are `(track index, video, attribute lines)`.
pub fn describe(
    sections: &[(usize, bool, String)],
    session_name: &str,
    profile: Profile,
) -> String {
    let mut s = String::new();
    s.push_str("v=0\r\n");
    s.push_str("o=- 0 0 IN IP4 127.0.0.1\r\n");
    s.push_str(&format!("s={session_name}\r\n"));
    s.push_str("c=IN IP4 0.0.0.0\r\n");
    s.push_str("t=0 0\r\n");
    s.push_str("a=control:*\r\n");
    for (i, video, attrs) in sections {
        let pt = attrs
            .lines()
            .find_map(|l| l.strip_prefix("a=rtpmap:"))
            .and_then(|v| v.split(' ').next())
            .unwrap_or("96");
        let kind = if *video { "video" } else { "audio" };
        s.push_str(&format!("m={kind} 0 {} {pt}\r\n", profile.name()));
        for l in attrs.lines() {
            if !l.trim().is_empty() {
                s.push_str(l.trim());
                s.push_str("\r\n");
            }
        }
        s.push_str(&format!("a=control:trackID={i}\r\n"));
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    /// What ffmpeg 5.1 announces for H264 + AAC.
    const FFMPEG: &str = "v=0\r\no=- 0 0 IN IP4 127.0.0.1\r\ns=No Name\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\na=tool:libavformat 59.27.100\r\nm=video 0 RTP/AVP 96\r\nb=AS:2500\r\na=rtpmap:96 H264/90000\r\na=fmtp:96 packetization-mode=1; sprop-parameter-sets=Z2QAH6zZQFAFuhAAAAMAEAAAAwPA8YMZYA==,aOvjyyLA; profile-level-id=64001F\r\na=control:streamid=0\r\nm=audio 0 RTP/AVP 97\r\nb=AS:128\r\na=rtpmap:97 MPEG4-GENERIC/48000/2\r\na=fmtp:97 profile-level-id=1;mode=AAC-hbr;sizelength=13;indexlength=3;indexdeltalength=3; config=119056E500\r\na=control:streamid=1\r\n";

    #[test]
    fn ffmpeg_announce() {
        let m = parse(FFMPEG.as_bytes()).unwrap();
        assert_eq!(m.len(), 2);
        assert_eq!(m[0].control, "streamid=0");
        assert_eq!(m[0].format.encoding, "H264");
        assert_eq!(m[0].format.clock_rate, 90000);
        assert!(m[0].format.fmtp.as_deref().unwrap().contains("sprop"));
        assert_eq!(m[1].format.encoding, "MPEG4-GENERIC");
        assert_eq!((m[1].profile, &m[1].key_mgmt), (Profile::Avp, &None));
        assert_eq!(
            (m[1].format.clock_rate, m[1].format.channels),
            (48000, Some(2))
        );
    }

    /// rtspclientsink's ANNOUNCE with `profiles=savp` (docs/srtp-rtsps.md 1.3).
    #[test]
    fn savp_with_mikey() {
        let sdp = "v=0\r\na=key-mgmt:mikey U0VTU0lPTg==\r\nm=video 0 RTP/SAVP 96\r\na=rtpmap:96 H264/90000\r\na=control:stream=0\r\na=key-mgmt:mikey AQAFAJLz\r\nm=audio 0 RTP/SAVP 97\r\na=rtpmap:97 OPUS/48000/2\r\na=control:stream=1\r\n";
        let m = parse(sdp.as_bytes()).unwrap();
        assert_eq!(m[0].profile, Profile::Savp);
        assert_eq!(m[0].key_mgmt.as_deref(), Some("AQAFAJLz"));
        assert_eq!(m[1].key_mgmt.as_deref(), Some("U0VTU0lPTg=="));
        let d = describe(
            &[(
                1,
                true,
                "a=rtpmap:96 H264/90000\na=key-mgmt:mikey AA==".into(),
            )],
            "S",
            Profile::Savp,
        );
        assert!(d.contains("m=video 0 RTP/SAVP 96\r\n"));
        assert!(d.contains("a=key-mgmt:mikey AA==\r\n"));
        assert!(
            d.contains("a=control:trackID=1\r\n"),
            "the track's own index"
        );
    }

    #[test]
    fn static_payload_types_and_garbage() {
        let m = parse(b"v=0\nm=audio 0 RTP/AVP 0\na=control:x\n").unwrap();
        assert_eq!(m[0].format.encoding, "PCMU");
        assert!(parse(b"v=0\n").is_err());
        assert!(parse(b"m=video\n").is_err());
        assert!(parse(b"m=video 0 RTP/AVP 300\n").is_err());
        assert!(parse(&[0xff, 0xfe]).is_err());
    }
}
