//! Hostile and broken RTMP connections must not disturb a running stream: a reader keeps
//! decoding, the server keeps accepting readers, and each bad peer is named in the log.

mod common;

use std::io::{Read, Write};
use std::net::{Shutdown, SocketAddr, TcpStream};
use std::time::Duration;

use common::*;

/// Deterministic pseudo-random bytes (xorshift), different per seed.
fn noise(seed: u64, n: usize) -> Vec<u8> {
    let mut x = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    (0..n)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            (x >> 24) as u8
        })
        .collect()
}

fn connect(port: u16) -> TcpStream {
    let s = TcpStream::connect(("127.0.0.1", port)).expect("connect to the RTMP port");
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    s.set_write_timeout(Some(Duration::from_secs(10))).unwrap();
    s
}

/// A valid plain handshake: C0+C1, read S0+S1+S2, send C2 (= S1).
fn handshake(s: &mut TcpStream) {
    let mut c1 = vec![0u8; 1536];
    c1[8..].copy_from_slice(&noise(7, 1528));
    s.write_all(&[3]).unwrap();
    s.write_all(&c1).unwrap();
    let mut s0s1s2 = vec![0u8; 1 + 1536 * 2];
    s.read_exact(&mut s0s1s2)
        .expect("the server answers a valid handshake");
    assert_eq!(s0s1s2[0], 3, "S0 is version 3");
    s.write_all(&s0s1s2[1..1537]).unwrap();
}

/// A type-0 chunk header: basic header (fmt 0, csid < 64) + 11-byte message header.
fn chunk_header(csid: u8, len: u32, type_id: u8, stream_id: u32) -> Vec<u8> {
    let mut h = vec![csid & 0x3f, 0, 0, 0];
    h.extend_from_slice(&len.to_be_bytes()[1..]);
    h.push(type_id);
    h.extend_from_slice(&stream_id.to_le_bytes());
    h
}

/// Writes what it can; a server that already closed the connection is fine.
fn send(s: &mut TcpStream, data: &[u8]) {
    let _ = s.write_all(data);
}

/// Reads until the server closes or `limit` passes; returns the bytes received.
fn drain(s: &mut TcpStream, limit: Duration) -> usize {
    s.set_read_timeout(Some(limit)).unwrap();
    let mut buf = [0u8; 4096];
    let mut n = 0;
    while let Ok(k) = s.read(&mut buf) {
        if k == 0 {
            break;
        }
        n += k;
    }
    n
}

/// The running reader must keep decoding: 15 more frames (half a second) within 10 s.
fn check(reader: &mut FfmpegReader, what: &str) {
    let f = reader.frames();
    let got = reader.wait_frames(f + 15, Duration::from_secs(10));
    eprintln!("after '{what}': reader at {got} frames (was {f})");
}

struct Attack {
    name: &'static str,
    peer: SocketAddr,
}

fn attack(port: u16, name: &'static str, f: impl FnOnce(&mut TcpStream)) -> Attack {
    let mut s = connect(port);
    let peer = s.local_addr().unwrap();
    f(&mut s);
    let _ = s.shutdown(Shutdown::Both);
    eprintln!("attack '{name}' from {peer} done");
    Attack { name, peer }
}

