//! MPEG-4 audio over RTP: MPEG4-GENERIC (RFC 3640, AAC-hbr/AAC-lbr and any AU-header
//! layout) and MP4A-LATM (RFC 6416, out-of-band configuration: cpresent=0).

use bytes::{BufMut, Bytes, BytesMut};

use crate::bits::{BitReader, BitWriter};
use crate::{check_frame_size, need, Error, Frame, Payload};

const SAMPLE_RATES: [u32; 13] = [
    96000, 88200, 64000, 48000, 44100, 32000, 24000, 22050, 16000, 12000, 11025, 8000, 7350,
];

/// What this crate needs from an AudioSpecificConfig (ISO/IEC 14496-3 1.6.2.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Asc {
    pub object_type: u8,
    pub sample_rate: u32,
    /// Samples per frame: 1024, or 960 with frameLengthFlag.
    pub frame_length: u32,
}

fn object_type(r: &mut BitReader<'_>) -> Option<u8> {
    let t = r.bits(5)? as u8;
    if t == 31 {
        Some(32 + r.bits(6)? as u8)
    } else {
        Some(t)
    }
}

fn sample_rate(r: &mut BitReader<'_>) -> Option<u32> {
    let i = r.bits(4)? as usize;
    if i == 15 {
        r.bits(24).filter(|r| *r > 0)
    } else {
        SAMPLE_RATES.get(i).copied()
    }
}

/// Reads an AudioSpecificConfig, leaving `r` just past it. Only the GASpecificConfig
/// object types (AAC Main/LC/SSR/LTP/Scalable, ER AAC, with SBR/PS) are understood.
pub(crate) fn read_asc(r: &mut BitReader<'_>) -> Option<Asc> {
    let mut aot = object_type(r)?;
    let rate = sample_rate(r)?;
    let channels = r.bits(4)?;
    let mut explicit_ext = false;
    if aot == 5 || aot == 29 {
        explicit_ext = true;
        sample_rate(r)?;
        aot = object_type(r)?;
        if aot == 22 {
            r.skip(4)?;
        }
    }
    let mut frame_length = 1024;
    match aot {
        1 | 2 | 3 | 4 | 6 | 7 | 17 | 19 | 20 | 21 | 22 | 23 => {
            // GASpecificConfig (4.4.1).
            if r.flag()? {
                frame_length = 960;
            }
            if r.flag()? {
                r.skip(14)?; // coreCoderDelay
            }
            let extension = r.flag()?;
            if channels == 0 {
                return None; // program_config_element: not supported
            }
            if aot == 6 || aot == 20 {
                r.skip(3)?;
            }
            if extension {
                if aot == 22 {
                    r.skip(16)?;
                }
                if matches!(aot, 17 | 19 | 20 | 23) {
                    r.skip(3)?;
                }
                r.skip(1)?;
            }
        }
        _ => return None,
    }
    if matches!(aot, 17 | 19..=27 | 39) && matches!(r.bits(2)?, 2 | 3) {
        return None; // ErrorProtectionSpecificConfig
    }
    // Backward-compatible SBR/PS signalling (syncExtensionType 0x2b7, 0x548).
    if !explicit_ext && r.remaining() >= 16 && r.clone().bits(11)? == 0x2b7 {
        r.skip(11)?;
        let ext = object_type(r)?;
        if (ext == 5 || ext == 22) && r.flag()? {
            sample_rate(r)?;
            if ext == 5 && r.remaining() >= 12 && r.clone().bits(11)? == 0x548 {
                r.skip(12)?;
            }
        }
        if ext == 22 {
            r.skip(4)?;
        }
    }
    Some(Asc {
        object_type: aot,
        sample_rate: rate,
        frame_length,
    })
}

/// Parses an AudioSpecificConfig given as bytes.
pub(crate) fn parse_asc(b: &[u8]) -> Result<Asc, Error> {
    read_asc(&mut BitReader::new(b)).ok_or(Error::Unsupported("AudioSpecificConfig"))
}

/// The AU duration in RTP clock units.
pub(crate) fn frame_duration(asc: &Asc, clock_rate: u32) -> i64 {
    (asc.frame_length as i64 * clock_rate as i64) / asc.sample_rate.max(1) as i64
}

