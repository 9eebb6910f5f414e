//! The whole server-side RTMP session (after a valid handshake): chunk stream, control
//! messages, AMF0 commands, and the publisher's media through ingest.
#![no_main]
use ferrocast_rtmp::ingest::Ingest;
use ferrocast_rtmp::session::{ServerEvent, ServerSession};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let mut s = ServerSession::new();
    let mut hs = vec![3u8];
    hs.extend(std::iter::repeat(0).take(1536 * 2));
    let _ = s.handle_input(&hs);
    let mut ingest = Ingest::new();
    // Split the input at a fuzzer-chosen point so that partial reads are exercised too.
    let cut = data.first().map(|b| *b as usize).unwrap_or(0).min(data.len());
    for part in [&data[..cut], &data[cut..]] {
        match s.handle_input(part) {
            Ok(events) => {
                for ev in events {
                    if let ServerEvent::Media(m) = ev {
                        if ingest.push(m).is_err() {
                            return;
                        }
                    }
                }
            }
            Err(_) => return,
        }
        let _ = s.take_output();
    }
});
