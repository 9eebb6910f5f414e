#!/usr/bin/env python3
"""WHEP reader and WHIP publisher on aiortc, for Ferrocast's end-to-end tests.

  client.py whep URL [--seconds S] [--pli N]
                                            read, decode, print one JSON line of counts;
                                            with --pli, send N picture loss indications
                                            (5 a second) once video arrives
  client.py offer                           print a recvonly video+audio offer
  client.py whip URL [--seconds S] [--codec h264|vp8] [--audio opus|pcmu|pcma]
                                            publish synthetic 320x240 video + Opus audio;
                                            the result lists when keyframes were asked for
  client.py whip-server PORT [--seconds S]  a WHIP server (POST /ANY/whip): decode what one
                                            publisher sends for S seconds after it
                                            connects, print one JSON line of counts
  client.py whep-server PORT [--seconds S] [--codec h264|vp8]
                                            a WHEP server (POST /ANY/whep): send synthetic
                                            video + Opus to each reader; exit after S s

Only 127.0.0.1 host candidates and no STUN server (aiortc's defaults would offer every
interface and ask a public STUN server). Exit status 0 when the session ran; the caller
asserts on the JSON line.
"""

import argparse
import asyncio
import fractions
import json
import sys
import time
import urllib.error
import urllib.request

import aioice.ice

# Host candidates on loopback only (see shared INTEROP.md, WebRTC section).
aioice.ice.get_host_addresses = lambda use_ipv4, use_ipv6: ["127.0.0.1"]

from aiortc import (  # noqa: E402
    RTCConfiguration,
    RTCPeerConnection,
    RTCRtpSender,
    RTCSessionDescription,
    VideoStreamTrack,
)
from aiortc.mediastreams import AudioStreamTrack, MediaStreamError  # noqa: E402
from av import VideoFrame  # noqa: E402


def http(method, url, body=None, content_type=None):
    req = urllib.request.Request(url, data=body, method=method)
    if content_type:
        req.add_header("Content-Type", content_type)
    try:
        with urllib.request.urlopen(req, timeout=10) as r:
            return r.status, dict(r.headers), r.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, dict(e.headers), e.read().decode()


def absolute(base, location):
    if location.startswith("http"):
        return location
    scheme_host = base.split("/", 3)[:3]
    return "/".join(scheme_host) + location


async def negotiate(pc, url):
    await pc.setLocalDescription(await pc.createOffer())
    status, headers, body = await asyncio.get_running_loop().run_in_executor(
        None,
        lambda: http("POST", url, pc.localDescription.sdp.encode(), "application/sdp"),
    )
    if status != 201:
        print(json.dumps({"error": f"POST {url}: {status} {body}"}), flush=True)
        sys.exit(2)
    location = headers.get("Location") or headers.get("location")
    try:
        await pc.setRemoteDescription(RTCSessionDescription(sdp=body, type="answer"))
    except Exception:
        sys.stderr.write("the answer aiortc refused:\n" + body + "\n")
        raise
    return absolute(url, location)


async def send_plis(receiver, n, stats):
    """Asks the sender of `receiver` for a keyframe `n` times, 5 times a second."""
    for _ in range(n):
        ssrcs = list(getattr(receiver, "_RTCRtpReceiver__active_ssrc", {}).keys())
        if ssrcs:
            await receiver._send_rtcp_pli(ssrcs[0])
            stats["plis"].append(time.time())
        await asyncio.sleep(0.2)


