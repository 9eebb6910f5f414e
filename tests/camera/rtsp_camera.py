#!/usr/bin/python3
"""A camera-like RTSP server for pull-source tests: GStreamer's RTSP server (gst-rtsp-server
through python3-gi) serving H264 + AAC test signals at rtsp://127.0.0.1:PORT/MOUNT.

Usage: rtsp_camera.py PORT [MOUNT] [--user U --pass P] [--protocols tcp|udp|all]
Prints "ready" once listening; runs until killed.
"""
import argparse
import sys

import gi

gi.require_version("Gst", "1.0")
gi.require_version("GstRtsp", "1.0")
gi.require_version("GstRtspServer", "1.0")
from gi.repository import GLib, Gst, GstRtsp, GstRtspServer  # noqa: E402

PIPELINE = (
    "( videotestsrc is-live=true pattern=ball "
    "! video/x-raw,width=320,height=240,framerate=30/1 "
    "! x264enc tune=zerolatency key-int-max=30 bframes=0 "
    "! video/x-h264,profile=baseline ! rtph264pay name=pay0 pt=96 config-interval=1 "
    "audiotestsrc is-live=true wave=sine "
    "! audio/x-raw,rate=44100,channels=2 ! audioconvert ! avenc_aac "
    "! rtpmp4gpay name=pay1 pt=97 )"
)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("port")
    ap.add_argument("mount", nargs="?", default="cam")
    ap.add_argument("--user")
    ap.add_argument("--pass", dest="password")
    ap.add_argument("--protocols", default="all")
    args = ap.parse_args()

    Gst.init(None)
    server = GstRtspServer.RTSPServer()
    server.set_address("127.0.0.1")
    server.set_service(args.port)
    factory = GstRtspServer.RTSPMediaFactory()
    factory.set_launch(PIPELINE)
    factory.set_shared(True)
    protocols = {
        "tcp": GstRtsp.RTSPLowerTrans.TCP,
        "udp": GstRtsp.RTSPLowerTrans.UDP,
    }.get(args.protocols)
    if protocols is not None:
        factory.set_protocols(protocols)
    if args.user:
        auth = GstRtspServer.RTSPAuth()
        token = GstRtspServer.RTSPToken()
        token.set_string("media.factory.role", args.user)
        auth.add_basic(GstRtspServer.RTSPAuth.make_basic(args.user, args.password), token)
        server.set_auth(auth)
        permissions = GstRtspServer.RTSPPermissions()
        permissions.add_role_from_structure(
            Gst.Structure.new_from_string(
                f"{args.user}, media.factory.access=(boolean)true, "
                "media.factory.construct=(boolean)true"
            )
        )
        factory.set_permissions(permissions)
    server.get_mount_points().add_factory("/" + args.mount, factory)
    if server.attach(None) == 0:
        print(f"cannot listen on port {args.port}", file=sys.stderr)
        sys.exit(1)
    print("ready", flush=True)
    GLib.MainLoop().run()


if __name__ == "__main__":
    main()
