"""Thin-lens optics of the simulated camera: crop factor, field of view, depth of field, blur.

All formulas are the standard thin-lens ones (distances measured from the lens, focal length
``f``, f-number ``N``, focus distance ``s``, subject distance ``d``):

- hyperfocal distance ``H = f**2 / (N * c) + f``
- near limit ``Dn = s * (H - f) / (H + s - 2 f)``, far limit ``Df = s * (H - f) / (H - s)``
  for ``s < H`` and infinity beyond
- blur-circle (circle of confusion) diameter on the sensor of a point at ``d`` when focused
  at ``s``: ``b = f**2 / (N * (s - f)) * |d - s| / d`` (``f**2 / (N (s - f))`` at infinity)
- Airy disc diameter (to the first dark ring) ``2.44 * lambda * N``

Circle-of-confusion criterion: the acceptable blur circle is the sensor diagonal / 1500
(:data:`COC_DIVISOR`), the convention that gives 0.029 mm on full frame (43.3 mm diagonal).
On the 1-inch IMX989 (16.4 mm diagonal) it is 0.0109 mm, about 6.8 sensor pixels.

The point spread function of a defocused, diffraction-limited lens (:func:`blur_kernel`,
:func:`defocus_blur`) is a pillbox of the blur-circle diameter convolved with a Gaussian
approximation of the Airy core (sigma = 0.42 lambda N, i.e. 0.172 of the Airy diameter).

Units: distances in metres, focal lengths, sensor sizes and blur diameters in millimetres,
pixel pitch in micrometres.
"""

from __future__ import annotations

import math
from typing import Any

import cv2
import numpy as np

from .backend import array_module

#: Full-frame (36 x 24 mm) diagonal in mm: the reference of the crop factor.
FULL_FRAME_DIAGONAL_MM: float = math.hypot(36.0, 24.0)
#: Acceptable circle of confusion = sensor diagonal / COC_DIVISOR.
COC_DIVISOR: float = 1500.0
#: Wavelength used for diffraction figures (green, mm).
WAVELENGTH_MM: float = 550e-6
#: The diffraction warning fires when the Airy disc is wider than this many pixels.
DIFFRACTION_WARN_PX: float = 2.0


def _positive(name: str, value: float) -> float:
    try:
        v = float(value)
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be a positive number, got {value!r}") from None
    if not v > 0:  # also refuses NaN
        raise ValueError(f"{name} must be positive, got {value!r}")
    return v


def sensor_diagonal_mm(width_mm: float, height_mm: float) -> float:
    """Diagonal of a sensor of ``width_mm`` x ``height_mm``."""
    return math.hypot(_positive("width_mm", width_mm), _positive("height_mm", height_mm))


def crop_factor(width_mm: float, height_mm: float) -> float:
    """Full-frame diagonal over the sensor diagonal (about 2.64 for the 1-inch IMX989)."""
    return FULL_FRAME_DIAGONAL_MM / sensor_diagonal_mm(width_mm, height_mm)


def equivalent_focal_mm(focal_mm: float, width_mm: float, height_mm: float) -> float:
    """Full-frame equivalent focal length (same diagonal field of view)."""
    return _positive("focal_mm", focal_mm) * crop_factor(width_mm, height_mm)


def field_of_view_deg(focal_mm: float, size_mm: float) -> float:
    """Angle of view in degrees across ``size_mm`` of sensor, focused at infinity."""
    f = _positive("focal_mm", focal_mm)
    return math.degrees(2.0 * math.atan(_positive("size_mm", size_mm) / (2.0 * f)))


def coc_criterion_mm(width_mm: float, height_mm: float) -> float:
    """Acceptable circle of confusion: the sensor diagonal / 1500, in mm."""
    return sensor_diagonal_mm(width_mm, height_mm) / COC_DIVISOR


