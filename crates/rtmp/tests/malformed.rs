//! Malformed input through the whole server-side pipeline (session + ingest): every input
//! ends in events or an error, never a panic. A deterministic cousin of the cargo-fuzz
//! targets in fuzz/, so that CI exercises the same code on stable Rust.

use bytes::BytesMut;
use ferrocast_rtmp::amf0::{self, Amf0};
use ferrocast_rtmp::chunk::{self, ChunkDecoder};
use ferrocast_rtmp::ingest::Ingest;
use ferrocast_rtmp::session::{ServerEvent, ServerSession};

/// xorshift: reproducible pseudo-random bytes without a dependency.
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
}

/// A valid publisher conversation: handshake, connect, createStream, publish, media.
fn valid_publisher_bytes() -> Vec<u8> {
    let mut out = vec![3u8];
    out.extend(std::iter::repeat_n(0u8, 1536 * 2));
    let mut b = BytesMut::new();
    let cmd = |v: &[Amf0]| amf0::encode_all(v);
    chunk::encode(
        &mut b,
        3,
        0,
        chunk::MSG_COMMAND_AMF0,
        0,
        &cmd(&[
            Amf0::str("connect"),
            Amf0::Number(1.0),
            Amf0::obj(&[
                ("app", Amf0::str("live")),
                ("tcUrl", Amf0::str("rtmp://h/live")),
            ]),
        ]),
        128,
    );
    chunk::encode(
        &mut b,
        3,
        0,
        chunk::MSG_COMMAND_AMF0,
        0,
        &cmd(&[Amf0::str("createStream"), Amf0::Number(2.0), Amf0::Null]),
        128,
    );
    chunk::encode(
        &mut b,
        3,
        0,
        chunk::MSG_COMMAND_AMF0,
        1,
        &cmd(&[
            Amf0::str("publish"),
            Amf0::Number(3.0),
            Amf0::Null,
            Amf0::str("cam"),
        ]),
        128,
    );
    // AVC sequence header, AAC sequence header, frames.
    let avcc = [
        0x17, 0, 0, 0, 0, 1, 0x64, 0, 0x1f, 0xff, 0xe1, 0, 4, 0x67, 0x64, 0, 0x1f, 1, 0, 3, 0x68,
        0xeb, 0xe3,
    ];
    chunk::encode(&mut b, 7, 0, chunk::MSG_VIDEO, 1, &avcc, 128);
    chunk::encode(
        &mut b,
        6,
        0,
        chunk::MSG_AUDIO,
        1,
        &[0xaf, 0, 0x11, 0x90],
        128,
    );
    for i in 0..5u32 {
        chunk::encode(
            &mut b,
            7,
            i * 33,
            chunk::MSG_VIDEO,
            1,
            &[0x17, 1, 0, 0, 0, 0, 0, 0, 2, 0x65, 0x88],
            128,
        );
        chunk::encode(
            &mut b,
            6,
            i * 21,
            chunk::MSG_AUDIO,
            1,
            &[0xaf, 1, 1, 2, 3],
            128,
        );
    }
    out.extend_from_slice(&b);
    out
}

fn run_server(input: &[u8], split: usize) -> usize {
    let mut s = ServerSession::new();
    let mut ingest = Ingest::new();
    let mut units = 0;
    for part in input.chunks(split.max(1)) {
        match s.handle_input(part) {
            Ok(events) => {
                for ev in events {
                    if let ServerEvent::Publish { stream_id, name } = &ev {
                        s.accept_publish(*stream_id, name);
                    }
                    if let ServerEvent::Media(m) = ev {
                        match ingest.push(m) {
                            Ok(evs) => units += evs.len(),
                            Err(_) => return units,
                        }
                    }
                }
            }
            Err(_) => return units,
        }
        let _ = s.take_output();
    }
    units
}

#[test]
fn valid_conversation_yields_units_whatever_the_read_sizes() {
    let input = valid_publisher_bytes();
    for split in [1, 7, 100, 1537, 4096, input.len()] {
        assert!(run_server(&input, split) >= 10, "split {split}");
    }
}

#[test]
fn mutated_conversations_never_panic() {
    let base = valid_publisher_bytes();
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    for _ in 0..3000 {
        let mut input = base.clone();
        for _ in 0..1 + rng.below(8) {
            // Mutate only after the handshake, where parsing happens.
            if input.len() <= 3073 {
                break;
            }
            let pos = 3073 + rng.below(input.len() - 3073);
            match rng.below(4) {
                0 => input[pos] = rng.next() as u8,
                1 => input[pos] ^= 1 << rng.below(8),
                2 => input.truncate(pos),
                _ => {
                    let n = rng.below(16);
                    let bytes: Vec<u8> = (0..n).map(|_| rng.next() as u8).collect();
                    input.splice(pos..pos, bytes);
                }
            }
        }
        let split = 1 + rng.below(2000);
        run_server(&input, split);
    }
}

#[test]
fn random_bytes_never_panic() {
    let mut rng = Rng(42);
    for _ in 0..2000 {
        let n = rng.below(600);
        let data: Vec<u8> = (0..n).map(|_| rng.next() as u8).collect();
        let _ = amf0::decode_all(&data);
        let mut d = ChunkDecoder::default();
        d.push(&data);
        while let Ok(Some(_)) = d.next_message() {}
        run_server(
            &[&[3u8][..], &[0u8; 3072], &data].concat(),
            1 + rng.below(64),
        );
    }
}
