use std::collections::VecDeque;
use std::sync::atomic::{AtomicI64, AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;

use std::future::poll_fn;
use std::task::{Context, Poll};

use atomic_waker::AtomicWaker;
use parking_lot::Mutex;

use crate::unit::{rescale, Track, Unit};

/// Most units a GOP cache holds before it gives up on the current GOP (a stream with a
/// very long keyframe interval then starts new readers at the next keyframe instead).
const GOP_CACHE_MAX_UNITS: usize = 4096;
const GOP_CACHE_MAX_BYTES: usize = 64 * 1024 * 1024;

/// Why a reader's queue ended.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ReadError {
    #[error("{0}")]
    Closed(String),
}

/// The tracks of a path, its GOP cache and its readers.
///
/// The publisher calls [`Stream::write`]; it never waits for a reader: each reader has a
/// bounded queue, and a full queue drops the unit and makes that reader skip to the next
/// keyframe, so no reader ever decodes a broken picture.
#[derive(Debug)]
pub struct Stream {
    tracks: Mutex<Arc<Vec<Track>>>,
    tracks_version: AtomicU64,
    inner: Mutex<Inner>,
    /// Largest DTS written so far, in microseconds (for publisher-reconnect continuity).
    last_dts_us: AtomicI64,
    /// Generation of the publisher allowed to write (see `Publisher`).
    pub(crate) writer_gen: AtomicU64,
    /// Tracks `0..source_tracks` come from the publisher; later ones are renditions.
    source_tracks: AtomicUsize,
    pub(crate) renditions: Mutex<Vec<crate::rendition::Slot>>,
    next_internal_id: AtomicU64,
    pub bytes_received: AtomicU64,
    pub bytes_sent: AtomicU64,
    /// Keyframe requests from readers (a WebRTC reader's PLI/FIR), counted; publishers
    /// that can ask their sender for one (WHIP, WHEP sources) watch it.
    keyframe_requests: AtomicU64,
}

#[derive(Debug, Default)]
struct Inner {
    gop: Vec<Arc<Unit>>,
    gop_bytes: usize,
    video_track: Option<usize>,
    readers: Vec<Arc<ReaderQueue>>,
    closed: Option<String>,
}

fn first_video(tracks: &[Track]) -> Option<usize> {
    tracks.iter().position(|t| t.codec.is_video())
}

impl Stream {
    pub fn new(tracks: Vec<Track>) -> Stream {
        let video_track = first_video(&tracks);
        let n = tracks.len();
        Stream {
            tracks: Mutex::new(Arc::new(tracks)),
            tracks_version: AtomicU64::new(0),
            inner: Mutex::new(Inner {
                video_track,
                ..Inner::default()
            }),
            last_dts_us: AtomicI64::new(i64::MIN),
            writer_gen: AtomicU64::new(0),
            source_tracks: AtomicUsize::new(n),
            renditions: Mutex::new(Vec::new()),
            next_internal_id: AtomicU64::new(1 << 62),
            bytes_received: AtomicU64::new(0),
            bytes_sent: AtomicU64::new(0),
            keyframe_requests: AtomicU64::new(0),
        }
    }

    /// A reader lost pictures and asks for a keyframe (passed to the publisher, if it can
    /// get one from its sender).
    pub fn request_keyframe(&self) {
        self.keyframe_requests.fetch_add(1, Ordering::Relaxed);
    }

    /// How many keyframe requests readers made so far: a publisher compares it with the
    /// count it last saw.
    pub fn keyframe_requests(&self) -> u64 {
        self.keyframe_requests.load(Ordering::Relaxed)
    }

    pub fn tracks(&self) -> Arc<Vec<Track>> {
        self.tracks.lock().clone()
    }

    /// Bumped whenever a track's configuration changes; readers re-send codec headers.
    pub fn tracks_version(&self) -> u64 {
        self.tracks_version.load(Ordering::Acquire)
    }

    /// The publisher's tracks (renditions excluded).
    pub fn source_tracks(&self) -> Vec<Track> {
        let n = self.source_tracks.load(Ordering::Acquire);
        self.tracks.lock().iter().take(n).cloned().collect()
    }

