"""The dual view: both sensors of the simulated camera live at once, like a hybrid rangefinder.

The viewer's own stream shows the active sensor (with every assist: peaking, the magnifier,
zebras, the histograms); a :class:`SecondStream` shows the other sensor beside it
(:func:`~viewfinder.render.layout.split_area`). Each stream has its own source thread, frame
ring, :class:`~viewfinder.pipeline.Pipeline` (its own settings: the second develops the picture
and its RAW histogram, for its own auto exposure, and no assists), processor thread (on its
own CUDA stream on a GPU), textures and statistics. The built-in lens's wide view carries the
attached M lens's field of view as a bright-line frame (:func:`brightline_rect`).
"""

from __future__ import annotations

import time
from collections import deque
from dataclasses import replace
from typing import Any

from ..exposure import AutoExposure
from ..orientation import orientation_of, swaps_axes
from ..sources.base import FrameRing
from .layout import fit_size
from .view import Overlays, ViewRenderer
from .worker import Processor, Result


def brightline_rect(
    wide_focal_mm: float,
    wide_sensor_mm: tuple[float, float],
    tele_focal_mm: float,
    tele_sensor_mm: tuple[float, float],
) -> tuple[float, float, float, float] | None:
    """Where a tele camera's field of view falls in a wide camera's picture.

    Both look from the same point along the same axis (the simulated camera has no parallax
    between its sensors): a lens of focal length ``f`` on a sensor ``w`` wide sees
    ``tan(a/2) = w / 2f``, so the tele's field is ``(w_t / f_t) / (w_w / f_w)`` of the wide
    picture's width (and the same with the heights), centred. Returns ``(u0, v0, u1, v1)`` in
    the wide picture's coordinates 0..1, or ``None`` when the tele sees as much or more.
    """
    for name, value in (("wide", wide_focal_mm), ("tele", tele_focal_mm)):
        if not value or value <= 0:
            raise ValueError(f"{name} focal length must be > 0 mm, got {value!r}")
    kx = (tele_sensor_mm[0] / tele_focal_mm) / (wide_sensor_mm[0] / wide_focal_mm)
    ky = (tele_sensor_mm[1] / tele_focal_mm) / (wide_sensor_mm[1] / wide_focal_mm)
    if kx >= 1.0 or ky >= 1.0:
        return None
    return 0.5 - kx / 2, 0.5 - ky / 2, 0.5 + kx / 2, 0.5 + ky / 2


def camera_brightline(camera: Any) -> tuple[float, tuple[float, float, float, float]] | None:
    """``(M focal length, rect)`` of the simulated camera's M lens in its built-in view, or
    ``None`` with no M lens."""
    m_lens = camera.lens_of("m")
    if m_lens is None:
        return None
    wide, tele = camera.sensors["builtin"].spec, camera.sensors["m"].spec
    rect = brightline_rect(
        camera.lenses["builtin"].focal_mm,
        (wide.width_mm, wide.height_mm),
        m_lens.focal_mm,
        (tele.width_mm, tele.height_mm),
    )
    return None if rect is None else (float(m_lens.focal_mm), rect)


