//! RTMP end to end with real clients: ffmpeg publishes; ffprobe, ffmpeg, GStreamer
//! (rtmp2src and librtmp's rtmpsrc) and nginx-rtmp read; every reader must decode frames.

mod common;

use std::process::Command;
use std::time::{Duration, Instant};

use common::*;
use serde_json::Value;

const READY: Duration = Duration::from_secs(20);

/// Starts a server and one publisher on `path`, and waits until the path is ready.
fn server_with_stream(label: &str, path: &str, kind: Source) -> (Server, Proc) {
    let server = Server::start(label);
    let publisher = publish(&server.dir, "publisher", kind, &server.rtmp_url(path));
    server.wait_ready(path, READY);
    (server, publisher)
}

#[test]
fn ffprobe_decodes_h264_and_aac() {
    let (server, _publisher) = server_with_stream("ffprobe", "live/test", Source::Plain);
    let streams = probe(&server.rtmp_url("live/test"), 3);
    eprintln!("ffprobe: {streams:?}");
    // 3 s of 30 fps video and 48 kHz AAC (1024 samples a frame: ~47 frames a second).
    assert_h264_aac(&streams, 45, 70);
    let path = server.path_item("live/test").expect("path listed");
    assert_eq!(path["tracks"], serde_json::json!(["H264", "MPEG-4 Audio"]));
}

#[test]
fn ffmpeg_records_a_clip_with_only_the_published_streams() {
    // What users do: `ffmpeg -i rtmp://... -t 3 -c copy clip.mkv`. The reader must see the
    // published video and audio streams and nothing else (a spurious data or subtitle
    // stream would land in the file, and `-t` would wait for it forever).
    let (server, _publisher) = server_with_stream("record", "live/test", Source::Plain);
    // Join a stream that has been running for a while (timestamps no longer start at 0),
    // as readers usually do.
    std::thread::sleep(Duration::from_millis(2500));
    let clip = server.dir.join("clip.mkv");
    let mut cmd = Command::new("ffmpeg");
    cmd.args(["-hide_banner", "-loglevel", "warning", "-nostdin", "-y"])
        .args(["-i", &server.rtmp_url("live/test")])
        .args(["-t", "3", "-c", "copy"])
        .arg(&clip);
    let r = run(cmd, Duration::from_secs(30));
    eprintln!("ffmpeg said: {}", r.stderr.trim());
    assert!(
        r.success(),
        "recording 3 s did not finish within 30 s ({:?}): {}",
        r.status,
        r.stderr
    );
    let streams = probe(&clip.display().to_string(), 10);
    assert_h264_aac(&streams, 60, 90);
    let kinds: Vec<&str> = streams.iter().map(|s| s.codec_type.as_str()).collect();
    assert_eq!(
        kinds.len(),
        2,
        "the clip has other streams than the published video and audio: {streams:?}"
    );
}

#[test]
fn several_ffmpeg_readers_decode_at_once() {
    let (server, _publisher) = server_with_stream("readers", "live/test", Source::Plain);
    let url = server.rtmp_url("live/test");
    let mut readers: Vec<FfmpegReader> = (0..4)
        .map(|i| FfmpegReader::start(&server.dir, &format!("reader{i}"), &url, Some(4)))
        .collect();
    for r in &mut readers {
        let status = r.proc.wait_timeout(Duration::from_secs(40));
        let frames = r.frames();
        eprintln!("{}: {frames} frames, {status:?}", r.proc.name);
        assert!(
            status.map(|s| s.success()).unwrap_or(false),
            "{} did not finish cleanly: {status:?}\n{}",
            r.proc.name,
            r.proc.output()
        );
        assert!(r.ended(), "{} wrote no final report", r.proc.name);
        // 4 s of 30 fps video.
        assert!(frames >= 60, "{} decoded only {frames} frames", r.proc.name);
    }
}

