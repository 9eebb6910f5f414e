//! SDP media formats: `PT` (first byte), then `rtpmap\nfmtp`. Whatever becomes a track must
//! be announced again as a format that maps back to the same codec and configuration.
#![no_main]
use ferrocast_rtp::{format_for_track, sdp_attributes, track_from_format, Depacketizer, MediaFormat};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((&pt, rest)) = data.split_first() else {
        return;
    };
    let Ok(text) = std::str::from_utf8(rest) else {
        return;
    };
    let (rtpmap, fmtp) = text.split_once('\n').unwrap_or((text, ""));
    let rtpmap = (!rtpmap.is_empty()).then_some(rtpmap);
    let Ok(format) = MediaFormat::parse(pt & 0x7f, rtpmap, Some(fmtp)) else {
        return;
    };
    let _ = sdp_attributes(&format);
    let _ = Depacketizer::new(&format);
    let Ok(track) = track_from_format(&format) else {
        return;
    };
    if let Some(again) = format_for_track(&track, 96) {
        let _ = sdp_attributes(&again);
        let back = track_from_format(&again).expect("our own format");
        assert_eq!(back.codec, track.codec);
        assert_eq!(back.config, track.config);
    }
});
