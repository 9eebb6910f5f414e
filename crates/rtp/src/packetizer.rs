//! Bus units -> RTP payloads.

use bytes::Bytes;
use ferrocast_core::{Codec, Track};

use crate::{aac, av1, h264, h265, jpeg, mpa, vp8, vp9, Error, RtpPacket};

/// One RTP payload; the caller writes the header (sequence number, timestamp, SSRC).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Payload {
    /// The RTP marker bit (end of an access unit / frame / fragmented AU).
    pub marker: bool,
    /// The RTP payload.
    pub payload: Bytes,
    /// Added to the unit's RTP timestamp for this packet: non-zero only when G.711 units
    /// are split into several packets (in samples).
    pub timestamp_offset: u32,
}

impl Payload {
    pub(crate) fn new(marker: bool, payload: Bytes) -> Payload {
        Payload {
            marker,
            payload,
            timestamp_offset: 0,
        }
    }
}

#[derive(Debug)]
enum Inner {
    H264(h264::Packetizer),
    H265(h265::Packetizer),
    Aac(aac::GenericPacketizer),
    Opus,
    G711,
    Vp8(vp8::Packetizer),
    Vp9(vp9::Packetizer),
    Av1(av1::Packetizer),
    Jpeg(jpeg::Packetizer),
    Mpa(mpa::Packetizer),
    Generic,
}

/// Turns the units of one track into RTP payloads of at most `mtu` bytes, in the format
/// [`crate::format_for_track`] announces.
#[derive(Debug)]
pub struct Packetizer {
    inner: Inner,
    mtu: usize,
}

impl Packetizer {
    /// A packetizer for `track`; `mtu` is the payload size limit (see
    /// [`crate::DEFAULT_MTU`]), at least 256. Opus packets and generic RTP packets cannot
    /// be split and are sent whole even when larger.
    pub fn new(track: &Track, mtu: usize) -> Result<Packetizer, Error> {
        if mtu < 256 {
            return Err(Error::Format(format!("MTU {mtu} below 256")));
        }
        let inner = match track.codec {
            Codec::H264 => Inner::H264(h264::Packetizer::new(&track.config, mtu)),
            Codec::H265 => Inner::H265(h265::Packetizer::new(&track.config, mtu)),
            Codec::Aac => Inner::Aac(aac::GenericPacketizer { mtu }),
            Codec::Opus => Inner::Opus,
            Codec::Pcmu | Codec::Pcma => Inner::G711,
            Codec::Vp8 => Inner::Vp8(vp8::Packetizer { mtu, picture_id: 0 }),
            Codec::Vp9 => Inner::Vp9(vp9::Packetizer { mtu, picture_id: 0 }),
            Codec::Av1 => Inner::Av1(av1::Packetizer::new(&track.config, mtu)),
            Codec::Mjpeg => Inner::Jpeg(jpeg::Packetizer { mtu }),
            Codec::Mp3 => Inner::Mpa(mpa::Packetizer { mtu }),
            Codec::Generic => Inner::Generic,
            _ => return Err(Error::Unsupported("codec without an RTP packetizer")),
        };
        Ok(Packetizer { inner, mtu })
    }

    /// Takes a refreshed decoder configuration (avcC/hvcC/av1C): its parameter sets
    /// (sequence header) are sent before the following key frames that lack them.
    pub fn set_config(&mut self, config: &[u8]) {
        match &mut self.inner {
            Inner::H264(p) => p.set_config(config),
            Inner::H265(p) => p.set_config(config),
            Inner::Av1(p) => p.set_config(config),
            _ => {}
        }
    }

    /// Whether the payloads of a unit depend only on the unit and the track, so that one
    /// packetizing can serve every reader. VP8/VP9 number their pictures per stream.
    pub fn is_shareable(&self) -> bool {
        !matches!(self.inner, Inner::Vp8(_) | Inner::Vp9(_))
    }

    /// Appends the payloads of one unit to `out`. On an error nothing is appended.
    pub fn packetize(
        &mut self,
        data: &Bytes,
        key: bool,
        out: &mut Vec<Payload>,
    ) -> Result<(), Error> {
        let start = out.len();
        let r = match &mut self.inner {
            Inner::H264(p) => p.packetize(data, key, out),
            Inner::H265(p) => p.packetize(data, key, out),
            Inner::Aac(p) => p.packetize(data, out),
            Inner::Opus => {
                if !data.is_empty() {
                    out.push(Payload::new(false, data.clone()));
                }
                Ok(())
            }
            Inner::G711 => {
                // One byte per sample: split at the MTU, each part at its sample offset.
                for (i, chunk) in data.chunks(self.mtu).enumerate() {
                    out.push(Payload {
                        marker: false,
                        payload: data.slice_ref(chunk),
                        timestamp_offset: (i * self.mtu) as u32,
                    });
                }
                Ok(())
            }
            Inner::Vp8(p) => p.packetize(data, out),
            Inner::Vp9(p) => p.packetize(data, out),
            Inner::Av1(p) => p.packetize(data, key, out),
            Inner::Jpeg(p) => p.packetize(data, out),
            Inner::Mpa(p) => p.packetize(data, out),
            Inner::Generic => {
                // The unit is a whole RTP packet: resend its payload and marker.
                let pkt = RtpPacket::parse(data)?;
                out.push(Payload::new(pkt.marker, data.slice_ref(pkt.payload)));
                Ok(())
            }
        };
        if r.is_err() {
            out.truncate(start);
        }
        r
    }
}