/// AU-header layout of an MPEG4-GENERIC stream (RFC 3640 3.3.6 / 4.1 fmtp parameters).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(crate) struct AuHeaderLayout {
    pub size_length: u32,
    pub index_length: u32,
    pub index_delta_length: u32,
    pub cts_delta_length: u32,
    pub dts_delta_length: u32,
    pub random_access_indication: bool,
    pub stream_state_indication: u32,
    pub auxiliary_data_size_length: u32,
}

impl AuHeaderLayout {
    pub fn validate(&self) -> Result<(), Error> {
        if self.size_length == 0 {
            return Err(Error::Unsupported(
                "MPEG4-GENERIC without AU sizes (sizelength=0)",
            ));
        }
        let fields = [
            self.size_length,
            self.index_length,
            self.index_delta_length,
            self.cts_delta_length,
            self.dts_delta_length,
            self.stream_state_indication,
            self.auxiliary_data_size_length,
        ];
        if fields.iter().any(|f| *f > 32) {
            return Err(Error::Format(
                "MPEG4-GENERIC field length above 32 bits".into(),
            ));
        }
        Ok(())
    }
}

/// The most AUs accepted in one packet.
const MAX_AUS: usize = 1024;

/// MPEG4-GENERIC depacketizer: one frame per AU; see [`crate::Depacketizer`].
#[derive(Debug)]
pub(crate) struct GenericDepacketizer {
    layout: AuHeaderLayout,
    frame_duration: i64,
    /// A fragmented AU in progress: its size, timestamp and bytes so far.
    frag: Option<(usize, i64)>,
    buf: BytesMut,
    /// Set by a reset (a loss): a fragment seen next may be missing its start.
    resync: bool,
    /// The fragment in progress started right after a reset.
    frag_after_reset: bool,
}

impl GenericDepacketizer {
    pub fn new(layout: AuHeaderLayout, frame_duration: i64) -> Self {
        GenericDepacketizer {
            layout,
            frame_duration,
            frag: None,
            buf: BytesMut::new(),
            resync: false,
            frag_after_reset: false,
        }
    }

    pub fn reset(&mut self) {
        self.frag = None;
        self.buf.clear();
        self.resync = true;
    }

    pub fn push(
        &mut self,
        pts: i64,
        payload: &[u8],
        marker: bool,
        out: &mut Vec<Frame>,
    ) -> Result<(), Error> {
        // RFC 3640 3.2.1: AU-headers-length (in bits), the AU headers, byte-aligned.
        need("AU-headers-length", payload, 2)?;
        let header_bits = u16::from_be_bytes([payload[0], payload[1]]) as usize;
        let header_bytes = header_bits.div_ceil(8);
        need("AU headers", &payload[2..], header_bytes)?;
        let mut r = BitReader::new(&payload[2..2 + header_bytes]);
        let l = &self.layout;
        let mut sizes = vec![];
        while r.position() < header_bits {
            let first = sizes.is_empty();
            let size = r.bits(l.size_length).ok_or(Error::Malformed("AU header"))? as usize;
            let index_bits = if first {
                l.index_length
            } else {
                l.index_delta_length
            };
            let mut skip = index_bits as usize;
            r.skip(skip).ok_or(Error::Malformed("AU header"))?;
            for delta in [l.cts_delta_length, l.dts_delta_length] {
                if delta > 0 && r.flag().ok_or(Error::Malformed("AU header"))? {
                    r.skip(delta as usize)
                        .ok_or(Error::Malformed("AU header"))?;
                }
            }
            skip = l.random_access_indication as usize + l.stream_state_indication as usize;
            r.skip(skip).ok_or(Error::Malformed("AU header"))?;
            if r.position() > header_bits {
                return Err(Error::Malformed("AU header beyond AU-headers-length"));
            }
            if sizes.len() == MAX_AUS {
                return Err(Error::Malformed("too many AU headers"));
            }
            sizes.push(size);
        }
        let mut data = &payload[2 + header_bytes..];
        if l.auxiliary_data_size_length > 0 {
            // 3.2.2: auxiliary section, skipped.
            let mut r = BitReader::new(data);
            let aux = r
                .bits(l.auxiliary_data_size_length)
                .ok_or(Error::Malformed("auxiliary section"))? as usize;
            let skip = (l.auxiliary_data_size_length as usize + aux).div_ceil(8);
            need("auxiliary section", data, skip)?;
            data = &data[skip..];
        }
        let continuation = matches!(
            (self.frag, &sizes[..]),
            (Some((s, t)), &[size]) if s == size && t == pts
        );
        if self.frag.is_some() && !continuation {
            // The fragmented AU in progress did not complete: drop it.
            self.reset();
        }
        let resync = std::mem::take(&mut self.resync);
        if continuation || matches!(&sizes[..], &[size] if size > data.len()) {
            if !continuation {
                self.frag_after_reset = resync;
            }
            return self.fragment(pts, sizes[0], data, marker, out);
        }
        let total: usize = sizes.iter().sum();
        if total > data.len() {
            return Err(Error::Malformed("AU sizes beyond the payload"));
        }
        let mut t = pts;
        for size in sizes {
            let (au, rest) = data.split_at(size);
            data = rest;
            if !au.is_empty() {
                out.push(Frame::audio(t, Bytes::copy_from_slice(au)));
            }
            t += self.frame_duration;
        }
        Ok(())
    }

