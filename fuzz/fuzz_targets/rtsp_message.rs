//! The RTSP message decoder, the announce SDP parser, the Transport header parser, the
//! authentication headers (both sides) and the client's URL parsing on arbitrary bytes fed
//! in arbitrary pieces: errors are fine, panics and unbounded buffering are not.
#![no_main]
use ferrocast_rtsp::message::{Decoder, Item, MAX_BODY_BYTES, MAX_HEADER_BYTES};
use ferrocast_rtsp::auth::{parse_challenges, Credentials};
use ferrocast_rtsp::client::{control_url, RtspUrl};
use ferrocast_rtsp::{sdp, transport};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((&split, rest)) = data.split_first() else {
        return;
    };
    let _ = sdp::parse(rest);
    if let Ok(s) = std::str::from_utf8(rest) {
        let _ = transport::parse(s, split);
        let _ = transport::is_record(s);
        let _ = transport::parse_all(s, split);
        let _ = parse_challenges([s]);
        if let Some(c) = Credentials::parse(s) {
            let _ = c.digest_matches("pass", "realm", "nonce", "DESCRIBE");
        }
        let _ = RtspUrl::parse(s);
        let _ = control_url("rtsp://h/p", s);
    }
    let mut d = Decoder::new();
    for chunk in rest.chunks(usize::from(split).max(1)) {
        d.push(chunk);
        loop {
            match d.next_item() {
                Ok(Some(Item::Request(r))) => assert!(r.body.len() <= MAX_BODY_BYTES),
                Ok(Some(_)) => {}
                Ok(None) => break,
                Err(_) => return,
            }
        }
        assert!(d.buffered() <= MAX_HEADER_BYTES + MAX_BODY_BYTES + 65_540);
    }
});
