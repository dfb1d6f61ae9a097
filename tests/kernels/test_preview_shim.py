"""The fused preview kernel's maths (vf_preview.cuh), compiled with g++, equals the NumPy
stage chain: the CUDA kernel runs the same code per view pixel."""

from __future__ import annotations

import ctypes

import numpy as np
import pytest

from tests.kernels.shim import build_shim, ptr
from viewfinder import Frame, Settings
from viewfinder.frame import CFA_CODES, CFA_PATTERNS
from viewfinder.pipeline import METHOD_CODES, TONE_CODES, develop_reference
from viewfinder.stages.normalize import raw_scaling
from viewfinder.stages.resize import area_weights

SHIM = r"""
#include "vf_preview.cuh"
extern "C" void preview(const unsigned short* raw, int width, int height, int cfa, int method,
                        const float* bl, const float* sc, const int* iy,
                        const float* wy, int ty, const int* ix, const float* wx, int tx,
                        const float* ccm, int curve, float contrast, int vw, int vh,
                        float* lin, float* disp, unsigned char* rgba) {
    VfRawSource<unsigned short> src{raw, width, height, {bl[0], bl[1], bl[2], bl[3]},
                                    {sc[0], sc[1], sc[2], sc[3]}};
    for (int i = 0; i < vh; ++i)
        for (int j = 0; j < vw; ++j)
            vf_preview_pixel(src, cfa, method, VfTaps{iy, wy, ty}, VfTaps{ix, wx, tx}, ccm,
                             curve, contrast, i, j, vw, lin, disp, rgba);
}
"""


def run_shim(frame: Frame, settings: Settings, ccm: np.ndarray):
    lib = build_shim(SHIM, "preview")
    sc = raw_scaling(frame, settings.white_balance, settings.exposure_ev)
    vw, vh = settings.view_size or (frame.width, frame.height)
    iy, wy = area_weights(frame.height, vh)
    ix, wx = area_weights(frame.width, vw)
    iy, ix = iy.astype(np.int32), ix.astype(np.int32)
    lin = np.zeros((vh, vw, 3), np.float32)
    disp = np.zeros_like(lin)
    rgba = np.zeros((vh, vw, 4), np.uint8)
    raw = np.ascontiguousarray(frame.data, dtype=np.uint16)
    ccm = np.ascontiguousarray(ccm, dtype=np.float32)
    site_black = np.ascontiguousarray(sc.site_blacks().ravel(), dtype=np.float32)
    site_scale = np.ascontiguousarray(sc.site_scales().ravel(), dtype=np.float32)
    f, i = ctypes.c_float, ctypes.c_int
    lib.preview(
        ptr(raw),
        i(frame.width),
        i(frame.height),
        i(CFA_CODES[frame.cfa]),
        i(METHOD_CODES[settings.demosaic]),
        ptr(site_black),
        ptr(site_scale),
        ptr(iy),
        ptr(wy),
        i(iy.shape[1]),
        ptr(ix),
        ptr(wx),
        i(ix.shape[1]),
        ptr(ccm),
        i(TONE_CODES[settings.tone]),
        f(settings.contrast),
        i(vw),
        i(vh),
        ptr(lin),
        ptr(disp),
        ptr(rgba),
    )
    return lin, disp, rgba


@pytest.mark.parametrize("cfa", CFA_PATTERNS)
@pytest.mark.parametrize("method", ["bilinear", "mhc"])
@pytest.mark.parametrize("view", [None, (40, 26), (23, 17)])
@pytest.mark.parametrize("blacks", [None, (60, 66, 71, 57)])
def test_preview_kernel_maths_equals_stage_chain(cfa, method, view, blacks, rng):
    raw = rng.integers(0, 1200, (52, 78)).astype(np.uint16)  # some above white: clipped
    ccm = np.array([[1.7, -0.5, -0.2], [-0.2, 1.4, -0.2], [0.0, -0.6, 1.6]], np.float32)
    meta = {"white_balance": (1.9, 1.0, 1.4), "color_matrix": ccm}
    if blacks is not None:
        meta["black_levels"] = blacks  # R, Gr, Gb, B: per site, as some cameras record
    frame = Frame(raw, cfa=cfa, black_level=64, white_level=1023, bits=10, meta=meta)
    settings = Settings(
        demosaic=method, view_size=view, tone="contrast", contrast=0.4, exposure_ev=0.5
    )
    lin, disp, rgba = run_shim(frame, settings, ccm)
    ref_lin, ref_disp, ref_rgba = develop_reference(frame, settings)
    np.testing.assert_allclose(lin, ref_lin, atol=2e-6, rtol=1e-5)
    np.testing.assert_allclose(disp, ref_disp, atol=1e-5)
    assert np.abs(rgba.astype(int) - ref_rgba).max() <= 1
    assert (rgba[..., 3] == 255).all()
