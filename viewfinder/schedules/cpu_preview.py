"""The fused preview on the CPU (Numba): raw mosaic -> view in two parallel passes.

Same maths as ``kernels/vf_preview.cuh``: normalise into a mirror-padded float mosaic, then
for each view pixel demosaic its footprint, area-average, apply the colour matrix and look
the tone curve up in a table. No full-size RGB image is ever written, so a 1080p frame fits
the 30 fps budget on two cores. The tests hold it to the NumPy stage chain.

Two schedules of the second pass. At 1:1 (:func:`view_from_padded`) every site is
demosaiced. When the view is smaller (:func:`view_from_split`) nothing is demosaiced site by
site: the demosaic (bilinear or MHC) is linear and its 5x5 kernels are symmetric, so the area
mean of the demosaiced sites of a view pixel is a fixed weighted sum of the mosaic. Per view
row, the mosaic rows of its footprint are first summed vertically into six rows (per row
parity of the demosaiced site: the site's row, the rows at +-1, at +-2), then per site
parity a few horizontal taps of those six rows give R, G and B (:func:`split_taps`: the
kernel coefficients, taken from the per-site demosaic itself), and the horizontal area taps
shrink them. Equal to the per-site demosaic then area mean up to float rounding
(~1e-6), 3-4x less work at a 4x shrink; the mosaic is stored with its even and odd columns
apart (:func:`normalize_split`) so that every loop reads unit-stride rows and vectorises.
"""

from __future__ import annotations

import numba
import numpy as np
from numba import njit, prange

# (OMP_WAIT_POLICY=PASSIVE is set in viewfinder/__init__.py, before any Numba loop runs.)

PAD = 2  # MHC reads two sites away
# float32 constants: float64 literals would promote the demosaic to float64 (the CUDA
# kernel computes in float32, and float32 vectorises twice as wide)
F025, F05, F0125, F15, F2, F4, F5, F6 = (np.float32(c) for c in (0.25, 0.5, 0.125, 1.5, 2, 4, 5, 6))
#: prange iterations a thread takes at a time. Numba's default (0) splits a loop statically,
#: one equal share per thread: when another thread of the viewer (the window, llvmpipe, the
#: assists) holds one of the two cores, the whole loop waits for the share queued behind it
#: (measured here: 23-31 ms instead of 14 ms for a 1080p frame). Small dynamic chunks let
#: the free core take the work over.
NORMALIZE_CHUNK = 64  # sensor rows
VIEW_CHUNK = 1  # bands of 16 view rows


def normalize_padded(
    raw: np.ndarray, site_black: np.ndarray, site_scale: np.ndarray, padded: np.ndarray
) -> None:
    """padded[y + 2, x + 2] = clip((raw[y, x] - site_black[y & 1, x & 1])
    * site_scale[y & 1, x & 1], 0, 1), borders mirrored (-1 -> 1).

    ``raw`` (H, W) uint16 DN; ``site_black`` and ``site_scale`` (2, 2) float32 per site of the
    CFA block; ``padded`` (H + 4, W + 4) float32, written.
    """
    site_black = np.ascontiguousarray(np.broadcast_to(site_black, (2, 2)), dtype=np.float32)
    with numba.parallel_chunksize(NORMALIZE_CHUNK):
        _normalize_padded(raw, site_black, site_scale, padded)


def view_from_padded(
    p: np.ndarray,
    colors: np.ndarray,
    method: int,
    iy: np.ndarray,
    wy: np.ndarray,
    ix: np.ndarray,
    wx: np.ndarray,
    ccm: np.ndarray,
    lut: np.ndarray,
    out_linear: np.ndarray,
    out_display: np.ndarray,
    out_rgba: np.ndarray,
) -> None:
    """Fill the view buffers from the padded mosaic (see :func:`_view_from_padded`).

    ``method`` 0 bilinear, 1 MHC; ``iy``/``wy`` (h, ty) and ``ix``/``wx`` (w, tx) area taps;
    ``out_linear``/``out_display`` (h, w, 3) float32, ``out_rgba`` (h, w, 4) uint8.
    """
    with numba.parallel_chunksize(VIEW_CHUNK):
        _view_from_padded(
            p, colors, method, iy, wy, ix, wx, ccm, lut, out_linear, out_display, out_rgba
        )


