"""Display values to RGBA8."""

from __future__ import annotations

from typing import Any

from ..backend import array_module


def to_rgba8(display: Any, out: Any = None) -> Any:
    """Quantise display values to 8 bits with opaque alpha.

    Parameters
    ----------
    display : (h, w, 3) float array in [0, 1] (clipped here)
    out : (h, w, 4) uint8 array, optional

    Returns
    -------
    (h, w, 4) uint8 array, RGBA, alpha 255.
    """
    xp = array_module(display)
    h, w = display.shape[:2]
    if out is None:
        out = xp.empty((h, w, 4), dtype=xp.uint8)
    scaled = xp.clip(display, 0.0, 1.0) * xp.float32(255.0) + xp.float32(0.5)
    out[..., :3] = scaled.astype(xp.uint8)
    out[..., 3] = 255
    return out
