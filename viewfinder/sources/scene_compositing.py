"""Layer plumbing of the scene renderer: "over" compositing of premultiplied RGBA layers
(Numba) and the padding of a sharp layer into the source of its blur."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import cv2
import numba
import numpy as np


def _over_py(dst: np.ndarray, layer: np.ndarray) -> None:
    """``dst = dst * (1 - alpha) + rgb`` for a premultiplied RGBA ``layer``, in place."""
    h, w = dst.shape[:2]
    one = np.float32(1.0)
    for y in numba.prange(h):
        for x in range(w):
            t = one - layer[y, x, 3]
            for c in range(3):
                dst[y, x, c] = dst[y, x, c] * t + layer[y, x, c]


_over_par = numba.njit(parallel=True, fastmath=True, cache=True)(_over_py)
_over_ser = numba.njit(fastmath=True, cache=True)(_over_py)


def _over(dst: np.ndarray, layer: np.ndarray) -> None:
    # Small windows (autofocus) run serially: no thread-pool wake-up, and an autofocus sweep
    # in another thread never launches a parallel region next to the reader's (numba's
    # fallback "workqueue" threading layer is not thread-safe).
    (_over_ser if dst.shape[0] * dst.shape[1] < 1 << 18 else _over_par)(dst, layer)


def _blur_source(
    sharp: Any,
    have: tuple[int, int, int, int],
    need: tuple[int, int, int, int],
    plane_box: tuple[int, int, int, int],
    pad: Callable[[Any, tuple, str], Any],
) -> Any:
    """The sharp layer over the ``need`` box (y0, x0, y1, x1) from what it covers (``have``):
    zeros beyond the plane's edges, a mirror image where the plane goes on beyond ``have``."""
    ry0, rx0, ry1, rx1 = have
    ny0, nx0, ny1, nx1 = need
    py0, px0, py1, px1 = plane_box
    sy0, sx0, sy1, sx1 = max(ry0, ny0), max(rx0, nx0), min(ry1, ny1), min(rx1, nx1)
    src = sharp[sy0 - ry0 : sy1 - ry0, sx0 - rx0 : sx1 - rx0]
    mirror = (
        (sy0 - max(py0, ny0), min(py1, ny1) - sy1),
        (sx0 - max(px0, nx0), min(px1, nx1) - sx1),
        (0, 0),
    )
    mirror = tuple((max(a, 0), max(b, 0)) for a, b in mirror)
    zeros = (
        (sy0 - ny0 - mirror[0][0], ny1 - sy1 - mirror[0][1]),
        (sx0 - nx0 - mirror[1][0], nx1 - sx1 - mirror[1][1]),
    )
    return pad(pad(src, mirror[:2], "reflect"), zeros, "constant")


def _pad(a: np.ndarray, widths: tuple, mode: str) -> np.ndarray:
    """``np.pad`` of the first two axes, ``reflect`` or zeros, by OpenCV (several times
    faster) when it can."""
    (t, b), (l, r) = widths
    if not (t or b or l or r):
        return a
    h, w = a.shape[:2]
    if mode == "reflect" and (max(t, b) >= h or max(l, r) >= w):
        return np.pad(a, ((t, b), (l, r), (0, 0)), mode="reflect")  # repeated mirroring
    border = cv2.BORDER_REFLECT_101 if mode == "reflect" else cv2.BORDER_CONSTANT
    out = cv2.copyMakeBorder(a, t, b, l, r, border, value=(0, 0, 0, 0))
    return out.reshape(h + t + b, w + l + r, a.shape[2])


def _xp_pad(xp: Any) -> Callable[[Any, tuple, str], Any]:
    """The padding of :func:`_pad` for array module ``xp``."""

    def pad(a: Any, widths: tuple, mode: str) -> Any:
        if not any(a or b for a, b in widths):
            return a
        return xp.pad(a, (*widths, (0, 0)), mode=mode)

    return pad
