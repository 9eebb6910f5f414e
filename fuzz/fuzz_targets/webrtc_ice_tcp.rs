//! What the WebRTC server reads from a byte stream it does not control: RFC 4571 framing of
//! ICE-TCP connections (delivered in reads of any size, with the first-frame and the
//! steady-state limits) and the player page's messages on its video data channel. Frames
//! come out whole and in order: re-framing them reproduces the input they consumed.
#![no_main]
use ferrocast_webrtc::fuzzing as f;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((&sel, rest)) = data.split_first() else {
        return;
    };
    let step = usize::from(sel & 0x3f) + 1;
    let max = if sel & 0x40 != 0 { 512 } else { 2048 };
    let (frames, failed) = f::ice_tcp_frames(rest, step, max);
    let mut again = Vec::new();
    for fr in &frames {
        assert!(!fr.is_empty() && fr.len() <= max);
        again.extend_from_slice(&f::ice_tcp_frame(fr));
    }
    // Empty frames are skipped, so compare without them.
    let mut expected = Vec::new();
    let mut p = 0usize;
    while p + 2 <= rest.len() && expected.len() < again.len() {
        let len = usize::from(u16::from_be_bytes([rest[p], rest[p + 1]]));
        if len > 0 {
            expected.extend_from_slice(&rest[p..p + 2 + len]);
        }
        p += 2 + len;
    }
    assert_eq!(again, expected);
    let _ = failed;
    let _ = f::video_channel_message(rest);
    let msgs = f::video_channel_chunks(i64::from(sel), sel & 1 == 1, rest);
    let total: usize = msgs.iter().map(|m| m.len() - 16).sum();
    assert_eq!(total, rest.len());
    assert!(msgs.iter().all(|m| m.len() <= 16 * 1024));
});
