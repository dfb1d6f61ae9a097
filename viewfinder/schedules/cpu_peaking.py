"""Focus peaking's fast host path: serial Numba loops (with OpenCV's separable filter, called by
:class:`~viewfinder.stages.peaking.PeakingEngine`) that compute what
:mod:`~viewfinder.stages.peaking_reference` defines, and the max-pooling onto the view."""

from __future__ import annotations

import numpy as np
from numba import njit

from ..stages.peaking_reference import pool_ranges

# Serial Numba on purpose: on the 2-core target, OpenMP-parallel loops next to OpenCV's own
# thread pool ran 5-8x slower than one vectorised thread (measured); OpenCV parallelises the
# filters, and the assist stage runs this raw side on a second thread (nogil).
_njit = njit(cache=True, fastmath=True, boundscheck=False, nogil=True)


@_njit
def _lut_rows(raw, lut, out):  # pragma: no cover - compiled
    top = lut.size - 1
    for y in range(raw.shape[0]):
        r, o = raw[y], out[y]
        for x in range(raw.shape[1]):
            o[x] = lut[min(r[x], top)]


@_njit
def _score_px(lum, y, x, mx, my, far):  # pragma: no cover - compiled
    # Mirrored (reflect-101) taps; mx/my rows: -1, +1, -2, +2.
    g = np.float32(0.0)
    for d in range(2):
        n, s, w, e = my[2 * d, y], my[2 * d + 1, y], mx[2 * d, x], mx[2 * d + 1, x]
        m = (
            abs(lum[y, e] - lum[y, w])
            + abs(lum[s, x] - lum[n, x])
            + abs(lum[s, e] - lum[n, w])
            + abs(lum[s, w] - lum[n, e])
        )
        g = g + m if d == 0 else g - far * m
    return max(np.float32(0.5) * g, np.float32(0.0))


@_njit
def _score_interior(lum, far, out):  # pragma: no cover - compiled
    # Rows and columns 2..n-3; i = x - 2 keeps offsets non-negative so the loop vectorises.
    h, w = lum.shape
    for y in range(2, h - 2):
        r0, n1, s1, n2, s2, o = lum[y], lum[y - 1], lum[y + 1], lum[y - 2], lum[y + 2], out[y, 2:]
        for i in range(w - 4):
            g1 = (
                abs(r0[i + 3] - r0[i + 1])
                + abs(s1[i + 2] - n1[i + 2])
                + abs(s1[i + 3] - n1[i + 1])
                + abs(s1[i + 1] - n1[i + 3])
            )
            g2 = (
                abs(r0[i + 4] - r0[i])
                + abs(s2[i + 2] - n2[i + 2])
                + abs(s2[i + 4] - n2[i])
                + abs(s2[i] - n2[i + 4])
            )
            o[i] = max(np.float32(0.5) * (g1 - far * g2), np.float32(0.0))


@_njit
def _score_border(lum, mx, my, far, out):  # pragma: no cover - compiled
    h, w = lum.shape
    for y in range(h):
        if y < 2 or y >= h - 2:
            for x in range(w):
                out[y, x] = _score_px(lum, y, x, mx, my, far)
        else:
            for x in (0, 1, w - 2, w - 1):
                out[y, x] = _score_px(lum, y, x, mx, my, far)


def _score_rows(
    lum: np.ndarray, mx: np.ndarray, my: np.ndarray, far: np.float32, out: np.ndarray
) -> None:
    _score_interior(lum, far, out)
    _score_border(lum, mx, my, far, out)


