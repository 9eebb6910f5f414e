//! Renditions: tracks derived from another track of the same stream (AAC -> Opus for
//! WebRTC readers, Opus -> AAC for RTMP readers), made once per stream and shared by every
//! reader that needs them. A rendition starts with its first user and stops after its last.
//!
//! The transcoder itself is injected (`TranscoderFactory`), so the core stays free of codec
//! libraries. A rendition is a reader of its source track and a writer of its own track; it
//! never sits inside the bus: readers that don't ask for it never see its units.

use std::sync::Arc;

use tracing::{info, warn};

use crate::stream::Stream;
use crate::unit::{Codec, Track, Unit};

/// Converts the units of one track into another codec.
pub trait Transcoder: Send {
    /// The track this transcoder produces.
    fn output(&self) -> Track;
    /// Converts one input unit into zero or more output units (their `track` is set by the
    /// caller). An error drops that unit; the rendition goes on.
    fn push(&mut self, unit: &Unit) -> Result<Vec<Unit>, String>;
}

type MakeTranscoder = dyn Fn(&Track, Codec) -> Result<Box<dyn Transcoder>, String> + Send + Sync;

/// Makes a transcoder from a source track to a target codec, or says why it can't.
#[derive(Clone)]
pub struct TranscoderFactory(pub Arc<MakeTranscoder>);

impl std::fmt::Debug for TranscoderFactory {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("TranscoderFactory")
    }
}

#[derive(Debug)]
pub(crate) struct Slot {
    source: usize,
    codec: Codec,
    track: usize,
    users: usize,
    /// The running task's reader queue id (closed to stop it).
    queue: Option<Arc<crate::stream::ReaderQueue>>,
}

/// Keeps a rendition running; dropping the last guard stops it.
#[derive(Debug)]
pub struct RenditionGuard {
    stream: Arc<Stream>,
    track: usize,
}

impl RenditionGuard {
    /// The rendition's track index in the stream.
    pub fn track(&self) -> usize {
        self.track
    }
}

impl Drop for RenditionGuard {
    fn drop(&mut self) {
        let stop = {
            let mut slots = self.stream.renditions.lock();
            let Some(slot) = slots.iter_mut().find(|s| s.track == self.track) else {
                return;
            };
            slot.users = slot.users.saturating_sub(1);
            if slot.users == 0 {
                slot.queue.take()
            } else {
                None
            }
        };
        if let Some(q) = stop {
            q.close("rendition no longer needed");
            self.stream.remove_reader(q.id);
        }
    }
}

impl Stream {
    /// Returns a running rendition of track `source` in `codec`, starting it if needed.
    pub fn acquire_rendition(
        self: &Arc<Self>,
        source: usize,
        codec: Codec,
        factory: &TranscoderFactory,
    ) -> Result<RenditionGuard, String> {
        let mut slots = self.renditions.lock();
        if let Some(slot) = slots
            .iter_mut()
            .find(|s| s.source == source && s.codec == codec)
        {
            slot.users += 1;
            if slot.queue.is_none() {
                // Stopped earlier: start again on the same track index.
                let src = self
                    .tracks()
                    .get(source)
                    .cloned()
                    .ok_or("no such source track")?;
                let t = (factory.0)(&src, codec)?;
                slot.queue = Some(self.start_rendition(source, slot.track, t)?);
            }
            return Ok(RenditionGuard {
                stream: self.clone(),
                track: slot.track,
            });
        }
        let src = self
            .tracks()
            .get(source)
            .cloned()
            .ok_or("no such source track")?;
        let transcoder = (factory.0)(&src, codec)?;
        let track = self.push_track(transcoder.output());
        let queue = self.start_rendition(source, track, transcoder)?;
        info!(
            "rendition started: track {source} ({}) -> {}",
            src.codec.api_name(),
            codec.api_name()
        );
        slots.push(Slot {
            source,
            codec,
            track,
            users: 1,
            queue: Some(queue),
        });
        Ok(RenditionGuard {
            stream: self.clone(),
            track,
        })
    }

