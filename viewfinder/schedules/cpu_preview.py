"""The fused preview on the CPU (Numba): raw mosaic -> view in two parallel passes.

Same maths as ``kernels/vf_preview.cuh``: normalise into a mirror-padded float mosaic, then
for each view pixel demosaic its footprint, area-average, apply the colour matrix and look
the tone curve up in a table. No full-size RGB image is ever written, so a 1080p frame fits
the 30 fps budget on two cores. The tests hold it to the NumPy stage chain.
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
