"""The window's layout read back from a live viewer: nothing covers the image, the clean view
is the bare image, overlays are compact, the magnifier keeps clear of its point, toasts."""

from __future__ import annotations

import os
import time

import numpy as np
import pytest

from viewfinder.pipeline import Pipeline
from viewfinder.render.layout import intersects
from viewfinder.render.viewer import Viewer
from viewfinder.settings import Settings

pytestmark = pytest.mark.gl
glfw = pytest.importorskip("glfw")


def _save(viewer, name):
    """Screenshots for a person to look at: VF_SCREENSHOTS=DIR."""
    folder = os.environ.get("VF_SCREENSHOTS")
    if folder:
        import cv2

        px = viewer.ctx.read_pixels()
        cv2.imwrite(os.path.join(folder, name), cv2.cvtColor(px, cv2.COLOR_RGBA2BGR))


def _viewer(gl_context, tmp_path, **kw):
    from viewfinder.app import mount_lens
    from viewfinder.sources.simulated import SimulatedCamera

    cam = SimulatedCamera(size=(1280, 960), motion=False, fps=60)
    cam.set_mode("m")
    mount_lens(cam, "summilux-35")
    return Viewer(
        cam,
        Pipeline(Settings(view_size=(640, 480)), backend="numpy"),
        gl_context,
        capture_folder=tmp_path / "captures",
        fit_view=True,
        **kw,
    )


def _until(viewer, pred, limit=80):
    for _ in range(limit):
        viewer.step(wait_s=3.0)
        if pred():
            return
    raise AssertionError("the view never got there")


def _fitted(viewer):
    r = viewer.last_result
    if r is None:
        return False
    h, w = r.arrays["image"].shape[:2]
    return (w, h) == viewer.image_rect[2:]


def _all_on(viewer):
    ov = viewer.overlays
    ov.peaking = ov.zebra = ov.false_colour = ov.magnifier = ov.framelines = True
    ov.grid, ov.guide = "thirds", "16:9"
    viewer.show_histogram = viewer.show_scopes = True


