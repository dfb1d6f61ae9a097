"""What the test scene's planes show: the colour checker, the focus charts (Siemens star,
slanted edge), the photos (scikit-image's, or a seeded procedural stand-in) and the fine surface
grain laid over them; reflectances in linear sRGB."""

from __future__ import annotations

import functools
import math

import cv2
import numba
import numpy as np

#: X-Rite ColorChecker Classic (post-2009) sRGB values, 8 bit, row by row from dark skin.
# fmt: off
COLOR_CHECKER_SRGB8: np.ndarray = np.array([
    [115, 82, 68], [194, 150, 130], [98, 122, 157], [87, 108, 67], [133, 128, 177],
    [103, 189, 170], [214, 126, 44], [80, 91, 166], [193, 90, 99], [94, 60, 108],
    [157, 188, 64], [224, 163, 46], [56, 61, 150], [70, 148, 73], [175, 54, 60],
    [231, 199, 31], [187, 86, 149], [8, 133, 161], [243, 243, 242], [200, 200, 200],
    [160, 160, 160], [122, 122, 121], [85, 85, 85], [52, 52, 52]], dtype=np.uint8)
# fmt: on


def srgb_to_linear(v: np.ndarray) -> np.ndarray:
    """Decode sRGB values in [0, 1] to linear, float32."""
    v = np.asarray(v, dtype=np.float32)
    return np.where(v <= 0.04045, v / 12.92, ((v + 0.055) / 1.055) ** 2.4).astype(np.float32)


#: Linear reflectances of the 24 patches, (24, 3).
COLOR_CHECKER_LINEAR: np.ndarray = srgb_to_linear(COLOR_CHECKER_SRGB8 / 255.0)