def hyperfocal_m(focal_mm: float, f_number: float, coc_mm: float) -> float:
    """Hyperfocal distance ``f**2 / (N c) + f`` in metres."""
    f = _positive("focal_mm", focal_mm)
    n = _positive("f_number", f_number)
    c = _positive("coc_mm", coc_mm)
    return (f * f / (n * c) + f) / 1000.0


def depth_of_field(
    focal_mm: float, f_number: float, focus_m: float, coc_mm: float
) -> tuple[float, float]:
    """Near and far limits of acceptable sharpness, in metres (thin lens).

    Parameters
    ----------
    focal_mm : float
        Focal length (mm).
    f_number : float
        Aperture as an f-number.
    focus_m : float
        Focus distance from the lens (m); must be beyond the focal length.
    coc_mm : float
        Acceptable circle of confusion on the sensor (mm), e.g. :func:`coc_criterion_mm`.

    Returns
    -------
    (near_m, far_m) : tuple of float
        ``far_m`` is ``math.inf`` at and beyond the hyperfocal distance.
    """
    f = _positive("focal_mm", focal_mm)
    s = _positive("focus_m", focus_m) * 1000.0
    if s <= f:
        raise ValueError(f"focus_m must be beyond the focal length ({f} mm), got {focus_m!r}")
    h = hyperfocal_m(f, f_number, coc_mm) * 1000.0
    if math.isinf(s):  # the limit of the formula: everything from H - f = f^2 / (N c)
        return (h - f) / 1000.0, math.inf
    near = s * (h - f) / (h + s - 2.0 * f)
    far = math.inf if s >= h else s * (h - f) / (h - s)
    return near / 1000.0, far / 1000.0


def blur_circle_mm(
    focal_mm: float, f_number: float, focus_m: float, subject_m: float | np.ndarray
) -> float | np.ndarray:
    """Blur-circle diameter on the sensor (mm) of a point at ``subject_m`` (may be ``inf``).

    Vectorised over ``subject_m`` (a float or a NumPy array of distances in m). Computed as
    ``f**2 / N * |1/d - 1/s| / (1 - f/s)``, the same formula written so that ``s`` and ``d``
    may be infinite.
    """
    f = _positive("focal_mm", focal_mm)
    n = _positive("f_number", f_number)
    s = _positive("focus_m", focus_m) * 1000.0
    if s <= f:
        raise ValueError(f"focus_m must be beyond the focal length ({f} mm), got {focus_m!r}")
    d = np.asarray(subject_m, dtype=np.float64) * 1000.0
    if np.any(d <= 0) or np.any(np.isnan(d)):
        raise ValueError("subject distances must be positive")
    out = f * f / n * np.abs(1.0 / d - 1.0 / s) / (1.0 - f / s)
    return float(out) if out.ndim == 0 else out


def coc_px(
    focal_mm: float,
    f_number: float,
    focus_m: float,
    depth_m: float | np.ndarray,
    pixel_um: float,
) -> float | np.ndarray:
    """Defocus blur diameter in pixels of pitch ``pixel_um`` for each scene depth (m)."""
    mm = blur_circle_mm(focal_mm, f_number, focus_m, depth_m)
    return mm / (_positive("pixel_um", pixel_um) / 1000.0)


def airy_disc_mm(f_number: float, wavelength_mm: float = WAVELENGTH_MM) -> float:
    """Diameter of the Airy disc (first dark ring) ``2.44 lambda N`` in mm."""
    return 2.44 * _positive("wavelength_mm", wavelength_mm) * _positive("f_number", f_number)


def airy_disc_px(f_number: float, pixel_um: float) -> float:
    """Airy disc diameter in pixels of pitch ``pixel_um``."""
    return airy_disc_mm(f_number) / (_positive("pixel_um", pixel_um) / 1000.0)


