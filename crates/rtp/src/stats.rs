//! RTCP bookkeeping (RFC 3550 6.4 and A.3, A.8): what a receiver reports about an RTP
//! stream (loss, jitter, last sender report) and what a sender reports about itself.
//!
//! Pure: callers pass arrival times and wall-clock NTP times in.

use crate::rtcp::{ReportBlock, SenderReport};

/// Seconds between 1900-01-01 (NTP epoch) and 1970-01-01 (Unix epoch).
pub const NTP_UNIX_OFFSET: u64 = 2_208_988_800;

/// A 64-bit NTP timestamp (32.32 fixed point) for a wall-clock time.
pub fn ntp_from_unix(since_unix: std::time::Duration) -> u64 {
    let secs = since_unix.as_secs() + NTP_UNIX_OFFSET;
    let frac = ((since_unix.subsec_nanos() as u64) << 32) / 1_000_000_000;
    (secs << 32) | frac
}

/// What a receiver knows about one incoming RTP stream.
#[derive(Debug, Clone, Default)]
pub struct ReceiverStats {
    pub ssrc: u32,
    started: bool,
    base_seq: u32,
    /// Highest sequence number seen, extended with the wrap count in the high 16 bits.
    max_seq: u32,
    received: u64,
    expected_prior: u64,
    received_prior: u64,
    /// Interarrival jitter in RTP clock units, times 16 (RFC 3550 A.8).
    jitter_x16: u64,
    /// (arrival, RTP timestamp) of the previous packet, arrival in RTP clock units.
    last_transit: Option<i64>,
    /// Middle 32 bits of the last SR's NTP time, and when it arrived (seconds).
    last_sr: Option<(u32, f64)>,
}

impl ReceiverStats {
    /// Accounts one packet. `arrival` is in the stream's clock units since any fixed origin.
    pub fn on_packet(&mut self, ssrc: u32, seq: u16, rtp_time: u32, arrival: i64) {
        self.ssrc = ssrc;
        self.received += 1;
        if !self.started {
            self.started = true;
            self.base_seq = seq as u32;
            self.max_seq = seq as u32;
        } else {
            let cycles = self.max_seq & 0xffff_0000;
            let max = self.max_seq as u16;
            let delta = seq.wrapping_sub(max);
            if delta != 0 && delta < 0x8000 {
                let wrapped = seq < max;
                self.max_seq = if wrapped {
                    cycles.wrapping_add(0x1_0000) | seq as u32
                } else {
                    cycles | seq as u32
                };
            }
        }
        let transit = arrival - rtp_time as i64;
        if let Some(last) = self.last_transit {
            let d = (transit - last).unsigned_abs();
            // J += (|D| - J) / 16, kept times 16.
            self.jitter_x16 = self.jitter_x16 + d - ((self.jitter_x16 + 8) >> 4);
        }
        self.last_transit = Some(transit);
    }

    /// Records a sender report from this stream's source (`now` in seconds).
    pub fn on_sender_report(&mut self, ntp: u64, now: f64) {
        self.last_sr = Some(((ntp >> 16) as u32, now));
    }

    pub fn received(&self) -> u64 {
        self.received
    }

    /// Packets expected from the sequence numbers seen.
    pub fn expected(&self) -> u64 {
        if !self.started {
            return 0;
        }
        (self.max_seq.wrapping_sub(self.base_seq) as u64) + 1
    }

    /// Packets lost (expected minus received; duplicates can make it look negative: 0).
    pub fn lost(&self) -> u64 {
        self.expected().saturating_sub(self.received)
    }

    /// Interarrival jitter in RTP clock units.
    pub fn jitter(&self) -> u32 {
        (self.jitter_x16 >> 4) as u32
    }

