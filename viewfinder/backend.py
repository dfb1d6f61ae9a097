"""The one place that chooses between CuPy (a usable CUDA device) and NumPy.

``VIEWFINDER_BACKEND=numpy|cupy`` overrides the choice. CuPy is imported lazily, here only,
so ``import viewfinder`` works on a machine with no GPU and no CuPy.
"""

from __future__ import annotations

import functools
import os
from types import ModuleType
from typing import Any

import numpy as np

BACKENDS = ("numpy", "cupy")


@functools.cache
def cupy_module() -> ModuleType | None:
    """The ``cupy`` module when it imports and a CUDA device is usable, else ``None``."""
    try:
        import cupy
    except Exception:  # ImportError, or a broken CUDA install raising at import
        return None
    try:
        if not cupy.cuda.is_available():
            return None
        cupy.cuda.runtime.getDeviceCount()
    except Exception:
        return None
    return cupy


def gpu_available() -> bool:
    return cupy_module() is not None


def backend_name() -> str:
    """``"cupy"`` or ``"numpy"``, honouring ``VIEWFINDER_BACKEND``."""
    wanted = os.environ.get("VIEWFINDER_BACKEND", "").strip().lower()
    if wanted and wanted not in BACKENDS:
        raise ValueError(f"VIEWFINDER_BACKEND must be one of {BACKENDS}, got {wanted!r}")
    if wanted == "cupy":
        if not gpu_available():
            raise RuntimeError("VIEWFINDER_BACKEND=cupy but CuPy or a CUDA device is not usable")
        return "cupy"
    if wanted == "numpy":
        return "numpy"
    return "cupy" if gpu_available() else "numpy"


def get_xp(name: str | None = None) -> ModuleType:
    """The array module of backend ``name`` (default: :func:`backend_name`)."""
    name = name or backend_name()
    if name == "cupy":
        xp = cupy_module()
        if xp is None:
            raise RuntimeError("CuPy backend asked for, but CuPy or a CUDA device is not usable")
        return xp
    if name == "numpy":
        return np
    raise ValueError(f"backend must be one of {BACKENDS}, got {name!r}")


def is_device_array(a: Any) -> bool:
    """True for a CuPy array (checked without importing CuPy)."""
    return type(a).__module__.startswith("cupy")


def array_module(a: Any) -> ModuleType:
    """``cupy`` for a CuPy array, ``numpy`` otherwise."""
    if is_device_array(a):
        import cupy

        return cupy
    return np


def to_host(a: Any) -> np.ndarray:
    """A NumPy copy (or view) of ``a`` (this synchronises for CuPy arrays)."""
    if is_device_array(a):
        return a.get()
    return np.asarray(a)
