#!/usr/bin/env python3
"""A TCP proxy for RTSP that behaves like a NAT which breaks UDP: it rewrites the
client_port= of every SETUP to ports nobody listens on, so the server's UDP packets never
reach the client, while TCP-interleaved RTP passes untouched.

Usage: port_mangling_proxy.py LISTEN_PORT TARGET_PORT
"""
import re
import socket
import sys
import threading

DEAD = b"client_port=9-10"  # the discard port: nothing listens there on loopback


def pump(src, dst, mangle):
    buf = b""
    try:
        while True:
            data = src.recv(65536)
            if not data:
                break
            if mangle:
                buf += data
                # Requests are text until interleaved data starts; rewrite whole lines only.
                if b"\r\n\r\n" in buf or len(buf) > 65536:
                    buf = re.sub(rb"client_port=\d+-\d+", DEAD, buf)
                    dst.sendall(buf)
                    buf = b""
            else:
                dst.sendall(data)
    except OSError:
        pass
    finally:
        for s in (src, dst):
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass


def main():
    listen, target = int(sys.argv[1]), int(sys.argv[2])
    srv = socket.socket()
    srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    srv.bind(("127.0.0.1", listen))
    srv.listen(16)
    print(f"proxy 127.0.0.1:{listen} -> 127.0.0.1:{target}", flush=True)
    while True:
        c, _ = srv.accept()
        s = socket.create_connection(("127.0.0.1", target))
        threading.Thread(target=pump, args=(c, s, True), daemon=True).start()
        threading.Thread(target=pump, args=(s, c, False), daemon=True).start()


if __name__ == "__main__":
    main()
