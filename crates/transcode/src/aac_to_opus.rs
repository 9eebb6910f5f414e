//! AAC -> Opus 48 kHz.

use std::panic::{catch_unwind, AssertUnwindSafe};

use bytes::Bytes;
use rubato::audioadapter_buffers::direct::InterleavedSlice;
use rubato::{Async, Fft, FixedAsync, FixedSync, PolynomialDegree, Resampler};
use symphonia_codec_aac::AacDecoder;
use symphonia_core::audio::{Audio, GenericAudioBufferRef};
use symphonia_core::codecs::audio::well_known::CODEC_ID_AAC;
use symphonia_core::codecs::audio::{AudioCodecParameters, AudioDecoder, AudioDecoderOptions};
use symphonia_core::packet::PacketRef;
use symphonia_core::units::{Duration, Timestamp};

use crate::asc::{strip_adts, AacConfig};
use crate::fifo::Fifo;
use crate::timeline::{rescale, Step, Timeline};
use crate::{AudioPacket, TranscodeError};

const OUT_RATE: u32 = 48000;
/// 20 ms at 48 kHz.
const PACKET: usize = 960;
/// Largest Opus packet for one 20 ms frame.
const MAX_PACKET: usize = 1275;
const AAC_FRAME: usize = 1024;

type BoxResampler = Box<dyn Resampler<f32> + Send>;

/// AAC (raw frames + AudioSpecificConfig) -> Opus 48 kHz, 20 ms packets.
pub struct AacToOpus {
    cfg: AacConfig,
    channels: usize,
    decoder: AacDecoder,
    /// To make a fresh decoder after a corrupt frame.
    decoder_params: AudioCodecParameters,
    /// The decoded frame, interleaved.
    decoded: Vec<f32>,
    timeline: Timeline,
    /// `None` when the input is already 48 kHz.
    resampler: Option<BoxResampler>,
    /// Input-rate samples waiting for a full resampler chunk.
    pcm_in: Fifo<f32>,
    /// Resampler output scratch.
    resampled: Vec<f32>,
    /// Resampler output frames still to drop after a (re)start (its delay).
    discard: usize,
    /// 48 kHz samples waiting for a full 20 ms packet.
    pcm_out: Fifo<f32>,
    encoder: opus::Encoder,
    /// Encoder lookahead, taken out of the output PTS.
    encoder_delay: i64,
    packet: Vec<u8>,
    /// Output PTS of the first sample of the current segment (since the last re-base).
    segment_pts: i64,
    /// Samples given to the encoder since the segment started.
    segment_samples: i64,
}

impl std::fmt::Debug for AacToOpus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AacToOpus")
            .field("sample_rate", &self.cfg.core_sample_rate)
            .field("channels", &self.channels)
            .finish_non_exhaustive()
    }
}

fn encoder_error(e: impl std::fmt::Display) -> TranscodeError {
    TranscodeError::Encoder {
        codec: "Opus",
        reason: e.to_string(),
    }
}

fn resampler_error(e: impl std::fmt::Display) -> TranscodeError {
    TranscodeError::Encoder {
        codec: "resampler",
        reason: e.to_string(),
    }
}

fn gcd(a: u32, b: u32) -> u32 {
    if b == 0 {
        a
    } else {
        gcd(b, a % b)
    }
}

fn make_resampler(rate: u32, channels: usize) -> Result<Option<BoxResampler>, TranscodeError> {
    if rate == OUT_RATE {
        return Ok(None);
    }
    // The synchronous FFT resampler is exact (no drift) and cheap, but its block is
    // rate / gcd(rate, 48000) input samples: fine for every rate ADTS can signal, not for odd
    // explicit rates, which get the polynomial asynchronous one.
    if rate / gcd(rate, OUT_RATE) <= 2048 {
        // Chunks of about 20 ms keep the latency low whatever the rate.
        let r = Fft::<f32>::new(
            rate as usize,
            OUT_RATE as usize,
            (rate as usize / 50).max(64),
            channels,
            FixedSync::Both,
        )
        .map_err(resampler_error)?;
        Ok(Some(Box::new(r)))
    } else {
        let r = Async::<f32>::new_poly(
            f64::from(OUT_RATE) / f64::from(rate),
            1.0,
            PolynomialDegree::Cubic,
            (rate as usize / 50).max(64),
            channels,
            FixedAsync::Input,
        )
        .map_err(resampler_error)?;
        Ok(Some(Box::new(r)))
    }
}

