//! The `Transport` header (RFC 2326 12.39).

/// What a client asked for in SETUP.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Transport {
    /// RTP over the RTSP connection, on these two channels.
    Interleaved { rtp: u8, rtcp: u8 },
    /// RTP over UDP to/from these client ports.
    Udp { client_rtp: u16, client_rtcp: u16 },
    /// UDP multicast.
    Multicast,
}

/// The RTP profile of a transport: plain RTP, or SRTP (RFC 3711).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Profile {
    Avp,
    Savp,
}

impl Profile {
    /// As in `Transport` headers and SDP `m=` lines.
    pub fn name(self) -> &'static str {
        match self {
            Profile::Avp => "RTP/AVP",
            Profile::Savp => "RTP/SAVP",
        }
    }

    /// As the API shows it.
    pub fn api_name(self) -> &'static str {
        match self {
            Profile::Avp => "AVP",
            Profile::Savp => "SAVP",
        }
    }
}

/// The first transport in `header` we can serve (clients may list several, comma-separated).
pub fn parse(header: &str, next_channel: u8) -> Option<Transport> {
    parse_all(header, next_channel)
        .into_iter()
        .next()
        .map(|(t, _)| t)
}

/// Every transport in `header` we could serve, with its profile, in the client's order
/// of preference.
pub fn parse_all(header: &str, next_channel: u8) -> Vec<(Transport, Profile)> {
    let mut out = Vec::new();
    for spec in header.split(',').take(16) {
        let mut params = spec.split(';').map(str::trim);
        let proto = params.next().unwrap_or_default().to_ascii_uppercase();
        let (profile, lower) = match proto.as_str() {
            "RTP/AVP" | "RTP/AVP/UDP" => (Profile::Avp, "UDP"),
            "RTP/AVP/TCP" => (Profile::Avp, "TCP"),
            "RTP/SAVP" | "RTP/SAVP/UDP" => (Profile::Savp, "UDP"),
            "RTP/SAVP/TCP" => (Profile::Savp, "TCP"),
            _ => continue,
        };
        let params: Vec<&str> = params.collect();
        let get = |k: &str| {
            params.iter().find_map(|p| {
                let (key, v) = p.split_once('=')?;
                key.trim().eq_ignore_ascii_case(k).then(|| v.trim())
            })
        };
        let pair = |v: &str| -> Option<(u32, u32)> {
            let mut it = v.split('-');
            let a: u32 = it.next()?.trim().parse().ok()?;
            let b: u32 = match it.next() {
                Some(b) => b.trim().parse().ok()?,
                None => a + 1,
            };
            Some((a, b))
        };
        if lower == "TCP" {
            let (rtp, rtcp) = match get("interleaved") {
                Some(v) => match pair(v) {
                    Some(p) => p,
                    None => continue,
                },
                None => (u32::from(next_channel), u32::from(next_channel) + 1),
            };
            if rtp > 255 || rtcp > 255 {
                continue;
            }
            out.push((
                Transport::Interleaved {
                    rtp: rtp as u8,
                    rtcp: rtcp as u8,
                },
                profile,
            ));
            continue;
        }
        if params.iter().any(|p| p.eq_ignore_ascii_case("multicast")) {
            out.push((Transport::Multicast, profile));
            continue;
        }
        let Some((a, b)) = get("client_port").and_then(pair) else {
            continue;
        };
        if a == 0 || a > 65535 || b > 65535 {
            continue;
        }
        out.push((
            Transport::Udp {
                client_rtp: a as u16,
                client_rtcp: b as u16,
            },
            profile,
        ));
    }
    out
}

/// Whether the client said `mode=record` (a publisher's SETUP).
pub fn is_record(header: &str) -> bool {
    header
        .to_ascii_lowercase()
        .split(';')
        .any(|p| p.trim().trim_matches('"') == "mode=record" || p.trim() == "mode=\"record\"")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clients() {
        assert_eq!(
            parse("RTP/AVP/TCP;unicast;interleaved=2-3;mode=record", 0),
            Some(Transport::Interleaved { rtp: 2, rtcp: 3 })
        );
        assert_eq!(
            parse("RTP/AVP;unicast;client_port=5000-5001", 0),
            Some(Transport::Udp {
                client_rtp: 5000,
                client_rtcp: 5001
            })
        );
        assert_eq!(
            parse(
                "RTP/AVP;multicast;client_port=5000-5001,RTP/AVP/TCP;interleaved=0-1",
                0
            ),
            Some(Transport::Multicast)
        );
        assert_eq!(parse("RTP/AVP/TCP;interleaved=999-1000", 0), None);
        assert_eq!(parse("RAW/RAW/UDP", 0), None);
        assert_eq!(
            parse_all(
                "RTP/AVP;unicast;client_port=5000-5001,RTP/AVP/TCP;unicast",
                2
            ),
            vec![
                (
                    Transport::Udp {
                        client_rtp: 5000,
                        client_rtcp: 5001
                    },
                    Profile::Avp
                ),
                (Transport::Interleaved { rtp: 2, rtcp: 3 }, Profile::Avp)
            ]
        );
        assert!(is_record("RTP/AVP/TCP;unicast;interleaved=0-1;mode=record"));
    }

    /// What GStreamer and ffmpeg send to an RTSPS server (docs/srtp-rtsps.md 1.1).
    #[test]
    fn secure_profiles() {
        let udp = |a, b| Transport::Udp {
            client_rtp: a,
            client_rtcp: b,
        };
        assert_eq!(
            parse_all("RTP/SAVP;unicast;client_port=33548-33549", 0),
            vec![(udp(33548, 33549), Profile::Savp)]
        );
        assert_eq!(
            parse_all("RTP/SAVP/TCP;unicast;interleaved=0-1", 0),
            vec![(Transport::Interleaved { rtp: 0, rtcp: 1 }, Profile::Savp)]
        );
        let sink = "RTP/SAVP/UDP;unicast;client_port=38288-38289;mode=RECORD";
        assert_eq!(parse_all(sink, 0), vec![(udp(38288, 38289), Profile::Savp)]);
        assert!(is_record(sink));
        assert_eq!(
            parse_all("RTP/SAVP;multicast", 0),
            vec![(Transport::Multicast, Profile::Savp)]
        );
        assert_eq!(
            parse_all("RTP/AVP/TCP;unicast;interleaved=0-1", 0)[0].1,
            Profile::Avp
        );
    }
}