async def whep(url, seconds, pli=0):
    pc = RTCPeerConnection(RTCConfiguration(iceServers=[]))
    video_transceiver = pc.addTransceiver("video", direction="recvonly")
    pc.addTransceiver("audio", direction="recvonly")
    stats = {"video_frames": 0, "audio_frames": 0, "width": 0, "height": 0,
             "first_frame_s": None, "plis": []}
    start = time.monotonic()
    tasks = []

    async def consume(track):
        try:
            while True:
                frame = await track.recv()
                if track.kind == "video":
                    stats["video_frames"] += 1
                    stats["width"], stats["height"] = frame.width, frame.height
                    if stats["first_frame_s"] is None:
                        stats["first_frame_s"] = round(time.monotonic() - start, 3)
                        if pli:
                            tasks.append(asyncio.ensure_future(
                                send_plis(video_transceiver.receiver, pli, stats)))
                else:
                    stats["audio_frames"] += 1
        except MediaStreamError:
            pass

    @pc.on("track")
    def on_track(track):
        tasks.append(asyncio.ensure_future(consume(track)))

    location = await negotiate(pc, url)
    await asyncio.sleep(seconds)
    stats["connection"] = pc.connectionState
    stats["location"] = location
    status, _, _ = http("DELETE", location)
    stats["delete_status"] = status
    print(json.dumps(stats), flush=True)
    for t in tasks:
        t.cancel()
    await pc.close()


class Pattern(VideoStreamTrack):
    """320x240 frames whose brightness changes every frame, at 30 fps."""

    def __init__(self):
        super().__init__()
        self.n = 0

    async def recv(self):
        pts, time_base = await self.next_timestamp()
        frame = VideoFrame(width=320, height=240, format="yuv420p")
        self.n += 1
        for i, p in enumerate(frame.planes):
            value = (self.n * 3) % 200 + 20 if i == 0 else 128
            p.update(bytes([value]) * p.buffer_size)
        frame.pts = pts
        frame.time_base = time_base
        return frame


async def whip(url, seconds, codec, audio="opus"):
    # When keyframes are asked for (RTCP PLI/FIR), by wall-clock time.
    asked = []
    send_keyframe = RTCRtpSender._send_keyframe

    def counting(self):
        asked.append(time.time())
        send_keyframe(self)

    RTCRtpSender._send_keyframe = counting
    pc = RTCPeerConnection(RTCConfiguration(iceServers=[]))
    video = pc.addTransceiver(Pattern(), direction="sendonly")
    sound = pc.addTransceiver(AudioStreamTrack(), direction="sendonly")
    amime = {"opus": "audio/opus", "pcmu": "audio/PCMU", "pcma": "audio/PCMA"}[audio]
    sound.setCodecPreferences([c for c in RTCRtpSender.getCapabilities("audio").codecs
                               if c.mimeType == amime])
    mime = {"h264": "video/H264", "vp8": "video/VP8"}[codec]
    prefs = [c for c in RTCRtpSender.getCapabilities("video").codecs
             if c.mimeType == mime or c.mimeType == "video/rtx"]
    video.setCodecPreferences(prefs)
    location = await negotiate(pc, url)
    print(json.dumps({"published": location}), flush=True)
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        await asyncio.sleep(0.5)
    result = {"connection": pc.connectionState, "keyframe_requests": asked}
    status, _, _ = http("DELETE", location)
    result["delete_status"] = status
    print(json.dumps(result), flush=True)
    await pc.close()


async def offer():
    pc = RTCPeerConnection(RTCConfiguration(iceServers=[]))
    pc.addTransceiver("video", direction="recvonly")
    pc.addTransceiver("audio", direction="recvonly")
    await pc.setLocalDescription(await pc.createOffer())
    sys.stdout.write(pc.localDescription.sdp)
    await pc.close()


