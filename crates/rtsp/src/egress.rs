//! Bus units -> RTP packets and RTCP sender reports, for one reader session or one
//! multicast group. Pure: packets go into an [`Outbox`] the driver sends.

use std::net::SocketAddr;
use std::ops::Range;
use std::time::{Duration, SystemTime};

use bytes::Bytes;
use ferrocast_core::{rescale, EgressFormat, Track, Unit};
use ferrocast_rtp::srtp::SrtpSender;
use ferrocast_rtp::stats::{ntp_from_unix, SenderStats};
use ferrocast_rtp::{Packetizer, Payload, RtpHeader};

use crate::message;

/// Where a track's packets go.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Delivery {
    /// Interleaved in the RTSP connection on these channels.
    Tcp { rtp: u8, rtcp: u8 },
    /// UDP datagrams to these addresses.
    Udp { rtp: SocketAddr, rtcp: SocketAddr },
    /// Sent by the path's multicast group, not by the session itself.
    Multicast,
}

impl Delivery {
    pub fn is_tcp(&self) -> bool {
        matches!(self, Delivery::Tcp { .. })
    }
}

/// Bytes to send: interleaved frames for the TCP connection and UDP datagrams.
#[derive(Debug, Default)]
pub struct Outbox {
    pub tcp: Vec<u8>,
    udp_buf: Vec<u8>,
    udp: Vec<(bool, SocketAddr, Range<usize>)>,
}

impl Outbox {
    /// Queues one RTP or RTCP packet made of `parts`, protected by `srtp` when given.
    /// Returns its size, 0 if it cannot be sent that way (over 64 KiB on TCP) or is not
    /// ours to send (multicast).
    pub fn push(
        &mut self,
        delivery: &Delivery,
        rtcp: bool,
        parts: &[&[u8]],
        srtp: Option<&mut SrtpSender>,
    ) -> usize {
        let protect = |buf: &mut Vec<u8>, start: usize| {
            if let Some(s) = srtp {
                if rtcp {
                    s.protect_rtcp(buf, start);
                } else {
                    s.protect_rtp(buf, start);
                }
            }
        };
        match delivery {
            Delivery::Tcp { rtp, rtcp: c } => {
                let ch = if rtcp { *c } else { *rtp };
                let head = self.tcp.len();
                self.tcp
                    .extend_from_slice(&message::interleaved_header(ch, 0));
                let start = self.tcp.len();
                for p in parts {
                    self.tcp.extend_from_slice(p);
                }
                protect(&mut self.tcp, start);
                let len = self.tcp.len() - start;
                if len > 0xffff {
                    self.tcp.truncate(head);
                    return 0;
                }
                self.tcp[head + 2..head + 4].copy_from_slice(&(len as u16).to_be_bytes());
                len
            }
            Delivery::Udp { rtp, rtcp: c } => {
                let start = self.udp_buf.len();
                for p in parts {
                    self.udp_buf.extend_from_slice(p);
                }
                protect(&mut self.udp_buf, start);
                let to = if rtcp { *c } else { *rtp };
                self.udp.push((rtcp, to, start..self.udp_buf.len()));
                self.udp_buf.len() - start
            }
            Delivery::Multicast => 0,
        }
    }

    /// The queued datagrams: (RTCP?, destination, bytes).
    pub fn datagrams(&self) -> impl Iterator<Item = (bool, SocketAddr, &[u8])> {
        self.udp
            .iter()
            .map(|(rtcp, to, r)| (*rtcp, *to, &self.udp_buf[r.clone()]))
    }

    pub fn has_datagrams(&self) -> bool {
        !self.udp.is_empty()
    }

    pub fn clear_datagrams(&mut self) {
        self.udp.clear();
        self.udp_buf.clear();
        if self.udp_buf.capacity() > 1 << 20 {
            self.udp_buf = Vec::new();
        }
    }
}

/// One track a reader (or multicast group) receives.
pub struct OutTrack {
    /// Index of the track in the path's stream.
    pub index: usize,
    pub delivery: Delivery,
    packetizer: Packetizer,
    pub payload_type: u8,
    /// RTP clock rate.
    clock_rate: u32,
    /// Clock rate of the bus track's timestamps.
    source_clock: u32,
    pub ssrc: u32,
    pub seq: u16,
    pub ts_base: u32,
    stats: SenderStats,
    /// SRTP (RTSPS over UDP, or RTP/SAVP/TCP).
    srtp: Option<SrtpSender>,
}

impl OutTrack {
    /// Sends as `ssrc` (leased unique within the path), protected with `srtp`.
    pub fn secure(&mut self, ssrc: u32, srtp: SrtpSender) {
        self.ssrc = ssrc;
        self.stats = SenderStats::new(ssrc);
        self.srtp = Some(srtp);
    }

    pub fn is_secure(&self) -> bool {
        self.srtp.is_some()
    }

    /// The SRTP rollover counter of the next packet (0 without SRTP).
    pub fn roc(&self) -> u32 {
        self.srtp.as_ref().map_or(0, SrtpSender::roc)
    }
}