/// A GStreamer pipeline that decodes video and audio from `src` and stops by itself after
/// `v` video and `a` audio buffers (identity eos-after), printing a line per buffer.
fn gst_decode(src: &[&str], v: u32, a: u32) -> Ran {
    require("gst-launch-1.0");
    for e in [
        "flvdemux",
        "h264parse",
        "avdec_h264",
        "aacparse",
        "avdec_aac",
        "identity",
    ] {
        require_gst_element(e);
    }
    let mut cmd = Command::new("gst-launch-1.0");
    cmd.args(["-v", "-e"]).args(src);
    let pipeline = format!(
        "! flvdemux name=d \
         d.video ! queue ! h264parse ! avdec_h264 ! identity eos-after={v} ! fakesink name=vsink silent=false \
         d.audio ! queue ! aacparse ! avdec_aac ! identity eos-after={a} ! fakesink name=asink silent=false"
    );
    cmd.args(pipeline.split_whitespace());
    run(cmd, Duration::from_secs(40))
}

/// Decoded buffers that reached a fakesink named `sink`.
fn gst_buffers(out: &str, sink: &str) -> usize {
    out.lines()
        .filter(|l| l.contains(&format!("({sink}:sink)")) && l.contains("chain"))
        .count()
}

fn assert_gst_decoded(r: &Ran, what: &str) {
    let video = gst_buffers(&r.stdout, "vsink");
    let audio = gst_buffers(&r.stdout, "asink");
    eprintln!(
        "{what}: {video} video and {audio} audio buffers decoded in {:?}",
        r.elapsed
    );
    assert!(
        r.success(),
        "{what} did not end cleanly ({:?}):\n{}\n{}",
        r.status,
        r.stderr,
        r.stdout
            .lines()
            .rev()
            .take(30)
            .collect::<Vec<_>>()
            .join("\n")
    );
    assert!(video >= 30, "{what}: only {video} video frames decoded");
    assert!(audio >= 30, "{what}: only {audio} audio frames decoded");
}

#[test]
fn gstreamer_rtmp2src_decodes() {
    require_gst_element("rtmp2src");
    let (server, _publisher) = server_with_stream("gst-rtmp2", "live/test", Source::Plain);
    let location = format!("location={}", server.rtmp_url("live/test"));
    let r = gst_decode(&["rtmp2src", &location], 45, 45);
    assert_gst_decoded(&r, "rtmp2src");
}

#[test]
fn gstreamer_rtmpsrc_decodes() {
    require_gst_element("rtmpsrc");
    let (server, _publisher) = server_with_stream("gst-rtmp", "live/test", Source::Plain);
    // librtmp reads options after the URL; `live=1` makes it a live play.
    let location = format!("location={} live=1", server.rtmp_url("live/test"));
    let r = gst_decode(&["rtmpsrc", &location], 45, 45);
    assert_gst_decoded(&r, "rtmpsrc");
}

/// Packets (pts, dts, flags) of the video stream, as ffprobe reads them from `url`.
fn video_packets(url: &str, interval: &str) -> Vec<(i64, i64, String)> {
    require("ffprobe");
    let mut cmd = Command::new("ffprobe");
    cmd.args(["-hide_banner", "-v", "error", "-select_streams", "v"])
        .args(["-read_intervals", interval])
        .args(["-show_entries", "packet=pts,dts,flags", "-of", "json"])
        .arg(url);
    let r = run(cmd, Duration::from_secs(40));
    assert!(r.success(), "ffprobe {url} failed: {}", r.stderr);
    let v: Value = serde_json::from_str(&r.stdout).expect("ffprobe JSON");
    v["packets"]
        .as_array()
        .map(|a| a.as_slice())
        .unwrap_or_default()
        .iter()
        .map(|p| {
            (
                p["pts"].as_i64().unwrap_or(-1),
                p["dts"].as_i64().unwrap_or(-1),
                p["flags"].as_str().unwrap_or_default().to_string(),
            )
        })
        .collect()
}

