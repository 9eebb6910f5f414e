//! H264 at the WebRTC edge: the bus carries AVCC (4-byte length-prefixed NAL units) with
//! the parameter sets in an avcC record; str0m's packetizer and depacketizer speak Annex B.
//! Pure functions, no I/O.

use bytes::{BufMut, Bytes, BytesMut};

/// NAL unit types (ITU-T H.264 Table 7-1).
pub const NAL_IDR: u8 = 5;
pub const NAL_SEI: u8 = 6;
pub const NAL_SPS: u8 = 7;
pub const NAL_PPS: u8 = 8;
pub const NAL_AUD: u8 = 9;

const START_CODE: [u8; 4] = [0, 0, 0, 1];

pub fn nal_type(nal: &[u8]) -> u8 {
    nal.first().map(|b| b & 0x1f).unwrap_or(0)
}

/// The NAL units of an AVCC access unit with 4-byte lengths; `None` when the lengths do not
/// add up (a corrupt unit is dropped whole rather than sent half).
pub fn avcc_nals(data: &[u8]) -> Option<Vec<&[u8]>> {
    let mut out = Vec::new();
    let mut p = 0usize;
    while p < data.len() {
        let len_bytes = data.get(p..p + 4)?;
        let len =
            u32::from_be_bytes([len_bytes[0], len_bytes[1], len_bytes[2], len_bytes[3]]) as usize;
        p += 4;
        let nal = data.get(p..p.checked_add(len)?)?;
        if !nal.is_empty() {
            out.push(nal);
        }
        p += len;
    }
    Some(out)
}

/// Converts an AVCC access unit to Annex B for str0m's packetizer. With `params` (SPS and
/// PPS), they go first unless the unit carries its own: a keyframe must be decodable by a
/// receiver that joins at it (RFC 6184 leaves parameter sets out of band; browsers want
/// them in band, and str0m aggregates them into one STAP-A before the IDR slice).
pub fn avcc_to_annexb(data: &[u8], params: Option<(&[Bytes], &[Bytes])>) -> Option<Vec<u8>> {
    let params = params.map(|(sps, pps)| [sps, pps]);
    to_annexb(
        data,
        params.as_ref().map(|p| &p[..]),
        nal_type,
        NAL_SPS,
        NAL_AUD,
    )
}

/// H265 (ITU-T H.265 Table 7-1): the NAL unit type of a NAL unit's 2-byte header.
pub fn h265_nal_type(nal: &[u8]) -> u8 {
    nal.first().map(|b| (b >> 1) & 0x3f).unwrap_or(0)
}

/// The H265 form of [`avcc_to_annexb`]: `params` are VPS, SPS and PPS from hvcC.
pub fn hvcc_to_annexb(data: &[u8], params: Option<&[Bytes]>) -> Option<Vec<u8>> {
    const SPS: u8 = 33;
    const AUD: u8 = 35;
    let params = params.map(|p| [p]);
    to_annexb(
        data,
        params.as_ref().map(|p| &p[..]),
        h265_nal_type,
        SPS,
        AUD,
    )
}

/// 4-byte length-prefixed NAL units to Annex B: the parameter sets first (unless the unit
/// has an SPS of its own), access unit delimiters dropped.
fn to_annexb(
    data: &[u8],
    params: Option<&[&[Bytes]]>,
    nal_type: fn(&[u8]) -> u8,
    sps: u8,
    aud: u8,
) -> Option<Vec<u8>> {
    let nals = avcc_nals(data)?;
    let mut out = Vec::with_capacity(data.len() + 128);
    if let Some(params) = params {
        if !nals.iter().any(|n| nal_type(n) == sps) {
            for n in params.iter().flat_map(|set| set.iter()) {
                out.extend_from_slice(&START_CODE);
                out.extend_from_slice(n);
            }
        }
    }
    for n in nals {
        if nal_type(n) == aud {
            continue;
        }
        out.extend_from_slice(&START_CODE);
        out.extend_from_slice(n);
    }
    Some(out)
}

/// Splits an Annex B byte stream into NAL units (without start codes or the trailing zero
/// bytes that precede the next start code).
pub fn annexb_nals(data: &[u8]) -> Vec<&[u8]> {
    let mut nals = Vec::new();
    let mut i = 0usize;
    let mut start: Option<usize> = None;
    let n = data.len();
    while i + 2 < n {
        if data[i] == 0 && data[i + 1] == 0 && data[i + 2] == 1 {
            if let Some(s) = start {
                push_trimmed(&mut nals, &data[s..i]);
            }
            i += 3;
            start = Some(i);
        } else {
            i += 1;
        }
    }
    match start {
        Some(s) => push_trimmed(&mut nals, &data[s.min(n)..]),
        // No start code: one bare NAL unit (what a single-NAL RTP packet carries).
        None => push_trimmed(&mut nals, data),
    }
    nals
}

