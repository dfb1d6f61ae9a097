"""``RawModule`` / ``RawKernel`` of the cudasim stand-in: CuPy's API over the CPU runtime.

A launch checks what CuPy and the driver would refuse (grid and block shapes, argument
types) and what a GPU would silently get wrong, then runs the kernel on the CPU runtime
(``simt.h``) before returning: the stand-in's device is infinitely fast, so a kernel's
results are visible to everything issued after it, on any stream.

Stricter than CuPy, on purpose: a NumPy array or a CuPy (real GPU) array as an argument is a
TypeError (CuPy too refuses NumPy arrays); a pointer argument must be a C-contiguous stand-in
array of the pointee's element type (a GPU would read a strided view or another dtype as
garbage); a scalar must have the parameter's exact type, ``numpy.int32`` for ``int`` and
``numpy.float32`` for ``float`` (CuPy sends a Python int as 8 bytes and a Python float as a
double, which a ``float`` parameter reads as garbage).

Settings (environment, or :data:`config` at run time): ``VIEWFINDER_CUDASIM_WORKERS`` (OS
threads running blocks, default ``min(4, cpus)``), ``VIEWFINDER_CUDASIM_ORDER``
(``forward``, ``reverse`` or ``shuffle``: the order in which a block's threads run between
barriers), ``VIEWFINDER_CUDASIM_ASAN=1`` (AddressSanitizer builds).
"""

from __future__ import annotations

import ctypes
import os
import threading
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..counters import counters
from .build import Build, CompileError, build

__all__ = ["CUDADriverError", "CompileError", "RawKernel", "RawModule", "config"]

_SCHEDULES = {"forward": 0, "reverse": 1, "shuffle": 2}


class CUDADriverError(RuntimeError):
    """What CuPy raises for a refused launch or a missing kernel (same message style)."""


@dataclass
class Config:
    workers: int = field(
        default_factory=lambda: int(
            os.environ.get("VIEWFINDER_CUDASIM_WORKERS") or min(4, os.cpu_count() or 1)
        )
    )
    schedule: str = field(
        default_factory=lambda: os.environ.get("VIEWFINDER_CUDASIM_ORDER", "forward")
    )
    seed: int = 0
    asan: bool = field(default_factory=lambda: os.environ.get("VIEWFINDER_CUDASIM_ASAN") == "1")
    #: Stack of one CUDA thread (a fiber), bytes; the first page is a guard page.
    stack_bytes: int = 256 * 1024
    #: False: launches are checked and recorded (``launch_log``) but not executed: a frame's
    #: launch list at any size, in no time (the performance model's input). Results are garbage.
    execute: bool = True
    #: When a list: every launch appends (kernel, grid, block, [(is_pointer, type code, nbytes
    #: of an array or 0)] per argument, {argument index: scalar value}).
    launch_log: list | None = None

    def schedule_code(self) -> int:
        if self.schedule not in _SCHEDULES:
            raise ValueError(
                f"VIEWFINDER_CUDASIM_ORDER must be one of {', '.join(_SCHEDULES)}, "
                f"got {self.schedule!r}"
            )
        return _SCHEDULES[self.schedule]


#: Runtime settings of the stand-in (read at each launch; ``asan`` at each build).
config = Config()


class _LaunchCfg(ctypes.Structure):
    _fields_ = [
        ("grid", ctypes.c_uint * 3),
        ("block", ctypes.c_uint * 3),
        ("workers", ctypes.c_int),
        ("schedule", ctypes.c_int),
        ("seed", ctypes.c_ulonglong),
        ("stack_bytes", ctypes.c_ulonglong),
    ]


_libraries: dict[str, ctypes.CDLL] = {}
_lib_lock = threading.Lock()


def _library(b: Build) -> ctypes.CDLL:
    with _lib_lock:
        lib = _libraries.get(str(b.library))
        if lib is None:
            lib = _libraries[str(b.library)] = ctypes.CDLL(str(b.library))
        return lib


