"""Area downscale: each view pixel is the mean of the sensor area it covers.

Averaging happens in linear light (before the tone curve), which is what the eye would see
through an optical viewfinder. Fractional pixels at the edges of a footprint count by the
fraction covered, as OpenCV's ``INTER_AREA`` does when shrinking.
"""

from __future__ import annotations

import functools
from typing import Any

import numpy as np

from ..backend import array_module


@functools.lru_cache(maxsize=32)
def area_weights(src: int, dst: int) -> tuple[np.ndarray, np.ndarray]:
    """Taps of a 1-D area resampling from ``src`` to ``dst`` samples (``dst <= src``).

    Returns
    -------
    index : (dst, taps) int64
        Source sample of each tap (padded taps repeat the last index with weight 0).
    weight : (dst, taps) float32
        Coverage weights; each row sums to 1.
    """
    if not 1 <= dst <= src:
        raise ValueError(f"area downscale needs 1 <= dst <= src, got src={src}, dst={dst}")
    scale = src / dst
    taps = int(np.ceil(scale)) + 1
    index = np.zeros((dst, taps), dtype=np.int64)
    weight = np.zeros((dst, taps), dtype=np.float64)
    for i in range(dst):
        lo, hi = i * scale, (i + 1) * scale
        first = int(np.floor(lo))
        last = min(int(np.ceil(hi)), src)
        for t, s in enumerate(range(first, last)):
            index[i, t] = s
            weight[i, t] = min(hi, s + 1) - max(lo, s)
        index[i, last - first :] = last - 1
    weight /= weight.sum(axis=1, keepdims=True)
    return index, weight.astype(np.float32)


def area_downscale(img: Any, size: tuple[int, int]) -> Any:
    """Shrink ``img`` to ``size`` by area averaging.

    Parameters
    ----------
    img : (H, W) or (H, W, C) float32 array, NumPy or CuPy
    size : (width, height) of the result, each no larger than the input

    Returns
    -------
    (height, width[, C]) float32 array of the same module.
    """
    xp = array_module(img)
    w, h = size
    H, W = img.shape[:2]
    if (w, h) == (W, H):
        return img.astype(xp.float32, copy=True)
    iy, wy = (xp.asarray(a) for a in area_weights(H, h))
    ix, wx = (xp.asarray(a) for a in area_weights(W, w))
    extra = (1,) * (img.ndim - 2)
    rows = (img[iy] * wy.reshape(h, -1, 1, *extra)).sum(axis=1, dtype=xp.float32)
    cols = (rows[:, ix] * wx.reshape(1, w, -1, *extra)).sum(axis=2, dtype=xp.float32)
    return cols.astype(xp.float32, copy=False)


#: Longest side of a default view (``view_size=None``), in pixels: the view buffers of a
#: 16384 x 16384 frame at full size would take 8 GB.
MAX_VIEW_SIDE = 8192


def view_size_for(
    frame_size: tuple[int, int], view_size: tuple[int, int] | None
) -> tuple[int, int]:
    """(width, height) of the view: ``view_size`` clamped to the frame; default the frame
    size, scaled down (aspect kept, even sides) to at most :data:`MAX_VIEW_SIDE` a side."""
    fw, fh = frame_size
    if view_size is None:
        if max(fw, fh) <= MAX_VIEW_SIDE:
            return fw, fh
        scale = MAX_VIEW_SIDE / max(fw, fh)
        return max(2, int(fw * scale) // 2 * 2), max(2, int(fh * scale) // 2 * 2)
    return min(view_size[0], fw), min(view_size[1], fh)
