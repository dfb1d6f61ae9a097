"""A deterministic 3-D test scene of fronto-parallel textured planes, and its defocus renderer.

The scene: a sky photo at infinity, a brick wall at 12 m, photos at 5 m and 3 m, a colour
checker at 2 m, a chart board (Siemens star + slanted edge) at 1 m and a photo at 0.5 m.
Photos are the ones scikit-image bundles (a seeded procedural texture stands in when
scikit-image is missing). Reflectances are linear sRGB in [0, 1]; a reflectance of 1 has the
luminance :attr:`Scene.white_luminance` (cd/m^2).

Rendering (:func:`render`) for a lens of focal length ``f`` on a canvas of pixel pitch ``p``:
a plane at depth ``Z`` and lateral position ``X`` lands at ``f * X / Z / p`` pixels from the
centre (pinhole projection; focus breathing ignored). Each plane is rendered sharp as a
premultiplied RGBA layer, blurred by a pillbox of its circle-of-confusion diameter (optics
thin-lens formula) convolved with a Gaussian approximation of the Airy core, and the layers
are composited far to near with "over". Large blurs run on a downscaled layer (the result is
smooth, so nothing visible is lost) to keep a focus change cheap. The sharp layers are drawn
once per lens and size (OpenCV, on the CPU) and kept; a focus or aperture change blurs and
composites again, with OpenCV and numba on the CPU or with CuPy on the device (``device=``).
"""

from __future__ import annotations

import functools
import math
import threading
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import cv2
import numba
import numpy as np

from .. import optics
from ..optics import blur_radius_px, defocus_blur, defocus_blur_xp

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

# A content function maps plane coordinates (metres from the plane centre, y down) and the
# size of one canvas pixel on the plane (m) to linear RGB, (h, w, 3) float32.
Content = Callable[[np.ndarray, np.ndarray, float], np.ndarray]


@dataclass(frozen=True)
class Plane:
    """A fronto-parallel rectangle of the scene.

    ``center`` and ``size`` are in metres for a finite ``depth_m``; for ``depth_m = inf``
    they are in tangent units (X/Z), i.e. angles. ``texture`` is a linear RGB image that
    fills the rectangle (tiled ``tiles`` times); ``content`` computes the values instead.
    """

    name: str
    depth_m: float
    center: tuple[float, float]
    size: tuple[float, float]
    texture: np.ndarray | None = None
    content: Content | None = None
    tiles: tuple[int, int] = (1, 1)

    def tan_box(self) -> tuple[float, float, float, float]:
        """(left, top, right, bottom) in tangent units."""
        z = 1.0 if math.isinf(self.depth_m) else self.depth_m
        cx, cy = self.center[0] / z, self.center[1] / z
        hw, hh = self.size[0] / z / 2, self.size[1] / z / 2
        return cx - hw, cy - hh, cx + hw, cy + hh


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
    """0.24 x 0.12 m board: Siemens star on the left, slanted edge on the right."""
    star = siemens_star(x + 0.06, y, px, radius=0.05)
    edge = slanted_edge(x - 0.06, y, px)
    v = np.where(x < 0, star, edge)
    return np.repeat(v[:, :, None], 3, axis=2)


def _color_checker(x: np.ndarray, y: np.ndarray, px: float) -> np.ndarray:
    """0.28 x 0.19 m colour checker: 6 x 4 patches of 40 mm on a black frame."""
    pitch, patch = 0.045, 0.040
    col = np.floor((x + 3 * pitch) / pitch).astype(np.int64)
    row = np.floor((y + 2 * pitch) / pitch).astype(np.int64)
    inside = (col >= 0) & (col < 6) & (row >= 0) & (row < 4)
    fx = (x + 3 * pitch) - col * pitch
    fy = (y + 2 * pitch) - row * pitch
    on_patch = inside & (fx >= (pitch - patch) / 2) & (fx < (pitch + patch) / 2)
    on_patch &= (fy >= (pitch - patch) / 2) & (fy < (pitch + patch) / 2)
    idx = np.clip(row, 0, 3) * 6 + np.clip(col, 0, 5)
    out = np.where(on_patch[:, :, None], COLOR_CHECKER_LINEAR[idx], np.float32(0.01))
    return out.astype(np.float32)