/// Packetizes units for the tracks set up, and reports on them.
#[derive(Default)]
pub struct RtpSender {
    pub tracks: Vec<OutTrack>,
    /// Wall-clock time (since the Unix epoch) of media time 0, set by the first unit.
    epoch: Option<Duration>,
    payloads: Vec<Payload>,
}

impl RtpSender {
    /// Sets up (or sets up again) track `index` of the stream; `seed` makes the SSRC,
    /// initial sequence number and RTP time unpredictable. `None` when RTP cannot carry it.
    pub fn add_track(
        &mut self,
        track: &Track,
        index: usize,
        delivery: Delivery,
        seed: u64,
    ) -> Option<&mut OutTrack> {
        let fmt = ferrocast_rtp::format_for_track(track, 96 + index as u8)?;
        let packetizer = Packetizer::new(track, ferrocast_rtp::DEFAULT_MTU).ok()?;
        self.tracks.retain(|o| o.index != index);
        let ssrc = splitmix(seed) as u32;
        self.tracks.push(OutTrack {
            index,
            delivery,
            packetizer,
            payload_type: fmt.payload_type,
            clock_rate: fmt.clock_rate.max(1),
            source_clock: track.clock_rate.max(1),
            ssrc,
            seq: splitmix(seed ^ 1) as u16,
            ts_base: splitmix(seed ^ 2) as u32,
            stats: SenderStats::new(ssrc),
            srtp: None,
        });
        self.tracks.last_mut()
    }

    /// Packetizes one unit. Returns the number of RTP packets queued.
    pub fn write(&mut self, unit: &Unit, out: &mut Outbox) -> u64 {
        let Some(t) = self.tracks.iter_mut().find(|t| t.index == unit.track) else {
            return 0;
        };
        if t.delivery == Delivery::Multicast {
            return 0;
        }
        // Payloads are made once per unit and shared by every reader (the unit's egress
        // cache), except for codecs whose packetizer numbers pictures per reader.
        let blob = if t.packetizer.is_shareable() {
            let (packetizer, payloads) = (&mut t.packetizer, &mut self.payloads);
            unit.egress.get_or_init(EgressFormat::Rtp, || {
                encode_payloads(packetizer, unit, payloads)
            })
        } else {
            encode_payloads(&mut t.packetizer, unit, &mut self.payloads)
        };
        if blob.is_empty() {
            return 0;
        }
        let pts_us = rescale(unit.pts, t.source_clock, 1_000_000);
        let epoch = *self.epoch.get_or_insert_with(|| {
            let now = SystemTime::now()
                .duration_since(SystemTime::UNIX_EPOCH)
                .unwrap_or_default();
            now.saturating_sub(Duration::from_micros(pts_us.max(0) as u64))
        });
        let wall = if pts_us >= 0 {
            epoch + Duration::from_micros(pts_us as u64)
        } else {
            epoch.saturating_sub(Duration::from_micros(pts_us.unsigned_abs()))
        };
        let ntp = ntp_from_unix(wall);
        let ts = t
            .ts_base
            .wrapping_add(rescale(unit.pts, t.source_clock, t.clock_rate) as u32);
        let mut n = 0;
        for (marker, offset, payload) in Payloads(&blob) {
            let header = RtpHeader {
                marker,
                payload_type: t.payload_type,
                sequence: t.seq,
                timestamp: ts.wrapping_add(offset),
                ssrc: t.ssrc,
            };
            let mut h = [0u8; 12];
            if header.write(&mut h).is_err() {
                continue;
            }
            if out.push(&t.delivery, false, &[&h, payload], t.srtp.as_mut()) > 0 {
                t.seq = t.seq.wrapping_add(1);
                t.stats.on_packet(header.timestamp, ntp, payload.len());
                n += 1;
            }
        }
        n
    }

    /// Queues a sender report for every track that sent something. Returns how many.
    pub fn sender_reports(&mut self, out: &mut Outbox) -> u64 {
        let mut n = 0;
        for t in &mut self.tracks {
            let Some(sr) = t.stats.report() else {
                continue;
            };
            let mut buf = Vec::with_capacity(28);
            if ferrocast_rtp::rtcp::write_sender_report(&sr, &mut buf).is_ok()
                && out.push(&t.delivery, true, &[&buf], t.srtp.as_mut()) > 0
            {
                n += 1;
            }
        }
        n
    }
}

/// A random seed for [`RtpSender::add_track`].
pub fn random_seed() -> u64 {
    use std::hash::{BuildHasher, Hasher};
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u64(
        SystemTime::now()
            .duration_since(SystemTime::UNIX_EPOCH)
            .unwrap_or_default()
            .as_nanos() as u64,
    );
    h.finish()
}