class RawModule:
    """CUDA source compiled for the CPU runtime: ``RawModule(code=..., options=(...))``."""

    def __init__(
        self,
        code: str | None = None,
        *,
        path: str | None = None,
        options: tuple = (),
        backend: str = "nvrtc",
        translate_cucomplex: bool = False,
        enable_cooperative_groups: bool = False,
        name_expressions: Any = None,
        jitify: Any = None,
    ) -> None:
        if path is not None or code is None:
            raise ValueError("cudasim compiles CUDA source (code=...), not cubin/PTX files")
        if not isinstance(code, str):
            raise TypeError(f"code must be str, got {type(code).__name__}")
        if not isinstance(options, tuple):  # CuPy's signature is `tuple options`
            raise TypeError(f"options must be a tuple, got {type(options).__name__}")
        self.code = code
        self.options = options
        self._builds: dict[bool, Build] = {}
        self._lock = threading.Lock()

    def _build(self) -> Build:
        asan = config.asan
        with self._lock:
            b = self._builds.get(asan)
            if b is None:
                b = self._builds[asan] = build(self.code, self.options, asan=asan)
        return b

    def compile(self, log_stream: Any = None) -> None:
        self._build()

    def get_function(self, name: str) -> RawKernel:
        b = self._build()
        if name not in b.kernels:
            raise CUDADriverError(
                f"CUDA_ERROR_NOT_FOUND: named symbol not found: {name!r} "
                f"(the module has {', '.join(b.kernels) or 'no kernels'})"
            )
        return RawKernel._of(self, name)


class RawKernel:
    """One ``extern "C" __global__`` kernel; call it as CuPy's: ``k(grid, block, args)``."""

    def __init__(
        self, code: str, name: str, options: tuple = (), backend: str = "nvrtc", **kwargs: Any
    ) -> None:
        self._module = RawModule(code=code, options=options)
        self.name = name
        self._resolved: tuple[Build, Any, list[tuple[bool, str]]] | None = None

    @classmethod
    def _of(cls, module: RawModule, name: str) -> RawKernel:
        kernel = cls.__new__(cls)
        kernel._module = module
        kernel.name = name
        kernel._resolved = None
        return kernel

    def _resolve(self) -> tuple[Any, list[tuple[bool, str]]]:
        b = self._module._build()
        if self._resolved is None or self._resolved[0] is not b:
            if self.name not in b.kernels:
                raise CUDADriverError(
                    f"CUDA_ERROR_NOT_FOUND: named symbol not found: {self.name!r}"
                )
            lib = _library(b)
            fn = getattr(lib, f"simt_launch_{self.name}")
            fn.argtypes = [
                ctypes.POINTER(_LaunchCfg),
                ctypes.c_void_p,
                ctypes.c_char_p,
                ctypes.c_int,
            ]
            fn.restype = ctypes.c_int
            sig_fn = getattr(lib, f"simt_signature_{self.name}")
            sig_fn.restype = ctypes.c_char_p
            text = sig_fn().decode()
            sig = (
                [(p == "p", code) for p, code in (s.split(":", 1) for s in text.split(","))]
                if text
                else []
            )
            self._resolved = (b, fn, sig)
        return self._resolved[1], self._resolved[2]

    @property
    def signature(self) -> list[tuple[bool, str]]:
        """``[(is_pointer, type code), ...]``: type codes as NumPy's ``dtype.str[1:]``."""
        return self._resolve()[1]

    def __call__(self, grid: tuple, block: tuple, args: tuple, *, shared_mem: int = 0) -> None:
        fn, sig = self._resolve()
        where = f"kernel {self.name}"
        cfg = _LaunchCfg()
        cfg.grid[:] = _dims(grid, "grid", where)
        cfg.block[:] = _dims(block, "block", where)
        b0, b1, b2 = cfg.block
        if b0 * b1 * b2 > 1024 or b2 > 64 or cfg.grid[1] > 65535 or cfg.grid[2] > 65535:
            raise CUDADriverError(
                f"CUDA_ERROR_INVALID_VALUE: invalid argument: {where}: grid {tuple(cfg.grid)}, "
                f"block {tuple(cfg.block)} (at most 1024 threads a block, block z <= 64, "
                f"grid y and z <= 65535)"
            )
        if shared_mem:
            raise ValueError(f"{where}: cudasim has no dynamic shared memory (shared_mem=0 only)")
        if not isinstance(args, tuple):
            raise TypeError(f"{where}: args must be a tuple, got {type(args).__name__}")
        if len(args) != len(sig):
            raise TypeError(f"{where} takes {len(sig)} arguments, got {len(args)}")
        keep: list[Any] = []
        pointers = (ctypes.c_void_p * max(1, len(args)))()
        nbytes = 0
        for k, (arg, (is_pointer, code)) in enumerate(zip(args, sig, strict=True)):
            at = f"{where} argument {k} ({'pointer to ' if is_pointer else ''}{_c_name(code)})"
            if is_pointer:
                address, size = _pointer_arg(arg, code, at)
                nbytes += size
                holder = ctypes.c_void_p(address)
            else:
                holder = _scalar_arg(arg, code, at)
            keep.append(holder)
            pointers[k] = ctypes.addressof(holder)
        cfg.workers = max(1, int(config.workers))
        cfg.schedule = config.schedule_code()
        cfg.seed = int(config.seed)
        cfg.stack_bytes = int(config.stack_bytes)
        counters.launch(self.name, nbytes)
        if config.launch_log is not None:
            config.launch_log.append(
                (
                    self.name,
                    tuple(cfg.grid),
                    tuple(cfg.block),
                    [
                        (p, c, int(getattr(a, "nbytes", 0) or 0))
                        for a, (p, c) in zip(args, sig, strict=True)
                    ],
                    {k: a.item() for k, a in enumerate(args) if isinstance(a, np.generic)},
                )
            )
        if not config.execute:
            return
        err = ctypes.create_string_buffer(512)
        if fn(ctypes.byref(cfg), pointers, err, len(err)) != 0:  # ctypes drops the GIL here
            raise CUDADriverError(f"{where}: {err.value.decode(errors='replace')}")


