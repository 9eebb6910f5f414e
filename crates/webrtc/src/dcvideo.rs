//! H264 with B-frames to the player page, sans-IO: the video goes over a data channel and
//! the page decodes it with WebCodecs, because Chromium's WebRTC video receiver cannot
//! (libwebrtc rewrites every received SPS to "no reordering" and its decoder then drops the
//! B-frames: docs/webrtc-bframes.md). Audio stays on RTP.
//!
//! The player page opens a data channel labelled [`LABEL`] before its offer when the browser
//! has WebCodecs and `MediaStreamTrackGenerator`. A reader whose offer has a data channel
//! waits for it (at most [`OPEN_WAIT`] after ICE/DTLS; not at all once another channel
//! opens, which means the client is not our page) before it takes units from the bus,
//! so that the first keyframe can go either way. Then, per H264 unit:
//! - the track may reorder (its SPS does not rule B-frames out) or a unit's PTS differs from
//!   its DTS, and the channel is open: the video goes over the channel from there on,
//!   starting at a keyframe, announced once by a text message
//!   `{"type":"video","codec":"avc1.PPCCLL","clock":AUDIO_RTP_CLOCK}`;
//! - otherwise it goes over RTP as for every other reader.
//!
//! On the channel a frame is one or more binary messages of at most [`CHUNK`] bytes (small
//! messages interoperate everywhere), each `[1, flags, 0, 0, total u32 BE, pts i64 BE]` +
//! a piece of the Annex B access unit (parameter sets in band before each keyframe);
//! flags: 1 = keyframe, 2 = the frame's last piece. `pts` is in microseconds on the
//! timeline of the reader's RTP clocks: the audio RTP timestamp of the same instant is
//! `pts * clock / 1e6` (mod 2^32), which is how the page paces the video against the sound.
//! The page sends `{"type":"keyframe"}` when its decoder needs one.
//!
//! The channel is reliable and ordered; a frame that does not fit the send buffer whole is
//! dropped with every frame after it up to the next keyframe, so the page never sees a
//! picture that refers to a missing one.

use std::time::{Duration, Instant};

use ferrocast_codec::h264::Sps;

/// The label of the player page's data channel.
pub(crate) const LABEL: &str = "ferrocast-video";
/// How long a reader whose offer has a data channel waits for it after connecting (if it
/// opens later, the video moves to it at the next keyframe).
pub(crate) const OPEN_WAIT: Duration = Duration::from_secs(1);
/// The largest message sent.
pub(crate) const CHUNK: usize = 16 * 1024;
/// Send buffer of a reader's data channels (str0m's default, 128 KiB, is less than one
/// second of a 2.5 Mb/s stream; a keyframe and the GOP a reader starts with must fit).
pub(crate) const SEND_BUFFER: usize = 4 * 1024 * 1024;

const HEADER: usize = 16;
const FLAG_KEY: u8 = 1;
const FLAG_END: u8 = 2;

/// Whether an H264 stream with this SPS may have B-frames: anything but Baseline profile
/// whose VUI does not say "no reordering".
pub(crate) fn may_reorder(sps: Option<&[u8]>) -> bool {
    match sps.and_then(Sps::parse) {
        Some(s) => s.profile_idc != 66 && s.max_num_reorder_frames() != Some(0),
        None => false,
    }
}

/// The WebCodecs codec string of an SPS (`avc1.` + profile, constraints, level in hex).
pub(crate) fn codec_string(sps: &[u8]) -> String {
    match sps.get(1..4) {
        Some(p) => format!("avc1.{:02x}{:02x}{:02x}", p[0], p[1], p[2]),
        None => "avc1.42e01f".to_string(),
    }
}

/// Where one H264 unit goes.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Route {
    Rtp,
    /// Over the channel; `announce` the first time.
    Channel {
        announce: bool,
    },
    /// Not at all: waiting for a keyframe on the channel.
    Drop,
}

