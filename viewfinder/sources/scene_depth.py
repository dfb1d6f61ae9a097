"""A scene from a real depth photograph: the Middlebury 2014 "motorcycle".

scikit-image bundles the left view of the Middlebury 2014 stereo pair "Motorcycle" (500 x 741,
downsampled from the dataset's full size) with its ground-truth disparity
(``skimage.data.stereo_motorcycle()``; Scharstein et al., "High-resolution stereo datasets with
subpixel-accurate ground truth", GCPR 2014, https://vision.middlebury.edu/stereo/data/scenes2014/).
Its calibration for that size, from the function's docstring (:data:`MOTORCYCLE`): focal length
994.978 px, baseline 193.001 mm, principal point (311.193, 254.877) px, ``doffs`` (the x
difference of the two cameras' principal points) 31.086 px; depth ``Z = baseline * focal /
(disparity + doffs)``. That gives 2.1 m (the front of the motorcycle, the floor at the bottom
edge) to 5.0 m (the garage's back wall). 7 % of the pixels have no disparity (mostly the strips
of background that only the left camera sees, beside foreground edges): each takes the farther
of its nearest known neighbours on the row (the background, which is what such strips are);
``truth()["depth_known"]`` says which ones.

Geometry: the photograph is a pinhole view (focal ``F`` px). A canvas pixel at sensor position
``x`` (mm) behind a lens of focal length ``f`` looks along the tangent ``x / f``, which the
photograph shows at ``x / f * F`` px from its centre: the simulated camera stands where the
photographer stood and looks at the middle of the picture (a lens shift from the photograph's
principal point, which changes no ray). One canvas pixel covers ``A = pixel * F / f`` photo
pixels: 0.046 for the Summilux-M 35 at 8192 x 6144, so a photo pixel spans 22 sensor pixels.
Lenses wider than the photograph (the built-in 23 mm equivalent) see beyond its edges: there
the picture continues mirrored for a short fade and then as its edges blurred and dimmed (a
soft surround, ``depth_known`` False).

Rendering (:meth:`DepthPhotoScene.render_view`, :meth:`DepthPhotoScene.render_rate`):

1. A *work grid* holds the photograph (cubic resampling, or area averaging when the canvas is
   coarser) at ``min(1 / A, 1.5)`` work pixels per photo pixel (coarser if that would pass
   ``WORK_BUDGET`` pixels), over the canvas window plus the reach of the largest blur; its size
   depends on the photograph, not on the sensor.
2. Each work pixel gets its thin-lens signed blur-circle diameter from its depth
   (:func:`viewfinder.optics.coc_px`'s formula, negative in front of the focal plane). Pixels are
   sliced by that diameter between levels (:func:`slice_levels`): 0, then every ``SLICE_PX``
   (0.5) *sensor* pixels (never finer than ``SLICE_MIN_WORK_PX`` work pixels, where the
   photograph has no detail to show it) to ``SLICE_FINE_TO_PX`` (3) sensor pixels, then 1.3
   times apart (at most ``MAX_SLICES``). A pixel of diameter ``c`` between levels ``a`` and
   ``b`` is spread by ``(1 - t) K(a) + t K(b)``, ``t = (c^2 - a^2) / (b^2 - a^2)``: its PSF's
   second moment is its own disc's, ``c^2 / 16``, so the blur follows depth continuously.
   ``K`` is :func:`disc_kernel`: the disc's PSF for a band-limited image (sum 1, second moment
   exactly the disc's, transfer fitted to ``2 J1(u) / u`` within 1 % to 0.42 cycles/px), so
   a 0.75 px circle is no delta and 1.5 px differs from 1.0 px as the optics say.
3. Occlusion-aware defocus: far to near, a layer is its own pixels plus everything nearer than
   it, opaque. Behind the pixels of its ``SEAM_SLICES`` nearer slices it continues with their
   own colours (a surface that crosses a level is one surface: no seam where the two layers
   meet); behind anything nearer, by push-pull inpainting (what the photograph hides behind a
   foreground object is the background carried on). It is blurred by its two levels' PSFs
   (plus the Airy core's Gaussian; blurs of ``DISC_KERNEL_MAX_PX`` and more by
   :func:`viewfinder.optics.defocus_blur`) and composited "over" the farther ones. So a sharp
   foreground stays sharp and clean over a blurred background (the background behind it never
   enters its pixels), a blurred background takes no foreground colour (it is blurred from its
   own continuation), and a blurred foreground veils what lies behind it, as a real lens does.
4. The composite (RGB, each pixel's visible blur-circle diameter and the grain's amplitude) is
   resampled to the sensor's pixels with a separable Keys cubic, and *synthesised fine detail*
   finer than the photograph is laid on at the sensor's size: octaves of band-pass grain at 1,
   1/2, 1/4... photo pixels (those of 2 sensor pixels and more) and a finest one at
   ``FINE_WAVELENGTH_PX`` (2.2) sensor pixels, every tile rolled off to nothing at Nyquist,
   each attenuated per pixel by the optical transfer of that pixel's blur circle
   (``2 J1(pi c f) / (pi c f)``) and of the Airy core: it is surface detail of the subject at
   its depth, blurred as the content is. Its amplitude follows the photograph's own local
   fine-scale contrast (:func:`structure_map`: full on textured surfaces, 0.6 on smooth
   paint, where grain would read as noise). At the focal plane a 960 x 720 frame so has
   detail at 2.2-2.6 px wavelengths that a 1 px blur circle takes a fifth of and a 2 px one
   three quarters of. The grain tiles are seeded and fixed per lens and size, so they stay
   put as focus changes. For the sensor the same pass applies the colour filters' crosstalk,
   vignetting and the exposure scale and writes the CFA mosaic of photo-electron rates
   directly (one Numba pass
   over the sensor, no full-size RGB), so a 50 MP frame needs no 600 MB intermediate.
"""

from __future__ import annotations

import functools
import math
import os
import threading
from dataclasses import dataclass
from typing import Any

import cv2
import numba
import numpy as np

from .. import optics
from .scene import check_mosaic_window

__all__ = [
    "MAX_SLICES",
    "SLICE_MIN_WORK_PX",
    "MOTORCYCLE",
    "SLICE_PX",
    "Calibration",
    "DepthPhoto",
    "DepthPhotoScene",
    "disc_blur",
    "disc_kernel",
    "fill_unknown_depth",
    "slice_levels",
    "motorcycle_photo",
]

#: Slice spacing of the layered defocus near focus, in sensor pixels of blur-circle diameter
#: (but never finer than :data:`SLICE_MIN_WORK_PX` work pixels: the photograph has no detail
#: to show a finer difference). Each pixel blends the PSFs of the two slice levels around its
#: own blur circle, so the spacing sets how exactly the PSF's shape (not its size) is kept.
SLICE_PX = 0.5
#: The finest slice spacing, in work pixels.
SLICE_MIN_WORK_PX = 0.25
#: The fine spacing reaches this blur circle (sensor px, at least 4 fine steps); beyond, the
#: levels grow geometrically by :data:`SLICE_RATIO`.
SLICE_FINE_TO_PX = 3.0
SLICE_RATIO = 1.3
#: At most this many depth layers (the spacing grows beyond).
MAX_SLICES = 48
#: A layer continues behind the pixels of this many nearer slices with their own colours
#: (a surface crossing a slice level is one surface: no seam where inpainting would show);
#: behind nearer ones, by push-pull inpainting (occlusion: no foreground colour).
SEAM_SLICES = 2
#: Blurs of this many work pixels and more use :func:`viewfinder.optics.defocus_blur` (whose
#: box-sampled pillbox is within 1 % of the disc's second moment there, and which shrinks
#: large blurs); below it :func:`disc_kernel`.
DISC_KERNEL_MAX_PX = 12.0
#: Work pixels per photo pixel, at most (finer adds nothing the cubic resampling does not).
MAX_WORK_SCALE = 1.5
#: Work pixels, at most (wide lenses at 50 MP see much of the photograph: work coarser).
WORK_BUDGET = 2_000_000
#: Amplitude of the first grain octave (1 photo pixel), relative to the reflectance; each finer
#: octave has DETAIL_FALLOFF times the one before.
DETAIL_AMPLITUDE = 0.14
DETAIL_FALLOFF = 0.75
#: Grain octaves, at most (wavelengths 1, 1/2, ... photo pixels).
DETAIL_OCTAVES = 6
#: Side of the grain tiles (sensor pixels); each octave repeats with a different period.
TILE = 1024
#: An octave fades in from a wavelength of 2 sensor px over this many px.
FADE_PX = 0.5
#: The finest grain octave, always there: this wavelength (sensor px), its band rolled off to
#: nothing at Nyquist (:data:`NYQUIST_TAPER`), its amplitude the octaves' 1/f falloff
#: continued from the photograph's pixel. The frame has real detail near Nyquist at the focal
#: plane, and a 1 px blur circle takes 23 % of it (2 px: 73 %).
FINE_WAVELENGTH_PX = 2.2
#: Every grain tile's spectrum falls (cos^2) from the first frequency to nothing at the
#: second (cycles per sensor px): no energy at the mosaic's Nyquist frequency.
NYQUIST_TAPER = (0.42, 0.5)
#: The grain is surface texture: its amplitude follows the photograph's own finest-scale
#: relative contrast ``r`` (1 at the picture's median) as ``STRUCTURE_FLOOR + (1 -
#: STRUCTURE_FLOOR) * min(r / STRUCTURE_FULL, 1)``: textured surfaces carry it fully,
#: smooth paint a little (it does not read as noise there).
STRUCTURE_FLOOR = 0.6
STRUCTURE_FULL = 1.5
#: Brightness of the stand-in beyond the photograph's edges.
OUTSIDE_GAIN = 0.45
#: Beyond the edges the mirrored picture fades, over this share of the photograph's width,
#: into the picture blurred by a Gaussian of ``OUTSIDE_BLUR`` x its width and its edges
#: continued outward: a dim, soft surround instead of mirrored copies of the subject (which a
#: 23 mm view showed as a kaleidoscope of motorcycles).
OUTSIDE_FADE = 0.06
OUTSIDE_BLUR = 0.05