class SecondStream:
    """The other sensor's stream of the dual view: source thread, ring, pipeline, processor,
    textures, auto exposure and statistics of its own.

    ``stream``: a :class:`~viewfinder.sources.simulated.SensorStream`; ``pipeline`` its own
    Pipeline. The window thread calls :meth:`take` each tick and :meth:`draw` each frame.
    """

    def __init__(self, stream: Any, pipeline: Any, interop: bool = False) -> None:
        from .controls import start_source

        self.source = stream
        self.pipeline = pipeline
        self.settings = replace(
            pipeline.settings,
            histogram=replace(pipeline.settings.histogram, raw=True, view=False),
        )
        pipeline.settings = self.settings
        self._dirty = False
        self.ring = FrameRing(3)
        self.source_thread = start_source(stream, self.ring)
        self.processor = Processor(pipeline, self.ring, before=self._apply)
        self.renderer = ViewRenderer(interop=interop)
        self.overlays = Overlays(peaking=False, framelines=True)
        self.auto_exposure = AutoExposure(enabled=True)
        self.last_result: Result | None = None
        self.last_meta: dict[str, Any] | None = None
        self.orientation = 1
        self.presented = 0
        self.stats: dict[str, Any] = {}
        self._raw_stats: dict[str, Any] | None = None
        self._marks: deque[tuple[float, int]] = deque(maxlen=30)

    @property
    def mode(self) -> str:
        return str(self.source.mode)

    def start(self) -> None:
        self.processor.start()

    def update_settings(self, **changes: Any) -> None:
        """This stream's own pipeline settings (validated now, applied between frames)."""
        self.settings = replace(self.settings, **changes)
        self._dirty = True

    def _apply(self) -> None:
        if self._dirty:
            self._dirty = False
            self.pipeline.settings = self.settings

    def take(self, xp_stream_wait: bool) -> bool:
        """Upload the newest result, if any (True); runs this stream's auto exposure."""
        result = self.processor.take()
        if result is None:
            return False
        self.last_result = result
        frame = result.frame
        self.last_meta = frame.meta if frame is not None else None
        self.orientation = orientation_of(self.last_meta)
        if xp_stream_wait and result.ready_event is not None:
            cupy = self.pipeline.xp
            cupy.cuda.get_current_stream().wait_event(result.ready_event)
        if result.stats_ready() and result.raw_stats.get("ev_hist") is not None:
            self._raw_stats = dict(result.raw_stats)
        self._drive_exposure(result)
        self.renderer.upload(result.arrays, None, self.orientation)
        if xp_stream_wait and result.ready_event is not None:
            cupy = self.pipeline.xp
            if result.consumed_event is None:
                result.consumed_event = cupy.cuda.Event(block=False, disable_timing=True)
            result.consumed_event.record(cupy.cuda.get_current_stream())
        self.presented += 1
        now = time.monotonic()
        self._marks.append((now, self.processor.frames_done))
        (t0, n0), (t1, n1) = self._marks[0], self._marks[-1]
        self.stats["proc_fps"] = (n1 - n0) / (t1 - t0) if t1 > t0 else 0.0
        self.stats["timings"] = dict(result.timings_ms)
        self.stats["dropped"] = self.ring.dropped
        return True

    def _drive_exposure(self, result: Result) -> None:
        ae = self.auto_exposure
        if not ae.enabled or ae.locked or result.frame is None:
            return
        new = ae.update(self._raw_stats, result.frame.meta, None)
        if new is not None:
            try:
                self.source.set_exposure(*new)
            except (ValueError, RuntimeError):
                ae.enabled = False

    def fit(self, slot: tuple[int, int, int, int] | None) -> None:
        """Develop the picture at the size its slot shows it."""
        result = self.last_result
        if slot is None or result is None or result.frame is None or slot[2] <= 0:
            return
        box = (slot[2], slot[3])
        if swaps_axes(self.orientation):
            box = box[::-1]
        want = fit_size((result.frame.width, result.frame.height), box)
        if want != tuple(self.settings.view_size or ()):
            self.update_settings(view_size=want)

    def draw(
        self,
        rect: tuple[int, int, int, int] | None,
        fb_size: tuple[int, int],
        frames: list[tuple[float, tuple[float, float, float, float]]],
        time_s: float,
    ) -> None:
        """Draw the picture into ``rect`` with ``frames`` (the bright-line frame) over it."""
        if rect is None:
            return
        self.overlays.frames = frames
        self.overlays.framelines = bool(frames)
        self.renderer.draw(rect, fb_size, self.overlays, time_s)

    def cost_line(self) -> str:
        """What this stream costs: ms a frame (the pipeline's total) and frames a second."""
        t = self.stats.get("timings") or {}
        total = t.get("total")
        ms = f"{total:.1f} ms a frame" if total is not None else "no frame yet"
        return f"{ms}, {self.stats.get('proc_fps', 0.0):.1f} fps"

    def close(self) -> None:
        """Stop the threads and the stream (not the camera); free the textures. Every step
        runs; the first failure is raised at the end."""
        first: Exception | None = None
        for step in (
            lambda: self.processor.stop(timeout=1.0),
            lambda: self.source_thread.stop(timeout=1.0),
            self.source.close,
            self.renderer.delete,
        ):
            try:
                step()
            except Exception as exc:
                first = first or exc
        if first is not None:
            raise first


def draw_dual_decorations(viewer: Any) -> None:
    """ImGui, over the dual view's second picture: the bright-line frame's label (the M
    lens's focal length) and which sensor it is."""
    from imgui_bundle import imgui

    second, layout = viewer.second, viewer.layout
    if second is None or layout is None or layout.second is None or viewer.clean:
        return
    dl = imgui.get_background_draw_list()
    x, y, w, h = layout.second
    colour = imgui.get_color_u32(imgui.ImVec4(0.95, 0.95, 0.85, 1.0))
    lens = second.source.lens
    name = lens.name if lens is not None else "no lens"
    dl.add_text(imgui.ImVec2(x + 6, y + h - 20), colour, f"{second.mode}: {name}")
    for f2, (u0, v0, _, _) in viewer.brightline_frames(second.mode):
        dl.add_text(imgui.ImVec2(x + u0 * w + 4, y + v0 * h + 3), colour, f"{f2:g}")


def draw_dual_stats(viewer: Any) -> None:
    """The stats panel's lines of the dual view: what each stream costs."""
    from imgui_bundle import imgui

    second = viewer.second
    if second is None:
        return
    st = viewer.stats
    total = (st.get("timings") or {}).get("total")
    first = f"{total:.1f} ms a frame" if total is not None else "no frame yet"
    imgui.text(f"{viewer.source.mode} stream: {first}, {st.get('proc_fps', 0.0):.1f} fps")
    imgui.text(f"{second.mode} stream: {second.cost_line()}")
