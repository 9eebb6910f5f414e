//! Minimal RTCP (RFC 3550 6.4): compound packet framing, sender and receiver reports.

use crate::{need, Error};

/// Sender report packet type (RFC 3550 12.1).
pub const PT_SR: u8 = 200;
/// Receiver report packet type.
pub const PT_RR: u8 = 201;
/// Source description packet type.
pub const PT_SDES: u8 = 202;
/// Goodbye packet type.
pub const PT_BYE: u8 = 203;

/// One reception report block (RFC 3550 6.4.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ReportBlock {
    pub ssrc: u32,
    pub fraction_lost: u8,
    /// Signed 24-bit cumulative number of packets lost.
    pub cumulative_lost: i32,
    pub highest_sequence: u32,
    pub jitter: u32,
    /// Middle 32 bits of the NTP time of the last SR received from this source.
    pub last_sr: u32,
    /// Delay since that SR, in 1/65536 s.
    pub delay_since_last_sr: u32,
}

/// A sender report.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct SenderReport {
    pub ssrc: u32,
    /// 64-bit NTP timestamp (seconds since 1900 in the high 32 bits).
    pub ntp: u64,
    pub rtp_time: u32,
    pub packet_count: u32,
    pub octet_count: u32,
    pub reports: Vec<ReportBlock>,
}

/// A receiver report.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ReceiverReport {
    pub ssrc: u32,
    pub reports: Vec<ReportBlock>,
}

/// One packet of a compound RTCP packet.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RtcpPacket<'a> {
    /// PT 200.
    SenderReport(SenderReport),
    /// PT 201.
    ReceiverReport(ReceiverReport),
    /// Any other packet type: `count` is the 5-bit header field, `body` follows the
    /// 4-byte header (padding removed).
    Other {
        packet_type: u8,
        count: u8,
        body: &'a [u8],
    },
}

/// Iterates over the packets of a compound RTCP packet. After an error it yields nothing.
pub fn packets(buf: &[u8]) -> Packets<'_> {
    Packets { buf }
}

/// Iterator returned by [`packets`].
pub struct Packets<'a> {
    buf: &'a [u8],
}

impl<'a> Iterator for Packets<'a> {
    type Item = Result<RtcpPacket<'a>, Error>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.buf.is_empty() {
            return None;
        }
        let r = next_packet(self.buf);
        match r {
            Ok((p, rest)) => {
                self.buf = rest;
                Some(Ok(p))
            }
            Err(e) => {
                self.buf = &[];
                Some(Err(e))
            }
        }
    }
}

fn next_packet(buf: &[u8]) -> Result<(RtcpPacket<'_>, &[u8]), Error> {
    need("RTCP header", buf, 4)?;
    if buf[0] >> 6 != 2 {
        return Err(Error::Malformed("RTCP version (not 2)"));
    }
    let count = buf[0] & 0x1f;
    let packet_type = buf[1];
    let len = (u16::from_be_bytes([buf[2], buf[3]]) as usize + 1) * 4;
    need("RTCP packet", buf, len)?;
    let (pkt, rest) = buf.split_at(len);
    let mut body = &pkt[4..];
    if buf[0] & 0x20 != 0 {
        let pad = *pkt.last().unwrap_or(&0) as usize;
        if pad == 0 || pad > body.len() {
            return Err(Error::Malformed("RTCP padding length"));
        }
        body = &body[..body.len() - pad];
    }
    let p = match packet_type {
        PT_SR => {
            need("RTCP sender report", body, 24)?;
            RtcpPacket::SenderReport(SenderReport {
                ssrc: be32(&body[0..]),
                ntp: (be32(&body[4..]) as u64) << 32 | be32(&body[8..]) as u64,
                rtp_time: be32(&body[12..]),
                packet_count: be32(&body[16..]),
                octet_count: be32(&body[20..]),
                reports: blocks(&body[24..], count)?,
            })
        }
        PT_RR => {
            need("RTCP receiver report", body, 4)?;
            RtcpPacket::ReceiverReport(ReceiverReport {
                ssrc: be32(body),
                reports: blocks(&body[4..], count)?,
            })
        }
        _ => RtcpPacket::Other {
            packet_type,
            count,
            body,
        },
    };
    Ok((p, rest))
}

fn be32(b: &[u8]) -> u32 {
    u32::from_be_bytes([b[0], b[1], b[2], b[3]])
}

