//! The parts of the MPEG-4 AudioSpecificConfig (ISO/IEC 14496-3 1.6.2.1) the decoder needs,
//! and ADTS header helpers.

use crate::TranscodeError;

pub(crate) const SAMPLE_RATES: [u32; 13] = [
    96000, 88200, 64000, 48000, 44100, 32000, 24000, 22050, 16000, 12000, 11025, 8000, 7350,
];

/// An AAC stream's configuration, reduced to what the AAC-LC core decoder needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct AacConfig {
    /// Object type as signalled (2 = LC, 5 = HE-AAC/SBR, 29 = HE-AACv2/PS).
    pub object_type: u8,
    /// Sample rate of the AAC core, which is also the clock of the track's timestamps.
    pub core_sample_rate: u32,
    /// Channels of the core (1 or 2).
    pub channels: u8,
}

struct Bits<'a> {
    b: &'a [u8],
    pos: usize,
}

impl Bits<'_> {
    fn read(&mut self, n: usize) -> Result<u32, TranscodeError> {
        let mut v = 0u32;
        for _ in 0..n {
            let byte = *self
                .b
                .get(self.pos / 8)
                .ok_or_else(|| invalid("AudioSpecificConfig is truncated"))?;
            v = (v << 1) | u32::from((byte >> (7 - self.pos % 8)) & 1);
            self.pos += 1;
        }
        Ok(v)
    }

    fn object_type(&mut self) -> Result<u8, TranscodeError> {
        let t = self.read(5)?;
        Ok(if t == 31 { 32 + self.read(6)? } else { t } as u8)
    }

    fn sample_rate(&mut self) -> Result<u32, TranscodeError> {
        let idx = self.read(4)? as usize;
        let rate = if idx == 15 {
            self.read(24)?
        } else {
            *SAMPLE_RATES
                .get(idx)
                .ok_or_else(|| invalid(format!("sampling frequency index {idx} is reserved")))?
        };
        if !(7350..=96000).contains(&rate) {
            return Err(TranscodeError::Unsupported(format!(
                "AAC sample rate {rate} Hz (supported: 7350..96000 Hz)"
            )));
        }
        Ok(rate)
    }
}

fn invalid(msg: impl Into<String>) -> TranscodeError {
    TranscodeError::InvalidConfig(msg.into())
}

fn object_type_name(t: u8) -> &'static str {
    match t {
        1 => "AAC Main",
        2 => "AAC-LC",
        3 => "AAC SSR",
        4 => "AAC LTP",
        5 => "HE-AAC (SBR)",
        6 => "AAC Scalable",
        17 => "ER AAC-LC",
        23 => "AAC-LD",
        29 => "HE-AACv2 (PS)",
        39 => "AAC-ELD",
        42 => "USAC / xHE-AAC",
        _ => "a non-AAC audio object type",
    }
}

impl AacConfig {
    pub(crate) fn parse(asc: &[u8]) -> Result<AacConfig, TranscodeError> {
        if asc.len() < 2 {
            return Err(invalid(format!(
                "AudioSpecificConfig must be at least 2 bytes, got {}",
                asc.len()
            )));
        }
        let mut r = Bits { b: asc, pos: 0 };
        let object_type = r.object_type()?;
        let core_sample_rate = r.sample_rate()?;
        let channel_config = r.read(4)?;
        let mut core_type = object_type;
        if object_type == 5 || object_type == 29 {
            // Explicit SBR/PS signalling: extension rate, then the core's object type.
            let _extension_rate =
                r.read(4)
                    .and_then(|idx| if idx == 15 { r.read(24) } else { Ok(idx) })?;
            core_type = r.object_type()?;
        }
        if core_type != 2 {
            return Err(TranscodeError::Unsupported(format!(
                "AAC object type {core_type} ({}): only AAC-LC and HE-AAC (LC core) can be \
                 decoded; set the encoder to AAC-LC",
                object_type_name(core_type)
            )));
        }
        // GASpecificConfig: frameLengthFlag first.
        if r.read(1)? == 1 {
            return Err(TranscodeError::Unsupported(
                "AAC with 960-sample frames: only 1024-sample frames can be decoded".into(),
            ));
        }
        let channels = match (channel_config, object_type) {
            // HE-AACv2: the core is mono, parametric stereo (not decoded) makes it stereo.
            (1 | 2, 29) => 1,
            (1, _) => 1,
            (2, _) => 2,
            (0, _) => {
                return Err(TranscodeError::Unsupported(
                    "AAC channel layout in a program config element: only mono and stereo \
                     (channel configuration 1 or 2) can be decoded"
                        .into(),
                ))
            }
            (n, _) => {
                return Err(TranscodeError::Unsupported(format!(
                    "AAC channel configuration {n} ({} channels): only mono and stereo can be \
                     transcoded; downmix to stereo in the encoder",
                    match n {
                        3 => "3",
                        4 => "4",
                        5 => "5",
                        6 => "5.1",
                        7 => "7.1",
                        _ => "reserved",
                    }
                )))
            }
        };
        Ok(AacConfig {
            object_type,
            core_sample_rate,
            channels,
        })
    }