def diffraction_warning(f_number: float, pixel_um: float) -> str | None:
    """A warning text when the Airy disc passes two pixels, else ``None``."""
    px = airy_disc_px(f_number, pixel_um)
    if px <= DIFFRACTION_WARN_PX:
        return None
    return (
        f"diffraction: Airy disc {px:.1f} px at f/{f_number:g} "
        f"(> {DIFFRACTION_WARN_PX:g} px of {pixel_um:.2f} um)"
    )


def vignetting_gain(
    radius_mm: np.ndarray,
    image_circle_mm: float,
    full_aperture_stops: float,
    f_number: float,
    max_aperture: float,
) -> np.ndarray:
    """Relative illumination (0..1] at image heights ``radius_mm`` from the optical axis.

    The lens profile gives the light fall-off ``full_aperture_stops`` (EV) at the edge of the
    lens's image circle (radius ``image_circle_mm / 2``) wide open. The fall-off in stops grows
    with the square of the image height, and stopping down removes it over two stops (optical
    vignetting is cut by the aperture; the residual cos^4 part of a rangefinder lens is folded
    into the figure). An M lens's image circle is full frame, so the 1-inch sensor only sees its
    centre: the Summilux's 2.5 EV corner shows as about 0.4 EV here.
    """
    n = _positive("f_number", f_number)
    n0 = _positive("max_aperture", max_aperture)
    stops_down = max(0.0, math.log2(n / n0) * 2.0)  # f-number ratio -> stops
    remaining = max(0.0, 1.0 - stops_down / 2.0)
    half_circle = _positive("image_circle_mm", image_circle_mm) / 2
    xp = array_module(radius_mm)  # NumPy or CuPy, as given
    r = xp.asarray(radius_mm) / half_circle
    return xp.exp2(-full_aperture_stops * remaining * r * r)


# ----- point spread function of defocus and diffraction, in pixels ------------------------


def blur_kernel(diameter_px: float, airy_px: float = 0.0) -> np.ndarray:
    """Normalised PSF: a pillbox of ``diameter_px`` convolved with a Gaussian of sigma
    ``0.172 * airy_px`` (the Airy core's best-fit Gaussian), (k, k) float32, k odd."""
    r = max(diameter_px, 0.0) / 2
    sigma = 0.172 * max(airy_px, 0.0)
    half = int(math.ceil(r + 3 * sigma)) + 1
    ss = 5  # 5x5 samples per kernel pixel for the pillbox coverage
    g = (np.arange(-half * ss, (half + 1) * ss) - (ss - 1) / 2) / ss
    # sparse: a row and a column broadcast, not two (k*ss)^2 copies (50 MB each for the
    # 500 px blur of a photo's grain tile at near focus)
    xx, yy = np.meshgrid(g, g, sparse=True)
    disk = (np.hypot(xx, yy) <= max(r, 0.5 / ss)).astype(np.float64)
    k = 2 * half + 1
    disk = disk[: k * ss, : k * ss].reshape(k, ss, k, ss).sum(axis=(1, 3))
    if sigma > 0.05:
        disk = cv2.GaussianBlur(disk, (0, 0), sigma, borderType=cv2.BORDER_CONSTANT)
    if disk.sum() <= 0:  # a point kernel
        disk = np.zeros((k, k))
        disk[half, half] = 1
    return (disk / disk.sum()).astype(np.float32)


def blur_radius_px(diameter_px: float, airy_px: float = 0.0) -> int:
    """How far (px) the PSF of :func:`blur_kernel` reaches from its centre."""
    return int(math.ceil(max(diameter_px, 0.0) / 2 + 3 * 0.172 * max(airy_px, 0.0))) + 2


def resize_channels(v: np.ndarray, size: tuple[int, int], interpolation: int) -> np.ndarray:
    """``cv2.resize`` of an (h, w, c) array to ``size`` (w, h) with any number of channels
    ``c``: OpenCV's area resampling takes at most 4 where the scale is not a whole number."""
    if v.shape[2] <= 4:
        return cv2.resize(v, size, interpolation=interpolation).reshape(size[1], size[0], -1)
    parts = [
        cv2.resize(np.ascontiguousarray(v[:, :, i : i + 4]), size, interpolation=interpolation)
        for i in range(0, v.shape[2], 4)
    ]
    return np.concatenate([p.reshape(size[1], size[0], -1) for p in parts], axis=2)


