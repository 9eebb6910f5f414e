//! RTMP chunk stream (RTMP specification 1.0, section 5.3): messages split into chunks.

use std::collections::HashMap;

use bytes::{Buf, BufMut, Bytes, BytesMut};

/// Most chunk streams a peer may keep open at once; real clients use fewer than ten.
const MAX_CHUNK_STREAMS: usize = 64;
/// Most bytes of unfinished messages a peer may leave across its chunk streams (a message
/// is at most 16 MiB, but 64 streams of those would be 1 GiB per connection).
const MAX_PENDING: usize = 32 * 1024 * 1024;
/// Largest chunk size a peer may set (the specification's limit). Memory never depends
/// on it: buffers grow with the data actually received.
const MAX_IN_CHUNK_SIZE: usize = 0x7fff_ffff;

pub const MSG_SET_CHUNK_SIZE: u8 = 1;
pub const MSG_ABORT: u8 = 2;
pub const MSG_ACK: u8 = 3;
pub const MSG_USER_CONTROL: u8 = 4;
pub const MSG_WINDOW_ACK_SIZE: u8 = 5;
pub const MSG_SET_PEER_BANDWIDTH: u8 = 6;
pub const MSG_AUDIO: u8 = 8;
pub const MSG_VIDEO: u8 = 9;
pub const MSG_DATA_AMF3: u8 = 15;
pub const MSG_COMMAND_AMF3: u8 = 17;
pub const MSG_DATA_AMF0: u8 = 18;
pub const MSG_COMMAND_AMF0: u8 = 20;
pub const MSG_AGGREGATE: u8 = 22;

/// One complete RTMP message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Message {
    pub type_id: u8,
    pub stream_id: u32,
    /// Milliseconds, as sent (wraps at 2^32).
    pub timestamp: u32,
    pub payload: Bytes,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ChunkError {
    #[error("chunk at byte {offset}: first chunk of chunk stream {csid} is not a type 0 chunk")]
    NoPreviousHeader { offset: u64, csid: u32 },
    #[error("chunk at byte {offset}: more than {MAX_CHUNK_STREAMS} chunk streams open")]
    TooManyChunkStreams { offset: u64 },
    #[error("invalid chunk size {0}")]
    InvalidChunkSize(u32),
    #[error("chunk at byte {offset}: message length changed in the middle of a message")]
    LengthChanged { offset: u64 },
    #[error("chunk at byte {offset}: more than {MAX_PENDING} bytes of unfinished messages")]
    TooMuchPending { offset: u64 },
}

#[derive(Debug, Default)]
struct ChunkStream {
    timestamp: u32,
    delta: u32,
    length: usize,
    type_id: u8,
    stream_id: u32,
    extended: bool,
    partial: BytesMut,
    started: bool,
}

/// Reassembles messages from chunks. Sans-IO: `push` bytes, then call `next` until `None`.
#[derive(Debug)]
pub struct ChunkDecoder {
    buf: BytesMut,
    chunk_size: usize,
    streams: HashMap<u32, ChunkStream>,
    /// Bytes consumed so far (for error offsets and acknowledgements).
    consumed: u64,
}

impl Default for ChunkDecoder {
    fn default() -> Self {
        ChunkDecoder {
            buf: BytesMut::new(),
            chunk_size: 128,
            streams: HashMap::new(),
            consumed: 0,
        }
    }
}

fn u24(b: &[u8]) -> u32 {
    ((b[0] as u32) << 16) | ((b[1] as u32) << 8) | b[2] as u32
}

impl ChunkDecoder {
    pub fn push(&mut self, data: &[u8]) {
        self.buf.extend_from_slice(data);
    }

    /// Bytes received and not yet parsed.
    pub fn buffered(&self) -> usize {
        self.buf.len()
    }

    pub fn consumed(&self) -> u64 {
        self.consumed
    }

    /// Returns the next complete message, `Ok(None)` when more bytes are needed.
    /// Set Chunk Size and Abort messages are applied here and also returned.
    pub fn next_message(&mut self) -> Result<Option<Message>, ChunkError> {
        loop {
            match self.next_chunk()? {
                None => return Ok(None),
                Some(Some(m)) => {
                    match m.type_id {
                        MSG_SET_CHUNK_SIZE if m.payload.len() >= 4 => {
                            let n = u32::from_be_bytes([
                                m.payload[0],
                                m.payload[1],
                                m.payload[2],
                                m.payload[3],
                            ]) & 0x7fff_ffff;
                            if n == 0 || n as usize > MAX_IN_CHUNK_SIZE {
                                return Err(ChunkError::InvalidChunkSize(n));
                            }
                            self.chunk_size = n as usize;
                        }
                        MSG_ABORT if m.payload.len() >= 4 => {
                            let csid = u32::from_be_bytes([
                                m.payload[0],
                                m.payload[1],
                                m.payload[2],
                                m.payload[3],
                            ]);
                            if let Some(cs) = self.streams.get_mut(&csid) {
                                cs.partial.clear();
                            }
                        }
                        _ => {}
                    }
                    return Ok(Some(m));
                }
                Some(None) => continue, // a chunk that did not complete a message
            }
        }
    }

