//! Our packetizers against a third-party depacketizer: the frames of each capture are
//! packetized again and sent over loopback UDP to ffmpeg, which reads the SDP that
//! `format_for_track` describes and must decode every frame. Needs ffmpeg and a few
//! seconds per codec: `cargo test -p ferrocast-rtp --test interop_ffmpeg -- --ignored`.

mod common;

use std::io::Read;
use std::net::UdpSocket;
use std::process::{Command, Stdio};
use std::time::Duration;

use common::*;
use ferrocast_rtp::{format_for_track, sdp_attributes, Packetizer, RtpHeader, DEFAULT_MTU};

/// Sends the capture's frames to ffmpeg and returns how many frames it decoded.
fn ffmpeg_decodes(name: &str) -> (usize, usize) {
    let (d, frames) = depacketize(name);
    let mut track = d.track().clone();
    if let Some(c) = frames.iter().find_map(|f| f.config.clone()) {
        track.config = c;
    }
    let format = format_for_track(&track, 96).unwrap();
    let port = UdpSocket::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let media = if track.codec.is_video() {
        "video"
    } else {
        "audio"
    };
    let sdp = format!(
        "v=0\r\no=- 0 0 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n\
         m={media} {port} RTP/AVP {}\r\n{}",
        format.payload_type,
        sdp_attributes(&format)
    );
    let path = std::env::temp_dir().join(format!("ferrocast-rtp-interop-{name}.sdp"));
    std::fs::write(&path, sdp).unwrap();
    let mut child = Command::new("ffmpeg")
        .args(["-hide_banner", "-v"])
        .arg(std::env::var("FFMPEG_LOGLEVEL").unwrap_or("error".into()))
        .args(["-protocol_whitelist", "file,udp,rtp"])
        // Ends the input 2 s after the last packet, so decoders are flushed.
        .args(["-reorder_queue_size", "0", "-listen_timeout", "2", "-i"])
        .arg(&path)
        .args(["-vsync", "passthrough", "-f", "framecrc", "-"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("ffmpeg");
    std::thread::sleep(Duration::from_millis(1500));
    let sock = UdpSocket::bind("127.0.0.1:0").unwrap();
    let mut p = Packetizer::new(&track, DEFAULT_MTU).unwrap();
    let mut seq = 1000u16;
    for f in &frames {
        let mut payloads = vec![];
        p.packetize(&f.data, f.key, &mut payloads).unwrap();
        for pl in payloads {
            let h = RtpHeader {
                marker: pl.marker,
                payload_type: format.payload_type,
                sequence: seq,
                timestamp: (f.pts as u32).wrapping_add(pl.timestamp_offset),
                ssrc: 0x4242,
            };
            seq = seq.wrapping_add(1);
            sock.send_to(&h.packet(&pl.payload).unwrap(), ("127.0.0.1", port))
                .unwrap();
            std::thread::sleep(Duration::from_micros(500));
        }
    }
    // ffmpeg exits on its own (input timeout); kill it if it does not.
    for _ in 0..200 {
        if child.try_wait().unwrap().is_some() {
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    child.kill().ok();
    let mut out = String::new();
    child
        .stdout
        .take()
        .unwrap()
        .read_to_string(&mut out)
        .unwrap();
    let mut err = String::new();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut err)
        .unwrap();
    child.wait().unwrap();
    std::fs::remove_file(&path).ok();
    let decoded = out.lines().filter(|l| !l.starts_with('#')).count();
    eprintln!(
        "{name}: {decoded}/{} frames; ffmpeg: {}",
        frames.len(),
        err.trim()
    );
    (decoded, frames.len())
}

#[test]
#[ignore = "needs ffmpeg and loopback UDP; run with --ignored"]
fn ffmpeg_decodes_what_we_packetize() {
    if Command::new("ffmpeg").arg("-version").output().is_err() {
        eprintln!("ffmpeg not installed");
        return;
    }
    let mut failed = vec![];
    let only = std::env::var("INTEROP_ONLY").ok();
    for name in [
        "h264_x264_bframes",
        "h264_x264_sprop",
        "h265_x265",
        "aac_ffmpeg",
        "opus_ffmpeg",
        "pcmu_ffmpeg",
        "mp2_ffmpeg",
        "vp8_libvpx",
        "vp9_libvpx",
        "mjpeg_ffmpeg",
    ] {
        if only.as_deref().is_some_and(|o| o != name) {
            continue;
        }
        let (decoded, sent) = ffmpeg_decodes(name);
        // G.711 frames are regrouped by ffmpeg; the others must all decode.
        if decoded < sent && !name.starts_with("pcm") || decoded == 0 {
            failed.push(format!("{name}: {decoded}/{sent}"));
        }
    }
    assert!(failed.is_empty(), "{failed:?}");
}
