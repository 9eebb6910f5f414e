#![no_main]
use ferrocast_rtmp::chunk::ChunkDecoder;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let mut d = ChunkDecoder::default();
    for part in data.chunks(7) {
        d.push(part);
        loop {
            match d.next_message() {
                Ok(Some(_)) => continue,
                Ok(None) => break,
                Err(_) => return,
            }
        }
    }
});
