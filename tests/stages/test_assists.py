"""The assist stage: fast paths against the references, no reallocation, bad frames, pipeline."""

from __future__ import annotations

import ctypes
from dataclasses import replace

import numpy as np
import pytest

from tests.kernels.shim import build_shim, ptr
from tests.stages.test_histogram import bincount_oracle
from tests.stages.test_peaking import BITS, WHITE, capture, textured_scene
from viewfinder import Frame, Settings
from viewfinder.stages.assists import Assists, composite_reference
from viewfinder.stages.falsecolor import FalseColourSettings
from viewfinder.stages.histogram import HistogramSettings
from viewfinder.stages.magnifier import MagnifierSettings
from viewfinder.stages.normalize import raw_scaling
from viewfinder.stages.peaking import PEAKING_COLOURS, PeakingSettings, maxpool_reference, peaking
from viewfinder.stages.scopes import (
    ScopeSettings,
    parade_reference,
    vectorscope_reference,
    vectorscope_scales,
    view_histogram_reference,
    waveform_reference,
)
from viewfinder.stages.zebra import ZebraSettings, luma8, zebra_colours_reference

VIEW = (96, 128)


def all_on(**kw) -> Settings:
    return Settings(
        peaking=PeakingSettings(
            enabled=True, colour=kw.get("colour", "yellow"), mode=kw.get("mode", "colour")
        ),
        zebra=ZebraSettings(
            enabled=True,
            level=0.8,
            under=True,
            under_level=0.1,
            mode=kw.get("zmode", "rgb"),
            raw=True,
            stripe_width=3,
            speed=2,
        ),
        histogram=HistogramSettings(raw=True, view=True),
        false_colour=FalseColourSettings(enabled=kw.get("fc", False)),
        scopes=ScopeSettings(
            waveform=True,
            parade=True,
            vectorscope=True,
            vectorscope_size=64,
            row_step=kw.get("row_step", 1),
        ),
        magnifier=MagnifierSettings(enabled=True, size=(64, 64)),
    )


