#!/usr/bin/python3
"""WHEP reader on GStreamer's webrtcbin, for Ferrocast's end-to-end tests.

  gst_whep.py URL [--codec h264|h265] [--seconds N] [--audio]

A client that is not Ferrocast's own and, unlike aiortc and Chromium, decodes H265
(rtph265depay + avdec_h265). It offers one recvonly video transceiver (H264 or H265,
payload 96) and, with --audio, one recvonly Opus transceiver (payload 111), bundled
(max-bundle, rtcp-mux). Only a 127.0.0.1 host candidate over UDP, no STUN.

The offer is POSTed once ICE gathering is complete (or after 1 s), the answer is applied,
decoded frames are counted for N seconds from then, the session is DELETEd, and ONE JSON
line goes to stdout:

  {"video_frames": .., "audio_frames": .., "width": .., "height": .., "video_codec": "H265",
   "audio_codec": "OPUS", "answer_video_codecs": ["H265", ..], "answer_audio_codecs": [..],
   "http_status": 201, "error": null}

Everything else goes to stderr. Exit status 0 when the script ran (even with 0 frames or
an HTTP error, which are reported in "error"); non-zero only when the script itself
failed (bad arguments, GStreamer or a plugin missing, an exception).

Needs the system python3 with gi (Debian: python3-gi gir1.2-gstreamer-1.0
gir1.2-gst-plugins-base-1.0 gir1.2-gst-plugins-bad-1.0 gstreamer1.0-nice
gstreamer1.0-plugins-good gstreamer1.0-plugins-bad gstreamer1.0-libav).
"""

import argparse
import hashlib
import json
import os
import re
import ssl
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.parse
import urllib.request


def log(*args):
    print("gst_whep:", *args, file=sys.stderr, flush=True)


def ecdsa_pem():
    """A self-signed ECDSA P-256 certificate and its key in PEM (openssl CLI), and the
    certificate's SHA-256 fingerprint."""
    with tempfile.TemporaryDirectory() as d:
        key, crt = os.path.join(d, "key.pem"), os.path.join(d, "cert.pem")
        subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt",
                        "ec_paramgen_curve:prime256v1", "-nodes", "-keyout", key, "-out", crt,
                        "-days", "30", "-subj", "/CN=gst_whep"],
                       check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        with open(crt) as c, open(key) as k:
            cert = c.read()
            der = ssl.PEM_cert_to_DER_cert(cert)
            fp = ":".join(f"{b:02X}" for b in hashlib.sha256(der).digest())
            return cert + k.read(), fp


