"""Focus peaking's fast host path: serial Numba loops (called by
:class:`~viewfinder.stages.peaking.PeakingEngine`) that compute what
:mod:`~viewfinder.stages.peaking_reference` defines, and the max-pooling onto the view.

:func:`_peak_fused` does it all in one pass down the frame, a few rows of each step at a time
(the frame path); the whole-frame steps (with OpenCV's separable filter for the luma) remain
for full-resolution levels (:func:`viewfinder.stages.peaking.peaking`) and tiny frames."""

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


@_njit
def _peak_fused(
    raw,
    lut,
    far,
    t1,
    t2,
    t3,
    fg,
    peak,
    clip,
    white,
    ys,
    ye,
    xs,
    xe,
    t_ring,
    lum_ring,
    score_ring,
    work,
    out,
    count,
    hist,
    sites,
    i0,
    i1,
):  # pragma: no cover - compiled
    """Peaking levels and the RAW-clip bit, max-pooled to the view, in one pass down the frame
    that keeps only a few rows of each step, so every row stays in the cache: the stabilising
    table, the 3x3 binomial luma, the sharpness score, its 3x3 box and the levels, the cleared
    border, the clip bit and the flags pooling of ``MaxPool`` (what the whole-frame steps of
    ``PeakingEngine`` compute, in the order of the reference: the binomial vertical first).

    Rings (rows with mirrored columns): ``t_ring`` (3, W + 2), ``lum_ring`` (5, W + 4),
    ``score_ring`` (3, W + 2) float32; ``work`` (2, W) uint8 (a row's flags, the pooled rows).
    ``peak``: levels (else 0); ``clip``: set bit 2 where a site is >= ``white``. ``ys``/``ye``,
    ``xs``/``xe``: :func:`pool_ranges` of ``out`` (h, w) uint8. Steps run lazily: levels row
    y needs score rows y +- 1, score row s lum rows s +- 2, lum row l stabilised rows l +- 1
    (rows mirrored at the ends). ``count`` (with ``peak``): add every site's value, clamped to
    the table's last entry, to ``hist[sites[y & 1, x & 1]]`` ((4, len(lut)) int64, not zeroed
    here): the RAW histogram, read off the rows the table reads. Only view rows ``i0`` to
    ``i1 - 1`` and their sensor rows (from 0 for the first view row, to the end for the last):
    bands of a frame are independent (each with its own rings, work rows and histogram).
    """
    h, w = raw.shape
    top = np.uint32(lut.size - 1)  # unsigned: no negative-index wraparound in the gather
    ninth = np.float32(1.0 / 9.0)
    half = np.float32(0.5)
    quarter = np.float32(0.25)
    zero = np.float32(0.0)
    two = np.float32(2.0)
    four = np.float32(4.0)
    flags = work[0]
    pool = work[1]
    colsum = np.empty(w + 2, np.float32)
    # view rows i0 .. i1 - 1 (a band: two bands run on two threads); the steps start a few
    # rows above the band, and only its own rows are counted (the bands partition the rows)
    n = out.shape[0]
    first = 0 if i0 == 0 else ys[i0]
    end = h if i1 == n else ys[i1]
    next_score = max(1, ys[i0] - 1)
    next_lum = max(0, next_score - 2)
    next_t = max(0, next_lum - 1)
    last_y = -1
    for i in range(i0, i1):
        for y in range(ys[i], ye[i]):
            if y != last_y:
                # -- flags of row y: levels (rows and columns 2 .. n - 3), clip bit
                if peak and 2 <= y < h - 2:
                    while next_score <= y + 1:
                        s = next_score
                        while next_lum <= min(s + 2, h - 1):
                            lr = next_lum
                            while next_t <= min(lr + 1, h - 1):
                                tr = t_ring[next_t % 3]
                                rr = raw[next_t]
                                tt = tr[1:]
                                if count and first <= next_t < end:  # RAW histogram
                                    ha = hist[sites[next_t & 1, 0]]
                                    hb = hist[sites[next_t & 1, 1]]
                                    for m in range(w // 2):
                                        i0 = min(np.uint32(rr[2 * m]), top)
                                        i1 = min(np.uint32(rr[2 * m + 1]), top)
                                        tt[2 * m] = lut[i0]
                                        tt[2 * m + 1] = lut[i1]
                                        ha[i0] += 1
                                        hb[i1] += 1
                                else:
                                    for x in range(w):
                                        tt[x] = lut[min(rr[x], top)]
                                tr[0] = tr[2]
                                tr[w + 1] = tr[w - 1]
                                next_t += 1
                            a = t_ring[abs(lr - 1) % 3]
                            b = t_ring[lr % 3]
                            c = t_ring[(lr + 1 if lr + 1 < h else h - 2) % 3]
                            v = colsum  # vertical 1-2-1 on the mirrored columns
                            for x in range(w + 2):
                                v[x] = quarter * a[x] + half * b[x] + quarter * c[x]
                            lo = lum_ring[lr % 5]
                            ll = lo[2:]
                            for x in range(w):
                                ll[x] = quarter * v[x] + half * v[x + 1] + quarter * v[x + 2]
                            lo[0], lo[1] = lo[4], lo[3]
                            lo[w + 2], lo[w + 3] = lo[w], lo[w - 1]
                            next_lum += 1
                        n2 = lum_ring[abs(s - 2) % 5]
                        n1 = lum_ring[(s - 1) % 5]
                        r0 = lum_ring[s % 5]
                        s1 = lum_ring[(s + 1) % 5]
                        s2 = lum_ring[(s + 2 if s + 2 < h else 2 * h - 2 - (s + 2)) % 5]
                        so = score_ring[s % 3]
                        sc = so[1:]
                        for x in range(w):  # lum column x at x + 2
                            g1 = (
                                abs(r0[x + 3] - r0[x + 1])
                                + abs(s1[x + 2] - n1[x + 2])
                                + abs(s1[x + 3] - n1[x + 1])
                                + abs(s1[x + 1] - n1[x + 3])
                            )
                            g2 = (
                                abs(r0[x + 4] - r0[x])
                                + abs(s2[x + 2] - n2[x + 2])
                                + abs(s2[x + 4] - n2[x])
                                + abs(s2[x] - n2[x + 4])
                            )
                            sc[x] = max(half * (g1 - far * g2), zero)
                        so[0] = so[2]
                        so[w + 1] = so[w - 1]
                        next_score += 1
                    a = score_ring[(y - 1) % 3]
                    b = score_ring[y % 3]
                    c = score_ring[(y + 1) % 3]
                    for x in range(w + 2):
                        colsum[x] = a[x] + b[x] + c[x]
                    lr = lum_ring[y % 5][2:]
                    fl = flags[2:]
                    for x in range(w - 4):  # site x + 2: padded columns x + 2 .. x + 4
                        v = (colsum[x + 2] + colsum[x + 3] + colsum[x + 4]) * ninth
                        f = fg * max(lr[x + 2], zero)
                        fl[x] = (
                            np.uint8(v > max(t1, f))
                            + np.uint8(v > max(t2, two * f))
                            + np.uint8(v > max(t3, four * f))
                        )
                    flags[0] = 0
                    flags[1] = 0
                    flags[w - 2] = 0
                    flags[w - 1] = 0
                else:
                    flags[:] = 0
                if clip:
                    rr = raw[y]
                    for x in range(w):
                        flags[x] |= np.uint8(rr[x] >= white) << 2
                last_y = y
            # -- pooling: the highest level (bits 0-1), any clip (bit 2)
            if y == ys[i]:
                pool[:] = flags
            else:
                for x in range(w):
                    p, q = pool[x], flags[x]
                    pool[x] = max(p & np.uint8(3), q & np.uint8(3)) | ((p | q) & np.uint8(4))
        o = out[i]
        if out.shape[1] == w:  # 1:1 columns
            o[:] = pool
            continue
        for j in range(out.shape[1]):
            m = pool[xs[j]]
            for x in range(xs[j] + 1, xe[j]):
                q = pool[x]
                m = max(m & np.uint8(3), q & np.uint8(3)) | ((m | q) & np.uint8(4))
            o[j] = m