def defocus_blur(layer: np.ndarray, diameter_px: float, airy_px: float = 0.0) -> np.ndarray:
    """Blur a (h, w, C) float32 layer by the PSF of :func:`blur_kernel` (zero outside).

    Blurs of 16 px and more run on the layer shrunk by ``k = diameter // 8`` and are scaled
    back up: the result has no detail finer than the blur, so it is the same to the eye and
    costs ``k**2`` times less.
    """
    if diameter_px < 0.5 and airy_px < 1.0:
        return layer
    h, w = layer.shape[:2]
    k = max(1, int(diameter_px // 8))
    if k > 1 and min(h, w) >= 2 * k:
        small = resize_channels(
            layer.reshape(h, w, -1), (max(1, round(w / k)), max(1, round(h / k))), cv2.INTER_AREA
        )
        sk = blur_kernel(diameter_px / k, airy_px / k)
        small = cv2.filter2D(small, -1, sk, borderType=cv2.BORDER_CONSTANT)
        return cv2.resize(small, (w, h), interpolation=cv2.INTER_LINEAR).reshape(layer.shape)
    out = cv2.filter2D(layer, -1, blur_kernel(diameter_px, airy_px), borderType=cv2.BORDER_CONSTANT)
    return out.reshape(layer.shape)


def _upsample(small: Any, k: int, h: int, w: int, xp: Any) -> Any:
    """Bilinear (h, w, C) from block means ``small`` of ``k`` x ``k`` pixels (centres aligned)."""

    def axis(n_out: int, n_in: int) -> tuple[Any, Any, Any]:
        pos = xp.clip((xp.arange(n_out, dtype=xp.float32) + 0.5) / k - 0.5, 0, n_in - 1)
        i0 = xp.floor(pos).astype(xp.int64)
        return i0, xp.minimum(i0 + 1, n_in - 1), (pos - i0).astype(xp.float32)

    y0, y1, fy = axis(h, small.shape[0])
    x0, x1, fx = axis(w, small.shape[1])
    fy, fx = fy[:, None, None], fx[None, :, None]
    rows = xp.take(small, y0, axis=0) * (1 - fy) + xp.take(small, y1, axis=0) * fy
    return xp.take(rows, x0, axis=1) * (1 - fx) + xp.take(rows, x1, axis=1) * fx


def defocus_blur_xp(layer: Any, diameter_px: float, airy_px: float, xp: Any, ndi: Any) -> Any:
    """:func:`defocus_blur` for any array module: ``xp`` (NumPy or CuPy) and its ndimage
    (``scipy.ndimage`` or ``cupyx.scipy.ndimage``). Large blurs run on k x k block means,
    scaled back up bilinearly."""
    if diameter_px < 0.5 and airy_px < 1.0:
        return layer
    h, w, c = layer.shape
    k = max(1, int(diameter_px // 8))
    if k > 1 and min(h, w) >= 2 * k:
        hs, ws = -(-h // k), -(-w // k)
        padded = xp.pad(layer, ((0, hs * k - h), (0, ws * k - w), (0, 0)))
        small = padded.reshape(hs, k, ws, k, c).mean(axis=(1, 3), dtype=xp.float32)
        psf = xp.asarray(blur_kernel(diameter_px / k, airy_px / k))[:, :, None]
        small = ndi.convolve(small, psf, mode="constant")
        return _upsample(small, k, h, w, xp)
    psf = xp.asarray(blur_kernel(diameter_px, airy_px))[:, :, None]
    return ndi.convolve(layer, psf, mode="constant")
