//! RTP packets through every depacketizer (the first byte picks the format), then the
//! frames through the H.264/H.265 DTS extractors and the track's packetizer. Records are
//! [control, length, payload...]: the control byte sets the marker bit, sequence gaps,
//! duplicates and timestamp steps, so the fuzzer spends its time in payloads.
#![no_main]
use ferrocast_rtp::dts::{H264DtsExtractor, H265DtsExtractor};
use ferrocast_rtp::{rtcp, Depacketizer, MediaFormat, Packetizer, RtpHeader, RtpPacket, MAX_FRAME_SIZE};
use libfuzzer_sys::fuzz_target;

const FORMATS: [(&str, &str); 14] = [
    ("H264/90000", "packetization-mode=1;sprop-parameter-sets=Z0LADdkBQfsBEAAAAwAQAAADAyDxQqSA,aMuMsg=="),
    ("H264/90000", ""),
    ("H265/90000", "sprop-vps=QAEMAf//AWAAAAMAkAAAAwAAAwA8koCQ;sprop-sps=QgEBAWAAAAMAkAAAAwAAAwA8oAoIDxZZKkkyvAWgIAAAAwAgAAADAyE=;sprop-pps=RAHBcrRiQA=="),
    ("MPEG4-GENERIC/44100/2", "mode=AAC-hbr;sizelength=13;indexlength=3;indexdeltalength=3;config=1210"),
    ("MPEG4-GENERIC/48000/2", "mode=AAC-hbr;sizelength=6;indexlength=2;indexdeltalength=2;ctsdeltalength=3;dtsdeltalength=3;randomaccessindication=1;streamstateindication=2;auxiliarydatasizelength=5;config=1190"),
    ("MP4A-LATM/48000/1", "cpresent=0;config=400023103fc0"),
    ("opus/48000/2", ""),
    ("PCMU/8000", ""),
    ("VP8/90000", ""),
    ("VP9/90000", ""),
    ("AV1/90000", ""),
    ("JPEG/90000", ""),
    ("MPA/90000", ""),
    ("L16/44100/2", ""),
];

fuzz_target!(|data: &[u8]| {
    let _ = RtpPacket::parse(data);
    let _ = rtcp::packets(data).count();
    let Some((&sel, mut rest)) = data.split_first() else {
        return;
    };
    let (rtpmap, fmtp) = FORMATS[sel as usize % FORMATS.len()];
    let format = MediaFormat::parse(96, Some(rtpmap), Some(fmtp)).expect("format");
    let mut d = Depacketizer::new(&format).expect("depacketizer");
    let (mut seq, mut ts) = (0u16, 0u32);
    let mut frames = vec![];
    while rest.len() >= 2 {
        let (ctl, len) = (rest[0], rest[1] as usize);
        let (payload, r) = rest[2..].split_at(len.min(rest.len() - 2));
        rest = r;
        // bits 0-2: sequence step (1 unless bit 6), bits 3-5: timestamp step, bit 7: marker.
        seq = seq.wrapping_add(if ctl & 0x40 != 0 { (ctl & 7) as u16 } else { 1 });
        ts = ts.wrapping_add(((ctl >> 3) & 7) as u32 * 1500);
        let h = RtpHeader {
            marker: ctl & 0x80 != 0,
            payload_type: 96,
            sequence: seq,
            timestamp: ts,
            ssrc: 1,
        };
        let pkt = h.packet(payload).expect("header");
        let pkt = RtpPacket::parse(&pkt).expect("our own packet");
        let _ = d.push(&pkt, &mut frames);
    }
    let track = d.track().clone();
    let mut h264 = H264DtsExtractor::new();
    let mut h265 = H265DtsExtractor::new();
    h264.set_config(&track.config);
    h265.set_config(&track.config);
    let (mut p264, mut p265) = (i64::MIN, i64::MIN);
    let mut packetizer = Packetizer::new(&track, 1200).ok();
    for f in &frames {
        assert!(f.data.len() <= MAX_FRAME_SIZE);
        let (a, b) = (h264.extract_frame(f), h265.extract_frame(f));
        assert!(a > p264 && b > p265, "DTS not increasing");
        (p264, p265) = (a, b);
        if let Some(p) = packetizer.as_mut() {
            if let Some(c) = &f.config {
                p.set_config(c);
            }
            let _ = p.packetize(&f.data, f.key, &mut vec![]);
        }
    }
});