    /// Replaces the publisher's track configurations (same codecs: a new SPS, a
    /// reconnected publisher). Rendition tracks stay as they are.
    pub fn update_tracks(&self, tracks: Vec<Track>) {
        let mut cur = self.tracks.lock();
        let n = self.source_tracks.load(Ordering::Acquire);
        let mut next = tracks;
        next.extend(cur.iter().skip(n).cloned());
        if **cur != next {
            *cur = Arc::new(next);
            self.tracks_version.fetch_add(1, Ordering::AcqRel);
        }
    }

    /// Adds a rendition track; returns its index.
    pub(crate) fn push_track(&self, track: Track) -> usize {
        let mut cur = self.tracks.lock();
        let mut next = (**cur).clone();
        next.push(track);
        let idx = next.len() - 1;
        *cur = Arc::new(next);
        self.tracks_version.fetch_add(1, Ordering::AcqRel);
        idx
    }

    pub(crate) fn internal_id(&self) -> u64 {
        self.next_internal_id.fetch_add(1, Ordering::Relaxed)
    }

    pub fn last_dts_us(&self) -> Option<i64> {
        match self.last_dts_us.load(Ordering::Acquire) {
            i64::MIN => None,
            v => Some(v),
        }
    }

    /// Fans a unit out to every reader. Never blocks on a reader.
    pub fn write(&self, unit: Unit) {
        let clock = self
            .tracks
            .lock()
            .get(unit.track)
            .map(|t| t.clock_rate)
            .unwrap_or(1000);
        self.last_dts_us
            .fetch_max(rescale(unit.dts, clock, 1_000_000), Ordering::AcqRel);
        if unit.track < self.source_tracks.load(Ordering::Relaxed) {
            self.bytes_received
                .fetch_add(unit.data.len() as u64, Ordering::Relaxed);
        }
        let unit = Arc::new(unit);
        let mut inner = self.inner.lock();
        if inner.closed.is_some() {
            return;
        }
        let resync_point = match inner.video_track {
            Some(v) => unit.track == v && unit.key,
            None => true,
        };
        if inner.video_track.is_some() {
            if resync_point {
                inner.gop.clear();
                inner.gop_bytes = 0;
            }
            if !inner.gop.is_empty() || resync_point {
                if inner.gop.len() >= GOP_CACHE_MAX_UNITS || inner.gop_bytes >= GOP_CACHE_MAX_BYTES
                {
                    inner.gop.clear();
                    inner.gop_bytes = 0;
                } else {
                    inner.gop_bytes += unit.data.len();
                    inner.gop.push(unit.clone());
                }
            }
        }
        for r in &inner.readers {
            r.push(&unit, resync_point);
        }
    }

    /// Adds a reader whose queue holds at most `capacity` units; it starts with the GOP
    /// cache, so its first unit is a keyframe when the stream has video.
    /// It receives the publisher's tracks; [`ReaderQueue::set_track`] changes that.
    pub fn add_reader(&self, id: u64, capacity: usize) -> Result<Arc<ReaderQueue>, ReadError> {
        let n = self.source_tracks.load(Ordering::Acquire).min(63);
        self.add_reader_with(id, capacity, (1u64 << n) - 1, true)
    }

    pub(crate) fn add_reader_with(
        &self,
        id: u64,
        capacity: usize,
        mask: u64,
        prefill: bool,
    ) -> Result<Arc<ReaderQueue>, ReadError> {
        let mut inner = self.inner.lock();
        if let Some(reason) = &inner.closed {
            return Err(ReadError::Closed(reason.clone()));
        }
        let q = Arc::new(ReaderQueue::new(id, capacity.max(1), mask));
        if prefill {
            let mut s = q.state.lock();
            s.items
                .extend(inner.gop.iter().filter(|u| q.wants(u.track)).cloned());
            // With video but no keyframe cached yet, wait for the first one.
            s.resync = inner.video_track.is_some() && inner.gop.is_empty();
        }
        inner.readers.push(q.clone());
        Ok(q)
    }

    pub fn remove_reader(&self, id: u64) {
        self.inner.lock().readers.retain(|r| r.id != id);
    }

    pub fn reader_count(&self) -> usize {
        self.inner.lock().readers.len()
    }

    /// Closes the stream: every reader's queue ends with `reason`.
    pub fn close(&self, reason: &str) {
        let readers = {
            let mut inner = self.inner.lock();
            if inner.closed.is_none() {
                inner.closed = Some(reason.to_string());
            }
            inner.gop.clear();
            std::mem::take(&mut inner.readers)
        };
        for r in readers {
            r.close(reason);
        }
    }
}