@pytest.fixture
def viewer(gl_context, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    v = _viewer(gl_context, tmp_path)
    v.run(frames=1, headless=True)
    yield v
    v.close()


def test_every_assist_and_panel_on_leaves_the_image_uncovered(viewer):
    _all_on(viewer)
    viewer.overlays.magnifier_centre = (0.8, 0.2)  # top right: the inset goes elsewhere
    _until(viewer, lambda: _fitted(viewer) and "Scopes" in viewer.panel_rects)
    viewer.step(wait_s=3.0)
    _save(viewer, "all_assists.png")
    fw, fh = viewer.ctx.framebuffer_size()
    assert (fw, fh) == (1280, 720)
    img = viewer.image_rect
    rects = viewer.panel_rects
    assert {"Controls", "Histogram", "Scopes"} <= set(rects)
    for name, rect in rects.items():
        assert not intersects(rect, img), (name, rect, img)
    # the image fills its area with the sensor's 4:3 kept, drawn 1:1
    area = viewer.layout.image_area
    assert img[2] == area[2] or img[3] == area[3]
    assert img[2] / img[3] == pytest.approx(4 / 3, rel=0.01)
    assert img[2] >= 900
    # the magnifier inset is away from the point it magnifies
    x, y, w, h = img
    px, py = x + 0.8 * w, y + 0.2 * h
    mx, my, mw, mh = viewer.magnifier_inset
    assert not (mx <= px < mx + mw and my <= py < my + mh)
    assert mx + mw / 2 < x + w / 2 and my + mh / 2 > y + h / 2  # the opposite corner


def test_corner_overlays_are_compact_and_see_through(viewer):
    _all_on(viewer)
    viewer.placement = "bottom-left"
    viewer.overlays.magnifier_centre = (0.9, 0.1)  # farthest corner: bottom left, taken
    _until(viewer, lambda: _fitted(viewer) and "Scopes" in viewer.panel_rects)
    viewer.step(wait_s=3.0)
    _save(viewer, "corner_overlays.png")
    img = viewer.image_rect
    x, y, w, h = img
    assert not intersects(viewer.panel_rects["Controls"], img)  # the column stays docked
    for name in ("Histogram", "Scopes"):
        ox, oy, ow, oh = viewer.panel_rects[name]
        assert ow * oh < 0.12 * w * h  # compact
        assert x <= ox and ox + ow <= x + w / 2 and y + h / 2 <= oy and oy + oh <= y + h
    # the inset avoids the overlays
    for name in ("Histogram", "Scopes"):
        assert not intersects(viewer.magnifier_inset, viewer.panel_rects[name])
    # see-through: the picture under the overlay still shows (it differs from an empty box)
    ox, oy, ow, oh = viewer.panel_rects["Histogram"]
    px = viewer.ctx.read_pixels()[oy : oy + oh, ox : ox + ow, :3].astype(float)
    assert px.std() > 8


def test_collapsed_controls_give_the_image_the_width(viewer):
    viewer.show_histogram = viewer.show_scopes = False
    _press(viewer, glfw.KEY_I)
    _until(viewer, lambda: _fitted(viewer) and viewer.image_rect[3] == 720)
    cx, cy, cw, ch = viewer.panel_rects["Controls"]
    assert cw < 50 and not intersects(viewer.panel_rects["Controls"], viewer.image_rect)
    assert viewer.image_rect[2:] == (960, 720)
    _press(viewer, glfw.KEY_I)
    _until(viewer, lambda: viewer.panel_rects.get("Controls", (0, 0, 0, 0))[2] > 300)


def _press(v, key):
    if v.ctx.window is not None:
        v._on_key(v.ctx.window, key, 0, glfw.PRESS, 0)
    else:
        v.handle_key(key)


def test_clean_view_is_the_bare_image(gl_context, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    v = _viewer(gl_context, tmp_path, clean=True)  # as --clean starts it
    _all_on(v)
    try:
        v.run(frames=1, headless=True)
        _until(v, lambda: _fitted(v))
        v.step(wait_s=3.0)
        _save(v, "clean.png")
        assert not v.panel_rects
        px = v.ctx.read_pixels()[..., :3].astype(int)
        x, y, w, h = v.image_rect
        assert (w, h) == (960, 720)  # the whole window's height, 4:3
        shown = np.asarray(v.last_result.arrays["image"])[..., :3].astype(int)
        # no overlay pixel: the image area is the developed image, exactly
        assert np.array_equal(px[y : y + h, x : x + w], shown)
        # and around it only the background
        outside = np.concatenate([px[:, :x].reshape(-1, 3), px[:, x + w :].reshape(-1, 3)])
        assert len(np.unique(outside, axis=0)) == 1
        assert "peaking" not in v.last_result.arrays  # nothing computed for overlays
        _press(v, glfw.KEY_C)  # C brings the panels back
        _until(v, lambda: "Controls" in v.panel_rects)
    finally:
        v.close()


def test_capture_shows_a_toast_with_the_name_and_size(viewer):
    _until(viewer, lambda: _fitted(viewer))
    _press(viewer, glfw.KEY_SPACE)
    viewer._writer.flush()
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline and "Toast" not in viewer.panel_rects:
        viewer.step(wait_s=0.2)
    for _ in range(2):  # an auto-sized window shows from its second frame
        viewer.step(wait_s=0.2)
    texts = [t for t, _ in viewer.active_toasts()]
    assert any(t.endswith(" MB") and ".dng" in t for t in texts), texts
    _save(viewer, "capture_toast.png")
    tx, ty, tw, th = viewer.panel_rects["Toast"]
    x, y, w, h = viewer.layout.image_area
    assert x <= tx and tx + tw <= x + w and y + h / 2 < ty and ty + th <= y + h  # low, centred
    assert tw > 150 and th > 10
    box = viewer.ctx.read_pixels()[ty : ty + th, tx : tx + tw, :3].astype(int)
    assert (box.min(axis=2) > 200).sum() > 100  # light text on the dark box


def test_auto_exposure_brings_a_fast_lens_out_of_clipping(viewer):
    cam = viewer.camera
    assert viewer.auto_exposure.enabled  # on by default
    viewer.attach_lens("noctilux-50")
    cam.set_aperture(0.95)
    cam.set_exposure(1 / 160, 100)
    viewer.auto_exposure.target = None

    def unclipped():
        raw, _ = viewer.histograms()
        meta = viewer.last_result.frame.meta
        return (
            raw is not None
            and meta.get("aperture") == 0.95
            and viewer.auto_exposure.settled
            and max(raw["clipped"]) < 0.005
        )

    _until(viewer, unclipped, limit=60)
    t, iso = cam.exposure
    assert t < 1 / 400  # much shorter than the 1/160 s it started at
    viewer.set_exposure(1 / 125, 200)  # a manual setting switches AE off
    assert not viewer.auto_exposure.enabled and cam.exposure == (1 / 125, 200)


def test_built_in_lens_framelines_are_equivalent_focal_lengths(viewer):
    viewer.set_mode("builtin")
    frames = viewer.overlays.frames
    assert [f for f, _ in frames] == [28.0, 35.0, 50.0, 75.0]  # not the M lenses' 21..90
    f, (u0, _, u1, _) = frames[1]
    assert u1 - u0 == pytest.approx(23.0 / 35.0, rel=0.03)  # 23 mm equiv. sees 23/35 of it
    _until(viewer, lambda: viewer.last_result.frame.meta.get("mode") == "builtin")
    viewer.step(wait_s=3.0)
    _save(viewer, "builtin.png")


def test_first_run_is_told_by_an_empty_numba_cache(tmp_path, monkeypatch):
    from viewfinder.render.viewer import first_run

    monkeypatch.setenv("NUMBA_CACHE_DIR", str(tmp_path))
    assert first_run()  # nothing compiled yet: the window and stderr say "compiling"
    (tmp_path / "x").mkdir()
    (tmp_path / "x" / "cpu_preview.develop-1.py311.nbi").write_bytes(b"")
    assert not first_run()
