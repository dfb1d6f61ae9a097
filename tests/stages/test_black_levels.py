"""Per-site black levels (meta["black_levels"]: R, Gr, Gb, B): normalise, the fused CPU
preview and the CUDA preview kernel (on cudasim) subtract each site's own black."""

from __future__ import annotations

import numpy as np
import pytest

from viewfinder import Frame, Settings
from viewfinder.frame import CFA_PATTERNS, cfa_site_offsets
from viewfinder.pipeline import Pipeline
from viewfinder.stages.normalize import normalize, raw_scaling

BLACKS = (512.0, 528.0, 498.0, 540.0)  # R, Gr, Gb, B: differ per site, as on some cameras
WHITE = 16383


def _sites(cfa: str, values, shape=(16, 20)) -> np.ndarray:
    """A mosaic whose R, Gr, Gb, B sites hold ``values`` (4)."""
    raw = np.empty(shape, np.uint16)
    for (y, x), v in zip(cfa_site_offsets(cfa), values, strict=True):
        raw[y::2, x::2] = v
    return raw


@pytest.mark.parametrize("cfa", CFA_PATTERNS)
def test_each_site_is_black_at_its_own_black_and_white_at_white(cfa):
    meta = {"black_levels": BLACKS}
    at_black = Frame(_sites(cfa, BLACKS), cfa, 519.5, WHITE, 14, meta=meta)
    sc = raw_scaling(at_black, (2.0, 1.0, 1.5))
    np.testing.assert_array_equal(normalize(at_black.data, sc), 0.0)  # averaged: not 0
    at_white = Frame(_sites(cfa, [WHITE] * 4), cfa, 519.5, WHITE, 14, meta=meta)
    np.testing.assert_array_equal(normalize(at_white.data, raw_scaling(at_white)), 1.0)
    # in between: (dn - black[site]) / (white - black[site]) * gain
    mid = _sites(cfa, [b + 1000 for b in BLACKS])
    out = normalize(mid, raw_scaling(Frame(mid, cfa, 519.5, WHITE, 14, meta=meta), (2, 1, 1.5)))
    for (y, x), b, g in zip(cfa_site_offsets(cfa), BLACKS, (2, 1, 1, 1.5), strict=True):
        np.testing.assert_allclose(out[y::2, x::2], 1000 * g / (WHITE - b), rtol=1e-6)


def test_bad_black_levels_are_refused():
    f = Frame(np.zeros((4, 4), np.uint16), meta={"black_levels": (1, 2, 3)})
    with pytest.raises(ValueError, match="black_levels must be 4 values"):
        raw_scaling(f)


def _photo(cfa: str) -> np.ndarray:
    from skimage import data

    from viewfinder.frame import mosaic

    img = data.astronaut()[:96, :128].astype(np.float64) / 255.0
    lin = mosaic(img**2.2, cfa)
    raw = np.empty(lin.shape, np.float64)
    for (y, x), b in zip(cfa_site_offsets(cfa), BLACKS, strict=True):
        raw[y::2, x::2] = b + lin[y::2, x::2] * (WHITE - b)
    return np.round(raw).astype(np.uint16)


@pytest.mark.parametrize("method", ["bilinear", "mhc"])
def test_fused_cpu_preview_equals_the_reference_with_per_site_blacks(method):
    f = Frame(_photo("GRBG"), "GRBG", 519.5, WHITE, 14, meta={"black_levels": BLACKS})
    s = Settings(demosaic=method, view_size=(64, 48))
    ref = Pipeline(s, backend="numpy", reference=True).process(f)
    out = Pipeline(s, backend="numpy").process(f)
    assert out.path == "cpu-fused"
    assert np.abs(out.image.astype(int) - ref.image).max() <= 1
    # a flat frame at the blacks is black in the view (one averaged black tints it)
    dark = Frame(
        _sites("GRBG", BLACKS, (96, 128)), "GRBG", 519.5, WHITE, 14, meta={"black_levels": BLACKS}
    )
    assert Pipeline(s, backend="numpy").process(dark).image[..., :3].max() == 0


@pytest.mark.cudasim
@pytest.mark.parametrize("schedule", ["per-stage", "auto"])
def test_cuda_preview_takes_per_site_blacks_without_syncs_or_allocations(schedule):
    from tests.test_pipeline_device import _cudasim_problem

    problem = _cudasim_problem()
    if problem:
        pytest.skip(problem)
    from viewfinder import backend as be

    xp = be.get_xp("cudasim")
    cfa = "BGGR"
    meta = {"black_levels": BLACKS, "noise": {"gain_dn_per_e": 4.0, "read_noise_dn": 6.0}}
    f = Frame(_photo(cfa), cfa, 519.5, WHITE, 14, meta=meta)
    s = Settings(view_size=(64, 48))
    try:
        pipe = Pipeline(s, backend="cudasim", schedule=schedule)
    except TypeError:  # a pipeline without schedules
        pipe = Pipeline(s, backend="cudasim")
    pipe.process(f)
    xp.counters.reset()
    with xp.counting() as c:
        out = pipe.process(f)
    assert c.allocations == 0 and [r for r in c.host_syncs if "get" not in r] == []
    ref = Pipeline(s, backend="numpy", reference=True).process(f)
    assert np.abs(out.image.get().astype(int) - ref.image).max() <= 1