#[derive(Debug, Default)]
struct QueueState {
    items: VecDeque<Arc<Unit>>,
    resync: bool,
    closed: Option<String>,
}

/// A reader's bounded queue.
#[derive(Debug)]
pub struct ReaderQueue {
    pub id: u64,
    capacity: usize,
    state: Mutex<QueueState>,
    /// Bit `i` set: the reader receives track `i` (tracks 63 and above: always).
    mask: AtomicU64,
    /// The reader task's waker. Woken only when a unit lands in an empty queue: a reader
    /// that has not drained yet has been woken already, so fan-out costs one wake per
    /// reader per drain, not per unit.
    waker: AtomicWaker,
    dropped: AtomicU64,
}

impl ReaderQueue {
    fn new(id: u64, capacity: usize, mask: u64) -> ReaderQueue {
        ReaderQueue {
            id,
            capacity,
            state: Mutex::new(QueueState::default()),
            mask: AtomicU64::new(mask),
            waker: AtomicWaker::new(),
            dropped: AtomicU64::new(0),
        }
    }

    /// Whether this reader receives track `track`.
    pub fn wants(&self, track: usize) -> bool {
        track >= 63 || self.mask.load(Ordering::Relaxed) & (1 << track) != 0
    }

    /// Starts or stops delivering a track to this reader (e.g. a rendition instead of
    /// the original audio).
    /// Units of a track turned off that are still queued are removed.
    pub fn set_track(&self, track: usize, on: bool) {
        if track < 63 {
            if on {
                self.mask.fetch_or(1 << track, Ordering::AcqRel);
            } else {
                self.mask.fetch_and(!(1 << track), Ordering::AcqRel);
                self.state.lock().items.retain(|u| u.track != track);
            }
        }
    }

    fn push(&self, unit: &Arc<Unit>, resync_point: bool) {
        let mut s = self.state.lock();
        if s.closed.is_some() {
            return;
        }
        if s.resync {
            if !resync_point {
                return;
            }
            s.resync = false; // even when this reader does not take that track
        }
        if !self.wants(unit.track) {
            return;
        }
        if s.items.len() >= self.capacity {
            s.resync = true;
            drop(s);
            self.dropped.fetch_add(1, Ordering::Relaxed);
            return;
        }
        s.resync = false;
        let was_empty = s.items.is_empty();
        s.items.push_back(unit.clone());
        drop(s);
        if was_empty {
            self.waker.wake();
        }
    }

    pub fn close(&self, reason: &str) {
        let mut s = self.state.lock();
        if s.closed.is_none() {
            s.closed = Some(reason.to_string());
        }
        drop(s);
        self.waker.wake();
    }

    /// Units dropped so far because the queue was full.
    pub fn dropped(&self) -> u64 {
        self.dropped.load(Ordering::Relaxed)
    }

    /// Takes every queued unit into `out` without waiting. Returns the close reason once
    /// the queue is empty and closed.
    pub fn try_recv(&self, out: &mut Vec<Arc<Unit>>) -> Result<usize, ReadError> {
        let mut s = self.state.lock();
        let n = s.items.len();
        if n > 0 {
            out.extend(s.items.drain(..));
            return Ok(n);
        }
        match &s.closed {
            Some(r) => Err(ReadError::Closed(r.clone())),
            None => Ok(0),
        }
    }

    /// Takes every queued unit into `out`, or registers the task to be woken.
    pub fn poll_recv(
        &self,
        cx: &mut Context<'_>,
        out: &mut Vec<Arc<Unit>>,
    ) -> Poll<Result<usize, ReadError>> {
        // Register before looking, so a unit pushed in between is not missed.
        self.waker.register(cx.waker());
        match self.try_recv(out) {
            Ok(0) => Poll::Pending,
            r => Poll::Ready(r),
        }
    }

    /// Waits for at least one unit and takes every queued unit into `out`.
    pub async fn recv(&self, out: &mut Vec<Arc<Unit>>) -> Result<usize, ReadError> {
        poll_fn(|cx| self.poll_recv(cx, out)).await
    }
}

/// Aggregates a reader's drops for logs and the API: the caller logs at most one warning
/// per second with the count since the last one.
#[derive(Debug)]
pub struct DropReport {
    reported: u64,
    since_log: u64,
    last_log: std::time::Instant,
}

