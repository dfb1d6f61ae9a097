"""3x3 colour matrix: camera RGB to linear sRGB (Rec. 709 primaries, D65)."""

from __future__ import annotations

from typing import Any

import numpy as np

from ..backend import array_module

IDENTITY = np.eye(3, dtype=np.float32)


def color_matrix_for(frame_meta: dict, override: Any = None) -> np.ndarray:
    """The (3, 3) float32 matrix to use: ``override``, else ``meta["color_matrix"]``, else I."""
    m = override if override is not None else frame_meta.get("color_matrix")
    if m is None:
        return IDENTITY.copy()
    m = np.asarray(m, dtype=np.float32)
    if m.shape != (3, 3) or not np.all(np.isfinite(m)):
        raise ValueError(f"colour matrix must be a finite 3x3, got shape {m.shape}")
    return m


def apply_matrix(rgb: Any, matrix: Any, out: Any = None) -> Any:
    """``out[..., i] = sum_j matrix[i, j] * rgb[..., j]``.

    Parameters
    ----------
    rgb : (..., 3) float32 array, NumPy or CuPy
    matrix : (3, 3) array-like
    out : (..., 3) float32 array, optional (may be ``rgb`` itself)

    Returns
    -------
    (..., 3) float32 array. Values are not clipped (out-of-gamut colours go negative).
    """
    xp = array_module(rgb)
    if rgb.shape[-1] != 3:
        raise ValueError(f"rgb must have 3 channels in the last axis, got shape {rgb.shape}")
    m = xp.asarray(matrix, dtype=xp.float32)
    result = xp.matmul(rgb, m.T)
    if out is None:
        return result.astype(xp.float32, copy=False)
    out[...] = result
    return out
