//! MPEG-1/2 audio over RTP (RFC 2250 3.5): a 4-byte header (MBZ, fragment offset), then
//! whole frames or one fragment of a frame.

use bytes::{BufMut, Bytes, BytesMut};

use crate::{check_frame_size, need, Error, Frame, Payload};

/// Frame length in bytes and samples of the MPEG audio frame header at the start of `b`
/// (ISO/IEC 11172-3 2.4.2.3); `None` for free-format or invalid headers.
pub(crate) fn frame_info(b: &[u8]) -> Option<(usize, u32, u32)> {
    if b.len() < 4 || b[0] != 0xff || b[1] & 0xe0 != 0xe0 {
        return None;
    }
    let version = (b[1] >> 3) & 3; // 0: 2.5, 2: 2, 3: 1
    let layer = (b[1] >> 1) & 3; // 1: III, 2: II, 3: I
    let bitrate_index = (b[2] >> 4) as usize;
    let rate_index = ((b[2] >> 2) & 3) as usize;
    let padding = ((b[2] >> 1) & 1) as usize;
    if version == 1 || layer == 0 || bitrate_index == 0 || bitrate_index == 15 || rate_index == 3 {
        return None;
    }
    const V1: [[u16; 15]; 3] = [
        [
            0, 32, 64, 96, 128, 160, 192, 224, 256, 288, 320, 352, 384, 416, 448,
        ],
        [
            0, 32, 48, 56, 64, 80, 96, 112, 128, 160, 192, 224, 256, 320, 384,
        ],
        [
            0, 32, 40, 48, 56, 64, 80, 96, 112, 128, 160, 192, 224, 256, 320,
        ],
    ];
    const V2: [[u16; 15]; 2] = [
        [
            0, 32, 48, 56, 64, 80, 96, 112, 128, 144, 160, 176, 192, 224, 256,
        ],
        [0, 8, 16, 24, 32, 40, 48, 56, 64, 80, 96, 112, 128, 144, 160],
    ];
    let layer_i = (3 - layer) as usize; // 0: I, 1: II, 2: III
    let kbps = if version == 3 {
        V1[layer_i][bitrate_index]
    } else {
        V2[layer_i.min(1)][bitrate_index]
    } as usize;
    let rate = [44100, 48000, 32000][rate_index]
        >> match version {
            3 => 0,
            2 => 1,
            _ => 2,
        };
    let (len, samples) = match (layer_i, version) {
        (0, _) => ((12 * kbps * 1000 / rate + padding) * 4, 384),
        (1, _) | (2, 3) => (144 * kbps * 1000 / rate + padding, 1152),
        _ => (72 * kbps * 1000 / rate + padding, 576),
    };
    Some((len, samples, rate as u32))
}

/// Splits packets into frames; see [`crate::Depacketizer`].
#[derive(Debug)]
pub(crate) struct Depacketizer {
    clock_rate: u32,
    buf: BytesMut,
    /// Timestamp of the packet with fragment offset 0, bytes received since, and the
    /// timestamp of the next frame.
    start: Option<(i64, usize, i64)>,
}

impl Depacketizer {
    pub fn new(clock_rate: u32) -> Self {
        Depacketizer {
            clock_rate,
            buf: BytesMut::new(),
            start: None,
        }
    }

    pub fn reset(&mut self) {
        self.buf.clear();
        self.start = None;
    }

    pub fn push(&mut self, pts: i64, payload: &[u8], out: &mut Vec<Frame>) -> Result<(), Error> {
        need("MPA header", payload, 4)?;
        let offset = u16::from_be_bytes([payload[2], payload[3]]) as usize;
        let data = &payload[4..];
        match &mut self.start {
            _ if offset == 0 => {
                self.buf.clear();
                self.start = Some((pts, data.len(), pts));
            }
            Some((t, received, _)) if *t == pts && *received == offset => *received += data.len(),
            _ => {
                // A fragment whose start is missing.
                self.reset();
                return Ok(());
            }
        }
        check_frame_size(self.buf.len() + data.len())?;
        self.buf.put_slice(data);
        while !self.buf.is_empty() {
            let Some((_, _, next)) = self.start.as_mut() else {
                break;
            };
            let Some((len, samples, rate)) = frame_info(&self.buf) else {
                if offset == 0 && data.len() >= 4 && self.buf.len() == data.len() {
                    // Free format or unknown: pass the payload through as one frame.
                    out.push(Frame::audio(*next, self.buf.split().freeze()));
                    return Ok(());
                }
                self.reset();
                return Err(Error::Malformed("MPEG audio frame header"));
            };
            if self.buf.len() < len {
                break; // continues in the next packet
            }
            out.push(Frame::audio(*next, self.buf.split_to(len).freeze()));
            *next += samples as i64 * self.clock_rate as i64 / rate as i64;
        }
        Ok(())
    }
}

/// One unit per packet, or fragments with offsets when it does not fit.
#[derive(Debug)]
pub(crate) struct Packetizer {
    pub mtu: usize,
}

impl Packetizer {
    pub fn packetize(&mut self, data: &Bytes, out: &mut Vec<Payload>) -> Result<(), Error> {
        if data.len() > 0xffff {
            return Err(Error::Malformed("MPEG audio frame larger than 65535 bytes"));
        }
        for (i, chunk) in data.chunks(self.mtu - 4).enumerate() {
            let mut p = BytesMut::with_capacity(chunk.len() + 4);
            p.put_u16(0);
            p.put_u16((i * (self.mtu - 4)) as u16);
            p.put_slice(chunk);
            out.push(Payload::new(false, p.freeze()));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn headers() {
        // MPEG-1 layer II, 64 kbps, 44.1 kHz: 208 bytes, 1152 samples.
        assert_eq!(
            frame_info(&[0xff, 0xfd, 0x40, 0x04]),
            Some((208, 1152, 44100))
        );
        // MPEG-1 layer III, 128 kbps, 44.1 kHz, padded: 418 bytes.
        assert_eq!(
            frame_info(&[0xff, 0xfb, 0x92, 0x00]),
            Some((418, 1152, 44100))
        );
        // MPEG-2 layer III, 64 kbps, 22.05 kHz: 576 samples.
        assert_eq!(
            frame_info(&[0xff, 0xf3, 0x80, 0x00]).map(|f| f.1),
            Some(576)
        );
        assert_eq!(frame_info(&[0xff, 0xfd, 0x08, 0x04]), None);
    }

    #[test]
    fn round_trip() {
        let mut frame = vec![0xff, 0xfd, 0x40, 0x04];
        frame.resize(208, 7);
        let two: Bytes = [frame.clone(), frame.clone()].concat().into();
        let mut p = Packetizer { mtu: 100 };
        let mut pkts = vec![];
        p.packetize(&two, &mut pkts).unwrap();
        let mut d = Depacketizer::new(90000);
        let mut out = vec![];
        for p in &pkts {
            d.push(0, &p.payload, &mut out).unwrap();
        }
        assert_eq!(out.len(), 2);
        assert_eq!(out[0].data, frame);
        assert_eq!(out[1].pts, 1152 * 90000 / 44100);
    }
}
