#!/usr/bin/python3
"""A real RTSP server on loopback for the live-stream tests (GStreamer's gst-rtsp-server).

Serves a live H.264 test pattern at rtsp://127.0.0.1:<port>/<path>, optionally behind basic auth.
Prints one line "READY rtsp://127.0.0.1:<port>/<path>" on stdout once it listens, then runs until
SIGTERM/SIGINT (or until its stdin closes, so it never outlives the test that started it).

    /usr/bin/python3 tests/tools/rtsp_server.py --port 8554 --path cam [--user u --password p]
"""
import argparse
import signal
import sys
import threading

import gi

gi.require_version("Gst", "1.0")
gi.require_version("GstRtspServer", "1.0")
from gi.repository import GLib, Gst, GstRtspServer  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=8554, help="TCP port (0 picks a free one)")
    parser.add_argument("--path", default="cam", help="mount point, without the leading slash")
    parser.add_argument("--width", type=int, default=320)
    parser.add_argument("--height", type=int, default=240)
    parser.add_argument("--fps", type=int, default=15)
    parser.add_argument("--pattern", default="ball", help="videotestsrc pattern")
    parser.add_argument("--blur-period", type=float, default=0,
                        help="blur the picture (gaussian, sigma 4) for 1 s in every this many seconds; 0 never blurs")
    parser.add_argument("--bframes", type=int, default=0,
                        help="B-frames between references (H.264 reordering, as some cameras send); 0 sends none")
    parser.add_argument("--user", help="require basic auth with this user name")
    parser.add_argument("--password", help="password for --user")
    parser.add_argument("--watch-stdin", action="store_true", help="exit when stdin reaches end of file")
    args = parser.parse_args()

    Gst.init(None)
    server = GstRtspServer.RTSPServer()
    server.set_address("127.0.0.1")
    server.set_service(str(args.port))

    factory = GstRtspServer.RTSPMediaFactory()
    factory.set_launch(
        f"( videotestsrc is-live=true pattern={args.pattern} "
        f"! video/x-raw,width={args.width},height={args.height},framerate={args.fps}/1 "
        + ("! videoconvert ! gaussianblur name=blur sigma=0 ! videoconvert " if args.blur_period > 0 else "")
        + (f"! x264enc speed-preset=veryfast key-int-max={args.fps} bframes={args.bframes} b-adapt=false ! video/x-h264,profile=main "
           if args.bframes > 0 else f"! x264enc tune=zerolatency speed-preset=ultrafast key-int-max={args.fps} ")
        + "! rtph264pay name=pay0 pt=96 config-interval=1 )")
    factory.set_shared(True)

    if args.blur_period > 0:
        def on_media_configure(_factory, media) -> None:
            blur = media.get_element().get_by_name("blur")
            ticks = {"n": 0}
            period_ticks = max(2, int(args.blur_period * 10))

            def toggle() -> bool:
                ticks["n"] += 1
                blur.set_property("sigma", 4.0 if ticks["n"] % period_ticks < 10 else 0.0)
                return True

            GLib.timeout_add(100, toggle)

        factory.connect("media-configure", on_media_configure)

    if args.user:
        auth = GstRtspServer.RTSPAuth()
        token = GstRtspServer.RTSPToken()
        token.set_string("media.factory.role", "viewer")
        auth.add_basic(GstRtspServer.RTSPAuth.make_basic(args.user, args.password or ""), token)
        server.set_auth(auth)
        permissions = GstRtspServer.RTSPPermissions()
        permissions.add_permission_for_role("viewer", "media.factory.access", True)
        permissions.add_permission_for_role("viewer", "media.factory.construct", True)
        factory.set_permissions(permissions)

    server.get_mount_points().add_factory("/" + args.path, factory)
    if server.attach(None) == 0:
        print(f"cannot listen on 127.0.0.1:{args.port}", file=sys.stderr, flush=True)
        return 1

    loop = GLib.MainLoop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        GLib.unix_signal_add(GLib.PRIORITY_DEFAULT, sig, loop.quit)

    if args.watch_stdin:
        def watch() -> None:
            sys.stdin.read()
            GLib.idle_add(loop.quit)

        threading.Thread(target=watch, daemon=True).start()

    print(f"READY rtsp://127.0.0.1:{server.get_bound_port()}/{args.path}", flush=True)
    loop.run()
    return 0


if __name__ == "__main__":
    sys.exit(main())
