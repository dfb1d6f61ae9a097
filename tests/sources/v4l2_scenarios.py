"""Camera faults for the ``viewfinder`` command, run in a process of its own.

``python -m tests.sources.v4l2_scenarios SCENARIO viewfinder-args...`` installs the fake V4L2
kernel (``tests/sources/fakev4l2.py``) with one camera at /dev/video0, starts a sensor
thread that delivers a few good frames and then does what the scenario says, and runs
``viewfinder.cli.main(args)``; the exit status is the command's.
"""

from __future__ import annotations

import errno
import sys
import threading
import time
from collections.abc import Callable

import numpy as np

from tests.sources.fakev4l2 import FakeCamera, FakeKernel, pack_raw10p

W, H = 64, 48
GOOD_FRAMES = 5
PERIOD_S = 0.01


def payload(fmt: str, w: int, h: int, stride: int, seq: int) -> bytes:
    if fmt == "MJPEG":
        import cv2

        img = np.full((h, w, 3), (seq * 7) % 255, np.uint8)
        return cv2.imencode(".jpg", img)[1].tobytes()
    mosaic = np.random.default_rng(seq).integers(0, 1024, (h, w), dtype=np.uint16)
    return pack_raw10p(mosaic, stride)


def _unplug(cam: FakeCamera) -> None:
    cam.unplug()


def _replug(cam: FakeCamera) -> None:
    cam.unplug()
    time.sleep(0.7)
    cam.plug()


def _busy_after_replug(cam: FakeCamera) -> None:
    cam.unplug()
    cam.busy = True  # another program grabbed it while it was away
    cam.plug()


def _enodev(cam: FakeCamera) -> None:
    cam.dqbuf_errno = errno.ENODEV


def _eagain(cam: FakeCamera) -> None:
    cam.spurious_ready = True
    cam.emitting = False


def _silent(cam: FakeCamera) -> None:
    cam.emitting = False


def _truncated(cam: FakeCamera) -> None:
    cam.bytesused = 7


def _empty(cam: FakeCamera) -> None:
    cam.payload = lambda *a: b""


def _format_change(cam: FakeCamera) -> None:
    # the driver now sends 32x24 YUYV while the stream was set up as 64x48 RAW10
    cam.payload = lambda fmt, w, h, stride, seq: bytes(32 * 24 * 2)


#: name -> (formats, what happens after the good frames, whether frames come back)
SCENARIOS: dict[str, tuple[dict, Callable[[FakeCamera], None] | None, bool]] = {
    "healthy": ({"SRGGB10P": [(W, H)]}, None, True),
    "unplug_replug": ({"SRGGB10P": [(W, H)]}, _replug, True),
    "unplug": ({"SRGGB10P": [(W, H)]}, _unplug, False),
    "busy_after_replug": ({"SRGGB10P": [(W, H)]}, _busy_after_replug, False),
    "enodev_every_dequeue": ({"SRGGB10P": [(W, H)]}, _enodev, False),
    "eagain_ready_poll": ({"SRGGB10P": [(W, H)]}, _eagain, False),
    "no_frames": ({"SRGGB10P": [(W, H)]}, _silent, False),
    "truncated_buffers": ({"SRGGB10P": [(W, H)]}, _truncated, False),
    "format_change": ({"SRGGB10P": [(W, H)]}, _format_change, False),
    "empty_mjpeg": ({"MJPEG": [(W, H)]}, _empty, False),
    "never_a_frame": ({"SRGGB10P": [(W, H)]}, _silent, False),
}


def sensor(cam: FakeCamera, fault: Callable[[FakeCamera], None] | None, good: int) -> None:
    """Deliver ``good`` frames, apply ``fault``, then keep delivering if still emitting."""
    cam.emitting = True
    sent = 0
    while True:
        if not cam.wait_streaming(timeout=0.05):
            continue
        if sent == good and fault is not None:
            fault(cam)
            fault = None
        if cam.emitting:
            cam.emit(1)
        sent += 1
        time.sleep(PERIOD_S)


def main(argv: list[str]) -> int:
    name, args = argv[0], argv[1:]
    formats, fault, _ = SCENARIOS[name]
    good = 0 if name == "never_a_frame" else GOOD_FRAMES
    with FakeKernel() as kernel:
        cam = kernel.add(FakeCamera("/dev/video0", formats, payload))
        threading.Thread(target=sensor, args=(cam, fault, good), daemon=True).start()
        from viewfinder.cli import main as cli_main

        sys.argv = ["viewfinder", *args]
        return cli_main()  # as the console script runs it (Ctrl+C included)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
