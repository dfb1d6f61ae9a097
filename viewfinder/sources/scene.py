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

The simulated camera's whole frames on the CPU take another road (:meth:`Scene.render_rate`,
module ``scene_grid``): each plane is drawn and blurred on a grid as coarse as its blur or its
photograph allows, and one Numba pass composites the grids at the sensor's size, adds what is
finer than a grid (rectangle edges, surface grain) and writes the sensor's mosaic, with no
full-size RGB: a 50 MP frame in seconds and well under 1.5 GB, a focus change in about one.
:func:`render` stays the reference (and serves windows: autofocus; its ``device=`` blur is
kept for scene objects without ``render_rate``). On a CuPy camera the planes take the grid road
too (:meth:`Scene.render_rate_device`): the grids are drawn and blurred on the CPU, uploaded
(kept on the device per grid and blur) and one kernel (``kernels/scene_planes.cu``) composites
them into the mosaic on the device: no full-size host array, no map upload.

Modules: ``scene_content`` (the charts, colour checker, photos and surface grain the planes
show), ``scene_compositing`` ("over" compositing and the padding of layers for their blur),
``scene_grid`` (the coarse-grid renderer of whole frames); this one holds the scene's geometry
and the renderer, and re-exports the others' public names.
"""

from __future__ import annotations

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
from .scene_compositing import _blur_source, _over, _pad, _xp_pad
from .scene_content import (
    COLOR_CHECKER_LINEAR,
    COLOR_CHECKER_SRGB8,
    DETAIL_AMPLITUDE,
    DETAIL_SCALE,
    _chart_board,
    _color_checker,
    _detail_tile,
    _photo,
    _procedural_texture,  # noqa: F401 - kept importable here for the tests
    siemens_star,
    slanted_edge,
    srgb_to_linear,
)

__all__ = [
    "COLOR_CHECKER_LINEAR",
    "COLOR_CHECKER_SRGB8",
    "DETAIL_AMPLITUDE",
    "DETAIL_SCALE",
    "SHARP_MARGIN",
    "Canvas",
    "Content",
    "Optics",
    "Plane",
    "Scene",
    "render",
    "siemens_star",
    "slanted_edge",
    "srgb_to_linear",
]

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


def check_mosaic_window(window: tuple[int, int, int, int]) -> None:
    """Refuse a mosaic ``window`` (y0, x0, y1, x1) that does not start on even pixels (the
    RGGB sites of the window are those of the canvas)."""
    if window[0] % 2 or window[1] % 2:
        raise ValueError(f"a mosaic window must start on even pixels, got {window}")


class ByteLRU(OrderedDict):
    """A least-recently-used cache of arrays bounded by their bytes (``nbytes``): the
    scene's sharp layers, scene_grid's sharp grids and their blurred copies on the device.
    Not locked: the scene's lock guards it."""

    def __init__(self) -> None:
        super().__init__()
        self.nbytes = 0

    def hit(self, key: Any) -> Any:
        """The value kept for ``key`` (now the most recently used), or None."""
        value = self.get(key)
        if value is not None:
            self.move_to_end(key)
        return value

    def keep(self, key: Any, value: Any, limit: int) -> None:
        """Keep ``value`` unless it alone passes ``limit`` bytes (or ``key`` is kept
        already), then drop the least recently used until the rest fit."""
        if value.nbytes > limit or key in self:
            return
        self[key] = value
        self.nbytes += value.nbytes
        while self.nbytes > limit:
            _, old = self.popitem(last=False)
            self.nbytes -= old.nbytes

    def clear(self) -> None:
        super().clear()
        self.nbytes = 0