class Scene:
    """The seeded test scene: :attr:`planes` far to near, ``white_luminance`` in cd/m^2."""

    def __init__(self, seed: int = 0, white_luminance: float = 500.0) -> None:
        self.seed = seed
        self.white_luminance = float(white_luminance)
        self._sharp: OrderedDict[tuple, np.ndarray] = OrderedDict()
        self._sharp_bytes = 0
        self._lock = threading.Lock()
        self._depth: dict[tuple, np.ndarray] = {}  # render() keeps the depth of full frames
        rng = np.random.default_rng(seed)
        jitter = rng.uniform(-0.02, 0.02, size=(8, 2))  # the seed moves the planes a little
        self.planes: list[Plane] = [
            Plane("sky", math.inf, (0.0, 0.0), (1.9, 1.45), _photo("rocket", seed)),
            Plane(
                "wall",
                12.0,
                (0.0 + jitter[1, 0], 2.2),
                (11.0, 6.0),
                _photo("brick", seed + 1) * np.float32([0.9, 0.55, 0.4]),
                tiles=(6, 3),
            ),
            Plane(
                "coffee", 5.0, (-1.0 + jitter[2, 0], -0.25), (1.5, 1.0), _photo("coffee", seed + 2)
            ),
            Plane(
                "astronaut",
                3.0,
                (0.35 + jitter[3, 0], -0.05 + jitter[3, 1]),
                (0.45, 0.45),
                _photo("astronaut", seed + 3),
            ),
            Plane(
                "color_checker",
                2.0,
                (-0.16, 0.15 + jitter[4, 1]),
                (0.28, 0.19),
                content=_color_checker,
            ),
            Plane("charts", 1.0, (-0.07, -0.02), (0.24, 0.12), content=_chart_board),
            Plane(
                "cat", 0.5, (-0.16 + jitter[6, 0], 0.12), (0.18, 0.12), _photo("chelsea", seed + 6)
            ),
        ]
        self.planes.sort(key=lambda p: -p.depth_m)

    #: Bytes of sharp layers kept for reuse (least recently used ones go first).
    SHARP_CACHE_BYTES = 2 << 30

    def sharp_layer(
        self, plane: Plane, canvas: Canvas, region: tuple[int, int, int, int]
    ) -> np.ndarray:
        """Sharp premultiplied RGBA of ``plane`` over canvas ``region`` (y0, x0, y1, x1),
        cached: a focus or aperture change only blurs again. Do not modify the result."""
        key = (id(plane), canvas, region)
        with self._lock:  # the camera's reader and its autofocus sweep share the scene
            layer = self._sharp.get(key)
            if layer is not None:
                self._sharp.move_to_end(key)
                return layer
        layer = _render_plane(plane, canvas, *region)
        with self._lock:
            if layer.nbytes <= self.SHARP_CACHE_BYTES and key not in self._sharp:
                self._sharp[key] = layer
                self._sharp_bytes += layer.nbytes
                while self._sharp_bytes > self.SHARP_CACHE_BYTES:
                    _, old = self._sharp.popitem(last=False)
                    self._sharp_bytes -= old.nbytes
        return layer

    def plane(self, name: str) -> Plane:
        for p in self.planes:
            if p.name == name:
                return p
        raise ValueError(
            f"unknown plane {name!r}: known are {', '.join(p.name for p in self.planes)}"
        )


@dataclass(frozen=True)
class Canvas:
    """Pixel grid of a render: ``width`` x ``height`` pixels of ``pixel_mm`` behind a lens of
    ``focal_mm``; pixel (0, 0)'s centre sits at ``(-width/2 + 0.5) * pixel_mm`` on the sensor."""

    width: int
    height: int
    pixel_mm: float
    focal_mm: float

    def box_px(self, plane: Plane) -> tuple[float, float, float, float]:
        """(x0, y0, x1, y1) of ``plane`` in canvas pixel-edge coordinates."""
        l, t, r, b = plane.tan_box()
        k = self.focal_mm / self.pixel_mm
        return (
            l * k + self.width / 2,
            t * k + self.height / 2,
            r * k + self.width / 2,
            b * k + self.height / 2,
        )


