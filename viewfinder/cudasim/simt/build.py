"""Compile CUDA C++ sources with g++ against ``simt.h`` into cached shared libraries.

A source is compiled unmodified: ``simt.h`` maps CUDA's qualifiers, built-in variables,
barriers, atomics and warp intrinsics onto the CPU runtime, and a generated wrapper adds, per
``extern "C" __global__`` kernel, a launcher taking the driver's argument convention (an array
of pointers to each argument's bytes) and its parameter signature.

Builds are cached on disk (``$VIEWFINDER_CUDASIM_CACHE``, default
``~/.cache/viewfinder/cudasim``), keyed on the preprocessed source (so every ``#include``d
header counts), ``simt.h``, the flags and the compiler's version: a test run pays for a
build once, and an edited header rebuilds.
"""

from __future__ import annotations

import functools
import hashlib
import os
import re
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

SIMT_DIR = Path(__file__).resolve().parent
SIMT_HEADER = SIMT_DIR / "simt.h"
#: g++ flags of a normal build. No strict aliasing: CUDA code reinterprets buffers freely
#: (e.g. two uint16 photosites read as one uint32), which nvcc tolerates.
BASE_FLAGS = ("-std=c++17", "-fPIC", "-shared", "-pthread", "-fno-strict-aliasing", "-g")
FAST_FLAGS = ("-O2",)
#: AddressSanitizer build: out-of-bounds accesses reported at their source line. The Python
#: process must preload the runtime (``LD_PRELOAD=$(g++ -print-file-name=libasan.so)``).
ASAN_FLAGS = ("-O1", "-fsanitize=address", "-fno-omit-frame-pointer")
_MARK = "SIMT_KERNEL_MARK"
_KERNEL_RE = re.compile(r'extern\s+"C"\s+' + _MARK + r"\s+void\s+(\w+)\s*\(([^)]*)\)")


class CompileError(RuntimeError):
    """g++ refused the source; the message holds its first error lines."""


@dataclass(frozen=True)
class Build:
    """A compiled module: the shared library and its kernels' names."""

    library: Path
    kernels: tuple[str, ...]
    asan: bool


def compiler() -> str:
    """The C++ compiler: ``$CXX`` if set, else g++; a CompileError naming it if missing."""
    wanted = os.environ.get("CXX") or "g++"
    gxx = shutil.which(wanted)
    if not gxx:
        raise CompileError(
            f"cudasim needs a C++ compiler to run the CUDA kernels on the CPU, and {wanted!r} "
            "was not found (Debian: apt-get install g++)"
        )
    return gxx


@functools.cache
def _compiler_version(gxx: str) -> str:
    return subprocess.run([gxx, "--version"], capture_output=True, text=True).stdout


def cache_dir() -> Path:
    root = os.environ.get("VIEWFINDER_CUDASIM_CACHE")
    path = Path(root) if root else Path.home() / ".cache" / "viewfinder" / "cudasim"
    path.mkdir(parents=True, exist_ok=True)
    return path


def translate_options(options: tuple[str, ...]) -> list[str]:
    """NVRTC options to g++ flags: include paths, defines and the C++ standard pass; the
    GPU-only ones (``-arch``, ``--use_fast_math``, ``-lineinfo``...) have no CPU meaning."""
    flags: list[str] = []
    for opt in options:
        if opt.startswith(("-I", "-D", "-U")):
            flags.append(opt)
        elif opt.startswith(("--std=", "-std=")):
            flags.append("-std=" + opt.split("=", 1)[1])
    return flags


def _first_errors(text: str, limit: int = 25) -> str:
    lines = [ln for ln in text.splitlines() if ln.strip()]
    errors = [i for i, ln in enumerate(lines) if "error" in ln]
    start = max(0, errors[0] - 2) if errors else 0
    return "\n".join(lines[start : start + limit])


def build(code: str, options: tuple[str, ...] = (), *, asan: bool = False) -> Build:
    """Compile CUDA source ``code`` (NVRTC ``options``) for the CPU runtime; cached."""
    gxx = compiler()
    flags = translate_options(tuple(options))
    with tempfile.TemporaryDirectory(prefix="cudasim-") as tmp:
        src = Path(tmp) / "module.cu"
        src.write_text(code)
        pre = subprocess.run(
            [gxx, "-E", "-P", "-x", "c++", "-std=c++17", f"-D__global__={_MARK}", *flags, str(src)],
            capture_output=True,
            text=True,
        )
        if pre.returncode != 0:
            raise CompileError(f"cudasim: preprocessing failed:\n{_first_errors(pre.stderr)}")
        # (name, parameter list): the list picks the kernel among overloads of its name
        found = tuple(
            (name, " ".join(params.split())) for name, params in _KERNEL_RE.findall(pre.stdout)
        )
        kernels = tuple(name for name, _ in found)
        mode = ASAN_FLAGS if asan else FAST_FLAGS
        key = hashlib.sha256(
            "\0".join(
                [
                    pre.stdout,
                    SIMT_HEADER.read_text(),
                    " ".join((*BASE_FLAGS, *mode, *flags)),
                    _compiler_version(gxx),
                    _wrapper(Path("module.cu"), found),
                ]
            ).encode()
        ).hexdigest()[:24]
        library = cache_dir() / f"{key}{'-asan' if asan else ''}.so"
        if library.is_file():
            return Build(library, kernels, asan)
        wrapper = Path(tmp) / "wrapper.cpp"
        wrapper.write_text(_wrapper(src, found))
        out = Path(tmp) / "module.so"
        run = subprocess.run(
            [gxx, *BASE_FLAGS, *mode, f"-I{SIMT_DIR}", *flags, str(wrapper), "-o", str(out)],
            capture_output=True,
            text=True,
        )
        if run.returncode != 0:
            raise CompileError(
                f"cudasim: g++ could not compile the module:\n{_first_errors(run.stderr)}"
            )
        # atomic publish: a concurrent build of the same key writes the same bytes
        staged = library.with_suffix(f".{os.getpid()}.tmp")
        shutil.copyfile(out, staged)
        os.replace(staged, library)
    return Build(library, kernels, asan)


def _wrapper(src: Path, kernels: tuple[tuple[str, str], ...]) -> str:
    lines = ['#include "simt.h"', f'#include "{src}"', ""]
    for name, params in kernels:
        # the cast picks the kernel when a device function shares its name
        fn = f"static_cast<void (*)({params})>(&{name})"
        lines.append(
            f'extern "C" int simt_launch_{name}(const simt::LaunchCfg* c, void** a, char* e, '
            f"int n) {{ return simt::launch({fn}, c, a, e, n); }}"
        )
        lines.append(
            f'extern "C" const char* simt_signature_{name}() {{ return simt::signature({fn}); }}'
        )
    return "\n".join(lines) + "\n"