/// One reader's channel state; `C` is the channel's id (str0m's `ChannelId`).
#[derive(Debug)]
pub(crate) struct DcVideo<C = str0m::channel::ChannelId> {
    /// The offer has a data channel (the page may open ours).
    pub offered: bool,
    /// Our channel, once open.
    pub channel: Option<C>,
    /// The video goes over the channel.
    pub active: bool,
    need_key: bool,
    announced: bool,
    /// Frames sent over the channel and frames dropped there.
    pub frames: u64,
    pub dropped: u64,
}

impl<C> DcVideo<C> {
    pub fn new(offered: bool) -> DcVideo<C> {
        DcVideo {
            offered,
            channel: None,
            active: false,
            need_key: false,
            announced: false,
            frames: 0,
            dropped: 0,
        }
    }

    /// Whether the reader may take units from the bus: not while a channel the offer
    /// announced may still open.
    pub fn ready(&self, connected_at: Instant, now: Instant) -> bool {
        !self.offered || self.channel.is_some() || now >= connected_at + OPEN_WAIT
    }

    /// Where an H264 unit goes: `may_reorder` from the track's SPS, `reorders` when this
    /// unit's PTS is not its DTS.
    pub fn route(&mut self, may_reorder: bool, reorders: bool, key: bool) -> Route {
        if self.channel.is_none() {
            return Route::Rtp;
        }
        if !self.active {
            if !(may_reorder || reorders) {
                return Route::Rtp;
            }
            self.active = true;
            self.need_key = true;
        }
        if self.need_key {
            if !key {
                self.dropped += 1;
                return Route::Drop;
            }
            self.need_key = false;
        }
        let announce = !self.announced;
        self.announced = true;
        Route::Channel { announce }
    }

    /// A frame could not be sent (the buffer is full), or the page asked for a keyframe:
    /// nothing more until the next keyframe.
    pub fn resync(&mut self) {
        self.need_key = true;
    }

    /// The channel closed: back to RTP (from the next keyframe, which the RTP reader
    /// needs anyway).
    pub fn closed(&mut self) {
        self.channel = None;
        self.active = false;
        self.announced = false;
    }
}

/// The text message announcing the video over the channel.
pub(crate) fn announce(codec: &str, audio_clock: u32) -> String {
    format!("{{\"type\":\"video\",\"codec\":\"{codec}\",\"clock\":{audio_clock}}}")
}

/// Whether a text message from the page asks for a keyframe.
pub(crate) fn is_keyframe_request(data: &[u8]) -> bool {
    std::str::from_utf8(data).is_ok_and(|s| s.contains("\"keyframe\""))
}

/// The messages of one frame.
pub(crate) fn chunks(pts_us: i64, key: bool, data: &[u8]) -> Vec<Vec<u8>> {
    let total = u32::try_from(data.len()).unwrap_or(u32::MAX);
    let pieces: Vec<&[u8]> = if data.is_empty() {
        vec![&[][..]]
    } else {
        data.chunks(CHUNK - HEADER).collect()
    };
    let n = pieces.len();
    pieces
        .into_iter()
        .enumerate()
        .map(|(i, piece)| {
            let mut m = Vec::with_capacity(HEADER + piece.len());
            let mut flags = 0;
            if key {
                flags |= FLAG_KEY;
            }
            if i + 1 == n {
                flags |= FLAG_END;
            }
            m.extend_from_slice(&[1, flags, 0, 0]);
            m.extend_from_slice(&total.to_be_bytes());
            m.extend_from_slice(&pts_us.to_be_bytes());
            m.extend_from_slice(piece);
            m
        })
        .collect()
}

/// The bytes `chunks` makes of a frame of `len` bytes (to check the send buffer first).
pub(crate) fn wire_size(len: usize) -> usize {
    len + HEADER * len.div_ceil(CHUNK - HEADER).max(1)
}

#[cfg(test)]
mod tests {
    use super::*;

    // libx264 High profile, 320x240 (SPS with its VUI): -bf 0 and -bf 2.
    const SPS_BF0: &[u8] = &[
        0x67, 0x64, 0x00, 0x0d, 0xac, 0xb4, 0x0a, 0x0f, 0xd8, 0x08, 0x80, 0x00, 0x00, 0x03, 0x00,
        0x80, 0x00, 0x00, 0x1e, 0x07, 0x8a, 0x15, 0x50,
    ];
    const SPS_BF2: &[u8] = &[
        0x67, 0x64, 0x00, 0x0d, 0xac, 0xd9, 0x41, 0x41, 0xfb, 0x01, 0x10, 0x00, 0x00, 0x03, 0x00,
        0x10, 0x00, 0x00, 0x03, 0x03, 0xc0, 0xf1, 0x42, 0x99, 0x60,
    ];

