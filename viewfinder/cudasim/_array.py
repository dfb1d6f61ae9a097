"""The stand-in ``cupy.ndarray`` and the strict wrapper that runs NumPy functions on it.

A stand-in array owns (or views) a NumPy array in host memory, ``_a``, whose address is what
``__cuda_array_interface__`` and ``.data.ptr`` give, so a kernel writes where NumPy reads.
The rules are CuPy's (checked in CuPy's source, ``cupy/_core/core.pyx``, ``_kernel.pyx``,
``_routines_indexing.pyx``, ``_routines_creation.pyx``): host (NumPy) arrays are refused where
CuPy refuses them, results stay on the device (0-d arrays, not Python numbers), and every way of
reading device data on the host is a counted host sync.
"""

from __future__ import annotations

import operator
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np

from . import cuda
from .counters import counters

_SCALARS = (bool, int, float, complex, np.generic)
#: NumPy functions whose CuPy versions wait for the device (they size their output from data).
_SYNCING = frozenset(
    {"nonzero", "argwhere", "flatnonzero", "unique", "bincount", "compress", "extract"}
)
#: Functions that return a Python bool in NumPy but a 0-d device array in CuPy.
_DEVICE_BOOL = frozenset({"array_equal", "array_equiv", "allclose"})


def _unsupported(x: Any) -> TypeError:
    # CuPy's kernels (cupy/_core/_kernel.pyx, _preprocess_arg) raise exactly this.
    return TypeError(f"Unsupported type {type(x)}")


def _unwrap(x: Any, sources: list[ndarray], ufunc: bool = False) -> Any:
    """``x`` with stand-in arrays replaced by their NumPy arrays; NumPy arrays refused."""
    if isinstance(x, ndarray):
        sources.append(x)
        return x._a
    if isinstance(x, np.ndarray):
        raise _unsupported(x)
    if isinstance(x, list | tuple):
        if ufunc:  # CuPy's ufuncs take arrays and scalars only, not sequences
            raise _unsupported(x)
        return type(x)(_unwrap(v, sources) for v in x)
    return x


def _root(a: np.ndarray) -> np.ndarray:
    while isinstance(a.base, np.ndarray):
        a = a.base
    return a


def _owned(a: np.ndarray) -> ndarray:
    """Wrap a fresh NumPy array as a new device array (an allocation)."""
    root = _root(a)
    counters.allocation(root.nbytes)
    cuda._pool._track(root)
    return ndarray._new(a, None)


def _wrap(r: Any, sources: list[ndarray]) -> Any:
    """Wrap NumPy results: the source itself, a view of a source, or a new array."""
    if isinstance(r, np.ndarray):
        for s in sources:
            if r is s._a:
                return s
        for s in sources:
            if np.may_share_memory(r, s._a):
                return ndarray._new(r, s._base if s._base is not None else s)
        return _owned(r)
    if isinstance(r, np.generic):  # CuPy's reductions give 0-d device arrays
        return _owned(np.asarray(r))
    if isinstance(r, tuple | list):
        return type(r)(_wrap(v, sources) for v in r)
    return r


def _call(fn: Callable[..., Any], name: str, args: tuple, kwargs: dict) -> Any:
    """Run NumPy's ``fn`` on unwrapped arguments and wrap what it returns."""
    sources: list[ndarray] = []
    a = [_unwrap(x, sources) for x in args]
    kw = {k: _unwrap(v, sources) for k, v in kwargs.items()}
    if name in _SYNCING or (name == "where" and len(args) == 1):
        counters.sync(f"{name}()")
    r = fn(*a, **kw)
    if name in _DEVICE_BOOL:
        r = np.bool_(r)
    return _wrap(r, sources)


def _ufunc_call(uf: np.ufunc, args: tuple, kwargs: dict) -> Any:
    sources: list[ndarray] = []
    a = [_unwrap(x, sources, ufunc=True) for x in args]
    kw = {k: _unwrap(v, sources) for k, v in kwargs.items()}
    return _wrap(uf(*a, **kw), sources)


def function(fn: Callable[..., Any], name: str | None = None) -> Callable[..., Any]:
    """NumPy's ``fn`` made strict: device arrays in and out, host arrays refused."""
    name = name or fn.__name__

    def wrapper(*args: Any, **kwargs: Any) -> Any:
        return _call(fn, name, args, kwargs)

    wrapper.__name__ = wrapper.__qualname__ = name
    wrapper.__doc__ = f"numpy.{name} on device arrays (cudasim)."
    return wrapper


