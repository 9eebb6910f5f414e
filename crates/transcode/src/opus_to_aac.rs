//! Opus -> AAC-LC 48 kHz.

use bytes::Bytes;

use crate::fifo::Fifo;
use crate::timeline::{Step, Timeline};
use crate::{AudioPacket, TranscodeError};

const RATE: u32 = 48000;
const AAC_FRAME: usize = 1024;
/// Longest Opus packet: 120 ms.
const MAX_OPUS_SAMPLES: usize = 5760;
/// Opus concealment works in multiples of 2.5 ms.
const PLC_STEP: usize = 120;

/// Opus -> AAC-LC (48 kHz, same channel count), 1024-sample frames.
pub struct OpusToAac {
    channels: usize,
    decoder: opus::Decoder,
    /// One decoded (or concealed) packet, interleaved.
    decoded: Vec<i16>,
    timeline: Timeline,
    /// Samples waiting for a full AAC frame.
    pcm: Fifo<i16>,
    encoder: Encoder,
    /// Output PTS of the first sample of the current segment (since the last re-base).
    segment_pts: i64,
    /// Samples given to the encoder since the segment started.
    segment_samples: i64,
    corrupt: u64,
}

impl std::fmt::Debug for OpusToAac {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OpusToAac")
            .field("channels", &self.channels)
            .field("corrupt_packets", &self.corrupt)
            .finish_non_exhaustive()
    }
}

fn decoder_error(e: impl std::fmt::Display) -> TranscodeError {
    TranscodeError::Encoder {
        codec: "Opus decoder",
        reason: e.to_string(),
    }
}

impl OpusToAac {
    pub fn new(channels: u8) -> Result<OpusToAac, TranscodeError> {
        OpusToAac::with_bitrate(channels, if channels == 1 { 64_000 } else { 128_000 })
    }

    /// Like [`OpusToAac::new`] with an AAC bitrate other than the default (128 kbit/s stereo,
    /// 64 kbit/s mono).
    pub fn with_bitrate(channels: u8, bits_per_second: u32) -> Result<OpusToAac, TranscodeError> {
        let opus_channels = match channels {
            1 => opus::Channels::Mono,
            2 => opus::Channels::Stereo,
            n => {
                return Err(TranscodeError::Unsupported(format!(
                    "{n} Opus channels: only mono and stereo can be transcoded to AAC"
                )))
            }
        };
        let encoder = Encoder::new(channels, bits_per_second)?;
        let channels = usize::from(channels);
        Ok(OpusToAac {
            channels,
            decoder: opus::Decoder::new(RATE, opus_channels).map_err(decoder_error)?,
            decoded: vec![0; MAX_OPUS_SAMPLES * channels],
            timeline: Timeline::new(RATE),
            pcm: Fifo::new(channels, AAC_FRAME + MAX_OPUS_SAMPLES),
            encoder,
            segment_pts: 0,
            segment_samples: 0,
            corrupt: 0,
        })
    }

    /// AudioSpecificConfig of the output (for the AAC track config / RTMP sequence header).
    pub fn asc(&self) -> Vec<u8> {
        self.encoder.asc()
    }

    pub fn sample_rate(&self) -> u32 {
        RATE
    }

    /// Output channel count (1 or 2), as given to [`OpusToAac::new`].
    pub fn channels(&self) -> u8 {
        self.channels as u8
    }

    /// Packets that could not be decoded so far (concealed or skipped).
    pub fn corrupt_packets(&self) -> u64 {
        self.corrupt
    }

    /// One Opus packet with PTS in 48 kHz. Returns AAC raw frames (no ADTS) with PTS in
    /// 48 kHz. Same timestamp rules as [`crate::AacToOpus::push`]. A corrupt packet is
    /// concealed (Opus PLC) or skipped, not an error that stops the stream.
    pub fn push(&mut self, packet: &[u8], pts: i64) -> Result<Vec<AudioPacket>, TranscodeError> {
        let samples = match opus::packet::get_nb_samples(packet, RATE) {
            Ok(n) if (1..=MAX_OPUS_SAMPLES).contains(&n) => n,
            // Not even a valid TOC: skip it; the gap it leaves is concealed with the next
            // packet.
            _ => {
                self.corrupt += 1;
                return Ok(Vec::new());
            }
        };
        match self.timeline.step(pts, samples) {
            Step::Rebase => {
                self.restart(pts);
                self.decode_into_pcm(packet, samples, 0);
            }
            Step::Keep { insert } => {
                self.conceal(insert);
                self.decode_into_pcm(packet, samples, 0);
            }
            Step::Cut { cut } => self.decode_into_pcm(packet, samples, cut),
        }
        self.encode()
    }