    /// A report block for an RR; resets the interval counters (`now` in seconds).
    pub fn report(&mut self, now: f64) -> ReportBlock {
        let expected = self.expected();
        let exp_interval = expected.saturating_sub(self.expected_prior);
        let rec_interval = self.received.saturating_sub(self.received_prior);
        self.expected_prior = expected;
        self.received_prior = self.received;
        let lost_interval = exp_interval.saturating_sub(rec_interval);
        let fraction_lost = (lost_interval << 8)
            .checked_div(exp_interval)
            .map_or(0, |f| f.min(255) as u8);
        let (last_sr, delay_since_last_sr) = match self.last_sr {
            Some((lsr, at)) => (lsr, ((now - at).max(0.0) * 65536.0) as u32),
            None => (0, 0),
        };
        ReportBlock {
            ssrc: self.ssrc,
            fraction_lost,
            cumulative_lost: self.lost().min((1 << 23) - 1) as i32,
            highest_sequence: self.max_seq,
            jitter: self.jitter(),
            last_sr,
            delay_since_last_sr,
        }
    }
}

/// What a sender knows about one outgoing RTP stream.
#[derive(Debug, Clone, Default)]
pub struct SenderStats {
    pub ssrc: u32,
    pub packets: u32,
    pub octets: u32,
    /// The RTP time and the NTP time of the last packet sent.
    last: Option<(u32, u64)>,
}

impl SenderStats {
    pub fn new(ssrc: u32) -> SenderStats {
        SenderStats {
            ssrc,
            ..Default::default()
        }
    }

    /// Accounts one packet of `payload_len` bytes stamped `rtp_time`, whose media time is
    /// the wall-clock `ntp`.
    pub fn on_packet(&mut self, rtp_time: u32, ntp: u64, payload_len: usize) {
        self.packets = self.packets.wrapping_add(1);
        self.octets = self.octets.wrapping_add(payload_len as u32);
        self.last = Some((rtp_time, ntp));
    }

    /// A sender report, once something was sent.
    pub fn report(&self) -> Option<SenderReport> {
        let (rtp_time, ntp) = self.last?;
        Some(SenderReport {
            ssrc: self.ssrc,
            ntp,
            rtp_time,
            packet_count: self.packets,
            octet_count: self.octets,
            reports: vec![],
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loss_and_wrap() {
        let mut s = ReceiverStats::default();
        // 65530..=65535, then 0..=9 with 3 missing (seq 2) and one duplicate.
        let mut seqs: Vec<u16> = (65530..=65535).chain(0..10).filter(|&s| s != 2).collect();
        seqs.push(5);
        for (i, seq) in seqs.iter().enumerate() {
            s.on_packet(1, *seq, i as u32 * 3000, i as i64 * 3000);
        }
        assert_eq!(s.expected(), 16);
        assert_eq!(s.received(), 16);
        let b = s.report(1.0);
        assert_eq!(b.highest_sequence, 0x1_0009);
        assert_eq!(b.cumulative_lost, 0); // the duplicate hides the loss, as in RFC 3550
        assert_eq!(s.jitter(), 0);
        assert_eq!(b.ssrc, 1);
    }

    #[test]
    fn fraction_and_jitter() {
        let mut s = ReceiverStats::default();
        for i in 0..100u16 {
            if i % 10 == 3 {
                continue;
            }
            // Arrival alternates 0 and +160 units late.
            let late = if i % 2 == 0 { 0 } else { 160 };
            s.on_packet(9, i, i as u32 * 1000, i as i64 * 1000 + late);
        }
        s.on_sender_report(0x0001_2345_6789_0000, 10.0);
        let b = s.report(10.5);
        assert_eq!(s.lost(), 10);
        assert_eq!(b.fraction_lost, (10u32 * 256 / 100) as u8);
        assert!(b.jitter > 100 && b.jitter <= 160, "{}", b.jitter);
        assert_eq!(b.last_sr, 0x2345_6789);
        assert_eq!(b.delay_since_last_sr, 32768);
        // Nothing new: nothing lost in this interval.
        assert_eq!(s.report(11.0).fraction_lost, 0);
    }

    #[test]
    fn sender() {
        let mut s = SenderStats::new(5);
        assert!(s.report().is_none());
        s.on_packet(100, 7 << 32, 1000);
        s.on_packet(200, 8 << 32, 500);
        let r = s.report().unwrap();
        assert_eq!((r.packet_count, r.octet_count, r.rtp_time), (2, 1500, 200));
        assert_eq!(r.ntp, 8 << 32);
        let t = ntp_from_unix(std::time::Duration::new(1, 500_000_000));
        assert_eq!(t >> 32, NTP_UNIX_OFFSET + 1);
        assert_eq!(t & 0xffff_ffff, 1 << 31);
    }
}