    /// 3.2.3: an AU larger than a packet is sent in fragments with the same timestamp,
    /// each with one AU header giving the whole AU's size; the marker ends it.
    fn fragment(
        &mut self,
        pts: i64,
        size: usize,
        data: &[u8],
        marker: bool,
        out: &mut Vec<Frame>,
    ) -> Result<(), Error> {
        if self.frag.is_none() {
            check_frame_size(size)?;
            self.frag = Some((size, pts));
        }
        if self.buf.len() + data.len() > size {
            self.reset();
            return Err(Error::Malformed("AU fragments longer than the AU size"));
        }
        self.buf.put_slice(data);
        if self.buf.len() == size {
            self.frag = None;
            out.push(Frame::audio(pts, self.buf.split().freeze()));
        } else if marker {
            let quiet = self.frag_after_reset;
            self.reset();
            if !quiet {
                return Err(Error::Malformed("fragmented AU shorter than its size"));
            }
        }
        Ok(())
    }
}

/// AAC-hbr packetizer (RFC 3640 3.3.6): one AU per packet with a 16-bit AU header
/// (13-bit size, 3-bit index); larger AUs are fragmented.
#[derive(Debug)]
pub(crate) struct GenericPacketizer {
    pub mtu: usize,
}

impl GenericPacketizer {
    pub fn packetize(&mut self, data: &Bytes, out: &mut Vec<Payload>) -> Result<(), Error> {
        if data.is_empty() {
            return Ok(());
        }
        if data.len() >= 1 << 13 {
            return Err(Error::Malformed(
                "AAC frame larger than 8191 bytes (AAC-hbr sizelength)",
            ));
        }
        let header = [
            0,
            16,
            (data.len() >> 5) as u8,
            ((data.len() & 0x1f) << 3) as u8,
        ];
        let chunks: Vec<&[u8]> = data.chunks(self.mtu - header.len()).collect();
        for (i, chunk) in chunks.iter().enumerate() {
            let mut p = BytesMut::with_capacity(header.len() + chunk.len());
            p.put_slice(&header);
            p.put_slice(chunk);
            out.push(Payload::new(i + 1 == chunks.len(), p.freeze()));
        }
        Ok(())
    }
}

/// The StreamMuxConfig fields a cpresent=0 stream needs (ISO/IEC 14496-3 1.7.3).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct StreamMuxConfig {
    /// The AudioSpecificConfig, extracted to whole bytes.
    pub asc: Bytes,
    /// PayloadMux elements per audioMuxElement (numSubFrames + 1).
    pub sub_frames: usize,
}

fn latm_value(r: &mut BitReader<'_>) -> Option<u32> {
    let bytes = r.bits(2)?;
    let mut v = 0u32;
    for _ in 0..=bytes {
        v = (v << 8) | r.bits(8)?;
    }
    Some(v)
}

