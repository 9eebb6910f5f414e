//! MPEG-4 AudioSpecificConfig (ISO/IEC 14496-3 1.6.2.1), the parts a server needs.

use crate::{need, CodecError};

const SAMPLE_RATES: [u32; 13] = [
    96000, 88200, 64000, 48000, 44100, 32000, 24000, 22050, 16000, 12000, 11025, 8000, 7350,
];

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AudioSpecificConfig {
    pub object_type: u8,
    pub sample_rate: u32,
    pub channels: u8,
}

impl AudioSpecificConfig {
    pub fn parse(b: &[u8]) -> Result<Self, CodecError> {
        need("AudioSpecificConfig", b, 2)?;
        let mut r = BitReader::new(b);
        let mut object_type = r.bits(5)? as u8;
        if object_type == 31 {
            object_type = 32 + r.bits(6)? as u8;
        }
        let idx = r.bits(4)? as usize;
        let sample_rate = if idx == 15 {
            r.bits(24)?
        } else {
            *SAMPLE_RATES
                .get(idx)
                .ok_or_else(|| CodecError::Invalid(format!("AAC sample rate index {idx}")))?
        };
        let channels = r.bits(4)? as u8;
        if sample_rate == 0 {
            return Err(CodecError::Invalid("AAC sample rate 0".into()));
        }
        Ok(AudioSpecificConfig {
            object_type,
            sample_rate,
            channels,
        })
    }
}

struct BitReader<'a> {
    b: &'a [u8],
    pos: usize,
}

impl<'a> BitReader<'a> {
    fn new(b: &'a [u8]) -> Self {
        BitReader { b, pos: 0 }
    }
    fn bits(&mut self, n: usize) -> Result<u32, CodecError> {
        let mut v = 0u32;
        for _ in 0..n {
            let byte = *self.b.get(self.pos / 8).ok_or(CodecError::Truncated {
                what: "AudioSpecificConfig",
                len: self.b.len(),
            })?;
            v = (v << 1) | ((byte >> (7 - self.pos % 8)) & 1) as u32;
            self.pos += 1;
        }
        Ok(v)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    #[test]
    fn lc_48k_stereo() {
        let c = AudioSpecificConfig::parse(&[0x11, 0x90]).unwrap();
        assert_eq!((c.object_type, c.sample_rate, c.channels), (2, 48000, 2));
        let c = AudioSpecificConfig::parse(&[0x12, 0x10]).unwrap();
        assert_eq!((c.object_type, c.sample_rate, c.channels), (2, 44100, 2));
        assert!(AudioSpecificConfig::parse(&[0x11]).is_err());
        assert!(AudioSpecificConfig::parse(&[0x17, 0x90]).is_err());
    }
}
