"""3x3 colour matrix: camera RGB to linear sRGB (Rec. 709 primaries, D65)."""

from __future__ import annotations

from typing import Any

import numpy as np
from numba import njit

from ..backend import array_module, is_device_array

IDENTITY = np.eye(3, dtype=np.float32)


@njit(cache=True, nogil=True)  # no fastmath: no FMA contraction, the device's rounding
def _matrix_rows(rgb, m, out):  # pragma: no cover - compiled
    for y in range(rgb.shape[0]):
        for x in range(rgb.shape[1]):
            r = np.float32(rgb[y, x, 0])
            g = np.float32(rgb[y, x, 1])
            b = np.float32(rgb[y, x, 2])
            for i in range(3):
                out[y, x, i] = (m[i, 0] * r + m[i, 1] * g) + m[i, 2] * b


def color_matrix_for(frame_meta: dict, override: Any = None) -> np.ndarray:
    """The (3, 3) float32 matrix to use: ``override``, else ``meta["color_matrix"]``, else I."""
    m = override if override is not None else frame_meta.get("color_matrix")
    if m is None:
        return IDENTITY.copy()
    m = np.asarray(m, dtype=np.float32)
    if m.shape != (3, 3) or not np.all(np.isfinite(m)):
        raise ValueError(f"colour matrix must be a finite 3x3, got shape {m.shape}")
    return m


def apply_matrix(rgb: Any, matrix: Any, out: Any = None, scratch: Any = None) -> Any:
    """``out[..., i] = (m[i, 0] * rgb[..., 0] + m[i, 1] * rgb[..., 1]) + m[i, 2] * rgb[..., 2]``.

    Plain element-wise float32 arithmetic in that order (no BLAS: ``cupy.matmul`` would load
    cuBLAS, which the CUDA extras do not install), so the NumPy and the CuPy results are the
    same numbers. The matrix entries go to the kernels as scalars: nothing is uploaded.

    Parameters
    ----------
    rgb : (..., 3) float32 array, NumPy or CuPy
    matrix : (3, 3) array-like (host)
    out : (..., 3) float32 array, optional (may be ``rgb`` itself: in place works)
    scratch : (3, ...) float32 array of ``rgb``'s kind, optional
        Three planes of ``rgb.shape[:-1]``; without it they are allocated (a pipeline that
        calls this per frame passes a preallocated one).

    Returns
    -------
    (..., 3) float32 array (``out`` when given). Values are not clipped (out-of-gamut colours
    go negative).
    """
    xp = array_module(rgb)
    if rgb.shape[-1] != 3:
        raise ValueError(f"rgb must have 3 channels in the last axis, got shape {rgb.shape}")
    if is_device_array(matrix):
        matrix = matrix.get()
    m = np.asarray(matrix, dtype=np.float32)
    if m.shape != (3, 3):
        raise ValueError(f"colour matrix must be 3x3, got shape {m.shape}")
    plane = tuple(rgb.shape[:-1])
    if out is None:
        out = xp.empty(rgb.shape, xp.float32)
    elif tuple(out.shape) != tuple(rgb.shape) or out.dtype != np.float32:
        raise ValueError(f"out must be {tuple(rgb.shape)} float32, got {out.shape} {out.dtype}")
    if xp is np and 1 <= rgb.ndim <= 3:  # one Numba pass, the same operations in the same order
        lead = (np.newaxis,) * (3 - rgb.ndim)
        _matrix_rows(rgb[lead], m, out[lead])
        return out
    if scratch is None:
        scratch = xp.empty((3, *plane), xp.float32)
    elif tuple(scratch.shape) != (3, *plane) or scratch.dtype != np.float32:
        raise ValueError(f"scratch must be (3, {plane}) float32, got {scratch.shape}")
    src = (rgb[..., 0], rgb[..., 1], rgb[..., 2])
    tmp = scratch[0]

    def row(i: int, acc: Any) -> None:  # acc may alias src[i] (in place): read it first
        c = [np.float32(v) for v in m[i]]
        xp.multiply(src[1], c[1], out=tmp)
        xp.multiply(src[0], c[0], out=acc)
        xp.add(acc, tmp, out=acc)
        xp.multiply(src[2], c[2], out=tmp)
        xp.add(acc, tmp, out=acc)

    # Rows 1 and 2 into scratch while every input channel is intact, row 0 into out[..., 0]
    # (it aliases at most rgb[..., 0], which row 0 reads element by element before writing).
    row(1, scratch[1])
    row(2, scratch[2])
    row(0, out[..., 0])
    out[..., 1] = scratch[1]
    out[..., 2] = scratch[2]
    return out