def _dims(dims: Any, what: str, where: str) -> list[int]:
    if not isinstance(dims, tuple) or not 1 <= len(dims) <= 3:
        raise TypeError(f"{where}: {what} must be a tuple of 1 to 3 ints, got {dims!r}")
    out = []
    for d in dims:
        if not isinstance(d, (int, np.integer)) or isinstance(d, bool) or int(d) < 1:
            raise CUDADriverError(
                f"CUDA_ERROR_INVALID_VALUE: invalid argument: {where}: {what} {dims!r}"
            )
        out.append(int(d))
    return out + [1] * (3 - len(out))


_C_NAMES = {
    "u1": "unsigned char",
    "u2": "unsigned short",
    "u4": "unsigned int",
    "u8": "unsigned long long",
    "i1": "signed char",
    "i2": "short",
    "i4": "int",
    "i8": "long long",
    "f4": "float",
    "f8": "double",
    "b1": "bool",
    "v0": "void",
}


def _c_name(code: str) -> str:
    return _C_NAMES.get(code, code)


def _pointer_arg(arg: Any, code: str, at: str) -> tuple[int, int]:
    if arg is None:
        return 0, 0
    if isinstance(arg, np.ndarray):
        raise TypeError(f"{at}: Unsupported type {type(arg)} (a host array: upload it first)")
    if not type(arg).__module__.startswith("viewfinder.cudasim") or not hasattr(
        arg, "__cuda_array_interface__"
    ):
        raise TypeError(f"{at}: Unsupported type {type(arg)} (a cudasim device array is needed)")
    iface = arg.__cuda_array_interface__
    dtype = np.dtype(iface["typestr"])
    if code not in ("v0", "?"):
        want = np.dtype(code)
        # same-size integers of either sign are the same bits (int64 counts in a u64 histogram)
        same_int = dtype.kind in "iu" and want.kind in "iu" and dtype.itemsize == want.itemsize
        if dtype != want and not same_int:
            raise TypeError(f"{at}: got a {dtype} array")
    if not arg.flags.c_contiguous:
        raise ValueError(
            f"{at}: the array is not C-contiguous (shape {tuple(arg.shape)}, strides "
            f"{tuple(arg.strides)}); the kernel would read it as dense rows"
        )
    return int(iface["data"][0]), int(arg.nbytes)


def _scalar_arg(arg: Any, code: str, at: str) -> Any:
    if code.startswith("?"):
        raise TypeError(f"{at}: cudasim passes only arithmetic scalars by value")
    want = np.dtype(code)
    if not isinstance(arg, np.generic) or arg.dtype != want:
        got = arg.dtype if isinstance(arg, np.generic) else type(arg).__name__
        raise TypeError(
            f"{at}: got {got}; pass numpy.{want.name} (CuPy sends a Python int as 8 bytes and "
            f"a Python float as a double)"
        )
    return ctypes.create_string_buffer(arg.tobytes(), want.itemsize)
