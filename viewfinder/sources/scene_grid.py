"""The planes scene rendered straight into the sensor's mosaic, on coarse grids per plane.

What :func:`viewfinder.sources.scene.render` does with a sharp full-size RGBA layer per plane
(812 MB each for the sky at 8192 x 6144), this does with a small grid per plane and one Numba
pass over the sensor, as the motorcycle scene does (:mod:`viewfinder.sources.scene_depth`):

- Each plane gets a grid of ``g`` x ``g`` sensor pixels per cell (``g`` a whole number) holding
  its premultiplied RGBA (grey content, the charts: value and alpha, half of it), drawn
  directly at the grid's size (texture area-averaged where it is finer than a cell,
  procedural content supersampled 2 x 2 or 4 x 4 and drawn in one Numba pass where it has
  one, exact coverage of the rectangle) and blurred on the grid by the PSF
  scaled by ``1 / g`` (pairs of 1-D passes where the PSF is the sum of up to three outer
  products: the Airy core alone, or a small disc under it, as for a chart sharp at f/8; a
  piecewise-constant grid, as the colour checker's, in 2-D only near its changes).
- Charts and colour checker ("premultiplied" mode): ``g = blur // 8``, the downscaling that
  :func:`viewfinder.optics.defocus_blur` already applies to blurs of 16 px and more; the pass
  upsamples colour and alpha. With ``g = 1`` this is the full-resolution renderer's maths.
- Photos ("edge" mode, when ``g >= 2``): ``g`` is the larger of ``blur // 6`` and half a photo
  texel (their colour has no pixel-sharp edge to resolve), and the pass adds at the sensor's
  size what the grid cannot hold: the rectangle's coverage, blurred by the line spread of the
  PSF (separable: exact along the edges, an approximation within a blur radius of the
  corners), times the grid's colour (premultiplied over alpha: what lies inside the plane),
  and the surface grain (:data:`~viewfinder.sources.scene_content.DETAIL_SCALE` times finer
  than the photo) from its 128 x 128 tile blurred by the PSF in tile texels.
- The pass (:func:`_planes_pass`) composites the planes near to far ("under", stopping where
  the nearer ones are opaque), upsamples each grid bilinearly (cell centres aligned with the
  blocks of pixels they cover, as the device renderer's block means are), and writes the
  sensor's RGGB mosaic of photo-electron rates (crosstalk and exposure applied to each
  blended grid row, vignetting as a row times a column factor), or linear RGB for a window
  render.

On a device (:func:`render_planes_device`, ``Scene.render_rate_device``) the grids are drawn
and blurred on the host the same way, uploaded and kept on the device per grid and blur
(:data:`DEVICE_GRID_BYTES`), and ``kernels/scene_planes.cu`` does :func:`_planes_pass`'s
mosaic per pixel from host tables of the same taps (:func:`device_tables`): no full-size
host array, no map upload, no host sync.

No full-size RGB or RGBA array exists at any time: memory is the output, the grids (a plane
drawn at ``g = 1`` covers its rectangle only) and the sharp grids kept for reuse
(:data:`GRID_CACHE_BYTES`). The large arrays of a render (the output, the blurred grids, the
sharp grids) come from the scene's :class:`WarmPool`, which keeps freed ones for the next
render (:data:`SPARE_BYTES`): memory a process gives back and takes again costs a page fault
per page, and on a VM whose balloon reports free pages to its host (the 2-core test machines)
about 2 ms a megabyte once it has been back a few seconds, 0.4-0.5 s for a 50 MP mosaic.
"""

from __future__ import annotations

import functools
import math
import sys
import threading
from collections.abc import Callable
from typing import Any

import cv2
import numba
import numpy as np

from .. import optics
from .scene_content import DETAIL_AMPLITUDE, DETAIL_SCALE, _detail_tile

#: Grid modes: premultiplied RGBA blurred on the grid, or colour with sensor-size edges.
PREMULTIPLIED, EDGE = 0, 1
#: Bytes of sharp grids kept for reuse (a focus or aperture change only blurs again).
GRID_CACHE_BYTES = 384 << 20
#: Bytes of free arrays a scene's :class:`WarmPool` keeps for the next render.
SPARE_BYTES = 512 << 20
#: Arrays smaller than this come from NumPy as usual (their faults cost little).
WARM_MIN_BYTES = 8 << 20
#: A blur circle spans at least this many grid cells (a blurred sharp edge is then drawn
#: within a few thousandths by the bilinear upsampling).
CELLS_PER_BLUR = 8
#: The same for a photo's colour in the edge mode (the rectangle's edges come at full size).
CELLS_PER_BLUR_EDGE = 6
#: A plane's photo texel must span at least this many grid cells (else the grid is finer).
CELLS_PER_TEXEL = 2.0
#: Samples per cell side of procedural content on a coarse grid (block means).
PROCEDURAL_SUPERSAMPLING = 4
#: Surface grain of a smaller amplitude (after its blur) is left out.
GRAIN_FLOOR = 1e-3
#: The pass stops going farther once what it has seen lets less than this through.
OPAQUE = 1e-6

# columns of the per-plane integer parameters of _planes_pass
_MODE, _OFF, _GH, _GW, _CH, _JY0, _JX0, _Y0, _Y1, _X0, _X1, _EY, _EX, _GRAIN, _TILE = range(15)
# columns of the per-plane float parameters
_G, _DSX, _GU0, _GV0, _AMP = range(5)
_NI, _NF = 15, 5
_TILE_SIDE = 128


class WarmPool:
    """Large arrays kept in the process for reuse, so that a render after a pause does not
    fault its memory in again (see the module docstring).

    :meth:`empty` hands out a view of a kept buffer that no one else references (CPython's
    reference count: a buffer is free once every array viewing it is gone), the smallest
    that fits and is at most twice the size (a small grid kept in the grid cache does not
    hold a large buffer), else a new buffer, kept too. Of the free buffers, the largest up
    to ``spare_bytes`` stay; the rest are let go. Thread-safe."""

    def __init__(self, spare_bytes: int = SPARE_BYTES) -> None:
        self.spare_bytes = spare_bytes
        self._bufs: list[np.ndarray] = []  # uint8 buffers, least recently handed out first
        self._lock = threading.Lock()

    def _free(self) -> list[bool]:
        # references: the list, the loop's name, getrefcount's argument
        return [sys.getrefcount(b) <= 3 for b in self._bufs]

    def empty(self, shape: tuple[int, ...], dtype: Any = np.float32) -> np.ndarray:
        """An uninitialised C-contiguous array (a view of a kept buffer where it is large)."""
        dtype = np.dtype(dtype)
        n = math.prod(shape) * dtype.itemsize
        if n < WARM_MIN_BYTES:
            return np.empty(shape, dtype)
        with self._lock:
            free = self._free()
            fits = [i for i, f in enumerate(free) if f and n <= self._bufs[i].nbytes <= 2 * n]
            if fits:
                i = min(fits, key=lambda j: self._bufs[j].nbytes)
                buf = self._bufs.pop(i)
                free.pop(i)
            else:
                buf = np.empty(n, np.uint8)
            # the free ones beyond the budget go, the smallest first (the large ones, such as
            # the output, cost the most to fault in again), then the least recently used
            spare = sum(b.nbytes for b, f in zip(self._bufs, free, strict=True) if f)
            order = sorted((i for i, f in enumerate(free) if f), key=lambda j: self._bufs[j].nbytes)
            for i in order:
                if spare <= self.spare_bytes:
                    break
                spare -= self._bufs[i].nbytes
                self._bufs[i] = None  # type: ignore[call-overload]
            self._bufs = [b for b in self._bufs if b is not None] + [buf]
            return buf[:n].view(dtype).reshape(shape)

    def spare(self) -> int:
        """Bytes of kept buffers that no one uses now."""
        with self._lock:
            return sum(b.nbytes for b, f in zip(self._bufs, self._free(), strict=True) if f)