class ufunc:  # noqa: N801 - cupy.ufunc
    """A NumPy ufunc made strict (``__call__``, ``reduce``, ``accumulate``, ``outer``, ``at``)."""

    def __init__(self, uf: np.ufunc) -> None:
        self._uf = uf
        self.__name__ = uf.__name__
        self.nin, self.nout, self.nargs = uf.nin, uf.nout, uf.nargs

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        return _ufunc_call(self._uf, args, kwargs)

    def __getattr__(self, name: str) -> Any:
        if name.startswith("__") or name == "_uf":
            raise AttributeError(name)
        method = getattr(self._uf, name)
        if not callable(method):
            return method
        return function(method, f"{self.__name__}.{name}")

    def __repr__(self) -> str:
        return f"<ufunc '{self.__name__}' (cudasim)>"


class _Flags:
    """``ndarray.flags``: ``c_contiguous``, ``f_contiguous``, ``owndata`` (also by key)."""

    def __init__(self, c: bool, f: bool, owndata: bool) -> None:
        self.c_contiguous, self.f_contiguous, self.owndata = c, f, owndata

    def __getitem__(self, name: str) -> bool:
        keys = {"C_CONTIGUOUS": "c_contiguous", "F_CONTIGUOUS": "f_contiguous"}
        return getattr(self, keys.get(name, name.lower()))

    def __repr__(self) -> str:
        return (
            f"  C_CONTIGUOUS : {self.c_contiguous}\n  F_CONTIGUOUS : {self.f_contiguous}\n"
            f"  OWNDATA : {self.owndata}"
        )


def _host_sync(reason: str, nbytes: int, stream: cuda.Stream | None = None) -> None:
    """The host waits for ``stream`` (default: current): pending copies land, it is counted."""
    stream = cuda.get_current_stream() if stream is None else stream
    cuda._flush(stream.ptr)
    counters.sync(reason)
    counters.copy("d2h", nbytes, False)


def _binary(uf: np.ufunc) -> tuple[Callable, Callable, Callable]:
    def op(self: ndarray, other: Any) -> Any:
        return _ufunc_call(uf, (self, other), {})

    def rop(self: ndarray, other: Any) -> Any:
        return _ufunc_call(uf, (other, self), {})

    def iop(self: ndarray, other: Any) -> ndarray:
        _ufunc_call(uf, (self, other), {"out": self})
        return self

    return op, rop, iop


def _method(name: str) -> Callable[..., Any]:
    fn = getattr(np.ndarray, name)

    def method(self: ndarray, *args: Any, **kwargs: Any) -> Any:
        return _call(fn, name, (self, *args), kwargs)

    method.__name__ = name
    method.__doc__ = f"numpy.ndarray.{name} on the device (cudasim)."
    return method


