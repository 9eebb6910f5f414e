//! RTMP (FLV) messages -> tracks and units. Runs once per publisher.

use bytes::Bytes;
use ferrocast_codec::aac::AudioSpecificConfig;
use ferrocast_codec::avc;
use ferrocast_codec::flv::{self, AudioCodec, AudioPacket, VideoCodec, VideoPacket};
use ferrocast_codec::CodecError;
use ferrocast_core::{rescale, Codec, Track, Unit};

use crate::amf0::{self, Amf0};
use crate::chunk::{Message, MSG_AUDIO, MSG_DATA_AMF0, MSG_DATA_AMF3, MSG_VIDEO};

/// Without metadata, waiting for a second track stops after this much media.
const PROBE_MS: i64 = 1500;
const PROBE_MESSAGES: usize = 400;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum IngestError {
    #[error("message at {timestamp} ms: {source}")]
    Codec {
        timestamp: u32,
        #[source]
        source: CodecError,
    },
    #[error("the publisher changed the {0} codec in the middle of the stream")]
    CodecChanged(&'static str),
    #[error("no supported track after {0} messages")]
    NoTracks(usize),
}

#[derive(Debug)]
pub enum IngestEvent {
    /// The tracks are known: the path can become ready.
    Ready(Vec<Track>),
    /// A track's configuration changed (new SPS, new AudioSpecificConfig).
    TracksChanged(Vec<Track>),
    Unit(Unit),
}

#[derive(Debug, Clone)]
struct VideoState {
    codec: VideoCodec,
    config: Option<Bytes>,
    nal_len: usize,
}

#[derive(Debug, Clone)]
struct AudioState {
    codec: AudioCodec,
    config: Option<Bytes>,
    sample_rate: u32,
    channels: u8,
    /// Opus and MP3 need no configuration: ready at the first frame.
    seen_frame: bool,
}

/// Turns a publisher's messages into the path's tracks and units.
#[derive(Debug, Default)]
pub struct Ingest {
    video: Option<VideoState>,
    audio: Option<AudioState>,
    expect_video: Option<bool>,
    expect_audio: Option<bool>,
    pending: Vec<Message>,
    /// Track index of video and audio once ready.
    indices: Option<(Option<usize>, Option<usize>)>,
    last_ts: Option<u32>,
    wraps: i64,
}

fn codec_err(timestamp: u32) -> impl Fn(CodecError) -> IngestError {
    move |source| IngestError::Codec { timestamp, source }
}

impl Ingest {
    pub fn new() -> Ingest {
        Ingest::default()
    }

    pub fn is_ready(&self) -> bool {
        self.indices.is_some()
    }

    pub fn push(&mut self, m: Message) -> Result<Vec<IngestEvent>, IngestError> {
        let mut out = vec![];
        match m.type_id {
            MSG_DATA_AMF0 | MSG_DATA_AMF3 => {
                self.metadata(&m);
                return Ok(out);
            }
            MSG_VIDEO | MSG_AUDIO => {}
            _ => return Ok(out),
        }
        let changed = self.configure(&m)?;
        if self.indices.is_some() {
            if changed {
                out.push(IngestEvent::TracksChanged(self.tracks()));
            }
            self.frame(m, &mut out)?;
            return Ok(out);
        }
        self.pending.push(m);
        if self.ready_to_start() {
            let tracks = self.tracks();
            if tracks.is_empty() {
                return Err(IngestError::NoTracks(self.pending.len()));
            }
            let mut idx = 0;
            let v = self.video.as_ref().filter(|v| v.config.is_some()).map(|_| {
                idx += 1;
                idx - 1
            });
            let a = self.audio.as_ref().filter(|a| audio_ready(a)).map(|_| idx);
            self.indices = Some((v, a));
            out.push(IngestEvent::Ready(tracks));
            for m in std::mem::take(&mut self.pending) {
                self.frame(m, &mut out)?;
            }
        }
        Ok(out)
    }

    fn metadata(&mut self, m: &Message) {
        let body: &[u8] = if m.type_id == MSG_DATA_AMF3 {
            m.payload.get(1..).unwrap_or(&[])
        } else {
            &m.payload
        };
        let Ok(values) = amf0::decode_all(body) else {
            return; // metadata is optional: a broken one is ignored
        };
        let Some(meta) = values
            .iter()
            .find(|v| matches!(v, Amf0::Object(_) | Amf0::EcmaArray(_)))
        else {
            return;
        };
        let declared = |k: &str| match meta.get(k) {
            Some(Amf0::Number(n)) => Some(*n != 0.0),
            Some(Amf0::String(s)) => Some(!s.is_empty()),
            _ => None,
        };
        let (v, a) = (declared("videocodecid"), declared("audiocodecid"));
        if v.is_some() || a.is_some() {
            self.expect_video = Some(v.unwrap_or(false));
            self.expect_audio = Some(a.unwrap_or(false));
        }
    }

    /// Applies sequence headers. Returns true when a configuration changed after start.
    fn configure(&mut self, m: &Message) -> Result<bool, IngestError> {
        let err = codec_err(m.timestamp);
        if m.type_id == MSG_VIDEO {
            let tag = match flv::parse_video(&m.payload) {
                Ok(t) => t,
                Err(CodecError::Unsupported(_)) if self.video.is_none() => return Ok(false),
                Err(e) => return Err(err(e)),
            };
            if let VideoPacket::SequenceStart(cfg) = tag.packet {
                let nal_len = match tag.codec {
                    VideoCodec::Avc => avc::avcc_length_size(&cfg).map_err(&err)?,
                    VideoCodec::Hevc => avc::hvcc_length_size(&cfg).map_err(&err)?,
                    _ => 4,
                };
                if let Some(v) = &self.video {
                    if v.codec != tag.codec && self.indices.is_some() {
                        return Err(IngestError::CodecChanged("video"));
                    }
                }
                let changed = self.video.as_ref().and_then(|v| v.config.as_ref()) != Some(&cfg);
                self.video = Some(VideoState {
                    codec: tag.codec,
                    config: Some(cfg),
                    nal_len,
                });
                return Ok(changed && self.indices.is_some());
            }
        } else {
            let tag = match flv::parse_audio(&m.payload) {
                Ok(t) => t,
                Err(CodecError::Unsupported(_)) if self.audio.is_none() => return Ok(false),
                Err(e) => return Err(err(e)),
            };
            if let Some(a) = &self.audio {
                if a.codec != tag.codec && self.indices.is_some() {
                    return Err(IngestError::CodecChanged("audio"));
                }
            }
            match (&tag.codec, tag.packet) {
                (AudioCodec::Aac, AudioPacket::SequenceStart(cfg)) => {
                    let asc = AudioSpecificConfig::parse(&cfg).map_err(&err)?;
                    let changed = self.audio.as_ref().and_then(|a| a.config.as_ref()) != Some(&cfg);
                    self.audio = Some(AudioState {
                        codec: AudioCodec::Aac,
                        config: Some(cfg),
                        sample_rate: asc.sample_rate,
                        channels: asc.channels,
                        seen_frame: false,
                    });
                    return Ok(changed && self.indices.is_some());
                }
                (AudioCodec::Opus, AudioPacket::SequenceStart(head)) => {
                    // OpusHead (RFC 7845 5.1): channel count at byte 9.
                    let channels = head.get(9).copied().filter(|c| *c > 0).unwrap_or(2);
                    self.audio = Some(AudioState {
                        codec: AudioCodec::Opus,
                        config: Some(head),
                        sample_rate: 48000,
                        channels,
                        seen_frame: false,
                    });
                }
                (codec @ (AudioCodec::Opus | AudioCodec::Mp3), AudioPacket::Frame(_)) => {
                    if self.audio.is_none() {
                        self.audio = Some(AudioState {
                            codec: *codec,
                            config: None,
                            sample_rate: if *codec == AudioCodec::Opus {
                                48000
                            } else {
                                44100
                            },
                            channels: 2,
                            seen_frame: false,
                        });
                    }
                    if let Some(a) = &mut self.audio {
                        a.seen_frame = true;
                    }
                }
                _ => {}
            }
        }
        Ok(false)
    }

    fn ready_to_start(&self) -> bool {
        let have_video = self.video.as_ref().is_some_and(|v| v.config.is_some());
        let have_audio = self.audio.as_ref().is_some_and(audio_ready);
        let complete = match (self.expect_video, self.expect_audio) {
            (Some(ev), Some(ea)) => (!ev || have_video) && (!ea || have_audio) && (ev || ea),
            _ => have_video && have_audio,
        };
        if complete {
            return true;
        }
        let span = match (self.pending.first(), self.pending.last()) {
            (Some(f), Some(l)) => l.timestamp.wrapping_sub(f.timestamp) as i64,
            _ => 0,
        };
        (have_video || have_audio) && (span >= PROBE_MS || self.pending.len() >= PROBE_MESSAGES)
            || self.pending.len() >= PROBE_MESSAGES * 4
    }

    fn tracks(&self) -> Vec<Track> {
        let mut t = vec![];
        if let Some(v) = self.video.as_ref().filter(|v| v.config.is_some()) {
            t.push(Track {
                codec: match v.codec {
                    VideoCodec::Avc => Codec::H264,
                    VideoCodec::Hevc => Codec::H265,
                    VideoCodec::Av1 => Codec::Av1,
                    VideoCodec::Vp9 => Codec::Vp9,
                },
                clock_rate: 90000,
                config: v.config.clone().unwrap_or_default(),
                sample_rate: 0,
                channels: 0,
            });
        }
        if let Some(a) = self.audio.as_ref().filter(|a| audio_ready(a)) {
            t.push(Track {
                codec: match a.codec {
                    AudioCodec::Aac => Codec::Aac,
                    AudioCodec::Opus => Codec::Opus,
                    AudioCodec::Mp3 => Codec::Mp3,
                },
                clock_rate: a.sample_rate,
                config: a.config.clone().unwrap_or_default(),
                sample_rate: a.sample_rate,
                channels: a.channels,
            });
        }
        t
    }

    /// Milliseconds since the start of the stream, across 32-bit wrap-arounds.
    fn unwrap_ts(&mut self, ts: u32) -> i64 {
        if let Some(last) = self.last_ts {
            if ts < last && last - ts > 1 << 31 {
                self.wraps += 1;
            }
        }
        self.last_ts = Some(ts);
        self.wraps * (1i64 << 32) + ts as i64
    }

    fn frame(&mut self, m: Message, out: &mut Vec<IngestEvent>) -> Result<(), IngestError> {
        let Some((vi, ai)) = self.indices else {
            return Ok(());
        };
        let err = codec_err(m.timestamp);
        if m.type_id == MSG_VIDEO {
            let (Some(idx), Some(v)) = (vi, &self.video) else {
                return Ok(());
            };
            let tag = flv::parse_video(&m.payload).map_err(&err)?;
            let VideoPacket::Frames { cts, data } = tag.packet else {
                return Ok(());
            };
            if data.is_empty() {
                return Ok(());
            }
            let data = match v.codec {
                VideoCodec::Avc | VideoCodec::Hevc => {
                    avc::to_4byte_lengths(data, v.nal_len).map_err(&err)?
                }
                _ => data,
            };
            let ms = self.unwrap_ts(m.timestamp);
            out.push(IngestEvent::Unit(Unit::new(
                idx,
                ms * 90,
                (ms + cts as i64) * 90,
                tag.keyframe,
                data,
            )));
        } else {
            let (Some(idx), Some(a)) = (ai, &self.audio) else {
                return Ok(());
            };
            let rate = a.sample_rate;
            let tag = flv::parse_audio(&m.payload).map_err(&err)?;
            let AudioPacket::Frame(data) = tag.packet else {
                return Ok(());
            };
            if data.is_empty() {
                return Ok(());
            }
            let ms = self.unwrap_ts(m.timestamp);
            let t = rescale(ms, 1000, rate);
            out.push(IngestEvent::Unit(Unit::new(idx, t, t, true, data)));
        }
        Ok(())
    }
}

fn audio_ready(a: &AudioState) -> bool {
    match a.codec {
        AudioCodec::Aac => a.config.is_some(),
        _ => a.config.is_some() || a.seen_frame,
    }
}
