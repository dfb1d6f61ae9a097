"""Compile CUDA header maths with g++ for CPU tests of kernel logic.

``build_shim(source, name)`` compiles C++ ``source`` (which may ``#include`` any header of
viewfinder/kernels) into a shared library and returns it as a ``ctypes.CDLL``. Results are
cached by the hash of the source and of the headers, under tests/_build/.
"""

from __future__ import annotations

import ctypes
import hashlib
import os
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest

from viewfinder.kernels import KERNEL_DIR

BUILD_DIR = Path(__file__).resolve().parents[1] / "_build"


def build_shim(source: str, name: str) -> ctypes.CDLL:
    gxx = shutil.which("g++")
    if gxx is None:
        pytest.skip("g++ is needed to test kernel maths on the CPU")
    digest = hashlib.sha256(source.encode())
    for header in sorted(KERNEL_DIR.glob("*.cuh")):
        digest.update(header.read_bytes())
    BUILD_DIR.mkdir(exist_ok=True)
    lib = BUILD_DIR / f"{name}_{digest.hexdigest()[:16]}.so"
    if not lib.exists():
        # names of this process only: test runs side by side must not build into each other
        src = BUILD_DIR / f"{name}.{os.getpid()}.cpp"
        src.write_text(source)
        tmp = lib.with_suffix(f".{os.getpid()}.tmp.so")
        cmd = [
            gxx,
            "-O2",
            "-std=c++17",
            "-shared",
            "-fPIC",
            f"-I{KERNEL_DIR}",
            str(src),
            "-o",
            str(tmp),
        ]
        subprocess.run(cmd, check=True, capture_output=True, text=True)
        tmp.replace(lib)
        src.unlink()
    return ctypes.CDLL(str(lib))


def ptr(a: np.ndarray) -> ctypes.c_void_p:
    """A C pointer to a C-contiguous array."""
    assert a.flags.c_contiguous
    return ctypes.c_void_p(a.ctypes.data)
