"""The fused preview on the CPU (Numba): raw mosaic -> view in two parallel passes.

Same maths as ``kernels/vf_preview.cuh``: normalise into a mirror-padded float mosaic, then
for each view pixel demosaic its footprint, area-average, apply the colour matrix and look
the tone curve up in a table. No full-size RGB image is ever written, so a 1080p frame fits
the 30 fps budget on two cores. The tests hold it to the NumPy stage chain.
"""

from __future__ import annotations

import os

# OpenMP threads that spin while waiting cost 5-8x on a loaded two-core machine (measured
# here); passive waiting keeps the parallel loops fast. Must be set before Numba starts
# its OpenMP layer; a user's own setting wins.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import numpy as np  # noqa: E402
from numba import njit, prange  # noqa: E402

PAD = 2  # MHC reads two sites away


@njit(parallel=True, cache=True)
def normalize_padded(raw, black, site_scale, padded):  # pragma: no cover - compiled
    """padded[y + 2, x + 2] = clip((raw[y, x] - black) * site_scale[y & 1, x & 1], 0, 1),
    borders mirrored (-1 -> 1)."""
    h, w = raw.shape
    for yy in prange(h + 2 * PAD):
        y = yy - PAD
        if y < 0:
            y = -y
        elif y >= h:
            y = 2 * h - 2 - y
        for xx in range(w + 2 * PAD):
            x = xx - PAD
            if x < 0:
                x = -x
            elif x >= w:
                x = 2 * w - 2 - x
            v = (np.float32(raw[y, x]) - black) * site_scale[y & 1, x & 1]
            padded[yy, xx] = min(max(v, np.float32(0.0)), np.float32(1.0))


@njit(inline="always")
def _demosaic_px(p, colors, method, y, x):  # pragma: no cover - compiled
    """RGB of sensor site (y, x) from the padded mosaic ``p`` (bilinear or MHC)."""
    py, px = y + PAD, x + PAD
    c = colors[y & 1, x & 1]
    centre = p[py, px]
    n1, s1, w1, e1 = p[py - 1, px], p[py + 1, px], p[py, px - 1], p[py, px + 1]
    diag = p[py - 1, px - 1] + p[py - 1, px + 1] + p[py + 1, px - 1] + p[py + 1, px + 1]
    if method == 1:
        n2, s2, w2, e2 = p[py - 2, px], p[py + 2, px], p[py, px - 2], p[py, px + 2]
        if c == 1:
            h = (5.0 * centre + 4.0 * (w1 + e1) - (w2 + e2) - diag + 0.5 * (n2 + s2)) * 0.125
            v = (5.0 * centre + 4.0 * (n1 + s1) - (n2 + s2) - diag + 0.5 * (w2 + e2)) * 0.125
            if colors[y & 1, (x + 1) & 1] == 0:
                return h, centre, v
            return v, centre, h
        g = (4.0 * centre + 2.0 * (n1 + s1 + w1 + e1) - (n2 + s2 + w2 + e2)) * 0.125
        o = (6.0 * centre + 2.0 * diag - 1.5 * (n2 + s2 + w2 + e2)) * 0.125
    else:
        if c == 1:
            h = 0.5 * (w1 + e1)
            v = 0.5 * (n1 + s1)
            if colors[y & 1, (x + 1) & 1] == 0:
                return h, centre, v
            return v, centre, h
        g = 0.25 * (n1 + s1 + w1 + e1)
        o = 0.25 * diag
    if c == 0:
        return centre, g, o
    return o, g, centre


@njit(parallel=True, cache=True, fastmath=True)
def view_from_padded(
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
                    for x in range(first_col, last_col + 1):
                        cr, cg, cb = _demosaic_px(p, colors, method, y, x)
                        rows[last, x, 0] = cr
                        rows[last, x, 1] = cg
                        rows[last, x, 2] = cb
                    last_y = y
                    for j in range(vw):
                        r = np.float32(0.0)
                        g = np.float32(0.0)
                        b = np.float32(0.0)
                        for k in range(tx):
                            f = wx[j, k]
                            if f == 0.0:
                                continue
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