def _render_plane(plane: Plane, canvas: Canvas, y0: int, x0: int, y1: int, x1: int) -> np.ndarray:
    """Sharp premultiplied RGBA (y1-y0, x1-x0, 4) float32 of ``plane`` over a pixel window."""
    bx0, by0, bx1, by1 = canvas.box_px(plane)
    h, w = y1 - y0, x1 - x0
    out = np.empty((h, w, 4), np.float32)
    if plane.texture is not None:
        tex = plane.texture
        th, tw = tex.shape[:2]
        sx = (bx1 - bx0) / (tw * plane.tiles[0])
        sy = (by1 - by0) / (th * plane.tiles[1])
        if sx < 1 or sy < 1:  # shrink with area averaging first: no aliasing
            nw, nh = max(2, math.ceil(tw * min(sx, 1))), max(2, math.ceil(th * min(sy, 1)))
            tex = cv2.resize(tex, (nw, nh), interpolation=cv2.INTER_AREA)
            sx, sy = sx * tw / nw, sy * th / nh
        # texel (u, v) centre -> canvas pixel centre, shifted to the window; tiles wrap
        m = np.float32([[sx, 0, bx0 + 0.5 * sx - 0.5 - x0], [0, sy, by0 + 0.5 * sy - 0.5 - y0]])
        border = cv2.BORDER_WRAP if plane.tiles != (1, 1) else cv2.BORDER_REPLICATE
        out[:, :, :3] = cv2.warpAffine(tex, m, (w, h), flags=cv2.INTER_LINEAR, borderMode=border)
        # Photos have ~500 texels: at 50 MP one texel covers many pixels and the plane would
        # look (and focus) like a smooth wash. A fine surface grain, DETAIL_SCALE times finer
        # than the photo, gives it detail at full resolution; it is left out when it would be
        # finer than a pixel (it averages out there).
        dsx = sx / DETAIL_SCALE
        if dsx >= 1.0:
            md = np.float32([[dsx, 0, m[0, 2]], [0, dsx, m[1, 2]]])
            grain = cv2.warpAffine(
                _detail_tile(), md, (w, h), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_WRAP
            )
            out[:, :, :3] *= (1.0 + DETAIL_AMPLITUDE * grain)[:, :, None]
    else:
        # procedural content, sampled at pixel centres in plane metres
        m_per_px = canvas.pixel_mm / canvas.focal_mm * plane.depth_m
        xs = (np.arange(x0, x1, dtype=np.float32) + 0.5 - (bx0 + bx1) / 2) * m_per_px
        ys = (np.arange(y0, y1, dtype=np.float32) + 0.5 - (by0 + by1) / 2) * m_per_px
        xg, yg = np.meshgrid(xs, ys)
        out[:, :, :3] = plane.content(xg, yg, m_per_px)
    # coverage of each pixel by the rectangle, anti-aliased on the rim; premultiply
    ax = np.clip(np.minimum(np.arange(x0, x1) + 1 - bx0, bx1 - np.arange(x0, x1)), 0, 1)
    ay = np.clip(np.minimum(np.arange(y0, y1) + 1 - by0, by1 - np.arange(y0, y1)), 0, 1)
    out[:, :, 3] = ay.astype(np.float32)[:, None] * ax.astype(np.float32)[None, :]
    out[:, :, :3] *= out[:, :, 3:4]
    return out


@dataclass(frozen=True)
class Optics:
    """What the renderer needs of the lens state."""

    focal_mm: float
    f_number: float
    focus_m: float