fn blocks(b: &[u8], count: u8) -> Result<Vec<ReportBlock>, Error> {
    need("RTCP report blocks", b, count as usize * 24)?;
    Ok(b.chunks_exact(24)
        .take(count as usize)
        .map(|b| {
            // Sign-extend the 24-bit cumulative loss.
            let lost = (be32(&b[4..]) << 8) as i32 >> 8;
            ReportBlock {
                ssrc: be32(b),
                fraction_lost: b[4],
                cumulative_lost: lost,
                highest_sequence: be32(&b[8..]),
                jitter: be32(&b[12..]),
                last_sr: be32(&b[16..]),
                delay_since_last_sr: be32(&b[20..]),
            }
        })
        .collect())
}

fn write_blocks(reports: &[ReportBlock], out: &mut Vec<u8>) {
    for r in reports {
        out.extend(r.ssrc.to_be_bytes());
        let lost = (r.cumulative_lost.clamp(-(1 << 23), (1 << 23) - 1) as u32) & 0xff_ffff;
        out.extend(((r.fraction_lost as u32) << 24 | lost).to_be_bytes());
        out.extend(r.highest_sequence.to_be_bytes());
        out.extend(r.jitter.to_be_bytes());
        out.extend(r.last_sr.to_be_bytes());
        out.extend(r.delay_since_last_sr.to_be_bytes());
    }
}

fn header(count: usize, packet_type: u8, body_len: usize, out: &mut Vec<u8>) -> Result<(), Error> {
    if count > 31 {
        return Err(Error::Malformed("more than 31 RTCP report blocks"));
    }
    out.push(0x80 | count as u8);
    out.push(packet_type);
    out.extend((((body_len + 4) / 4 - 1) as u16).to_be_bytes());
    Ok(())
}

/// Appends a sender report to `out` (at most 31 report blocks).
pub fn write_sender_report(sr: &SenderReport, out: &mut Vec<u8>) -> Result<(), Error> {
    header(sr.reports.len(), PT_SR, 24 + 24 * sr.reports.len(), out)?;
    out.extend(sr.ssrc.to_be_bytes());
    out.extend(sr.ntp.to_be_bytes());
    out.extend(sr.rtp_time.to_be_bytes());
    out.extend(sr.packet_count.to_be_bytes());
    out.extend(sr.octet_count.to_be_bytes());
    write_blocks(&sr.reports, out);
    Ok(())
}

/// Appends a receiver report to `out` (at most 31 report blocks).
pub fn write_receiver_report(rr: &ReceiverReport, out: &mut Vec<u8>) -> Result<(), Error> {
    header(rr.reports.len(), PT_RR, 4 + 24 * rr.reports.len(), out)?;
    out.extend(rr.ssrc.to_be_bytes());
    write_blocks(&rr.reports, out);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip() {
        let block = ReportBlock {
            ssrc: 7,
            fraction_lost: 3,
            cumulative_lost: -2,
            highest_sequence: 70000,
            jitter: 12,
            last_sr: 0x1234_5678,
            delay_since_last_sr: 65536,
        };
        let sr = SenderReport {
            ssrc: 1,
            ntp: 0x0102_0304_0506_0708,
            rtp_time: 90000,
            packet_count: 10,
            octet_count: 1000,
            reports: vec![block],
        };
        let rr = ReceiverReport {
            ssrc: 2,
            reports: vec![block, block],
        };
        let mut buf = vec![];
        write_sender_report(&sr, &mut buf).unwrap();
        write_receiver_report(&rr, &mut buf).unwrap();
        // An SDES packet with padding.
        buf.extend([0xa1, PT_SDES, 0, 2, 0, 0, 0, 1, 0, 0, 0, 4]);
        let got: Vec<_> = packets(&buf).collect::<Result<_, _>>().unwrap();
        assert_eq!(got[0], RtcpPacket::SenderReport(sr));
        assert_eq!(got[1], RtcpPacket::ReceiverReport(rr));
        assert_eq!(
            got[2],
            RtcpPacket::Other {
                packet_type: PT_SDES,
                count: 1,
                body: &[0, 0, 0, 1][..]
            }
        );
        for n in 0..buf.len() {
            let _ = packets(&buf[..n]).count();
        }
        let too_many = ReceiverReport {
            ssrc: 0,
            reports: vec![block; 32],
        };
        assert!(write_receiver_report(&too_many, &mut vec![]).is_err());
    }

    #[test]
    fn malformed() {
        // RC says 1 block but the body has none.
        let b = [0x81, PT_RR, 0, 1, 0, 0, 0, 1];
        assert!(packets(&b).next().unwrap().is_err());
        // Length beyond the buffer.
        let b = [0x80, PT_RR, 0, 9, 0, 0, 0, 1];
        assert!(packets(&b).next().unwrap().is_err());
    }
}
