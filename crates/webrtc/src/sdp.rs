//! The little SDP reading this crate does itself, on top of str0m's parser: which H264
//! payload types an offer lists (to answer with the profile the stream has), and the
//! candidates of a trickle-ICE fragment (RFC 8840).

use crate::h264::{profile_of, profile_score, Profile};

/// One H264 payload type of an offer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OfferedH264 {
    pub pt: u8,
    /// The RTX payload type bound to it (`apt=`), if any.
    pub rtx: Option<u8>,
    pub profile_level_id: u32,
    pub packetization_mode: u8,
}

/// The H264 payload types of `offer`, in offer (preference) order.
pub fn offered_h264(offer: &str) -> Vec<OfferedH264> {
    let mut h264_pts: Vec<u8> = Vec::new();
    let mut rtx_apt: Vec<(u8, u8)> = Vec::new();
    let mut rtx_pts: Vec<u8> = Vec::new();
    let mut fmtp: Vec<(u8, &str)> = Vec::new();
    for line in offer.lines().map(str::trim) {
        if let Some(rest) = line.strip_prefix("a=rtpmap:") {
            let Some((pt, enc)) = rest.split_once(' ') else {
                continue;
            };
            let Ok(pt) = pt.parse::<u8>() else { continue };
            let name = enc.split('/').next().unwrap_or("");
            if name.eq_ignore_ascii_case("H264") {
                h264_pts.push(pt);
            } else if name.eq_ignore_ascii_case("rtx") {
                rtx_pts.push(pt);
            }
        } else if let Some(rest) = line.strip_prefix("a=fmtp:") {
            let Some((pt, params)) = rest.split_once(' ') else {
                continue;
            };
            let Ok(pt) = pt.parse::<u8>() else { continue };
            fmtp.push((pt, params));
        }
    }
    for (pt, params) in &fmtp {
        if rtx_pts.contains(pt) {
            if let Some(apt) = param(params, "apt").and_then(|v| v.parse::<u8>().ok()) {
                rtx_apt.push((*pt, apt));
            }
        }
    }
    h264_pts
        .into_iter()
        .map(|pt| {
            let params = fmtp
                .iter()
                .find(|(p, _)| *p == pt)
                .map(|(_, s)| *s)
                .unwrap_or("");
            OfferedH264 {
                pt,
                rtx: rtx_apt.iter().find(|(_, apt)| *apt == pt).map(|(r, _)| *r),
                // RFC 6184 8.1: without profile-level-id, Baseline level 1 (42000a).
                profile_level_id: param(params, "profile-level-id")
                    .and_then(|v| u32::from_str_radix(v, 16).ok())
                    .unwrap_or(0x42000a),
                packetization_mode: param(params, "packetization-mode")
                    .and_then(|v| v.parse().ok())
                    .unwrap_or(0),
            }
        })
        .collect()
}

fn param<'a>(params: &'a str, key: &str) -> Option<&'a str> {
    params.split(';').find_map(|kv| {
        let (k, v) = kv.trim().split_once('=')?;
        k.trim().eq_ignore_ascii_case(key).then_some(v.trim())
    })
}

/// The offered H264 payload type that best suits a stream whose `profile-level-id` is
/// `stream`: packetization-mode 1 (str0m sends FU-A), then the closest profile, then the
/// offerer's preference. `None` when no payload type can carry it.
pub fn choose_h264(offered: &[OfferedH264], stream: Option<u32>) -> Option<OfferedH264> {
    let stream_profile = stream
        .map(profile_of)
        .unwrap_or(Profile::ConstrainedBaseline);
    offered
        .iter()
        .enumerate()
        .filter(|(_, o)| o.packetization_mode == 1)
        .max_by_key(|(i, o)| {
            (
                profile_score(stream_profile, profile_of(o.profile_level_id)),
                usize::MAX - i,
            )
        })
        .map(|(_, o)| o.clone())
}

/// Gives every m-line of `answer` at least one format: str0m writes a rejected m-line as
/// `m=audio 0 UDP/TLS/RTP/SAVPF ` with none, which SDP's grammar (RFC 8866 5.14) does not
/// allow and aiortc refuses. RFC 3264 6 says to list a format of the offer; the first one of
/// the same m-line is used.
pub fn fix_rejected_mlines(answer: &str, offer: &str) -> String {
    let offer_fmts: Vec<&str> = offer
        .lines()
        .filter_map(|l| l.trim().strip_prefix("m="))
        .map(|m| m.split_whitespace().nth(3).unwrap_or("0"))
        .collect();
    let mut index = 0usize;
    let mut out = String::with_capacity(answer.len() + 16);
    for line in answer.split_inclusive('\n') {
        let body = line.trim_end_matches(['\r', '\n']);
        if let Some(m) = body.strip_prefix("m=") {
            let fields: Vec<&str> = m.split_whitespace().collect();
            let fmt = offer_fmts.get(index).copied().unwrap_or("0");
            index += 1;
            if fields.len() == 3 {
                out.push_str("m=");
                out.push_str(&fields.join(" "));
                out.push(' ');
                out.push_str(fmt);
                out.push_str(&line[body.len()..]);
                continue;
            }
        }
        out.push_str(line);
    }
    out
}

