//! FLV audio/video tag bodies through ingest, as a publisher would send them.
#![no_main]
use bytes::Bytes;
use ferrocast_rtmp::chunk::Message;
use ferrocast_rtmp::ingest::Ingest;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let mut ingest = Ingest::new();
    let mut ts = 0u32;
    // Records: [type, len, body...]
    let mut p = 0;
    while p + 2 <= data.len() {
        let type_id = if data[p] & 1 == 0 { 8 } else { 9 };
        let len = data[p + 1] as usize;
        p += 2;
        let end = (p + len).min(data.len());
        let m = Message {
            type_id,
            stream_id: 1,
            timestamp: ts,
            payload: Bytes::copy_from_slice(&data[p..end]),
        };
        ts = ts.wrapping_add(data[p - 2] as u32);
        p = end;
        if ingest.push(m).is_err() {
            return;
        }
    }
});