#[test]
fn broken_connections_do_not_disturb_a_running_stream() {
    let mut server = Server::start("robust");
    let port = server.rtmp_port;
    let url = server.rtmp_url("live/test");
    let _publisher = publish(&server.dir, "publisher", Source::Plain, &url);
    server.wait_ready("live/test", Duration::from_secs(20));
    let mut reader = FfmpegReader::start(&server.dir, "reader", &url, None);
    reader.wait_frames(15, Duration::from_secs(20));
    let rss_before = server.rss_kib();

    let mut attacks = vec![];

    // 1. Garbage instead of a handshake (an HTTP request, then noise).
    attacks.push(attack(port, "garbage", |s| {
        send(s, b"GET / HTTP/1.1\r\nHost: x\r\n\r\n");
        send(s, &noise(1, 8192));
        drain(s, Duration::from_secs(5));
    }));
    check(&mut reader, "garbage");

    // 2. Truncated handshake: C0 and half of C1, then close.
    attacks.push(attack(port, "truncated handshake", |s| {
        send(s, &[3]);
        send(s, &noise(2, 768));
    }));
    check(&mut reader, "truncated handshake");

    // 3. A valid handshake followed by garbage chunks.
    attacks.push(attack(port, "garbage chunks", |s| {
        handshake(s);
        for i in 0..16 {
            send(s, &noise(100 + i, 4096));
        }
        drain(s, Duration::from_secs(3));
    }));
    check(&mut reader, "garbage chunks");

    // 4. A huge chunk size, then a message that claims 16 MiB and sends 1 MiB of it.
    attacks.push(attack(port, "huge chunk size", |s| {
        handshake(s);
        let mut m = chunk_header(2, 4, 1, 0);
        m.extend_from_slice(&0x7fff_ffffu32.to_be_bytes());
        send(s, &m);
        send(s, &chunk_header(3, 0x00ff_ffff, 20, 0));
        let block = vec![0x41u8; 64 * 1024];
        for _ in 0..16 {
            send(s, &block);
        }
        drain(s, Duration::from_secs(3));
    }));
    check(&mut reader, "huge chunk size");

    // 4b. The largest chunk size a message can use (2^24 - 1), then a 16 MiB message
    //     of which only 1 MiB arrives: the server must not wait with 16 MiB reserved per
    //     connection, nor fall over.
    attacks.push(attack(port, "16 MiB message", |s| {
        handshake(s);
        let mut m = chunk_header(2, 4, 1, 0);
        m.extend_from_slice(&0x00ff_ffffu32.to_be_bytes());
        send(s, &m);
        send(s, &chunk_header(3, 0x00ff_ffff, 20, 0));
        let block = vec![0x42u8; 64 * 1024];
        for _ in 0..16 {
            send(s, &block);
        }
    }));
    check(&mut reader, "16 MiB message");

    // 5. A chunk size of zero (invalid).
    attacks.push(attack(port, "zero chunk size", |s| {
        handshake(s);
        let mut m = chunk_header(2, 4, 1, 0);
        m.extend_from_slice(&0u32.to_be_bytes());
        send(s, &m);
        send(s, &chunk_header(3, 100, 20, 0));
        send(s, &noise(5, 100));
        drain(s, Duration::from_secs(3));
    }));
    check(&mut reader, "zero chunk size");

    // 6. Many half-open connections at once.
    let flood: Vec<TcpStream> = (0..64)
        .map(|_| {
            let mut s = connect(port);
            send(&mut s, &[3]);
            s
        })
        .collect();
    check(&mut reader, "64 half-open connections");
    drop(flood);

    // The reader never stopped, the server is alive and its memory did not explode.
    assert!(reader.proc.is_alive(), "the reader process ended");
    assert!(server.is_alive(), "the server died");
    if let (Some(before), Some(after)) = (rss_before, server.rss_kib()) {
        eprintln!("server RSS: {before} KiB before, {after} KiB after the attacks");
        assert!(
            after < before + 200 * 1024,
            "the server's memory grew from {before} KiB to {after} KiB"
        );
    }

    // A new reader is accepted and decodes.
    assert_h264_aac(&probe(&url, 2), 30, 45);

    // Each bad peer is named in the log (its connection lines carry the address).
    for a in &attacks {
        let line = server
            .wait_log_line(&[&a.peer.to_string(), "closed"], Duration::from_secs(15))
            .unwrap_or_else(|| {
                panic!(
                    "no log line names the peer {} of attack '{}' as closed",
                    a.peer, a.name
                )
            });
        eprintln!("{}: {line}", a.name);
    }
    let f = reader.frames();
    reader.wait_frames(f + 15, Duration::from_secs(10));
}

#[test]
fn idle_connection_is_closed_after_read_timeout() {
    // readTimeout 10 s in the test configuration: a silent client is dropped.
    let server = Server::start("idle");
    let mut s = connect(server.rtmp_port);
    let peer = s.local_addr().unwrap();
    let start = std::time::Instant::now();
    let n = drain(&mut s, Duration::from_secs(25));
    let waited = start.elapsed();
    eprintln!("silent client dropped after {waited:?} ({n} bytes received)");
    assert!(
        waited < Duration::from_secs(20),
        "the server kept a silent connection for {waited:?}"
    );
    server
        .wait_log_line(&[&peer.to_string(), "closed"], Duration::from_secs(5))
        .expect("a log line names the silent peer");
}

#[test]
fn a_stalled_reader_does_not_hold_back_the_others() {
    // One ffmpeg reader is frozen (SIGSTOP): it stops reading its socket. The publisher
    // and the other reader must go on at full pace.
    let mut opts = ServerOpts::new("stalled", "");
    opts.yaml = "writeQueueSize: 64\n".to_string();
    let server = Server::start_with(opts);
    let url = server.rtmp_url("live/test");
    let mut publisher = publish(&server.dir, "publisher", Source::Plain, &url);
    server.wait_ready("live/test", Duration::from_secs(20));
    let mut healthy = FfmpegReader::start(&server.dir, "healthy", &url, None);
    let mut frozen = FfmpegReader::start(&server.dir, "frozen", &url, None);
    healthy.wait_frames(15, Duration::from_secs(20));
    frozen.wait_frames(15, Duration::from_secs(20));
    frozen.proc.signal("STOP");

    let start = healthy.frames();
    std::thread::sleep(Duration::from_secs(8));
    let gained = healthy.frames() - start;
    eprintln!("healthy reader: {gained} frames in 8 s while the other was frozen");
    // Real time is 240 frames; allow for a slow machine.
    assert!(
        gained >= 150,
        "the healthy reader only decoded {gained} frames in 8 s"
    );
    assert!(publisher.is_alive(), "the publisher ended");
    let conns = server.rtmp_conns();
    eprintln!(
        "outboundFramesDiscarded: {:?}",
        conns
            .iter()
            .map(|c| c["outboundFramesDiscarded"].clone())
            .collect::<Vec<_>>()
    );
    frozen.proc.signal("CONT");
    let f = healthy.frames();
    healthy.wait_frames(f + 30, Duration::from_secs(10));
}
