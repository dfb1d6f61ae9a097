"""The demosaic header maths (vf_demosaic.cuh, vf_hq.cuh), built with g++, against NumPy.

The shim runs the same per-pixel functions the CUDA kernels of demosaic.cu run, pass by pass
and in place on one interleaved RGB buffer as the kernels do, so a read-after-write hazard
between pixels of one pass would show up here as a mismatch with the NumPy reference.
"""

from __future__ import annotations

import ctypes

import numpy as np
import pytest

from tests.conftest import skimage_photos
from tests.kernels.shim import build_shim, ptr
from viewfinder.frame import CFA_CODES, CFA_PATTERNS, mosaic
from viewfinder.stages.demosaic import demosaic

SOURCE = r"""
#include <cstdint>
#include "vf_demosaic.cuh"
#include "vf_hq.cuh"

template <class Src>
static void linear(const Src& m, float* out, int w, int h, int cfa, int method) {
    for (int y = 0; y < h; ++y)
        for (int x = 0; x < w; ++x) {
            float* px = out + 3 * ((long long)y * w + x);
            if (method == 0) vf_demosaic_bilinear(m, cfa, y, x, px);
            else vf_demosaic_mhc(m, cfa, y, x, px);
        }
}

extern "C" void run_linear_f32(const float* raw, float* out, int w, int h, int cfa, int method) {
    linear(VfFloatSource{raw, w, h}, out, w, h, cfa, method);
}

extern "C" void run_linear_u16(const uint16_t* raw, float* out, int w, int h, int cfa,
                               int method) {
    linear(VfPlainSource<uint16_t>{raw, w, h}, out, w, h, cfa, method);
}

// The hq passes as demosaic.cu launches them (E and F fused in one loop, as in the kernel).
extern "C" void run_hq(const float* raw, float* vh, float* pq, float* out, int w, int h,
                       int cfa) {
    const VfPlainSource<float> m{raw, w, h};
    const VfPlane dvh{vh, w, h, 1}, dpq{pq, w, h, 1};
    const VfPlane r{out, w, h, 3}, g{out + 1, w, h, 3}, b{out + 2, w, h, 3};
    const long long n = (long long)w * h;
    for (long long i = 0; i < n; ++i) {
        const int y = (int)(i / w), x = (int)(i % w);
        vh[i] = vf_hq_vh(m, y, x);
        pq[i] = vf_hq_pq(m, y, x);
    }
    for (long long i = 0; i < n; ++i)
        out[3 * i + 1] = vf_hq_green(m, dvh, cfa, (int)(i / w), (int)(i % w));
    for (long long i = 0; i < n; ++i) {
        const int y = (int)(i / w), x = (int)(i % w), c = vf_cfa_color(cfa, y, x);
        if (c == 1) continue;
        out[3 * i + c] = m(y, x);
        out[3 * i + 2 - c] = vf_hq_rb_at_rb(m, g, dpq, y, x);
    }
    for (long long i = 0; i < n; ++i) {
        const int y = (int)(i / w), x = (int)(i % w);
        if (vf_cfa_color(cfa, y, x) != 1) continue;
        const float d = vf_hq_disc(dvh, y, x);
        const float rr = vf_hq_rb_at_g(r, g, d, y, x), bb = vf_hq_rb_at_g(b, g, d, y, x);
        out[3 * i] = rr;
        out[3 * i + 2] = bb;
    }
    for (long long i = 0; i < n; ++i) {
        const int y = (int)(i / w), x = (int)(i % w), c = vf_cfa_color(cfa, y, x);
        if (c == 1) continue;
        const VfPlane own{out + c, w, h, 3}, other{out + 2 - c, w, h, 3};
        const float d = vf_hq_disc(dvh, y, x);
        const float gg = vf_hq_refine_green(own, g, d, y, x);
        const float oo = vf_hq_refine_rb_at_rb(m(y, x), own, other, d, y, x);
        out[3 * i + 1] = gg;
        out[3 * i + 2 - c] = oo;
    }
}
"""

_I = ctypes.c_int


@pytest.fixture(scope="module")
def lib() -> ctypes.CDLL:
    return build_shim(SOURCE, "demosaic_shim")


def _photo_crop() -> np.ndarray:
    return skimage_photos()["astronaut"][100:196, 150:278]  # (96, 128, 3) uint8


def _run_linear(lib, raw: np.ndarray, cfa: str, method: str) -> np.ndarray:
    h, w = raw.shape
    out = np.empty((h, w, 3), np.float32)
    fn = lib.run_linear_u16 if raw.dtype == np.uint16 else lib.run_linear_f32
    raw = np.ascontiguousarray(raw)
    fn(ptr(raw), ptr(out), _I(w), _I(h), _I(CFA_CODES[cfa]), _I(method == "mhc"))
    return out


def _run_hq(lib, raw: np.ndarray, cfa: str) -> np.ndarray:
    h, w = raw.shape
    raw = np.ascontiguousarray(raw, dtype=np.float32)
    vh, pq = np.empty((h, w), np.float32), np.empty((h, w), np.float32)
    out = np.full((h, w, 3), np.nan, np.float32)
    lib.run_hq(ptr(raw), ptr(vh), ptr(pq), ptr(out), _I(w), _I(h), _I(CFA_CODES[cfa]))
    return out


@pytest.mark.parametrize("cfa", CFA_PATTERNS)
@pytest.mark.parametrize("method", ["bilinear", "mhc"])
def test_linear_header_matches_numpy(lib, cfa, method):
    raw = mosaic(_photo_crop().astype(np.uint16) * 4, cfa)  # 10-bit-like DN
    ref = demosaic(raw, cfa, method)
    for src in (raw, raw.astype(np.float32)):
        got = _run_linear(lib, src, cfa, method)
        # Different summation order than OpenCV's filter2D: float32 rounding only.
        np.testing.assert_allclose(got, ref, rtol=1e-6, atol=1e-6 * 1020)


@pytest.mark.parametrize("cfa", CFA_PATTERNS)
def test_hq_header_matches_numpy_on_a_photo(lib, cfa):
    raw = mosaic(_photo_crop().astype(np.float32) / 255, cfa)
    got = _run_hq(lib, raw, cfa)
    ref = demosaic(raw, cfa, "hq")
    assert np.isfinite(got).all()
    # Same operations in the same order on both sides: equal to float32 rounding.
    np.testing.assert_allclose(got, ref, rtol=1e-6, atol=1e-7)


@pytest.mark.parametrize("shape", [(4, 4), (6, 10), (12, 8)])
@pytest.mark.parametrize("cfa", CFA_PATTERNS)
def test_hq_header_matches_numpy_on_small_noisy_frames(lib, cfa, shape, rng):
    # Small frames exercise the mirrored borders of every pass (reach up to 4 px).
    raw = rng.integers(0, 1024, size=shape).astype(np.float32)
    got = _run_hq(lib, raw, cfa)
    ref = demosaic(raw, cfa, "hq")
    np.testing.assert_allclose(got, ref, rtol=1e-6, atol=1e-6 * 1023)