impl AacToOpus {
    /// `asc`: AudioSpecificConfig bytes (from the track config). Supports AAC-LC, any sample
    /// rate, mono/stereo. HE-AAC (v1/v2) is accepted and its AAC-LC core is decoded (SBR/PS
    /// are not: the audio is band-limited to half the output rate, and v2 comes out mono).
    pub fn new(asc: &[u8]) -> Result<AacToOpus, TranscodeError> {
        let cfg = AacConfig::parse(asc)?;
        let channels = usize::from(cfg.channels);
        let mut params = AudioCodecParameters::new();
        params
            .for_codec(CODEC_ID_AAC)
            .with_extra_data(cfg.core_asc().into_boxed_slice());
        let decoder = AacDecoder::try_new(&params, &AudioDecoderOptions::default())
            .map_err(|e| TranscodeError::Unsupported(format!("AAC decoder: {e}")))?;
        let decoder_params = params;
        let resampler = make_resampler(cfg.core_sample_rate, channels)?;
        let (in_chunk, out_chunk) = resampler.as_ref().map_or((AAC_FRAME, AAC_FRAME), |r| {
            (r.input_frames_max(), r.output_frames_max())
        });
        let opus_channels = if channels == 1 {
            opus::Channels::Mono
        } else {
            opus::Channels::Stereo
        };
        let mut encoder = opus::Encoder::new(OUT_RATE, opus_channels, opus::Application::Audio)
            .map_err(encoder_error)?;
        encoder
            .set_bitrate(opus::Bitrate::Bits(if channels == 1 {
                64_000
            } else {
                96_000
            }))
            .map_err(encoder_error)?;
        let encoder_delay = i64::from(encoder.get_lookahead().map_err(encoder_error)?);
        Ok(AacToOpus {
            cfg,
            channels,
            decoder,
            decoder_params,
            decoded: Vec::with_capacity(AAC_FRAME * channels),
            timeline: Timeline::new(cfg.core_sample_rate),
            resampler,
            pcm_in: Fifo::new(channels, in_chunk + AAC_FRAME),
            resampled: vec![0.0; out_chunk * channels],
            discard: 0,
            pcm_out: Fifo::new(channels, out_chunk + PACKET),
            encoder,
            encoder_delay,
            packet: vec![0; MAX_PACKET],
            segment_pts: 0,
            segment_samples: 0,
        })
    }

    /// Output channel count (1 or 2) — the Opus track's channels.
    pub fn channels(&self) -> u8 {
        self.cfg.channels
    }

    /// Sample rate (and timestamp clock) of the AAC input, from the ASC (the core rate for
    /// HE-AAC).
    pub fn input_sample_rate(&self) -> u32 {
        self.cfg.core_sample_rate
    }

    /// Sets the Opus bitrate (default 96 kbit/s stereo, 64 kbit/s mono).
    pub fn set_bitrate(&mut self, bits_per_second: u32) -> Result<(), TranscodeError> {
        let bps = i32::try_from(bits_per_second).unwrap_or(i32::MAX);
        self.encoder
            .set_bitrate(opus::Bitrate::Bits(bps))
            .map_err(encoder_error)
    }