class ndarray:  # noqa: N801 - cupy.ndarray
    """A device array of the stand-in (``cupy.ndarray``); its data lives in host memory."""

    __array_priority__ = 100
    _a: np.ndarray
    _base: ndarray | None
    _mem: cuda.BaseMemory | None

    def __init__(
        self,
        shape: int | tuple[int, ...],
        dtype: Any = float,
        memptr: cuda.MemoryPointer | None = None,
        strides: tuple[int, ...] | None = None,
        order: str = "C",
    ) -> None:
        if memptr is None:
            if strides is not None:
                raise ValueError("memptr is required if strides is given.")
            a = np.empty(shape, dtype, order=order)
            counters.allocation(a.nbytes)
            cuda._pool._track(a)
            self._mem = None
        else:
            mem = memptr.mem
            a = np.ndarray(
                shape, dtype, buffer=mem._buf, offset=memptr.offset, strides=strides, order=order
            )
            self._mem = mem
        self._a, self._base = a, None

    @classmethod
    def _new(cls, a: np.ndarray, base: ndarray | None) -> ndarray:
        self = object.__new__(cls)
        self._a, self._base, self._mem = a, base, None
        return self

    # -- attributes ---------------------------------------------------------------------
    shape = property(lambda self: self._a.shape)
    dtype = property(lambda self: self._a.dtype)
    ndim = property(lambda self: self._a.ndim)
    size = property(lambda self: self._a.size)
    nbytes = property(lambda self: self._a.nbytes)
    itemsize = property(lambda self: self._a.itemsize)
    strides = property(lambda self: self._a.strides)
    base = property(lambda self: self._base)

    @shape.setter
    def shape(self, value: Any) -> None:
        v = self._a.reshape(value)
        if self._a.size and not np.may_share_memory(v, self._a):
            raise AttributeError("incompatible shape")
        self._a = v

    @property
    def flags(self) -> _Flags:
        f = self._a.flags
        return _Flags(f.c_contiguous, f.f_contiguous, self._base is None)

    @property
    def device(self) -> cuda.Device:
        return cuda.Device(0)

    @property
    def data(self) -> cuda.MemoryPointer:
        root = self._base if self._base is not None else self
        if root._mem is None:
            root._mem = cuda.Memory._of(_root(root._a))
        ptr = self._a.__array_interface__["data"][0]
        return cuda.MemoryPointer(root._mem, ptr - root._mem.ptr)

    @property
    def __cuda_array_interface__(self) -> dict[str, Any]:
        a = self._a
        return {
            "shape": a.shape,
            "typestr": a.dtype.str,
            "descr": a.dtype.descr,
            "strides": None if a.flags.c_contiguous else a.strides,
            "data": (a.__array_interface__["data"][0] if a.size else 0, False),
            "version": 3,
            # CuPy exports its current stream here; None (no sync needed) is what the
            # stand-in's own kernels expect, and the device is never behind anyway.
            "stream": None,
        }

    @property
    def T(self) -> ndarray:  # noqa: N802
        return self if self.ndim < 2 else _wrap(self._a.T, [self])

    # -- host <-> device ----------------------------------------------------------------
    def get(
        self,
        stream: cuda.Stream | None = None,
        order: str = "C",
        out: np.ndarray | None = None,
        blocking: bool = True,
    ) -> np.ndarray:
        """A host copy. ``blocking=False`` into pinned ``out`` is deferred until a sync."""
        stream = cuda.get_current_stream() if stream is None else stream
        src = self._a
        if out is not None:  # CuPy's checks and messages, in its order
            if not isinstance(out, np.ndarray):
                raise TypeError("Only numpy.ndarray can be obtained fromcupy.ndarray")
            if self.dtype != out.dtype:
                raise TypeError(f"{out.dtype} array cannot be obtained from {self.dtype} array")
            if self.shape != out.shape:
                raise ValueError(
                    f"Shape mismatch. Expected shape: {self.shape}, actual shape: {out.shape}"
                )
            c, f = src.flags.c_contiguous, src.flags.f_contiguous
            if not (out.flags.c_contiguous and c or out.flags.f_contiguous and f):
                if not (out.flags.c_contiguous or out.flags.f_contiguous):
                    raise RuntimeError(
                        "`out` cannot be specified when copying to non-contiguous ndarray"
                    )
                src = _owned(np.array(src, order="C" if out.flags.c_contiguous else "F"))._a
            host = out
        else:
            if self.size == 0:
                return np.ndarray(self.shape, dtype=self.dtype)
            order = order.upper()
            if order == "A":
                order = "F" if src.flags.f_contiguous else "C"
            if order not in "CF":
                raise ValueError(f"unsupported order: {order}")
            if not src.flags[f"{order}_CONTIGUOUS"]:
                src = _owned(np.array(src, order=order))._a
            host = np.empty(self.shape, self.dtype, order=order)
        pinned = cuda.is_array_pinned(host)
        if blocking or not pinned:
            # blocking: CuPy synchronises the stream. Not blocking but pageable: CUDA's
            # cudaMemcpyAsync into pageable memory returns only when the copy is done.
            cuda._flush(stream.ptr)
            counters.sync("get()" if blocking else "get(blocking=False) into pageable memory")
            counters.copy("d2h", self.nbytes, pinned)
            np.copyto(host, src)
        else:
            snapshot = src.copy()  # what the stream will copy: the data as of now

            def land() -> None:
                np.copyto(host, snapshot)

            counters.copy("d2h", self.nbytes, True)
            counters.deferred_readback()
            cuda._enqueue(stream, land)
        return host

    def set(self, arr: np.ndarray, stream: cuda.Stream | None = None) -> None:
        """Copy host array ``arr`` in (from pageable memory this waits for the stream)."""
        if not isinstance(arr, np.ndarray):
            raise TypeError("Only numpy.ndarray can be set to cupy.ndarray")
        if self.dtype != arr.dtype:
            raise TypeError(f"{arr.dtype} array cannot be set to {self.dtype} array")
        if self.shape != arr.shape:
            raise ValueError(f"Shape mismatch. Old shape: {self.shape}, new shape: {arr.shape}")
        if self._a.flags.c_contiguous:
            arr = np.ascontiguousarray(arr)
        elif self._a.flags.f_contiguous:
            arr = np.asfortranarray(arr)
        else:
            raise RuntimeError("Cannot set to non-contiguous array")
        stream = cuda.get_current_stream() if stream is None else stream
        pinned = cuda.is_array_pinned(arr)
        counters.copy("h2d", self.nbytes, pinned)
        if not pinned:  # cudaMemcpyAsync from pageable memory syncs the stream first
            cuda._flush(stream.ptr)
            counters.sync("upload from pageable memory")
        np.copyto(self._a, arr)

    def item(self) -> Any:
        if self.size != 1:
            raise ValueError("can only convert an array of size 1 to a Python scalar")
        _host_sync("item()", self.nbytes)
        return self._a.item()

    def tolist(self) -> Any:
        _host_sync("tolist()", self.nbytes)
        return self._a.tolist()

    def tobytes(self, order: str = "C") -> bytes:
        _host_sync("tobytes()", self.nbytes)
        return self._a.tobytes(order)

    def __bool__(self) -> bool:
        _host_sync("bool()", self.nbytes)
        return bool(self._a)

    def __int__(self) -> int:
        _host_sync("int()", self.nbytes)
        return int(self._a)

    def __float__(self) -> float:
        _host_sync("float()", self.nbytes)
        return float(self._a)

    def __complex__(self) -> complex:
        _host_sync("complex()", self.nbytes)
        return complex(self._a)

    def __index__(self) -> int:
        _host_sync("index()", self.nbytes)
        return operator.index(self._a)

    def __repr__(self) -> str:
        _host_sync("repr()", self.nbytes)
        return repr(self._a)

    def __str__(self) -> str:
        _host_sync("str()", self.nbytes)
        return str(self._a)

    def __format__(self, spec: str) -> str:
        _host_sync("format()", self.nbytes)
        return format(self._a, spec)

    def __array__(self, *args: Any, **kwargs: Any) -> np.ndarray:
        raise TypeError(
            "Implicit conversion to a NumPy array is not allowed. "
            "Please use `.get()` to construct a NumPy array explicitly."
        )

    def __array_ufunc__(self, uf: np.ufunc, method: str, *inputs: Any, **kwargs: Any) -> Any:
        # As CuPy: numpy.add(dev, dev) runs on the device; a NumPy operand raises TypeError.
        if method != "__call__":
            return NotImplemented
        if "out" in kwargs:
            out = kwargs["out"]
            if len(out) != 1:
                raise ValueError("The 'out' parameter must have exactly one array value")
            kwargs["out"] = out[0]
        return _ufunc_call(uf, inputs, kwargs)

    def __array_function__(self, func: Any, types: tuple, args: tuple, kwargs: dict) -> Any:
        # As CuPy: numpy.f(dev) calls cupy.f (NumPy operands then raise TypeError); functions
        # outside the top-level namespace (numpy.linalg, ...) are not implemented.
        if func.__module__ != "numpy" or not all(
            issubclass(t, ndarray | np.ndarray) for t in types
        ):
            return NotImplemented
        return _call(func, func.__name__, args, kwargs)

    def __reduce__(self) -> tuple:
        from . import array

        return array, (self.get(),)

    def __copy__(self) -> ndarray:
        return self.copy()

    def __deepcopy__(self, memo: dict) -> ndarray:
        return self.copy()

    # -- container ----------------------------------------------------------------------
    def __len__(self) -> int:
        if self.ndim == 0:
            raise TypeError("len() of unsized object")
        return self.shape[0]

    def __iter__(self) -> Iterator[ndarray]:
        # As CuPy: yields device arrays (views), no host sync until they are converted.
        if self.ndim == 0:
            raise TypeError("iteration over a 0-d array")
        return (self[i] for i in range(self.shape[0]))

    def _index(self, key: Any) -> tuple[tuple, bool, bool]:
        """NumPy index for ``key``; whether it has a boolean mask; whether integer arrays."""
        key = key if isinstance(key, tuple) else (key,)
        out, mask, advanced = [], False, False
        for k in key:
            if isinstance(k, ndarray):
                k = k._a
            elif isinstance(k, np.ndarray | list):  # CuPy uploads host index arrays
                k = np.asarray(k)
                if k.size == 0 and k.dtype.kind == "f":  # an empty list
                    k = k.astype(np.intp)
                counters.copy("h2d", k.nbytes, False)
            if isinstance(k, np.ndarray):
                if k.dtype.kind == "b":
                    mask = True
                elif k.dtype.kind in "iu":
                    advanced = True
                else:
                    raise IndexError(
                        "arrays used as indices must be of integer or boolean type. "
                        f"(actual: {k.dtype.type})"
                    )
            out.append(k)
        if not any(k is Ellipsis for k in out):
            out.append(Ellipsis)  # so an element is a 0-d view, not a NumPy scalar
        return tuple(out), mask, advanced

    def __getitem__(self, key: Any) -> ndarray:
        index, mask, _ = self._index(key)
        if mask:  # CuPy sizes the result from the mask: int(count) on the host
            counters.sync("boolean mask indexing")
        return _wrap(self._a[index], [self])

    def __setitem__(self, key: Any, value: Any) -> None:
        index, mask, advanced = self._index(key)
        if isinstance(value, ndarray):
            value = value._a
        elif isinstance(value, np.ndarray | list | tuple):
            # CuPy (_scatter_op): with integer or mask indices a host value is uploaded;
            # with basic indices it goes to fill(), which takes scalars only.
            if isinstance(value, np.ndarray) and value.ndim == 0:
                value = value.item()
            elif advanced or mask:
                value = np.asarray(value)
                counters.copy("h2d", value.nbytes, False)
            elif isinstance(value, np.ndarray):
                raise ValueError("non-scalar numpy.ndarray cannot be used for fill")
            else:
                raise _unsupported(value)
        if mask:
            counters.sync("boolean mask assignment")
        self._a[index] = value

    def fill(self, value: Any) -> None:
        if isinstance(value, np.ndarray | ndarray):
            if value.shape != ():
                kind = "numpy" if isinstance(value, np.ndarray) else "cupy"
                raise ValueError(f"non-scalar {kind}.ndarray cannot be used for fill")
            value = value._a if isinstance(value, ndarray) else value.item()
        elif not isinstance(value, _SCALARS):
            raise _unsupported(value)
        self._a.fill(value)

    # -- methods run by NumPy -----------------------------------------------------------
    def astype(
        self,
        dtype: Any,
        order: str = "K",
        casting: Any = None,
        subok: Any = None,
        copy: bool = True,
    ) -> ndarray:
        if casting is not None:
            raise TypeError("casting is not supported yet")
        if subok is not None:
            raise TypeError("subok is not supported yet")
        return _wrap(self._a.astype(dtype, order=order, copy=copy), [self])

    __hash__ = None  # type: ignore[assignment]