    fn start_rendition(
        self: &Arc<Self>,
        source: usize,
        track: usize,
        mut transcoder: Box<dyn Transcoder>,
    ) -> Result<Arc<crate::stream::ReaderQueue>, String> {
        if source >= 63 {
            return Err("too many tracks".into());
        }
        let queue = self
            .add_reader_with(self.internal_id(), 1024, 1 << source, false)
            .map_err(|e| e.to_string())?;
        let rt = tokio::runtime::Handle::try_current().map_err(|e| e.to_string())?;
        let stream = Arc::downgrade(self);
        let q = queue.clone();
        rt.spawn(async move {
            let mut batch = Vec::new();
            let mut errors = 0u64;
            while q.recv(&mut batch).await.is_ok() {
                let Some(stream) = stream.upgrade() else {
                    break;
                };
                for u in batch.drain(..) {
                    match transcoder.push(&u) {
                        Ok(out) => {
                            for mut o in out {
                                o.track = track;
                                stream.write(o);
                            }
                        }
                        Err(e) => {
                            errors += 1;
                            if errors.is_power_of_two() {
                                warn!("rendition of track {source}: {e} ({errors} errors so far)");
                            }
                        }
                    }
                }
            }
        });
        Ok(queue)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::Bytes;

    struct Double;
    impl Transcoder for Double {
        fn output(&self) -> Track {
            Track {
                codec: Codec::Opus,
                clock_rate: 48000,
                config: Bytes::new(),
                sample_rate: 48000,
                channels: 2,
            }
        }
        fn push(&mut self, unit: &Unit) -> Result<Vec<Unit>, String> {
            Ok(vec![Unit::new(
                0,
                unit.dts,
                unit.pts,
                true,
                unit.data.clone(),
            )])
        }
    }

    fn tracks() -> Vec<Track> {
        vec![
            Track {
                codec: Codec::H264,
                clock_rate: 90000,
                config: Bytes::new(),
                sample_rate: 0,
                channels: 0,
            },
            Track {
                codec: Codec::Aac,
                clock_rate: 48000,
                config: Bytes::new(),
                sample_rate: 48000,
                channels: 2,
            },
        ]
    }

    #[tokio::test]
    async fn rendition_shared_started_and_stopped() {
        let factory = TranscoderFactory(Arc::new(|_, _| Ok(Box::new(Double))));
        let s = Arc::new(Stream::new(tracks()));
        s.write(Unit::new(0, 0, 0, true, Bytes::from_static(b"k")));
        let plain = s.add_reader(1, 64).unwrap();
        let web = s.add_reader(2, 64).unwrap();
        let g1 = s.acquire_rendition(1, Codec::Opus, &factory).unwrap();
        let g2 = s.acquire_rendition(1, Codec::Opus, &factory).unwrap();
        assert_eq!(g1.track(), 2);
        assert_eq!(g2.track(), 2);
        assert_eq!(s.tracks().len(), 3);
        assert_eq!(s.source_tracks().len(), 2);
        web.set_track(1, false);
        web.set_track(2, true);
        s.write(Unit::new(1, 960, 960, true, Bytes::from_static(b"a")));
        // Let the rendition task run.
        let mut out = vec![];
        for _ in 0..50 {
            tokio::task::yield_now().await;
            web.try_recv(&mut out).unwrap();
            if out.iter().any(|u| u.track == 2) {
                break;
            }
        }
        let tracks_web: Vec<_> = out.iter().map(|u| u.track).collect();
        assert_eq!(tracks_web, vec![0, 2], "web reader: video + rendition only");
        let mut out = vec![];
        plain.try_recv(&mut out).unwrap();
        let tracks_plain: Vec<_> = out.iter().map(|u| u.track).collect();
        assert_eq!(
            tracks_plain,
            vec![0, 1],
            "plain reader: never the rendition"
        );
        drop(g1);
        assert_eq!(s.reader_count(), 3, "still one user");
        drop(g2);
        assert_eq!(s.reader_count(), 2, "rendition stopped after its last user");
        // Restarts on the same track.
        let g3 = s.acquire_rendition(1, Codec::Opus, &factory).unwrap();
        assert_eq!(g3.track(), 2);
        assert_eq!(s.tracks().len(), 3);
    }
}