fn push_trimmed<'a>(nals: &mut Vec<&'a [u8]>, nal: &'a [u8]) {
    let mut end = nal.len();
    while end > 0 && nal[end - 1] == 0 {
        end -= 1;
    }
    if end > 0 {
        nals.push(&nal[..end]);
    }
}

/// An avcC record (ISO/IEC 14496-15 5.3.3.1) with 4-byte NAL lengths for one SPS and PPS.
pub fn build_avcc(sps: &[u8], pps: &[u8]) -> Option<Bytes> {
    if sps.len() < 4 || pps.is_empty() || sps.len() > 0xffff || pps.len() > 0xffff {
        return None;
    }
    let mut b = BytesMut::with_capacity(11 + sps.len() + pps.len());
    b.put_u8(1); // configurationVersion
    b.put_u8(sps[1]); // AVCProfileIndication
    b.put_u8(sps[2]); // profile_compatibility
    b.put_u8(sps[3]); // AVCLevelIndication
    b.put_u8(0xfc | 3); // lengthSizeMinusOne = 3
    b.put_u8(0xe0 | 1); // numOfSequenceParameterSets
    b.put_u16(sps.len() as u16);
    b.put_slice(sps);
    b.put_u8(1); // numOfPictureParameterSets
    b.put_u16(pps.len() as u16);
    b.put_slice(pps);
    // High profiles carry chroma/bit-depth fields after the PPS list (5.3.3.1.2); they are
    // optional for readers and omitted here, as many muxers do.
    Some(b.freeze())
}

/// `profile-level-id` (RFC 6184 8.1) of an avcC record: profile_idc, constraint flags,
/// level_idc.
pub fn avcc_profile_level_id(avcc: &[u8]) -> Option<u32> {
    if avcc.len() < 4 || avcc[0] != 1 {
        return None;
    }
    Some(((avcc[1] as u32) << 16) | ((avcc[2] as u32) << 8) | avcc[3] as u32)
}

/// H264 profiles as WebRTC negotiates them (the `profile_idc` + constraint flags classes of
/// RFC 6184 8.1 / WebRTC's h264_profile_level_id).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Profile {
    ConstrainedBaseline,
    Baseline,
    Main,
    ConstrainedHigh,
    High,
    Other,
}

pub fn profile_of(profile_level_id: u32) -> Profile {
    let idc = (profile_level_id >> 16) as u8;
    let iop = (profile_level_id >> 8) as u8;
    let cs0 = iop & 0x80 != 0;
    let cs1 = iop & 0x40 != 0;
    let cs3 = iop & 0x10 != 0;
    match idc {
        0x42 if cs1 => Profile::ConstrainedBaseline,
        0x4d if cs0 => Profile::ConstrainedBaseline,
        0x58 if cs0 && cs1 => Profile::ConstrainedBaseline,
        0x42 => Profile::Baseline,
        0x58 if cs0 => Profile::Baseline,
        0x4d => Profile::Main,
        // constraint_set4+5 (0x0c) on High means Constrained High.
        0x64 if iop & 0x0c == 0x0c => Profile::ConstrainedHigh,
        0x64 => Profile::High,
        _ if cs3 && idc == 0x42 => Profile::Baseline,
        _ => Profile::Other,
    }
}