impl Default for DropReport {
    fn default() -> Self {
        DropReport {
            reported: 0,
            since_log: 0,
            last_log: std::time::Instant::now(),
        }
    }
}

impl DropReport {
    /// Records the queue's drop total into `discarded` (the API counter) and returns the
    /// number of drops to warn about when a warning is due.
    pub fn poll(&mut self, queue: &ReaderQueue, discarded: &AtomicU64) -> Option<u64> {
        let dropped = queue.dropped();
        if dropped > self.reported {
            self.since_log += dropped - self.reported;
            discarded.store(dropped, Ordering::Relaxed);
            self.reported = dropped;
        }
        if self.since_log > 0 && self.last_log.elapsed() >= std::time::Duration::from_secs(1) {
            self.last_log = std::time::Instant::now();
            return Some(std::mem::take(&mut self.since_log));
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::unit::Codec;
    use bytes::Bytes;

    pub(crate) fn av_tracks() -> Vec<Track> {
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

    fn v(dts: i64, key: bool) -> Unit {
        Unit::new(0, dts, dts, key, Bytes::from_static(b"v"))
    }
    fn a(dts: i64) -> Unit {
        Unit::new(1, dts, dts, true, Bytes::from_static(b"a"))
    }

    #[test]
    fn new_reader_starts_at_cached_keyframe() {
        let s = Stream::new(av_tracks());
        s.write(v(0, false)); // before any keyframe: not cached
        s.write(v(3000, true));
        s.write(a(1600));
        s.write(v(6000, false));
        let q = s.add_reader(1, 16).unwrap();
        let mut out = vec![];
        q.try_recv(&mut out).unwrap();
        let dts: Vec<_> = out.iter().map(|u| (u.track, u.dts)).collect();
        assert_eq!(dts, vec![(0, 3000), (1, 1600), (0, 6000)]);
        assert!(out[0].key);
    }

    #[test]
    fn reader_without_cached_keyframe_waits_for_one() {
        let s = Stream::new(av_tracks());
        let q = s.add_reader(1, 16).unwrap();
        s.write(v(0, false));
        s.write(a(0));
        s.write(v(3000, true));
        let mut out = vec![];
        q.try_recv(&mut out).unwrap();
        assert_eq!(out.len(), 1);
        assert!(out[0].key);
    }

    #[test]
    fn slow_reader_drops_then_resyncs_at_keyframe() {
        let s = Stream::new(av_tracks());
        s.write(v(0, true));
        let q = s.add_reader(1, 3).unwrap();
        // Queue: [k0]; fill to 3, then overflow.
        s.write(v(1, false));
        s.write(v(2, false));
        s.write(v(3, false)); // dropped: full
        let mut out = vec![];
        q.try_recv(&mut out).unwrap();
        assert_eq!(out.len(), 3);
        assert_eq!(q.dropped(), 1);
        // Not a keyframe: still skipped although there is room now.
        s.write(v(4, false));
        s.write(a(4));
        out.clear();
        assert_eq!(q.try_recv(&mut out).unwrap(), 0);
        s.write(v(5, true));
        s.write(v(6, false));
        q.try_recv(&mut out).unwrap();
        let dts: Vec<_> = out.iter().map(|u| u.dts).collect();
        assert_eq!(dts, vec![5, 6]);
        assert!(out[0].key);
    }

    #[test]
    fn close_ends_readers_after_draining() {
        let s = Stream::new(av_tracks());
        s.write(v(0, true));
        let q = s.add_reader(1, 8).unwrap();
        s.close("publisher left");
        let mut out = vec![];
        assert_eq!(q.try_recv(&mut out).unwrap(), 1);
        assert_eq!(
            q.try_recv(&mut out),
            Err(ReadError::Closed("publisher left".into()))
        );
        assert!(s.add_reader(2, 8).is_err());
    }

    #[tokio::test(start_paused = true)]
    async fn recv_wakes_on_write() {
        let s = Arc::new(Stream::new(av_tracks()));
        let q = s.add_reader(1, 8).unwrap();
        let s2 = s.clone();
        tokio::spawn(async move {
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
            s2.write(v(0, true));
        });
        let mut out = vec![];
        assert_eq!(q.recv(&mut out).await.unwrap(), 1);
    }
}