@dataclass(frozen=True)
class Calibration:
    """Stereo calibration of a rectified pair (pixels and millimetres)."""

    focal_px: float
    baseline_mm: float
    doffs_px: float
    cx: float
    cy: float

    def depth_m(self, disparity: np.ndarray) -> np.ndarray:
        """Depth (m) of each disparity (px): ``baseline * focal / (disparity + doffs)``."""
        d = np.asarray(disparity, np.float64)
        return (self.baseline_mm * self.focal_px / (d + self.doffs_px) / 1000.0).astype(np.float32)


#: Middlebury 2014 "Motorcycle" at scikit-image's 500 x 741 (``data.stereo_motorcycle``'s
#: docstring, from the dataset's calib.txt scaled to that size).
MOTORCYCLE = Calibration(
    focal_px=994.978, baseline_mm=193.001, doffs_px=31.086, cx=311.193, cy=254.877
)


@dataclass(frozen=True)
class DepthPhoto:
    """A photograph with per-pixel depth: ``rgb`` linear (h, w, 3) float32, ``depth_m``
    (h, w) float32 with the unknown pixels filled, ``known`` (h, w) bool, ``focal_px``."""

    name: str
    rgb: np.ndarray
    depth_m: np.ndarray
    known: np.ndarray
    focal_px: float
    subject_m: float


def fill_unknown_depth(depth: np.ndarray, known: np.ndarray) -> np.ndarray:
    """Depth with each unknown pixel set to the farther of its nearest known neighbours on
    its row (a stereo occlusion strip is background); rows with nothing known take the
    farthest depth. (h, w) float32."""
    h, w = depth.shape
    cols = np.arange(w)[None, :]
    d = np.where(known, depth, 0).astype(np.float32)
    left = np.maximum.accumulate(np.where(known, cols, -1), axis=1)
    right = np.minimum.accumulate(np.where(known, cols, w)[:, ::-1], axis=1)[:, ::-1]
    rows = np.arange(h)[:, None]
    dl = np.where(left >= 0, d[rows, np.clip(left, 0, w - 1)], -np.inf)
    dr = np.where(right < w, d[rows, np.clip(right, 0, w - 1)], -np.inf)
    far = np.maximum(dl, dr)
    far = np.where(np.isfinite(far), far, d[known].max() if known.any() else 1.0)
    return np.where(known, d, far).astype(np.float32)


def _read_motorcycle() -> tuple[np.ndarray, np.ndarray]:
    """The left view (500, 741, 3) uint8 RGB and the disparity of scikit-image's bundled
    Middlebury motorcycle, read from its data folder directly (OpenCV's PNG decoder, the
    same pixels as ``skimage.data.stereo_motorcycle()``): importing ``skimage.io`` (and the
    SciPy modules it pulls in) took 0.25 s of the scene's creation. ``OSError`` when the
    files are not there."""
    import importlib.util

    spec = importlib.util.find_spec("skimage")
    if spec is None or not spec.submodule_search_locations:
        raise OSError("scikit-image is not installed")
    folder = os.path.join(next(iter(spec.submodule_search_locations)), "data")
    bgr = cv2.imread(os.path.join(folder, "motorcycle_left.png"), cv2.IMREAD_COLOR)
    if bgr is None:
        raise OSError(f"no readable motorcycle_left.png in {folder}")
    with np.load(os.path.join(folder, "motorcycle_disp.npz")) as data:
        disparity = data["arr_0"]
    return np.ascontiguousarray(bgr[:, :, ::-1]), disparity


@functools.cache
def motorcycle_photo() -> DepthPhoto:
    """The Middlebury motorcycle from scikit-image, with depth from :data:`MOTORCYCLE`.

    Raises ``ValueError`` when scikit-image (or its bundled data) is missing.
    """
    try:
        left, disparity = _read_motorcycle()
    except Exception:  # not where scikit-image keeps it: its own loader (slower to import)
        try:
            from skimage import data

            left, _right, disparity = data.stereo_motorcycle()
        except Exception as exc:  # scikit-image missing, or its data not bundled
            raise ValueError(
                f"the motorcycle scene needs scikit-image's bundled Middlebury photograph: {exc}"
            ) from None
    from .scene_content import srgb_to_linear

    disparity = np.asarray(disparity, np.float64)
    known = np.isfinite(disparity)
    depth = MOTORCYCLE.depth_m(np.where(known, disparity, 0.0))
    rgb = srgb_to_linear(np.asarray(left)[:, :, :3] / 255.0)
    rgb.setflags(write=False)
    filled = fill_unknown_depth(depth, known)
    filled.setflags(write=False)
    known.setflags(write=False)
    # the motorcycle itself: its tank and engine are 2.27-2.35 m away
    return DepthPhoto("motorcycle", rgb, filled, known, MOTORCYCLE.focal_px, 2.3)


# ----- the layered, occlusion-aware defocus on the work grid --------------------------------


