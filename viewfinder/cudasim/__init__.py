"""cudasim: a CuPy 14 stand-in that runs the project's CuPy code paths on the CPU.

Use it exactly like the ``cupy`` module (``backend.get_xp("cudasim")``). Arrays are
:class:`ndarray` (not NumPy arrays) holding host memory; NumPy does the array maths, the
``simt`` runtime runs ``RawKernel`` launches. It is as strict as CuPy where CuPy is strict
(host arrays refused by functions, no implicit ``numpy.asarray``), and it counts what a GPU
frame loop must not do: host syncs and allocations (:data:`counters`, :func:`counting`).

Any NumPy function not defined here is reached through the module ``__getattr__`` and made
strict by :func:`viewfinder.cudasim._array.function`: device arrays in, device arrays out
(reductions give 0-d device arrays), NumPy arrays refused with ``TypeError``.
"""

from __future__ import annotations

from types import ModuleType
from typing import Any

import numpy as np
from numpy import (  # noqa: F401 - the dtype names, as cupy re-exports them
    bool_,
    complex64,
    complex128,
    e,
    float16,
    float32,
    float64,
    inf,
    int8,
    int16,
    int32,
    int64,
    intp,
    nan,
    newaxis,
    pi,
    uint8,
    uint16,
    uint32,
    uint64,
    uintp,
)

from . import cuda
from ._array import _owned, _wrap, function, ndarray, ufunc
from .counters import counters, counting
from .cuda import get_default_memory_pool, get_default_pinned_memory_pool
from .simt import RawKernel, RawModule

__all__ = [
    "RawKernel",
    "RawModule",
    "array",
    "asarray",
    "ascontiguousarray",
    "asfortranarray",
    "asnumpy",
    "counters",
    "counting",
    "cuda",
    "get_array_module",
    "get_default_memory_pool",
    "get_default_pinned_memory_pool",
    "ndarray",
]

_KINDS = "biufc"  # the dtype kinds CuPy supports


def _upload(obj: Any, dtype: Any, order: str | None, ndmin: int, blocking: bool) -> ndarray:
    """A new device array from host data (CuPy's ``_array_default``)."""
    pinned = isinstance(obj, np.ndarray) and cuda.is_array_pinned(obj)
    if order is not None and order.upper() in "KA":
        order = "F" if isinstance(obj, np.ndarray) and obj.flags.fnc else "C"
    host = np.array(obj, dtype=dtype, order=order, ndmin=ndmin, copy=True)
    if host.dtype.kind not in _KINDS:
        raise ValueError(f"Unsupported dtype {host.dtype}")
    # CuPy stages a pageable source through a pinned buffer and copies asynchronously: the
    # host does not wait for the device unless blocking=True.
    counters.copy("h2d", host.nbytes, pinned)
    if blocking:
        cuda._flush(cuda.get_current_stream().ptr)
        counters.sync("array(blocking=True)")
    return _owned(host)


def _has_device(obj: Any) -> bool:
    if isinstance(obj, ndarray):
        return True
    return isinstance(obj, list | tuple) and any(_has_device(v) for v in obj)


def array(
    obj: Any,
    dtype: Any = None,
    copy: bool | None = True,
    order: str | None = "K",
    subok: bool = False,
    ndmin: int = 0,
    *,
    blocking: bool = False,
) -> ndarray:
    """``cupy.array``: a device array from a device array (copied unless ``copy=False``),
    a sequence of device arrays (stacked on the device) or host data (uploaded)."""
    if subok:
        raise NotImplementedError("subok is not supported")  # CuPy 14 refuses it the same way
    if isinstance(obj, ndarray):
        a = obj.astype(obj.dtype if dtype is None else dtype, order=order or "K", copy=bool(copy))
        if a.ndim < ndmin:
            a = a.reshape((1,) * (ndmin - a.ndim) + a.shape)
        return a
    if _has_device(obj):
        return function(np.array, "array")(obj, dtype=dtype, order=order, ndmin=ndmin)
    return _upload(obj, dtype, order, ndmin, blocking)


def asarray(
    a: Any, dtype: Any = None, order: str | None = None, *, blocking: bool = False
) -> ndarray:
    """``cupy.asarray``: ``a`` itself when it is a device array of that dtype, else a copy
    or an upload (host data is allowed here: it is how data gets to the device)."""
    return array(a, dtype, copy=False, order=order, blocking=blocking)


asanyarray = asarray


def _check_device(a: Any, name: str) -> None:
    if not isinstance(a, ndarray):
        # CuPy's Cython signature refuses it: "Argument 'a' has incorrect type".
        raise TypeError(
            f"{name}: argument 'a' has incorrect type (expected cupy.ndarray, got "
            f"{type(a).__module__}.{type(a).__name__})"
        )


def ascontiguousarray(a: ndarray, dtype: Any = None) -> ndarray:
    """``a`` if C-contiguous (and of ``dtype``), else a C-contiguous copy; device arrays only."""
    _check_device(a, "ascontiguousarray")
    return _wrap(np.ascontiguousarray(a._a, dtype=dtype), [a])


def asfortranarray(a: ndarray, dtype: Any = None) -> ndarray:
    _check_device(a, "asfortranarray")
    return _wrap(np.asfortranarray(a._a, dtype=dtype), [a])


def asnumpy(
    a: Any,
    stream: cuda.Stream | None = None,
    order: str = "C",
    out: np.ndarray | None = None,
    *,
    blocking: bool = True,
) -> np.ndarray:
    """A host copy of device array ``a`` (a host sync); host data is returned as NumPy."""
    if isinstance(a, ndarray):
        return a.get(stream=stream, order=order, out=out, blocking=blocking)
    host = np.asarray(a, order=order)
    if out is None:
        return host
    out[...] = host
    return out


def get_array_module(*args: Any) -> ModuleType:
    """This module when any argument is a device array, else ``numpy``."""
    import sys

    return sys.modules[__name__] if any(isinstance(a, ndarray) for a in args) else np


dtype = np.dtype  # after the functions, whose ``dtype`` parameters shadow it


def __getattr__(name: str) -> Any:
    """NumPy's ``name``, made strict (functions and ufuncs); types and constants as they are."""
    try:
        obj = getattr(np, name)
    except AttributeError:
        raise AttributeError(f"module 'viewfinder.cudasim' has no attribute {name!r}") from None
    if isinstance(obj, ModuleType):
        raise AttributeError(
            f"viewfinder.cudasim has no submodule {name!r} (cupy.{name} is not numpy.{name})"
        )
    if isinstance(obj, np.ufunc):
        wrapped: Any = ufunc(obj)
    elif isinstance(obj, type) or not callable(obj):
        return obj
    else:
        wrapped = function(obj, name)
    globals()[name] = wrapped
    return wrapped