class Scene:
    """The seeded test scene: :attr:`planes` far to near, ``white_luminance`` in cd/m^2."""

    name = "planes"
    #: Where the camera focuses first: the astronaut plane.
    subject_m = 3.0

    def __init__(self, seed: int = 0, white_luminance: float = 500.0) -> None:
        self.seed = seed
        self.white_luminance = float(white_luminance)
        self._sharp = ByteLRU()
        self._lock = threading.Lock()
        self._depth: dict[tuple, np.ndarray] = {}  # render() keeps the depth of full frames
        self._grids = ByteLRU()  # scene_grid's sharp grids
        #: scene_grid's blurred grids on the device, by device, grid and blur
        self._device_grids = ByteLRU()
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
            layer = self._sharp.hit(key)
        if layer is not None:
            return layer
        layer = _render_plane(plane, canvas, *region)
        with self._lock:
            self._sharp.keep(key, layer, self.SHARP_CACHE_BYTES)
        return layer

    def render_rate(
        self,
        canvas: Canvas,
        lens: Optics,
        window: tuple[int, int, int, int],
        matrix: np.ndarray,
        vig: tuple[np.ndarray, np.ndarray],
        progress: Callable[[float, str], None] | None = None,
    ) -> np.ndarray:
        """The RGGB mosaic (h, w) float32 of ``matrix @ rgb`` times the separable vignetting
        ``vig = (rows, columns)`` over canvas ``window`` (even y0 and x0): the sensor's
        photo-electron rates, drawn on coarse grids per plane and composited in one pass at
        the sensor's size, no full-size RGB (:mod:`viewfinder.sources.scene_grid`)."""
        from .scene_grid import render_planes

        check_mosaic_window(window)
        return render_planes(self, canvas, lens, window, matrix, vig, True, progress)

    def render_rate_device(
        self,
        canvas: Canvas,
        lens: Optics,
        window: tuple[int, int, int, int],
        matrix: np.ndarray,
        vig: tuple[np.ndarray, np.ndarray],
        xp: Any,
        progress: Callable[[float, str], None] | None = None,
    ) -> Any:
        """:meth:`render_rate` on the device ``xp`` (``cupy``, or ``viewfinder.cudasim``):
        the planes' grids are drawn and blurred on the host as there (small: the plane's
        content, not the sensor) and uploaded, kept on the device per grid and blur, and
        ``kernels/scene_planes.cu`` composites them into the (h, w) float32 mosaic on the
        current stream. No host sync; no full-size host array. The CPU path's mosaic within
        float32 rounding (:func:`viewfinder.sources.scene_grid.render_planes_device`)."""
        from .scene_grid import render_planes_device

        check_mosaic_window(window)
        return render_planes_device(self, canvas, lens, window, matrix, vig, xp, progress)

    def depth_window(
        self, canvas: Canvas, window: tuple[int, int, int, int]
    ) -> tuple[np.ndarray, None]:
        """Depth (m) of the pixels of canvas ``window`` (y0, x0, y1, x1), as :func:`render`
        gives it, and ``None`` (every pixel's depth is known)."""
        from .scene_grid import depth_window

        return depth_window(self, canvas, window), None

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
    m_per_px = canvas.pixel_mm / canvas.focal_mm * plane.depth_m
    return _render_box(plane, canvas.box_px(plane), m_per_px, y0, x0, y1, x1)


def _render_box(
    plane: Plane,
    box: tuple[float, float, float, float],
    m_per_px: float,
    y0: int,
    x0: int,
    y1: int,
    x1: int,
    out: np.ndarray | None = None,
) -> np.ndarray:
    """Sharp premultiplied RGBA (y1-y0, x1-x0, 4) float32 of ``plane`` over a window of a
    pixel grid on which the plane's rectangle is ``box`` (x0, y0, x1, y1 in pixel-edge
    coordinates) and one pixel spans ``m_per_px`` metres of the plane (procedural content);
    alpha is the rectangle's coverage of each pixel. Into ``out`` where given (C-contiguous,
    that shape and dtype); an ``out`` of 2 channels gets (value, alpha) of grey content (one
    with a ``grey`` fill, :mod:`~viewfinder.sources.scene_content`)."""
    bx0, by0, bx1, by1 = box
    h, w = y1 - y0, x1 - x0
    if out is None:
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
    # coverage of each pixel by the rectangle, anti-aliased on the rim
    ax = np.clip(np.minimum(np.arange(x0, x1) + 1 - bx0, bx1 - np.arange(x0, x1)), 0, 1)
    ay = np.clip(np.minimum(np.arange(y0, y1) + 1 - by0, by1 - np.arange(y0, y1)), 0, 1)
    ax, ay = ax.astype(np.float32), ay.astype(np.float32)
    if plane.texture is None:
        # procedural content, sampled at pixel centres in plane metres
        xs = (np.arange(x0, x1, dtype=np.float32) + 0.5 - (bx0 + bx1) / 2) * m_per_px
        ys = (np.arange(y0, y1, dtype=np.float32) + 0.5 - (by0 + by1) / 2) * m_per_px
        if out.shape[2] == 2:
            plane.content.grey(xs, ys, float(m_per_px), ay, ax, out)
            return out
        fill = getattr(plane.content, "fill", None)
        if fill is not None:  # drawn, covered and premultiplied in one pass (no meshgrid)
            fill(xs, ys, float(m_per_px), ay, ax, out)
            return out
        xg, yg = np.meshgrid(xs, ys)
        out[:, :, :3] = plane.content(xg, yg, m_per_px)
    _coverage(out, ay, ax)  # premultiply
    return out


@numba.njit(parallel=True, cache=True)
def _coverage(out, ay, ax):  # pragma: no cover - numba
    """``out[..., 3] = ay * ax`` (float32) and the colour times it: one pass over a layer that
    can be tens of megapixels."""
    h, w = out.shape[:2]
    for y in numba.prange(h):
        for x in range(w):
            a = ay[y] * ax[x]
            out[y, x, 3] = a
            for c in range(3):
                out[y, x, c] *= a


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
    progress: Callable[[float, str], None] | None = None,
) -> tuple[Any, np.ndarray]:
    """Defocused linear RGB and sharp depth of ``window`` (y0, x0, y1, x1) of the canvas.

    ``progress(fraction, text)`` is called after each plane ("plane 3 of 7 (coffee)").

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
    if hasattr(scene, "render_view"):  # a depth photograph renders itself (on the CPU)
        return scene.render_view(canvas, lens, window)
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
    for index, plane in enumerate(scene.planes):  # far to near
        if progress is not None and index:
            n = len(scene.planes)
            progress(index / n, f"plane {index} of {n} ({scene.planes[index - 1].name})")
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


#: Pixels of sharp layer kept around the canvas by a full render (see :func:`render`).
SHARP_MARGIN = 64