for _name in (
    "all", "any", "argmax", "argmin", "argsort", "clip", "conj", "copy", "cumprod", "cumsum",
    "diagonal", "dot", "flatten", "max", "mean", "min", "nonzero", "prod", "ravel", "repeat",
    "reshape", "round", "sort", "squeeze", "std", "sum", "swapaxes", "take", "trace",
    "transpose", "var", "view",
):  # fmt: skip
    setattr(ndarray, _name, _method(_name))
for _name, _uf in {
    "add": np.add, "sub": np.subtract, "mul": np.multiply, "matmul": np.matmul,
    "truediv": np.true_divide, "floordiv": np.floor_divide, "mod": np.remainder,
    "pow": np.power, "lshift": np.left_shift, "rshift": np.right_shift,
    "and": np.bitwise_and, "or": np.bitwise_or, "xor": np.bitwise_xor,
}.items():  # fmt: skip
    _op, _rop, _iop = _binary(_uf)
    setattr(ndarray, f"__{_name}__", _op)
    setattr(ndarray, f"__r{_name}__", _rop)
    setattr(ndarray, f"__i{_name}__", _iop)
for _name, _uf in {
    "lt": np.less, "le": np.less_equal, "gt": np.greater, "ge": np.greater_equal,
    "eq": np.equal, "ne": np.not_equal, "divmod": np.divmod,
}.items():  # fmt: skip
    setattr(ndarray, f"__{_name}__", _binary(_uf)[0])
ndarray.__rdivmod__ = _binary(np.divmod)[1]
for _name, _uf in {
    "neg": np.negative, "pos": np.positive, "abs": np.absolute, "invert": np.invert
}.items():  # fmt: skip
    setattr(ndarray, f"__{_name}__", (lambda uf: lambda self: _ufunc_call(uf, (self,), {}))(_uf))
del _name, _uf, _op, _rop, _iop

ndarray.__module__ = "viewfinder.cudasim"
ufunc.__module__ = "viewfinder.cudasim"
