//! Enhanced RTMP (FourCC) codecs: H265 video and Opus audio published; played back as
//! H265 + AAC (the Opus -> AAC rendition every RTMP reader gets).
//!
//! Debian's ffmpeg 5.1 and GStreamer 1.22 speak neither enhanced-RTMP publish nor play,
//! so both ends here are our own RTMP client; the independent proof for the codec layer
//! is in the unit tests, and the API (an independent view of what the server parsed)
//! must report the codecs.

mod common;

use std::time::Duration;

use bytes::{BufMut, Bytes, BytesMut};
use common::*;
use ferrocast_codec::flv::{self, AudioPacket, VideoCodec, VideoPacket};
use ferrocast_rtmp::client::Client;
use ferrocast_rtmp::session::ClientMode;

/// A minimal hvcC: no parameter set arrays, 4-byte NAL lengths.
fn hvcc() -> Vec<u8> {
    let mut c = vec![0u8; 23];
    c[0] = 1; // configurationVersion
    c[1] = 0x01; // general_profile_idc = Main
    c[12] = 93; // general_level_idc
    c[21] = 0x03; // lengthSizeMinusOne = 3
    c[22] = 0; // numOfArrays
    c
}

fn opus_head() -> Vec<u8> {
    let mut h = b"OpusHead".to_vec();
    h.extend_from_slice(&[1, 2, 0x38, 0x01, 0x80, 0xbb, 0, 0, 0, 0, 0]);
    h
}

fn hevc_tag(seq: bool, key: bool, cts: i32, payload: &[u8]) -> Bytes {
    let mut b = flv::video_header(VideoCodec::Hevc, key, seq, cts);
    b.put_slice(payload);
    b.freeze()
}

fn opus_tag(seq: bool, payload: &[u8]) -> Bytes {
    let mut b: BytesMut = flv::audio_header(flv::AudioCodec::Opus, seq);
    b.put_slice(payload);
    b.freeze()
}

fn frame(i: u32) -> Vec<u8> {
    // One length-prefixed NAL unit whose bytes identify the frame.
    let nal = [0x26, 0x01, (i >> 8) as u8, i as u8, 0xaa, 0xbb];
    let mut f = (nal.len() as u32).to_be_bytes().to_vec();
    f.extend_from_slice(&nal);
    f
}

#[test]
fn hevc_and_opus_over_enhanced_rtmp() {
    let server = Server::start("enhanced");
    let url = server.rtmp_url("live/hevc");
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    rt.block_on(async {
        let mut publisher = Client::connect(&url, ClientMode::Publish, Duration::from_secs(5))
            .await
            .expect("publish");
        publisher
            .send(9, 0, &hevc_tag(true, true, 0, &hvcc()))
            .await
            .unwrap();
        publisher
            .send(8, 0, &opus_tag(true, &opus_head()))
            .await
            .unwrap();
        for i in 0..30u32 {
            let ts = i * 40;
            publisher
                .send(9, ts, &hevc_tag(false, i % 10 == 0, 40, &frame(i)))
                .await
                .unwrap();
            publisher
                .send(8, ts, &opus_tag(false, &[0xfc, i as u8, 1, 2]))
                .await
                .unwrap();
        }
        let path = server.wait_ready("live/hevc", Duration::from_secs(10));
        assert_eq!(
            path["tracks"],
            serde_json::json!(["H265", "Opus"]),
            "{path}"
        );

        // A reader joining now gets the GOP cache (from frame 20, the last keyframe).
        let mut reader = Client::connect(&url, ClientMode::Play, Duration::from_secs(5))
            .await
            .expect("play");
        for i in 30..40u32 {
            let ts = i * 40;
            publisher
                .send(9, ts, &hevc_tag(false, false, 40, &frame(i)))
                .await
                .unwrap();
            publisher
                .send(8, ts, &opus_tag(false, &[0xfc, i as u8]))
                .await
                .unwrap();
        }
        let mut video_frames = vec![];
        let mut got_config = false;
        let mut aac_frames = 0;
        while video_frames.len() < 20 || aac_frames == 0 {
            let m = tokio::time::timeout(Duration::from_secs(5), reader.recv())
                .await
                .expect("reader got media in time")
                .expect("reader");
            match m.type_id {
                9 => {
                    let tag = flv::parse_video(&m.payload).expect("valid enhanced video tag");
                    assert_eq!(tag.codec, VideoCodec::Hevc);
                    match tag.packet {
                        VideoPacket::SequenceStart(c) => {
                            assert_eq!(&c[..], &hvcc()[..]);
                            got_config = true;
                        }
                        VideoPacket::Frames { cts, data } => {
                            assert!(got_config, "sequence start comes first");
                            assert_eq!(cts, 40);
                            if video_frames.is_empty() {
                                assert!(tag.keyframe, "the first frame is a keyframe");
                            }
                            video_frames.push((m.timestamp, data));
                        }
                        _ => {}
                    }
                }
                8 => {
                    // RTMP readers get Opus through the server's Opus -> AAC rendition.
                    let tag = flv::parse_audio(&m.payload).expect("valid audio tag");
                    assert_eq!(tag.codec, flv::AudioCodec::Aac);
                    if let AudioPacket::Frame(_) = tag.packet {
                        aac_frames += 1;
                    }
                }
                _ => {}
            }
        }
        // Frames 20..40, unchanged, with their timestamps.
        assert_eq!(video_frames.len(), 20);
        for (k, (ts, data)) in video_frames.iter().enumerate() {
            let i = 20 + k as u32;
            assert_eq!(*ts, i * 40);
            assert_eq!(&data[..], &frame(i)[..]);
        }
        assert!(aac_frames > 0);
    });
}
