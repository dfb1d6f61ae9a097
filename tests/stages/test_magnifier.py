"""Focus magnifier: the crop equals the full-resolution develop of the whole frame."""

from __future__ import annotations

import numpy as np
import pytest

from tests.stages.test_peaking import capture, textured_scene
from viewfinder import Settings
from viewfinder.stages.magnifier import (
    Magnifier,
    MagnifierSettings,
    blend_peaking,
    crop_window,
    develop_crop,
)
from viewfinder.stages.normalize import raw_scaling
from viewfinder.stages.peaking import PeakingSettings, peaking


def _frame():
    rng = np.random.default_rng(3)
    return capture(textured_scene(rng, 192, 256), 400, rng)


def _run(frame, **kw):
    s = Settings(
        demosaic="mhc",
        magnifier=MagnifierSettings(enabled=True, **kw),
        peaking=PeakingSettings(enabled=False),
    )
    m = Magnifier()
    m.configure(np, frame.shape, frame.bits, s.magnifier)
    return m.process(frame, raw_scaling(frame), s), s


@pytest.mark.parametrize("center", [(0.5, 0.5), (0.0, 0.0), (1.0, 1.0), (0.3, 0.8)])
def test_one_to_one_is_the_full_frame_develop_cropped(center):
    frame = _frame()
    out, s = _run(frame, center=center, size=(64, 48), zoom=1)
    full = develop_crop(frame.data, raw_scaling(frame), frame.cfa, s, frame.meta)
    y0, x0, ch, cw = crop_window(frame.shape, s.magnifier)
    assert out.shape == (48, 64, 4) and (ch, cw) == (48, 64)
    assert y0 % 2 == 0 and x0 % 2 == 0 and 0 <= y0 <= 192 - 48 and 0 <= x0 <= 256 - 64
    np.testing.assert_array_equal(out, full[y0 : y0 + 48, x0 : x0 + 64])


def test_two_to_one_repeats_each_pixel():
    frame = _frame()
    out2, s2 = _run(frame, center=(0.4, 0.6), size=(64, 48), zoom=2)
    y0, x0, ch, cw = crop_window(frame.shape, s2.magnifier)
    assert (ch, cw) == (24, 32)
    full = develop_crop(frame.data, raw_scaling(frame), frame.cfa, s2, frame.meta)
    crop = full[y0 : y0 + ch, x0 : x0 + cw]
    np.testing.assert_array_equal(out2, crop.repeat(2, axis=0).repeat(2, axis=1))


def test_window_centre_and_clamping():
    s = MagnifierSettings(center=(0.5, 0.5), size=(100, 60))
    y0, x0, ch, cw = crop_window((600, 800), s)
    assert (ch, cw) == (60, 100) and abs(y0 + 30 - 300) <= 2 and abs(x0 + 50 - 400) <= 2
    assert crop_window((40, 50), s)[2:] == (40, 50)  # a frame smaller than the window


@pytest.mark.parametrize("mode", ["colour", "grey"])
def test_peaking_on_the_crop_matches_the_frame(mode):
    frame = _frame()
    p = PeakingSettings(enabled=True, colour="green", mode=mode)
    s = Settings(
        magnifier=MagnifierSettings(enabled=True, center=(0.3, 0.5), size=(80, 64)), peaking=p
    )
    m = Magnifier()
    m.configure(np, frame.shape, frame.bits, s.magnifier)
    out = m.process(frame, raw_scaling(frame), s)
    y0, x0, ch, cw = crop_window(frame.shape, s.magnifier)
    full = develop_crop(frame.data, raw_scaling(frame), frame.cfa, s, frame.meta)
    levels = peaking(frame, p)[y0 : y0 + ch, x0 : x0 + cw]
    assert levels.any()
    expect = blend_peaking(full[y0 : y0 + ch, x0 : x0 + cw], levels, p)
    np.testing.assert_array_equal(out, expect)
    marked = levels == 3
    assert (out[marked][:, :3] == (0, 255, 0)).all()


def test_bad_settings_are_refused():
    with pytest.raises(ValueError, match="zoom must be 1 or 2, got 3"):
        MagnifierSettings(zoom=3)
    with pytest.raises(ValueError, match=r"center x must be in \[0.0, 1.0\]"):
        MagnifierSettings(center=(1.5, 0.5))
    with pytest.raises(ValueError, match=r"magnifier width must be in \[16, 2048\]"):
        MagnifierSettings(size=(8, 64))


def _device_settings(center, zoom, mode="colour", method="mhc", size=(64, 48)):
    return Settings(
        demosaic=method,
        tone="contrast",
        contrast=0.3,
        magnifier=MagnifierSettings(enabled=True, center=center, size=size, zoom=zoom),
        peaking=PeakingSettings(enabled=True, colour="green", mode=mode),
    )


@pytest.mark.parametrize("center", [(0.5, 0.5), (0.0, 0.0), (1.0, 1.0), (0.02, 0.9)])
@pytest.mark.parametrize("zoom", [1, 2])
def test_device_magnifier_equals_the_host(dxp, center, zoom):
    from dataclasses import replace

    frame = _frame()
    for mode, method in (("colour", "mhc"), ("grey", "bilinear")):
        s = _device_settings(center, zoom, mode, method, size=(64, 46))
        host = Magnifier()
        host.configure(np, frame.shape, frame.bits, s.magnifier)
        want = host.process(frame, raw_scaling(frame), s)
        dev = Magnifier()
        dev.configure(dxp, frame.shape, frame.bits, s.magnifier)
        dframe = replace(frame, data=dxp.asarray(frame.data))
        got = dev.process(dframe, raw_scaling(frame), s).get()
        assert got.shape == want.shape
        diff = np.abs(got.astype(int) - want.astype(int))
        assert diff.max() <= 1, (mode, diff.max())  # fused tone vs the stage chain: 1 LSB


@pytest.mark.cudasim
def test_device_magnifier_allocates_and_uploads_nothing_per_frame(dxp):
    from dataclasses import replace

    if dxp.__name__ != "viewfinder.cudasim":
        pytest.skip("counts need cudasim")
    frame = _frame()
    s = _device_settings((0.4, 0.6), 2)
    dev = Magnifier()
    dev.configure(dxp, frame.shape, frame.bits, s.magnifier)
    dframe = replace(frame, data=dxp.asarray(frame.data))
    first = dev.process(dframe, raw_scaling(frame), s)
    with dxp.counting() as c:
        for _ in range(3):
            out = dev.process(dframe, raw_scaling(frame), s)
    assert c.allocations == 0, c.allocated_bytes
    assert c.copies == [] and c.host_syncs == []  # no pageable (or any) copies per frame
    assert out is first  # the magnifier's own buffer
