"""The dual view in a live viewer: both sensors delivered with their own settings, the
bright-line frame on screen where the two fields of view put it, the headless ``--dual``."""

from __future__ import annotations

import os
import time

import numpy as np
import pytest

from viewfinder.pipeline import Pipeline
from viewfinder.render.dual import camera_brightline
from viewfinder.render.layout import intersects
from viewfinder.render.viewer import Viewer
from viewfinder.settings import Settings

from .test_cli_headless import _run
from .test_viewer_layout_gl import _save

pytestmark = pytest.mark.gl
glfw = pytest.importorskip("glfw")


@pytest.fixture
def dual(gl_context, tmp_path, monkeypatch):
    from viewfinder.app import mount_lens
    from viewfinder.sources.simulated import SimulatedCamera

    monkeypatch.chdir(tmp_path)
    cam = SimulatedCamera(size=(640, 480), motion=False, fps=60)
    cam.set_mode("m")
    mount_lens(cam, "summilux-35")
    v = Viewer(
        cam,
        Pipeline(Settings(view_size=(640, 480)), backend="numpy"),
        gl_context,
        capture_folder=tmp_path / "captures",
        fit_view=True,
        dual=True,
    )
    v.run(frames=2, headless=True)
    yield v
    v.close()


def _until(viewer, pred, limit=120):
    for _ in range(limit):
        viewer.step(wait_s=2.0)
        if pred():
            return
    raise AssertionError("the view never got there")


def test_both_streams_delivered_with_their_own_settings(dual):
    v, second = dual, dual.second
    assert v.dual and second.presented >= 2
    first, other = v.last_result, second.last_result
    # different sensors and lenses
    assert first.frame.meta["lens"] == "summilux-35" and first.frame.meta["mode"] == "m"
    assert other.frame.meta["lens"] == "builtin" and other.frame.meta["mode"] == "builtin"
    # peaking on one, not the other: its own pipeline settings, its own outputs
    assert v.pipeline.settings.peaking.enabled and "peaking" in first.arrays
    assert not second.pipeline.settings.peaking.enabled and "peaking" not in other.arrays
    assert second.pipeline is not v.pipeline and second.processor is not v.processor
    # a setting of the second stream leaves the first alone
    before = float(np.mean(other.arrays["image"][..., :3]))
    second.auto_exposure.enabled = False
    second.update_settings(exposure_ev=-2.0)
    _until(v, lambda: second.pipeline.settings.exposure_ev == -2.0 and second.presented > 4)
    _until(v, lambda: float(np.mean(second.last_result.arrays["image"][..., :3])) < before - 20)
    assert v.pipeline.settings.exposure_ev == 0.0
    # each stream's statistics, and what each costs
    assert second.stats["timings"]["total"] > 0 and v.stats["timings"]["total"] > 0
    assert "ms a frame" in second.cost_line()


def test_the_brightline_frame_is_drawn_where_the_fields_of_view_put_it(dual):
    v = dual
    _until(v, lambda: v.layout is not None and v.layout.second is not None)
    v.render(v.ctx.framebuffer_size())
    lay = v.layout
    assert not intersects(lay.image, lay.second) and not intersects(lay.second, lay.column)
    assert lay.second[0] < lay.image[0] or lay.second[1] < lay.image[1]  # the wide view first
    px = v.ctx.read_pixels()[..., :3].astype(int)
    _save(v, "dual.png")
    f2, (u0, v0, u1, v1) = camera_brightline(v.source)
    assert f2 == 35.0
    x, y, w, h = lay.second
    colour = np.array([242, 242, 217])

    def is_line(px_x: float, px_y: float) -> bool:
        xi, yi = int(round(px_x)), int(round(px_y))
        patch = px[yi - 1 : yi + 2, xi - 1 : xi + 2].reshape(-1, 3)
        return bool((np.abs(patch - colour).max(axis=1) < 20).any())

    corners = [(u0, v0), (u1, v0), (u0, v1), (u1, v1)]
    for cu, cv in corners:  # the frame's corners, on screen
        assert is_line(x + cu * w, y + cv * h), (cu, cv)
    # and not a frame the size of the M view's, nor one a fifth larger
    k = (u1 - u0) * 1.2
    assert not all(is_line(x + (0.5 + s * k / 2) * w, y + 0.5 * h) for s in (-1, 1))


def test_tab_swaps_the_streams_and_the_frame_goes_with_the_wide_view(dual):
    v = dual
    assert v.overlays.frames != v.brightline_frames("builtin")  # the M view: its own lines
    v.switch_lens()
    assert v.source.mode == "builtin" and v.second.mode == "m"
    assert v.overlays.frames == v.brightline_frames("builtin") != []
    _until(v, lambda: v.second.last_result.frame.meta["mode"] == "m")
    _until(v, lambda: v.last_result.frame.meta["mode"] == "builtin")
    v.render(v.ctx.framebuffer_size())
    assert v.layout.image[0] < v.layout.second[0] or v.layout.image[1] < v.layout.second[1]
    assert v.set_dual(False) and v.second is None
    v.render(v.ctx.framebuffer_size())
    assert v.layout.second is None and v.layout.slot == v.layout.image_area


def test_opening_another_source_ends_the_dual_view(dual):
    from viewfinder.sources.simulated import SimulatedCamera

    v = dual
    old_stream = v.second.source
    v._open_source = lambda spec: SimulatedCamera(size=(320, 240), motion=False)
    assert v.open_source("sim")
    assert v.second is None and old_stream._closed
    v.step(wait_s=2.0)
    assert v.processor.error is None and not v.message


def test_dual_view_refused_without_the_simulated_camera(gl_context, tmp_path, monkeypatch):
    from .conftest import SyntheticSource, half_sharp_picture

    monkeypatch.chdir(tmp_path)
    v = Viewer(
        SyntheticSource(half_sharp_picture()),
        Pipeline(Settings(), backend="numpy"),
        gl_context,
        capture_folder=tmp_path,
    )
    try:
        assert not v.set_dual(True) and not v.dual
        assert "needs the simulated camera" in v.message
    finally:
        v.close()


def test_headless_dual_snapshot(tmp_path):
    import cv2

    out = tmp_path / "dual.png"
    t0 = time.perf_counter()
    proc = _run(
        ["run", "--headless", "--dual", "--frames", "6", "--size", "960x720"]
        + ["--snapshot", str(out)],
        tmp_path,
    )
    if proc.returncode != 0 and "no OpenGL for headless rendering" in proc.stderr:
        pytest.skip(f"no EGL here: {proc.stderr.strip()}")
    assert proc.returncode == 0, proc.stderr
    assert time.perf_counter() - t0 < 120
    img = cv2.imread(str(out))
    assert img.shape == (720, 1280, 3)
    if os.environ.get("VF_SCREENSHOTS"):
        cv2.imwrite(os.path.join(os.environ["VF_SCREENSHOTS"], "dual-cli.png"), img)
    from viewfinder.render.layout import compute_layout

    lay = compute_layout((1280, 720), (960, 720), second_size=(960, 720))
    for x, y, w, h in (lay.image, lay.second):  # two pictures, each with detail
        view = img[y + 4 : y + h - 4, x + 4 : x + w - 4]
        assert view.std() > 20, (x, y, w, h)
    proc = _run(["run", "--headless", "--dual", "--source", "file:/nonexistent"], tmp_path)
    assert proc.returncode == 2 and proc.stderr.count("\n") == 1
    assert "--dual needs the simulated camera" in proc.stderr
