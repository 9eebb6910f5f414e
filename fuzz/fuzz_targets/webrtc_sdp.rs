//! The SDP and ICE input the WebRTC server reads or rewrites itself: offer inspection
//! (H264 payload types, codec plan), the answer rewrites (rejected m-lines, msid),
//! trickle-ICE fragments (PATCH), the STUN USERNAME the UDP demultiplexer routes by, request
//! routing, and the whole WHEP/WHIP offer -> answer step around str0m. The first byte picks
//! the entry point and the stream; `\0` separates an offer from a PATCH fragment (or an
//! answer from its offer).
#![no_main]
use ferrocast_webrtc::fuzzing::{self as f, Codec};
use libfuzzer_sys::fuzz_target;

const VIDEO: [Option<Codec>; 6] = [
    Some(Codec::H264),
    Some(Codec::H264),
    Some(Codec::Vp8),
    Some(Codec::Vp9),
    Some(Codec::Av1),
    None,
];
const AUDIO: [Option<Codec>; 4] = [Some(Codec::Opus), Some(Codec::Aac), None, Some(Codec::Opus)];
const PLIDS: [u32; 4] = [0x42e01f, 0x64001f, 0x4d0029, 0x42001e];

/// What the server does with an offer before str0m answers it.
fn offer_checks(offer: &str, sel: u8) {
    let offered = f::offered_h264(offer);
    for stream in [
        None,
        Some(PLIDS[sel as usize % 4]),
        Some(u32::from(sel) << 16),
    ] {
        if let Some(c) = f::choose_h264(&offered, stream) {
            assert_eq!(c.packetization_mode, 1);
            assert!(offered.contains(&c));
        }
    }
    let tracks = f::tracks(
        VIDEO[sel as usize % 6],
        AUDIO[(sel >> 3) as usize % 4],
        PLIDS[(sel >> 5) as usize % 4],
    );
    if let Ok(p) = f::plan(&tracks, offer) {
        assert!(!p.codecs.is_empty());
    }
    // The repair on the offer itself (an answer is SDP of the same shape).
    let fixed = f::fix_rejected_mlines(offer, offer);
    assert_eq!(
        fixed.split_inclusive('\n').count(),
        offer.split_inclusive('\n').count()
    );
    let _ = f::fragment_candidates(offer);
    msid_checks(offer);
}

/// `unify_msid` keeps the lines, leaves SDP without msid alone, and is idempotent.
fn msid_checks(answer: &str) {
    let u = f::unify_msid(answer);
    assert_eq!(
        u.split_inclusive('\n').count(),
        answer.split_inclusive('\n').count()
    );
    if !answer.contains("msid:") {
        assert_eq!(u, answer);
    }
    assert_eq!(f::unify_msid(&u), u);
}

fuzz_target!(|data: &[u8]| {
    let Some((&sel, rest)) = data.split_first() else {
        return;
    };
    let text = String::from_utf8_lossy(rest);
    match sel % 8 {
        0 | 1 => offer_checks(&text, sel),
        2 => {
            // answer \0 offer
            let (a, o) = text.split_once('\0').unwrap_or((&text, ""));
            let fixed = f::fix_rejected_mlines(a, o);
            assert_eq!(
                fixed.split_inclusive('\n').count(),
                a.split_inclusive('\n').count()
            );
            msid_checks(a);
            msid_checks(&fixed);
        }
        3 => {
            if let Ok(cands) = f::trickle(rest) {
                assert!(cands.iter().all(|c| c.starts_with("candidate:")));
            }
        }
        4 => {
            let user = f::stun_username(rest);
            let ufrag = f::local_ufrag(rest);
            assert_eq!(ufrag.is_some(), user.is_some());
            if let (Some(u), Some(l)) = (user, ufrag) {
                assert!(u.starts_with(l));
            }
            let _ = f::target(&text);
        }
        5 => {
            // WHIP: str0m parses, answers; we repair and check.
            let (offer, frag) = text.split_once('\0').unwrap_or((&text, ""));
            let _ = f::negotiate(None, offer, frag.as_bytes());
        }
        _ => {
            let (offer, frag) = text.split_once('\0').unwrap_or((&text, ""));
            let tracks = f::tracks(
                VIDEO[(sel >> 3) as usize % 6],
                AUDIO[(sel >> 5) as usize % 4],
                PLIDS[(sel >> 6) as usize % 4],
            );
            offer_checks(offer, sel);
            if let Ok(answer) = f::negotiate(Some(&tracks), offer, frag.as_bytes()) {
                assert!(answer.lines().any(|l| l.starts_with("m=")));
            }
        }
    }
});