    /// An AAC-LC AudioSpecificConfig of the core: what the LC decoder is given. For HE-AAC this
    /// decodes the band-limited core (SBR and PS are not decoded).
    pub(crate) fn core_asc(&self) -> Vec<u8> {
        let mut w = BitWriter::default();
        w.put(5, 2);
        match SAMPLE_RATES
            .iter()
            .position(|&r| r == self.core_sample_rate)
        {
            Some(i) => w.put(4, i as u32),
            None => {
                w.put(4, 15);
                w.put(24, self.core_sample_rate);
            }
        }
        w.put(4, u32::from(self.channels));
        w.put(3, 0); // frameLengthFlag, dependsOnCoreCoder, extensionFlag
        w.finish()
    }
}

#[derive(Default)]
struct BitWriter {
    out: Vec<u8>,
    acc: u64,
    n: u32,
}

impl BitWriter {
    fn put(&mut self, bits: u32, v: u32) {
        self.acc = (self.acc << bits) | u64::from(v & ((1u64 << bits) - 1) as u32);
        self.n += bits;
        while self.n >= 8 {
            self.out.push((self.acc >> (self.n - 8)) as u8);
            self.n -= 8;
        }
    }
    fn finish(mut self) -> Vec<u8> {
        if self.n > 0 {
            self.out.push((self.acc << (8 - self.n)) as u8);
        }
        self.out
    }
}

/// If `frame` is a whole ADTS frame (header + payload, as some sources send), the raw payload.
pub(crate) fn strip_adts(frame: &[u8]) -> &[u8] {
    if frame.len() < 7 || frame[0] != 0xFF || frame[1] & 0xF6 != 0xF0 {
        return frame;
    }
    let len = (usize::from(frame[3] & 0x03) << 11)
        | (usize::from(frame[4]) << 3)
        | usize::from(frame[5] >> 5);
    let header = if frame[1] & 0x01 == 0 { 9 } else { 7 };
    let raw_blocks = frame[6] & 0x03;
    if len != frame.len() || len <= header || raw_blocks != 0 {
        return frame;
    }
    &frame[header..]
}

/// An ADTS header for one raw AAC-LC frame of `payload_len` bytes.
pub fn adts_header(
    sample_rate: u32,
    channels: u8,
    payload_len: usize,
) -> Result<[u8; 7], TranscodeError> {
    let idx = SAMPLE_RATES
        .iter()
        .position(|&r| r == sample_rate)
        .ok_or_else(|| {
            TranscodeError::Unsupported(format!("ADTS cannot signal {sample_rate} Hz"))
        })?;
    let len = payload_len + 7;
    if len >= 1 << 13 {
        return Err(TranscodeError::Unsupported(format!(
            "AAC frame of {payload_len} bytes is too large for ADTS"
        )));
    }
    let profile = 1u8; // AAC-LC (object type 2 - 1)
    Ok([
        0xFF,
        0xF1,
        (profile << 6) | ((idx as u8) << 2) | ((channels >> 2) & 1),
        ((channels & 3) << 6) | ((len >> 11) as u8 & 0x03),
        (len >> 3) as u8,
        (((len & 7) as u8) << 5) | 0x1F,
        0xFC,
    ])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_lc_and_he() {
        let c = AacConfig::parse(&[0x12, 0x10]).unwrap();
        assert_eq!(
            (c.object_type, c.core_sample_rate, c.channels),
            (2, 44100, 2)
        );
        assert_eq!(c.core_asc(), vec![0x12, 0x10]);
        let c = AacConfig::parse(&[0x11, 0x88]).unwrap();
        assert_eq!(
            (c.object_type, c.core_sample_rate, c.channels),
            (2, 48000, 1)
        );
        // HE-AAC 44.1 kHz stereo: core 22050 Hz, extension 44100 Hz, core LC.
        // 00101 0111 0010 0100 00010 000
        let c = AacConfig::parse(&[0x2B, 0x92, 0x08, 0x00]).unwrap();
        assert_eq!(
            (c.object_type, c.core_sample_rate, c.channels),
            (5, 22050, 2)
        );
        assert_eq!(c.core_asc(), vec![0x13, 0x90]);
        // Explicit (escape) sample rate round-trips.
        let c = AacConfig {
            object_type: 2,
            core_sample_rate: 44000,
            channels: 1,
        };
        assert_eq!(AacConfig::parse(&c.core_asc()).unwrap(), c);
    }

    #[test]
    fn rejects_what_cannot_be_decoded() {
        for asc in [
            &[][..],
            &[0x12],
            &[0x0A, 0x10],
            &[0x12, 0x30],
            &[0x12, 0x00],
            &[0x17, 0x90],
        ] {
            let e = AacConfig::parse(asc).unwrap_err();
            assert!(!e.to_string().is_empty());
        }
    }

    #[test]
    fn adts_round_trip() {
        let payload = [0x21u8, 0x10, 0x05];
        let h = adts_header(48000, 2, payload.len()).unwrap();
        let mut f = h.to_vec();
        f.extend_from_slice(&payload);
        assert_eq!(strip_adts(&f), &payload);
        assert_eq!(strip_adts(&payload), &payload);
        assert_eq!(strip_adts(&f[..8]), &f[..8]);
    }
}