def main():
    ap = argparse.ArgumentParser(description="WHEP reader on GStreamer webrtcbin")
    ap.add_argument("url")
    ap.add_argument("--codec", choices=["h264", "h265"], default="h264")
    ap.add_argument("--seconds", type=float, default=5.0)
    ap.add_argument("--audio", action="store_true", help="also offer a recvonly Opus transceiver")
    ap.add_argument("--rsa", action="store_true",
                    help="keep GStreamer's own RSA DTLS certificate instead of an ECDSA one")
    args = ap.parse_args()

    import gi

    gi.require_version("Gst", "1.0")
    gi.require_version("GstWebRTC", "1.0")
    gi.require_version("GstSdp", "1.0")
    from gi.repository import Gst, GstSdp, GstWebRTC

    Gst.init(None)
    needed = ["webrtcbin", "nicesrc", "rtpopusdepay", "opusdec", "fakesink", "queue",
              "rtph264depay", "h264parse", "avdec_h264", "rtph265depay", "h265parse", "avdec_h265"]
    missing = [e for e in needed if Gst.ElementFactory.find(e) is None]
    if missing:
        log("missing GStreamer elements:", ", ".join(missing))
        return 2

    result = {
        "video_frames": 0,
        "audio_frames": 0,
        "width": None,
        "height": None,
        "video_codec": None,
        "audio_codec": None,
        "answer_video_codecs": [],
        "answer_audio_codecs": [],
        "http_status": None,
        "error": None,
    }
    lock = threading.Lock()
    errors = []

    def fail(msg):
        with lock:
            if msg not in errors:
                errors.append(msg)
        log("error:", msg)

    pipe = Gst.Pipeline.new("whep")
    webrtc = Gst.ElementFactory.make("webrtcbin", "webrtc")
    webrtc.set_property("bundle-policy", GstWebRTC.WebRTCBundlePolicy.MAX_BUNDLE)
    webrtc.set_property("latency", 100)
    pipe.add(webrtc)

    # Loopback only: libnice skips loopback interfaces by default; adding an address
    # restricts gathering to it. No ICE-TCP candidates.
    agent = webrtc.get_property("ice-agent")
    agent.set_property("ice-tcp", False)
    agent.emit("add-local-ip-address", "127.0.0.1")

    enc = "H265" if args.codec == "h265" else "H264"
    vcaps = f"application/x-rtp,media=video,encoding-name={enc},payload=96,clock-rate=90000"
    if enc == "H264":
        # Without profile-level-id an H264 offer means Baseline level 1 (RFC 6184).
        vcaps += ",packetization-mode=(string)1,profile-level-id=(string)42e01f,level-asymmetry-allowed=(string)1"
    webrtc.emit("add-transceiver", GstWebRTC.WebRTCRTPTransceiverDirection.RECVONLY,
                Gst.Caps.from_string(vcaps))
    if args.audio:
        acaps = ("application/x-rtp,media=audio,encoding-name=OPUS,payload=111,"
                 "clock-rate=48000,encoding-params=(string)2")
        webrtc.emit("add-transceiver", GstWebRTC.WebRTCRTPTransceiverDirection.RECVONLY,
                    Gst.Caps.from_string(acaps))

    def on_video_buffer(pad, info):
        with lock:
            result["video_frames"] += 1
            if result["width"] is None:
                caps = pad.get_current_caps()
                if caps:
                    s = caps.get_structure(0)
                    ok_w, w = s.get_int("width")
                    ok_h, h = s.get_int("height")
                    if ok_w and ok_h:
                        result["width"], result["height"] = w, h
                        log("decoded video caps:", caps.to_string())
        return Gst.PadProbeReturn.OK

    def on_audio_buffer(pad, info):
        with lock:
            result["audio_frames"] += 1
        return Gst.PadProbeReturn.OK

    chains = {
        "H264": ["rtph264depay", "h264parse", "avdec_h264"],
        "H265": ["rtph265depay", "h265parse", "avdec_h265"],
        "OPUS": ["rtpopusdepay", "opusdec"],
    }

    def on_pad_added(_element, pad):
        if pad.get_direction() != Gst.PadDirection.SRC:
            return
        caps = pad.get_current_caps() or pad.query_caps(None)
        s = caps.get_structure(0)
        media = s.get_string("media")
        name = (s.get_string("encoding-name") or "").upper()
        log("pad added:", pad.get_name(), caps.to_string())
        names = chains.get(name)
        if names is None:
            fail(f"received unexpected {media} codec {name!r}")
            names = []
        elems = [Gst.ElementFactory.make(n) for n in names]
        if media == "video":
            q = Gst.ElementFactory.make("queue")
            elems.insert(0, q)
        sink = Gst.ElementFactory.make("fakesink")
        sink.set_property("sync", False)
        sink.set_property("async", False)
        elems.append(sink)
        for e in elems:
            pipe.add(e)
        for a, b in zip(elems, elems[1:]):
            a.link(b)
        for e in elems:
            e.sync_state_with_parent()
        if pad.link(elems[0].get_static_pad("sink")) != Gst.PadLinkReturn.OK:
            fail(f"could not link the {media} pad")
            return
        with lock:
            if media == "video":
                result["video_codec"] = name
            elif media == "audio":
                result["audio_codec"] = name
        if names:
            cb = on_video_buffer if media == "video" else on_audio_buffer
            sink.get_static_pad("sink").add_probe(Gst.PadProbeType.BUFFER, cb)

    webrtc.connect("pad-added", on_pad_added)

    gathered = threading.Event()

    def on_gathering(element, _pspec):
        state = element.get_property("ice-gathering-state")
        log("ice gathering:", state.value_nick)
        if state == GstWebRTC.WebRTCICEGatheringState.COMPLETE:
            gathered.set()

    webrtc.connect("notify::ice-gathering-state", on_gathering)
    webrtc.connect("notify::ice-connection-state", lambda e, _p: log(
        "ice connection:", e.get_property("ice-connection-state").value_nick))
    webrtc.connect("notify::connection-state", lambda e, _p: log(
        "peer connection:", e.get_property("connection-state").value_nick))

    if not args.rsa:
        # GStreamer 1.22 makes an RSA-2048 DTLS certificate, which Ferrocast's DTLS (str0m)
        # rejects ("no client certificate received": OpenSSL sends an empty Certificate
        # when the server only asks for ECDSA). Give each DTLS decoder an ECDSA P-256
        # certificate as soon as webrtcbin creates it (during create-offer): dtlsdec only
        # hooks its peer-certificate handler on NULL->READY, so setting "pem" any later
        # makes a connection that fails every peer certificate ("certificate verify
        # failed"). webrtcbin computes the offer's fingerprint over the whole "pem",
        # private key included, so the fingerprint lines are rewritten before the POST.
        pem, fingerprint = ecdsa_pem()

        def on_deep_element_added(_bin, _sub, element):
            factory = element.get_factory()
            if factory is not None and factory.get_name() == "dtlssrtpdec":
                log("ECDSA certificate for", element.get_name())
                element.set_property("pem", pem)

        pipe.connect("deep-element-added", on_deep_element_added)

    if pipe.set_state(Gst.State.PLAYING) == Gst.StateChangeReturn.FAILURE:
        log("pipeline failed to start")
        return 3

    location = None
    try:
        def create_offer():
            promise = Gst.Promise.new()
            webrtc.emit("create-offer", None, promise)
            promise.wait()
            reply = promise.get_reply()
            offer = reply.get_value("offer") if reply else None
            if offer is None:
                raise RuntimeError(f"create-offer failed: {reply.to_string() if reply else None}")
            # The description belongs to the promise's reply (freed with it under
            # PyGObject): rebuild it from the SDP text.
            _res, msg = GstSdp.SDPMessage.new_from_text(offer.sdp.as_text())
            return GstWebRTC.WebRTCSessionDescription.new(GstWebRTC.WebRTCSDPType.OFFER, msg)

        offer = create_offer()
        promise = Gst.Promise.new()
        webrtc.emit("set-local-description", offer, promise)
        promise.wait()
        reply = promise.get_reply()
        if reply is not None and reply.has_field("error"):
            raise RuntimeError(f"set-local-description: {reply.get_value('error')}")

        gathered.wait(1.0)
        # The local description carries the gathered candidates (webrtcbin adds them).
        local = webrtc.get_property("local-description")
        sdp = local.sdp.as_text()
        if not args.rsa:
            sdp = re.sub(r"(?m)^a=fingerprint:.*$", "a=fingerprint:sha-256 " + fingerprint, sdp)
        log("offer:\n" + sdp)

        req = urllib.request.Request(args.url, data=sdp.encode(), method="POST",
                                     headers={"Content-Type": "application/sdp"})
        status, body, answer = None, "", None
        try:
            with urllib.request.urlopen(req, timeout=10) as resp:
                status = resp.status
                body = resp.read().decode(errors="replace")
                loc = resp.headers.get("Location")
                if loc:
                    location = urllib.parse.urljoin(args.url, loc)
        except urllib.error.HTTPError as e:
            status = e.code
            body = e.read().decode(errors="replace")
        except OSError as e:
            result["error"] = f"POST {args.url}: {e}"
        result["http_status"] = status
        if status is not None:
            log(f"POST {args.url}: HTTP {status}")
            if status == 201:
                answer = body
            else:
                result["error"] = f"HTTP {status}: {body.strip()}"

        if answer is not None:
            log("answer:\n" + answer)
            kind = None
            rejected = []
            for line in answer.splitlines():
                if line.startswith("m="):
                    fields = line[2:].split()
                    kind = fields[0]
                    if len(fields) > 1 and fields[1] == "0":
                        rejected.append(kind)
                elif line.startswith("a=rtpmap:") and kind in ("video", "audio"):
                    codec = line.split(" ", 1)[1].split("/", 1)[0]
                    result[f"answer_{kind}_codecs"].append(codec)
            if rejected:
                # A rejected m-line is an answer, not a failure: report it and go on
                # reading whatever was accepted.
                result["error"] = "the answer rejects the " + " and ".join(rejected) + " m-line (port 0)"
            res, msg = GstSdp.SDPMessage.new_from_text(answer)
            if res != GstSdp.SDPResult.OK:
                result["error"] = "unparsable answer SDP"
            else:
                desc = GstWebRTC.WebRTCSessionDescription.new(GstWebRTC.WebRTCSDPType.ANSWER, msg)
                promise = Gst.Promise.new()
                webrtc.emit("set-remote-description", desc, promise)
                promise.wait()
                reply = promise.get_reply()
                if reply is not None and reply.has_field("error"):
                    fail(f"set-remote-description: {reply.get_value('error')}")

                deadline = time.monotonic() + args.seconds
                bus = pipe.get_bus()
                while True:
                    left = deadline - time.monotonic()
                    if left <= 0:
                        break
                    m = bus.timed_pop_filtered(int(min(left, 0.2) * Gst.SECOND),
                                               Gst.MessageType.ERROR | Gst.MessageType.EOS)
                    if m is None:
                        continue
                    if m.type == Gst.MessageType.ERROR:
                        err, dbg = m.parse_error()
                        fail(f"{m.src.get_name()}: {err.message}")
                        log(dbg)
                        break
                    if m.type == Gst.MessageType.EOS:
                        log("end of stream")
                        break
    finally:
        if location:
            try:
                urllib.request.urlopen(urllib.request.Request(location, method="DELETE"), timeout=5).close()
                log("DELETE", location, "ok")
            except (urllib.error.HTTPError, OSError) as e:
                log("DELETE", location, "failed:", e)
        pipe.set_state(Gst.State.NULL)

    with lock:
        msgs = ([result["error"]] if result["error"] else []) + errors
        result["error"] = "; ".join(msgs) if msgs else None
        print(json.dumps(result), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