def normalize_split(
    raw: np.ndarray, site_black: np.ndarray, site_scale: np.ndarray, split: np.ndarray
) -> None:
    """:func:`normalize_padded` with the padded columns apart by parity:
    ``split[yy, q, n]`` is ``padded[yy, 2 n + q]``; ``split`` (H + 4, 2, (W + 4) / 2) float32."""
    site_black = np.ascontiguousarray(np.broadcast_to(site_black, (2, 2)), dtype=np.float32)
    with numba.parallel_chunksize(NORMALIZE_CHUNK):
        _normalize_split(raw, site_black, site_scale, split)


def linear_taps(colors: np.ndarray, method: int) -> np.ndarray:
    """The demosaic as weights of the padded mosaic: ``C[c, a, b, r, s]`` float32 (3, 2, 2, 3, 3).

    Colour ``c`` at a site of row parity ``a`` and column parity ``b`` is the sum over
    ``r, s`` in 0..2 of ``C * (the sum of the mosaic at rows +-r and columns +-s)`` (distance 0:
    the site's own row or column, counted once). Read off :func:`_demosaic_row` by impulses,
    so it is that demosaic's maths exactly; its kernels are symmetric (checked).
    """
    C = np.zeros((3, 2, 2, 3, 3), np.float32)
    out = np.zeros((12, 3), np.float32)
    p = np.zeros((12 + 2 * PAD, 12 + 2 * PAD), np.float32)
    for a in range(2):
        for b in range(2):
            y, x = 4 + a, 4 + b
            K = np.zeros((3, 5, 5), np.float32)
            for dy in range(-2, 3):
                for dx in range(-2, 3):
                    p[...] = 0.0
                    p[y + PAD + dy, x + PAD + dx] = 1.0
                    _demosaic_row(p, colors, method, y, x, x, out)
                    K[:, dy + 2, dx + 2] = out[x]
            if not (np.array_equal(K, K[:, ::-1]) and np.array_equal(K, K[:, :, ::-1])):
                raise AssertionError("demosaic kernel not symmetric")
            C[:, a, b] = K[:, 2:, 2:]
    return C


# The terms of view_from_split's three outputs per column parity, as (row set, r, s): row set
# 0 the rows of the G site's parity in that column, 1 those of the R or B site; outputs G,
# "A" (the colour of that column's R/B site) and "B" (the other one). For MHC: G = the G
# site + the R/B site's green kernel; A = the G site's vertical kernel + the R/B site;
# B = the G site's horizontal kernel + the R/B site's diagonal kernel. Bilinear fits in it.
_SPLIT_TERMS = (
    ((0, 0, 0), (1, 0, 0), (1, 0, 1), (1, 0, 2), (1, 1, 0), (1, 2, 0)),
    ((0, 0, 0), (0, 0, 2), (0, 1, 0), (0, 1, 1), (0, 2, 0), (1, 0, 0)),
    (
        (0, 0, 0),
        (0, 0, 1),
        (0, 0, 2),
        (0, 1, 1),
        (0, 2, 0),
        (1, 0, 0),
        (1, 0, 2),
        (1, 1, 1),
        (1, 2, 0),
    ),
)


def split_taps(colors: np.ndarray, method: int) -> tuple[np.ndarray, np.ndarray]:
    """:func:`view_from_split`'s arguments for a CFA (``colors`` (2, 2)) and a method:
    ``route`` int64 (2, 3), per column parity b the row parity of its G site and the colours
    A and B; ``coef`` float32 (2, 21), the coefficients of :data:`_SPLIT_TERMS` in order."""
    C = linear_taps(colors, method)
    route = np.zeros((2, 3), np.int64)
    coef = np.zeros((2, 21), np.float32)
    for b in range(2):
        a_g = 0 if colors[0, b] == 1 else 1
        if colors[a_g, b] != 1 or colors[1 - a_g, b] == 1:
            raise ValueError(f"not a Bayer pattern: {colors.tolist()}")
        c_a = int(colors[1 - a_g, b])
        route[b] = (a_g, c_a, 2 - c_a)
        used = np.zeros(C[:, :, b].shape, bool)
        i = 0
        for c, terms in zip((1, c_a, 2 - c_a), _SPLIT_TERMS, strict=True):
            for rows, r, s in terms:
                a = a_g if rows == 0 else 1 - a_g
                coef[b, i] = C[c, a, b, r, s]
                used[c, a, r, s] = True
                i += 1
        if C[:, :, b][~used].any():
            raise AssertionError("demosaic kernel outside view_from_split's terms")
    return route, coef