def render(
    scene: Scene,
    canvas: Canvas,
    lens: Optics,
    window: tuple[int, int, int, int] | None = None,
    device: tuple[Any, Any, dict] | None = None,
) -> tuple[Any, np.ndarray]:
    """Defocused linear RGB and sharp depth of ``window`` (y0, x0, y1, x1) of the canvas.

    ``device = (xp, ndimage, layers)`` blurs and composites with that array module (CuPy and
    ``cupyx.scipy.ndimage``; NumPy and SciPy give the same maths on the CPU), uploading each
    sharp layer once into the ``layers`` dict; full frames only.

    Returns
    -------
    rgb : (h, w, 3) float32
        Composited reflectance, blurred per plane by its circle of confusion (an ``xp``
        array with ``device``).
    depth : (h, w) float32 NumPy
        Depth (m) of the nearest plane covering each pixel centre (``inf`` for the sky).
    """
    if device is not None and window is not None:
        raise ValueError("device rendering is for full frames only")
    y0, x0, y1, x1 = window if window is not None else (0, 0, canvas.height, canvas.width)
    h, w = y1 - y0, x1 - x0
    if device is None:
        rgb = np.zeros((h, w, 3), np.float32)
    else:
        xp, ndi, layers = device
        rgb = xp.zeros((h, w, 3), xp.float32)
    # depth depends on the geometry only: kept per canvas and window
    depth_key = (canvas, (y0, x0, y1, x1), tuple(id(p) for p in scene.planes))
    cached_depth = scene._depth.get(depth_key) if window is None else None
    depth = cached_depth if cached_depth is not None else np.full((h, w), np.inf, np.float32)
    airy = optics.airy_disc_px(lens.f_number, canvas.pixel_mm * 1000)
    full = window is None
    for plane in scene.planes:  # far to near
        coc = float(
            optics.coc_px(
                lens.focal_mm, lens.f_number, lens.focus_m, plane.depth_m, canvas.pixel_mm * 1000
            )
        )
        pad = blur_radius_px(coc, airy)
        bx0, by0, bx1, by1 = canvas.box_px(plane)
        py0, px0, py1, px1 = math.floor(by0), math.floor(bx0), math.ceil(by1), math.ceil(bx1)
        # The sharp layer: a full render keeps one per plane (SHARP_MARGIN around the canvas,
        # whatever the blur, so focus and aperture changes reuse it); a window takes what its
        # blur reaches, in steps of 64 px so that a focus sweep reuses a few. Both are limited
        # to the plane's own rectangle.
        reach = SHARP_MARGIN if full else -(-pad // 64) * 64  # steps of 64: reuse
        ry0, rx0 = max(y0 - reach, py0), max(x0 - reach, px0)
        ry1, rx1 = min(y1 + reach, py1), min(x1 + reach, px1)
        if ry1 <= ry0 or rx1 <= rx0:
            continue
        sharp = scene.sharp_layer(plane, canvas, (ry0, rx0, ry1, rx1))
        # sharp coverage of the window gives the depth truth
        cy0, cx0 = max(ry0, y0), max(rx0, x0)
        cy1, cx1 = min(ry1, y1), min(rx1, x1)
        if cached_depth is None and cy1 > cy0 and cx1 > cx0:
            cov = sharp[cy0 - ry0 : cy1 - ry0, cx0 - rx0 : cx1 - rx0, 3] >= 0.5
            depth[cy0 - y0 : cy1 - y0, cx0 - x0 : cx1 - x0][cov] = plane.depth_m
        # the blurred layer covers the window where it lies within `pad` of the sharp one
        gy0, gx0 = max(ry0 - pad, y0), max(rx0 - pad, x0)
        gy1, gx1 = min(ry1 + pad, y1), min(rx1 + pad, x1)
        if gy1 <= gy0 or gx1 <= gx0:
            continue
        have, need = (ry0, rx0, ry1, rx1), (gy0 - pad, gx0 - pad, gy1 + pad, gx1 + pad)
        if device is None:
            src = _blur_source(sharp, have, need, (py0, px0, py1, px1), _pad)
            blurred = defocus_blur(np.ascontiguousarray(src), coc, airy)[pad:-pad, pad:-pad]
            _over(rgb[gy0 - y0 : gy1 - y0, gx0 - x0 : gx1 - x0], blurred)
            continue
        key = (id(plane), canvas, have)
        if key not in layers:
            layers[key] = xp.asarray(sharp)
        src = _blur_source(layers[key], have, need, (py0, px0, py1, px1), _xp_pad(xp))
        blurred = defocus_blur_xp(src, coc, airy, xp, ndi)[pad:-pad, pad:-pad]
        view = rgb[gy0 - y0 : gy1 - y0, gx0 - x0 : gx1 - x0]
        view *= 1.0 - blurred[:, :, 3:4]
        view += blurred[:, :, :3]
    if window is None and cached_depth is None:
        with scene._lock:
            if len(scene._depth) >= 4:  # a few lenses' worth
                scene._depth.pop(next(iter(scene._depth)))
            scene._depth[depth_key] = depth
    return rgb, depth


def _over_py(dst: np.ndarray, layer: np.ndarray) -> None:
    """``dst = dst * (1 - alpha) + rgb`` for a premultiplied RGBA ``layer``, in place."""
    h, w = dst.shape[:2]
    one = np.float32(1.0)
    for y in numba.prange(h):
        for x in range(w):
            t = one - layer[y, x, 3]
            for c in range(3):
                dst[y, x, c] = dst[y, x, c] * t + layer[y, x, c]


_over_par = numba.njit(parallel=True, fastmath=True, cache=True)(_over_py)
_over_ser = numba.njit(fastmath=True, cache=True)(_over_py)


def _over(dst: np.ndarray, layer: np.ndarray) -> None:
    # Small windows (autofocus) run serially: no thread-pool wake-up, and an autofocus sweep
    # in another thread never launches a parallel region next to the reader's (numba's
    # fallback "workqueue" threading layer is not thread-safe).
    (_over_ser if dst.shape[0] * dst.shape[1] < 1 << 18 else _over_par)(dst, layer)


#: Pixels of sharp layer kept around the canvas by a full render (see :func:`render`).
SHARP_MARGIN = 64


def _blur_source(
    sharp: Any,
    have: tuple[int, int, int, int],
    need: tuple[int, int, int, int],
    plane_box: tuple[int, int, int, int],
    pad: Callable[[Any, tuple, str], Any],
) -> Any:
    """The sharp layer over the ``need`` box (y0, x0, y1, x1) from what it covers (``have``):
    zeros beyond the plane's edges, a mirror image where the plane goes on beyond ``have``."""
    ry0, rx0, ry1, rx1 = have
    ny0, nx0, ny1, nx1 = need
    py0, px0, py1, px1 = plane_box
    sy0, sx0, sy1, sx1 = max(ry0, ny0), max(rx0, nx0), min(ry1, ny1), min(rx1, nx1)
    src = sharp[sy0 - ry0 : sy1 - ry0, sx0 - rx0 : sx1 - rx0]
    mirror = (
        (sy0 - max(py0, ny0), min(py1, ny1) - sy1),
        (sx0 - max(px0, nx0), min(px1, nx1) - sx1),
        (0, 0),
    )
    mirror = tuple((max(a, 0), max(b, 0)) for a, b in mirror)
    zeros = (
        (sy0 - ny0 - mirror[0][0], ny1 - sy1 - mirror[0][1]),
        (sx0 - nx0 - mirror[1][0], nx1 - sx1 - mirror[1][1]),
    )
    return pad(pad(src, mirror[:2], "reflect"), zeros, "constant")


def _pad(a: np.ndarray, widths: tuple, mode: str) -> np.ndarray:
    """``np.pad`` of the first two axes, ``reflect`` or zeros, by OpenCV (several times
    faster) when it can."""
    (t, b), (l, r) = widths
    if not (t or b or l or r):
        return a
    h, w = a.shape[:2]
    if mode == "reflect" and (max(t, b) >= h or max(l, r) >= w):
        return np.pad(a, ((t, b), (l, r), (0, 0)), mode="reflect")  # repeated mirroring
    border = cv2.BORDER_REFLECT_101 if mode == "reflect" else cv2.BORDER_CONSTANT
    out = cv2.copyMakeBorder(a, t, b, l, r, border, value=(0, 0, 0, 0))
    return out.reshape(h + t + b, w + l + r, a.shape[2])


def _xp_pad(xp: Any) -> Callable[[Any, tuple, str], Any]:
    """The padding of :func:`_pad` for array module ``xp``."""

    def pad(a: Any, widths: tuple, mode: str) -> Any:
        if not any(a or b for a, b in widths):
            return a
        return xp.pad(a, (*widths, (0, 0)), mode=mode)

    return pad