    /// Parses one chunk. `None`: need more bytes; `Some(None)`: chunk consumed, message
    /// not complete yet.
    fn next_chunk(&mut self) -> Result<Option<Option<Message>>, ChunkError> {
        let b = &self.buf[..];
        if b.is_empty() {
            // Idle connections (players) should not keep a large input buffer around.
            if self.buf.capacity() > 4096 {
                self.buf = BytesMut::new();
            }
            return Ok(None);
        }
        let fmt = b[0] >> 6;
        let (csid, mut p) = match b[0] & 0x3f {
            0 => {
                if b.len() < 2 {
                    return Ok(None);
                }
                (64 + b[1] as u32, 2)
            }
            1 => {
                if b.len() < 3 {
                    return Ok(None);
                }
                (64 + b[1] as u32 + 256 * b[2] as u32, 3)
            }
            n => (n as u32, 1),
        };
        let offset = self.consumed;
        let hlen = [11, 7, 3, 0][fmt as usize];
        if b.len() < p + hlen {
            return Ok(None);
        }
        if !self.streams.contains_key(&csid) {
            if fmt != 0 {
                return Err(ChunkError::NoPreviousHeader { offset, csid });
            }
            if self.streams.len() >= MAX_CHUNK_STREAMS {
                return Err(ChunkError::TooManyChunkStreams { offset });
            }
        }
        let h = &b[p..p + hlen];
        p += hlen;
        let prev_extended = self.streams.get(&csid).map(|c| c.extended).unwrap_or(false);
        let ts_field = if fmt < 3 { u24(&h[0..3]) } else { 0 };
        let extended = if fmt < 3 {
            ts_field == 0xff_ffff
        } else {
            prev_extended
        };
        let mut ext_ts = 0;
        if extended {
            if b.len() < p + 4 {
                return Ok(None);
            }
            ext_ts = u32::from_be_bytes([b[p], b[p + 1], b[p + 2], b[p + 3]]);
            p += 4;
        }
        // Work out the message this chunk belongs to, without mutating until the whole
        // chunk is present.
        let cs = self.streams.get(&csid);
        let in_progress = cs.map(|c| !c.partial.is_empty()).unwrap_or(false);
        let length = if fmt <= 1 {
            u24(&h[3..6]) as usize
        } else {
            cs.map(|c| c.length).unwrap_or(0)
        };
        if in_progress && fmt <= 1 && cs.map(|c| c.length) != Some(length) {
            return Err(ChunkError::LengthChanged { offset });
        }
        let have = cs.map(|c| c.partial.len()).unwrap_or(0);
        let n = (length - have.min(length)).min(self.chunk_size);
        if b.len() < p + n {
            return Ok(None);
        }
        if n > 0
            && self
                .streams
                .values()
                .map(|c| c.partial.len())
                .sum::<usize>()
                + n
                > MAX_PENDING
        {
            return Err(ChunkError::TooMuchPending { offset });
        }
        let chunk_range = p..p + n;
        let total = p + n;
        let cs = self.streams.entry(csid).or_default();
        let ts_val = if extended { ext_ts } else { ts_field };
        match fmt {
            0 => {
                cs.timestamp = ts_val;
                cs.delta = 0;
                cs.length = length;
                cs.type_id = h[6];
                cs.stream_id = u32::from_le_bytes([h[7], h[8], h[9], h[10]]);
            }
            1 => {
                cs.delta = ts_val;
                cs.length = length;
                cs.type_id = h[6];
                if !in_progress {
                    cs.timestamp = cs.timestamp.wrapping_add(ts_val);
                }
            }
            2 => {
                cs.delta = ts_val;
                if !in_progress {
                    cs.timestamp = cs.timestamp.wrapping_add(ts_val);
                }
            }
            _ => {
                if !in_progress && cs.started {
                    cs.timestamp = cs.timestamp.wrapping_add(cs.delta);
                }
            }
        }
        cs.started = true;
        cs.extended = extended;
        cs.partial.extend_from_slice(&self.buf[chunk_range]);
        let done = cs.partial.len() >= cs.length;
        let msg = if done {
            Some(Message {
                type_id: cs.type_id,
                stream_id: cs.stream_id,
                timestamp: cs.timestamp,
                payload: cs.partial.split().freeze(),
            })
        } else {
            None
        };
        self.buf.advance(total);
        self.consumed += total as u64;
        Ok(Some(msg))
    }
}

