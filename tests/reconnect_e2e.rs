//! Publisher reconnects: a reader stays connected while its publisher goes away and a new
//! one with the same tracks comes back, and goes away when nobody comes back.

mod common;

use std::thread::sleep;
use std::time::{Duration, Instant};

use common::*;

const READY: Duration = Duration::from_secs(20);

/// Publisher A, then `stop` it, wait `gap`, publisher B: the reader keeps decoding.
fn reader_survives(label: &str, stop: impl FnOnce(&mut Proc), gap: Duration) {
    let server = Server::start(label);
    let url = server.rtmp_url("live/test");
    let mut first = publish(&server.dir, "publisher1", Source::Plain, &url);
    server.wait_ready("live/test", READY);
    let mut reader = FfmpegReader::start(&server.dir, "reader", &url, None);
    reader.wait_frames(45, Duration::from_secs(20));

    stop(&mut first);
    assert!(
        first.wait_timeout(Duration::from_secs(10)).is_some(),
        "the first publisher did not stop"
    );
    sleep(gap);
    assert!(
        reader.proc.is_alive(),
        "the reader was disconnected when the publisher left:\n{}",
        reader.proc.output()
    );
    let at_gap = reader.frames();

    let _second = publish(&server.dir, "publisher2", Source::Plain, &url);
    server.wait_ready("live/test", READY);
    let after = reader.wait_frames(at_gap + 90, Duration::from_secs(20));
    eprintln!("reader: {at_gap} frames before the new publisher, {after} after");
    assert!(
        reader.proc.is_alive(),
        "the reader ended:\n{}",
        reader.proc.output()
    );
    let path = server.wait_readers("live/test", 1, Duration::from_secs(5));
    assert_eq!(path["ready"], true, "{path}");
    // Still decoding a while later (timestamps continue: ffmpeg would stall or drop
    // frames on a jump backwards).
    let f = reader.frames();
    reader.wait_frames(f + 30, Duration::from_secs(10));
}

#[test]
fn reader_survives_publisher_crash_and_return() {
    // SIGKILL: the TCP connection just closes, no unpublish.
    reader_survives("reconnect-kill", |p| p.kill(), Duration::from_secs(2));
}

#[test]
fn reader_survives_publisher_clean_stop_and_return() {
    // SIGINT: ffmpeg ends its output cleanly (FCUnpublish/deleteStream).
    reader_survives("reconnect-int", |p| p.signal("INT"), Duration::from_secs(2));
}

#[test]
fn reader_is_released_when_the_publisher_does_not_return() {
    let server = Server::start("no-return");
    let url = server.rtmp_url("live/test");
    let mut publisher = publish(&server.dir, "publisher", Source::Plain, &url);
    server.wait_ready("live/test", READY);
    let mut reader = FfmpegReader::start(&server.dir, "reader", &url, None);
    reader.wait_frames(30, Duration::from_secs(20));
    publisher.kill();
    let start = Instant::now();
    let status = reader.proc.wait_timeout(Duration::from_secs(40));
    eprintln!(
        "reader ended {:?} after the publisher left",
        start.elapsed()
    );
    assert!(
        status.is_some(),
        "the reader is still connected 40 s after the publisher left"
    );
    let gone = wait_for(Duration::from_secs(5), || {
        server.path_item("live/test").is_none().then_some(())
    });
    assert!(
        gone.is_some(),
        "the path is still listed: {}",
        server.get_json("/v3/paths/list")
    );
}

#[test]
fn override_publisher_replaces_the_publisher_and_readers_continue() {
    let server = Server::start_with(ServerOpts::new(
        "override",
        "pathDefaults:\n  overridePublisher: yes\n",
    ));
    let url = server.rtmp_url("live/test");
    let mut first = publish(&server.dir, "publisher1", Source::Plain, &url);
    let before = server.wait_ready("live/test", READY);
    let mut reader = FfmpegReader::start(&server.dir, "reader", &url, None);
    reader.wait_frames(30, Duration::from_secs(20));

    let _second = publish(&server.dir, "publisher2", Source::Plain, &url);
    let status = first.wait_timeout(Duration::from_secs(15));
    assert!(
        status.is_some(),
        "the first publisher was not disconnected by the second (overridePublisher: yes)"
    );
    let after = wait_for(Duration::from_secs(15), || {
        server
            .path_item("live/test")
            .filter(|p| p["ready"] == true && p["source"]["id"] != before["source"]["id"])
    })
    .expect("the path's source did not change to the second publisher");
    eprintln!(
        "source {} replaced by {}",
        before["source"]["id"], after["source"]["id"]
    );
    let f = reader.frames();
    reader.wait_frames(f + 60, Duration::from_secs(15));
    assert!(reader.proc.is_alive(), "the reader ended");
}

#[test]
fn second_publisher_is_refused_without_override() {
    let server = Server::start_with(ServerOpts::new(
        "no-override",
        "paths:\n  live/test:\n    overridePublisher: no\n",
    ));
    let url = server.rtmp_url("live/test");
    let mut first = publish(&server.dir, "publisher1", Source::Plain, &url);
    let before = server.wait_ready("live/test", READY);
    let mut second = publish(&server.dir, "publisher2", Source::Plain, &url);
    let status = second.wait_timeout(Duration::from_secs(20));
    assert!(
        matches!(status, Some(s) if !s.success()),
        "the second publisher was not refused: {status:?}"
    );
    assert!(first.is_alive(), "the first publisher was disconnected");
    let now = server.path_item("live/test").expect("path listed");
    assert_eq!(now["source"]["id"], before["source"]["id"]);
    assert_h264_aac(&probe(&url, 2), 30, 45);
}
