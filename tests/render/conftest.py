"""GL fixtures: one offscreen context for the render tests, or a skip that says why."""

from __future__ import annotations

import numpy as np
import pytest

from viewfinder.frame import Frame

SIZE = (1280, 720)


@pytest.fixture(scope="module")
def gl_context():
    """An offscreen OpenGL 3.3 core context (hidden glfw window under X, else EGL)."""
    from viewfinder.render.context import DisplayUnavailable, create_context

    try:
        ctx = create_context(True, SIZE)
    except DisplayUnavailable as exc:
        pytest.skip(f"no OpenGL context: {exc}")
    yield ctx
    ctx.close()


class SyntheticSource:
    """A FrameSource of RGGB frames mosaicked from a fixed sRGB picture (no optics).

    ``picture`` (h, w, 3) uint8; frames are 10-bit with black level 64.
    """

    def __init__(self, picture: np.ndarray, name: str = "synthetic") -> None:
        lin = (picture.astype(np.float64) / 255.0) ** 2.2
        h, w = picture.shape[:2]
        raw = np.empty((h, w), np.uint16)
        sites = {(0, 0): 0, (0, 1): 1, (1, 0): 1, (1, 1): 2}
        for (dy, dx), c in sites.items():
            raw[dy::2, dx::2] = np.round(64 + lin[dy::2, dx::2, c] * (1023 - 64))
        self.raw = raw
        self.name = name
        self.seq = 0
        self.closed = False

    def read(self) -> Frame:
        import time

        time.sleep(0.01)  # a sensor's pace: the ring does not fill a core with copies
        self.seq += 1
        return Frame(self.raw, "RGGB", black_level=64, bits=10, seq=self.seq)

    def close(self) -> None:
        self.closed = True


def half_sharp_picture(h: int = 240, w: int = 320) -> np.ndarray:
    """Fine checker texture: sharp on the left half, heavily blurred on the right half."""
    import cv2

    yy, xx = np.mgrid[0:h, 0:w]
    tex = (((yy // 3 + xx // 3) % 2) * 150 + 50).astype(np.uint8)
    blurred = cv2.GaussianBlur(tex, (0, 0), 6)
    out = tex.copy()
    out[:, w // 2 :] = blurred[:, w // 2 :]
    return np.repeat(out[..., None], 3, axis=2)
