//! RTP from a publisher (or a pulled camera) -> bus units: per track reordering (UDP),
//! depacketizing, DTS recovery, alignment on the path's timeline, receiver statistics and
//! RTCP receiver reports. Shared by the server's publishers and the RTSP pull source.

use std::sync::atomic::Ordering;
use std::time::Instant;

use bytes::Bytes;
use ferrocast_core::conns::RtpCounters;
use ferrocast_core::{rescale, Codec, Publisher, Track, Unit};
use ferrocast_rtp::dts::{H264DtsExtractor, H265DtsExtractor};
use ferrocast_rtp::reorder::Reorderer;
use ferrocast_rtp::rtcp::{self, RtcpPacket};
use ferrocast_rtp::srtp::{SrtpReceiver, SrtpSender};
use ferrocast_rtp::stats::ReceiverStats;
use ferrocast_rtp::{Depacketizer, Frame, MediaFormat, RtpPacket};

use crate::egress::{Delivery, Outbox};

/// A track being received.
pub struct InTrack {
    /// SDP `a=control` of the track.
    pub control: String,
    pub track: Track,
    depacketizer: Depacketizer,
    /// H264 and H265: DTS from the bitstream (RTP carries only PTS).
    dts: Dts,
    /// How its packets arrive, once SETUP.
    pub delivery: Option<Delivery>,
    /// UDP: packets back in sequence order.
    reorder: Option<Reorderer>,
    stats: ReceiverStats,
    /// (first RTP time, where it sits on the path's timeline), in the track's clock: each
    /// RTP stream starts at a random timestamp, so tracks are aligned by arrival.
    base: Option<(i64, i64)>,
    /// SRTP: the key the sender announced (RTSPS with RTP/SAVP).
    pub srtp_in: Option<SrtpReceiver>,
}

impl InTrack {
    pub fn new(control: String, format: &MediaFormat) -> Result<InTrack, ferrocast_rtp::Error> {
        let depacketizer = Depacketizer::new(format)?;
        Ok(InTrack {
            control,
            track: depacketizer.track().clone(),
            dts: Dts::for_track(depacketizer.track()),
            depacketizer,
            delivery: None,
            reorder: None,
            stats: ReceiverStats::default(),
            base: None,
            srtp_in: None,
        })
    }

    /// Sets how packets arrive; UDP ones get a reorder buffer.
    pub fn set_delivery(&mut self, d: Delivery) {
        if matches!(d, Delivery::Udp { .. }) {
            let window = if self.track.codec.is_video() { 256 } else { 64 };
            self.reorder = Some(Reorderer::new(window));
        }
        self.delivery = Some(d);
    }
}

enum Dts {
    H264(H264DtsExtractor),
    H265(H265DtsExtractor),
    Pts,
}

impl Dts {
    fn for_track(t: &Track) -> Dts {
        match t.codec {
            Codec::H264 => {
                let mut x = H264DtsExtractor::new();
                x.set_config(&t.config);
                Dts::H264(x)
            }
            Codec::H265 => {
                let mut x = H265DtsExtractor::new();
                x.set_config(&t.config);
                Dts::H265(x)
            }
            _ => Dts::Pts,
        }
    }

    fn dts(&mut self, f: &Frame) -> i64 {
        match self {
            Dts::H264(x) => {
                if let Some(c) = &f.config {
                    x.set_config(c);
                }
                x.extract_frame(f)
            }
            Dts::H265(x) => {
                if let Some(c) = &f.config {
                    x.set_config(c);
                }
                x.extract_frame(f)
            }
            Dts::Pts => f.pts,
        }
    }
}

/// The received tracks of one stream.
pub struct Ingest {
    pub tracks: Vec<InTrack>,
    started: Instant,
    /// Origin of arrival times and RTCP times.
    epoch: Instant,
    /// Our SSRC in receiver reports.
    ssrc: u32,
    /// SRTP for our receiver reports, with the key we announced.
    pub srtp_out: Option<SrtpSender>,
}

impl Ingest {
    pub fn new(tracks: Vec<InTrack>, ssrc: u32) -> Ingest {
        Ingest {
            tracks,
            started: Instant::now(),
            epoch: Instant::now(),
            ssrc,
            srtp_out: None,
        }
    }

    /// The bus tracks, in order.
    pub fn bus_tracks(&self) -> Vec<Track> {
        self.tracks.iter().map(|t| t.track.clone()).collect()
    }

    /// The track whose packets arrive on interleaved `channel`: (index, RTCP?).
    pub fn by_channel(&self, channel: u8) -> Option<(usize, bool)> {
        self.tracks
            .iter()
            .enumerate()
            .find_map(|(i, t)| match t.delivery {
                Some(Delivery::Tcp { rtp, .. }) if rtp == channel => Some((i, false)),
                Some(Delivery::Tcp { rtcp, .. }) if rtcp == channel => Some((i, true)),
                _ => None,
            })
    }

