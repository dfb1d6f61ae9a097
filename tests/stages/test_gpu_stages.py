"""GPU: the CuPy paths that had no test of their own, against their NumPy paths.

Normalise, colour matrix, area downscale, tone and RGBA8 (the stage functions behind the
reference develop and the magnifier), the magnifier, and the whole pipeline with every assist
on. Skipped without a CUDA device.
"""

from __future__ import annotations

import numpy as np
import pytest

from tests.stages.test_peaking import capture, textured_scene
from viewfinder import Frame, Settings
from viewfinder.backend import backend_of
from viewfinder.stages.color import apply_matrix
from viewfinder.stages.magnifier import Magnifier, MagnifierSettings
from viewfinder.stages.normalize import normalize, raw_scaling
from viewfinder.stages.output import to_rgba8
from viewfinder.stages.peaking import PeakingSettings
from viewfinder.stages.resize import area_downscale
from viewfinder.stages.tone import tone


def all_assists_on(**kw) -> Settings:
    from viewfinder.stages.falsecolor import FalseColourSettings
    from viewfinder.stages.histogram import HistogramSettings
    from viewfinder.stages.magnifier import MagnifierSettings
    from viewfinder.stages.peaking import PeakingSettings
    from viewfinder.stages.scopes import ScopeSettings
    from viewfinder.stages.zebra import ZebraSettings

    return Settings(
        peaking=PeakingSettings(enabled=True),
        zebra=ZebraSettings(enabled=True, under=True, mode="rgb", raw=True),
        histogram=HistogramSettings(raw=True, view=True),
        false_colour=FalseColourSettings(enabled=True),
        scopes=ScopeSettings(waveform=True, parade=True, vectorscope=True),
        magnifier=MagnifierSettings(enabled=True, size=(32, 32), zoom=2),
        **kw,
    )


CCM = np.array([[1.7, -0.5, -0.2], [-0.2, 1.4, -0.2], [0.0, -0.6, 1.6]], np.float32)


def _frame(seed: int = 3, h: int = 192, w: int = 256) -> Frame:
    rng = np.random.default_rng(seed)
    return capture(textured_scene(rng, h, w), 400, rng)


def _dev(cp, frame: Frame) -> Frame:
    return Frame(
        cp.asarray(frame.data),
        frame.cfa,
        frame.black_level,
        frame.white_level,
        frame.bits,
        frame.seq,
        frame.timestamp_ns,
        frame.meta,
    )


def test_cupy_stage_functions_equal_numpy(dxp):
    cp = dxp
    frame = _frame()
    sc = raw_scaling(frame, (1.8, 1.0, 1.4), 0.5)
    ref = normalize(frame.data, sc)
    out = cp.empty(frame.shape, cp.float32)
    got = normalize(cp.asarray(frame.data), sc, out=out)
    assert got is out
    np.testing.assert_allclose(got.get(), ref, rtol=1e-6, atol=1e-7)
    # a strided crop, as the magnifier passes it
    crop = normalize(cp.asarray(frame.data)[10:50, 20:84], sc)
    np.testing.assert_allclose(crop.get(), ref[10:50, 20:84], rtol=1e-6, atol=1e-7)

    rng = np.random.default_rng(1)
    rgb = rng.random((60, 80, 3), dtype=np.float32)
    lin = apply_matrix(rgb, CCM)
    np.testing.assert_allclose(apply_matrix(cp.asarray(rgb), CCM).get(), lin, atol=1e-6)
    small = area_downscale(lin, (33, 25))
    np.testing.assert_allclose(area_downscale(cp.asarray(lin), (33, 25)).get(), small, atol=1e-6)
    for curve in ("srgb", "linear", "contrast"):
        disp = tone(small, curve, 0.4)
        got = tone(cp.asarray(small), curve, 0.4)
        np.testing.assert_allclose(got.get(), disp, atol=2e-6)
        diff = np.abs(to_rgba8(got).get().astype(int) - to_rgba8(disp))
        assert diff.max() <= 1


@pytest.mark.parametrize("zoom", [1, 2])
def test_cupy_magnifier_equals_numpy(zoom, dxp):
    from viewfinder import Settings

    frame = _frame()
    s = Settings(
        demosaic="mhc",
        magnifier=MagnifierSettings(enabled=True, center=(0.4, 0.6), size=(96, 64), zoom=zoom),
        peaking=PeakingSettings(enabled=True),
    )
    cp = dxp
    outs = []
    for xp, f in ((np, frame), (cp, _dev(cp, frame))):
        m = Magnifier()
        m.configure(xp, frame.shape, frame.bits, s.magnifier)
        outs.append(m.process(f, raw_scaling(frame), s))
    host, dev = outs[0], outs[1].get()
    assert dev.shape == host.shape == (64, 96, 4) and dev.dtype == np.uint8
    # develop differs by an LSB at most; peaking may differ where a score sits on a threshold
    far = (np.abs(dev.astype(int) - host) > 1).any(axis=2)
    assert far.mean() < 0.02, far.mean()


@pytest.mark.parametrize("method", ["mhc", "hq"])
def test_cupy_pipeline_with_every_assist_equals_numpy(method, dxp):
    from viewfinder.pipeline import Pipeline

    cp = dxp
    frame = _frame(5, 240, 320)
    s = all_assists_on(demosaic=method, view_size=(160, 120))
    host = Pipeline(s, backend="numpy")
    dev = Pipeline(s, backend=backend_of(cp))
    for seq in range(3):
        f = Frame(
            frame.data,
            frame.cfa,
            frame.black_level,
            frame.white_level,
            frame.bits,
            seq,
            meta=frame.meta,
        )
        h_out = host.process(f)
        d_out = dev.process(_dev(cp, f))
        cp.cuda.Stream.null.synchronize()  # a frame interval: the readback has landed
    assert d_out.path == ("cuda-hq" if method == "hq" else "cuda-tiled")
    assert any(k.startswith("gpu_") for k in d_out.timings_ms)
    diff = np.abs(d_out.image.get().astype(int) - h_out.image)
    assert (diff.max(axis=2) > 1).mean() < 1e-3
    shown = (np.abs(d_out.view.get().astype(int) - h_out.view) > 1).any(axis=2)
    assert shown.mean() < 0.03, shown.mean()
    # the RAW histogram comes back a frame late, and it is exact
    a = d_out.assists
    assert a.raw_histogram is not None
    np.testing.assert_array_equal(a.raw_histogram, h_out.assists.raw_histogram)
    assert a.magnifier.shape == h_out.assists.magnifier.shape
