//! The transcoders behind renditions (core `Transcoder`s over crates/transcode):
//! AAC -> Opus for WebRTC readers, Opus -> AAC for RTMP readers and forwards.

use std::sync::Arc;

use bytes::Bytes;
use ferrocast_core::rendition::{Transcoder, TranscoderFactory};
use ferrocast_core::{rescale, Codec, Track, Unit};
use ferrocast_transcode::{AacToOpus, AudioPacket, OpusToAac};

struct AacOpus {
    inner: AacToOpus,
    /// Clock of the source track's timestamps, and of the AAC decoder's input.
    track_clock: u32,
    asc_rate: u32,
}

struct OpusAac {
    inner: OpusToAac,
    track_clock: u32,
}

fn units(packets: Vec<AudioPacket>) -> Vec<Unit> {
    packets
        .into_iter()
        .map(|p| Unit::new(0, p.pts, p.pts, true, p.data))
        .collect()
}

impl Transcoder for AacOpus {
    fn output(&self) -> Track {
        Track {
            codec: Codec::Opus,
            clock_rate: 48000,
            config: Bytes::new(),
            sample_rate: 48000,
            channels: self.inner.channels(),
        }
    }

    fn push(&mut self, unit: &Unit) -> Result<Vec<Unit>, String> {
        let pts = rescale(unit.pts, self.track_clock, self.asc_rate);
        self.inner
            .push(&unit.data, pts)
            .map(units)
            .map_err(|e| e.to_string())
    }
}

impl Transcoder for OpusAac {
    fn output(&self) -> Track {
        Track {
            codec: Codec::Aac,
            clock_rate: self.inner.sample_rate(),
            config: Bytes::from(self.inner.asc()),
            sample_rate: self.inner.sample_rate(),
            channels: self.inner.channels(),
        }
    }

    fn push(&mut self, unit: &Unit) -> Result<Vec<Unit>, String> {
        let pts = rescale(unit.pts, self.track_clock, 48000);
        self.inner
            .push(&unit.data, pts)
            .map(units)
            .map_err(|e| e.to_string())
    }
}

/// The factory the path manager uses to start renditions.
pub fn factory() -> TranscoderFactory {
    TranscoderFactory(Arc::new(|source: &Track, target: Codec| {
        match (source.codec, target) {
            (Codec::Aac, Codec::Opus) => {
                let inner = AacToOpus::new(&source.config).map_err(|e| e.to_string())?;
                let asc_rate = inner.input_sample_rate();
                Ok(Box::new(AacOpus {
                    inner,
                    track_clock: source.clock_rate.max(1),
                    asc_rate,
                }) as Box<dyn Transcoder>)
            }
            (Codec::Opus, Codec::Aac) => {
                let inner =
                    OpusToAac::new(source.channels.clamp(1, 2)).map_err(|e| e.to_string())?;
                Ok(Box::new(OpusAac {
                    inner,
                    track_clock: source.clock_rate.max(1),
                }) as Box<dyn Transcoder>)
            }
            (from, to) => Err(format!(
                "no transcoder from {} to {}",
                from.api_name(),
                to.api_name()
            )),
        }
    }))
}