/// Serializes a message into chunks of `chunk_size` bytes: a type 0 chunk, then type 3
/// chunks. Self-contained (no header compression), so the same bytes can go to every
/// reader whatever it received before.
pub fn encode(
    out: &mut BytesMut,
    csid: u8,
    timestamp: u32,
    type_id: u8,
    stream_id: u32,
    payload: &[u8],
    chunk_size: usize,
) {
    debug_assert!((2..64).contains(&csid));
    let extended = timestamp >= 0xff_ffff;
    let chunks = payload.len().div_ceil(chunk_size).max(1);
    out.reserve(payload.len() + 12 + (chunks - 1) * if extended { 5 } else { 1 } + 4);
    out.put_u8(csid);
    let ts3 = if extended { 0xff_ffff } else { timestamp };
    out.put_slice(&[(ts3 >> 16) as u8, (ts3 >> 8) as u8, ts3 as u8]);
    let len = payload.len() as u32;
    out.put_slice(&[(len >> 16) as u8, (len >> 8) as u8, len as u8]);
    out.put_u8(type_id);
    out.put_u32_le(stream_id);
    if extended {
        out.put_u32(timestamp);
    }
    for (i, part) in payload.chunks(chunk_size).enumerate() {
        if i > 0 {
            out.put_u8(0xc0 | csid);
            if extended {
                out.put_u32(timestamp);
            }
        }
        out.put_slice(part);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_with_small_chunks_and_byte_by_byte_input() {
        let payload: Vec<u8> = (0..1000u32).map(|i| i as u8).collect();
        let mut out = BytesMut::new();
        encode(&mut out, 6, 1234, MSG_VIDEO, 1, &payload, 128);
        encode(&mut out, 4, 0x0100_0000, MSG_AUDIO, 1, b"abc", 128);
        let mut d = ChunkDecoder::default();
        let mut msgs = vec![];
        for b in out.iter() {
            d.push(&[*b]);
            while let Some(m) = d.next_message().unwrap() {
                msgs.push(m);
            }
        }
        assert_eq!(msgs.len(), 2);
        assert_eq!(&msgs[0].payload[..], &payload[..]);
        assert_eq!(msgs[0].timestamp, 1234);
        assert_eq!(msgs[1].timestamp, 0x0100_0000);
        assert_eq!(&msgs[1].payload[..], b"abc");
    }

    #[test]
    fn compressed_headers() {
        // fmt0 ts=100 len=2 type=9, then fmt2 delta=40 (same length/type), then fmt3.
        let bytes = [
            0x06, 0, 0, 100, 0, 0, 2, 9, 1, 0, 0, 0, b'a', b'b', // fmt 0
            0x86, 0, 0, 40, b'c', b'd', // fmt 2
            0xc6, b'e', b'f', // fmt 3: new message, delta again
        ];
        let mut d = ChunkDecoder::default();
        d.push(&bytes);
        let ts: Vec<u32> = std::iter::from_fn(|| d.next_message().unwrap())
            .map(|m| m.timestamp)
            .collect();
        assert_eq!(ts, vec![100, 140, 180]);
    }

    #[test]
    fn set_chunk_size_applies() {
        let mut out = BytesMut::new();
        encode(
            &mut out,
            2,
            0,
            MSG_SET_CHUNK_SIZE,
            0,
            &4096u32.to_be_bytes(),
            128,
        );
        let big = vec![7u8; 3000];
        encode(&mut out, 6, 0, MSG_VIDEO, 1, &big, 4096);
        let mut d = ChunkDecoder::default();
        d.push(&out);
        assert_eq!(
            d.next_message().unwrap().unwrap().type_id,
            MSG_SET_CHUNK_SIZE
        );
        assert_eq!(d.next_message().unwrap().unwrap().payload.len(), 3000);
    }

    #[test]
    fn malformed() {
        let mut d = ChunkDecoder::default();
        d.push(&[0x46, 0, 0, 1, 0, 0, 1, 9]);
        assert!(matches!(
            d.next_message(),
            Err(ChunkError::NoPreviousHeader { csid: 6, .. })
        ));
        let mut d = ChunkDecoder::default();
        let mut out = BytesMut::new();
        encode(
            &mut out,
            2,
            0,
            MSG_SET_CHUNK_SIZE,
            0,
            &0u32.to_be_bytes(),
            128,
        );
        d.push(&out);
        assert!(d.next_message().is_err());
    }
}
