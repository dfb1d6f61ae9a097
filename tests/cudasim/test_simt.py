"""The CPU runtime of the CUDA kernels (viewfinder/cudasim/simt): CUDA's semantics, checked.

Small kernels written here exercise each feature (indices, per-block shared memory, barriers,
warp intrinsics, atomics); the project's own kernels are checked against NumPy in
tests/kernels/test_cudasim_kernels.py.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import textwrap

import numpy as np
import pytest

from viewfinder import cudasim as cs
from viewfinder.cudasim.simt import build as simt_build
from viewfinder.cudasim.simt.module import CUDADriverError, RawKernel, RawModule, config

pytestmark = [
    pytest.mark.cudasim,
    pytest.mark.skipif(shutil.which("g++") is None, reason="cudasim needs g++"),
]

I32, F32 = np.int32, np.float32


def kernel(code: str, name: str) -> RawKernel:
    return RawModule(code=textwrap.dedent(code)).get_function(name)


@pytest.fixture(params=["forward", "reverse", "shuffle"])
def schedule(request):
    old = config.schedule
    config.schedule = request.param
    yield request.param
    config.schedule = old


def test_indices_cover_a_3d_grid_once():
    k = kernel(
        """
        extern "C" __global__ void ids(int* out, int nx, int ny, int nz) {
            const int x = blockIdx.x * blockDim.x + threadIdx.x;
            const int y = blockIdx.y * blockDim.y + threadIdx.y;
            const int z = blockIdx.z * blockDim.z + threadIdx.z;
            if (x >= nx || y >= ny || z >= nz) return;
            const int dims_ok = gridDim.x == 5 && gridDim.z == 2 && blockDim.x == 8
                                && blockDim.z == 2;
            atomicAdd(&out[(z * ny + y) * nx + x], dims_ok ? 1 + x + 1000 * y + 1000000 * z : -1);
        }
        """,
        "ids",
    )
    nz, ny, nx = 3, 10, 37
    out = cs.zeros((nz, ny, nx), cs.int32)
    k((5, 3, 2), (8, 4, 2), (out, I32(nx), I32(ny), I32(nz)))
    z, y, x = np.indices((nz, ny, nx))
    np.testing.assert_array_equal(out.get(), 1 + x + 1000 * y + 1000000 * z)


def test_shared_memory_is_per_block_while_blocks_run_in_parallel(schedule):
    # every block stages its own values in shared memory, then reads a neighbour's slot
    k = kernel(
        """
        extern "C" __global__ void rotate(const int* in, int* out) {
            __shared__ int tile[64];
            const int t = threadIdx.x, base = blockIdx.x * blockDim.x;
            tile[t] = in[base + t] * 10 + blockIdx.x;
            __syncthreads();
            out[base + t] = tile[(t + 1) % blockDim.x];
        }
        """,
        "rotate",
    )
    old = config.workers
    config.workers = 4
    try:
        data = np.arange(64 * 50, dtype=np.int32)
        out = cs.zeros(data.shape, cs.int32)
        k((50,), (64,), (cs.asarray(data), out))
    finally:
        config.workers = old
    blocks = (data * 10 + data // 64).reshape(50, 64)
    np.testing.assert_array_equal(out.get().reshape(50, 64), np.roll(blocks, -1, axis=1))


def test_a_missing_barrier_shows_in_every_schedule(schedule):
    # the same kernel without __syncthreads: a thread reads its neighbour's slot before the
    # neighbour wrote it (forward order), or a slot of the previous block (reverse order)
    k = kernel(
        """
        extern "C" __global__ void rotate(const int* in, int* out) {
            __shared__ int tile[64];
            const int t = threadIdx.x, base = blockIdx.x * blockDim.x;
            tile[t] = in[base + t] + 1;
            out[base + t] = tile[(t + 1) % blockDim.x];
        }
        """,
        "rotate",
    )
    data = np.arange(64 * 8, dtype=np.int32)
    out = cs.zeros(data.shape, cs.int32)
    k((8,), (64,), (cs.asarray(data), out))
    want = np.roll((data + 1).reshape(8, 64), -1, axis=1).ravel()
    assert not np.array_equal(out.get(), want)


def test_a_barrier_in_divergent_code_is_an_error():
    k = kernel(
        """
        extern "C" __global__ void bad(int* out) {
            if (threadIdx.x < 16) return;
            __syncthreads();
            out[threadIdx.x] = 1;
        }
        """,
        "bad",
    )
    with pytest.raises(CUDADriverError, match=r"__syncthreads\(\) not reached.*block \(0, 0, 0\)"):
        k((1,), (32,), (cs.zeros(32, cs.int32),))


def test_warp_shuffles_and_votes():
    k = kernel(
        """
        extern "C" __global__ void warp(const float* in, float* sum, int* xor_out,
                                        unsigned int* ballot, int* any_all) {
            const int i = blockIdx.x * blockDim.x + threadIdx.x;
            const int lane = threadIdx.x % 32;
            float v = in[i];
            for (int d = 16; d > 0; d /= 2) v += __shfl_down_sync(0xffffffffu, v, d);
            if (lane == 0) sum[i / 32] = v;
            xor_out[i] = __shfl_xor_sync(0xffffffffu, i, 1);
            const unsigned b = __ballot_sync(0xffffffffu, in[i] > 0.5f);
            if (lane == 0) ballot[i / 32] = b;
            any_all[i] = __any_sync(0xffffffffu, lane == 31) * 2
                         + __all_sync(0xffffffffu, lane < 32);
        }
        """,
        "warp",
    )
    rng = np.random.default_rng(0)
    data = rng.random(128).astype(np.float32)
    sums, xors = cs.zeros(4, cs.float32), cs.zeros(128, cs.int32)
    ballots, any_all = cs.zeros(4, cs.uint32), cs.zeros(128, cs.int32)
    k((2,), (64,), (cs.asarray(data), sums, xors, ballots, any_all))
    np.testing.assert_allclose(sums.get(), data.reshape(4, 32).sum(1), rtol=1e-5)
    np.testing.assert_array_equal(xors.get(), np.arange(128) ^ 1)
    bits = (data.reshape(4, 32) > 0.5) * (1 << np.arange(32, dtype=np.uint64))
    np.testing.assert_array_equal(ballots.get(), bits.sum(1).astype(np.uint32))
    np.testing.assert_array_equal(any_all.get(), np.full(128, 3))


def test_atomics_are_atomic_across_parallel_blocks():
    k = kernel(
        """
        extern "C" __global__ void count(const int* in, int n, unsigned int* c32,
                                         unsigned long long* c64, float* fsum, int* mx) {
            __shared__ unsigned int local;
            if (threadIdx.x == 0) local = 0;
            __syncthreads();
            for (int i = blockIdx.x * blockDim.x + threadIdx.x; i < n;
                 i += gridDim.x * blockDim.x) {
                atomicAdd(&local, 1u);
                atomicAdd(c64, (unsigned long long)in[i]);
                atomicAdd(fsum, 1.0f);
                atomicMax(mx, in[i]);
            }
            __syncthreads();
            if (threadIdx.x == 0) atomicAdd(c32, local);
        }
        """,
        "count",
    )
    old = config.workers
    config.workers = 4
    try:
        data = np.random.default_rng(1).integers(0, 1 << 30, 200_000).astype(np.int32)
        c32, c64 = cs.zeros(1, cs.uint32), cs.zeros(1, cs.uint64)
        fsum, mx = cs.zeros(1, cs.float32), cs.zeros(1, cs.int32)
        k((64,), (128,), (cs.asarray(data), I32(data.size), c32, c64, fsum, mx))
    finally:
        config.workers = old
    assert int(c32.get()[0]) == data.size
    assert int(c64.get()[0]) == int(data.astype(np.int64).sum())  # above 2**32: 64-bit adds
    assert float(fsum.get()[0]) == pytest.approx(data.size, rel=1e-3)
    assert int(mx.get()[0]) == int(data.max())


SCALE = """
extern "C" __global__ void scale(const float* in, float* out, int n, float k) {
    const int i = blockIdx.x * blockDim.x + threadIdx.x;
    if (i < n) out[i] = in[i] * k;
}
"""


def test_arguments_are_checked_as_a_gpu_would_need_them():
    k = kernel(SCALE, "scale")
    a, out = cs.asarray(np.arange(8, dtype=np.float32)), cs.zeros(8, cs.float32)
    k((1,), (8,), (a, out, I32(8), F32(2)))
    np.testing.assert_array_equal(out.get(), np.arange(8) * 2)
    with pytest.raises(TypeError, match="Unsupported type"):  # a host array
        k((1,), (8,), (np.zeros(8, np.float32), out, I32(8), F32(2)))
    with pytest.raises(TypeError, match=r"argument 3 \(float\).*double"):
        k((1,), (8,), (a, out, I32(8), 2.0))
    with pytest.raises(TypeError, match=r"argument 2 \(int\)"):
        k((1,), (8,), (a, out, 8, F32(2)))
    with pytest.raises(TypeError, match=r"argument 0 .*uint16"):
        k((1,), (8,), (cs.zeros(8, cs.uint16), out, I32(8), F32(2)))
    with pytest.raises(ValueError, match="not C-contiguous"):
        k((1,), (4,), (cs.zeros(16, cs.float32)[::2], out, I32(8), F32(2)))
    with pytest.raises(TypeError, match="takes 4 arguments, got 3"):
        k((1,), (8,), (a, out, I32(8)))
    with pytest.raises(CUDADriverError, match="INVALID_VALUE"):
        k((1,), (2048,), (a, out, I32(8), F32(2)))
    with pytest.raises(CUDADriverError, match="named symbol not found"):
        RawModule(code=SCALE).get_function("scal")


def test_builds_are_cached_and_keyed_on_included_headers(tmp_path, monkeypatch):
    monkeypatch.setenv("VIEWFINDER_CUDASIM_CACHE", str(tmp_path / "cache"))
    (tmp_path / "k.cuh").write_text("#define FACTOR 2.0f\n")
    code = '#include "k.cuh"\n' + SCALE.replace("in[i] * k", "in[i] * k * FACTOR")
    options = (f"-I{tmp_path}",)
    first = simt_build.build(code, options)
    again = simt_build.build(code, options)
    assert again.library == first.library and len(list((tmp_path / "cache").iterdir())) == 1
    (tmp_path / "k.cuh").write_text("#define FACTOR 3.0f\n")  # the .cu text is unchanged
    edited = simt_build.build(code, options)
    assert edited.library != first.library
    k = RawModule(code=code, options=options).get_function("scale")
    out = cs.zeros(4, cs.float32)
    k((1,), (4,), (cs.asarray(np.ones(4, np.float32)), out, I32(4), F32(1)))
    np.testing.assert_array_equal(out.get(), np.full(4, 3.0))


def test_compile_errors_name_the_line():
    with pytest.raises(simt_build.CompileError, match="error"):
        RawModule(code='extern "C" __global__ void f(int* p) { p[0] = undefined_name; }').compile()


OOB_SCRIPT = r"""
import numpy as np
from viewfinder import cudasim as cs
code = '''#line 1 "oob_kernel.cu"
extern "C" __global__ void past_the_end(const float* in, float* out, int n) {
    const int i = blockIdx.x * blockDim.x + threadIdx.x;
    if (i <= n) out[i % n] = in[i];
}
'''
k = cs.RawModule(code=code).get_function("past_the_end")
n = 4096
k((n // 256 + 1,), (256,), (cs.asarray(np.ones(n, np.float32)), cs.zeros(n, cs.float32),
                          np.int32(n)))
print("no report")
"""


@pytest.mark.slow
def test_address_sanitizer_reports_the_out_of_bounds_line(tmp_path):
    libasan = subprocess.run(
        ["g++", "-print-file-name=libasan.so"], capture_output=True, text=True
    ).stdout.strip()
    if not os.path.isabs(libasan) or not os.path.exists(libasan):
        pytest.skip("g++ has no AddressSanitizer runtime here")
    env = dict(
        os.environ,
        VIEWFINDER_CUDASIM_ASAN="1",
        VIEWFINDER_CUDASIM_CACHE=str(tmp_path / "cache"),
        LD_PRELOAD=libasan,
        ASAN_OPTIONS="detect_leaks=0",
    )
    run = subprocess.run(
        [sys.executable, "-c", OOB_SCRIPT], capture_output=True, text=True, env=env, timeout=300
    )
    assert "no report" not in run.stdout, run.stdout
    assert "heap-buffer-overflow" in run.stderr, run.stderr[-2000:]
    assert "oob_kernel.cu:3" in run.stderr, run.stderr[-3000:]
