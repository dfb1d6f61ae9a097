"""The assist stage's host view pass: Numba row loops and the CPU composite.

One pass over the clean 8-bit view gives luma, the display histogram and the scopes
(:meth:`CpuViewPass._scopes_cpu`); a second writes false colour, peaking and zebra into the view
in place (:meth:`CpuViewPass._composite_cpu`). :func:`viewfinder.stages.assists.composite_reference`
defines what the composite computes; kernels/assists.cu is the device path.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from numba import njit

from ..stages.peaking_settings import PEAKING_COLOURS
from ..stages.scopes import vectorscope_scales, view_histogram_reference

# -- host view pass (Numba, serial: see cpu_peaking.py on threads) -----------------------------


_nj = njit(cache=True, boundscheck=False, nogil=True)


@_nj
def _luma_rows(px32, out):  # pragma: no cover - compiled
    # RGBA8 read as little-endian uint32 (R in the low byte) so the loop vectorises.
    h, w = out.shape
    for y in range(h):
        p, o = px32[y], out[y]
        for x in range(w):
            v = p[x]
            o[x] = (54 * (v & 255) + 183 * ((v >> 8) & 255) + 19 * ((v >> 16) & 255) + 128) >> 8


@_nj
def _scope_strips(rgba, lum, step, do_w, do_p, wave, parade, loc):  # pragma: no cover
    # Column strips whose uint16 counters (4, S, 256) stay in L1; rows 0, step, 2 step...
    h, w = lum.shape
    s = loc.shape[1]
    for x0 in range(0, w, s):
        xs = min(s, w - x0)
        loc[:] = 0
        for y in range(0, h, step):
            row, lr = rgba[y, x0 : x0 + xs], lum[y, x0 : x0 + xs]
            if do_w:
                for i in range(xs):
                    loc[3, i, lr[i]] += 1
            if do_p:
                for c in range(3):
                    for i in range(xs):
                        loc[c, i, row[i, c]] += 1
        for v in range(256):
            for i in range(xs):
                if do_w:
                    wave[v, x0 + i] = loc[3, i, v]
                if do_p:
                    for c in range(3):
                        parade[c, v, x0 + i] = loc[c, i, v]


@njit(cache=True, boundscheck=False, nogil=True)  # no fastmath: cells round like the kernel
def _vectorscope_rows(px32, step, ku, kv, vs, cells):  # pragma: no cover - compiled
    n = vs.shape[0]
    half = np.float32(0.5 * n)
    flat = vs.reshape(-1)
    for y in range(0, px32.shape[0], step):
        p = px32[y]
        for x in range(p.shape[0]):  # cell indices first: this loop vectorises
            q = np.int32(p[x])
            r, g, b = q & 255, (q >> 8) & 255, (q >> 16) & 255
            yw = 54 * r + 183 * g + 19 * b
            # truncation equals floor once clamped at 0
            u = np.int32(np.float32(256 * b - yw) * ku + half)
            v = np.int32(np.float32(256 * r - yw) * kv + half)
            cells[x] = min(max(v, 0), n - 1) * n + min(max(u, 0), n - 1)
        for x in range(p.shape[0]):
            flat[cells[x]] += 1


@_nj
def _false_colour_rows(px32, lum, fc32, fc_out):  # pragma: no cover - compiled
    h, w = lum.shape
    for y in range(h):
        p, lr, o = px32[y], lum[y], fc_out[y]
        for x in range(w):
            v = fc32[lr[x]]
            o[x] = v
            p[x] = v


@_nj
def _peaking_rows(px32, pooled, peak_rgb, grey, peak_out):  # pragma: no cover - compiled
    # Blend of vf_composite: grey (luma) first in grey mode, then colour by level.
    h, w = pooled.shape
    for y in range(h):
        p, pr, o = px32[y], pooled[y], peak_out[y]
        for x in range(w):
            level = pr[x] & 3
            o[x] = level
            if grey == 0 and level == 0:
                continue
            q = np.int64(p[x])
            r, g, b = q & 255, (q >> 8) & 255, (q >> 16) & 255
            if grey:
                r = (54 * r + 183 * g + 19 * b + 128) >> 8
                g, b = r, r
            if level > 0:
                a = 128 if level == 1 else (192 if level == 2 else 256)
                r = (r * (256 - a) + peak_rgb[0] * a + 128) >> 8
                g = (g * (256 - a) + peak_rgb[1] * a + 128) >> 8
                b = (b * (256 - a) + peak_rgb[2] * a + 128) >> 8
            p[x] = (q & 0xFF000000) | r | (g << 8) | (b << 16)


@_nj
def _zebra_rows(
    clean32, px32, lum, pooled, over_t, under_t, zebra_rgb, zebra_raw, phase, pattern, zebra_out
):  # pragma: no cover - compiled; vf_zebra_flags/_colour
    # pattern[k] = 1 where ((k % period) < width): stripe "on" of (x + y + phase) without a
    # division per pixel; len(pattern) >= w + period.
    h, w = lum.shape
    period = pattern.size - w
    rgb = 1 if zebra_rgb else 0
    raw = 1 if zebra_raw else 0
    for y in range(h):
        c, p, lr, pr, o = clean32[y], px32[y], lum[y], pooled[y], zebra_out[y]
        for x in range(w):  # branch-free so it vectorises
            lm = np.int32(lr[x])
            q = c[x]
            zf = np.int32(lm >= over_t) | (np.int32(lm <= under_t) << 1)
            zf |= (np.int32((q & 255) >= over_t) << 2) * rgb
            zf |= (np.int32(((q >> 8) & 255) >= over_t) << 3) * rgb
            zf |= (np.int32(((q >> 16) & 255) >= over_t) << 4) * rgb
            zf |= (np.int32(pr[x] >> 2) & 1) * raw << 5
            o[x] = zf
        k0 = (y + phase) % period
        for x in range(w):
            zf = o[x]
            if zf == 0 or pattern[k0 + x] == 0:
                continue
            c0, c1, c2 = 0, 0, 0
            if zf & 32:
                c0, c1 = 255, 128
            elif zf & 28:
                if (zf & 28) != 28:
                    c0 = 255 if zf & 4 else 0
                    c1 = 255 if zf & 8 else 0
                    c2 = 255 if zf & 16 else 0
            elif zf & 2:
                c1, c2 = 80, 255
            p[x] = (p[x] & 0xFF000000) | c0 | (c1 << 8) | (c2 << 16)


class CpuViewPass:
    """The host view pass of :class:`viewfinder.stages.assists.Assists` (a mixin).

    Uses what ``Assists.configure`` sets: ``view_shape`` (h, w) and the buffers ``lum``,
    ``clean``, ``cells``, ``loc``, ``view_hist``, ``wave``, ``parade``, ``vs``, ``fc``, ``fc_lut``,
    ``peak``, ``zebra``; keeps the stripe pattern (``pattern``, ``_pattern_key``) between frames.
    """

    def _scopes_cpu(self, rgba: np.ndarray, settings: Any) -> None:
        """Luma, display histogram, waveform, parade and vectorscope of the clean view."""
        import cv2

        hs, sc = settings.histogram, settings.scopes
        px32 = rgba.view(np.uint32).reshape(rgba.shape[:2])
        _luma_rows(px32, self.lum)
        step = int(sc.row_step)
        if sc.waveform or sc.parade:
            _scope_strips(
                rgba,
                self.lum,
                step,
                bool(sc.waveform),
                bool(sc.parade),
                self.wave,
                self.parade,
                self.loc,
            )
        if hs.view:
            if sc.waveform and sc.parade and step == 1:  # the column sums of the scopes
                np.sum(self.parade, axis=2, out=self.view_hist[:3])
                np.sum(self.wave, axis=1, out=self.view_hist[3])
            elif self.lum.size < 1 << 24:  # calcHist counts in float32: exact below 2**24
                for c, img in enumerate((rgba, rgba, rgba, self.lum)):
                    hist = cv2.calcHist([img], [c if c < 3 else 0], None, [256], [0, 256])
                    self.view_hist[c] = hist.reshape(-1)
            else:
                self.view_hist[...] = view_histogram_reference(rgba)
        if sc.vectorscope:
            ku, kv = vectorscope_scales(self.vs.shape[0])
            _vectorscope_rows(px32, step, ku, kv, self.vs, self.cells)

    def _composite_cpu(self, rgba: np.ndarray, pooled: np.ndarray, seq: int, settings: Any) -> None:
        """Zebra flags, false colour, peaking and stripes, written into ``rgba`` in place."""
        p, z, fc = settings.peaking, settings.zebra, settings.false_colour
        px32 = rgba.view(np.uint32).reshape(rgba.shape[:2])
        if z.enabled:  # flags come from the clean view: keep it before the other overlays
            np.copyto(self.clean, px32)
        if fc.enabled:
            _false_colour_rows(
                px32,
                self.lum,
                self.fc_lut.view(np.uint32).reshape(256),
                self.fc.view(np.uint32).reshape(self.view_shape),
            )
        if p.enabled:
            _peaking_rows(
                px32,
                pooled,
                np.asarray(PEAKING_COLOURS[p.colour], np.int64),
                int(p.mode == "grey"),
                self.peak,
            )
        if z.enabled:
            sw = int(z.stripe_width)
            if self._pattern_key != sw:  # only when the width changes
                k = np.arange(self.view_shape[1] + 2 * sw)
                self.pattern = ((k % (2 * sw)) < sw).astype(np.uint8)
                self._pattern_key = sw
            _zebra_rows(
                self.clean,
                px32,
                self.lum,
                pooled,
                z.over_threshold(),
                z.under_threshold(),
                z.mode == "rgb",
                bool(z.raw),
                z.phase(seq),
                self.pattern,
                self.zebra,
            )
