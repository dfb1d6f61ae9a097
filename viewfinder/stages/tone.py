"""Tone curves: linear light to display values (sRGB encoding, optional S-curve contrast)."""

from __future__ import annotations

from typing import Any

import numpy as np

from ..backend import array_module
from ..settings import TONE_CURVES, check_choice


def srgb_encode(linear: Any) -> Any:
    """IEC 61966-2-1 sRGB encoding of linear values (clipped to [0, 1] first)."""
    xp = array_module(linear)
    v = xp.clip(linear, 0.0, 1.0).astype(xp.float32, copy=False)
    low = v * xp.float32(12.92)
    high = xp.float32(1.055) * xp.power(v, xp.float32(1.0 / 2.4)) - xp.float32(0.055)
    return xp.where(v <= 0.0031308, low, high).astype(xp.float32, copy=False)


def srgb_decode(encoded: Any) -> Any:
    """Inverse of :func:`srgb_encode`."""
    xp = array_module(encoded)
    v = xp.clip(encoded, 0.0, 1.0).astype(xp.float32, copy=False)
    low = v / xp.float32(12.92)
    high = xp.power((v + xp.float32(0.055)) / xp.float32(1.055), xp.float32(2.4))
    return xp.where(v <= 0.04045, low, high).astype(xp.float32, copy=False)


def s_curve(x: Any, strength: float) -> Any:
    """Monotonic contrast S-curve on [0, 1]: a blend of identity and smoothstep."""
    return x + xp_f32(x, strength) * (x * x * (3.0 - 2.0 * x) - x)


def xp_f32(x: Any, value: float) -> Any:
    return array_module(x).float32(value)


def tone(linear: Any, curve: str = "srgb", contrast: float = 0.5) -> Any:
    """Map linear RGB to display values in [0, 1].

    Parameters
    ----------
    linear : (..., 3) float32 array, linear light (0 = black, 1 = white)
    curve : {"srgb", "linear", "contrast"}
    contrast : float in [0, 1], strength of the S-curve for ``curve="contrast"``

    Returns
    -------
    float32 array of the same shape, in [0, 1].
    """
    check_choice("tone curve", curve, TONE_CURVES)
    xp = array_module(linear)
    if curve == "linear":
        return xp.clip(linear, 0.0, 1.0).astype(xp.float32, copy=False)
    encoded = srgb_encode(linear)
    if curve == "contrast":
        encoded = s_curve(encoded, contrast).astype(xp.float32, copy=False)
    return encoded


def tone_lut(curve: str, contrast: float, size: int = 16384) -> np.ndarray:
    """``tone`` sampled at ``size`` evenly spaced linear values in [0, 1]: (size,) float32."""
    x = np.linspace(0.0, 1.0, size, dtype=np.float32)
    return np.asarray(tone(x, curve, contrast), dtype=np.float32)
