//! GStreamer publishes (rtmp2sink, H264 + AAC through flvmux) and ends the stream the way
//! GStreamer does (FCUnpublish/deleteStream, then waits for the server): ffprobe decodes
//! what it sent, and gst-launch exits cleanly.

mod common;

use std::process::Command;
use std::time::Duration;

use common::*;

#[test]
fn gstreamer_rtmp2sink_publishes() {
    for e in [
        "rtmp2sink",
        "x264enc",
        "flvmux",
        "avenc_aac",
        "videotestsrc",
        "audiotestsrc",
    ] {
        require_gst_element(e);
    }
    let server = Server::start("gst-publish");
    let url = server.rtmp_url("live/gst");
    let mut cmd = Command::new("gst-launch-1.0");
    cmd.args(["-q", "videotestsrc", "is-live=true", "num-buffers=300"])
        .args(["!", "video/x-raw,width=320,height=240,framerate=30/1"])
        .args(["!", "x264enc", "tune=zerolatency", "key-int-max=30"])
        .args(["!", "h264parse", "!", "flvmux", "name=m", "streamable=true"])
        .args(["!", "rtmp2sink", &format!("location={url}")])
        .args(["audiotestsrc", "is-live=true", "num-buffers=470"])
        .args([
            "!",
            "audioconvert",
            "!",
            "avenc_aac",
            "!",
            "aacparse",
            "!",
            "m.",
        ]);
    let mut publisher = Proc::spawn("gst-publisher", cmd, &server.dir);
    let path = server.wait_ready("live/gst", Duration::from_secs(20));
    assert_eq!(
        path["tracks"],
        serde_json::json!(["H264", "MPEG-4 Audio"]),
        "{path}"
    );
    let streams = probe(&url, 3);
    assert_h264_aac(&streams, 45, 70);
    let status = publisher
        .wait_timeout(Duration::from_secs(30))
        .unwrap_or_else(|| panic!("gst-launch did not finish: {}", publisher.output()));
    assert!(
        status.success(),
        "gst-launch ended with an error: {}",
        publisher.output()
    );
    assert!(
        server
            .wait_log_line(&["stopped publishing", "live/gst"], Duration::from_secs(5))
            .is_some(),
        "{}",
        server.log()
    );
}
