"""CUDA sources (``*.cu`` and ``*.cuh`` beside this file) and their one loader.

Per-pixel maths lives in ``__host__ __device__`` functions of the ``.cuh`` headers, so the
tests can compile the same code with g++ and compare it with the NumPy reference on a machine
with no GPU. ``.cu`` files hold the ``extern "C"`` kernels; every one must compile with
``nvcc -ptx -arch=sm_75 -I viewfinder/kernels`` (CI checks this).
"""

from __future__ import annotations

import functools
import hashlib
from pathlib import Path
from types import ModuleType
from typing import Any

KERNEL_DIR = Path(__file__).resolve().parent
#: NVRTC options of every module (CuPy adds -arch, -ftz=true and its own).
NVRTC_OPTIONS = ("--std=c++17", f"-I{KERNEL_DIR}", "-DVF_NVRTC=1")


def source_files() -> list[Path]:
    """Every ``.cu`` file of the package, sorted."""
    return sorted(KERNEL_DIR.glob("*.cu"))


def read_source(name: str) -> str:
    """Text of ``<name>.cu``; ``ValueError`` naming the known ones when it does not exist."""
    path = KERNEL_DIR / f"{name}.cu"
    if not path.is_file():
        known = ", ".join(p.stem for p in source_files())
        raise ValueError(f"unknown kernel source {name!r}: known are {known}")
    return path.read_text()


def _defines_text(defines: tuple[tuple[str, Any], ...]) -> str:
    return "".join(f"#define {key} {value}\n" for key, value in defines)


def headers_digest() -> str:
    """SHA-1 of every ``.cuh`` header beside this file (names and contents)."""
    h = hashlib.sha1()
    for path in sorted(KERNEL_DIR.glob("*.cuh")):
        h.update(path.name.encode() + b"\0" + path.read_bytes() + b"\0")
    return h.hexdigest()


def module_code(name: str, defines: tuple[tuple[str, Any], ...] = ()) -> str:
    """The source ``RawModule`` compiles: defines, a header digest, then ``<name>.cu``.

    CuPy's on-disk kernel cache keys on the source text and options only, not on the
    ``#include``d headers; the digest comment makes an edited header recompile instead of
    loading a stale cubin.
    """
    # "#line" makes compiler messages (NVRTC, g++) and AddressSanitizer reports name the file
    path = KERNEL_DIR / f"{name}.cu"
    return (
        f"// vf headers {headers_digest()}\n"
        + _defines_text(defines)
        + f'#line 1 "{path}"\n'
        + read_source(name)
    )


@functools.cache
def _load(xp: ModuleType, name: str, defines: tuple[tuple[str, Any], ...]) -> Any:
    module = xp.RawModule(code=module_code(name, defines), options=NVRTC_OPTIONS)
    module.compile()
    return module


def _module(xp: ModuleType | None) -> ModuleType:
    from ..backend import device_module

    return device_module() if xp is None else xp


def load(name: str, defines: dict[str, Any] | None = None, xp: ModuleType | None = None) -> Any:
    """Compile ``<name>.cu`` with ``defines`` prepended and return the cached ``RawModule``.

    ``xp`` is the device module that compiles it: ``cupy`` (NVRTC, needs a CUDA device) or
    ``viewfinder.cudasim`` (g++, the CPU runtime); default :func:`backend.device_module`.
    The module is cached per (xp, name, defines).
    """
    return _load(_module(xp), name, tuple(sorted((defines or {}).items())))


def get_kernel(
    name: str,
    function: str,
    defines: dict[str, Any] | None = None,
    xp: ModuleType | None = None,
) -> Any:
    """The ``extern "C"`` kernel ``function`` of ``<name>.cu`` (cached: call it per frame)."""
    return _function(_module(xp), name, function, tuple(sorted((defines or {}).items())))


@functools.cache
def _function(
    xp: ModuleType, name: str, function: str, defines: tuple[tuple[str, Any], ...]
) -> Any:
    # RawModule.get_function makes a new RawKernel (and a driver lookup) on every call.
    return _load(xp, name, defines).get_function(function)