    /// Feeds one raw AAC frame with its PTS in the input clock (sample rate of the ASC).
    /// Returns zero or more Opus packets with PTS in a 48 kHz clock. Timestamps of the output
    /// follow the input's: after a gap or jump in input PTS (> 100 ms off the expected), the
    /// output re-bases instead of drifting; over hours of continuous input, output PTS never
    /// drifts from input PTS by more than one packet.
    ///
    /// A frame that cannot be decoded returns [`TranscodeError::CorruptFrame`] and is skipped;
    /// the transcoder stays usable and conceals the gap when the next frame comes.
    pub fn push(&mut self, frame: &[u8], pts: i64) -> Result<Vec<AudioPacket>, TranscodeError> {
        let frames = self.decode(frame)?;
        match self.timeline.step(pts, frames) {
            Step::Rebase => {
                self.restart(pts);
                self.pcm_in
                    .extend_zeroed(frames)
                    .copy_from_slice(&self.decoded);
            }
            Step::Keep { insert } => {
                self.pcm_in.extend_zeroed(insert); // silence for the missing span
                self.pcm_in
                    .extend_zeroed(frames)
                    .copy_from_slice(&self.decoded);
            }
            Step::Cut { cut } => {
                if cut < frames {
                    self.pcm_in
                        .extend_zeroed(frames - cut)
                        .copy_from_slice(&self.decoded[cut * self.channels..]);
                }
            }
        }
        self.resample()?;
        self.encode()
    }

    /// Emits what is still buffered (up to the end of the last input frame, padded with
    /// silence), for the end of a stream. The next `push` starts a new segment.
    pub fn flush(&mut self) -> Result<Vec<AudioPacket>, TranscodeError> {
        let Some(next) = self.timeline.next() else {
            return Ok(Vec::new());
        };
        self.timeline.reset();
        let end = rescale(next, self.cfg.core_sample_rate, OUT_RATE);
        let mut out = Vec::new();
        // Bounded: each round moves at least one resampler chunk through.
        for _ in 0..64 {
            let next_pts = self
                .segment_pts
                .saturating_add(self.segment_samples - self.encoder_delay);
            if next_pts >= end {
                break;
            }
            self.pcm_in.extend_zeroed(AAC_FRAME);
            self.resample()?;
            out.extend(self.encode()?.into_iter().filter(|p| p.pts < end));
        }
        self.pcm_in.clear();
        self.pcm_out.clear();
        Ok(out)
    }

    /// Decodes `frame` into `self.decoded`; returns the frames per channel.
    fn decode(&mut self, frame: &[u8]) -> Result<usize, TranscodeError> {
        let data = strip_adts(frame);
        if data.is_empty() {
            return Err(TranscodeError::CorruptFrame {
                codec: "AAC",
                reason: "empty frame".into(),
            });
        }
        let packet = PacketRef::new(0, Timestamp::from(0i64), Duration::from(1024u32), data);
        let channels = self.channels;
        let decoded = &mut self.decoded;
        let decoder = &mut self.decoder;
        // The decoder is pure Rust without `unsafe`; a panic on hostile input must still not
        // take the stream (or the server) down.
        let res = catch_unwind(AssertUnwindSafe(|| match decoder.decode_ref(&packet) {
            Ok(GenericAudioBufferRef::F32(buf)) => {
                let n = buf.frames();
                decoded.clear();
                decoded.resize(n * channels, 0.0);
                for ch in 0..channels {
                    let Some(plane) = buf.plane(ch).or_else(|| buf.plane(0)) else {
                        return Err("decoder returned no channels".to_string());
                    };
                    for (i, s) in plane.iter().take(n).enumerate() {
                        decoded[i * channels + ch] = s.clamp(-1.0, 1.0);
                    }
                }
                Ok(n)
            }
            Ok(_) => Err("decoder returned an unexpected sample format".to_string()),
            Err(e) => Err(e.to_string()),
        }));
        let reason = match res {
            Ok(Ok(n)) => return Ok(n),
            Ok(Err(reason)) => reason,
            Err(_) => "decoder panicked".to_string(),
        };
        // A corrupt frame can leave the decoder stuck (it remembers the channel elements it
        // has seen, and `reset` keeps them): start over with a fresh one. Its state is small;
        // this costs a few allocations per corrupt frame.
        if let Ok(d) = AacDecoder::try_new(&self.decoder_params, &AudioDecoderOptions::default()) {
            self.decoder = d;
        }
        Err(TranscodeError::CorruptFrame {
            codec: "AAC",
            reason,
        })
    }

