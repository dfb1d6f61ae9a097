"""The pipeline: fused paths equal the stage-by-stage reference; outputs, settings, errors."""

from __future__ import annotations

import numpy as np
import pytest

from viewfinder import Frame, Settings
from viewfinder.backend import backend_of
from viewfinder.frame import CFA_PATTERNS
from viewfinder.pipeline import Pipeline, develop_reference

CCM = [[1.7, -0.5, -0.2], [-0.2, 1.4, -0.2], [0.0, -0.6, 1.6]]


def photo_frame(cfa: str = "RGGB", size=(96, 128)) -> Frame:
    """A real photo (scikit-image's astronaut) mosaicked to a 10-bit raw."""
    data = pytest.importorskip("skimage.data")
    img = data.astronaut()[: size[0], : size[1]].astype(np.float32) / 255.0
    from viewfinder.frame import mosaic as sample_cfa

    mosaic = sample_cfa(img, cfa)
    raw = np.round(64 + mosaic**2.2 * (1023 - 64)).astype(np.uint16)
    return Frame(
        raw,
        cfa=cfa,
        black_level=64,
        white_level=1023,
        bits=10,
        meta={"white_balance": (1.2, 1.0, 1.1), "color_matrix": CCM},
    )


@pytest.mark.parametrize("cfa", CFA_PATTERNS)
@pytest.mark.parametrize("method", ["bilinear", "mhc"])
@pytest.mark.parametrize("view", [None, (64, 48), (50, 37)])
def test_cpu_fused_path_equals_reference(cfa, method, view):
    frame = photo_frame(cfa)
    s = Settings(demosaic=method, view_size=view, tone="contrast", contrast=0.3, exposure_ev=0.3)
    out = Pipeline(s, backend="numpy").process(frame)
    lin, disp, rgba = develop_reference(frame, s)
    assert out.path == "cpu-fused"
    np.testing.assert_allclose(out.linear, lin, atol=3e-6, rtol=1e-5)
    np.testing.assert_allclose(out.display, disp, atol=5e-4)  # tone by a 16k-entry table
    assert np.abs(out.image.astype(int) - rgba).max() <= 1
    assert out.view.shape == (*(view[::-1] if view else (96, 128)), 4)
    assert out.view.dtype == np.uint8 and (out.view[..., 3] == 255).all()


def test_reference_pipeline_runs_hq():
    frame = photo_frame()
    out = Pipeline(Settings(demosaic="hq", view_size=(64, 48)), backend="numpy").process(frame)
    assert out.path == "cpu-reference" and out.view.shape == (48, 64, 4)
    assert out.image[..., :3].std() > 10  # a photo, not a flat field


def test_timings_and_metadata():
    frame = photo_frame()
    out = Pipeline(backend="numpy").process(frame)
    assert out.frame is frame and out.backend == "numpy"
    assert out.timings_ms["total"] >= out.timings_ms["develop"] > 0


def test_white_patch_above_white_level_stays_white():
    raw = np.full((16, 16), 4000, np.uint16)  # over the 10-bit white level: clip, not wrap
    frame = Frame(
        raw, black_level=64, white_level=1023, bits=10, meta={"white_balance": (2.0, 1.0, 1.6)}
    )
    out = Pipeline(backend="numpy").process(frame)
    assert (out.image[..., :3] == 255).all()


def test_settings_change_without_new_pipeline():
    frame = photo_frame()
    pipe = Pipeline(backend="numpy")
    bright = pipe.process(frame).image[..., :3].mean()
    pipe.update(exposure_ev=-2.0)
    dark = pipe.process(frame).image[..., :3].mean()
    assert dark < bright - 20
    with pytest.raises(ValueError, match="exposure_ev"):
        pipe.update(exposure_ev=99)
    assert pipe.settings.exposure_ev == -2.0  # a refused change keeps the old settings


def test_process_refuses_non_frames():
    with pytest.raises(ValueError, match="viewfinder.Frame"):
        Pipeline(backend="numpy").process(np.zeros((8, 8), np.uint16))


@pytest.mark.parametrize("method", ["bilinear", "mhc", "hq"])
@pytest.mark.parametrize("view", [None, (64, 48), (50, 37)])
def test_cuda_path_equals_numpy(method, view, dxp):
    cp = dxp
    frame = photo_frame("GRBG")
    s = Settings(demosaic=method, view_size=view, tone="contrast", contrast=0.3)
    ref = Pipeline(s, backend="numpy", reference=True).process(frame)
    gpu = Pipeline(s, backend=backend_of(cp), float_outputs=True)  # linear: compared below
    for data in (frame.data, cp.asarray(frame.data)):  # host upload and device frames
        f = Frame(data, cfa=frame.cfa, black_level=64, white_level=1023, bits=10, meta=frame.meta)
        out = gpu.process(f)
        if method == "hq":  # FMA contraction may flip RCD's direction on a tie: a rare pixel
            diff = np.abs(out.linear.get() - ref.linear)  # moves (see test_demosaic.py)
            assert np.mean(diff <= 1e-4) > 0.999 and diff.max() < 0.05, diff.max()
            continue
        np.testing.assert_allclose(out.linear.get(), ref.linear, atol=2e-5, rtol=1e-4)
        assert np.abs(out.image.get().astype(int) - ref.image).max() <= 1