class Server:
    """A minimal WHIP/WHEP server: stdlib HTTP in threads, aiortc on the asyncio loop."""

    def __init__(self, port, on_offer):
        import http.server
        import threading

        self.loop = asyncio.get_running_loop()
        self.on_offer = on_offer
        self.sessions = {}
        self.deleted = 0
        self.authorization = None
        server = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_POST(self):
                n = int(self.headers.get("Content-Length") or 0)
                offer = self.rfile.read(n).decode()
                server.authorization = self.headers.get("Authorization")
                if self.headers.get("Content-Type", "").split(";")[0] != "application/sdp":
                    self.send_response(415)
                    self.end_headers()
                    return
                fut = asyncio.run_coroutine_threadsafe(server.answer(offer), server.loop)
                sid, answer = fut.result(timeout=10)
                body = answer.encode()
                self.send_response(201)
                self.send_header("Content-Type", "application/sdp")
                self.send_header("Location", f"{self.path}/{sid}")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def do_DELETE(self):
                sid = self.path.rsplit("/", 1)[-1]
                pc = server.sessions.pop(sid, None)
                if pc is not None:
                    server.deleted += 1
                    asyncio.run_coroutine_threadsafe(pc.close(), server.loop)
                self.send_response(200 if pc is not None else 404)
                self.send_header("Content-Length", "0")
                self.end_headers()

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", port), Handler)
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    async def answer(self, offer):
        pc = RTCPeerConnection(RTCConfiguration(iceServers=[]))
        sid = str(len(self.sessions) + self.deleted + 1)
        self.sessions[sid] = pc
        await self.on_offer(pc)
        await pc.setRemoteDescription(RTCSessionDescription(sdp=offer, type="offer"))
        self.on_remote(pc)
        await pc.setLocalDescription(await pc.createAnswer())
        return sid, pc.localDescription.sdp

    def on_remote(self, pc):
        pass


async def whip_server(port, seconds):
    stats = {"video_frames": 0, "audio_frames": 0, "width": 0, "height": 0, "offers": 0}
    connected = asyncio.Event()

    async def consume(track):
        try:
            while True:
                frame = await track.recv()
                connected.set()
                if track.kind == "video":
                    stats["video_frames"] += 1
                    stats["width"], stats["height"] = frame.width, frame.height
                else:
                    stats["audio_frames"] += 1
        except MediaStreamError:
            pass

    async def on_offer(pc):
        stats["offers"] += 1

        @pc.on("track")
        def on_track(track):
            asyncio.ensure_future(consume(track))

    server = Server(port, on_offer)
    print(json.dumps({"listening": port}), flush=True)
    await connected.wait()
    await asyncio.sleep(seconds)
    stats["deleted"] = server.deleted
    stats["authorization"] = server.authorization
    print(json.dumps(stats), flush=True)


async def whep_server(port, seconds, codec):
    mime = {"h264": "video/H264", "vp8": "video/VP8"}[codec]

    async def on_offer(pc):
        pass

    server = Server(port, on_offer)

    def add_tracks(pc):
        for t in pc.getTransceivers():
            if t.kind == "video":
                t.sender.replaceTrack(Pattern())
                prefs = [c for c in RTCRtpSender.getCapabilities("video").codecs
                         if c.mimeType == mime or c.mimeType == "video/rtx"]
                t.setCodecPreferences(prefs)
            else:
                t.sender.replaceTrack(AudioStreamTrack())
            t.direction = "sendonly"

    server.on_remote = add_tracks
    print(json.dumps({"listening": port}), flush=True)
    await asyncio.sleep(seconds)
    print(json.dumps({"sessions": len(server.sessions) + server.deleted,
                      "deleted": server.deleted}), flush=True)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("mode", choices=["whep", "whip", "offer", "whip-server", "whep-server"])
    ap.add_argument("url", nargs="?")
    ap.add_argument("--seconds", type=float, default=5.0)
    ap.add_argument("--codec", choices=["h264", "vp8"], default="h264")
    ap.add_argument("--pli", type=int, default=0)
    ap.add_argument("--audio", choices=["opus", "pcmu", "pcma"], default="opus")
    a = ap.parse_args()
    if a.mode == "whip-server":
        asyncio.run(whip_server(int(a.url), a.seconds))
    elif a.mode == "whep-server":
        asyncio.run(whep_server(int(a.url), a.seconds, a.codec))
    elif a.mode == "offer":
        asyncio.run(offer())
    elif a.mode == "whep":
        asyncio.run(whep(a.url, a.seconds, a.pli))
    else:
        asyncio.run(whip(a.url, a.seconds, a.codec, a.audio))


if __name__ == "__main__":
    main()