@_njit
def _box_levels_rows(score, lum, mx, my, t1, t2, t3, fg, out):  # pragma: no cover - compiled
    # 3x3 mean (reflect-101) then the three thresholds with the contrast floor fg * lum.
    h, w = score.shape
    col = np.empty(w + 2, np.float32)  # column sums with one mirrored column each side
    ninth = np.float32(1.0 / 9.0)
    for y in range(h):
        a, b, c = score[my[0, y]], score[y], score[my[1, y]]
        cs = col[1 : w + 1]
        for x in range(w):
            cs[x] = a[x] + b[x] + c[x]
        col[0] = col[2]
        col[w + 1] = col[w - 1]
        o, lr = out[y], lum[y]
        for x in range(w):
            v = (col[x] + col[x + 1] + col[x + 2]) * ninth
            f = fg * max(lr[x], np.float32(0.0))
            o[x] = (
                np.uint8(v > max(t1, f))
                + np.uint8(v > max(t2, np.float32(2.0) * f))
                + np.uint8(v > max(t3, np.float32(4.0) * f))
            )


def _mirror_table(n: int) -> np.ndarray:
    """Reflect-101 neighbour indices, (4, n) int64: rows -1, +1, -2, +2."""
    i = np.arange(n)
    rows = []
    for d in (1, 2):
        rows.append(np.abs(i - d))
        hi = i + d
        rows.append(np.where(hi >= n, 2 * n - 2 - hi, hi))
    return np.clip(np.array(rows, dtype=np.int64), 0, n - 1)


@_njit
def _maxpool_rows(a, ys, ye, xs, xe, tmp, out):  # pragma: no cover - compiled
    for i in range(out.shape[0]):
        tmp[:] = a[ys[i]]
        for y in range(ys[i] + 1, ye[i]):
            r = a[y]
            for x in range(tmp.size):
                tmp[x] = max(tmp[x], r[x])
        o = out[i]
        for j in range(out.shape[1]):
            m = tmp[xs[j]]
            for x in range(xs[j] + 1, xe[j]):
                m = max(m, tmp[x])
            o[j] = m


@_njit
def _pool_flags(a, b):  # pragma: no cover - compiled
    # the kernel's pooling (vf_peak_pool): the highest level (bits 0-1), any clip (bit 2)
    return max(a & np.uint8(3), b & np.uint8(3)) | ((a | b) & np.uint8(4))


@_njit
def _maxpool_flags_rows(a, ys, ye, xs, xe, tmp, out):  # pragma: no cover - compiled
    for i in range(out.shape[0]):
        tmp[:] = a[ys[i]]
        for y in range(ys[i] + 1, ye[i]):
            r = a[y]
            for x in range(tmp.size):
                tmp[x] = _pool_flags(tmp[x], r[x])
        o = out[i]
        for j in range(out.shape[1]):
            m = tmp[xs[j]]
            for x in range(xs[j] + 1, xe[j]):
                m = _pool_flags(m, tmp[x])
            o[j] = m


@_njit
def _or_clip(raw, white, levels):  # pragma: no cover - compiled
    for y in range(raw.shape[0]):
        r, o = raw[y], levels[y]
        for x in range(raw.shape[1]):
            o[x] |= np.uint8(r[x] >= white) << 2


class MaxPool:
    """Max-pooling of uint8 maps onto the :func:`pool_ranges` blocks (same result as
    :func:`maxpool_reference`), with its index ranges and row buffer made once.

    ``flags=True`` pools peaking flags as the CUDA kernel does (``vf_peak_pool``): the highest
    level of the block in bits 0-1 and the OR of the RAW-clip bit 2, not the byte maximum
    (which would let a clipped site of level 0, byte 4, hide a level-3 site beside it)."""

    def __init__(self, src_shape: tuple[int, int], dst_shape: tuple[int, int]) -> None:
        self.identity = tuple(src_shape) == tuple(dst_shape)
        self._ys, self._ye = pool_ranges(src_shape[0], dst_shape[0])
        self._xs, self._xe = pool_ranges(src_shape[1], dst_shape[1])
        self._tmp = np.empty(src_shape[1], np.uint8)

    def __call__(self, a: np.ndarray, out: np.ndarray, flags: bool = False) -> np.ndarray:
        if self.identity:
            np.copyto(out, a)
        elif flags:
            _maxpool_flags_rows(a, self._ys, self._ye, self._xs, self._xe, self._tmp, out)
        else:
            _maxpool_rows(a, self._ys, self._ye, self._xs, self._xe, self._tmp, out)
        return out
