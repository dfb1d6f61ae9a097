"""The viewer when its source goes silent, sends implausible data, or it never ran."""

from __future__ import annotations

import threading
import time

import numpy as np
import pytest

from viewfinder.frame import Frame
from viewfinder.pipeline import Pipeline
from viewfinder.render.viewer import Viewer
from viewfinder.settings import Settings
from viewfinder.sources.base import SourceTimeout

pytestmark = pytest.mark.gl


class SilentCamera:
    """A camera that sends nothing until ``sending`` is set, as a V4L2Source says it."""

    name = "v4l2:/dev/video9"
    path = "/dev/video9"

    def __init__(self, meta: dict | None = None) -> None:
        self.status, self.error = "camera disconnected", "/dev/video9: gone"
        self.reopen_attempts = 3
        self.sending = threading.Event()
        self.meta = meta or {}
        self.closed = False
        self.seq = 0

    def read(self, timeout: float | None = None) -> Frame:
        if not self.sending.wait(timeout):
            raise SourceTimeout(f"no frames from {self.path}")
        time.sleep(0.02)
        self.seq += 1
        data = np.full((64, 64), 300, np.uint16)
        return Frame(data, black_level=64, seq=self.seq, meta=dict(self.meta))

    def close(self) -> None:
        self.closed = True


def _viewer(ctx, source) -> Viewer:
    return Viewer(source, Pipeline(Settings(view_size=(64, 64)), backend="numpy"), ctx)


def test_close_is_safe_when_run_never_ran(gl_context):
    cam = SilentCamera()
    v = _viewer(gl_context, cam)
    v.close()  # raised "cannot join thread before it is started" and skipped the rest
    assert cam.closed


def test_a_silent_source_is_shown_with_its_reconnect_attempts_and_cleared(gl_context, capsys):
    cam = SilentCamera()
    v = _viewer(gl_context, cam)
    try:
        v.processor.start()
        t0 = time.monotonic()
        while time.monotonic() - t0 < 2.3:
            v.step(wait_s=0.05)
        assert v.message == (
            "no frames from /dev/video9 for 2 s; reconnecting (attempt 3): /dev/video9: gone"
        )
        err = capsys.readouterr().err
        assert err.count("no frames from /dev/video9") == 1  # stderr once, not every frame
        cam.sending.set()
        for _ in range(50):
            if v.step(wait_s=0.1):
                break
        v.step(wait_s=0.1)
        assert v.message == "" and "frames again from v4l2:/dev/video9" in v.recent_notes()
    finally:
        v.close()


def test_headless_run_gives_up_after_its_timeout(gl_context):
    v = _viewer(gl_context, SilentCamera())
    try:
        t0 = time.monotonic()
        with pytest.raises(SourceTimeout, match=r"^no frames from /dev/video9 for 1 s"):
            v.run(headless=True, timeout=0.8)
        assert time.monotonic() - t0 < 2.0
    finally:
        v.close()


def test_implausible_data_is_flagged_in_the_view_once(gl_context, capsys):
    warning = "9 samples (0.2 %) above the white level 4095, up to 36846"
    cam = SilentCamera(meta={"warnings": [warning]})
    cam.sending.set()
    v = _viewer(gl_context, cam)
    try:
        v.run(frames=3, headless=True, timeout=5)
        assert v.message == f"v4l2:/dev/video9: {warning}"
        assert capsys.readouterr().err.count(warning) == 1
    finally:
        v.close()
