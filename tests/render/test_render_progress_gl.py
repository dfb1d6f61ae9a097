"""The window shows a scene render's progress past a second (the camera's on_progress)."""

from __future__ import annotations

import pytest

from viewfinder.pipeline import Pipeline
from viewfinder.render.viewer import Viewer
from viewfinder.settings import Settings

pytestmark = pytest.mark.gl
glfw = pytest.importorskip("glfw")


def test_window_shows_the_render_progress_after_a_second(gl_context, tmp_path, monkeypatch):
    from viewfinder.sources.simulated import SimulatedCamera

    monkeypatch.chdir(tmp_path)
    cam = SimulatedCamera(size=(320, 240), motion=False)
    v = Viewer(cam, Pipeline(Settings(), backend="numpy"), gl_context, capture_folder=tmp_path)
    try:
        assert cam.on_progress == v._on_render_progress  # the viewer follows the camera
        v.run(frames=1, headless=True)
        assert v.render_progress is None and v.rendering_text() == ""  # the render ended
        cam.on_progress(0.0, "rendering the planes scene at 8192x6144")
        assert v.rendering_text() == ""  # under a second: nothing
        since, fraction, text = v.render_progress
        v.render_progress = (since - 1.5, fraction, text)
        cam.on_progress(3 / 7, "rendering the planes scene at 8192x6144: plane 3 of 7 (coffee)")
        line = "rendering the planes scene at 8192x6144: plane 3 of 7 (coffee), 43 %"
        assert v.rendering_text() == line and v.status_text() == line
        assert v._needs_redraw()  # the percentage moves: the window redraws
        v.render(v.ctx.framebuffer_size())
        cam.on_progress(1.0, "done")
        assert v.render_progress is None and v.status_text() == ""
    finally:
        v.close()