/// How well a decoder negotiated for `offered` suits a stream of `stream`: 3 the same
/// profile, 2 a decoder whose profile includes the stream's, 1 another profile (browsers
/// decode any profile they implement whatever was negotiated, so this still plays).
pub fn profile_score(stream: Profile, offered: Profile) -> u8 {
    use Profile::*;
    if stream == offered {
        return 3;
    }
    let superset = match stream {
        ConstrainedBaseline => matches!(offered, Baseline | Main | ConstrainedHigh | High),
        Baseline => false,
        Main => matches!(offered, High),
        ConstrainedHigh => matches!(offered, High),
        High | Other => false,
    };
    if superset {
        2
    } else {
        1
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hvcc_units_to_annexb() {
        // AUD (35), IDR_W_RADL (19) in 4-byte length AVCC form.
        let unit = [0, 0, 0, 3, 0x46, 0x01, 0x50, 0, 0, 0, 3, 0x26, 0x01, 0xaf];
        let params = [
            Bytes::from_static(&[0x40, 0x01, 0x0c]),
            Bytes::from_static(&[0x42, 0x01, 0x01]),
            Bytes::from_static(&[0x44, 0x01, 0xc1]),
        ];
        let out = hvcc_to_annexb(&unit, Some(&params)).unwrap();
        assert_eq!(
            out,
            vec![
                0, 0, 0, 1, 0x40, 1, 0x0c, 0, 0, 0, 1, 0x42, 1, 1, 0, 0, 0, 1, 0x44, 1, 0xc1, 0, 0,
                0, 1, 0x26, 1, 0xaf
            ]
        );
        assert_eq!(h265_nal_type(&[0x42, 0x01]), 33);
        // A unit with its own SPS gets no second copy; a broken one is refused.
        let with_sps = [0, 0, 0, 3, 0x42, 0x01, 0x02, 0, 0, 0, 2, 0x26, 0x01];
        let out = hvcc_to_annexb(&with_sps, Some(&params)).unwrap();
        assert_eq!(out, vec![0, 0, 0, 1, 0x42, 1, 2, 0, 0, 0, 1, 0x26, 1]);
        assert!(hvcc_to_annexb(&[0, 0, 0, 9, 1], None).is_none());
    }

    #[test]
    fn avcc_annexb_round_trip() {
        let avcc = [0, 0, 0, 2, 0x65, 0xaa, 0, 0, 0, 1, 0x06];
        let sps = [Bytes::from_static(&[0x67, 0x42, 0xc0, 0x1e])];
        let pps = [Bytes::from_static(&[0x68, 0xce])];
        let ab = avcc_to_annexb(&avcc, Some((&sps, &pps))).unwrap();
        let nals = annexb_nals(&ab);
        assert_eq!(
            nals,
            vec![
                &[0x67, 0x42, 0xc0, 0x1e][..],
                &[0x68, 0xce][..],
                &[0x65, 0xaa][..],
                &[0x06][..]
            ]
        );
        assert!(avcc_to_annexb(&[0, 0, 0, 9, 1], None).is_none());
        assert!(avcc_to_annexb(&[0, 0], None).is_none());
        for n in 0..avcc.len() {
            let _ = avcc_to_annexb(&avcc[..n], None); // never panics
        }
    }

    #[test]
    fn annexb_variants() {
        assert_eq!(annexb_nals(&[0x41, 1, 2]), vec![&[0x41, 1, 2][..]]);
        assert_eq!(
            annexb_nals(&[0, 0, 1, 0x41, 0, 0, 0, 1, 0x65, 7, 0]),
            vec![&[0x41][..], &[0x65, 7][..]]
        );
        assert!(annexb_nals(&[0, 0, 1]).is_empty());
        assert!(annexb_nals(&[]).is_empty());
    }

    #[test]
    fn avcc_record() {
        let avcc = build_avcc(&[0x67, 0x64, 0x00, 0x1f, 0xac], &[0x68, 0xeb]).unwrap();
        let (sps, pps) = ferrocast_codec::avc::avcc_parameter_sets(&avcc).unwrap();
        assert_eq!(&sps[0][..], &[0x67, 0x64, 0x00, 0x1f, 0xac]);
        assert_eq!(&pps[0][..], &[0x68, 0xeb]);
        assert_eq!(avcc_profile_level_id(&avcc), Some(0x64001f));
        assert!(build_avcc(&[0x67], &[0x68]).is_none());
    }

    #[test]
    fn profiles() {
        assert_eq!(profile_of(0x42e01f), Profile::ConstrainedBaseline);
        assert_eq!(profile_of(0x42c01e), Profile::ConstrainedBaseline);
        assert_eq!(profile_of(0x42001f), Profile::Baseline);
        assert_eq!(profile_of(0x4d001f), Profile::Main);
        assert_eq!(profile_of(0x64001f), Profile::High);
        assert_eq!(profile_of(0x640c1f), Profile::ConstrainedHigh);
        assert_eq!(profile_score(Profile::High, Profile::High), 3);
        assert_eq!(
            profile_score(Profile::ConstrainedBaseline, Profile::Baseline),
            2
        );
        assert_eq!(
            profile_score(Profile::High, Profile::ConstrainedBaseline),
            1
        );
    }
}