/// Parses the StreamMuxConfig of an MP4A-LATM `config=` (one program, one layer,
/// frameLengthType 0: the layout every encoder uses for RTP).
pub(crate) fn parse_stream_mux_config(b: &[u8]) -> Result<StreamMuxConfig, Error> {
    let bad = || Error::Format("MP4A-LATM StreamMuxConfig truncated".into());
    let unsupported = |what: &str| Error::Format(format!("unsupported MP4A-LATM config: {what}"));
    let mut r = BitReader::new(b);
    let version = r.bit().ok_or_else(bad)?;
    if version == 1 {
        if r.bit().ok_or_else(bad)? == 1 {
            return Err(unsupported("audioMuxVersionA 1"));
        }
        latm_value(&mut r).ok_or_else(bad)?; // taraBufferFullness
    }
    if !r.flag().ok_or_else(bad)? {
        return Err(unsupported("allStreamsSameTimeFraming 0"));
    }
    let sub_frames = r.bits(6).ok_or_else(bad)? as usize + 1;
    if r.bits(4).ok_or_else(bad)? != 0 || r.bits(3).ok_or_else(bad)? != 0 {
        return Err(unsupported("more than one program or layer"));
    }
    let asc_bits = if version == 1 {
        Some(latm_value(&mut r).ok_or_else(bad)? as usize)
    } else {
        None
    };
    let start = r.position();
    read_asc(&mut r).ok_or_else(|| unsupported("AudioSpecificConfig"))?;
    let mut end = r.position();
    if let Some(n) = asc_bits {
        if n < end - start {
            return Err(bad());
        }
        end = start + n;
    }
    // Copy the ASC's bits out to whole bytes.
    let mut src = BitReader::new(b);
    src.skip(start).ok_or_else(bad)?;
    let mut w = BitWriter::default();
    for _ in start..end {
        w.put(src.bit().ok_or_else(bad)?, 1);
    }
    let mut r = src;
    if r.bits(3).ok_or_else(bad)? != 0 {
        return Err(unsupported("frameLengthType other than 0"));
    }
    r.skip(8).ok_or_else(bad)?; // latmBufferFullness
    if r.flag().ok_or_else(bad)? {
        return Err(unsupported("otherDataPresent"));
    }
    Ok(StreamMuxConfig {
        asc: Bytes::from(w.finish()),
        sub_frames,
    })
}

/// MP4A-LATM depacketizer (cpresent=0): audioMuxElements, possibly fragmented over
/// packets up to the marker, each of `sub_frames` PayloadLengthInfo + PayloadMux.
#[derive(Debug)]
pub(crate) struct LatmDepacketizer {
    sub_frames: usize,
    frame_duration: i64,
    buf: BytesMut,
    buf_pts: Option<i64>,
}

impl LatmDepacketizer {
    pub fn new(config: &StreamMuxConfig, frame_duration: i64) -> Self {
        LatmDepacketizer {
            sub_frames: config.sub_frames,
            frame_duration,
            buf: BytesMut::new(),
            buf_pts: None,
        }
    }

    pub fn reset(&mut self) {
        self.buf.clear();
        self.buf_pts = None;
    }

    pub fn push(
        &mut self,
        pts: i64,
        payload: &[u8],
        marker: bool,
        out: &mut Vec<Frame>,
    ) -> Result<(), Error> {
        let mut result = Ok(());
        if let Some(t) = self.buf_pts.filter(|t| *t != pts) {
            // Complete elements sent without the marker bit: parse what is buffered.
            let buf = self.buf.split().freeze();
            result = self.parse(t, &buf, out);
        }
        self.buf_pts = Some(pts);
        check_frame_size(self.buf.len() + payload.len())?;
        self.buf.put_slice(payload);
        if marker {
            let buf = self.buf.split().freeze();
            self.buf_pts = None;
            result = result.and(self.parse(pts, &buf, out));
        }
        result
    }

