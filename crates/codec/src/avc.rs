//! AVC/HEVC decoder configuration records (ISO/IEC 14496-15) and length-prefixed NAL units.

use bytes::{BufMut, Bytes, BytesMut};

use crate::{need, CodecError};

/// The NAL unit length size declared by an avcC record (5.3.3.1.2).
pub fn avcc_length_size(avcc: &[u8]) -> Result<usize, CodecError> {
    need("AVCDecoderConfigurationRecord", avcc, 7)?;
    if avcc[0] != 1 {
        return Err(CodecError::Invalid(format!(
            "avcC configurationVersion {}",
            avcc[0]
        )));
    }
    Ok((avcc[4] & 3) as usize + 1)
}

/// The NAL unit length size declared by an hvcC record (8.3.3.1.2).
pub fn hvcc_length_size(hvcc: &[u8]) -> Result<usize, CodecError> {
    need("HEVCDecoderConfigurationRecord", hvcc, 23)?;
    Ok((hvcc[21] & 3) as usize + 1)
}

/// SPS and PPS NAL units of an avcC record.
pub fn avcc_parameter_sets(avcc: &[u8]) -> Result<(Vec<Bytes>, Vec<Bytes>), CodecError> {
    avcc_length_size(avcc)?;
    let mut p = 5;
    let read_sets = |count: usize, p: &mut usize| -> Result<Vec<Bytes>, CodecError> {
        let mut v = vec![];
        for _ in 0..count {
            need("avcC parameter set", &avcc[(*p).min(avcc.len())..], 2)?;
            let len = u16::from_be_bytes([avcc[*p], avcc[*p + 1]]) as usize;
            *p += 2;
            need("avcC parameter set", &avcc[(*p).min(avcc.len())..], len)?;
            v.push(Bytes::copy_from_slice(&avcc[*p..*p + len]));
            *p += len;
        }
        Ok(v)
    };
    need("avcC", avcc, 6)?;
    let nsps = (avcc[p] & 0x1f) as usize;
    p += 1;
    let sps = read_sets(nsps, &mut p)?;
    need("avcC", &avcc[p.min(avcc.len())..], 1)?;
    let npps = avcc[p] as usize;
    p += 1;
    let pps = read_sets(npps, &mut p)?;
    Ok((sps, pps))
}

/// VPS, SPS and PPS NAL units of an hvcC record (8.3.3.1), in that order.
pub fn hvcc_parameter_sets(hvcc: &[u8]) -> Result<[Vec<Bytes>; 3], CodecError> {
    need("HEVCDecoderConfigurationRecord", hvcc, 23)?;
    let mut sets: [Vec<Bytes>; 3] = Default::default();
    let mut b = &hvcc[23..];
    for _ in 0..hvcc[22] {
        need("hvcC array", b, 3)?;
        let typ = b[0] & 0x3f;
        let n = u16::from_be_bytes([b[1], b[2]]);
        b = &b[3..];
        for _ in 0..n {
            need("hvcC NAL unit", b, 2)?;
            let len = u16::from_be_bytes([b[0], b[1]]) as usize;
            need("hvcC NAL unit", &b[2..], len)?;
            let nal = Bytes::copy_from_slice(&b[2..2 + len]);
            b = &b[2 + len..];
            // NAL unit types 32, 33, 34 (H.265 Table 7-1).
            match typ {
                32 => sets[0].push(nal),
                33 => sets[1].push(nal),
                34 => sets[2].push(nal),
                _ => {}
            }
        }
    }
    Ok(sets)
}

/// Rewrites length-prefixed NAL units with `from`-byte lengths into 4-byte lengths, and
/// checks that the lengths add up. Returns the input unchanged when `from` is 4.
pub fn to_4byte_lengths(data: Bytes, from: usize) -> Result<Bytes, CodecError> {
    if !(1..=4).contains(&from) {
        return Err(CodecError::Invalid(format!("NAL length size {from}")));
    }
    let mut p = 0;
    let mut count = 0;
    while p < data.len() {
        need("NAL unit length", &data[p..], from)?;
        let len = data[p..p + from]
            .iter()
            .fold(0usize, |a, b| (a << 8) | *b as usize);
        p += from;
        need("NAL unit", &data[p..], len)?;
        p += len;
        count += 1;
    }
    if from == 4 {
        return Ok(data);
    }
    let mut out = BytesMut::with_capacity(data.len() + count * (4 - from));
    let mut p = 0;
    while p < data.len() {
        let len = data[p..p + from]
            .iter()
            .fold(0usize, |a, b| (a << 8) | *b as usize);
        p += from;
        out.put_u32(len as u32);
        out.put_slice(&data[p..p + len]);
        p += len;
    }
    Ok(out.freeze())
}

#[cfg(test)]
mod tests {
    use super::*;

    // avcC from ffmpeg/libx264, 1280x720 high profile.
    const AVCC: &[u8] = &[
        0x01, 0x64, 0x00, 0x1f, 0xff, 0xe1, 0x00, 0x04, 0x67, 0x64, 0x00, 0x1f, 0x01, 0x00, 0x03,
        0x68, 0xeb, 0xe3,
    ];

    #[test]
    fn parameter_sets() {
        assert_eq!(avcc_length_size(AVCC).unwrap(), 4);
        let (sps, pps) = avcc_parameter_sets(AVCC).unwrap();
        assert_eq!(sps, vec![Bytes::from_static(&[0x67, 0x64, 0x00, 0x1f])]);
        assert_eq!(pps, vec![Bytes::from_static(&[0x68, 0xeb, 0xe3])]);
        for n in 0..AVCC.len() {
            let _ = avcc_parameter_sets(&AVCC[..n]); // never panics
        }
    }

    #[test]
    fn lengths() {
        let two = Bytes::from_static(&[0, 2, 0x65, 1, 0, 1, 0x41]);
        let four = to_4byte_lengths(two, 2).unwrap();
        assert_eq!(&four[..], &[0, 0, 0, 2, 0x65, 1, 0, 0, 0, 1, 0x41]);
        assert!(to_4byte_lengths(Bytes::from_static(&[0, 0, 0, 9, 1]), 4).is_err());
    }
}
