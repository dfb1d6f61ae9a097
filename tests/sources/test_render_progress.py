"""The simulated camera says how far a scene render is (``on_progress``): the window and the
CLI show it for renders over a second (a 50 MP frame on a CPU)."""

from __future__ import annotations

import pytest

from viewfinder.app import mount_lens
from viewfinder.sources.simulated import SimulatedCamera


def _camera(scene: str = "planes", backend: str | None = None) -> tuple[SimulatedCamera, list]:
    cam = SimulatedCamera(size=(320, 240), motion=False, scene=scene, backend=backend)
    cam.set_mode("m")
    mount_lens(cam, "summilux-35")
    calls: list[tuple[float, str]] = []
    cam.on_progress = lambda fraction, text: calls.append((fraction, text))
    return cam, calls


@pytest.mark.parametrize("backend", ["numpy", pytest.param("cudasim", marks=pytest.mark.cudasim)])
def test_planes_render_reports_each_plane_then_done(backend):
    """On the CPU and on a device (grids drawn on the host, composited by the kernel) alike."""
    cam, calls = _camera(backend=backend)
    cam.read()
    fractions = [f for f, _ in calls]
    assert fractions[0] == 0.0 and fractions[-1] == 1.0
    assert fractions == sorted(fractions) and len(calls) == len(cam.scene.planes) + 1
    head = "rendering the planes scene at 320x240 (Summilux-M 35 f/1.4 ASPH, f/2.8, 3.00 m)"
    assert all(text.startswith(head) for _, text in calls)
    assert calls[1][1].endswith("plane 1 of 7 (sky)") and calls[-1][1].endswith(": done")
    calls.clear()
    cam.read()  # a cached frame renders nothing
    assert calls == []
    cam.set_focus(2.0)  # a focus change renders again
    cam.read()
    assert calls[0][0] == 0.0 and "2.00 m" in calls[0][1] and calls[-1][0] == 1.0


def test_a_failing_progress_display_does_not_stop_the_camera():
    cam, _ = _camera()

    def broken(fraction: float, text: str) -> None:
        raise RuntimeError("display gone")

    cam.on_progress = broken
    assert cam.read().meta["lens"] == "summilux-35"


def test_motorcycle_render_reports_start_and_end():
    pytest.importorskip("skimage")
    cam, calls = _camera("motorcycle")
    cam.read()
    assert [f for f, _ in calls] == [0.0, 1.0]
    assert calls[0][1].startswith("rendering the motorcycle scene at 320x240")
