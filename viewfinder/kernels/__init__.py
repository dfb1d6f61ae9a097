"""CUDA sources (``*.cu`` and ``*.cuh`` beside this file) and their one loader.

Per-pixel maths lives in ``__host__ __device__`` functions of the ``.cuh`` headers, so the
tests can compile the same code with g++ and compare it with the NumPy reference on a machine
with no GPU. ``.cu`` files hold the ``extern "C"`` kernels; every one must compile with
``nvcc -ptx -arch=sm_75 -I viewfinder/kernels`` (CI checks this).
"""

from __future__ import annotations

import functools
from pathlib import Path
from typing import Any

KERNEL_DIR = Path(__file__).resolve().parent


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


@functools.cache
def _load(name: str, defines: tuple[tuple[str, Any], ...]) -> Any:
    from ..backend import get_xp

    cp = get_xp("cupy")
    code = _defines_text(defines) + read_source(name)
    options = ("--std=c++17", f"-I{KERNEL_DIR}", "-DVF_NVRTC=1")
    module = cp.RawModule(code=code, options=options)
    module.compile()
    return module


def load(name: str, defines: dict[str, Any] | None = None) -> Any:
    """Compile ``<name>.cu`` with ``defines`` prepended and return the cached ``RawModule``.

    Compilation needs a CUDA device; the module is cached per (name, defines).
    """
    key = tuple(sorted((defines or {}).items()))
    return _load(name, key)


def get_kernel(name: str, function: str, defines: dict[str, Any] | None = None) -> Any:
    """The ``extern "C"`` kernel ``function`` of ``<name>.cu``."""
    return load(name, defines).get_function(function)