    /// Emits what is still buffered (up to the end of the last input packet, padded with
    /// silence), for the end of a stream. The next `push` starts a new segment.
    pub fn flush(&mut self) -> Result<Vec<AudioPacket>, TranscodeError> {
        let Some(end) = self.timeline.next() else {
            return Ok(Vec::new());
        };
        self.timeline.reset();
        let mut out = Vec::new();
        for _ in 0..8 {
            let next_pts = self
                .segment_pts
                .saturating_add(self.segment_samples - self.encoder.delay());
            if next_pts >= end {
                break;
            }
            let missing = AAC_FRAME - self.pcm.frames() % AAC_FRAME;
            self.pcm.extend_zeroed(missing);
            out.extend(self.encode()?.into_iter().filter(|p| p.pts < end));
        }
        self.pcm.clear();
        Ok(out)
    }

    fn restart(&mut self, pts: i64) {
        // Drop the unfinished frame of the previous segment. The encoder keeps running: what
        // it still holds of the previous segment comes out in the first frames, which are
        // stamped before the segment and dropped.
        self.pcm.clear();
        self.segment_pts = pts;
        self.segment_samples = 0;
    }

    /// Decodes one packet of `samples` samples (concealing it if it's corrupt) and queues all
    /// but its first `cut` samples.
    fn decode_into_pcm(&mut self, packet: &[u8], samples: usize, cut: usize) {
        let ch = self.channels;
        let n = match self
            .decoder
            .decode(packet, &mut self.decoded[..samples * ch], false)
        {
            Ok(n) if n == samples => n,
            _ => {
                self.corrupt += 1;
                self.plc(samples)
            }
        };
        if cut < n {
            self.pcm
                .extend_zeroed(n - cut)
                .copy_from_slice(&self.decoded[cut * ch..n * ch]);
        }
    }

    /// Opus packet-loss concealment of `samples` samples into `self.decoded`; returns how many
    /// it made (silence where the decoder refuses).
    fn plc(&mut self, samples: usize) -> usize {
        let ch = self.channels;
        let rounded = samples.div_ceil(PLC_STEP) * PLC_STEP;
        let buf = &mut self.decoded[..rounded.min(MAX_OPUS_SAMPLES) * ch];
        if self.decoder.decode(&[], buf, false).is_err() {
            buf.fill(0);
        }
        samples.min(MAX_OPUS_SAMPLES)
    }

    /// Queues `samples` samples of concealment for a gap in the input.
    fn conceal(&mut self, mut samples: usize) {
        while samples > 0 {
            let n = self.plc(samples.min(MAX_OPUS_SAMPLES));
            let ch = self.channels;
            self.pcm
                .extend_zeroed(n)
                .copy_from_slice(&self.decoded[..n * ch]);
            samples -= n;
        }
    }

    /// Encodes every full frame in `pcm`.
    fn encode(&mut self) -> Result<Vec<AudioPacket>, TranscodeError> {
        let mut out = Vec::new();
        while self.pcm.frames() >= AAC_FRAME {
            let pcm = &self.pcm.samples()[..AAC_FRAME * self.channels];
            let frame = self.encoder.encode(pcm);
            self.pcm.consume(AAC_FRAME);
            let pts = self
                .segment_pts
                .saturating_add(self.segment_samples - self.encoder.delay());
            self.segment_samples += AAC_FRAME as i64;
            let frame = frame?;
            // The first frames after a (re)start hold the encoder's delay and would be
            // stamped before the segment's first input PTS.
            if pts >= self.segment_pts && !frame.is_empty() {
                out.push(AudioPacket {
                    data: frame,
                    pts,
                    duration: AAC_FRAME as u32,
                });
            }
        }
        Ok(out)
    }
}

