"""The GPU's fused raw-side pass: host glue of ``kernels/tile.cu``.

One launch develops the view (MHC or bilinear, area downscale, colour matrix, tone, RGBA8)
and computes, from the same read of each photosite, the pooled peaking level and raw-clip bit
per view pixel and the RAW histogram. It replaces ``vf_preview_raw``, the three peaking
kernels and ``vf_raw_histogram``; the view pass (``vf_view_pass``) then runs over the view.

Geometry: a tile is ``tile_v`` x ``tile_v`` view pixels whose pooling blocks cover at most
``TILE_MAX`` sensor sites a side (the shared-memory tile); a grid of persistent blocks loops
over the tiles; the host's table (:func:`tile_table`) gives each tile's view pixels, pool
region and the multipliers that map a work item to its row without a division. At scales
beyond ``TILE_MAX`` sites a view pixel (a 50 MP frame in a view under 205 px wide) it does
not apply and the per-stage kernels run instead.

The develop has three variants (kernels/tile.cu): at integer scales of 2 and 4
(:func:`integer_scale`) the footprint unrolled with the CFA code and method compile-time
constants; at other scales whose tiles' tap sites fit the shared planes
(:func:`site_rgb_fits`) each site demosaiced once; else the demosaic per tap. The first two
compile one module per CFA code and method (:meth:`TilePass.kernel`). Those two take the
tone curve's RGBA8 bytes from a threshold table made on the device when the curve changes
(:meth:`TilePass.commit_tone`), and pooling blocks of at most 2 sites a side their ranges
from host tables (:func:`pool_table`).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

#: Sensor sites a side of a tile's pooling region (VF_TILE_MAX in tile.cu): the shared arrays
#: (normalised and stabilised values and luma in f32, clip flags, 4 x 1024 histogram bins)
#: then take 44.9 KB, inside the 48 KB a block may declare statically.
TILE_MAX = 40
#: Resident blocks per SM the grid is sized for (44.9 KB of shared memory each: 5 fit in an
#: H100/H200 SM's 228 KB); blocks loop over the tiles, so each flushes its histogram once.
BLOCKS_PER_SM = 4
#: Up to 10 bits the RAW histogram bins live in shared memory; above, global atomics.
SHARED_HIST_BITS = 10
BLOCK = (16, 16, 1)
#: Ints a tile of the geometry table (VF_TILE_GEO in tile.cu).
GEO_INTS = 12


def tile_size(frame_shape: tuple[int, int], view_shape: tuple[int, int]) -> int | None:
    """View pixels a side of a tile, or ``None`` when the scale is beyond the tiled pass."""
    (H, W), (h, w) = frame_shape, view_shape
    if h > H or w > W:
        return None
    block = max(math.ceil(H / h), math.ceil(W / w))  # the largest pooling block, sites
    tile_v = min(16, TILE_MAX // block)  # at most the block's width: whole rows of lanes busy
    return tile_v if tile_v >= 1 else None


#: Integer scales the develop takes without tap tables (an unrolled K x K footprint).
FAST_SCALES = (2, 4)


def integer_scale(frame_shape: tuple[int, int], view_shape: tuple[int, int]) -> tuple[int, float]:
    """(K, weight) where the area taps of both axes are exactly K sites of equal weight a view
    pixel (view pixel i: sites K i .. K i + K - 1, further taps of weight 0) and K is one of
    :data:`FAST_SCALES`; else (0, 0.0). The kernel then develops the K x K footprint unrolled,
    in the order and with the weights the tap tables give (bit for bit)."""
    from ..stages.resize import area_weights

    (H, W), (h, w) = frame_shape, view_shape
    if H % h or W % w or H // h != W // w or H // h not in FAST_SCALES:
        return 0, 0.0
    k = H // h
    weight = None
    for src, dst in ((H, h), (W, w)):
        idx, wts = area_weights(src, dst)
        if idx.shape[1] < k:
            return 0, 0.0
        want = np.arange(dst)[:, None] * k + np.arange(k)[None, :]
        if not np.array_equal(idx[:, :k], want) or np.any(wts[:, k:] != 0):
            return 0, 0.0
        if np.any(wts[:, :k] != wts[0, 0]) or (weight is not None and wts[0, 0] != weight):
            return 0, 0.0
        weight = wts[0, 0]
    return k, float(weight)


def site_rgb_fits(frame_shape: tuple[int, int], view_shape: tuple[int, int], tile_v: int) -> bool:
    """Whether every tile's demosaiced sites fit the three planes the develop keeps over the
    luma array (VF_TILE_SITE_RGB): the sites its area taps reach, [py0, py1 + 1) x [px0,
    px1 + 1), rounded out to even bounds, three floats each, within (TILE_MAX + 8)^2."""
    g = tile_table(frame_shape, view_shape, tile_v)
    H, W = frame_shape
    rows = 2 * ((np.minimum(g[:, 3] + 1, H) - (g[:, 2] & ~1) + 1) >> 1)
    cols = 2 * ((np.minimum(g[:, 5] + 1, W) - (g[:, 4] & ~1) + 1) >> 1)
    return bool((3 * rows * cols).max() <= (TILE_MAX + 8) ** 2)


def max_pool_block(frame_shape: tuple[int, int], view_shape: tuple[int, int]) -> int:
    """The largest pooling block's side, sites (``vf_pool_range`` over every view row and
    column)."""
    out = 1
    for src, dst in zip(frame_shape, view_shape, strict=True):
        j = np.arange(dst, dtype=np.int64)
        s, e = j * src // dst, (j + 1) * src // dst
        out = max(out, int(np.where(e > s, e - s, 1).max()))
    return out


def pool_table(src: int, dst: int) -> np.ndarray:
    """(dst, 2) int32: ``vf_pool_range`` of every view index, [start, stop) of its sites."""
    j = np.arange(dst, dtype=np.int64)
    s, e = j * src // dst, (j + 1) * src // dst
    return np.ascontiguousarray(np.stack([s, np.where(e > s, e, s + 1)], -1), dtype=np.int32)


def pixel_multiplier(tile_v: int) -> int:
    """m with (p * m) >> 16 == p // tile_v for every pixel p < tile_v**2 of a tile (checked)."""
    m = 65536 // tile_v + 1
    p = np.arange(tile_v * tile_v)
    assert np.array_equal((p * m) >> 16, p // tile_v), tile_v
    return m


def tile_table(
    frame_shape: tuple[int, int], view_shape: tuple[int, int], tile_v: int
) -> np.ndarray:
    """Per tile (row-major), :data:`GEO_INTS` int32: i0, j0 (first view row / column), py0,
    py1, px0, px1 (its pool region, from ``vf_pool_range`` of its first and last pixels), and
    the multipliers m with (q * m) >> 16 == q // n (checked for every q of the tile) for n =
    the quads a row of its P +- 4 rounded out to even bounds, the strips of four a row of its
    luma region (P +- 3) and of its score region (P +- 1), both clipped to the frame, and the
    quads
    a row of the sites its area taps reach (:func:`site_rgb_fits`); zeros."""
    (H, W), (h, w) = frame_shape, view_shape

    def edges(n_view: int, src: int) -> tuple[np.ndarray, np.ndarray]:
        j = np.arange(n_view, dtype=np.int64)
        s, e = j * src // n_view, (j + 1) * src // n_view
        return s, np.where(e > s, e, s + 1)

    ys, ye = edges(h, H)
    xs, xe = edges(w, W)
    i0 = np.arange(0, h, tile_v)
    j0 = np.arange(0, w, tile_v)
    i1, j1 = np.minimum(i0 + tile_v, h), np.minimum(j0 + tile_v, w)
    I0, J0 = np.meshgrid(i0, j0, indexing="ij")
    I1, J1 = np.meshgrid(i1, j1, indexing="ij")
    py0, py1, px0, px1 = ys[I0], ye[I1 - 1], xs[J0], xe[J1 - 1]
    rx0 = px0 - 4
    qx0 = rx0 & ~1
    nqx = (rx0 + (px1 - px0) + 9 - qx0) >> 1
    nqy = ((py0 - 4) + (py1 - py0) + 9 - ((py0 - 4) & ~1)) >> 1
    # pairs a row of the luma (P +- 3) and score (P +- 1) regions, clipped to the frame
    lpr = (np.minimum(px1 + 3, W) - np.maximum(px0 - 3, 0) + 3) >> 2  # strips of 4
    spr = (np.minimum(px1 + 1, W) - np.maximum(px0 - 1, 0) + 3) >> 2
    rows = {"q": nqy, "l": np.minimum(py1 + 3, H) - np.maximum(py0 - 3, 0)}
    rows["s"] = np.minimum(py1 + 1, H) - np.maximum(py0 - 1, 0)
    # quads a row of the sites the area taps reach, [py0, py1 + 1) x [px0, px1 + 1) clipped,
    # from even bounds (the develop from demosaiced sites)
    rows["d"] = (np.minimum(py1 + 1, H) - (py0 & ~1) + 1) >> 1
    ndx = (np.minimum(px1 + 1, W) - (px0 & ~1) + 1) >> 1
    cols = {"q": nqx, "l": lpr, "s": spr, "d": ndx}
    mags = {}
    for k, n in cols.items():
        mags[k] = 65536 // n + 1
        for nn, m in set(zip(n.ravel().tolist(), mags[k].ravel().tolist(), strict=True)):
            q = np.arange(int(rows[k].max()) * nn)
            assert np.array_equal((q * m) >> 16, q // nn), (k, nn, m)
    zero = np.zeros_like(I0)
    table = np.stack(
        [I0, J0, py0, py1, px0, px1, mags["q"], mags["l"], mags["s"], mags["d"], zero, zero],
        -1,
    )
    return np.ascontiguousarray(table.reshape(-1, GEO_INTS), dtype=np.int32)


def _sm_count(xp: Any) -> int:
    """Streaming multiprocessors of the current device (the stand-in reports its own)."""
    props = xp.cuda.runtime.getDeviceProperties(xp.cuda.Device().id)
    return max(1, int(props["multiProcessorCount"]))


class TilePass:
    """Launches ``vf_tile_pass`` for one frame layout (made when the layout changes).

    Parameters
    ----------
    xp : module
        ``cupy`` or ``viewfinder.cudasim``.
    frame_shape, view_shape : (H, W) and (h, w)
    bits : int
        Bits per sample (the histogram's size).
    """

    def __init__(
        self, xp: Any, frame_shape: tuple[int, int], view_shape: tuple[int, int], bits: int
    ) -> None:
        tile_v = tile_size(frame_shape, view_shape)
        if tile_v is None:
            raise ValueError(
                f"the tiled pass does not apply to {frame_shape} -> {view_shape}: a view pixel "
                f"covers more than {TILE_MAX} sites"
            )
        self.xp = xp
        self.frame_shape, self.view_shape, self.tile_v = frame_shape, view_shape, tile_v
        h, w = view_shape
        tiles = ((w + tile_v - 1) // tile_v) * ((h + tile_v - 1) // tile_v)
        self.grid = (min(tiles, BLOCKS_PER_SM * _sm_count(xp)), 1, 1)
        defines: dict[str, Any] = {"VF_TILE_MAX": TILE_MAX, "VF_HIST_BINS": 1 << bits}
        defines.update(VF_TILE_BX=BLOCK[0], VF_TILE_BY=BLOCK[1])
        if bits > SHARED_HIST_BITS:
            defines["VF_HIST_GLOBAL"] = 1
        self.fast_k, self.fast_w = integer_scale(frame_shape, view_shape)
        # pooling blocks of at most 2 sites a side (1920 -> 1280, 1:1): unrolled and masked
        block = max_pool_block(frame_shape, view_shape)
        if not self.fast_k and block <= 2:
            defines["VF_TILE_POOL_B"] = block
        #: the develop from demosaiced sites (other scales, where they fit)
        self.site_rgb = not self.fast_k and site_rgb_fits(frame_shape, view_shape, tile_v)
        self.pix_magic = pixel_multiplier(tile_v)
        self.tile_geo = xp.asarray(tile_table(frame_shape, view_shape, tile_v))
        #: each view row's and column's pooling block [start, stop) (vf_pool_range), (n, 2)
        self.pool_y = xp.asarray(pool_table(frame_shape[0], view_shape[0]))
        self.pool_x = xp.asarray(pool_table(frame_shape[1], view_shape[1]))
        self._defines = defines
        self._kernels: dict[tuple[int, int, bool], Any] = {}
        self.site_black = xp.zeros(4, xp.float32)
        self.site_scale = xp.zeros(4, xp.float32)
        self._site_key: tuple | None = None
        # the tone curve as byte thresholds (vf_tone_thresholds), for the two develops that
        # finish in tile.cu (the per-tap one calls vf_preview_pixel)
        self.tone_table = xp.zeros(256, xp.float32) if (self.fast_k or self.site_rgb) else None
        self._tone_bad = xp.zeros(1, xp.int32) if self.tone_table is not None else None
        self._tone_key: tuple | None = None
        self._tone_ok = False

    def kernel(self, cfa_code: int, method_code: int, raw_zebra: bool = True) -> Any:
        """The module for the frame: one per CFA code and method (the develop's demosaic with
        both as constants) at an integer scale (the footprint unrolled) or where the
        demosaiced sites fit the shared planes, else one for all; each with and without the
        RAW zebra's clip flags (VF_TILE_RAW)."""
        from ..kernels import get_kernel

        per_cfa = bool(self.fast_k or self.site_rgb)
        key = ((cfa_code, method_code) if per_cfa else (0, 0)) + (bool(raw_zebra),)
        kernel = self._kernels.get(key)
        if kernel is None:
            defines = dict(self._defines, VF_TILE_RAW=int(bool(raw_zebra)))
            if per_cfa:
                defines.update(VF_TILE_CFA=cfa_code, VF_TILE_METHOD=method_code)
            if self.fast_k:
                defines.update(VF_TILE_FAST_K=self.fast_k)
            elif self.site_rgb:
                defines.update(VF_TILE_SITE_RGB=1)
            kernel = get_kernel("tile", "vf_tile_pass", defines, xp=self.xp)
            self._kernels[key] = kernel
        return kernel

    def commit(self, black: float | np.ndarray, site_scales: np.ndarray) -> None:
        """Per-site black level and scale of the 2x2 block, (2, 2) each (settings change)."""
        black4 = np.broadcast_to(np.asarray(black, np.float32), (2, 2)).ravel()
        scale4 = np.asarray(site_scales, np.float32).ravel()
        key = (tuple(black4.tolist()), tuple(scale4.tolist()))
        if key != self._site_key:
            self.site_black[...] = self.xp.asarray(black4)
            self.site_scale[...] = self.xp.asarray(scale4)
            self._site_key = key

    def commit_tone(self, curve: int, contrast: float) -> bool:
        """Make the tone thresholds for ``(curve, contrast)`` when they change (a launch and a
        4-byte read-back: settings changes only); whether the table may replace the curve
        (its windows checked on the device, see ``vf_tone_thresholds``)."""
        if self.tone_table is None:
            return False
        key = (int(curve), float(np.float32(contrast)))
        if key != self._tone_key:
            from ..kernels import get_kernel

            kernel = get_kernel("tile", "vf_tone_thresholds", self._defines, xp=self.xp)
            self._tone_bad.fill(0)
            kernel(
                (1, 1, 1),
                (256, 1, 1),
                (np.int32(key[0]), np.float32(key[1]), self.tone_table, self._tone_bad),
            )
            self._tone_ok = int(self._tone_bad.get()[0]) == 0
            self._tone_key = key
        return self._tone_ok

    def run(
        self,
        raw: Any,
        cfa_code: int,
        method_code: int,
        taps: tuple,
        tone: tuple[int, float],
        outputs: tuple[Any, Any, Any],
        peaking: tuple[Any, float, tuple[float, float, float], float] | None,
        raw_white: float | None,
        pooled: Any,
        hist: Any | None,
    ) -> None:
        """One frame: ``raw`` (H, W) uint16 on the device into ``outputs`` (linear, display,
        rgba; the first two may be None), ``pooled`` (h, w) uint8 and ``hist`` (4, 2**bits)
        int64, which the caller zeroes (or None: no histogram). ``peaking``: (LUT, far weight,
        thresholds, floor gain) or None, the thresholds those of this pass's pooling
        (``PeakingSettings.thresholds(pool_area)``, as the host's ``PeakingEngine`` uses
        them); ``taps``: (iy, wy, ix, wx, ccm) device arrays."""
        i32, f32 = np.int32, np.float32
        (H, W), (h, w) = self.frame_shape, self.view_shape
        iy, wy, ix, wx, ccm = taps
        no_peaking = (None, 0.0, (0.0, 0.0, 0.0), 0.0)
        lut, far, (t1, t2, t3), fg = peaking if peaking is not None else no_peaking
        # the thresholds stand for the curve where they hold and no display float is asked
        # for (the table is passed either way: the launch's buffers do not change with it)
        table = self.commit_tone(tone[0], tone[1])
        self.kernel(cfa_code, method_code, raw_white is not None)(
            self.grid,
            BLOCK,
            (
                raw,
                i32(W),
                i32(H),
                i32(cfa_code),
                i32(method_code),
                self.site_black,
                self.site_scale,
                iy,
                wy,
                i32(iy.shape[1]),
                ix,
                wx,
                i32(ix.shape[1]),
                ccm,
                i32(tone[0]),
                f32(tone[1]),
                self.tone_table,
                i32(table and outputs[1] is None),
                i32(w),
                i32(h),
                i32(self.tile_v),
                f32(self.fast_w),
                i32(self.pix_magic),
                self.tile_geo,
                self.pool_y,
                self.pool_x,
                *outputs,
                i32(lut is not None),
                lut,
                i32(lut.size if lut is not None else 0),
                f32(far),
                f32(t1),
                f32(t2),
                f32(t3),
                f32(fg),
                i32(raw_white is not None),
                f32(raw_white if raw_white is not None else 0.0),
                pooled,
                i32(hist is not None),
                hist,
            ),
        )
