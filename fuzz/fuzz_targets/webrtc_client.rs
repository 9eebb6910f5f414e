//! What the WHIP/WHEP client (forwards to whip://, sources from whep://) reads from a
//! remote server: its HTTP response (status line, headers, Content-Length or chunked body,
//! Location), and the URLs it is configured with. The first byte picks the entry point.
#![no_main]
use ferrocast_webrtc::fuzzing as f;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((&sel, rest)) = data.split_first() else {
        return;
    };
    match sel % 2 {
        0 => {
            // Every prefix, as the client sees the response arrive in pieces.
            let step = rest.len() / 8 + 1;
            let mut end = 0;
            while end < rest.len() {
                end = (end + step).min(rest.len());
                let _ = f::whip_http_response(&rest[..end]);
            }
        }
        _ => {
            let _ = f::whip_url(&String::from_utf8_lossy(rest));
        }
    }
});