    /// Starts a new output segment at input PTS `pts`.
    fn restart(&mut self, pts: i64) {
        self.pcm_in.clear();
        self.pcm_out.clear();
        self.discard = 0;
        if let Some(r) = self.resampler.as_mut() {
            r.reset();
            self.discard = r.output_delay();
        }
        // The encoder keeps running: what it still holds of the previous segment comes out
        // in the first packet, which is stamped before the segment and dropped.
        self.segment_pts = rescale(pts, self.cfg.core_sample_rate, OUT_RATE);
        self.segment_samples = 0;
    }

    /// Moves what can be resampled from `pcm_in` to `pcm_out`.
    fn resample(&mut self) -> Result<(), TranscodeError> {
        let Some(r) = self.resampler.as_mut() else {
            let n = self.pcm_in.frames();
            self.pcm_out
                .extend_zeroed(n)
                .copy_from_slice(self.pcm_in.samples());
            self.pcm_in.clear();
            return Ok(());
        };
        loop {
            let need = r.input_frames_next();
            if self.pcm_in.frames() < need {
                return Ok(());
            }
            let out_frames = self.resampled.len() / self.channels;
            let input = InterleavedSlice::new(self.pcm_in.samples(), self.channels, need)
                .map_err(resampler_error)?;
            let mut output =
                InterleavedSlice::new_mut(&mut self.resampled, self.channels, out_frames)
                    .map_err(resampler_error)?;
            let (read, written) = r
                .process_into_buffer(&input, &mut output, None)
                .map_err(resampler_error)?;
            self.pcm_in.consume(read);
            let skip = self.discard.min(written);
            self.discard -= skip;
            let keep = &self.resampled[skip * self.channels..written * self.channels];
            self.pcm_out
                .extend_zeroed(written - skip)
                .copy_from_slice(keep);
        }
    }

    /// Encodes every full 20 ms packet in `pcm_out`.
    fn encode(&mut self) -> Result<Vec<AudioPacket>, TranscodeError> {
        let mut out = Vec::new();
        while self.pcm_out.frames() >= PACKET {
            let pcm = &self.pcm_out.samples()[..PACKET * self.channels];
            let len = self
                .encoder
                .encode_float(pcm, &mut self.packet)
                .map_err(encoder_error)?;
            self.pcm_out.consume(PACKET);
            let pts = self
                .segment_pts
                .saturating_add(self.segment_samples - self.encoder_delay);
            self.segment_samples += PACKET as i64;
            // The first packet after a (re)start is mostly encoder priming and would be
            // stamped before the segment's first input PTS.
            if pts >= self.segment_pts {
                out.push(AudioPacket {
                    data: Bytes::copy_from_slice(&self.packet[..len]),
                    pts,
                    duration: PACKET as u32,
                });
            }
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resampler_latency_is_low_at_every_rate() {
        for rate in crate::asc::SAMPLE_RATES.into_iter().chain([44000, 8001]) {
            let Some(r) = make_resampler(rate, 2).unwrap() else {
                assert_eq!(rate, OUT_RATE);
                continue;
            };
            // Input chunk + filter delay, in ms.
            let ms = r.input_frames_max() as f64 * 1000.0 / f64::from(rate)
                + r.output_delay() as f64 / 48.0;
            println!(
                "{rate}: chunk {} delay {} = {ms:.1} ms",
                r.input_frames_max(),
                r.output_delay()
            );
            assert!(ms <= 45.0, "{rate} Hz: {ms:.1} ms");
        }
    }
}
