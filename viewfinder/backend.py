"""The one place that chooses the array backend: CuPy (a CUDA device), cudasim or NumPy.

``VIEWFINDER_BACKEND=numpy|cupy|cudasim`` overrides the choice; the default is CuPy when a CUDA
device is usable, else NumPy. ``cudasim`` is :mod:`viewfinder.cudasim`: a CuPy stand-in whose
arrays live in host memory and whose ``RawModule`` kernels are the unmodified ``.cu`` sources
compiled with g++ and run by a CPU runtime with CUDA's semantics. It runs every CuPy code path
of the project on a machine with no GPU (slowly), and counts host syncs and allocations.

CuPy is imported lazily, here only, so ``import viewfinder`` works with no GPU and no CuPy.
"""

from __future__ import annotations

import functools
import importlib
import os
from types import ModuleType
from typing import Any

import numpy as np

BACKENDS = ("numpy", "cupy", "cudasim")
#: Backends whose arrays are device arrays and whose stages run the CUDA kernels.
DEVICE_BACKENDS = ("cupy", "cudasim")


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


def _check_name(name: str) -> str:
    if name not in BACKENDS:
        raise ValueError(f"backend must be one of {', '.join(BACKENDS)}, got {name!r}")
    return name


def backend_name() -> str:
    """``"cupy"``, ``"cudasim"`` or ``"numpy"``, honouring ``VIEWFINDER_BACKEND``."""
    wanted = os.environ.get("VIEWFINDER_BACKEND", "").strip().lower()
    if wanted and wanted not in BACKENDS:
        raise ValueError(f"VIEWFINDER_BACKEND must be one of {', '.join(BACKENDS)}, got {wanted!r}")
    if wanted == "cupy" and not gpu_available():
        raise RuntimeError("VIEWFINDER_BACKEND=cupy but CuPy or a CUDA device is not usable")
    if wanted:
        return wanted
    return "cupy" if gpu_available() else "numpy"


def is_device_backend(name: str) -> bool:
    """True for the backends that run the CUDA code paths (``cupy`` and ``cudasim``)."""
    return _check_name(name) in DEVICE_BACKENDS


def get_xp(name: str | None = None) -> ModuleType:
    """The array module of backend ``name`` (default: :func:`backend_name`)."""
    name = _check_name(name or backend_name())
    if name == "cupy":
        xp = cupy_module()
        if xp is None:
            raise RuntimeError("CuPy backend asked for, but CuPy or a CUDA device is not usable")
        return xp
    if name == "cudasim":
        module = importlib.import_module("viewfinder.cudasim")
        from .cudasim.simt.build import compiler

        compiler()  # no C++ compiler: say so now (a RuntimeError naming it), not per frame
        return module
    return np


def device_module() -> ModuleType:
    """The device array module of the default backend: CuPy, or cudasim when it is chosen."""
    name = backend_name()
    return get_xp(name if name in DEVICE_BACKENDS else "cupy")


def cupyx_module(xp: ModuleType) -> ModuleType:
    """``cupyx`` for CuPy, the stand-in's ``cupyx`` for cudasim (pinned memory, ndimage)."""
    if xp.__name__ == "viewfinder.cudasim":
        return importlib.import_module("viewfinder.cudasim.cupyx")
    return importlib.import_module("cupyx")


def is_device_array(a: Any) -> bool:
    """True for a CuPy or cudasim array (checked without importing CuPy)."""
    module = type(a).__module__
    return module.startswith("cupy") or module.startswith("viewfinder.cudasim")


def array_module(a: Any) -> ModuleType:
    """``cupy`` for a CuPy array, :mod:`viewfinder.cudasim` for its arrays, else ``numpy``."""
    module = type(a).__module__
    if module.startswith("viewfinder.cudasim"):
        return importlib.import_module("viewfinder.cudasim")
    if module.startswith("cupy"):
        return importlib.import_module("cupy")
    return np


def to_host(a: Any) -> np.ndarray:
    """A NumPy copy (or view) of ``a`` (this synchronises for device arrays)."""
    if is_device_array(a):
        return a.get()
    return np.asarray(a)


def backend_of(xp: ModuleType) -> str:
    """The backend name of array module ``xp`` (``numpy``, ``cupy`` or ``cudasim``)."""
    return {"numpy": "numpy", "cupy": "cupy", "viewfinder.cudasim": "cudasim"}[xp.__name__]
