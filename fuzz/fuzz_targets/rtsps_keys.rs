//! What RTSPS peers send for SRTP, on arbitrary bytes: MIKEY messages (binary and base64),
//! `KeyMgmt` headers, and SRTP/SRTCP packets under a known key (the first byte chooses
//! whether they are protected properly before the rest is damaged). Errors are fine;
//! panics are not.
#![no_main]
use ferrocast_rtp::srtp::{MasterKey, SrtpReceiver, SrtpSender};
use ferrocast_rtsp::mikey;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    let _ = mikey::decode(rest);
    if let Ok(s) = std::str::from_utf8(rest) {
        let _ = mikey::from_base64(s);
        let _ = mikey::parse_key_mgmt(s, "rtsp://h/p/trackID=0");
    }
    let key = MasterKey([7; 30]);
    let mut rx = SrtpReceiver::new(&key, &[(1, 2)]);
    let mut pkt = rest.to_vec();
    if mode & 1 == 1 {
        // A valid packet, then one bit flipped: authentication must catch it.
        let mut tx = SrtpSender::new(&key);
        if mode & 2 == 0 {
            tx.protect_rtp(&mut pkt, 0);
        } else {
            tx.protect_rtcp(&mut pkt, 0);
        }
        let _ = rx.unprotect_rtp(&pkt);
        let _ = rx.unprotect_rtcp(&pkt);
        if let Some(b) = pkt.get_mut(usize::from(mode >> 2)) {
            *b ^= 0x10;
            assert!(rx.unprotect_rtp(&pkt).is_err() || rx.unprotect_rtcp(&pkt).is_err());
        }
    } else {
        let _ = rx.unprotect_rtp(&pkt);
        let _ = rx.unprotect_rtcp(&pkt);
    }
});
