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

/// The first transport in `header` we can serve (clients may list several, comma-separated).
pub fn parse(header: &str, next_channel: u8) -> Option<Transport> {
    parse_all(header, next_channel).into_iter().next()
}

/// Every transport in `header` we could serve, in the client's order of preference.
pub fn parse_all(header: &str, next_channel: u8) -> Vec<Transport> {
    let mut out = Vec::new();
    for spec in header.split(',').take(16) {
        let mut params = spec.split(';').map(str::trim);
        let proto = params.next().unwrap_or_default().to_ascii_uppercase();
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
        if proto == "RTP/AVP/TCP" {
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
            out.push(Transport::Interleaved {
                rtp: rtp as u8,
                rtcp: rtcp as u8,
            });
            continue;
        }
        if proto == "RTP/AVP" || proto == "RTP/AVP/UDP" {
            if params.iter().any(|p| p.eq_ignore_ascii_case("multicast")) {
                out.push(Transport::Multicast);
                continue;
            }
            let Some((a, b)) = get("client_port").and_then(pair) else {
                continue;
            };
            if a == 0 || a > 65535 || b > 65535 {
                continue;
            }
            out.push(Transport::Udp {
                client_rtp: a as u16,
                client_rtcp: b as u16,
            });
        }
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
                Transport::Udp {
                    client_rtp: 5000,
                    client_rtcp: 5001
                },
                Transport::Interleaved { rtp: 2, rtcp: 3 }
            ]
        );
        assert!(is_record("RTP/AVP/TCP;unicast;interleaved=0-1;mode=record"));
    }
}