def push_pull(values: np.ndarray, weight: np.ndarray) -> np.ndarray:
    """Fill ``values`` (h, w, c) where ``weight`` (h, w, 0..1) is below 1 from the weighted
    pixels around (push-pull: a pyramid of weighted means, blended back from coarse to fine).
    ``values`` is premultiplied by ``weight``; returns the filled, normalised values."""
    levels = []
    v, wt = values, weight
    while min(v.shape[:2]) > 2:
        levels.append((v, wt))
        h, w = v.shape[:2]
        size = ((w + 1) // 2, (h + 1) // 2)
        v = optics.resize_channels(v, size, cv2.INTER_AREA)
        wt = cv2.resize(wt, size, interpolation=cv2.INTER_AREA)
    total = float(wt.sum())
    mean = v.reshape(-1, v.shape[2]).sum(axis=0) / max(total, 1e-12)
    with np.errstate(invalid="ignore", divide="ignore"):
        f = np.where(wt[:, :, None] > 1e-6, v / wt[:, :, None], mean[None, None, :])
    f = f.astype(np.float32)
    for v, wt in reversed(levels):
        h, w = v.shape[:2]
        up = optics.resize_channels(f, (w, h), cv2.INTER_LINEAR)
        f = v + (1.0 - wt)[:, :, None] * up
    return f


def _signed_coc(depth_m: np.ndarray, lens: Any, pixel_mm: float) -> np.ndarray:
    """Signed blur-circle diameter (px of ``pixel_mm``) of each depth: the thin-lens
    ``f**2 / N * (1/s - 1/d) / (1 - f/s)`` (:func:`viewfinder.optics.blur_circle_mm` with a
    sign: positive beyond the focal plane)."""
    f, n, s = lens.focal_mm, lens.f_number, lens.focus_m * 1000.0
    inv_s = 0.0 if math.isinf(s) else 1.0 / s
    k = f * f / n / (1.0 - f * inv_s) / pixel_mm
    return (k * (inv_s - 1.0 / (depth_m.astype(np.float64) * 1000.0))).astype(np.float32)


def _keys(t: np.ndarray) -> np.ndarray:
    """The Keys (a = -0.5) cubic interpolation kernel at offsets ``t``."""
    t = np.abs(t)
    near = (1.5 * t - 2.5) * t * t + 1.0
    far = ((-0.5 * t + 2.5) * t - 4.0) * t + 2.0
    return np.where(t < 1.0, near, np.where(t < 2.0, far, 0.0))


def _spread_disc(diameter_px: float, sigma_px: float) -> np.ndarray:
    """A disc of ``diameter_px`` (times a Gaussian of ``sigma_px``) area-sampled on a
    sub-grid (16 or more samples a pixel, anti-aliased rim), each sub-sample spread onto the
    pixel grid by the Keys cubic (which reproduces quadratics: the sum, centroid and second
    moment are the continuous disc's). (k, k) float64, ``k = 2 * (ceil(r + 3 sigma) + 2) + 1``."""
    r = max(float(diameter_px), 0.0) / 2
    reach = r + 3 * sigma_px
    half = int(math.ceil(reach)) + 2
    ss = max(16, int(math.ceil(8.0 / max(r, 0.05))))  # >= 8 sub-samples across the radius
    m = int(math.ceil(reach * ss)) + 1
    x = np.arange(-m, m + 1) / ss
    if r * ss < 0.5:
        disc = np.zeros((x.size, x.size))
        disc[m, m] = 1.0
    else:
        rho = np.hypot(x[:, None], x[None, :])
        disc = np.clip((r - rho) * ss + 0.5, 0.0, 1.0)  # area coverage of each sub-sample
    if sigma_px * ss > 0.3:
        disc = cv2.GaussianBlur(disc, (0, 0), sigma_px * ss, borderType=cv2.BORDER_CONSTANT)
    spread = _keys(np.arange(-half, half + 1)[:, None] - x[None, :])
    k = spread @ disc @ spread.T
    return k / k.sum()


#: :func:`disc_kernel` fits the disc's transfer up to this frequency (cycles/px; beyond,
#: to Nyquist, with a twentieth of the weight).
DISC_FIT_TO = 0.42


@functools.lru_cache(maxsize=512)
def disc_kernel(diameter_px: float, airy_px: float = 0.0) -> np.ndarray:
    """Normalised PSF (k, k) float32 of a uniform disc of ``diameter_px`` convolved with the
    Airy core's Gaussian (sigma ``0.172 * airy_px``), accurate for small circles.

    The kernel is the disc's for a band-limited image: its sum is 1, its second moment per
    axis exactly the disc's ``d**2 / 16`` (plus ``sigma**2``), and its transfer, fitted by
    least squares (8-fold symmetric, the support of the area-sampled disc plus 2 px), follows
    the disc's ``2 J1(u) / u`` (times the Gaussian's) within 1 % up to :data:`DISC_FIT_TO`
    cycles/px. A 0.75 px circle is no delta (its centre keeps 0.89), 1.5 px differs from 1.0 px
    as the optics say. Lobes of at most -2 % (as any band-limited kernel has). The start of
    the fit, and its pull (1e-3), is :func:`_spread_disc`.
    """
    d = max(float(diameter_px), 0.0)
    sigma = 0.172 * max(float(airy_px), 0.0)
    prior = _spread_disc(d, sigma)
    half = prior.shape[0] // 2
    orbits: dict[tuple[int, int], list[tuple[int, int]]] = {}
    for i in range(-half, half + 1):
        for j in range(-half, half + 1):
            orbits.setdefault((max(abs(i), abs(j)), min(abs(i), abs(j))), []).append((i, j))
    keys = sorted(orbits)
    g = np.linspace(0.0, 0.5, 26)
    fx, fy = (a.ravel() for a in np.meshgrid(g, g))
    rho = np.hypot(fx, fy)
    target = pillbox_mtf(rho * d, 1.0) * np.exp(-2 * (math.pi * sigma * rho) ** 2)
    weight = np.sqrt(np.where(rho <= DISC_FIT_TO, 1.0, 0.05))
    a = np.zeros((fx.size, len(keys)))
    c = np.zeros((2, len(keys)))
    p = np.zeros(len(keys))
    for col, key in enumerate(keys):
        for i, j in orbits[key]:
            a[:, col] += np.cos(2 * math.pi * (fx * j + fy * i))
        c[0, col] = len(orbits[key])
        c[1, col] = sum(j * j for _i, j in orbits[key])
        i, j = orbits[key][0]
        p[col] = prior[half + i, half + j]
    aw = a * weight[:, None]
    reg = 1e-3
    h = aw.T @ aw + reg * np.eye(len(keys))
    b = aw.T @ (target * weight) + reg * p
    kkt = np.block([[h, c.T], [c, np.zeros((2, 2))]])
    rhs = np.concatenate([b, [1.0, d * d / 16 + sigma * sigma]])
    sol = np.linalg.solve(kkt, rhs)[: len(keys)]
    k = np.zeros_like(prior)
    for col, key in enumerate(keys):
        for i, j in orbits[key]:
            k[half + i, half + j] = sol[col]
    k = (k / k.sum()).astype(np.float32)
    k.setflags(write=False)
    return k


def disc_blur(layer: np.ndarray, diameter_px: float, airy_px: float = 0.0) -> np.ndarray:
    """Blur a (h, w, C) float32 layer by :func:`disc_kernel` (zero outside); blurs of
    :data:`DISC_KERNEL_MAX_PX` and more by :func:`viewfinder.optics.defocus_blur`."""
    if diameter_px >= DISC_KERNEL_MAX_PX:
        return optics.defocus_blur(layer, diameter_px, airy_px)
    if diameter_px < 0.02 and airy_px < 0.3:  # within 1e-4 of a delta
        return layer
    k = disc_kernel(round(float(diameter_px), 5), round(float(airy_px), 5))
    out = cv2.filter2D(layer, -1, k, borderType=cv2.BORDER_CONSTANT)
    return out.reshape(layer.shape)


def slice_levels(
    cmin: float, cmax: float, sensor_px: float = 1.0, max_slices: int = MAX_SLICES
) -> np.ndarray:
    """Signed blur-circle diameters (work px, ascending) of the defocus layers' levels for
    blur circles from ``cmin`` to ``cmax`` (work px), a sensor pixel being ``sensor_px`` work
    pixels: 0, then steps of :data:`SLICE_PX` sensor px (at least :data:`SLICE_MIN_WORK_PX`
    work px) to :data:`SLICE_FINE_TO_PX` sensor px, then growing by :data:`SLICE_RATIO`;
    only those that bound ``[cmin, cmax]``, at most ``max_slices + 1`` (coarser if needed)."""
    step = max(SLICE_PX * sensor_px, SLICE_MIN_WORK_PX)
    fine_to = max(SLICE_FINE_TO_PX * sensor_px, 4 * step)
    ratio = SLICE_RATIO
    reach = max(abs(cmin), abs(cmax), 1e-6)
    while True:
        pos = [0.0]
        while pos[-1] < reach:
            nxt = pos[-1] + step if pos[-1] + step <= fine_to + 1e-9 else pos[-1] * ratio
            pos.append(max(nxt, pos[-1] + step))
        p = np.asarray(pos)
        levels = np.concatenate([-p[:0:-1], p])
        lo = max(int(np.searchsorted(levels, cmin, side="right")) - 1, 0)
        hi = min(int(np.searchsorted(levels, cmax, side="left")), levels.size - 1)
        levels = levels[lo : max(hi, lo + 1) + 1]
        if levels.size <= max_slices + 1:
            return levels
        step, fine_to, ratio = step * 1.25, fine_to * 1.25, ratio * 1.1


@numba.njit(parallel=True, fastmath=True, cache=True)
def _own(k, kk, src, y0, y1, x0, x1, values, weight):  # pragma: no cover - numba
    """``values`` = ``src`` where slice ``kk - SEAM_SLICES <= k <= kk`` else 0, ``weight``
    its mask, over a box."""
    nc = values.shape[2]
    for y in numba.prange(y1 - y0):
        for x in range(x1 - x0):
            ky = k[y0 + y, x0 + x]
            own = ky <= kk and ky >= kk - SEAM_SLICES
            weight[y, x] = np.float32(1.0) if own else np.float32(0.0)
            for c in range(nc):
                values[y, x, c] = src[y0 + y, x0 + x, c] if own else np.float32(0.0)


@numba.njit(parallel=True, fastmath=True, cache=True)
def _cover(k, kk, filled, tt, y0, y1, x0, x1, lo, hi):  # pragma: no cover - numba
    """Where ``k <= kk``: ``lo`` = ``filled``'s 4 channels and alpha (channel 4) weighted by
    ``1 - t`` and ``hi`` weighted by ``t`` (``t`` = ``tt``, the pixel's place between the
    slice's two levels, for its own pixels; 0 for the continuation behind nearer ones);
    else 0. Premultiplied."""
    zero = np.float32(0.0)
    one = np.float32(1.0)
    for y in numba.prange(y1 - y0):
        for x in range(x1 - x0):
            ky = k[y0 + y, x0 + x]
            if ky <= kk:
                t = min(max(tt[y0 + y, x0 + x], zero), one) if ky == kk else zero
                for c in range(4):
                    lo[y, x, c] = filled[y, x, c] * (one - t)
                    hi[y, x, c] = filled[y, x, c] * t
                lo[y, x, 4] = one - t
                hi[y, x, 4] = t
            else:
                for c in range(5):
                    lo[y, x, c] = zero
                    hi[y, x, c] = zero


@numba.njit(parallel=True, fastmath=True, cache=True)
def _over5(acc, lo, hi, y0, x0):  # pragma: no cover - numba
    """``acc = acc * (1 - alpha) + layer`` for the premultiplied 5-channel layer ``lo + hi``
    at (y0, x0) (its alpha clamped to [0, 1]: the cubic spread's lobes overshoot by 1 %)."""
    h, w = lo.shape[:2]
    zero = np.float32(0.0)
    one = np.float32(1.0)
    for y in numba.prange(h):
        for x in range(w):
            a = lo[y, x, 4] + hi[y, x, 4]
            t = one - min(max(a, zero), one)
            for c in range(4):
                v = lo[y, x, c] + hi[y, x, c]
                acc[y0 + y, x0 + x, c] = acc[y0 + y, x0 + x, c] * t + v
            acc[y0 + y, x0 + x, 4] = acc[y0 + y, x0 + x, 4] * t + min(max(a, zero), one)


def layered_defocus(
    rgb: np.ndarray, coc: np.ndarray, airy: float, sensor_px: float = 1.0
) -> tuple[np.ndarray, int]:
    """Occlusion-aware defocus of a photograph with a signed blur circle per pixel.

    Pixels are sliced by their blur circle between the levels of :func:`slice_levels`; a
    pixel at ``c`` between levels ``a`` and ``b`` is spread by ``(1 - t) K(a) + t K(b)``
    with ``t = (c**2 - a**2) / (b**2 - a**2)`` (:func:`disc_kernel`'s PSFs), whose second
    moment is exactly that of its own disc, ``c**2 / 16``: the blur follows the depth
    continuously, with no steps between slices.

    Parameters
    ----------
    rgb : (h, w, 3) float32
        Sharp linear colours.
    coc : (h, w) float32
        Signed blur-circle diameter of each pixel (px; negative in front of the focal plane).
    airy : float
        Airy disc diameter (px).
    sensor_px : float
        Work pixels per sensor pixel (sets the fine slice spacing).

    Returns
    -------
    out : (h, w, 4) float32
        Defocused colour and, in channel 3, the blur-circle diameter (px, unsigned) of what
        each pixel shows (a blend where a blurred edge veils another depth).
    slices : int
        Number of layers composited.
    """
    levels = slice_levels(float(coc.min()), float(coc.max()), sensor_px)
    nl = levels.size
    k = np.clip(np.searchsorted(levels, coc, side="right") - 1, 0, max(nl - 2, 0))
    k = k.astype(np.int32)
    h, w = coc.shape
    src = np.empty((h, w, 4), np.float32)
    src[:, :, :3] = rgb
    src[:, :, 3] = np.abs(coc)
    tt = np.zeros((h, w), np.float32)
    if nl >= 2:
        a2, b2 = levels[k] ** 2, levels[np.minimum(k + 1, nl - 1)] ** 2
        with np.errstate(invalid="ignore", divide="ignore"):
            t = np.where(b2 != a2, (coc.astype(np.float64) ** 2 - a2) / (b2 - a2), 0.0)
        tt[:] = np.clip(t, 0.0, 1.0)
    acc = np.zeros((h, w, 5), np.float32)
    row_min, col_min = k.min(axis=1), k.min(axis=0)  # a slice's cover: k <= kk
    kmin = int(k.min())
    n = 0
    for kk in np.unique(k)[::-1]:  # far to near
        d_lo = abs(float(levels[kk]))
        d_hi = abs(float(levels[min(kk + 1, nl - 1)]))
        reach = optics.blur_radius_px(max(d_lo, d_hi), airy) + 1
        rows, cols = np.flatnonzero(row_min <= kk), np.flatnonzero(col_min <= kk)
        y0, y1 = max(rows[0] - reach, 0), min(rows[-1] + 1 + reach, h)
        x0, x1 = max(cols[0] - reach, 0), min(cols[-1] + 1 + reach, w)
        bh, bw = y1 - y0, x1 - x0
        kk32 = np.int32(kk)
        if kk > kmin:  # nearer pixels: this layer's surface continues behind them
            values = np.empty((bh, bw, 4), np.float32)
            weight = np.empty((bh, bw), np.float32)
            _own(k, kk32, src, y0, y1, x0, x1, values, weight)
            filled = np.ascontiguousarray(push_pull(values, weight), dtype=np.float32)
        else:
            filled = np.ascontiguousarray(src[y0:y1, x0:x1])
        lo = np.empty((bh, bw, 5), np.float32)
        hi = np.empty((bh, bw, 5), np.float32)
        _cover(k, kk32, filled, tt, y0, y1, x0, x1, lo, hi)
        lo = disc_blur(lo, d_lo, airy)
        hi = disc_blur(hi, d_hi, airy)
        _over5(acc, np.ascontiguousarray(lo), np.ascontiguousarray(hi), y0, x0)
        n += 1
    alpha = np.maximum(acc[:, :, 4:5], 1e-6)
    return np.ascontiguousarray(acc[:, :, :4] / alpha), n


# ----- synthesised fine detail ---------------------------------------------------------------


def _j1(x: np.ndarray) -> np.ndarray:
    """Bessel J1 by its integral ``1/pi * int_0^pi cos(t - x sin t) dt`` (no SciPy at run
    time; 1e-7 accurate for the LUT's arguments)."""
    t = (np.arange(256) + 0.5) * (math.pi / 256)
    return np.cos(t[None, :] - np.asarray(x, np.float64)[:, None] * np.sin(t)[None, :]).mean(axis=1)


def pillbox_mtf(diameter_px: np.ndarray, freq: float) -> np.ndarray:
    """Optical transfer of a pillbox of ``diameter_px`` at ``freq`` cycles/px: ``2 J1(u)/u``,
    ``u = pi * d * f`` (signed: contrast reverses past the first zero)."""
    u = math.pi * np.asarray(diameter_px, np.float64) * freq
    out = np.ones_like(u)
    nz = u > 1e-6
    out[nz] = 2.0 * _j1(u[nz]) / u[nz]
    return out


class _Once:
    """A cache of values by key, each computed once by the first thread that asks for it
    (another thread that asks meanwhile waits for that result instead of computing it
    again: the background prefetch and a render share the work); the last ``size`` kept.
    ``fn`` is called with the arguments and then what ``params()`` returns (the module
    constants the value depends on, which tests change: read once, so a value and its key
    agree); both are the key. The values are shared: callers must not write them."""

    def __init__(self, fn: Any, size: int, params: Any = tuple) -> None:
        self.fn, self.size, self.params = fn, size, params
        self._lock = threading.Lock()
        self._cells: dict[tuple, list] = {}
        functools.update_wrapper(self, fn)

    def __call__(self, *args: Any) -> Any:
        params = tuple(self.params())
        key = (*args, *params)
        with self._lock:
            cell = self._cells.pop(key, None) or [threading.Lock(), None]
            self._cells[key] = cell  # the most recent last
            while len(self._cells) > self.size:
                self._cells.pop(next(iter(self._cells)))
        with cell[0]:
            if cell[1] is None:
                cell[1] = (self.fn(*args, *params),)
            return cell[1][0]

    def cache_clear(self) -> None:
        with self._lock:
            self._cells.clear()


def _fft() -> tuple[Any, dict]:
    """``scipy.fft`` with both workers when SciPy is there (its pocketfft is NumPy's: the
    same results, bit for bit), else ``numpy.fft``."""
    try:
        import scipy.fft

        return scipy.fft, {"workers": -1}
    except ImportError:  # pragma: no cover - SciPy is a dependency
        return np.fft, {}


def _make_grain_tile(wavelength_px: float, period: int, seed: int, *taper: float) -> np.ndarray:
    rng = np.random.default_rng(seed)
    fft, kw = _fft()
    spec = fft.rfft2(rng.standard_normal((period, period)), **kw)
    # the band depends on |f| only: rows i and period - i (frequencies +-i / period, exact
    # negatives in fftfreq) are the same, so only rows 0..period // 2 are computed
    half = period // 2 + 1
    fy = np.fft.fftfreq(period)[:half, None]
    fx = np.fft.rfftfreq(period)[None, :]
    f = np.hypot(fy, fx)
    with np.errstate(divide="ignore"):
        band = np.exp(-0.5 * (np.log2(np.maximum(f, 1e-9) * wavelength_px) / 0.5) ** 2)
    lo, hi = taper or NYQUIST_TAPER
    near = f > lo  # below, the taper is cos(0)**2 = 1: band unchanged
    ramp = np.clip((f[near] - lo) / (hi - lo), 0.0, 1.0)
    band[near] = band[near] * np.cos(0.5 * math.pi * ramp) ** 2
    spec[:half] *= band
    spec[half:] *= band[1 : period - period // 2][::-1]
    tile = fft.irfft2(spec, s=(period, period), **kw).astype(np.float32)
    tile /= max(float(tile.std()), 1e-12)
    tile.setflags(write=False)
    return tile


#: Seeded, periodic band-pass grain (period x period) float32 of unit variance, its spectrum
#: a half-octave Gaussian (in log frequency) around 1 / wavelength, rolled off to nothing at
#: Nyquist (:data:`NYQUIST_TAPER`): ``_grain_tile(wavelength_px, period, seed)``. Built once
#: per key (see :class:`_Once`), also from the background prefetch.
_grain_tile = _Once(_make_grain_tile, 16, lambda: NYQUIST_TAPER)


#: Blur-circle diameters (sensor px) of the transfer LUT: steps of 1/LUT_STEPS px.
LUT_STEPS = 8


def _detail_params() -> tuple:
    """The constants the grain octaves depend on (part of their cache keys)."""
    return (DETAIL_OCTAVES, DETAIL_AMPLITUDE, DETAIL_FALLOFF, TILE, FADE_PX, FINE_WAVELENGTH_PX)


def _octaves(photo_px: float, params: tuple) -> tuple[list, list, list, list]:
    """(wavelengths, periods, seed offsets, amplitudes) of the grain octaves, with the
    constants ``params`` (:func:`_detail_params`)."""
    octaves, amplitude, falloff, side, fade_px, fine = params
    waves, periods, salts, amps = [], [], [], []
    for o in range(octaves):
        wavelength = 1.0 / photo_px / 2**o  # sensor px
        if wavelength < 2.0:
            break
        fade = min(1.0, (wavelength - 2.0) / fade_px)  # no aliasing pop near Nyquist
        amps.append(amplitude * falloff**o * fade)
        waves.append(wavelength)
        periods.append(side - 24 * o)  # different periods: the sum does not repeat at TILE
        salts.append(o)
    longest = 1.0 / photo_px
    if longest > fine and amplitude > 0:
        octaves_down = math.log2(longest / fine)
        amps.append(amplitude * falloff**octaves_down)
        waves.append(fine)
        periods.append(side // 2 - 12)  # 230 wavelengths: a smaller tile is as random
        salts.append(97)
    return waves, periods, salts, amps


def _make_tile_block(
    photo_px: float, seed: int, *params: Any
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The octaves' tiles in one (n, TILE, TILE) float32 block, their periods and offsets."""
    waves, periods, salts, _amps = _octaves(photo_px, params)
    side = params[3]
    n = len(waves)
    if n == 0:
        return np.zeros((0, 1, 1), np.float32), np.zeros(0, np.int64), np.zeros((0, 2), np.int64)
    block = np.zeros((n, side, side), np.float32)
    for o in range(n):
        t = _grain_tile(round(waves[o], 4), periods[o], seed * 131 + salts[o])
        block[o, : t.shape[0], : t.shape[1]] = t
    rng = np.random.default_rng(seed + 17)
    offsets = rng.integers(0, side, size=(n, 2)).astype(np.int64)
    return block, np.asarray(periods, np.int64), offsets


#: ``_tile_block(photo_px, seed)``, built once (the two sensors' lenses and one more kept:
#: 20 MB each).
_tile_block = _Once(_make_tile_block, 3, _detail_params)


def _make_detail_lut(photo_px: float, airy_px: float, *params: Any) -> np.ndarray:
    *params, steps = params
    waves, _periods, _salts, amps = _octaves(photo_px, tuple(params))
    n = len(waves)
    if n == 0:
        return np.zeros((0, 2), np.float32)
    longest = 1.0 / photo_px
    m = int(math.ceil(8 * max(longest, params[5]) * steps)) + 2  # to 8 wavelengths: transfer < 2 %
    d = np.arange(m) / steps
    sigma = 0.172 * airy_px
    lut = np.zeros((n, m), np.float32)
    for o in range(n):
        freq = 1.0 / waves[o]
        airy_mtf = math.exp(-2 * (math.pi * sigma * freq) ** 2)
        lut[o] = amps[o] * airy_mtf * pillbox_mtf(d, freq)
        lut[o, -1] = 0.0
    return lut


_detail_lut = _Once(_make_detail_lut, 8, lambda: (*_detail_params(), LUT_STEPS))


def detail_octaves(
    photo_px: float, airy_px: float, seed: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """The grain octaves for a sensor pixel of ``photo_px`` photo pixels.

    Returns ``tiles`` (n, TILE, TILE) float32, ``periods`` (n,) int64, ``offsets`` (n, 2)
    int64 and ``lut`` (n, m) float32: the amplitude of octave ``o`` for a blur circle of
    ``i / LUT_STEPS`` px (amplitude, fade-in near 2 px, pillbox and Airy-core transfer).
    The octaves are 1, 1/2, 1/4... photo pixels down to 2 sensor px, and a last one at
    :data:`FINE_WAVELENGTH_PX` sensor px (when the photograph's pixel is coarser than that).
    Built once per ``(photo_px, seed)`` (the tiles) and ``(photo_px, airy_px)`` (the LUT),
    also by :meth:`DepthPhotoScene.prepare`'s background prefetch; the arrays are shared:
    do not write them.
    """
    tiles, periods, offsets = _tile_block(float(photo_px), int(seed))
    return tiles, periods, offsets, _detail_lut(float(photo_px), float(airy_px))


# ----- resampling to the sensor --------------------------------------------------------------


def _cubic_taps(pos: np.ndarray, n: int) -> tuple[np.ndarray, np.ndarray]:
    """Keys (a = -0.5) cubic taps: indices (m, 4) int64 clamped to [0, n) and weights (m, 4)."""
    i0 = np.floor(pos).astype(np.int64)
    t = (pos - i0).astype(np.float64)
    w = np.empty((pos.size, 4))
    w[:, 0] = ((-0.5 * t + 1.0) * t - 0.5) * t
    w[:, 1] = (1.5 * t - 2.5) * t * t + 1.0
    w[:, 2] = ((-1.5 * t + 2.0) * t + 0.5) * t
    w[:, 3] = (0.5 * t - 0.5) * t * t
    idx = np.clip(i0[:, None] + np.arange(-1, 3)[None, :], 0, n - 1)
    return idx, w.astype(np.float32)


@numba.njit(parallel=True, fastmath=True, cache=True)
def _sensor_pass(
    tmp, yi, yw, coc_scale, y0, x0, tiles, periods, offsets, lut, vig_y, vig_x, mosaic, out
):  # pragma: no cover - numba
    """Vertical cubic resampling, grain (times the amplitude in ``tmp[..., 4]``) and
    vignetting; ``mosaic``: the RGGB site's channel
    of each pixel into ``out`` (h, w, 1), else all three into ``out`` (h, w, 3)."""
    h = yi.shape[0]
    w = tmp.shape[1]
    n_oct = tiles.shape[0]
    m = lut.shape[1]
    steps = np.float32(LUT_STEPS)
    zero = np.float32(0.0)
    one = np.float32(1.0)
    for y in numba.prange(h):
        grain = np.zeros(w, np.float32)
        li = np.empty(w, np.int64)
        a0, a1, a2, a3 = yw[y, 0], yw[y, 1], yw[y, 2], yw[y, 3]
        r0, r1, r2, r3 = yi[y, 0], yi[y, 1], yi[y, 2], yi[y, 3]
        for x in range(w):
            c = a0 * tmp[r0, x, 3] + a1 * tmp[r1, x, 3] + a2 * tmp[r2, x, 3] + a3 * tmp[r3, x, 3]
            k = int(max(c, zero) * coc_scale * steps + np.float32(0.5))
            li[x] = min(k, m - 1)
        for o in range(n_oct):
            p = periods[o]
            row = tiles[o, (y0 + y + offsets[o, 0]) % p]
            lrow = lut[o]
            tx = (x0 + offsets[o, 1]) % p
            x = 0
            while x < w:  # runs of the tile row without a wrap: a branch-free loop
                run = min(w - x, p - tx)
                for i in range(run):
                    grain[x + i] += lrow[li[x + i]] * row[tx + i]
                x += run
                tx = 0
        vy = vig_y[y]
        for x in range(w):
            amp = a0 * tmp[r0, x, 4] + a1 * tmp[r1, x, 4] + a2 * tmp[r2, x, 4] + a3 * tmp[r3, x, 4]
            g = max(one + grain[x] * amp, zero) * vy * vig_x[x]
            if mosaic:
                sy = (y0 + y) & 1
                sx = (x0 + x) & 1
                ch = sy + sx  # RGGB: 0 R, 1 G, 2 B
                v = a0 * tmp[r0, x, ch] + a1 * tmp[r1, x, ch] + a2 * tmp[r2, x, ch]
                v += a3 * tmp[r3, x, ch]
                out[y, x, 0] = max(v, zero) * g
            else:
                for ch in range(3):
                    v = a0 * tmp[r0, x, ch] + a1 * tmp[r1, x, ch] + a2 * tmp[r2, x, ch]
                    v += a3 * tmp[r3, x, ch]
                    out[y, x, ch] = max(v, zero) * g


@numba.njit(parallel=True, fastmath=True, cache=True)
def _rows_pass_planar(src, xi, xw, out):  # pragma: no cover - numba
    """Horizontal cubic resampling of every row into planes: out[c, r, x] from
    src[r, xi[x, :], c] (the RGB path reads it through a (r, x, c) transposed view)."""
    ch, rows, w = out.shape
    for r in numba.prange(rows):
        for x in range(w):
            for c in range(ch):
                out[c, r, x] = (
                    xw[x, 0] * src[r, xi[x, 0], c]
                    + xw[x, 1] * src[r, xi[x, 1], c]
                    + xw[x, 2] * src[r, xi[x, 2], c]
                    + xw[x, 3] * src[r, xi[x, 3], c]
                )


@numba.njit(parallel=True, fastmath=True, cache=True)
def _mosaic_pass(
    tmp, yi, yw, coc_scale, y0, x0, tiles, periods, offsets, lut, vig_y, vig_x, out
):  # pragma: no cover - numba
    """:func:`_sensor_pass`'s mosaic, the same sums in the same order, from the planes
    ``tmp`` (5, rows, w) (contiguous rows: the loops vectorise) into ``out`` (h, w): per
    row, the blur circle and grain amplitude, then each RGGB site's channel over the
    row's even and odd columns."""
    h = yi.shape[0]
    w = tmp.shape[2]
    n_oct = tiles.shape[0]
    m = lut.shape[1]
    steps = np.float32(LUT_STEPS)
    zero = np.float32(0.0)
    one = np.float32(1.0)
    for y in numba.prange(h):
        grain = np.zeros(w, np.float32)
        li = np.empty(w, np.uint32)
        a0, a1, a2, a3 = yw[y, 0], yw[y, 1], yw[y, 2], yw[y, 3]
        r0, r1, r2, r3 = yi[y, 0], yi[y, 1], yi[y, 2], yi[y, 3]
        c0, c1, c2, c3 = tmp[3, r0], tmp[3, r1], tmp[3, r2], tmp[3, r3]
        for x in range(w):
            c = a0 * c0[x] + a1 * c1[x] + a2 * c2[x] + a3 * c3[x]
            k = int(max(c, zero) * coc_scale * steps + np.float32(0.5))
            li[x] = np.uint32(min(k, m - 1))
        for o in range(0, n_oct - 1, 2):  # two octaves a sweep, added in order
            p, q = periods[o], periods[o + 1]
            row = tiles[o, (y0 + y + offsets[o, 0]) % p]
            row2 = tiles[o + 1, (y0 + y + offsets[o + 1, 0]) % q]
            lrow, lrow2 = lut[o], lut[o + 1]
            tx = (x0 + offsets[o, 1]) % p
            tx2 = (x0 + offsets[o + 1, 1]) % q
            x = 0
            while x < w:  # runs without a wrap of either tile row
                run = min(w - x, p - tx, q - tx2)
                for i in range(run):
                    j = li[x + i]
                    g = grain[x + i] + lrow[j] * row[tx + i]
                    grain[x + i] = g + lrow2[j] * row2[tx2 + i]
                x += run
                tx = (tx + run) % p
                tx2 = (tx2 + run) % q
        if n_oct % 2:
            o = n_oct - 1
            p = periods[o]
            row = tiles[o, (y0 + y + offsets[o, 0]) % p]
            lrow = lut[o]
            tx = (x0 + offsets[o, 1]) % p
            x = 0
            while x < w:  # runs of the tile row without a wrap: a branch-free loop
                run = min(w - x, p - tx)
                for i in range(run):
                    grain[x + i] += lrow[li[x + i]] * row[tx + i]
                x += run
                tx = 0
        vy = vig_y[y]
        g0, g1, g2, g3 = tmp[4, r0], tmp[4, r1], tmp[4, r2], tmp[4, r3]
        for x in range(w):  # the gain, kept in grain
            amp = a0 * g0[x] + a1 * g1[x] + a2 * g2[x] + a3 * g3[x]
            grain[x] = max(one + grain[x] * amp, zero) * vy * vig_x[x]
        sy = (y0 + y) & 1
        orow = out[y]
        for par in range(2):  # RGGB: channel sy + sx, 0 R, 1 G, 2 B
            ch = sy + ((x0 + par) & 1)
            v0, v1, v2, v3 = tmp[ch, r0], tmp[ch, r1], tmp[ch, r2], tmp[ch, r3]
            for x in range(par, w, 2):
                v = a0 * v0[x] + a1 * v1[x] + a2 * v2[x]
                v += a3 * v3[x]
                orow[x] = max(v, zero) * grain[x]


def structure_map(rgb: np.ndarray) -> np.ndarray:
    """The grain's amplitude factor (h, w) float32 of each pixel of a photograph: its
    finest-scale relative contrast ``r`` (the RMS of ``luma - blur(luma, 1 px)`` around it
    over the local mean luma, over the picture's median), as ``STRUCTURE_FLOOR + (1 -
    STRUCTURE_FLOOR) * min(r / STRUCTURE_FULL, 1)``."""
    luma = np.ascontiguousarray(rgb, np.float32) @ np.float32([0.2126, 0.7152, 0.0722])
    band = luma - cv2.GaussianBlur(luma, (0, 0), 1.0)
    rms = np.sqrt(cv2.GaussianBlur(band * band, (0, 0), 2.0))
    r = rms / (cv2.GaussianBlur(luma, (0, 0), 2.0) + 0.02)
    r /= max(float(np.median(r)), 1e-6)
    out = STRUCTURE_FLOOR + (1 - STRUCTURE_FLOOR) * np.minimum(r / STRUCTURE_FULL, 1.0)
    return out.astype(np.float32)


# ----- the sensor pass on the device (kernels/scene.cu) ---------------------------------------

#: Sensor rows of a block of ``vf_scene_mosaic`` (VF_SCENE_BY), and the work rows they may
#: reach (VF_SCENE_MAXR: its shared memory).
SCENE_BLOCK_ROWS = 8
SCENE_MAX_ROWS = 12


def _device_mosaic(
    xp: Any, inp: dict[str, Any], window: tuple[int, int, int, int], detail: tuple
) -> Any:
    """Launch ``vf_scene_mosaic`` on ``xp``'s current stream: the (h, w) float32 RGGB mosaic
    of :meth:`DepthPhotoScene._sensor_inputs`' ``inp`` over canvas ``window`` (the grain's
    device tiles and LUT in ``detail``). Per call three uploads (the work grid, one int32
    and one float32 table), the output's allocation, one launch; no host sync."""
    from ..kernels import get_kernel

    y0, x0, y1, x1 = window
    h, w = y1 - y0, x1 - x0
    tiles_d, lut_d, periods, offsets = detail
    n = int(periods.size)
    work = np.ascontiguousarray(inp["work"], dtype=np.float32)  # (rows, ww, 5)
    yi = np.asarray(inp["yi"])
    # a block's 8 rows reach at most 12 work rows (shared memory): a work pixel spans at
    # least one sensor pixel
    first = yi[0::SCENE_BLOCK_ROWS, 0]
    last = yi[np.minimum(np.arange(first.size) * SCENE_BLOCK_ROWS + SCENE_BLOCK_ROWS, h) - 1, 3]
    if first.size and int((last - first).max()) + 1 > SCENE_MAX_ROWS:
        raise ValueError("the work grid is finer than the sensor: the scene kernel needs s <= 1")
    # the grain's tile wraps as tables: the tile column of each column and the offset of
    # each row's tile row in the tiles; padded to one octave at least (no empty slice)
    side = tiles_d.shape[-1]
    k = max(n, 1)
    tcol = np.zeros((k, w), np.int64)
    trow = np.zeros((k, h), np.int64)
    for o in range(n):
        p = int(periods[o])
        tcol[o] = (x0 + int(offsets[o, 1]) + np.arange(w)) % p
        trow[o] = o * side * side + (y0 + int(offsets[o, 0]) + np.arange(h)) % p * side
    # one int32 and one float32 table: column taps (4, w) (planar: coalesced), row taps
    # (h, 4), tile columns and rows; column and row weights, vignetting rows and columns
    ints = np.concatenate([inp["xi"].T.ravel(), yi.ravel(), tcol.ravel(), trow.ravel()])
    floats = np.concatenate([inp["xw"].T.ravel(), inp["yw"].ravel(), inp["vy"], inp["vx"]])
    ints_d = xp.asarray(ints.astype(np.int32))
    floats_d = xp.asarray(floats.astype(np.float32))
    work_d = xp.asarray(work)
    out = xp.empty((h, w), xp.float32)
    i_yi, i_tcol, i_trow = 4 * w, 4 * w + 4 * h, 4 * w + 4 * h + k * w
    f_yw, f_vy, f_vx = 4 * w, 4 * w + 4 * h, 4 * w + 5 * h
    kernel = get_kernel("scene", "vf_scene_mosaic", xp=xp)
    i32 = np.int32
    kernel(
        ((w + 31) // 32, (h + SCENE_BLOCK_ROWS - 1) // SCENE_BLOCK_ROWS, 1),
        (32, SCENE_BLOCK_ROWS, 1),
        (
            work_d,
            i32(work.shape[1]),
            ints_d[:i_yi],
            floats_d[:f_yw],
            ints_d[i_yi:i_tcol],
            floats_d[f_yw:f_vy],
            np.float32(inp["coc_scale"]),
            i32(y0 & 1),
            i32(x0 & 1),
            tiles_d,
            ints_d[i_tcol:i_trow],
            ints_d[i_trow:],
            i32(n),
            lut_d,
            i32(lut_d.shape[1]),
            floats_d[f_vy:f_vx],
            floats_d[f_vx:],
            out,
            i32(w),
            i32(h),
        ),
    )
    return out


# ----- the background prefetch --------------------------------------------------------------

#: Scenes warm Numba and build their grain tiles on a background thread when they are made
#: and when the camera's lens changes (:meth:`DepthPhotoScene.prepare`).
PREFETCH = True


class _Background:
    """One thread that runs queued jobs in order; a job queued again under the same key
    while it still waits replaces the waiting one (the lens the camera has now, not the
    one it had a moment ago). The thread ends when nothing is left (not a daemon: a job is
    short, and the interpreter waits for it rather than stopping it inside Numba)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._jobs: dict[Any, tuple] = {}
        self._thread: threading.Thread | None = None
        self._idle = threading.Event()
        self._idle.set()

    def submit(self, key: Any, fn: Any, *args: Any) -> None:
        with self._lock:
            self._jobs.pop(key, None)
            self._jobs[key] = (fn, args)
            self._idle.clear()
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="viewfinder-scene-prefetch")
                self._thread.start()

    def _run(self) -> None:
        while True:
            with self._lock:
                if not self._jobs:
                    self._thread = None
                    self._idle.set()
                    return
                key = next(iter(self._jobs))
                fn, args = self._jobs.pop(key)
            try:
                fn(*args)
            except Exception:  # noqa: S110 - the render does the same work and raises there
                pass

    def wait(self, timeout: float | None = None) -> bool:
        """Until nothing is queued or running (True), or ``timeout`` seconds (False)."""
        return self._idle.wait(timeout)


#: One background thread: Numba first (a render needs it first), then the grain tiles.
#: (Two threads side by side were slower on two cores: both compete with the render, and
#: the tiles of the lens the camera had for a moment were built too.)
_background = _Background()


def wait_prefetch(timeout: float | None = None) -> bool:
    """Until the background prefetch has nothing queued or running (True), or ``timeout``
    seconds pass (False)."""
    return _background.wait(timeout)


def _warm_numba(host_pass: bool) -> None:
    """Load the Numba functions that a first render calls (from Numba's on-disk cache:
    ~0.25 s in a fresh process, most of it Numba's own type registries, paid by the first
    function loaded; compiled when there is no cache) by calling them with arrays of the
    render's very types: a layered defocus of an 8 x 8 grid over a few slices, and with
    ``host_pass`` the CPU sensor pass (:func:`_rows_pass_planar`, :func:`_mosaic_pass`).
    Numba's ``Dispatcher.compile`` holds its global compiler lock and looks the signature
    up again under it, so a render that calls a function while this loads it waits for
    that load instead of loading it twice."""
    coc = np.linspace(-3.0, 3.0, 64, dtype=np.float32).reshape(8, 8)
    layered_defocus(np.full((8, 8, 3), 0.5, np.float32), coc, 0.5, 1.0)
    if not host_pass:
        return
    xi, xw = _cubic_taps(np.arange(8, dtype=np.float64), 8)
    yi, yw = _cubic_taps(np.arange(2, dtype=np.float64), 4)
    tmp = np.empty((5, 4, 8), np.float32)
    _rows_pass_planar(np.zeros((4, 8, 5), np.float32), xi, xw, tmp)
    tiles = np.zeros((1, 4, 4), np.float32)
    periods, offsets = np.full(1, 4, np.int64), np.zeros((1, 2), np.int64)
    lut, ones = np.zeros((1, 2), np.float32), np.ones(8, np.float32)
    args = (yi, yw, np.float32(1.0), 0, 0, tiles, periods, offsets, lut, ones[:2], ones)
    _mosaic_pass(tmp, *args, np.empty((2, 8), np.float32))


# ----- the scene -----------------------------------------------------------------------------


class DepthPhotoScene:
    """A depth photograph as the simulated camera's scene (default: the Middlebury motorcycle).

    ``subject_m`` is where the camera focuses first; ``white_luminance`` (cd/m^2) is the
    luminance of a reflectance of 1, as for :class:`~viewfinder.sources.scene.Scene`.
    """

    def __init__(
        self, seed: int = 0, white_luminance: float = 500.0, photo: DepthPhoto | None = None
    ) -> None:
        if PREFETCH:  # every render's layered defocus needs these: loaded meanwhile
            _background.submit(("numba", False), _warm_numba, False)
        self.seed = int(seed)
        self.white_luminance = float(white_luminance)
        self.photo = photo if photo is not None else motorcycle_photo()
        self.name = self.photo.name
        self.subject_m = self.photo.subject_m
        self._lock = threading.Lock()
        self._work: dict[tuple, tuple] = {}  # sharp work grids by geometry (a few)
        #: the photograph and its grain amplitude (:func:`structure_map`), (h, w, 4)
        self._rgbs = np.ascontiguousarray(
            np.concatenate([self.photo.rgb, structure_map(self.photo.rgb)[:, :, None]], axis=2),
            dtype=np.float32,
        )
        #: the picture as the surround continues it (see OUTSIDE_BLUR), (h, w, 3)
        self._surround = cv2.GaussianBlur(
            np.ascontiguousarray(self.photo.rgb, dtype=np.float32),
            (0, 0),
            OUTSIDE_BLUR * self.photo.rgb.shape[1],
            borderType=cv2.BORDER_REPLICATE,
        )
        known_depth = self.photo.depth_m
        self.depth_range_m = (float(known_depth.min()), float(known_depth.max()))
        #: layers composited by the last render (for the benchmark and the tests)
        self.last_slices = 0
        #: grain tiles and LUT uploaded by render_rate_device, by device and detail key
        self._on_device: dict[tuple, tuple] = {}

    def prepare(self, canvas: Any, lens: Any, host_pass: bool = True) -> None:
        """Start building what a render of ``canvas`` through ``lens`` (its ``focal_mm``
        and ``f_number``) needs and can know before it (nothing of the focus): on a
        background thread, the Numba functions of the CPU sensor pass (``host_pass``: not
        on a device backend) and the grain tiles and transfer LUT of this lens and pixel
        (:func:`detail_octaves`: 0.1-0.2 s at 50 MP). A render that comes first does the
        work itself, or waits for the part in progress; nothing is done twice. The
        simulated camera calls it when it is made and when its lens or aperture changes."""
        if not PREFETCH:
            return
        if host_pass:
            _background.submit(("numba", True), _warm_numba, True)
        photo_px = self.photo_px(canvas)
        airy = optics.airy_disc_px(lens.f_number, canvas.pixel_mm * 1000)
        _background.submit(("detail", id(self)), detail_octaves, photo_px, airy, self.seed)

    # -- geometry --------------------------------------------------------------------------
    def photo_px(self, canvas: Any) -> float:
        """Photo pixels per canvas pixel, ``A = pixel * F / f``."""
        return canvas.pixel_mm * self.photo.focal_px / canvas.focal_mm

    def _to_photo(self, canvas: Any) -> tuple[float, float, float]:
        """(A, bx, by): photo coordinate (pixel-centre index) ``u = A * x + bx`` of canvas
        pixel index ``x`` (and ``v = A * y + by``): canvas centre on the photo's centre."""
        a = self.photo_px(canvas)
        ph, pw = self.photo.depth_m.shape
        bx = a * (0.5 - canvas.width / 2) + (pw - 1) / 2
        by = a * (0.5 - canvas.height / 2) + (ph - 1) / 2
        return a, bx, by

    def depth_window(
        self, canvas: Any, window: tuple[int, int, int, int]
    ) -> tuple[np.ndarray, np.ndarray]:
        """Depth (m) and ``known`` of the pixels of canvas ``window`` (y0, x0, y1, x1):
        the photograph's nearest pixel (the mirrored stand-in beyond its edges is unknown)."""
        y0, x0, y1, x1 = window
        a, bx, by = self._to_photo(canvas)
        m = np.float64([[a, 0, a * x0 + bx], [0, a, a * y0 + by]])
        size = (x1 - x0, y1 - y0)
        depth = cv2.warpAffine(
            np.ascontiguousarray(self.photo.depth_m),
            m,
            size,
            flags=cv2.INTER_NEAREST | cv2.WARP_INVERSE_MAP,
            borderMode=cv2.BORDER_REFLECT_101,
        )
        known = cv2.warpAffine(
            self.photo.known.astype(np.uint8),
            m,
            size,
            flags=cv2.INTER_NEAREST | cv2.WARP_INVERSE_MAP,
            borderMode=cv2.BORDER_CONSTANT,
            borderValue=0,
        )
        return depth, known.astype(bool)

    def _sharp_work(
        self, scale: float, box: tuple[int, int, int, int]
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """The photograph, its depth and its grain amplitude on the work grid: work pixel
        ``j`` is photo coordinate ``j / scale``; ``box`` (j_y0, j_x0, j_y1, j_x1). Cached."""
        key = (round(scale, 9), box)
        with self._lock:
            hit = self._work.get(key)
        if hit is not None:
            return hit
        jy0, jx0, jy1, jx1 = box
        size = (jx1 - jx0, jy1 - jy0)
        photo = self.photo
        src, sx = self._rgbs, 1.0
        if scale < 1.0:  # the canvas is coarser: area-average first (no aliasing)
            ph, pw = photo.depth_m.shape
            nw, nh = max(2, round(pw * scale)), max(2, round(ph * scale))
            src = cv2.resize(self._rgbs, (nw, nh), interpolation=cv2.INTER_AREA)
            sx = nw / pw
        # work j -> photo u = j / scale -> source (u + 0.5) * sx - 0.5
        k = sx / scale
        m = np.float64([[k, 0, jx0 * k + 0.5 * sx - 0.5], [0, k, jy0 * k + 0.5 * sx - 0.5]])
        flags = cv2.WARP_INVERSE_MAP | (cv2.INTER_CUBIC if scale > 1.0 else cv2.INTER_LINEAR)
        rgbs = cv2.warpAffine(src, m, size, flags=flags, borderMode=cv2.BORDER_REFLECT_101)
        rgb = rgbs[:, :, :3]
        grain = np.ascontiguousarray(np.maximum(rgbs[:, :, 3], 0.0), dtype=np.float32)
        inside = cv2.warpAffine(
            np.ones(src.shape[:2], np.float32),
            m,
            size,
            flags=cv2.WARP_INVERSE_MAP | cv2.INTER_LINEAR,
            borderMode=cv2.BORDER_CONSTANT,
        )
        rgb = np.maximum(rgb, 0) * (OUTSIDE_GAIN + (1 - OUTSIDE_GAIN) * inside)[:, :, None]
        md = np.float64([[1 / scale, 0, jx0 / scale], [0, 1 / scale, jy0 / scale]])
        far = self._outside_weight(scale, box)
        if far is not None:  # the work grid reaches beyond the photograph
            surround = cv2.warpAffine(
                self._surround,
                md,
                size,
                flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP,
                borderMode=cv2.BORDER_REPLICATE,
            )
            # the mirrored picture at full brightness next to the edge (no frame line), fading
            # into the dim surround
            rgb = np.maximum(rgbs[:, :, :3], 0)
            rgb = rgb + far[:, :, None] * (OUTSIDE_GAIN * surround - rgb)
            grain *= 1.0 - far
        depth = cv2.warpAffine(
            np.ascontiguousarray(photo.depth_m),
            md,
            size,
            flags=cv2.INTER_NEAREST | cv2.WARP_INVERSE_MAP,
            borderMode=cv2.BORDER_REFLECT_101,
        )
        out = (np.ascontiguousarray(rgb, dtype=np.float32), depth, grain)
        with self._lock:
            if len(self._work) >= 4:
                self._work.pop(next(iter(self._work)))
            self._work[key] = out
        return out

    def _outside_weight(self, scale: float, box: tuple[int, int, int, int]) -> np.ndarray | None:
        """Weight (h, w) of the blurred surround on the work grid ``box``: 0 inside the
        photograph, rising smoothly to 1 at ``OUTSIDE_FADE`` of its width beyond the edges;
        None when the box lies inside the photograph."""
        jy0, jx0, jy1, jx1 = box
        ph, pw = self.photo.depth_m.shape
        u = (np.arange(jx0, jx1, dtype=np.float32)) / np.float32(scale)  # photo x of work x
        v = (np.arange(jy0, jy1, dtype=np.float32)) / np.float32(scale)
        dx = np.maximum(np.maximum(-u, u - (pw - 1)), 0.0)
        dy = np.maximum(np.maximum(-v, v - (ph - 1)), 0.0)
        if not (dx.any() or dy.any()):
            return None
        t = np.minimum(np.hypot(dy[:, None], dx[None, :]) / np.float32(OUTSIDE_FADE * pw), 1.0)
        return (t * t * (3.0 - 2.0 * t)).astype(np.float32)  # smoothstep

    # -- rendering -------------------------------------------------------------------------
    def _composite(
        self, canvas: Any, lens: Any, window: tuple[int, int, int, int]
    ) -> tuple[np.ndarray, float, float, float, int, int]:
        """Defocused work grid over ``window``: (planes (h, w, 5): colour, blur circle and
        grain amplitude, S, jx of canvas x = 0,
        jy of canvas y = 0, work box origin jy0, jx0): canvas pixel x is work coordinate
        ``S * x + tx`` (pixel-centre index)."""
        a, bx, by = self._to_photo(canvas)
        y0, x0, y1, x1 = window
        footprint = (y1 - y0) * (x1 - x0) * a * a  # photo px under the window
        # work px per photo px: the canvas's own where coarser, else MAX_WORK_SCALE, and
        # at most WORK_BUDGET work pixels
        scale = min(1.0 / a, MAX_WORK_SCALE, math.sqrt(WORK_BUDGET / footprint))
        s = a * scale  # work px per canvas px (<= 1)
        tx, ty = bx * scale, by * scale
        pixel_um = canvas.pixel_mm * 1000
        zmin, zmax = self.depth_range_m
        reach = max(
            abs(float(optics.coc_px(lens.focal_mm, lens.f_number, lens.focus_m, z, pixel_um)))
            for z in (zmin, zmax)
        )
        airy = optics.airy_disc_px(lens.f_number, pixel_um)
        # the top slice level may pass the largest blur circle by SLICE_RATIO
        margin = int(math.ceil(optics.blur_radius_px(reach * s * SLICE_RATIO, airy * s))) + 4
        jx0 = math.floor(s * x0 + tx) - margin
        jx1 = math.ceil(s * (x1 - 1) + tx) + margin + 1
        jy0 = math.floor(s * y0 + ty) - margin
        jy1 = math.ceil(s * (y1 - 1) + ty) + margin + 1
        rgb, depth, grain = self._sharp_work(scale, (jy0, jx0, jy1, jx1))
        coc = _signed_coc(depth, lens, canvas.pixel_mm / s)
        planes, n = layered_defocus(rgb, coc, airy * s, s)
        self.last_slices = n
        return np.concatenate([planes, grain[:, :, None]], axis=2), s, tx, ty, jy0, jx0

    def _sensor_inputs(
        self,
        canvas: Any,
        lens: Any,
        window: tuple[int, int, int, int],
        matrix: np.ndarray,
        vig: tuple[np.ndarray, np.ndarray] | None,
    ) -> dict[str, Any]:
        """What the sensor pass reads, on the host: the composited work grid with ``matrix``
        applied (``work`` (rows, ww, 5), only the rows the taps reach), the cubic taps
        (``xi``, ``xw`` (w, 4); ``yi`` (h, 4) rows of ``work``, ``yw``), ``coc_scale``, the
        grain octaves (``detail``: tiles, periods, offsets, LUT, and their ``detail_key``)
        and the vignetting rows and columns ``vy``, ``vx``."""
        planes, s, tx, ty, jy0, jx0 = self._composite(canvas, lens, window)
        y0, x0, y1, x1 = window
        h, w = y1 - y0, x1 - x0
        work = np.empty(planes.shape, np.float32)
        work[:, :, :3] = planes[:, :, :3] @ np.asarray(matrix, np.float32).T
        work[:, :, 3:] = planes[:, :, 3:]
        xs = s * np.arange(x0, x1, dtype=np.float64) + tx - jx0
        ys = s * np.arange(y0, y1, dtype=np.float64) + ty - jy0
        xi, xw = _cubic_taps(xs, planes.shape[1])
        yi, yw = _cubic_taps(ys, planes.shape[0])
        r0, r1 = int(yi.min()), int(yi.max()) + 1
        pixel_um = canvas.pixel_mm * 1000
        detail_key = (self.photo_px(canvas), optics.airy_disc_px(lens.f_number, pixel_um))
        detail = detail_octaves(*detail_key, self.seed)
        if vig is None:
            vy, vx = np.ones(h, np.float32), np.ones(w, np.float32)
        else:
            vy, vx = (np.ascontiguousarray(v, dtype=np.float32) for v in vig)
        return {
            "work": work[r0:r1],
            "xi": xi,
            "xw": xw,
            "yi": yi - r0,
            "yw": yw,
            "coc_scale": np.float32(1.0 / s),
            "detail": detail,
            "detail_key": (*detail_key, self.seed),
            "vy": vy,
            "vx": vx,
        }

    def _resample(
        self,
        canvas: Any,
        lens: Any,
        window: tuple[int, int, int, int],
        matrix: np.ndarray,
        vig: tuple[np.ndarray, np.ndarray] | None,
        mosaic: bool,
    ) -> np.ndarray:
        y0, x0, y1, x1 = window
        h, w = y1 - y0, x1 - x0
        inp = self._sensor_inputs(canvas, lens, window, matrix, vig)
        src = np.ascontiguousarray(inp["work"])
        # planes: the mosaic pass's rows vectorise
        tmp = np.empty((src.shape[2], src.shape[0], w), np.float32)
        _rows_pass_planar(src, inp["xi"], inp["xw"], tmp)
        tiles, periods, offsets, lut = inp["detail"]
        args = (inp["yi"], inp["yw"], inp["coc_scale"], y0, x0, tiles, periods, offsets, lut)
        args += (inp["vy"], inp["vx"])
        if mosaic:
            rate = np.empty((h, w), np.float32)
            _mosaic_pass(tmp, *args, rate)
            return rate
        out = np.empty((h, w, 3), np.float32)
        # (rows, w, 5), a view
        _sensor_pass(tmp.transpose(1, 2, 0), *args, False, out)
        return out

    def render_rate_device(
        self,
        canvas: Any,
        lens: Any,
        window: tuple[int, int, int, int],
        matrix: np.ndarray,
        vig: tuple[np.ndarray, np.ndarray],
        xp: Any,
    ) -> Any:
        """:meth:`render_rate` on the device ``xp`` (``cupy``, or ``viewfinder.cudasim``):
        the work grid is composited on the host (small: it depends on the photograph, not
        on the sensor) and uploaded with the taps and vignetting, and ``kernels/scene.cu``
        writes the (h, w) float32 mosaic on the device, on the current stream. The grain
        octaves are uploaded once per lens, aperture and size (kept on the device). No host
        sync; no full-size host array. The CPU path's mosaic within float32 rounding (a
        pixel whose blur circle falls on a LUT step may take the next step's grain)."""
        check_mosaic_window(window)
        inp = self._sensor_inputs(canvas, lens, window, matrix, vig)
        return _device_mosaic(xp, inp, window, self._device_detail(xp, inp))

    def _device_detail(self, xp: Any, inp: dict[str, Any]) -> tuple:
        """The grain tiles and LUT on the device ``xp``, uploaded once per detail key (the
        last two kept: the two sensors' lenses)."""
        key = (xp.__name__, inp["detail_key"])
        with self._lock:
            hit = self._on_device.get(key)
        if hit is not None:
            return hit
        tiles, periods, offsets, lut = inp["detail"]
        out = (
            xp.asarray(tiles),
            xp.asarray(np.ascontiguousarray(lut, dtype=np.float32)),
            periods,
            offsets,
        )
        with self._lock:
            if len(self._on_device) >= 2:
                self._on_device.pop(next(iter(self._on_device)))
            self._on_device[key] = out
        return out

    def render_view(
        self, canvas: Any, lens: Any, window: tuple[int, int, int, int] | None = None
    ) -> tuple[np.ndarray, np.ndarray]:
        """Defocused linear RGB (h, w, 3) float32 and depth (h, w) of ``window`` (y0, x0, y1,
        x1; default the whole canvas): what :func:`viewfinder.sources.scene.render` returns."""
        window = window or (0, 0, canvas.height, canvas.width)
        rgb = self._resample(canvas, lens, window, np.eye(3), None, mosaic=False)
        depth, _ = self.depth_window(canvas, window)
        return rgb, depth

    def render_rate(
        self,
        canvas: Any,
        lens: Any,
        window: tuple[int, int, int, int],
        matrix: np.ndarray,
        vig: tuple[np.ndarray, np.ndarray],
    ) -> np.ndarray:
        """The RGGB mosaic (h, w) float32 of ``matrix @ rgb`` times the separable vignetting
        ``vig = (rows, columns)`` over canvas ``window`` (even y0 and x0): the sensor's
        photo-electron rates with ``matrix`` the crosstalk times each channel's electrons per
        second of a white reflector (:func:`viewfinder.sources.rate_map.rate_factors`)."""
        check_mosaic_window(window)
        return self._resample(canvas, lens, window, matrix, vig, mosaic=True)