#[test]
fn bframes_stream_plays_with_composition_times() {
    // The source itself must have B-frames (pts > dts on some packets), or the test proves nothing.
    let src = source(Source::BFrames);
    let src_packets = video_packets(&src.display().to_string(), "%+2");
    assert!(
        src_packets.iter().any(|(pts, dts, _)| pts > dts),
        "the generated source has no B-frames"
    );

    let (server, _publisher) = server_with_stream("bframes", "live/bf", Source::BFrames);
    let url = server.rtmp_url("live/bf");
    let streams = probe(&url, 3);
    eprintln!("ffprobe (B-frames): {streams:?}");
    assert_h264_aac(&streams, 45, 70);

    let packets = video_packets(&url, "%+3");
    assert!(packets.len() >= 45, "only {} video packets", packets.len());
    let reordered = packets.iter().filter(|(pts, dts, _)| pts > dts).count();
    let backwards = packets.iter().filter(|(pts, dts, _)| pts < dts).count();
    eprintln!(
        "{} packets, {reordered} with pts > dts (B-frame reordering kept)",
        packets.len()
    );
    assert!(
        reordered > 0,
        "every packet has pts == dts: the composition time offsets were lost: {:?}",
        &packets[..packets.len().min(10)]
    );
    assert_eq!(backwards, 0, "packets with pts < dts: {packets:?}");
    // Decoding order must be monotonic.
    assert!(
        packets.windows(2).all(|w| w[1].1 >= w[0].1),
        "dts goes backwards: {packets:?}"
    );
}

#[test]
fn new_reader_starts_on_a_keyframe_at_once() {
    let (server, _publisher) = server_with_stream("gop", "live/test", Source::Plain);
    let url = server.rtmp_url("live/test");
    // Let the publisher run past a keyframe so that the GOP cache holds frames.
    std::thread::sleep(Duration::from_millis(1500));

    // The first video packet a new reader gets is a keyframe.
    let first = video_packets(&url, "%+#3");
    assert!(!first.is_empty(), "no video packet read");
    assert!(
        first[0].2.starts_with('K'),
        "the first packet sent to a new reader is not a keyframe: {first:?}"
    );

    // Time to the first decoded frame (logged; no threshold: machines differ).
    for i in 0..3 {
        let mut cmd = Command::new("ffmpeg");
        cmd.args(["-hide_banner", "-loglevel", "error", "-nostdin"])
            .args(["-analyzeduration", "500000", "-i", &url])
            .args(["-frames:v", "1", "-f", "null", "-", "-progress", "pipe:1"]);
        let r = run(cmd, Duration::from_secs(30));
        assert!(r.success(), "ffmpeg failed: {}", r.stderr);
        assert!(
            r.stdout.lines().any(|l| l == "frame=1"),
            "no frame decoded: {}",
            r.stdout
        );
        eprintln!(
            "time to first decoded frame #{i} (connect + probe + decode): {:?}",
            r.elapsed
        );
        std::thread::sleep(Duration::from_millis(333));
    }
}

#[test]
fn publish_without_app_name() {
    let server = Server::start("noapp");
    let url = server.rtmp_url("test");
    let _publisher = publish(&server.dir, "publisher", Source::Plain, &url);
    let path = server.wait_ready("test", READY);
    assert_eq!(path["source"]["type"], "rtmpConn", "{path}");
    let streams = probe(&url, 2);
    assert_h264_aac(&streams, 30, 45);
}

