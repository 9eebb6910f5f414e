//! The parts of SDP (RFC 4566) RTSP needs: media sections of an ANNOUNCE, and the
//! description a DESCRIBE returns.

use ferrocast_rtp::MediaFormat;

/// One `m=` section of an announced description.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Media {
    /// "video", "audio", "application".
    pub kind: String,
    /// `a=control`, empty when absent.
    pub control: String,
    pub format: MediaFormat,
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
}

impl Section {
    /// `None` when the format is unusable (no rtpmap for a dynamic payload type): such a
    /// section is skipped, like a codec the server does not know.
    fn finish(self) -> Option<Media> {
        let format =
            MediaFormat::parse(self.pt, self.rtpmap.as_deref(), self.fmtp.as_deref()).ok()?;
        Some(Media {
            kind: self.kind,
            control: self.control,
            format,
        })
    }
}

/// The media sections of `sdp`, each with its first payload format.
pub fn parse(sdp: &[u8]) -> Result<Vec<Media>, SdpError> {
    let text = std::str::from_utf8(sdp).map_err(|_| SdpError::NotUtf8)?;
    let mut sections: Vec<Section> = Vec::new();
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
            sections.push(Section {
                kind: kind.to_string(),
                pt,
                rtpmap: None,
                fmtp: None,
                control: String::new(),
            });
            continue;
        }
        let Some(c) = sections.last_mut() else {
            continue;
        };
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
    Ok(sections.into_iter().filter_map(Section::finish).collect())
}

/// The description of a stream for DESCRIBE: one section per track, controls `trackID=N`.
pub fn describe(sections: &[(bool, String)], session_name: &str) -> String {
    let mut s = String::new();
    s.push_str("v=0\r\n");
    s.push_str("o=- 0 0 IN IP4 127.0.0.1\r\n");
    s.push_str(&format!("s={session_name}\r\n"));
    s.push_str("c=IN IP4 0.0.0.0\r\n");
    s.push_str("t=0 0\r\n");
    s.push_str("a=control:*\r\n");
    for (i, (video, attrs)) in sections.iter().enumerate() {
        let pt = attrs
            .lines()
            .find_map(|l| l.strip_prefix("a=rtpmap:"))
            .and_then(|v| v.split(' ').next())
            .unwrap_or("96");
        let kind = if *video { "video" } else { "audio" };
        s.push_str(&format!("m={kind} 0 RTP/AVP {pt}\r\n"));
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
        assert_eq!(
            (m[1].format.clock_rate, m[1].format.channels),
            (48000, Some(2))
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