/// The `a=candidate:` lines of a trickle-ICE SDP fragment, without the `a=` prefix.
pub fn fragment_candidates(frag: &str) -> Vec<&str> {
    frag.lines()
        .map(str::trim)
        .filter_map(|l| l.strip_prefix("a="))
        .filter(|l| l.starts_with("candidate:"))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    // Chromium-style video section (abridged).
    const OFFER: &str = "v=0\r\n\
        m=video 9 UDP/TLS/RTP/SAVPF 96 97 102 103 127 125\r\n\
        a=rtpmap:96 VP8/90000\r\n\
        a=rtpmap:97 rtx/90000\r\n\
        a=fmtp:97 apt=96\r\n\
        a=rtpmap:102 H264/90000\r\n\
        a=fmtp:102 level-asymmetry-allowed=1;packetization-mode=1;profile-level-id=42001f\r\n\
        a=rtpmap:103 rtx/90000\r\n\
        a=fmtp:103 apt=102\r\n\
        a=rtpmap:127 H264/90000\r\n\
        a=fmtp:127 level-asymmetry-allowed=1;packetization-mode=1;profile-level-id=42e01f\r\n\
        a=rtpmap:125 H264/90000\r\n\
        a=fmtp:125 level-asymmetry-allowed=1;packetization-mode=1;profile-level-id=640032\r\n";

    #[test]
    fn parses_and_chooses() {
        let o = offered_h264(OFFER);
        assert_eq!(o.len(), 3);
        assert_eq!(o[0].pt, 102);
        assert_eq!(o[0].rtx, Some(103));
        assert_eq!(o[0].profile_level_id, 0x42001f);
        assert_eq!(choose_h264(&o, Some(0x64001f)).unwrap().pt, 125);
        assert_eq!(choose_h264(&o, Some(0x42c01e)).unwrap().pt, 127);
        assert_eq!(choose_h264(&o, Some(0x4d001f)).unwrap().pt, 125);
        assert_eq!(choose_h264(&o, None).unwrap().pt, 127);
        assert!(choose_h264(&offered_h264("m=video 9 x 96\r\n"), None).is_none());
    }

    #[test]
    fn mode_zero_is_skipped() {
        let o = offered_h264("a=rtpmap:98 H264/90000\na=fmtp:98 profile-level-id=42e01f\n");
        assert_eq!(o[0].packetization_mode, 0);
        assert!(choose_h264(&o, Some(0x42e01f)).is_none());
    }

    #[test]
    fn rejected_mlines_get_a_format() {
        let offer =
            "v=0\r\nm=video 9 UDP/TLS/RTP/SAVPF 96 97\r\nm=audio 9 UDP/TLS/RTP/SAVPF 111 0\r\n";
        let answer = "v=0\r\nm=video 9 UDP/TLS/RTP/SAVPF 96\r\na=x\r\nm=audio 0 UDP/TLS/RTP/SAVPF \r\na=y\r\n";
        assert_eq!(
            fix_rejected_mlines(answer, offer),
            "v=0\r\nm=video 9 UDP/TLS/RTP/SAVPF 96\r\na=x\r\nm=audio 0 UDP/TLS/RTP/SAVPF 111\r\na=y\r\n"
        );
    }

    #[test]
    fn fragments() {
        let frag = "a=ice-ufrag:abc\r\na=ice-pwd:def\r\nm=audio 9 UDP/TLS/RTP/SAVPF 0\r\na=mid:0\r\n\
                    a=candidate:1 1 udp 2113937151 192.168.1.2 50000 typ host\r\na=end-of-candidates\r\n";
        assert_eq!(
            fragment_candidates(frag),
            vec!["candidate:1 1 udp 2113937151 192.168.1.2 50000 typ host"]
        );
    }
}

/// Puts every track of an answer in one media stream (the first `a=msid` stream id).
///
/// str0m gives each m-line its own stream id; browsers then put video and audio in two
/// MediaStreams (a player showing `streams[0]` loses the picture when audio arrives) and do
/// not lip-sync them. MediaMTX answers with one stream for all tracks, and so do we.
pub fn unify_msid(answer: &str) -> String {
    let mut stream: Option<String> = None;
    let mut out = String::with_capacity(answer.len());
    for line in answer.split_inclusive('\n') {
        let body = line.trim_end_matches(['\r', '\n']);
        let ending = &line[body.len()..];
        let rewritten = if let Some(rest) = body.strip_prefix("a=msid:") {
            let mut parts = rest.splitn(2, ' ');
            let id = parts.next().unwrap_or_default();
            let track = parts.next();
            let common = stream.get_or_insert_with(|| id.to_string()).clone();
            match track {
                Some(t) => format!("a=msid:{common} {t}"),
                None => format!("a=msid:{common}"),
            }
        } else if let (true, Some(pos)) = (body.starts_with("a=ssrc:"), body.find(" msid:")) {
            let (head, rest) = body.split_at(pos + " msid:".len());
            let mut parts = rest.splitn(2, ' ');
            let id = parts.next().unwrap_or_default();
            let track = parts.next().unwrap_or_default();
            let common = stream.get_or_insert_with(|| id.to_string()).clone();
            format!("{head}{common} {track}")
        } else {
            body.to_string()
        };
        out.push_str(&rewritten);
        out.push_str(ending);
    }
    out
}

#[cfg(test)]
mod msid_tests {
    use super::unify_msid;

    #[test]
    fn one_stream_for_all_tracks() {
        let a = "v=0\r\nm=video 9 X 96\r\na=msid:AAA v1\r\na=ssrc:1 msid:AAA v1\r\n\
                 m=audio 9 X 111\r\na=msid:BBB a1\r\na=ssrc:2 msid:BBB a1\r\n";
        let u = unify_msid(a);
        assert!(u.contains("a=msid:AAA a1\r\n"), "{u}");
        assert!(u.contains("a=ssrc:2 msid:AAA a1\r\n"), "{u}");
        assert!(!u.contains("BBB"));
        assert_eq!(unify_msid("garbage"), "garbage");
    }
}
