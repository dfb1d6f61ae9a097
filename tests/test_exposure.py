"""Auto exposure from the RAW statistics: the default scene and every lens start unclipped."""

from __future__ import annotations

import math

import numpy as np
import pytest

from viewfinder.app import mount_lens, start_aperture
from viewfinder.exposure import (
    AutoExposure,
    exposure_program,
    highlight_ev,
    mean_level_ev,
    zone_levels,
    zone_weights,
)
from viewfinder.stages.histogram import HistogramSettings, raw_histogram, raw_stats

#: Frames of a camera at 30 fps in one second.
ONE_SECOND = 30


def _stats(frame):
    hist = raw_histogram(frame.data, frame.cfa, frame.bits)
    return raw_stats(hist, frame.black_level, frame.white_level, HistogramSettings(raw=True))


@pytest.fixture(scope="module")
def camera():
    from viewfinder.sources.simulated import SimulatedCamera

    cam = SimulatedCamera(size=(1024, 768), motion=False, fps=None)
    yield cam
    cam.close()


def _lens_cases():
    from viewfinder.sources.lenses import load_lenses

    return ["builtin"] + [k for k, lens in load_lenses().items() if lens.mount == "m"]


def _settle(cam, ae, limit=ONE_SECOND):
    """Frames read until AE settles, as the viewer drives it (stats of each frame, the
    camera's exposure set from them); (frames, stats of the last frame)."""
    for n in range(1, limit + 1):
        frame = cam.read()
        stats = _stats(frame)
        new = ae.update(stats, frame.meta)
        if new is not None:
            cam.set_exposure(*new)
        if ae.settled:
            return n, _stats(cam.read())
    raise AssertionError(f"AE did not settle in {limit} frames (steps {ae.steps})")


@pytest.mark.parametrize("lens", _lens_cases())
def test_default_scene_and_every_lens_settle_unclipped_within_a_second(camera, lens):
    camera.set_exposure(1 / 160, 100)  # the camera's own start, as a new lens meets it
    if lens == "builtin":
        camera.set_mode("builtin")
    else:
        camera.set_mode("m")
        mount_lens(camera, lens)
    before = _stats(camera.read())["clipped"]
    frames, stats = _settle(camera, AutoExposure())
    assert frames <= ONE_SECOND
    assert np.max(stats["clipped"]) < 0.005, (lens, before, stats["clipped"])
    # and not dark either: the metered level sits near its target
    assert -5.5 < -mean_level_ev(stats) < -2.0


def test_noctilux_wide_open_clips_a_third_without_ae(camera):
    """The failure the issue saw: the fast lens at the camera's fixed start exposure."""
    camera.set_mode("m")
    camera.attach_lens("noctilux-50")  # the camera API itself: wide open
    camera.set_focus(3.0)
    camera.set_exposure(1 / 160, 100)
    assert np.max(_stats(camera.read())["clipped"]) > 0.2
    frames, stats = _settle(camera, AutoExposure())
    assert np.max(stats["clipped"]) < 0.005


def test_lock_off_and_manual_make_no_change(camera):
    camera.set_mode("m")
    mount_lens(camera, "noctilux-50")
    camera.set_exposure(1 / 160, 100)
    frame = camera.read()
    stats = _stats(frame)
    for ae in (AutoExposure(locked=True), AutoExposure(enabled=False)):
        for _ in range(3):
            assert ae.update(stats, frame.meta) is None
    ae = AutoExposure()
    assert ae.update(stats, frame.meta) is None  # waits: stats may be a frame late
    assert ae.update(stats, frame.meta) is not None
    # a frame still at the old exposure is not read again
    assert ae.update(stats, frame.meta) is None


def test_compensation_moves_the_settled_level(camera):
    camera.set_mode("m")
    mount_lens(camera, "summicron-50")  # its highlights leave room: the guard does not bind
    camera.set_exposure(1 / 160, 100)
    _, s0 = _settle(camera, AutoExposure())
    _, s1 = _settle(camera, AutoExposure(compensation_ev=-1.0))
    assert mean_level_ev(s1) - mean_level_ev(s0) == pytest.approx(1.0, abs=0.35)
    with pytest.raises(ValueError, match="-3 to \\+3 EV"):
        AutoExposure().set_compensation(5)


def test_exposure_program_keeps_base_iso_then_raises_it():
    assert exposure_program(1 / 250) == (1 / 250, 100.0)
    t, iso = exposure_program(1 / 15)
    assert t == pytest.approx(1 / 60) and iso == pytest.approx(400)
    t, iso = exposure_program(2.0)
    assert iso == 6400 and t == pytest.approx(1 / 32)
    t, iso = exposure_program(1 / 64000)
    assert t == pytest.approx(1 / 32000) and iso == pytest.approx(50)
    with pytest.raises(ValueError, match="positive"):
        exposure_program(0)


def test_meter_reads_levels_from_a_histogram():
    # half the green pixels 3 stops below white, half 5: geometric mean 4 stops down
    edges = np.arange(97, dtype=np.float64) / 8
    hist = np.zeros((4, 96), np.int64)
    hist[:, 24], hist[:, 40] = 500, 500
    raw = {"ev_edges": edges, "ev_hist": hist, "clipped": np.zeros(4), "total": hist.sum(1)}
    assert mean_level_ev(raw) == pytest.approx(4.0 + 1 / 16)
    assert highlight_ev(raw) == pytest.approx(3.0)
    delta = AutoExposure().correction_ev(raw)
    assert delta == pytest.approx(4.0 + 1 / 16 - 3.3)


def test_centre_and_spot_weigh_the_middle():
    w = zone_weights("spot", (6, 8))
    assert w[2:4, 3:5].sum() == pytest.approx(1.0)
    c = zone_weights("centre", (6, 8))
    assert c[2:4, 3:5].sum() > c[0, 0] * 4 * 4
    img = np.zeros((60, 80, 4), np.uint8)
    img[20:40, 30:50] = 255
    z = zone_levels(img, (6, 8))
    assert z[2:4, 3:5].min() > 0.5 and z[0, 0] == 0
    with pytest.raises(ValueError, match="metering"):
        AutoExposure(metering="evaluative")


def test_a_lens_keeps_the_focus_clamped_and_starts_stopped_down(camera):
    camera.set_mode("m")
    mount_lens(camera, "summilux-35")
    assert camera.focus_m == 3.0 and camera.aperture == 2.8
    camera.set_focus(0.8)
    mount_lens(camera, "noctilux-50")  # closes at 1 m
    assert camera.focus_m == 1.0 and camera.aperture == 2.8
    camera.set_focus(math.inf)
    mount_lens(camera, "super-elmar-21")
    assert math.isinf(camera.focus_m) and camera.aperture == 3.4
    lens = camera.lenses["summicron-50"]
    assert start_aperture(lens) == 2.8