    fn parse(&self, pts: i64, buf: &Bytes, out: &mut Vec<Frame>) -> Result<(), Error> {
        let mut frames = vec![];
        let mut p = 0;
        while p < buf.len() {
            for _ in 0..self.sub_frames {
                // PayloadLengthInfo (1.7.3.2): bytes of 255 continue the length.
                let mut len = 0usize;
                loop {
                    let b = *buf
                        .get(p)
                        .ok_or(Error::Malformed("LATM PayloadLengthInfo"))?;
                    p += 1;
                    len += b as usize;
                    if b != 255 {
                        break;
                    }
                }
                need("LATM PayloadMux", &buf[p..], len)?;
                if frames.len() == MAX_AUS {
                    return Err(Error::Malformed("too many LATM frames"));
                }
                frames.push(buf.slice(p..p + len));
                p += len;
            }
        }
        let mut t = pts;
        for f in frames {
            if !f.is_empty() {
                out.push(Frame::audio(t, f));
            }
            t += self.frame_duration;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bits::unhex;

    #[test]
    fn asc() {
        let a = parse_asc(&unhex("121056E500").unwrap()).unwrap();
        assert_eq!(
            (a.object_type, a.sample_rate, a.frame_length),
            (2, 44100, 1024)
        );
        assert_eq!(frame_duration(&a, 44100), 1024);
        let a = parse_asc(&[0x11, 0x94]).unwrap(); // LC 48 kHz stereo, 960
        assert_eq!(a.frame_length, 960);
        // HE-AAC explicit: AOT 5, 24 kHz core, 48 kHz extension, then AOT 2.
        let a = parse_asc(&[0x2b, 0x11, 0x88, 0x00]).unwrap();
        assert_eq!((a.object_type, a.sample_rate), (2, 24000));
        assert!(parse_asc(&[0x11]).is_err());
    }

    #[test]
    fn stream_mux_config() {
        // ffmpeg: MP4A-LATM/48000/1, config=400023103fc0
        let c = parse_stream_mux_config(&unhex("400023103fc0").unwrap()).unwrap();
        assert_eq!(&c.asc[..], &[0x11, 0x88]);
        assert_eq!(c.sub_frames, 1);
        let full = unhex("400023103fc0").unwrap();
        for n in 0..full.len() {
            assert!(parse_stream_mux_config(&full[..n]).is_err());
        }
    }

    #[test]
    fn generic_multi_au_and_fragments() {
        let layout = AuHeaderLayout {
            size_length: 13,
            index_length: 3,
            index_delta_length: 3,
            ..Default::default()
        };
        let mut d = GenericDepacketizer::new(layout, 1024);
        let mut out = vec![];
        // Two AUs of 2 and 1 bytes.
        let p = [0, 32, 0, 2 << 3, 0, 1 << 3, 0xa, 0xb, 0xc];
        d.push(100, &p, true, &mut out).unwrap();
        assert_eq!(out.len(), 2);
        assert_eq!((out[0].pts, &out[0].data[..]), (100, &[0xa, 0xb][..]));
        assert_eq!((out[1].pts, &out[1].data[..]), (1124, &[0xc][..]));
        // One AU of 3 bytes in two fragments.
        d.push(2000, &[0, 16, 0, 3 << 3, 1, 2], false, &mut out)
            .unwrap();
        d.push(2000, &[0, 16, 0, 3 << 3, 3], true, &mut out)
            .unwrap();
        assert_eq!(&out[2].data[..], &[1, 2, 3]);
        // Sizes beyond the payload, truncated headers.
        assert!(d
            .push(0, &[0, 32, 0, 2 << 3, 0, 9 << 3, 1, 2], true, &mut out)
            .is_err());
        assert!(d.push(0, &[0, 32, 0], true, &mut out).is_err());
        assert!(d.push(0, &[0, 16, 0, 9 << 3, 1], true, &mut out).is_err());
    }

    #[test]
    fn packetize_round_trip() {
        let layout = AuHeaderLayout {
            size_length: 13,
            index_length: 3,
            index_delta_length: 3,
            ..Default::default()
        };
        let au = Bytes::from((0..3000u32).map(|i| i as u8).collect::<Vec<_>>());
        let mut p = GenericPacketizer { mtu: 1200 };
        let mut pkts = vec![];
        p.packetize(&au, &mut pkts).unwrap();
        assert_eq!(pkts.len(), 3);
        let mut d = GenericDepacketizer::new(layout, 1024);
        let mut out = vec![];
        for p in &pkts {
            d.push(5, &p.payload, p.marker, &mut out).unwrap();
        }
        assert_eq!(out.len(), 1);
        assert_eq!(out[0].data, au);
    }

    #[test]
    fn latm() {
        let c = StreamMuxConfig {
            asc: Bytes::from_static(&[0x11, 0x88]),
            sub_frames: 1,
        };
        let mut d = LatmDepacketizer::new(&c, 1024);
        let mut out = vec![];
        let mut element = vec![255, 5];
        element.extend(std::iter::repeat_n(7u8, 260));
        d.push(0, &element[..100], false, &mut out).unwrap();
        d.push(0, &element[100..], true, &mut out).unwrap();
        assert_eq!(out.len(), 1);
        assert_eq!(out[0].data.len(), 260);
        // Two elements in one packet.
        d.push(1, &[1, 9, 2, 8, 8], true, &mut out).unwrap();
        assert_eq!(out.len(), 3);
        assert_eq!(out[2].pts, 1025);
        assert!(d.push(2, &[9, 1], true, &mut out).is_err());
        assert!(d.push(2, &[255], true, &mut out).is_err());
    }
}