    #[test]
    fn reordering_from_the_sps() {
        assert!(may_reorder(Some(SPS_BF2)));
        assert!(!may_reorder(Some(SPS_BF0)));
        // Baseline never reorders; an unreadable SPS is left to the units' timestamps.
        assert!(!may_reorder(Some(&[0x67, 0x42, 0xc0, 0x1e])));
        assert!(!may_reorder(None));
    }

    #[test]
    fn codec_strings() {
        assert_eq!(codec_string(&[0x67, 0x64, 0, 0x0d, 0xac]), "avc1.64000d");
        assert_eq!(codec_string(&[0x67]), "avc1.42e01f");
    }

    #[test]
    fn routing() {
        let mut d = DcVideo::<u8>::new(true);
        let t0 = Instant::now();
        assert!(!d.ready(t0, t0));
        assert!(d.ready(t0, t0 + OPEN_WAIT));
        assert!(DcVideo::<u8>::new(false).ready(t0, t0));
        // No channel: RTP.
        assert_eq!(d.route(true, true, true), Route::Rtp);
        d.channel = Some(1);
        assert!(d.ready(t0, t0));
        // A stream without reordering stays on RTP, until a unit reorders.
        assert_eq!(d.route(false, false, true), Route::Rtp);
        assert_eq!(d.route(false, true, false), Route::Drop);
        assert!(d.active);
        assert_eq!(d.route(false, false, false), Route::Drop);
        assert_eq!(
            d.route(false, false, true),
            Route::Channel { announce: true }
        );
        assert_eq!(
            d.route(false, true, false),
            Route::Channel { announce: false }
        );
        assert_eq!(d.dropped, 2);
        // A frame that did not fit: up to the next keyframe.
        d.resync();
        assert_eq!(d.route(true, true, false), Route::Drop);
        assert_eq!(
            d.route(true, false, true),
            Route::Channel { announce: false }
        );
        // The channel closes: RTP again; it opens again: announced again.
        d.closed();
        assert_eq!(d.route(true, false, true), Route::Rtp);
        d.channel = Some(2);
        assert_eq!(
            d.route(true, false, true),
            Route::Channel { announce: true }
        );
    }

    #[test]
    fn chunking() {
        let data: Vec<u8> = (0..40000u32).map(|i| i as u8).collect();
        let msgs = chunks(-5, true, &data);
        assert_eq!(msgs.len(), 3);
        assert!(msgs.iter().all(|m| m.len() <= CHUNK));
        assert_eq!(
            msgs.iter().map(Vec::len).sum::<usize>(),
            wire_size(data.len())
        );
        let mut joined = Vec::new();
        for (i, m) in msgs.iter().enumerate() {
            assert_eq!(m[0], 1);
            assert_eq!(m[1] & FLAG_KEY, FLAG_KEY);
            assert_eq!(m[1] & FLAG_END != 0, i == 2);
            assert_eq!(u32::from_be_bytes(m[4..8].try_into().unwrap()), 40000);
            assert_eq!(i64::from_be_bytes(m[8..16].try_into().unwrap()), -5);
            joined.extend_from_slice(&m[HEADER..]);
        }
        assert_eq!(joined, data);
        let one = chunks(7, false, &[9]);
        assert_eq!(
            one,
            vec![vec![
                1, FLAG_END, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 7, 9
            ]]
        );
        assert_eq!(wire_size(1), 17);
    }

    #[test]
    fn messages_from_the_page() {
        assert!(is_keyframe_request(br#"{"type":"keyframe"}"#));
        assert!(!is_keyframe_request(b"\xff\xfe"));
        assert_eq!(
            announce("avc1.64001f", 48000),
            r#"{"type":"video","codec":"avc1.64001f","clock":48000}"#
        );
    }
}