#[test]
fn unknown_path_is_refused_when_only_static_paths_exist() {
    let server = Server::start_with(ServerOpts::new("static", "paths:\n  live/test:\n"));

    // Publishing to a path the configuration does not name fails.
    let mut refused = publish(
        &server.dir,
        "refused-publisher",
        Source::Plain,
        &server.rtmp_url("live/other"),
    );
    let status = refused.wait_timeout(Duration::from_secs(20));
    assert!(
        matches!(status, Some(s) if !s.success()),
        "ffmpeg publishing to an unconfigured path did not fail: {status:?}\n{}",
        refused.output()
    );
    assert!(server.path_item("live/other").is_none());
    server
        .wait_log_line(&["live/other", "refused"], Duration::from_secs(5))
        .expect("the server logs the refused publish");

    // Reading it fails as well.
    let r = probe_raw(&server.rtmp_url("live/other"), 1, &[]);
    assert!(
        !r.success(),
        "reading an unconfigured path succeeded: {}",
        r.stdout
    );

    // The configured path works.
    let url = server.rtmp_url("live/test");
    let _publisher = publish(&server.dir, "publisher", Source::Plain, &url);
    server.wait_ready("live/test", READY);
    assert_h264_aac(&probe(&url, 2), 30, 45);
}

#[test]
fn readers_of_a_path_without_publisher_are_refused() {
    let server = Server::start("nopub");
    let start = Instant::now();
    let r = probe_raw(&server.rtmp_url("live/nothing"), 1, &[]);
    assert!(!r.success(), "reading a path nobody publishes succeeded");
    eprintln!("refused after {:?}", start.elapsed());
    assert!(
        start.elapsed() < Duration::from_secs(15),
        "the refusal took {:?}",
        start.elapsed()
    );
}

#[test]
fn relay_through_nginx_rtmp() {
    // Ferrocast's output, copied by ffmpeg into nginx-rtmp, and read back from nginx:
    // the stream is valid for a third-party RTMP server (an RTMP CDN stand-in).
    let (server, _publisher) = server_with_stream("nginx", "live/test", Source::Plain);
    let nginx = Nginx::start(&server.dir);
    let mut relay = Command::new("ffmpeg");
    relay
        .args(["-hide_banner", "-loglevel", "warning", "-nostdin"])
        .args(["-i", &server.rtmp_url("live/test")])
        .args(["-c", "copy", "-f", "flv", &nginx.url("live/relay")]);
    let mut relay = Proc::spawn("relay", relay, &server.dir);
    std::thread::sleep(Duration::from_secs(3));
    assert!(relay.is_alive(), "the relay stopped: {}", relay.output());
    let streams = probe(&nginx.url("live/relay"), 3);
    eprintln!("read back from nginx-rtmp: {streams:?}");
    assert_h264_aac(&streams, 45, 70);
    server.wait_readers("live/test", 1, Duration::from_secs(5));
}

#[test]
fn rtmps_publish_and_read() {
    let dir = TempDir::new("rtmps-cert");
    let (key, cert) = self_signed(&dir);
    let rtmps_port = free_port();
    let yaml = format!(
        "rtmpsAddress: 127.0.0.1:{rtmps_port}\nrtmpServerKey: {}\nrtmpServerCert: {}\n",
        key.display(),
        cert.display()
    );
    let mut opts = ServerOpts::new("rtmps", &yaml);
    // "optional": plain RTMP and RTMPS side by side.
    opts.env
        .push(("MTX_RTMPENCRYPTION".into(), "optional".into()));
    let server = Server::start_with(opts);
    let rtmps = |path: &str| format!("rtmps://127.0.0.1:{rtmps_port}/{path}");

    let _publisher = publish(
        &server.dir,
        "publisher",
        Source::Plain,
        &rtmps("live/secure"),
    );
    let path = server.wait_ready("live/secure", READY);
    assert_eq!(path["source"]["type"], "rtmpsConn", "{path}");
    assert_h264_aac(&probe(&rtmps("live/secure"), 2), 30, 45);
    // Plain RTMP readers get the same stream.
    assert_h264_aac(&probe(&server.rtmp_url("live/secure"), 2), 30, 45);
    let conns = server.get_json("/v3/rtmpsconns/list");
    assert!(
        conns["items"]
            .as_array()
            .unwrap()
            .iter()
            .any(|c| c["state"] == "publish"),
        "{conns}"
    );
}