/// SplitMix64: independent SSRC, sequence number and RTP time from one seed.
fn splitmix(x: u64) -> u64 {
    let mut z = x.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// A unit's RTP payloads in one buffer: per payload, the marker (1 byte), the timestamp
/// offset (4) and the length (4), then the bytes. Empty when packetizing failed.
fn encode_payloads(p: &mut Packetizer, unit: &Unit, scratch: &mut Vec<Payload>) -> Bytes {
    scratch.clear();
    if p.packetize(&unit.data, unit.key, scratch).is_err() {
        return Bytes::new();
    }
    let size: usize = scratch.iter().map(|p| 9 + p.payload.len()).sum();
    let mut b = Vec::with_capacity(size);
    for p in scratch.iter() {
        b.push(p.marker as u8);
        b.extend_from_slice(&p.timestamp_offset.to_be_bytes());
        b.extend_from_slice(&(p.payload.len() as u32).to_be_bytes());
        b.extend_from_slice(&p.payload);
    }
    Bytes::from(b)
}

/// Iterates an [`encode_payloads`] buffer: (marker, timestamp offset, payload).
struct Payloads<'a>(&'a [u8]);

impl<'a> Iterator for Payloads<'a> {
    type Item = (bool, u32, &'a [u8]);

    fn next(&mut self) -> Option<Self::Item> {
        let head = self.0.get(..9)?;
        let offset = u32::from_be_bytes([head[1], head[2], head[3], head[4]]);
        let len = u32::from_be_bytes([head[5], head[6], head[7], head[8]]) as usize;
        let payload = self.0.get(9..9 + len)?;
        let marker = head[0] != 0;
        self.0 = &self.0[9 + len..];
        Some((marker, offset, payload))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::Bytes;
    use ferrocast_core::Codec;

    fn opus() -> Track {
        Track {
            codec: Codec::Opus,
            clock_rate: 48000,
            config: Bytes::new(),
            sample_rate: 48000,
            channels: 2,
        }
    }

    #[test]
    fn tcp_and_udp() {
        let mut s = RtpSender::default();
        let udp = Delivery::Udp {
            rtp: "127.0.0.1:5000".parse().unwrap(),
            rtcp: "127.0.0.1:5001".parse().unwrap(),
        };
        s.add_track(&opus(), 0, Delivery::Tcp { rtp: 0, rtcp: 1 }, 1)
            .unwrap();
        s.add_track(&opus(), 1, udp, 2).unwrap();
        s.add_track(&opus(), 2, Delivery::Multicast, 3).unwrap();
        let mut out = Outbox::default();
        let payload = Bytes::from_static(&[1, 2, 3]);
        for track in 0..3 {
            let u = Unit::new(track, 960, 960, true, payload.clone());
            assert_eq!(s.write(&u, &mut out), if track == 2 { 0 } else { 1 });
        }
        assert_eq!(out.tcp.len(), 4 + 12 + 3);
        assert_eq!(&out.tcp[..2], &[b'$', 0]);
        let d: Vec<_> = out.datagrams().collect();
        assert_eq!(d.len(), 1);
        assert_eq!(d[0].1.port(), 5000);
        assert_eq!(d[0].2.len(), 15);
        out.clear_datagrams();
        out.tcp.clear();
        assert_eq!(s.sender_reports(&mut out), 2);
        assert_eq!(out.tcp[1], 1); // RTCP channel
        let d: Vec<_> = out.datagrams().collect();
        assert_eq!(d[0].1.port(), 5001);
        let sr = ferrocast_rtp::rtcp::packets(d[0].2)
            .next()
            .unwrap()
            .unwrap();
        let ferrocast_rtp::rtcp::RtcpPacket::SenderReport(sr) = sr else {
            panic!("not an SR")
        };
        assert_eq!(sr.packet_count, 1);
        assert_eq!(sr.octet_count, 3);
    }

    #[test]
    fn payloads_made_once_per_unit() {
        let pcmu = Track {
            codec: Codec::Pcmu,
            clock_rate: 8000,
            config: Bytes::new(),
            sample_rate: 8000,
            channels: 1,
        };
        let unit = Unit::new(0, 0, 0, true, Bytes::from(vec![7u8; 3000]));
        let mut outs = Vec::new();
        for seed in [1, 2] {
            let mut s = RtpSender::default();
            s.add_track(&pcmu, 0, Delivery::Tcp { rtp: 0, rtcp: 1 }, seed)
                .unwrap();
            let mut out = Outbox::default();
            assert_eq!(s.write(&unit, &mut out), 3);
            outs.push((s.tracks[0].ts_base, out.tcp));
        }
        // Both readers sent the same payloads at the same offsets, under their own headers.
        for (ts_base, tcp) in &outs {
            let mut rest = &tcp[..];
            let mut offsets = Vec::new();
            let mut sizes = Vec::new();
            while !rest.is_empty() {
                let len = u16::from_be_bytes([rest[2], rest[3]]) as usize;
                let pkt = &rest[4..4 + len];
                let ts = u32::from_be_bytes([pkt[4], pkt[5], pkt[6], pkt[7]]);
                offsets.push(ts.wrapping_sub(*ts_base));
                sizes.push(len - 12);
                rest = &rest[4 + len..];
            }
            let mtu = ferrocast_rtp::DEFAULT_MTU as u32;
            assert_eq!(offsets, vec![0, mtu, 2 * mtu]);
            assert_eq!(sizes.iter().sum::<usize>(), 3000);
        }
        assert_ne!(outs[0].1, outs[1].1, "headers are per reader");
    }
}