def view_image(rng: np.random.Generator, shape=VIEW) -> np.ndarray:
    img = rng.integers(0, 256, shape + (4,)).astype(np.uint8)
    img[: shape[0] // 3] = 250  # a bright band for the over zebras
    img[..., 3] = 255
    return img


def run(frame, settings, rgba, xp=np):
    a = Assists()
    a.configure(xp, frame.shape, rgba.shape[:2], frame.bits, settings)
    view = rgba.copy() if xp is np else xp.asarray(rgba)
    out = a.process(frame, raw_scaling(frame), None, None, view, settings)
    return a, out, view


def _frame(seed=1, h=192, w=256):
    rng = np.random.default_rng(seed)
    frame = capture(textured_scene(rng, h, w), 800, rng)
    frame.data[10:14, 20:30] = WHITE
    return frame


@pytest.mark.parametrize(
    "kw", [{}, {"fc": True, "mode": "grey", "zmode": "luma"}, {"row_step": 2, "colour": "white"}]
)
def test_every_output_equals_its_reference(kw):
    frame = _frame()
    s = all_on(**kw)
    clean = view_image(np.random.default_rng(2))
    _, out, view = run(frame, s, clean)
    levels = maxpool_reference(peaking(frame, s.peaking, view_shape=VIEW), VIEW)
    clip = maxpool_reference((frame.data >= WHITE).astype(np.uint8), VIEW)
    np.testing.assert_array_equal(out.peaking, levels)
    pooled = levels | (clip << 2)
    shown, flags, fcol = composite_reference(clean, pooled, s, frame.seq)
    np.testing.assert_array_equal(out.zebra, flags)
    assert (flags & 32).any() and (flags & 1).any() and (flags & 2).any()
    np.testing.assert_array_equal(view, shown)
    if s.false_colour.enabled:
        np.testing.assert_array_equal(out.false_colour, fcol)
    else:
        assert out.false_colour is None
    step = s.scopes.row_step
    np.testing.assert_array_equal(out.view_histogram, view_histogram_reference(clean))
    np.testing.assert_array_equal(out.waveform, waveform_reference(clean[::step, :, :3]))
    np.testing.assert_array_equal(out.parade, parade_reference(clean[::step, :, :3]))
    np.testing.assert_array_equal(out.vectorscope, vectorscope_reference(clean[::step], 64))
    np.testing.assert_array_equal(out.raw_histogram, bincount_oracle(frame.data, "RGGB", BITS))
    assert out.raw_stats["clipped"][0] > 0 and out.magnifier.shape == (64, 64, 4)


def test_composite_definition_on_single_pixels():
    """Peaking blend and zebra colour, worked by hand."""
    s = all_on(colour="red")
    s = replace(s, zebra=replace(s.zebra, mode="luma", raw=False, under=False))
    clean = np.array([[[100, 100, 100, 255], [100, 100, 100, 255], [250, 250, 250, 255]]], np.uint8)
    pooled = np.array([[1, 3, 0]], np.uint8)
    shown, flags, _ = composite_reference(clean, pooled, s, seq=0)
    assert shown[0, 0, :3].tolist() == [(100 * 128 + 255 * 128 + 128) >> 8, 50, 50]
    assert shown[0, 1, :3].tolist() == [255, 0, 0]  # level 3: full colour
    assert flags.tolist() == [[0, 0, 1]] and shown[0, 2, :3].tolist() == [0, 0, 0]  # on-stripe


def test_switching_assists_does_not_reallocate():
    frame = _frame()
    s_on = all_on(fc=True)
    a, out_on, _ = run(frame, s_on, view_image(np.random.default_rng(3)))
    buffers = {k: id(v) for k, v in vars(a).items() if isinstance(v, np.ndarray)}
    engine = id(a.engine)
    off = replace(
        s_on,
        peaking=replace(s_on.peaking, enabled=False),
        zebra=replace(s_on.zebra, enabled=False),
        histogram=replace(s_on.histogram, raw=False, view=False),
        false_colour=replace(s_on.false_colour, enabled=False),
        scopes=replace(s_on.scopes, waveform=False, parade=False, vectorscope=False),
        magnifier=replace(s_on.magnifier, enabled=False),
    )
    for settings in (off, s_on, off):
        rgba = view_image(np.random.default_rng(4))
        out = a.process(frame, raw_scaling(frame), None, None, rgba, settings)
        assert {k: id(v) for k, v in vars(a).items() if isinstance(v, np.ndarray)} == buffers
        assert id(a.engine) == engine
    assert all(v is None for v in vars(out).values())
    assert out_on.peaking is a.peak


@pytest.mark.parametrize("value", [0, 64, WHITE, 700])
def test_black_clipped_and_constant_frames_are_sane(value):
    frame = Frame(np.full((64, 96), value, np.uint16), "RGGB", 64, WHITE, BITS)
    clean = np.full((32, 48, 4), 0 if value <= 64 else 255, np.uint8)
    _, out, view = run(frame, all_on(fc=True), clean)
    assert not out.peaking.any()
    for key in ("clipped", "ev_hist"):
        assert np.isfinite(out.raw_stats[key]).all()
    assert np.isfinite(out.raw_stats["ettr_stops"])
    assert out.raw_stats["ettr_stops"] == (
        12.0 if value <= 64 else 0.0 if value == WHITE else out.raw_stats["ettr_stops"]
    )
    assert ((out.zebra & 32) > 0).all() == (value == WHITE)
    assert out.view_histogram.sum() == 4 * 32 * 48 and np.isfinite(out.magnifier).all()


def test_pipeline_outputs_carry_the_assists():
    from viewfinder.pipeline import Pipeline

    frame = _frame(5, 128, 160)
    s = replace(all_on(), view_size=(80, 64))
    res = Pipeline(s, backend="numpy").process(frame)
    a = res.assists
    assert a is not None and a.peaking.shape == (64, 80) and a.waveform.shape == (256, 80)
    pooled = maxpool_reference(peaking(frame, s.peaking, view_shape=(64, 80)), (64, 80))
    clip = maxpool_reference((frame.data >= WHITE).astype(np.uint8), (64, 80))
    shown, _, _ = composite_reference(res.image, pooled | (clip << 2), s, frame.seq)
    np.testing.assert_array_equal(res.view, shown)


SHIM = r"""
#include "vf_assists.cuh"
extern "C" void view_pass(const unsigned char* rgba, const unsigned char* pooled, int n,
    int over_t, int under_t, int rgb, const unsigned char* fc_lut, int use_fc,
    const unsigned char* peak_rgb, int peak_mode, const int* on, int vs_n, float ku, float kv,
    unsigned char* out, unsigned char* flags, int* lum, int* cells) {
  for (int i = 0; i < n; ++i) {
    const unsigned char* p = rgba + 4 * i;
    lum[i] = vf_luma8(p[0], p[1], p[2]);
    const int zf = vf_zebra_flags(p[0], p[1], p[2], over_t, under_t, rgb, pooled[i] & 4, 1);
    flags[i] = (unsigned char)zf;
    unsigned char o[3] = {p[0], p[1], p[2]};
    vf_composite(o, use_fc ? fc_lut + 4 * lum[i] : 0, pooled[i] & 3, peak_rgb, peak_mode, zf,
                 on[i]);
    for (int c = 0; c < 3; ++c) out[4 * i + c] = o[c];
    out[4 * i + 3] = p[3];
    vf_vectorscope_cell(p[0], p[1], p[2], vs_n, ku, kv, cells + 2 * i, cells + 2 * i + 1);
  }
}
"""


@pytest.mark.parametrize("fc,mode", [(False, "colour"), (True, "grey")])
def test_kernel_maths_match_the_references(fc, mode):
    from viewfinder.stages.falsecolor import false_colour_lut
    from viewfinder.stages.scopes import vectorscope_cells
    from viewfinder.stages.zebra import stripes_reference

    lib = build_shim(SHIM, "assists_shim")
    rng = np.random.default_rng(6)
    h, w = 40, 50
    clean = view_image(rng, (h, w))
    pooled = rng.integers(0, 8, (h, w)).astype(np.uint8)
    s = all_on(fc=fc, mode=mode, colour="blue")
    z = s.zebra
    on = stripes_reference((h, w), z.phase(7), z.stripe_width).astype(np.int32)
    lut = false_colour_lut()
    out, flags = np.empty_like(clean), np.empty((h, w), np.uint8)
    lum, cells = np.empty((h, w), np.int32), np.empty((h, w, 2), np.int32)
    ku, kv = vectorscope_scales(64)
    lib.view_pass(
        ptr(clean),
        ptr(pooled),
        h * w,
        z.over_threshold(),
        z.under_threshold(),
        1,
        ptr(lut),
        int(fc),
        ptr(np.array(PEAKING_COLOURS["blue"], np.uint8)),
        int(mode == "grey"),
        ptr(on),
        64,
        ctypes.c_float(ku),
        ctypes.c_float(kv),
        ptr(out),
        ptr(flags),
        ptr(lum),
        ptr(cells),
    )
    shown, ref_flags, _ = composite_reference(clean, pooled, s, seq=7)
    np.testing.assert_array_equal(lum, luma8(clean[..., :3]))
    np.testing.assert_array_equal(flags, ref_flags)
    np.testing.assert_array_equal(out, shown)
    u, v = vectorscope_cells(clean, 64)
    np.testing.assert_array_equal(cells[..., 0], u)
    np.testing.assert_array_equal(cells[..., 1], v)
    assert zebra_colours_reference(np.array([36], np.uint8)).tolist() == [[255, 128, 0]]


@pytest.mark.parametrize("fc", [False, True])
def test_cupy_assists_equal_numpy(fc, dxp):
    cp = dxp
    frame = _frame(8, 384, 512)
    s = all_on(fc=fc)
    clean = view_image(np.random.default_rng(9))
    _, host, host_view = run(frame, s, clean)
    dev_frame = Frame(
        cp.asarray(frame.data),
        frame.cfa,
        frame.black_level,
        frame.white_level,
        frame.bits,
        frame.seq,
        meta=frame.meta,
    )
    a, dev, dev_view = run(dev_frame, s, clean, xp=cp)
    assert (cp.asnumpy(dev.peaking) != host.peaking).mean() < 1e-2
    for name in ("view_histogram", "waveform", "parade", "vectorscope"):
        np.testing.assert_array_equal(cp.asnumpy(getattr(dev, name)), getattr(host, name))
    np.testing.assert_array_equal(cp.asnumpy(dev.zebra), host.zebra)
    assert (cp.asnumpy(dev_view) != host_view).any(axis=2).mean() < 1e-2
    assert dev.raw_histogram is None  # read back a frame late
    dev2 = a.process(dev_frame, raw_scaling(frame), None, None, cp.asarray(clean), s)
    cp.cuda.Stream.null.synchronize()
    dev3 = a.process(dev_frame, raw_scaling(frame), None, None, cp.asarray(clean), s)
    got = dev3.raw_histogram if dev3.raw_histogram is not None else dev2.raw_histogram
    np.testing.assert_array_equal(got, host.raw_histogram)
