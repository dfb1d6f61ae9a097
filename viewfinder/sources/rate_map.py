"""Scene reflectance to the simulated sensor's mosaic of photo-electron rates: the colour
filters' crosstalk, the lens's transmission and vignetting, and the sensor illuminance of a white
reflector, ``E = pi L T / (4 N^2)`` lux (the exposure model of
:mod:`viewfinder.sources.simulated`)."""

from __future__ import annotations

import math

import numpy as np

from .. import optics
from ..backend import array_module
from .lenses import Lens
from .scene import Canvas
from .sensor import Sensor

#: Camera RGB = CROSSTALK @ linear sRGB reflectance (colour-filter overlap; rows sum to 1, so
#: grey stays grey up to the per-channel QE). Its inverse is the frame's colour matrix.
CROSSTALK = np.array([[0.80, 0.17, 0.03], [0.10, 0.80, 0.10], [0.03, 0.22, 0.75]])
COLOR_MATRIX: tuple[tuple[float, ...], ...] = tuple(
    tuple(float(v) for v in row) for row in np.linalg.inv(CROSSTALK)
)
LENS_TRANSMISSION = 0.9


def rate_map(
    rgb: np.ndarray,
    lens: Lens | None,
    f_number: float,
    canvas: Canvas,
    window: tuple[int, int, int, int],
    sensor: Sensor,
    white_luminance: float,
) -> np.ndarray:
    """Mosaic (h, w) float32 of mean photo-electrons per second of a canvas window, as
    seen by ``sensor``; a reflectance of 1 has ``white_luminance`` (cd/m^2)."""
    xp = array_module(rgb)  # NumPy, or CuPy for a device render
    y0, x0, y1, x1 = window
    e_lux = sensor.electrons_per_lux_s()
    # sensor illuminance (lux) of a white reflector: E = pi L T / (4 N^2)
    e_white = math.pi * white_luminance * LENS_TRANSMISSION / (4 * f_number**2)
    if lens is not None:
        ys = (xp.arange(y0, y1, dtype=xp.float32) + 0.5 - canvas.height / 2) * canvas.pixel_mm
        xs = (xp.arange(x0, x1, dtype=xp.float32) + 0.5 - canvas.width / 2) * canvas.pixel_mm
        r = xp.sqrt(ys[:, None] ** 2 + xs[None, :] ** 2)
        vig = optics.vignetting_gain(
            r, lens.image_circle_mm, lens.vignetting_ev, f_number, lens.max_aperture
        ).astype(xp.float32)
    else:
        vig = xp.ones((y1 - y0, x1 - x0), xp.float32)
    rate = xp.empty((y1 - y0, x1 - x0), xp.float32)
    # RGGB: colour of site (y % 2, x % 2) of the canvas (windows start on even pixels)
    for (sy, sx), c in (((0, 0), 0), ((0, 1), 1), ((1, 0), 1), ((1, 1), 2)):
        sub = rgb[sy::2, sx::2]
        m = [np.float32(v) for v in CROSSTALK[c]]
        cam = sub[:, :, 0] * m[0] + sub[:, :, 1] * m[1] + sub[:, :, 2] * m[2]
        rate[sy::2, sx::2] = cam * vig[sy::2, sx::2] * np.float32(e_white * e_lux[c])
    return rate


def rate_factors(
    lens: Lens | None,
    f_number: float,
    canvas: Canvas,
    window: tuple[int, int, int, int],
    sensor: Sensor,
    white_luminance: float,
) -> tuple[np.ndarray, tuple[np.ndarray, np.ndarray]]:
    """What :func:`rate_map` applies, for a scene that writes the mosaic itself: ``matrix``
    (3, 3), camera channel ``c``'s electrons per second from linear sRGB reflectance (the
    crosstalk row times the exposure of a white reflector), and the vignetting as a product
    of a row and a column factor (``2**(-k r**2)`` separates), (h,) and (w,) float32."""
    y0, x0, y1, x1 = window
    e_lux = sensor.electrons_per_lux_s()
    e_white = math.pi * white_luminance * LENS_TRANSMISSION / (4 * f_number**2)
    matrix = CROSSTALK * (e_white * e_lux)[:, None]
    ys = np.abs((np.arange(y0, y1, dtype=np.float64) + 0.5 - canvas.height / 2) * canvas.pixel_mm)
    xs = np.abs((np.arange(x0, x1, dtype=np.float64) + 0.5 - canvas.width / 2) * canvas.pixel_mm)
    if lens is None:
        return matrix, (np.ones(y1 - y0, np.float32), np.ones(x1 - x0, np.float32))
    args = (lens.image_circle_mm, lens.vignetting_ev, f_number, lens.max_aperture)
    vy = optics.vignetting_gain(ys, *args).astype(np.float32)
    vx = optics.vignetting_gain(xs, *args).astype(np.float32)
    return matrix, (vy, vx)