    /// One RTP packet of track `idx`; `udp` ones are reordered first (and a malformed one
    /// is dropped, where on TCP it is an error of the session).
    pub fn on_rtp(
        &mut self,
        idx: usize,
        data: Bytes,
        udp: bool,
        counters: &RtpCounters,
        publisher: &mut Publisher,
    ) -> Result<(), String> {
        let Some(t) = self.tracks.get_mut(idx) else {
            return Ok(());
        };
        let data = match &mut t.srtp_in {
            Some(srtp) => match srtp.unprotect_rtp(&data) {
                Ok(plain) => Bytes::from(plain),
                Err(e) => {
                    // Forged, replayed or damaged: dropped (on TCP too, as one bad
                    // packet in a TLS stream is not worth the session).
                    counters
                        .inbound_rtp_packets_in_error
                        .fetch_add(1, Ordering::Relaxed);
                    tracing::debug!("track {idx}: {e}");
                    return Ok(());
                }
            },
            None => data,
        };
        let arrival = rescale(
            self.epoch.elapsed().as_micros() as i64,
            1_000_000,
            t.track.clock_rate.max(1),
        );
        let (seq, ts, ssrc) = match RtpPacket::parse(&data) {
            Ok(p) => (p.sequence, p.timestamp, p.ssrc),
            Err(e) => {
                counters
                    .inbound_rtp_packets_in_error
                    .fetch_add(1, Ordering::Relaxed);
                if udp {
                    return Ok(()); // anyone can send us a datagram: drop it
                }
                return Err(format!("malformed RTP packet on track {idx}: {e}"));
            }
        };
        counters.inbound_rtp_packets.fetch_add(1, Ordering::Relaxed);
        t.stats.on_packet(ssrc, seq, ts, arrival);
        let mut ordered = Vec::new();
        match &mut t.reorder {
            Some(r) => r.push(seq, data, &mut ordered),
            None => ordered.push(data),
        }
        // Loss and jitter over all tracks, for the API.
        let lost: u64 = self.tracks.iter().map(|t| t.stats.lost()).sum();
        counters
            .inbound_rtp_packets_lost
            .store(lost, Ordering::Relaxed);
        let jitter = self
            .tracks
            .iter()
            .map(|t| t.stats.jitter() as f64)
            .fold(0.0, f64::max);
        counters.set_jitter(jitter);
        for pkt in ordered {
            self.depacketize(idx, &pkt, publisher);
        }
        Ok(())
    }

    fn depacketize(&mut self, idx: usize, data: &[u8], publisher: &mut Publisher) {
        let Ok(pkt) = RtpPacket::parse(data) else {
            return;
        };
        let mut frames = Vec::new();
        let t = &mut self.tracks[idx];
        if let Err(e) = t.depacketizer.push(&pkt, &mut frames) {
            // One broken packet loses one frame, not the session.
            tracing::debug!("track {idx}: {e}");
        }
        for f in frames {
            let dts = t.dts.dts(&f);
            let clock = t.track.clock_rate;
            let started = self.started;
            let (first, at) = *t.base.get_or_insert_with(|| {
                let us = started.elapsed().as_micros() as i64;
                (f.pts, rescale(us, 1_000_000, clock))
            });
            let (pts, dts) = (f.pts - first + at, dts - first + at);
            if let Some(config) = f.config {
                if let Some(s) = publisher.stream() {
                    let mut all = s.tracks().as_ref().clone();
                    if let Some(t) = all.get_mut(idx) {
                        t.config = config;
                    }
                    s.update_tracks(all);
                }
            }
            publisher.write(Unit::new(idx, dts, pts, f.key, f.data));
        }
    }

    /// An RTCP packet for track `idx`: sender reports feed the receiver statistics.
    pub fn on_rtcp(&mut self, idx: usize, data: &[u8], counters: &RtpCounters) {
        let now = self.epoch.elapsed().as_secs_f64();
        let plain;
        let data = match self.tracks.get_mut(idx).and_then(|t| t.srtp_in.as_mut()) {
            Some(srtp) => match srtp.unprotect_rtcp(data) {
                Ok(p) => {
                    plain = p;
                    &plain[..]
                }
                Err(_) => {
                    counters
                        .inbound_rtcp_packets_in_error
                        .fetch_add(1, Ordering::Relaxed);
                    return;
                }
            },
            None => data,
        };
        for p in rtcp::packets(data) {
            match p {
                Ok(p) => {
                    counters
                        .inbound_rtcp_packets
                        .fetch_add(1, Ordering::Relaxed);
                    if let (Some(t), RtcpPacket::SenderReport(sr)) = (self.tracks.get_mut(idx), p) {
                        t.stats.on_sender_report(sr.ntp, now);
                    }
                }
                Err(_) => {
                    counters
                        .inbound_rtcp_packets_in_error
                        .fetch_add(1, Ordering::Relaxed);
                }
            }
        }
    }

    /// Queues a receiver report for every track that received something. Returns how many.
    pub fn receiver_reports(&mut self, out: &mut Outbox) -> u64 {
        let now = self.epoch.elapsed().as_secs_f64();
        let mut n = 0;
        for t in self.tracks.iter_mut() {
            let Some(d) = &t.delivery else { continue };
            if t.stats.received() == 0 {
                continue;
            }
            let rr = rtcp::ReceiverReport {
                ssrc: self.ssrc,
                reports: vec![t.stats.report(now)],
            };
            let mut buf = Vec::with_capacity(32);
            if rtcp::write_receiver_report(&rr, &mut buf).is_ok()
                && out.push(d, true, &[&buf], self.srtp_out.as_mut()) > 0
            {
                n += 1;
            }
        }
        n
    }
}