def view_from_split(
    split: np.ndarray,
    route: np.ndarray,
    coef: np.ndarray,
    iy: np.ndarray,
    wy: np.ndarray,
    ix: np.ndarray,
    wx: np.ndarray,
    ccm: np.ndarray,
    lut: np.ndarray,
    out_linear: np.ndarray,
    out_display: np.ndarray,
    out_rgba: np.ndarray,
) -> None:
    """:func:`view_from_padded` for a view smaller than the frame, from
    :func:`normalize_split`'s mosaic and :func:`split_taps`' ``route``/``coef``."""
    with numba.parallel_chunksize(VIEW_CHUNK):
        _view_from_split(
            split, route, coef, iy, wy, ix, wx, ccm, lut, out_linear, out_display, out_rgba
        )


@njit(inline="always")
def _reflect(i, n):  # pragma: no cover - compiled
    """Reflect-101 index (-1 -> 1) as ``numpy.pad(mode="reflect")``, also for n < PAD + 1."""
    period = 2 * (n - 1)
    i = abs(i) % period
    return period - i if i >= n else i


@njit(parallel=True, cache=True)
def _normalize_padded(raw, site_black, site_scale, padded):  # pragma: no cover - compiled
    h, w = raw.shape
    for yy in prange(h + 2 * PAD):
        y = _reflect(yy - PAD, h)
        r, out = raw[y], padded[yy]
        b0, b1 = site_black[y & 1, 0], site_black[y & 1, 1]
        s0, s1 = site_scale[y & 1, 0], site_scale[y & 1, 1]
        # interior in column pairs (even, odd): per-site constants held outside the loop and
        # no mirroring in it, so it vectorises; w is even (check_mosaic)
        for m in range(w // 2):
            v = (np.float32(r[2 * m]) - b0) * s0
            out[PAD + 2 * m] = min(max(v, np.float32(0.0)), np.float32(1.0))
            v = (np.float32(r[2 * m + 1]) - b1) * s1
            out[PAD + 2 * m + 1] = min(max(v, np.float32(0.0)), np.float32(1.0))
        for xx in (0, 1, w + PAD, w + PAD + 1):  # mirrored border columns
            x = _reflect(xx - PAD, w)
            v = (np.float32(r[x]) - site_black[y & 1, x & 1]) * site_scale[y & 1, x & 1]
            out[xx] = min(max(v, np.float32(0.0)), np.float32(1.0))


@njit(parallel=True, cache=True)
def _normalize_split(raw, site_black, site_scale, split):  # pragma: no cover - compiled
    h, w = raw.shape
    for yy in prange(h + 2 * PAD):
        y = _reflect(yy - PAD, h)
        r, even, odd = raw[y], split[yy, 0], split[yy, 1]
        b0, b1 = site_black[y & 1, 0], site_black[y & 1, 1]
        s0, s1 = site_scale[y & 1, 0], site_scale[y & 1, 1]
        for m in range(w // 2):  # sites 2m, 2m + 1: padded columns 2(m + 1), 2(m + 1) + 1
            v = (np.float32(r[2 * m]) - b0) * s0
            even[m + 1] = min(max(v, np.float32(0.0)), np.float32(1.0))
            v = (np.float32(r[2 * m + 1]) - b1) * s1
            odd[m + 1] = min(max(v, np.float32(0.0)), np.float32(1.0))
        for xx in (0, 1, w + PAD, w + PAD + 1):  # mirrored border columns
            x = _reflect(xx - PAD, w)
            v = (np.float32(r[x]) - site_black[y & 1, x & 1]) * site_scale[y & 1, x & 1]
            split[yy, xx & 1, xx >> 1] = min(max(v, np.float32(0.0)), np.float32(1.0))


@njit(inline="always")
def _demosaic_row(p, colors, method, y, x0, x1, out):  # pragma: no cover - compiled
    """RGB of sensor sites (y, x0..x1) from the padded mosaic ``p`` (bilinear or MHC) into
    ``out[x]`` (width, 3).

    One loop per column parity, so the colour of the site is known outside the loop: the
    per-site branches on the CFA colour (which cost ~3x here) leave the inner loops. Same
    expressions as the CUDA kernel's per-site demosaic.
    """
    py = y + PAD
    n2r, n1r, r0, s1r, s2r = p[py - 2], p[py - 1], p[py], p[py + 1], p[py + 2]
    for q in range(2):
        start = x0 + ((q - x0) & 1)  # first column >= x0 of this parity
        c = colors[y & 1, q]
        if c == 1:  # green: the two others from the row and the column
            ch = 0 if colors[y & 1, 1 - q] == 0 else 2  # the colour beside it in the row
            cv = 2 - ch
            if method == 1:
                for x in range(start, x1 + 1, 2):
                    px = x + PAD
                    centre = r0[px]
                    n1, s1, w1, e1 = n1r[px], s1r[px], r0[px - 1], r0[px + 1]
                    diag = n1r[px - 1] + n1r[px + 1] + s1r[px - 1] + s1r[px + 1]
                    n2, s2, w2, e2 = n2r[px], s2r[px], r0[px - 2], r0[px + 2]
                    h = (F5 * centre + F4 * (w1 + e1) - (w2 + e2) - diag + F05 * (n2 + s2)) * F0125
                    v = (F5 * centre + F4 * (n1 + s1) - (n2 + s2) - diag + F05 * (w2 + e2)) * F0125
                    out[x, ch] = h
                    out[x, 1] = centre
                    out[x, cv] = v
            else:
                for x in range(start, x1 + 1, 2):
                    px = x + PAD
                    out[x, ch] = F05 * (r0[px - 1] + r0[px + 1])
                    out[x, 1] = r0[px]
                    out[x, cv] = F05 * (n1r[px] + s1r[px])
        else:  # red or blue: green from the cross, the other colour from the diagonals
            co = 2 - c
            if method == 1:
                for x in range(start, x1 + 1, 2):
                    px = x + PAD
                    centre = r0[px]
                    n1, s1, w1, e1 = n1r[px], s1r[px], r0[px - 1], r0[px + 1]
                    diag = n1r[px - 1] + n1r[px + 1] + s1r[px - 1] + s1r[px + 1]
                    n2, s2, w2, e2 = n2r[px], s2r[px], r0[px - 2], r0[px + 2]
                    g = (F4 * centre + F2 * (n1 + s1 + w1 + e1) - (n2 + s2 + w2 + e2)) * F0125
                    o = (F6 * centre + F2 * diag - F15 * (n2 + s2 + w2 + e2)) * F0125
                    out[x, c] = centre
                    out[x, 1] = g
                    out[x, co] = o
            else:
                for x in range(start, x1 + 1, 2):
                    px = x + PAD
                    diag = n1r[px - 1] + n1r[px + 1] + s1r[px - 1] + s1r[px + 1]
                    out[x, c] = r0[px]
                    out[x, 1] = F025 * (n1r[px] + s1r[px] + r0[px - 1] + r0[px + 1])
                    out[x, co] = F025 * diag


@njit(parallel=True, cache=True, fastmath=True)
def _view_from_padded(
    p, colors, method, iy, wy, ix, wx, ccm, lut, out_linear, out_display, out_rgba
):  # pragma: no cover - compiled
    """Fill the view buffers (see module docstring).

    Separable: each sensor row is demosaiced once into a row buffer, shrunk horizontally and
    accumulated into the view rows it covers with their vertical weights. View rows go in
    bands of 16 per task; the last sensor row of one view row, which the next view row shares
    when the scale is fractional, is kept rather than demosaiced again.
    """
    vh, vw = out_rgba.shape[:2]
    width = p.shape[1] - 2 * PAD
    ty, tx = iy.shape[1], ix.shape[1]
    top = np.float32(lut.shape[0] - 1)
    first_col = ix[0, 0]
    last_col = ix[vw - 1, tx - 1]
    band = 16
    for chunk in prange((vh + band - 1) // band):
        rows = np.empty((2, width, 3), np.float32)  # [last demosaiced row, scratch]
        shrunk = np.empty((vw, 3), np.float32)
        acc = np.empty((vw, 3), np.float32)
        last_y = -1
        last = 0
        for i in range(chunk * band, min(vh, (chunk + 1) * band)):
            acc[:] = 0.0
            for a in range(ty):
                fy = wy[i, a]
                if fy == 0.0:
                    continue
                y = iy[i, a]
                if y != last_y:
                    last = 1 - last
                    _demosaic_row(p, colors, method, y, first_col, last_col, rows[last])
                    last_y = y
                    for j in range(vw):
                        r = np.float32(0.0)
                        g = np.float32(0.0)
                        b = np.float32(0.0)
                        for k in range(tx):  # padded taps: weight 0 on a valid column
                            f = wx[j, k]
                            x = ix[j, k]
                            r += f * rows[last, x, 0]
                            g += f * rows[last, x, 1]
                            b += f * rows[last, x, 2]
                        shrunk[j, 0] = r
                        shrunk[j, 1] = g
                        shrunk[j, 2] = b
                for j in range(vw):
                    acc[j, 0] += fy * shrunk[j, 0]
                    acc[j, 1] += fy * shrunk[j, 1]
                    acc[j, 2] += fy * shrunk[j, 2]
            for j in range(vw):
                r, g, b = acc[j, 0], acc[j, 1], acc[j, 2]
                for c in range(3):
                    lin = ccm[c, 0] * r + ccm[c, 1] * g + ccm[c, 2] * b
                    out_linear[i, j, c] = lin
                    q = min(max(lin, np.float32(0.0)), np.float32(1.0)) * top + np.float32(0.5)
                    d = lut[int(q)]
                    out_display[i, j, c] = d
                    out_rgba[i, j, c] = np.uint8(d * np.float32(255.0) + np.float32(0.5))
                out_rgba[i, j, 3] = 255


#: mosaic rows of one parity that view_from_split's vertical loop sums in one pass
SPLIT_ROWS = 5


@njit(inline="always")
def _split_rows(split, rows, q, n0, n1, w0, w1, w2, o0, o1, o2, add):  # pragma: no cover
    """o0/o1/o2[n] (+)= sum over k of w0/w1/w2[k] * split[rows[k], q, n0 + n]: five rows of
    one parity read once for the three rows of the vertical sum they feed."""
    p0, p1, p2 = split[rows[0], q, n0:n1], split[rows[1], q, n0:n1], split[rows[2], q, n0:n1]
    p3, p4 = split[rows[3], q, n0:n1], split[rows[4], q, n0:n1]
    a0, a1, a2, a3, a4 = w0[0], w0[1], w0[2], w0[3], w0[4]
    b0, b1, b2, b3, b4 = w1[0], w1[1], w1[2], w1[3], w1[4]
    c0, c1, c2, c3, c4 = w2[0], w2[1], w2[2], w2[3], w2[4]
    # loops from 0 over slices: a loop from a runtime start keeps Numba's negative-index
    # wraparound in the addresses, and LLVM then does not vectorise it
    if add:
        for n in range(n1 - n0):
            v0, v1, v2, v3, v4 = p0[n], p1[n], p2[n], p3[n], p4[n]
            o0[n] += a0 * v0 + a1 * v1 + a2 * v2 + a3 * v3 + a4 * v4
            o1[n] += b0 * v0 + b1 * v1 + b2 * v2 + b3 * v3 + b4 * v4
            o2[n] += c0 * v0 + c1 * v1 + c2 * v2 + c3 * v3 + c4 * v4
    else:
        for n in range(n1 - n0):
            v0, v1, v2, v3, v4 = p0[n], p1[n], p2[n], p3[n], p4[n]
            o0[n] = a0 * v0 + a1 * v1 + a2 * v2 + a3 * v3 + a4 * v4
            o1[n] = b0 * v0 + b1 * v1 + b2 * v2 + b3 * v3 + b4 * v4
            o2[n] = c0 * v0 + c1 * v1 + c2 * v2 + c3 * v3 + c4 * v4


@njit(inline="always")
def _split_combine(
    gc0, gq0, gc1, gq1, gc2, rc0, rq0, rc1, rq1, rc2, k, zg, za, zb, m0, m1
):  # pragma: no cover - compiled
    """Sites of one column parity, m0 <= m < m1: G, A and B (see _SPLIT_TERMS) from the
    vertical sums of the G site's rows (g*) and the R/B site's (r*); ``*c`` the plane of the
    site's column parity (centre m + 1, +-2 at m and m + 2), ``*q`` the other one from the
    site's left neighbour (+-1 at m and m + 1)."""
    gc0, gq0, gc1, gq1, gc2 = gc0[m0:], gq0[m0:], gc1[m0:], gq1[m0:], gc2[m0:]
    rc0, rq0, rc1, rq1, rc2 = rc0[m0:], rq0[m0:], rc1[m0:], rq1[m0:], rc2[m0:]
    zg, za, zb = zg[m0:], za[m0:], zb[m0:]
    k0, k1, k2, k3, k4, k5, k6 = k[0], k[1], k[2], k[3], k[4], k[5], k[6]
    k7, k8, k9, k10, k11, k12, k13 = k[7], k[8], k[9], k[10], k[11], k[12], k[13]
    k14, k15, k16, k17, k18, k19, k20 = k[14], k[15], k[16], k[17], k[18], k[19], k[20]
    for m in range(m1 - m0):  # from 0: see _split_rows
        g0 = gc0[m + 1]
        g0p1 = gq0[m] + gq0[m + 1]
        g0p2 = gc0[m] + gc0[m + 2]
        g1 = gc1[m + 1]
        g1p1 = gq1[m] + gq1[m + 1]
        g2 = gc2[m + 1]
        r0 = rc0[m + 1]
        r0p1 = rq0[m] + rq0[m + 1]
        r0p2 = rc0[m] + rc0[m + 2]
        r1 = rc1[m + 1]
        r1p1 = rq1[m] + rq1[m + 1]
        r2 = rc2[m + 1]
        zg[m] = k0 * g0 + k1 * r0 + k2 * r0p1 + k3 * r0p2 + k4 * r1 + k5 * r2
        za[m] = k6 * g0 + k7 * g0p2 + k8 * g1 + k9 * g1p1 + k10 * g2 + k11 * r0
        zb[m] = (
            k12 * g0
            + k13 * g0p1
            + k14 * g0p2
            + k15 * g1p1
            + k16 * g2
            + k17 * r0
            + k18 * r0p2
            + k19 * r1p1
            + k20 * r2
        )


@njit(parallel=True, cache=True, fastmath=True)
def _view_from_split(
    split, route, coef, iy, wy, ix, wx, ccm, lut, out_linear, out_display, out_rgba
):  # pragma: no cover - compiled
    """Fill the view buffers (see the module docstring). Per view row: the vertical sums
    R[3a + r] (a: row parity of the demosaiced sites, r: their rows at +-r) of the mosaic over
    the view row's footprint, both column planes; then per site parity G, A and B into Z
    (by colour); then the horizontal area taps, colour matrix and tone per view pixel."""
    vh, vw = out_rgba.shape[:2]
    half = split.shape[2]
    hp = split.shape[0]
    ty, tx = iy.shape[1], ix.shape[1]
    top = np.float32(lut.shape[0] - 1)
    m0 = ix[0, 0] >> 1
    m1 = (ix[vw - 1, tx - 1] >> 1) + 1  # sites 2 m0 .. 2 m1 - 1
    n0, n1 = m0, m1 + 2  # columns of the planes read
    groups = ((ty + 5) // 2 + SPLIT_ROWS - 1) // SPLIT_ROWS  # rows of a parity: (ty + 5) // 2
    # tap -> index into Z[c] flattened; unsigned, so no negative-index wraparound per read
    zix = ((ix & 1) * half + (ix >> 1)).astype(np.uint64)
    band = 16
    for chunk in prange((vh + band - 1) // band):
        R = np.empty((6, 2, half), np.float32)
        Z = np.empty((3, 2, half), np.float32)  # [colour, site parity, m]
        acc = np.empty((3, vw), np.float32)
        lin_row = np.empty((3, vw), np.float32)
        disp_row = np.empty((3, vw), np.float32)
        wts = np.zeros(2 * groups * SPLIT_ROWS + 6, np.float32)
        w0 = np.empty(SPLIT_ROWS, np.float32)
        w1 = np.empty(SPLIT_ROWS, np.float32)
        w2 = np.empty(SPLIT_ROWS, np.float32)
        rows = np.empty(SPLIT_ROWS, np.int64)
        for i in range(chunk * band, min(vh, (chunk + 1) * band)):
            # sensor row Y of parity e feeds R[3e] (weight f(Y)), R[3e + 2] (f(Y-2) + f(Y+2))
            # and R[3(1 - e) + 1] (f(Y-1) + f(Y+1)), f the view row's vertical area weights
            ylo = iy[i, 0]
            wts[:] = 0.0  # f(ylo - 4 + u)
            for t in range(ty):
                wts[iy[i, t] - ylo + 4] += wy[i, t]
            for e in range(2):
                y0 = ylo - 2 + ((e - ylo) & 1)
                for grp in range(groups):
                    for k in range(SPLIT_ROWS):
                        y = y0 + 2 * (grp * SPLIT_ROWS + k)
                        u = y - ylo + 4
                        w0[k] = wts[u]
                        w1[k] = wts[u - 1] + wts[u + 1]
                        w2[k] = wts[u - 2] + wts[u + 2]
                        rows[k] = min(max(y + PAD, 0), hp - 1)  # weight 0 where clamped
                    for q in range(2):
                        _split_rows(
                            split,
                            rows,
                            q,
                            n0,
                            n1,
                            w0,
                            w1,
                            w2,
                            R[3 * e, q, n0:n1],
                            R[3 * (1 - e) + 1, q, n0:n1],
                            R[3 * e + 2, q, n0:n1],
                            grp > 0,
                        )
            for b in range(2):
                ag, ca, cb = route[b, 0], route[b, 1], route[b, 2]
                ar = 1 - ag
                # site 2m (b = 0): centre plane 0 at m + 1, plane 1 at m, m + 1; site 2m + 1:
                # centre plane 1 at m + 1, plane 0 at m + 1, m + 2
                qc, qo, off = (0, 1, 0) if b == 0 else (1, 0, 1)
                _split_combine(
                    R[3 * ag, qc],
                    R[3 * ag, qo, off:],
                    R[3 * ag + 1, qc],
                    R[3 * ag + 1, qo, off:],
                    R[3 * ag + 2, qc],
                    R[3 * ar, qc],
                    R[3 * ar, qo, off:],
                    R[3 * ar + 1, qc],
                    R[3 * ar + 1, qo, off:],
                    R[3 * ar + 2, qc],
                    coef[b],
                    Z[1, b],
                    Z[ca, b],
                    Z[cb, b],
                    m0,
                    m1,
                )
            zr, zg, zb = Z[0].reshape(2 * half), Z[1].reshape(2 * half), Z[2].reshape(2 * half)
            for j in range(vw):
                r = np.float32(0.0)
                g = np.float32(0.0)
                bl = np.float32(0.0)
                for k in range(tx):  # padded taps: weight 0 on a valid column
                    f = wx[j, k]
                    z = zix[j, k]
                    r += f * zr[z]
                    g += f * zg[z]
                    bl += f * zb[z]
                acc[0, j] = r
                acc[1, j] = g
                acc[2, j] = bl
            for c in range(3):  # rows of one channel: these vectorise
                k0, k1, k2 = ccm[c, 0], ccm[c, 1], ccm[c, 2]
                lc, dc = lin_row[c], disp_row[c]
                for j in range(vw):
                    lc[j] = k0 * acc[0, j] + k1 * acc[1, j] + k2 * acc[2, j]
                for j in range(vw):
                    q = min(max(lc[j], np.float32(0.0)), np.float32(1.0)) * top + np.float32(0.5)
                    dc[j] = lut[np.uint32(q)]
            # interleaved, one output a loop over flat rows (these vectorise; a (j, c) loop
            # writing all three did not: 2.8 -> 0.65 ms a 1020x765 frame)
            ol = out_linear[i].reshape(3 * vw)
            od = out_display[i].reshape(3 * vw)
            orgba = out_rgba[i].reshape(4 * vw)
            l0, l1, l2 = lin_row[0], lin_row[1], lin_row[2]
            d0, d1, d2 = disp_row[0], disp_row[1], disp_row[2]
            for j in range(vw):
                ol[3 * j] = l0[j]
                ol[3 * j + 1] = l1[j]
                ol[3 * j + 2] = l2[j]
            for j in range(vw):
                od[3 * j] = d0[j]
                od[3 * j + 1] = d1[j]
                od[3 * j + 2] = d2[j]
            for j in range(vw):
                orgba[4 * j] = np.uint8(d0[j] * np.float32(255.0) + np.float32(0.5))
                orgba[4 * j + 1] = np.uint8(d1[j] * np.float32(255.0) + np.float32(0.5))
                orgba[4 * j + 2] = np.uint8(d2[j] * np.float32(255.0) + np.float32(0.5))
                orgba[4 * j + 3] = 255