def warm_pool(scene: Any) -> WarmPool:
    """``scene``'s :class:`WarmPool` (made on first use)."""
    pool = getattr(scene, "_warm", None)
    if pool is None:
        with scene._lock:
            pool = getattr(scene, "_warm", None)
            if pool is None:
                pool = scene._warm = WarmPool()
    return pool


def texel_px(plane: Any, box: tuple[float, float, float, float]) -> float:
    """Sensor pixels per texel of ``plane``'s photograph (the smaller of x and y; 0 for
    procedural content, which has pixel-sharp edges)."""
    if plane.texture is None:
        return 0.0
    th, tw = plane.texture.shape[:2]
    bx0, by0, bx1, by1 = box
    return min((bx1 - bx0) / (tw * plane.tiles[0]), (by1 - by0) / (th * plane.tiles[1]))


def grid_of(plane: Any, box: tuple[float, float, float, float], coc: float) -> tuple[int, int]:
    """(g, mode) of ``plane`` whose rectangle is ``box`` (canvas px) under a blur circle of
    ``coc`` px: see the module docstring."""
    g_blur = max(1, int(coc // CELLS_PER_BLUR))
    if plane.texture is not None:
        # a photo's colour field holds no sharp edge: a coarser grid (edges come at full size)
        g_edge = max(int(coc // CELLS_PER_BLUR_EDGE), int(texel_px(plane, box) // CELLS_PER_TEXEL))
        if g_edge >= 2 and g_edge >= g_blur:
            return g_edge, EDGE
    return g_blur, PREMULTIPLIED


def line_spread(diameter_px: float, airy_px: float = 0.0) -> np.ndarray:
    """The 1-D projection of :func:`viewfinder.optics.blur_kernel` (pillbox of
    ``diameter_px`` integrated over each pixel, then the Airy core's Gaussian), odd length,
    summing to 1: the blur across a straight edge."""
    if diameter_px < 0.5 and airy_px < 1.0:
        return np.ones(1, np.float64)
    r = max(diameter_px, 0.0) / 2
    sigma = 0.172 * max(airy_px, 0.0)
    half = int(math.ceil(r + 3 * sigma)) + 1
    ss = 16
    t = (np.arange(-half * ss, (half + 1) * ss) - (ss - 1) / 2) / ss
    chord = 2 * np.sqrt(np.maximum(r * r - t * t, 0.0))
    lsf = chord.reshape(2 * half + 1, ss).sum(axis=1)
    if lsf.sum() <= 0:
        lsf = np.zeros(2 * half + 1)
        lsf[half] = 1.0
    if sigma > 0.05:
        x = np.arange(-half, half + 1)
        gauss = np.exp(-0.5 * (x / sigma) ** 2)
        lsf = np.convolve(lsf, gauss / gauss.sum(), mode="same")
    return lsf / lsf.sum()


def edge_profile(lo: float, hi: float, start: int, stop: int, lsf: np.ndarray) -> np.ndarray:
    """Coverage of pixels ``start..stop-1`` by the interval [lo, hi) (pixel-edge coordinates),
    blurred by ``lsf``, float32."""
    half = lsf.size // 2
    x = np.arange(start - half, stop + half, dtype=np.float64)
    cover = np.clip(np.minimum(x + 1 - lo, hi - x), 0.0, 1.0).astype(np.float32)
    if half == 0:
        return cover
    return np.convolve(cover, lsf, mode="valid").astype(np.float32)


def blurred_grain(coc: float, airy: float, dsx: float) -> np.ndarray:
    """The surface grain's tile blurred by the PSF in tile texels (``dsx`` px each), wrapping."""
    tile = _detail_tile()
    d, a = coc / dsx, airy / dsx
    if d < 0.5 and a < 1.0:
        return np.ascontiguousarray(tile)
    if d > 4 * _TILE_SIDE:
        return np.zeros_like(tile)
    k = _psf(d, a)
    half = k.shape[0] // 2
    padded = np.pad(tile, half, mode="wrap")
    out = cv2.filter2D(padded, -1, k, borderType=cv2.BORDER_CONSTANT)
    return np.ascontiguousarray(out[half : half + _TILE_SIDE, half : half + _TILE_SIDE])


def blur(grid: np.ndarray, diameter: float, airy: float, dst: np.ndarray) -> np.ndarray:
    """``grid`` (h, w, C) float32 convolved with :func:`viewfinder.optics.blur_kernel`
    (``diameter``, ``airy``; zero outside) into ``dst``.

    Where the grid is piecewise constant (the colour checker's patches, the charts' flat
    parts) only what lies within the PSF's reach of a change is blurred in 2-D: a run of
    identical rows farther than the PSF's radius from any other row is the 1-D blur of one
    row by the PSF's column sums (its line spread), copied; within the bands of rows near a
    change, a run of identical columns likewise by the row sums; the rest (boxes around the
    corners and the non-constant content) by :func:`blur_full`. Exact up to float rounding:
    a sharp colour checker at 50 MP blurs by a 4-13 px disc in tens of milliseconds instead
    of OpenCV's 0.4 s DFT."""
    k = _psf(diameter, airy)
    half = k.shape[0] // 2
    h, w = grid.shape[:2]
    if half < PIECEWISE_MIN_HALF or grid.ndim != 3 or not grid.flags.c_contiguous:
        return blur_full(grid, diameter, airy, dst)
    terms = _separable(diameter, airy)
    if terms is not None and len(terms) == 1:  # two 1-D passes: cheaper than finding changes
        return blur_full(grid, diameter, airy, dst)
    rough_rows = _rough(_row_changes(grid), half, h)
    if terms is not None and rough_rows.mean() > PIECEWISE_MAX_SEPARABLE:
        return blur_full(grid, diameter, airy, dst)  # not worth looking for columns
    rows = _runs(rough_rows)
    kx, ky = _line_kernels(diameter, airy)
    # the plan: per run of rows, its runs of columns (those near a change blurred in 2-D)
    plan, area = [], 0
    for a, b, is_rough in rows:
        cols = []
        if is_rough:
            sa, sb = max(a - half, 0), min(b + half, h)
            cols = _runs(_rough(_col_changes(grid, sa, sb), half, w))
            area += (b - a) * sum(c1 - c0 for c0, c1, c_rough in cols if c_rough)
        # where most of it is near a change (a photo, a Siemens star), the whole grid's blur
        # is cheaper than its pieces (the more so for pairs of 1-D passes)
        if area > (PIECEWISE_MAX_SEPARABLE if terms else PIECEWISE_MAX_2D) * h * w:
            return blur_full(grid, diameter, airy, dst)
        plan.append((a, b, is_rough, cols))
    for a, b, is_rough, cols in plan:
        if not is_rough:  # identical rows, far from any change: one row's 1-D blur
            row = cv2.filter2D(grid[a : a + 1], -1, kx, borderType=cv2.BORDER_CONSTANT)
            dst[a:b] = row.reshape(1, w, -1)
            continue
        for c0, c1, c_rough in cols:
            if not c_rough:  # identical columns: one column's 1-D blur
                col = _padded(grid, a - half, b + half, c0, c0 + 1)
                col = cv2.filter2D(col, -1, ky, borderType=cv2.BORDER_CONSTANT)
                dst[a:b, c0:c1] = col[half : half + b - a].reshape(b - a, 1, -1)
                continue
            box = _padded(grid, a - half, b + half, c0 - half, c1 + half)
            out = blur_full(box, diameter, airy, np.empty_like(box))
            dst[a:b, c0:c1] = out[half : half + b - a, half : half + c1 - c0]
    return dst


#: PSFs of a smaller radius (cells) go straight to :func:`blur_full` (cheap anyway).
PIECEWISE_MIN_HALF = 3
#: :func:`blur` blurs the whole grid when more than this fraction of it is near a change
#: (pairs of 1-D passes; OpenCV's 2-D kernel or DFT).
PIECEWISE_MAX_SEPARABLE, PIECEWISE_MAX_2D = 0.3, 0.8


@functools.lru_cache(maxsize=64)
def _line_kernels(diameter: float, airy: float) -> tuple[np.ndarray, np.ndarray]:
    """The PSF's column sums as a (1, k) kernel and its row sums as a (k, 1) one, float32."""
    k = _psf(diameter, airy).astype(np.float64)
    kx = k.sum(axis=0).astype(np.float32).reshape(1, -1)
    ky = k.sum(axis=1).astype(np.float32).reshape(-1, 1)
    kx.setflags(write=False)
    ky.setflags(write=False)
    return kx, ky


def _rough(changes: np.ndarray, half: int, n: int) -> np.ndarray:
    """(n,) bool: rows (or columns) with a change (``changes[i]``: i differs from i - 1,
    zero outside; n + 1 entries) within ``half`` of them, i.e. at i - half + 1 .. i + half."""
    cs = np.concatenate(([0], np.cumsum(changes, dtype=np.int64)))
    i = np.arange(n)
    hi = np.minimum(i + half, n) + 1
    lo = np.clip(i - half + 1, 0, n + 1)
    return cs[hi] - cs[lo] > 0


def _runs(mask: np.ndarray) -> list[tuple[int, int, bool]]:
    """Runs of equal values of a bool array: [(start, stop, value), ...]."""
    if not mask.size:
        return []
    cuts = np.flatnonzero(mask[1:] != mask[:-1]) + 1
    starts = np.concatenate(([0], cuts))
    stops = np.concatenate((cuts, [mask.size]))
    return [(int(a), int(b), bool(mask[a])) for a, b in zip(starts, stops, strict=True)]


def _padded(grid: np.ndarray, r0: int, r1: int, c0: int, c1: int) -> np.ndarray:
    """``grid[r0:r1, c0:c1]`` with zeros where it reaches outside, contiguous."""
    h, w = grid.shape[:2]
    out = np.zeros((r1 - r0, c1 - c0, *grid.shape[2:]), grid.dtype)
    ya, yb, xa, xb = max(r0, 0), min(r1, h), max(c0, 0), min(c1, w)
    out[ya - r0 : yb - r0, xa - c0 : xb - c0] = grid[ya:yb, xa:xb]
    return out


@numba.njit(parallel=True, cache=True)
def _row_changes(grid):  # pragma: no cover - numba
    """(h + 1,) uint8: row i differs from row i - 1 (rows -1 and h are zero)."""
    h, w, c = grid.shape
    out = np.zeros(h + 1, np.uint8)
    for i in numba.prange(h + 1):
        for x in range(w):
            differ = False
            for k in range(c):
                a = grid[i, x, k] if i < h else np.float32(0.0)
                b = grid[i - 1, x, k] if i > 0 else np.float32(0.0)
                if a != b:
                    differ = True
                    break
            if differ:
                out[i] = 1
                break
    return out


@numba.njit(parallel=True, cache=True)
def _col_changes(grid, r0, r1):  # pragma: no cover - numba
    """(w + 1,) uint8: column j of rows ``r0:r1`` differs from column j - 1 (columns -1 and
    w are zero). Row by row in chunks (contiguous reads), the chunks' answers or-ed."""
    h, w, c = grid.shape
    n = max(min(16, r1 - r0), 1)
    part = np.zeros((n, w + 1), np.uint8)
    zero = np.float32(0.0)
    for t in numba.prange(n):
        seen = part[t]
        for i in range(r0 + (r1 - r0) * t // n, r0 + (r1 - r0) * (t + 1) // n):
            for k in range(c):
                if grid[i, 0, k] != zero:
                    seen[0] = 1
                if grid[i, w - 1, k] != zero:
                    seen[w] = 1
            for j in range(1, w):
                if seen[j]:
                    continue
                for k in range(c):
                    if grid[i, j, k] != grid[i, j - 1, k]:
                        seen[j] = 1
                        break
    out = np.zeros(w + 1, np.uint8)
    for t in range(n):
        for j in range(w + 1):
            out[j] |= part[t, j]
    return out


def blur_full(grid: np.ndarray, diameter: float, airy: float, dst: np.ndarray) -> np.ndarray:
    """``grid`` (h, w, C) float32 convolved with :func:`viewfinder.optics.blur_kernel`
    (``diameter``, ``airy``; zero outside) into ``dst``, all of it.

    A PSF that is a sum of a few outer products of a row and a column (to 1e-6 of its sum;
    :func:`_separable`) runs as that many pairs of 1-D passes, in strips of rows: a blur
    circle within a pixel (the Airy core's Gaussian alone) is one, a small disc under the
    Airy core at f/8 two to four. Over a sharp 50 MP frame's chart board that is 2-4x less
    than the 2-D kernel (OpenCV's DFT from 13 x 13)."""
    terms = _separable(diameter, airy)
    if terms is None:
        psf = _psf(diameter, airy)
        return cv2.filter2D(grid, -1, psf, dst=dst, borderType=cv2.BORDER_CONSTANT)
    if len(terms) == 1:
        kx, ky = terms[0]
        return cv2.sepFilter2D(grid, -1, kx, ky, dst=dst, borderType=cv2.BORDER_CONSTANT)
    h = grid.shape[0]
    half = terms[0][1].size // 2
    step = 256
    for r0 in range(0, h, step):
        r1 = min(r0 + step, h)
        s0, s1 = max(r0 - half, 0), min(r1 + half, h)
        src = grid[s0:s1]
        out = dst[r0:r1]
        for i, (kx, ky) in enumerate(terms):
            part = cv2.sepFilter2D(src, -1, kx, ky, borderType=cv2.BORDER_CONSTANT)
            part = part.reshape(src.shape)[r0 - s0 : r0 - s0 + (r1 - r0)]
            if i == 0:
                out[...] = part
            else:
                out += part
    return dst


#: At most this many 1-D pairs stand for a 2-D PSF (more cost as much as the 2-D kernel).
MAX_SEPARABLE_TERMS = 3


@functools.lru_cache(maxsize=64)
def _separable(diameter: float, airy: float) -> tuple[tuple[np.ndarray, np.ndarray], ...] | None:
    """((kernel x, kernel y), ...) whose outer products sum to :func:`_psf` within 1e-6 of
    its sum (absolute, summed over the kernel), float32; None when that takes more than
    :data:`MAX_SEPARABLE_TERMS` pairs, or the kernel is small enough to run as is."""
    k = _psf(diameter, airy).astype(np.float64)
    u, sv, vt = np.linalg.svd(k)
    for r in range(1, MAX_SEPARABLE_TERMS + 1):
        if r > 1 and k.shape[0] < 13:  # OpenCV's direct 2-D kernel is cheap below 13 x 13
            return None
        approx = (u[:, :r] * sv[:r]) @ vt[:r]
        if np.abs(approx - k).sum() <= 1e-6:
            terms = []
            for i in range(r):
                kx = (vt[i] * sv[i]).astype(np.float32)
                ky = u[:, i].astype(np.float32)
                kx.setflags(write=False)
                ky.setflags(write=False)
                terms.append((kx, ky))
            return tuple(terms)
    return None


@functools.lru_cache(maxsize=64)
def _psf(diameter: float, airy: float) -> np.ndarray:
    """:func:`viewfinder.optics.blur_kernel`, kept (a sweep asks for the same ones again)."""
    k = optics.blur_kernel(diameter, airy)
    k.setflags(write=False)
    return k


def _round_up(v: int, step: int) -> int:
    return -(-v // step) * step


def plane_specs(
    scene: Any, canvas: Any, lens: Any, window: tuple[int, int, int, int]
) -> list[dict[str, Any]]:
    """What the pass needs of each plane reaching ``window``, near to far: its grid (g, mode,
    the cells to draw and blur), where it reaches on the canvas, its blur."""
    y0, x0, y1, x1 = window
    pixel_um = canvas.pixel_mm * 1000
    airy = optics.airy_disc_px(lens.f_number, pixel_um)
    specs = []
    for plane in scene.planes:
        coc = float(
            optics.coc_px(lens.focal_mm, lens.f_number, lens.focus_m, plane.depth_m, pixel_um)
        )
        reach = optics.blur_radius_px(coc, airy)
        box = canvas.box_px(plane)
        bx0, by0, bx1, by1 = box
        py0, px0, py1, px1 = math.floor(by0), math.floor(bx0), math.ceil(by1), math.ceil(bx1)
        ry0, rx0 = max(py0 - reach, y0), max(px0 - reach, x0)
        ry1, rx1 = min(py1 + reach, y1), min(px1 + reach, x1)
        if ry1 <= ry0 or rx1 <= rx0:
            continue
        g, mode = grid_of(plane, box, coc)
        grey = mode == PREMULTIPLIED and getattr(plane.content, "grey", None) is not None
        grid_blur = optics.blur_radius_px(coc / g, airy / g)
        pad = _round_up(-(-reach // g) + grid_blur + 2, 8)  # steps: a sweep reuses the grid
        cells = (
            max(py0 // g, y0 // g) - pad,
            max(px0 // g, x0 // g) - pad,
            min(-(-py1 // g), -(-y1 // g)) + pad,
            min(-(-px1 // g), -(-x1 // g)) + pad,
        )
        specs.append(
            {
                "plane": plane,
                "box": box,
                "coc": coc,
                "airy": airy,
                "g": g,
                "mode": mode,
                "ch": 2 if grey else 4,
                "cells": cells,
                "reach": (ry0, rx0, ry1, rx1),
            }
        )
    return specs[::-1]  # near to far


def sharp_grid(scene: Any, canvas: Any, spec: dict[str, Any]) -> np.ndarray:
    """The sharp premultiplied RGBA grid of a plane, kept for reuse."""
    plane, g, mode, cells = spec["plane"], spec["g"], spec["mode"], spec["cells"]
    ch = spec.get("ch", 4)
    key = (id(plane), canvas, g, mode, ch, cells)
    cache = scene._grids
    with scene._lock:
        hit = cache.hit(key)
    if hit is not None:
        return hit
    from .scene import _render_box

    cy0, cx0, cy1, cx1 = cells
    # procedural content is sampled at pixel centres: supersample it (block means of s x s)
    s = 1
    if plane.texture is None:
        # samples at most 2.5 px apart (4 a side from g = 6): far finer than the grid's blur
        s = PROCEDURAL_SUPERSAMPLING if g >= 6 else min(g, 2)
    box = tuple(v * s / g for v in spec["box"])
    m_per_px = canvas.pixel_mm / canvas.focal_mm * plane.depth_m * g / s
    pool = warm_pool(scene)
    gh, gw = cy1 - cy0, cx1 - cx0
    drawn = pool.empty((gh * s, gw * s, ch))
    grid = _render_box(plane, box, m_per_px, cy0 * s, cx0 * s, cy1 * s, cx1 * s, out=drawn)
    if s > 1:  # exact block means (an integer factor)
        grid = pool.empty((gh, gw, ch))
        done = cv2.resize(drawn, (gw, gh), dst=grid, interpolation=cv2.INTER_AREA)
        if done is not grid:  # OpenCV made its own
            np.copyto(grid, done.reshape(gh, gw, ch))
    del drawn
    with scene._lock:
        cache.keep(key, grid, GRID_CACHE_BYTES)
    return grid


def _grid_blur(spec: dict[str, Any]) -> tuple[float, float] | None:
    """The blur of ``spec``'s grid in cells (diameter, Airy core), or None where the sharp
    grid is used as it is."""
    g = spec["g"]
    if spec["coc"] / g < 0.5 and spec["airy"] / g < 1.0:
        return None
    return spec["coc"] / g, spec["airy"] / g


def _blur_grid(grid: np.ndarray, spec: dict[str, Any], dst: np.ndarray) -> np.ndarray:
    """``spec``'s sharp ``grid`` blurred (or copied) into ``dst``."""
    b = _grid_blur(spec)
    if b is None:
        np.copyto(dst, grid)
    else:
        blur(grid, b[0], b[1], dst)
    return dst


def _pass_params(
    specs: list[dict[str, Any]],
) -> tuple[np.ndarray, np.ndarray, list[int], list[np.ndarray], list[np.ndarray]]:
    """The per-plane parameters of :func:`_planes_pass` for ``specs`` (near to far): its
    integer and float columns, each grid's size (floats; their offsets in ``pi[:, _OFF]``),
    the edge mode's row and column profiles and the blurred grain tiles (offsets in
    ``pi[:, _EY]``, ``pi[:, _EX]``, ``pi[:, _TILE]``)."""
    n = len(specs)
    pi = np.zeros((max(n, 1), _NI), np.int64)
    pf = np.zeros((max(n, 1), _NF), np.float64)
    sizes, edges, tiles = [], [], []
    e_off = t_off = off = 0
    for i, s in enumerate(specs):
        cy0, cx0, cy1, cx1 = s["cells"]
        ch = s["ch"]
        ry0, rx0, ry1, rx1 = s["reach"]
        pi[i, [_MODE, _OFF, _GH, _GW, _CH, _JY0, _JX0]] = (
            s["mode"],
            off,
            cy1 - cy0,
            cx1 - cx0,
            ch,
            cy0,
            cx0,
        )
        pi[i, [_Y0, _Y1, _X0, _X1]] = (ry0, ry1, rx0, rx1)
        pf[i, _G] = s["g"]
        sizes.append((cy1 - cy0) * (cx1 - cx0) * ch)
        off += sizes[-1]
        if s["mode"] == EDGE:
            bx0, by0, bx1, by1 = s["box"]
            lsf = line_spread(s["coc"], s["airy"])
            ey = edge_profile(by0, by1, ry0, ry1, lsf)
            ex = edge_profile(bx0, bx1, rx0, rx1, lsf)
            pi[i, _EY], pi[i, _EX] = e_off, e_off + ey.size
            edges += [ey, ex]
            e_off += ey.size + ex.size
            # the grain of _render_box, at the sensor's size where it is coarser than a pixel
            plane = s["plane"]
            th, tw = plane.texture.shape[:2]
            sx = (bx1 - bx0) / (tw * plane.tiles[0])
            sy = (by1 - by0) / (th * plane.tiles[1])
            dsx = sx / DETAIL_SCALE
            tile = blurred_grain(s["coc"], s["airy"], dsx) if dsx >= 1.0 else None
            # left out where the blur has flattened it below a thousandth of the reflectance
            if tile is not None and DETAIL_AMPLITUDE * float(np.abs(tile).max()) >= GRAIN_FLOOR:
                pi[i, _GRAIN], pi[i, _TILE] = 1, t_off
                pf[i, [_DSX, _GU0, _GV0, _AMP]] = (
                    dsx,
                    bx0 + 0.5 * sx - 0.5,
                    by0 + 0.5 * sy - 0.5,
                    DETAIL_AMPLITUDE,
                )
                tiles.append(tile.ravel())
                t_off += _TILE_SIDE * _TILE_SIDE
    return pi, pf, sizes, edges, tiles


def render_planes(
    scene: Any,
    canvas: Any,
    lens: Any,
    window: tuple[int, int, int, int],
    matrix: np.ndarray | None = None,
    vig: tuple[np.ndarray, np.ndarray] | None = None,
    mosaic: bool = False,
    progress: Callable[[float, str], None] | None = None,
) -> np.ndarray:
    """The planes over canvas ``window`` (y0, x0, y1, x1): the RGGB mosaic (h, w) float32 of
    ``matrix @ rgb`` times the vignetting ``vig = (rows, columns)`` with ``mosaic`` (the
    window starts on even pixels), else linear RGB (h, w, 3) float32 (``matrix`` and ``vig``
    default to none)."""
    y0, x0, y1, x1 = window
    h, w = y1 - y0, x1 - x0
    m = np.eye(3, dtype=np.float32) if matrix is None else np.asarray(matrix, np.float32)
    specs = plane_specs(scene, canvas, lens, window)
    n = len(specs)
    pi, pf, sizes, edges, tiles = _pass_params(specs)
    pool = warm_pool(scene)
    # the output first: the previous one's buffer, free by now, is its size exactly
    out = pool.empty((h, w, 1 if mosaic else 3))
    buf = pool.empty((max(sum(sizes), 1),))
    index = {id(s["plane"]): i for i, s in enumerate(specs)}
    planes = scene.planes
    for k, plane in enumerate(planes):  # far to near, as render() reports them
        if progress is not None and k:
            progress(k / len(planes), f"plane {k} of {len(planes)} ({planes[k - 1].name})")
        i = index.get(id(plane))
        if i is None:  # out of the window
            continue
        s = specs[i]
        grid = sharp_grid(scene, canvas, s)
        gh, gw = grid.shape[:2]
        o = int(pi[i, _OFF])
        # blurred straight into the pass's buffer (no full-size temporary for a g = 1 plane)
        dst = buf[o : o + sizes[i]].reshape(gh, gw, int(pi[i, _CH]))
        _blur_grid(grid, s, dst)
        del grid
    edge_buf = np.concatenate(edges) if edges else np.zeros(1, np.float32)
    tile_buf = np.concatenate(tiles) if tiles else np.zeros(1, np.float32)
    if vig is None:
        vy, vx = np.ones(h, np.float32), np.ones(w, np.float32)
    else:
        vy, vx = (np.ascontiguousarray(v, dtype=np.float32) for v in vig)
    row_len = int(max((pi[:n, _GW] * 4).max(initial=0), 1))
    _planes_pass(y0, x0, pi[:n], pf[:n], m, buf, edge_buf, tile_buf, row_len, vy, vx, mosaic, out)
    return out[:, :, 0] if mosaic else out


# ----- the compositing pass on the device (kernels/scene_planes.cu) ---------------------------

#: Bytes of blurred grids a scene keeps on each device (a plane whose grid and blur are those
#: of a recent render is neither blurred nor uploaded again).
DEVICE_GRID_BYTES = 1 << 30
#: Sensor rows and columns of a block of ``vf_scene_planes`` (VF_PLANES_BY, VF_PLANES_BX).
PLANES_BLOCK = (8, 32)
#: Ints a plane in the kernel's plane table (VF_PLANES_NI).
_DEVICE_NI = 8


def _taps(coord: np.ndarray, g: float, j0: int, n: int) -> tuple[np.ndarray, ...]:
    """:func:`_cell` for every canvas column (or row) of ``coord``: (c0, c1, weight of c1)."""
    pos = (coord + 0.5) * (1.0 / g) - 0.5 - j0
    i = np.floor(pos)
    f = (pos - i).astype(np.float32)
    i = i.astype(np.int64)
    return np.clip(i, 0, n - 1), np.clip(i + 1, 0, n - 1), f


def _tile_taps(coord: np.ndarray, origin: float, dsx: float) -> tuple[np.ndarray, ...]:
    """The grain tile's two rows (or columns) and the second's weight at canvas ``coord``."""
    v = (coord - origin) * (1.0 / dsx)
    j = np.floor(v)
    f = (v - j).astype(np.float32)
    j = j.astype(np.int64)
    return j & (_TILE_SIDE - 1), (j + 1) & (_TILE_SIDE - 1), f


def device_tables(
    window: tuple[int, int, int, int],
    pi: np.ndarray,
    pf: np.ndarray,
    edges: list[np.ndarray],
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """The host tables of ``vf_scene_planes`` for the planes ``pi``, ``pf`` (near to far) over
    canvas ``window``: the plane table (n, 8) and grain amplitudes (n,); per plane and row
    (n, h, 4) int (the two grid rows' offsets in the plane's grid, the two grain tile rows'
    offsets in the tiles) and (n, h, 3) float (second grid row's weight, edge row coverage,
    second tile row's weight); per plane and column (n, 4, w) int (the two cells' offsets in a grid
    row, the two tile columns) and (n, 3, w) float (second cell's weight, edge column
    coverage, second tile column's weight). The positions are :func:`_planes_pass`'s own
    (float64), so the kernel divides and floors nothing. At least one plane (zeros)."""
    y0, x0, y1, x1 = window
    h, w = y1 - y0, x1 - x0
    n = pi.shape[0]
    k = max(n, 1)
    pint = np.zeros((k, _DEVICE_NI), np.int64)
    amp = np.zeros(k, np.float32)
    rows_i = np.zeros((k, h, 4), np.int64)
    rows_f = np.ones((k, h, 3), np.float32)
    cols_i = np.zeros((k, 4, w), np.int64)
    cols_f = np.ones((k, 3, w), np.float32)
    yc, xc = np.arange(y0, y1), np.arange(x0, x1)
    flat = np.concatenate(edges) if edges else np.zeros(1, np.float32)
    for p in range(n):
        g, ch, gw = pf[p, _G], pi[p, _CH], pi[p, _GW]
        r0, r1, rows_f[p, :, 0] = _taps(yc, g, pi[p, _JY0], pi[p, _GH])
        rows_i[p, :, 0], rows_i[p, :, 1] = r0 * gw * ch, r1 * gw * ch
        c0, c1, cols_f[p, 0] = _taps(xc, g, pi[p, _JX0], gw)
        cols_i[p, 0], cols_i[p, 1] = c0 * ch, c1 * ch
        ry0, ry1, rx0, rx1 = pi[p, _Y0], pi[p, _Y1], pi[p, _X0], pi[p, _X1]
        grain = int(pi[p, _GRAIN] == 1)
        pint[p, :7] = (pi[p, _MODE], ch, ry0 - y0, ry1 - y0, rx0 - x0, rx1 - x0, grain)
        if pi[p, _MODE] == EDGE:
            ey, ex = pi[p, _EY], pi[p, _EX]
            rows_f[p, ry0 - y0 : ry1 - y0, 1] = flat[ey : ey + ry1 - ry0]
            cols_f[p, 1, rx0 - x0 : rx1 - x0] = flat[ex : ex + rx1 - rx0]
        if grain:
            t0, t1, rows_f[p, :, 2] = _tile_taps(yc, pf[p, _GV0], pf[p, _DSX])
            base = pi[p, _TILE]
            rows_i[p, :, 2], rows_i[p, :, 3] = base + t0 * _TILE_SIDE, base + t1 * _TILE_SIDE
            cols_i[p, 2], cols_i[p, 3], cols_f[p, 2] = _tile_taps(xc, pf[p, _GU0], pf[p, _DSX])
            amp[p] = pf[p, _AMP]
    return pint, amp, rows_i, rows_f, cols_i, cols_f


def device_pass(
    xp: Any,
    window: tuple[int, int, int, int],
    pi: np.ndarray,
    pf: np.ndarray,
    m: np.ndarray,
    grids: list[Any],
    edges: list[np.ndarray],
    tiles: list[np.ndarray],
    vy: np.ndarray,
    vx: np.ndarray,
) -> Any:
    """Launch ``vf_scene_planes`` on ``xp``'s current stream: the (h, w) float32 RGGB mosaic
    of :func:`_planes_pass` (``mosaic=True``) over canvas ``window`` (any origin: its parity
    picks the sites) from the device ``grids`` (each plane's grid, C-contiguous float32, as
    ``pi`` describes it; the kernel reads them where they are, through a table of their
    addresses). Per call three uploads (the addresses, one int32 table: :func:`device_tables`
    and the planes each block row and block column meets, one float32 table: the grain
    tiles, the colour matrix, the vignetting), the output's allocation, one launch; no host
    sync. At most 32 planes."""
    from ..kernels import get_kernel

    y0, x0, y1, x1 = window
    h, w = y1 - y0, x1 - x0
    n = pi.shape[0]
    if n > 32:
        raise ValueError(f"the scene kernel composites at most 32 planes, got {n}")
    if len(grids) != n:
        raise ValueError(f"{n} planes need {n} grids, got {len(grids)}")
    for p, grid in enumerate(grids):
        size = int(pi[p, _GH] * pi[p, _GW] * pi[p, _CH])
        if grid.dtype != np.float32 or grid.size != size or not grid.flags.c_contiguous:
            raise ValueError(f"plane {p}'s grid must be {size} contiguous float32 values")
        if size >= 1 << 31:
            raise ValueError(f"plane {p}'s grid exceeds 2**31 floats: the kernel's offsets")
    pint, amp, rows_i, rows_f, cols_i, cols_f = device_tables(window, pi, pf, edges)
    tile_buf = np.concatenate(tiles) if tiles else np.zeros(1, np.float32)
    by, bx = PLANES_BLOCK
    nby, nbx = -(-h // by), -(-w // bx)
    # bit p: plane p's reach meets the block row (column); reaches in window coordinates
    row_mask = np.zeros(nby, np.uint32)
    col_mask = np.zeros(nbx, np.uint32)
    b_y, b_x = np.arange(nby) * by, np.arange(nbx) * bx
    for p in range(n):
        ry0, ry1, rx0, rx1 = pint[p, 2:6]
        row_mask |= np.where((b_y + by > ry0) & (b_y < ry1), np.uint32(1 << p), np.uint32(0))
        col_mask |= np.where((b_x + bx > rx0) & (b_x < rx1), np.uint32(1 << p), np.uint32(0))
    masks = np.concatenate([row_mask, col_mask]).view(np.int32)
    parts_i = [pint.ravel(), rows_i.ravel(), cols_i.ravel()]
    ints = np.concatenate([*(a.astype(np.int32) for a in parts_i), masks])
    parts = [amp, rows_f.ravel(), cols_f.ravel(), np.asarray(m, np.float32).ravel(), vy, vx]
    parts.append(tile_buf)
    floats = np.concatenate([np.asarray(a, np.float32).ravel() for a in parts])
    # the addresses: the arrays stay referenced by the caller (render_planes_device: the
    # device grid cache); freed later, CuPy's pool reuses their memory only after this
    # stream's work
    ptrs = np.array([g.data.ptr for g in grids] or [0], np.int64)
    ptrs_d = xp.asarray(ptrs)
    ints_d = xp.asarray(ints)
    floats_d = xp.asarray(floats)
    out = xp.empty((h, w), xp.float32)
    k = pint.shape[0]
    i_rows, i_cols = pint.size, pint.size + rows_i.size
    i_masks = i_cols + cols_i.size
    f_rows = k
    f_cols = f_rows + rows_f.size
    f_m = f_cols + cols_f.size
    f_vy = f_m + 9
    f_vx = f_vy + h
    f_tiles = f_vx + w
    i32 = np.int32
    kernel = get_kernel("scene_planes", "vf_scene_planes", xp=xp)
    kernel(
        ((w + bx - 1) // bx, (h + by - 1) // by, 1),
        (bx, by, 1),
        (
            ptrs_d,
            ints_d[:i_rows],
            floats_d[:f_rows],
            ints_d[i_rows:i_cols],
            floats_d[f_rows:f_cols],
            ints_d[i_cols:i_masks],
            floats_d[f_cols:f_m],
            floats_d[f_tiles:],
            floats_d[f_m:f_vy],
            floats_d[f_vy:f_vx],
            floats_d[f_vx:f_tiles],
            i32(y0 & 1),
            i32(x0 & 1),
            ints_d[i_masks : i_masks + nby],
            ints_d[i_masks + nby :],
            out,
            i32(w),
            i32(h),
        ),
    )
    return out


def device_grid(scene: Any, canvas: Any, spec: dict[str, Any], xp: Any) -> Any:
    """``spec``'s blurred grid on the device ``xp`` (flat float32), kept there by the host
    grid cache's key and the blur (:data:`DEVICE_GRID_BYTES`, least recently used first): a
    miss draws the sharp grid (or takes it from the host cache), blurs it on the host and
    uploads it (one allocation, one copy; a grid used sharp is uploaded from the host grid
    cache as it is); a hit does neither."""
    plane, g, mode, cells = spec["plane"], spec["g"], spec["mode"], spec["cells"]
    key = (xp.__name__, id(plane), canvas, g, mode, spec.get("ch", 4), cells, _grid_blur(spec))
    cache = scene._device_grids
    with scene._lock:
        hit = cache.hit(key)
    if hit is not None:
        return hit
    grid = sharp_grid(scene, canvas, spec)
    if _grid_blur(spec) is not None:
        grid = _blur_grid(grid, spec, warm_pool(scene).empty(grid.shape))
    on_device = xp.asarray(grid.reshape(-1))
    del grid
    with scene._lock:
        cache.keep(key, on_device, DEVICE_GRID_BYTES)
    return on_device


def render_planes_device(
    scene: Any,
    canvas: Any,
    lens: Any,
    window: tuple[int, int, int, int],
    matrix: np.ndarray,
    vig: tuple[np.ndarray, np.ndarray],
    xp: Any,
    progress: Callable[[float, str], None] | None = None,
) -> Any:
    """:func:`render_planes` (``mosaic=True``) on the device ``xp``: the grids drawn and
    blurred on the host as there (only those not kept on the device: :func:`device_grid`),
    and ``kernels/scene_planes.cu`` composites them where they are into the (h, w) float32
    mosaic on the current stream. No host sync, no full-size host array. A render uploads
    each grid not kept on the device and three small tables (:func:`device_pass`), and
    allocates those and the output. ``progress`` as :func:`render_planes` reports it."""
    y0, x0, y1, x1 = window
    h, w = y1 - y0, x1 - x0
    m = np.asarray(matrix, np.float32)
    specs = plane_specs(scene, canvas, lens, window)
    pi, pf, _, edges, tiles = _pass_params(specs)
    vy, vx = (np.ascontiguousarray(v, dtype=np.float32) for v in vig)
    if vy.shape != (h,) or vx.shape != (w,):
        raise ValueError(f"vignetting must be ({h},) rows and ({w},) columns")
    on_device: list[Any] = [None] * len(specs)
    index = {id(s["plane"]): i for i, s in enumerate(specs)}
    planes = scene.planes
    for k, plane in enumerate(planes):  # far to near, as render_planes draws them
        if progress is not None and k:
            progress(k / len(planes), f"plane {k} of {len(planes)} ({planes[k - 1].name})")
        i = index.get(id(plane))
        if i is not None:
            on_device[i] = device_grid(scene, canvas, specs[i], xp)
    n = len(specs)
    return device_pass(xp, window, pi[:n], pf[:n], m, on_device, edges, tiles, vy, vx)


def depth_window(scene: Any, canvas: Any, window: tuple[int, int, int, int]) -> np.ndarray:
    """Depth (m) of the nearest plane covering each pixel centre of ``window`` (a pixel is
    covered where the rectangle covers at least half of it), (h, w) float32; ``inf`` for the
    sky, NaN where no plane is."""
    y0, x0, y1, x1 = window
    depth = np.full((y1 - y0, x1 - x0), np.inf, np.float32)
    for plane in scene.planes:  # far to near
        bx0, by0, bx1, by1 = canvas.box_px(plane)
        xs, ys = np.arange(x0, x1), np.arange(y0, y1)
        ax = np.clip(np.minimum(xs + 1 - bx0, bx1 - xs), 0, 1).astype(np.float32)
        ay = np.clip(np.minimum(ys + 1 - by0, by1 - ys), 0, 1).astype(np.float32)
        cols, rows = np.flatnonzero(ax > 0), np.flatnonzero(ay > 0)
        if not cols.size or not rows.size:
            continue
        c0, c1, r0, r1 = cols[0], cols[-1] + 1, rows[0], rows[-1] + 1
        cov = ay[r0:r1, None] * ax[None, c0:c1] >= 0.5
        depth[r0:r1, c0:c1][cov] = plane.depth_m
    return depth


@numba.njit(inline="always", fastmath=True)
def _cell(xc, inv_g, j0, gw):  # pragma: no cover - numba
    """Bilinear taps of canvas column (or row) ``xc`` on a grid of pitch ``1 / inv_g`` whose
    first cell is ``j0``: (c0, c1, weight of c1), clamped to the ``gw`` cells."""
    pos = (xc + 0.5) * inv_g - 0.5 - j0
    i = math.floor(pos)
    return min(max(i, 0), gw - 1), min(max(i + 1, 0), gw - 1), np.float32(pos - i)


@numba.njit(parallel=True, fastmath=True, cache=True)
def _column_taps(x0, w, pi, pf):  # pragma: no cover - numba
    """Per plane and window column (within the plane's reach): the bilinear taps' offsets
    into a blended grid row (``q0``, ``q1``: cell times 4) and weight of the second (``fx``),
    and the grain tile's columns (``u0``, ``u1``) and weight (``fu``). They hold for every
    row: :func:`_planes_pass` looks them up instead of computing them per pixel."""
    n = pi.shape[0]
    side = _TILE_SIDE
    q0 = np.zeros((n, w), np.int32)
    q1 = np.zeros((n, w), np.int32)
    fx = np.zeros((n, w), np.float32)
    u0 = np.zeros((n, w), np.int32)
    u1 = np.zeros((n, w), np.int32)
    fu = np.zeros((n, w), np.float32)
    for p in numba.prange(n):
        inv_g = 1.0 / pf[p, _G]
        gw, jx0 = pi[p, _GW], pi[p, _JX0]
        grain = pi[p, _GRAIN] == 1
        inv_dsx = 1.0 / pf[p, _DSX] if grain else 0.0
        gu0 = pf[p, _GU0]
        for xx in range(pi[p, _X0] - x0, pi[p, _X1] - x0):
            c0, c1, f = _cell(x0 + xx, inv_g, jx0, gw)
            q0[p, xx], q1[p, xx], fx[p, xx] = c0 * 4, c1 * 4, f
            if grain:
                u = (x0 + xx - gu0) * inv_dsx
                j = math.floor(u)
                fu[p, xx] = np.float32(u - j)
                u0[p, xx] = j & (side - 1)
                u1[p, xx] = (j + 1) & (side - 1)
    return q0, q1, fx, u0, u1, fu


#: Rows per band of :func:`_planes_pass` (the bands interleaved over the threads).
PASS_BAND = 8


@numba.njit(parallel=True, fastmath=True, cache=True)
def _planes_pass(
    y0, x0, pi, pf, m, buf, edges, tiles, row_len, vy, vx, mosaic, out
):  # pragma: no cover - numba
    """Composite the planes' grids (near to far) into ``out``: see :func:`render_planes`.
    ``m`` (3, 3) turns a grid's linear RGB into the output's channels.

    Bands of :data:`PASS_BAND` rows in parallel (even bands, then odd: the threads' shares
    alike), the column taps from :func:`_column_taps`; within a row a plane is composited
    only between the first and the last pixel the nearer planes leave visible (none: the
    plane is skipped, its grid rows not blended)."""
    h, w = out.shape[0], out.shape[1]
    n = pi.shape[0]
    one = np.float32(1.0)
    tiny = np.float32(1e-12)
    m00, m01, m02 = m[0, 0], m[0, 1], m[0, 2]
    m10, m11, m12 = m[1, 0], m[1, 1], m[1, 2]
    m20, m21, m22 = m[2, 0], m[2, 1], m[2, 2]
    tq0, tq1, tfx, tu0, tu1, tfu = _column_taps(x0, w, pi, pf)
    side = _TILE_SIDE
    nb = -(-h // PASS_BAND)
    half = (nb + 1) // 2
    for k in numba.prange(nb):
        band = 2 * k if k < half else 2 * (k - half) + 1
        trans = np.empty(w, np.float32)
        acc = np.empty((1 if mosaic else 3, w), np.float32)
        row = np.empty(row_len, np.float32)
        for yy in range(band * PASS_BAND, min((band + 1) * PASS_BAND, h)):
            yc = y0 + yy
            sy = yc & 1
            trans[:] = one
            acc[:] = np.float32(0.0)
            for p in range(n):  # near to far: "under"
                if yc < pi[p, _Y0] or yc >= pi[p, _Y1]:
                    continue
                xs, xe = pi[p, _X0] - x0, pi[p, _X1] - x0
                # only what the nearer planes leave visible
                while xs < xe and trans[xs] < OPAQUE:
                    xs += 1
                while xe > xs and trans[xe - 1] < OPAQUE:
                    xe -= 1
                if xs == xe:
                    continue
                inv_g = 1.0 / pf[p, _G]
                gh, gw, off = pi[p, _GH], pi[p, _GW], pi[p, _OFF]
                r0, r1, fy = _cell(yc, inv_g, pi[p, _JY0], gh)
                b0 = off + r0 * gw * pi[p, _CH]
                b1 = off + r1 * gw * pi[p, _CH]
                gy = one - fy
                edge = pi[p, _MODE] == 1
                # the two grid rows blended once per output row (each pixel then blends two
                # cells), the edge mode's colour per cell (premultiplied / alpha: the edges
                # bring alpha), and the output's channels (m; in the mosaic only this row's)
                ch = pi[p, _CH]
                lo, hi = tq0[p, xs], tq1[p, xe - 1] + 4
                for q in range(lo, hi, 4):
                    if ch == 2:  # grey: (value, alpha)
                        k = q >> 1
                        cr = gy * buf[b0 + k] + fy * buf[b1 + k]
                        cg = cb = cr
                        ca = gy * buf[b0 + k + 1] + fy * buf[b1 + k + 1]
                    else:
                        cr = gy * buf[b0 + q] + fy * buf[b1 + q]
                        cg = gy * buf[b0 + q + 1] + fy * buf[b1 + q + 1]
                        cb = gy * buf[b0 + q + 2] + fy * buf[b1 + q + 2]
                        ca = gy * buf[b0 + q + 3] + fy * buf[b1 + q + 3]
                    if edge:
                        inv = one / max(ca, tiny)
                        cr *= inv
                        cg *= inv
                        cb *= inv
                    if not mosaic or sy == 0:
                        row[q] = m00 * cr + m01 * cg + m02 * cb
                    row[q + 1] = m10 * cr + m11 * cg + m12 * cb
                    if not mosaic or sy == 1:
                        row[q + 2] = m20 * cr + m21 * cg + m22 * cb
                    row[q + 3] = ca
                ey = edges[pi[p, _EY] + yc - pi[p, _Y0]] if edge else one
                ex0 = pi[p, _EX] - pi[p, _X0] + x0
                grain = pi[p, _GRAIN] == 1
                amp = np.float32(pf[p, _AMP])
                tb0 = tb1 = 0
                fv = np.float32(0.0)
                if grain:
                    v = (yc - pf[p, _GV0]) * (1.0 / pf[p, _DSX])
                    j = math.floor(v)
                    fv = np.float32(v - j)
                    tb0 = pi[p, _TILE] + (j & (side - 1)) * side
                    tb1 = pi[p, _TILE] + ((j + 1) & (side - 1)) * side
                gv = one - fv
                q0s, q1s, fxs = tq0[p], tq1[p], tfx[p]
                for xx in range(xs, xe):
                    t = trans[xx]
                    if t < OPAQUE:
                        continue
                    q0, q1, fx = q0s[xx], q1s[xx], fxs[xx]
                    gx = one - fx
                    if edge:  # the grid's colour, the edges' alpha
                        alpha = ey * edges[ex0 + xx]
                        scale = t * alpha
                        if grain:
                            u0, u1, fu = tu0[p, xx], tu1[p, xx], tfu[p, xx]
                            top = (one - fu) * tiles[tb0 + u0] + fu * tiles[tb0 + u1]
                            bot = (one - fu) * tiles[tb1 + u0] + fu * tiles[tb1 + u1]
                            scale *= one + amp * (gv * top + fv * bot)
                    else:
                        alpha = gx * row[q0 + 3] + fx * row[q1 + 3]
                        scale = t
                    if mosaic:
                        c = sy + ((x0 + xx) & 1)
                        acc[0, xx] += scale * (gx * row[q0 + c] + fx * row[q1 + c])
                    else:
                        for c in range(3):
                            acc[c, xx] += scale * (gx * row[q0 + c] + fx * row[q1 + c])
                    trans[xx] = t * (one - alpha)
            g = vy[yy]
            for xx in range(w):
                gg = g * vx[xx]
                if mosaic:
                    out[yy, xx, 0] = acc[0, xx] * gg
                else:
                    for c in range(3):
                        out[yy, xx, c] = acc[c, xx] * gg
