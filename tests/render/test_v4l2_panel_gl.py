"""The exposure panel of a V4L2 camera: its own auto modes as switches, on the fake kernel."""

from __future__ import annotations

import threading

import numpy as np
import pytest

pytest.importorskip("linuxpy")

from tests.sources.fakev4l2 import FakeCamera, FakeKernel  # noqa: E402
from viewfinder.pipeline import Pipeline  # noqa: E402
from viewfinder.render.viewer import Viewer  # noqa: E402
from viewfinder.settings import Settings  # noqa: E402
from viewfinder.sources.v4l2 import V4L2Source  # noqa: E402

pytestmark = pytest.mark.gl

W, H = 64, 48
AE, AWB = 0x9A0901, 0x98090C
UVC_AUTOS = {
    AE: ("Auto Exposure", 0, 3, 3),  # 1 manual, 3 aperture priority
    0x9A0902: ("Exposure Time, Absolute", 1, 5000, 156),
    AWB: ("White Balance, Automatic", 0, 1, 1),
}


def _payload(fmt: str, w: int, h: int, stride: int, seq: int) -> bytes:
    grey = np.full((h, w), 400, "<u2")
    return np.pad(grey, ((0, 0), (0, (stride - 2 * w) // 2))).tobytes()


@pytest.fixture
def streaming(gl_context):
    """A viewer on a fake V4L2 camera (``controls``) that sends a frame every 30 ms."""
    made = []

    def make(controls):
        kernel = FakeKernel().__enter__()
        cam = kernel.add(FakeCamera("/dev/video0", {"SRGGB10": [(W, H)]}, _payload, **controls))
        stop = threading.Event()

        def sensor() -> None:
            while not stop.wait(0.03):
                cam.emit(1)

        threading.Thread(target=sensor, daemon=True).start()
        v = Viewer(V4L2Source(0), Pipeline(Settings(view_size=(W, H)), backend="numpy"), gl_context)
        made.append((kernel, stop, v))
        return cam, v

    yield make
    for kernel, stop, v in made:
        v.close()
        stop.set()
        kernel.__exit__(None, None, None)


@pytest.fixture
def panel(monkeypatch):
    """What the panel draws (checkboxes and wrapped text); ``click`` flips a checkbox once."""
    from imgui_bundle import imgui

    drawn: list[tuple[str, object]] = []
    click: set[str] = set()
    checkbox, text_wrapped = imgui.checkbox, imgui.text_wrapped

    def fake_checkbox(label, value):
        drawn.append((label, value))
        if label in click:
            click.discard(label)
            return True, not value
        return checkbox(label, value)

    def fake_text(text, *args):
        drawn.append(("text", text))
        return text_wrapped(text, *args)

    monkeypatch.setattr(imgui, "checkbox", fake_checkbox)
    monkeypatch.setattr(imgui, "text_wrapped", fake_text)
    return drawn, click


def _more(v, n=2) -> None:
    """Present ``n`` more frames (``run``'s count is of all frames presented)."""
    v.run(frames=v.presented + n, headless=True, timeout=5)


def test_the_cameras_auto_modes_are_switches_in_the_panel(streaming, panel):
    drawn, click = panel
    cam, v = streaming({"controls": dict(UVC_AUTOS)})
    _more(v)
    assert ("camera's auto exposure", True) in drawn
    assert ("camera's auto white balance", True) in drawn
    click.add("camera's auto exposure")
    drawn.clear()
    _more(v)
    assert cam.control_values[AE] == 1  # manual: the click reached the camera
    assert cam.control_values[AWB] == 1  # the other one untouched
    assert "camera auto exposure off" in [t for t, _ in v.active_toasts()]
    assert ("camera's auto exposure", False) in drawn  # the switch shows what the camera says
    click.add("camera's auto exposure")
    _more(v)
    assert cam.control_values[AE] == 3  # aperture priority again


def test_a_camera_without_auto_modes_shows_no_switches(streaming, panel):
    drawn, _ = panel
    _, v = streaming({"controls": {0x980913: ("Gain", 0, 255, 32)}})
    _more(v)
    assert not [label for label, _ in drawn if label.startswith("camera's")]
    assert ("text", "v4l2:/dev/video0 keeps its own exposure") in drawn
