"""Every kernel module compiles with NVRTC exactly as the loader asks CuPy to (no GPU needed).

nvcc (test_compile.py) and NVRTC differ: NVRTC has no system headers, resolves ``#include``
only through ``-I``, and CuPy adds ``-ftz=true``, ``-arch=sm_XX`` and
``--device-as-default-execution-space``. This compiles the loader's own source text
(:func:`viewfinder.kernels.module_code`) with its options as CuPy assembles them, through
CuPy's NVRTC wrapper; it skips when libnvrtc is not installed (``pip install nvidia-cuda-nvrtc``).
"""

from __future__ import annotations

import pytest

from viewfinder.kernels import NVRTC_OPTIONS, headers_digest, module_code, source_files

#: Defines the glue passes: histogram bins up to the shared-memory limit, and beyond it.
DEFINES = {
    "histogram": [(("VF_HIST_BINS", 2048),), (("VF_HIST_BINS", 65536), ("VF_HIST_GLOBAL", 1))],
}


def _nvrtc():
    compiler = pytest.importorskip("cupy.cuda.compiler")
    try:
        from cupy_backends.cuda.libs import nvrtc

        nvrtc.getVersion()
    except Exception as exc:  # libnvrtc missing: DynamicLibNotFoundError and friends
        pytest.skip(f"libnvrtc not loadable: {exc}")
    return compiler


def _cases():
    for path in source_files():
        yield path.stem, ()
        for defines in DEFINES.get(path.stem, []):
            yield path.stem, defines


@pytest.mark.parametrize("name, defines", list(_cases()), ids=lambda v: str(v) if v else "")
@pytest.mark.parametrize("arch", ["75", "90"])
def test_module_compiles_with_nvrtc(name, defines, arch):
    compiler = _nvrtc()
    try:  # what RawModule does to the options: CCCL and CuPy include paths, default std
        from cupy._core.core import assemble_cupy_compiler_options
    except ImportError:
        options = NVRTC_OPTIONS
    else:
        options = assemble_cupy_compiler_options(NVRTC_OPTIONS)
    options += (
        "-ftz=true",
        f"-arch=sm_{arch}",
        "--device-as-default-execution-space",
    )
    prog = compiler._NVRTCProgram(module_code(name, defines), "", method="cubin")
    try:
        cubin, _ = prog.compile(options)
    except compiler.CompileException as exc:
        pytest.fail(f"NVRTC rejects {name}.cu {defines}:\n{exc}")
    assert len(cubin) > 1000


def test_module_code_carries_the_header_digest():
    # CuPy caches cubins by source text: an edited header must change that text.
    code = module_code("preview", (("X", 1),))
    assert code.startswith(f"// vf headers {headers_digest()}\n#define X 1\n")
    assert len(headers_digest()) == 40
