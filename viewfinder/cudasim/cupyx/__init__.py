"""``cupyx`` of the cudasim stand-in: pinned host arrays (plain NumPy arrays, registered as
pinned so copies to and from them are asynchronous) and ``cupyx.scipy.ndimage``."""

from __future__ import annotations

from typing import Any

import numpy as np

from .. import cuda


def empty_pinned(shape: int | tuple[int, ...], dtype: Any = float, order: str = "C") -> np.ndarray:
    """An uninitialised NumPy array in pinned memory (as ``cupyx.empty_pinned``)."""
    shape = (int(shape),) if np.ndim(shape) == 0 else tuple(int(n) for n in shape)
    nbytes = int(np.prod(shape, dtype=np.int64)) * np.dtype(dtype).itemsize
    mem = cuda.alloc_pinned_memory(nbytes)
    return np.ndarray(shape, dtype=dtype, buffer=mem, order=order)


def zeros_pinned(shape: int | tuple[int, ...], dtype: Any = float, order: str = "C") -> np.ndarray:
    out = empty_pinned(shape, dtype, order)
    out.fill(0)
    return out


def _like(a: Any, dtype: Any, order: str, shape: Any) -> tuple[Any, Any, str]:
    if order in ("K", "A"):
        order = "F" if a.flags.f_contiguous and not a.flags.c_contiguous else "C"
    return (a.shape if shape is None else shape), (a.dtype if dtype is None else dtype), order


def empty_like_pinned(
    a: Any, dtype: Any = None, order: str = "K", subok: Any = None, shape: Any = None
) -> np.ndarray:
    """A pinned NumPy array shaped like ``a`` (a NumPy or device array)."""
    return empty_pinned(*_like(a, dtype, order, shape))


def zeros_like_pinned(
    a: Any, dtype: Any = None, order: str = "K", subok: Any = None, shape: Any = None
) -> np.ndarray:
    return zeros_pinned(*_like(a, dtype, order, shape))


def __getattr__(name: str) -> Any:
    if name == "scipy":  # imported lazily (SciPy is slow to import)
        from . import scipy

        return scipy
    raise AttributeError(f"module 'viewfinder.cudasim.cupyx' has no attribute {name!r}")