def _procedural_texture(seed: int, h: int = 384, w: int = 512) -> np.ndarray:
    """Seeded multi-scale coloured noise, linear RGB (h, w, 3), for a missing photo."""
    rng = np.random.default_rng(seed)
    out = np.zeros((h, w, 3), np.float32)
    for scale in (4, 16, 64):
        small = rng.random((max(2, h // scale), max(2, w // scale), 3), dtype=np.float32)
        out += cv2.resize(small, (w, h), interpolation=cv2.INTER_CUBIC) / 3
    return np.clip(out, 0.02, 0.9).astype(np.float32)


DETAIL_SCALE = 8.0
DETAIL_AMPLITUDE = 0.3


@functools.cache
def _detail_tile() -> np.ndarray:
    """Seeded, wrap-around surface grain in [-1, 1], (128, 128) float32."""
    rng = np.random.default_rng(20261121)
    tile = rng.standard_normal((128, 128)).astype(np.float32)
    tile = cv2.GaussianBlur(np.pad(tile, 4, mode="wrap"), (0, 0), 0.8)[4:-4, 4:-4]
    return np.clip(tile / (3 * tile.std()), -1, 1)


def _photo(name: str, seed: int) -> np.ndarray:
    """scikit-image photo ``name`` as linear RGB float32, or a procedural stand-in."""
    try:
        from skimage import data

        img = getattr(data, name)()
    except Exception:  # scikit-image missing, or its data not bundled
        return _procedural_texture(seed)
    if img.ndim == 2:
        img = np.repeat(img[:, :, None], 3, axis=2)
    return srgb_to_linear(img[:, :, :3] / 255.0)


def siemens_star(
    x: np.ndarray, y: np.ndarray, px: float, radius: float, spokes: int = 36
) -> np.ndarray:
    """Anti-aliased Siemens star of ``spokes`` black/white pairs, reflectance (h, w)."""
    r = np.hypot(x, y)
    s = np.sin(spokes * np.arctan2(y, x))
    # signed distance (pixels) to the nearest spoke edge ~ s * r / (spokes * px)
    with np.errstate(divide="ignore", invalid="ignore"):
        v = np.clip(0.5 + s * r / (spokes * px), 0.0, 1.0)
    v = np.where(r * 2 * math.pi / (2 * spokes) < 2 * px, 0.5, v)  # unresolvable centre
    v = 0.05 + 0.85 * v
    return np.where(r <= radius, v, 0.5).astype(np.float32)


def slanted_edge(
    x: np.ndarray,
    y: np.ndarray,
    px: float,
    angle_deg: float = 5.0,
    low: float = 0.2,
    high: float = 0.8,
) -> np.ndarray:
    """Anti-aliased edge through the origin, tilted ``angle_deg`` from vertical, (h, w)."""
    a = math.radians(angle_deg)
    d = (x * math.cos(a) - y * math.sin(a)) / px
    return (low + (high - low) * np.clip(0.5 + d, 0.0, 1.0)).astype(np.float32)


def _chart_board(x: np.ndarray, y: np.ndarray, px: float) -> np.ndarray:
    """0.24 x 0.12 m board: Siemens star on the left, slanted edge on the right.

    :func:`siemens_star` and :func:`slanted_edge`'s maths in one Numba pass (a 50 MP frame
    draws millions of its pixels)."""
    xb, yb = np.broadcast_arrays(np.asarray(x, np.float32), np.asarray(y, np.float32))
    out = np.empty(xb.shape, np.float32)
    _chart_board_kernel(
        np.ascontiguousarray(xb).ravel(), np.ascontiguousarray(yb).ravel(), float(px), out.ravel()
    )
    return np.repeat(out[..., None], 3, axis=-1)


@numba.njit(inline="always", fastmath=True)
def _chart_value(xi, yi, px):  # pragma: no cover - numba
    """The chart board's reflectance at (``xi``, ``yi``) m (float64)."""
    spokes, radius = 36, 0.05
    if xi < 0:  # the star, centred 0.06 m left of the board's centre
        sx = xi + 0.06
        r = math.hypot(sx, yi)
        if r > radius:
            return 0.5
        if r * 2 * math.pi / (2 * spokes) < 2 * px:
            return 0.05 + 0.85 * 0.5  # unresolvable centre
        s = math.sin(spokes * math.atan2(yi, sx))
        return 0.05 + 0.85 * min(max(0.5 + s * r / (spokes * px), 0.0), 1.0)
    # the slanted edge, 0.06 m right of it, 0.2 to 0.8
    a = math.radians(5.0)
    d = ((xi - 0.06) * math.cos(a) - yi * math.sin(a)) / px
    return 0.2 + 0.6 * min(max(0.5 + d, 0.0), 1.0)


@numba.njit(parallel=True, fastmath=True, cache=True)
def _chart_board_kernel(x, y, px, out):  # pragma: no cover - numba
    for i in numba.prange(x.size):
        out[i] = _chart_value(np.float64(x[i]), np.float64(y[i]), px)


@numba.njit(parallel=True, fastmath=True, cache=True)
def _chart_board_fill(xs, ys, px, ay, ax, out):  # pragma: no cover - numba
    """Premultiplied RGBA of the board on a pixel grid: sample (``xs[j]``, ``ys[i]``) m,
    coverage ``ay[i] * ax[j]``, into ``out`` (h, w, 4) float32 (one pass, no meshgrid)."""
    for i in numba.prange(ys.size):
        yi = np.float64(ys[i])
        for j in range(xs.size):
            a = ay[i] * ax[j]
            v = np.float32(_chart_value(np.float64(xs[j]), yi, px)) * a
            out[i, j, 0] = v
            out[i, j, 1] = v
            out[i, j, 2] = v
            out[i, j, 3] = a


@numba.njit(parallel=True, fastmath=True, cache=True)
def _chart_board_grey(xs, ys, px, ay, ax, out):  # pragma: no cover - numba
    """The board (grey: its three channels alike) as (value, alpha) premultiplied into
    ``out`` (h, w, 2) float32: :func:`_chart_board_fill`'s first and last channel."""
    for i in numba.prange(ys.size):
        yi = np.float64(ys[i])
        for j in range(xs.size):
            a = ay[i] * ax[j]
            out[i, j, 0] = np.float32(_chart_value(np.float64(xs[j]), yi, px)) * a
            out[i, j, 1] = a


def _color_checker(x: np.ndarray, y: np.ndarray, px: float) -> np.ndarray:
    """0.28 x 0.19 m colour checker: 6 x 4 patches of 40 mm on a black frame."""
    xb, yb = np.broadcast_arrays(np.asarray(x, np.float32), np.asarray(y, np.float32))
    out = np.empty((*xb.shape, 3), np.float32)
    _color_checker_kernel(
        np.ascontiguousarray(xb).ravel(),
        np.ascontiguousarray(yb).ravel(),
        COLOR_CHECKER_LINEAR,
        out.reshape(-1, 3),
    )
    return out


@numba.njit(inline="always")
def _checker_patch(xi, yi):  # pragma: no cover - numba
    """Row-major index of the colour checker's patch at (``xi``, ``yi``) m, -1 on the frame."""
    pitch, patch = 0.045, 0.040
    lo, hi = (pitch - patch) / 2, (pitch + patch) / 2
    fx = xi + 3 * pitch
    fy = yi + 2 * pitch
    col = math.floor(fx / pitch)
    row = math.floor(fy / pitch)
    fx -= col * pitch
    fy -= row * pitch
    if 0 <= col < 6 and 0 <= row < 4 and lo <= fx < hi and lo <= fy < hi:
        return row * 6 + col
    return -1


@numba.njit(parallel=True, cache=True)
def _color_checker_kernel(x, y, table, out):  # pragma: no cover - numba
    for i in numba.prange(x.size):
        k = _checker_patch(np.float64(x[i]), np.float64(y[i]))
        for c in range(3):
            out[i, c] = table[k, c] if k >= 0 else np.float32(0.01)


@numba.njit(parallel=True, cache=True)
def _color_checker_fill(xs, ys, px, ay, ax, out):  # pragma: no cover - numba
    """Premultiplied RGBA of the colour checker on a pixel grid (see
    :func:`_chart_board_fill`)."""
    table = COLOR_CHECKER_LINEAR
    for i in numba.prange(ys.size):
        yi = np.float64(ys[i])
        for j in range(xs.size):
            a = ay[i] * ax[j]
            k = _checker_patch(np.float64(xs[j]), yi)
            for c in range(3):
                out[i, j, c] = (table[k, c] if k >= 0 else np.float32(0.01)) * a
            out[i, j, 3] = a


#: Procedural content drawn straight into a premultiplied RGBA grid:
#: ``fill(xs, ys, px, ay, ax, out)`` with the samples' plane coordinates (m) per column and
#: row, the rectangle's coverage per row and column, and ``out`` (h, w, 4) float32.
#: ``scene._render_box`` uses it; it equals the content function followed by the coverage.
_chart_board.fill = _chart_board_fill  # type: ignore[attr-defined]
#: Grey content (its three channels alike) also has ``grey(xs, ys, px, ay, ax, out)``: the
#: same into (h, w, 2) (value, alpha), half the memory of a grid (scene_grid uses it).
_chart_board.grey = _chart_board_grey  # type: ignore[attr-defined]
_color_checker.fill = _color_checker_fill  # type: ignore[attr-defined]