#[cfg(feature = "fdk")]
struct Encoder {
    enc: fdk_aac::enc::Encoder,
    asc: Vec<u8>,
    delay: i64,
    out: Vec<u8>,
}

#[cfg(feature = "fdk")]
impl Encoder {
    fn open(channels: u8, bitrate: u32) -> Result<fdk_aac::enc::Encoder, TranscodeError> {
        use fdk_aac::enc::{AudioObjectType, BitRate, ChannelMode, EncoderParams, Transport};
        fdk_aac::enc::Encoder::new(EncoderParams {
            bit_rate: BitRate::Cbr(bitrate),
            sample_rate: RATE,
            transport: Transport::Raw,
            channels: if channels == 1 {
                ChannelMode::Mono
            } else {
                ChannelMode::Stereo
            },
            audio_object_type: AudioObjectType::Mpeg4LowComplexity,
        })
        .map_err(aac_error)
    }

    fn new(channels: u8, bitrate: u32) -> Result<Encoder, TranscodeError> {
        let enc = Encoder::open(channels, bitrate)?;
        let info = enc.info().map_err(aac_error)?;
        let asc = info
            .confBuf
            .get(..info.confSize as usize)
            .filter(|c| c.len() >= 2)
            .map_or_else(|| lc_asc(channels), <[u8]>::to_vec);
        Ok(Encoder {
            enc,
            asc,
            delay: i64::from(info.nDelay),
            out: vec![0; (info.maxOutBufBytes as usize).max(768 * usize::from(channels))],
        })
    }

    fn asc(&self) -> Vec<u8> {
        self.asc.clone()
    }

    fn delay(&self) -> i64 {
        self.delay
    }

    fn encode(&mut self, pcm: &[i16]) -> Result<Bytes, TranscodeError> {
        let info = self.enc.encode(pcm, &mut self.out).map_err(aac_error)?;
        Ok(Bytes::copy_from_slice(
            self.out.get(..info.output_size).unwrap_or(&[]),
        ))
    }
}

#[cfg(feature = "fdk")]
fn aac_error(e: fdk_aac::enc::EncoderError) -> TranscodeError {
    TranscodeError::Encoder {
        codec: "AAC (FDK)",
        reason: e.to_string(),
    }
}

#[cfg(not(feature = "fdk"))]
struct Encoder;

#[cfg(not(feature = "fdk"))]
impl Encoder {
    fn new(_channels: u8, _bitrate: u32) -> Result<Encoder, TranscodeError> {
        Err(TranscodeError::FeatureDisabled(
            "Opus -> AAC needs the AAC encoder: build ferrocast-transcode with the `fdk` feature",
        ))
    }
    fn asc(&self) -> Vec<u8> {
        Vec::new()
    }
    fn delay(&self) -> i64 {
        0
    }
    fn encode(&mut self, _: &[i16]) -> Result<Bytes, TranscodeError> {
        Ok(Bytes::new())
    }
}

/// AudioSpecificConfig of AAC-LC 48 kHz with `channels` channels.
#[cfg_attr(not(feature = "fdk"), allow(dead_code))]
fn lc_asc(channels: u8) -> Vec<u8> {
    // 00010 0011 cccc 000
    vec![0x11, 0x80 | (channels << 3)]
}

#[cfg(test)]
mod tests {
    #[cfg(not(feature = "fdk"))]
    #[test]
    fn without_fdk_the_error_says_how_to_get_it() {
        let e = super::OpusToAac::new(2).unwrap_err();
        assert!(matches!(e, crate::TranscodeError::FeatureDisabled(_)));
        assert!(e.to_string().contains("`fdk` feature"), "{e}");
    }

    #[test]
    fn lc_asc_matches_the_usual_bytes() {
        assert_eq!(super::lc_asc(2), vec![0x11, 0x90]);
        assert_eq!(super::lc_asc(1), vec![0x11, 0x88]);
    }
}
