"""The live viewer: one window (or offscreen framebuffer), the image, the panels, the keys.

Threads: the source fills a bounded ring (:class:`~viewfinder.sources.base.SourceThread`), a
:class:`~viewfinder.render.worker.Processor` develops the newest frame, and this class, on the
thread that owns the GL context, uploads the newest result, draws it with its overlays and the
ImGui panels, and presents at vsync (or, headless, as soon as a new result is ready).
"""

from __future__ import annotations

import os
import sys
import time
from collections import deque
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np

from ..exposure import AutoExposure
from ..orientation import orientation_of
from ..settings import Settings
from ..sources.base import STALL_NOTICE_S, FrameRing, SourceTimeout
from ..stages.white_balance import white_balance_label
from .context import GLContext
from .controls import ViewerControls, start_source
from .layout import Layout, check_placement, compute_layout, fit_size, magnifier_rect
from .panels import draw_panels
from .view import Overlays, ViewRenderer
from .worker import CaptureWriter, Processor, Result

#: the note of a first run (an empty Numba cache) until the first frame, in the window and
#: once on stderr
COMPILING_NOTE = "compiling (first run only): the CPU kernels take 10-30 s once; Esc quits"


def default_capture_folder() -> Path:
    """Where captures go: $VIEWFINDER_CAPTURE_DIR, else ~/Pictures/viewfinder."""
    env = os.environ.get("VIEWFINDER_CAPTURE_DIR")
    return Path(env) if env else Path.home() / "Pictures" / "viewfinder"


class Viewer(ViewerControls):
    """Live view of ``source`` through ``pipeline`` in the GL context ``ctx``.

    Parameters
    ----------
    source : FrameSource
        Already open; the viewer starts its thread and closes it at the end.
    pipeline : Pipeline
    ctx : GLContext
        Current on this thread.
    open_source : callable(spec) -> FrameSource, optional
        Used by the source panel; its errors are shown, the old source stays.
    """

    def __init__(
        self,
        source: Any,
        pipeline: Any,
        ctx: GLContext,
        *,
        source_spec: str = "sim",
        open_source: Any = None,
        capture_folder: Path | None = None,
        ring_capacity: int = 3,
        fit_view: bool = False,
        clean: bool = False,
        layout: dict[str, Any] | None = None,
        dual: bool = False,
    ) -> None:
        self.ctx = ctx
        self.pipeline = pipeline
        self.settings: Settings = pipeline.settings
        self._settings_dirty = False
        self._open_source = open_source
        self.source_text = source_spec
        self.overlays = Overlays()
        self.show_histogram = True
        self.show_scopes = False
        self.show_panels = True
        #: the Controls panel folded to a thin strip (I); the clean view (C): no panels, no
        #: overlays; where the histogram and scopes go (layout.PLACEMENTS)
        self.collapsed = False
        self.clean = bool(clean)
        self.placement = "strip"
        for key, value in (layout or {}).items():  # remembered from the last session
            if key == "placement":
                value = check_placement(str(value))
            if key in ("collapsed", "show_histogram", "show_scopes", "placement"):
                setattr(self, key, value)
        #: develop the view at the size it is shown (the pipeline's view_size follows the
        #: image's rectangle), or keep the pipeline's view_size and scale it
        self.fit_view = bool(fit_view)
        self._fit_pending: tuple[tuple[int, int], float] | None = None
        self.layout: Layout | None = None
        self.magnifier_inset: tuple[int, int, int, int] | None = None
        self.panel_rects: dict[str, tuple[int, int, int, int]] = {}
        self.image_rect = (0, 0, 0, 0)
        self.message = ""
        self._processing_failing: tuple[float, int, Exception] | None = None
        #: short-lived notes over the image: (time, text, error)
        self.toasts: deque[tuple[float, str, bool]] = deque(maxlen=4)
        #: auto exposure of the simulated camera (a V4L2 camera keeps its own auto modes)
        self.auto_exposure = AutoExposure(enabled=self.has_exposure_control(source))
        self._notes: deque[tuple[float, str]] = deque(maxlen=6)
        self.stats: dict[str, Any] = {"backend": pipeline.backend, "gl": ctx.renderer}
        self.last_result: Result | None = None
        self.last_meta: dict[str, Any] | None = None
        #: EXIF orientation of the frame shown (meta["orientation"]): the view, the clicks and
        #: PNG captures follow it; the pipeline and DNG captures stay in sensor order.
        self.orientation = 1
        self._raw_stats: dict[str, Any] | None = None
        self._view_hist: np.ndarray | None = None
        self._scopes: dict[str, np.ndarray] = {}
        self.capture_folder = capture_folder or default_capture_folder()
        self._writer: CaptureWriter | None = None
        self._quit = False
        self._stalled = False  # "no frames from ..." is up
        self._warned: set[str] = set()  # frame warnings already shown (meta["warnings"])
        self._headless = False
        self._input_at = time.monotonic()  # last window input: redraw for a moment after it
        self._fullscreen_saved: tuple[int, int, int, int] | None = None
        self._t0 = time.monotonic()
        self._running = False
        #: the dual view's other sensor (render/dual.py); None when off
        self.second: Any = None
        self._last_present = 0.0
        self._frame_times: deque[float] = deque(maxlen=60)
        self._proc_marks: deque[tuple[float, int]] = deque(maxlen=60)
        self._gpu_mem_at = 0.0
        self.presented = 0
        self._first_run = pipeline.backend == "numpy" and first_run()
        self._said_compiling = False
        # OpenCV's own thread pool (the peaking filters) on top of the viewer's threads: on two
        # cores it buys no time (the assists already run the raw side beside the scopes) and
        # costs 1-2 ms of CPU a frame in its workers (measured). Restored at close().
        self._cv_threads = _single_thread_opencv()
        # the source side
        self.source = source
        #: the scene render under way (SimulatedCamera.on_progress): (since, fraction, text)
        self.render_progress: tuple[float, float, str] | None = None
        self.follow_progress(source)
        self.ring = FrameRing(ring_capacity)
        self.source_thread = start_source(source, self.ring)
        self.processor = Processor(pipeline, self.ring, before=self._apply_settings)
        if pipeline.on_device:
            cupy = pipeline.xp
            # this thread's CUDA work (waits on results, interop copies) on a stream of its own
            self._cuda_stream = cupy.cuda.Stream(non_blocking=True)
            self._cuda_stream.use()
        # the GL side
        self.renderer = ViewRenderer(interop=pipeline.backend == "cupy")  # cudasim: no GL interop
        self._init_imgui()
        self._refresh_frames()
        if dual:
            self.set_dual(True)

    # -- ImGui -----------------------------------------------------------------------------
    def _init_imgui(self) -> None:
        from imgui_bundle import imgui, implot

        self.imgui_ctx = imgui.create_context()
        self.implot_ctx = implot.create_context()
        io = imgui.get_io()
        io.set_ini_filename("")  # never write imgui.ini beside the user's work
        io.set_log_filename("")
        if self.ctx.window is not None:
            import glfw

            imgui.backends.glfw_init_for_opengl(self.ctx.window_address, False)
            w = self.ctx.window
            glfw.set_key_callback(w, self._on_key)
            b = imgui.backends
            glfw.set_char_callback(w, self._forward(b.glfw_char_callback))
            glfw.set_mouse_button_callback(w, self._on_mouse_button)
            glfw.set_cursor_pos_callback(w, self._forward(b.glfw_cursor_pos_callback))
            glfw.set_scroll_callback(w, self._on_scroll)
            glfw.set_window_focus_callback(w, self._forward(b.glfw_window_focus_callback))
            glfw.set_cursor_enter_callback(w, self._forward(b.glfw_cursor_enter_callback))
        imgui.backends.opengl3_init("#version 330")

    # -- state the panels use --------------------------------------------------------------
    @property
    def camera(self) -> Any:
        return self.source

    @property
    def is_sim(self) -> bool:
        return all(hasattr(self.source, n) for n in ("set_mode", "attach_lens", "lenses"))

    @property
    def source_name(self) -> str:
        return str(getattr(self.source, "name", type(self.source).__name__))

    @property
    def m_lens_ids(self) -> list[str]:
        return [k for k, lens in self.source.lenses.items() if lens.mount == "m"]

    @property
    def sensor_size_mm(self) -> tuple[float, float]:
        sensors = getattr(self.source, "sensors", None)
        if sensors:
            s = next(iter(sensors.values()))
            return float(s.width_mm), float(s.height_mm)
        return 13.1, 9.8  # a 1-inch type sensor

    def follow_progress(self, source: Any) -> None:
        """Show ``source``'s render progress (a simulated camera's ``on_progress``)."""
        if hasattr(source, "on_progress"):
            source.on_progress = self._on_render_progress

    def _on_render_progress(self, fraction: float, text: str) -> None:
        """From the source's thread: a scene render's progress (0 starts it, 1 ends it)."""
        now = time.monotonic()
        since = now if fraction <= 0 or self.render_progress is None else self.render_progress[0]
        self.render_progress = None if fraction >= 1 else (since, fraction, text)

    def rendering_text(self) -> str:
        """ "rendering the planes scene at 8192x6144 (...): plane 3 of 7 (wall), 43 %" while a
        render has taken over a second, else ""."""
        state = self.render_progress
        if state is None or time.monotonic() - state[0] < 1.0:
            return ""
        return f"{state[2]}, {state[1] * 100:.0f} %"

    def status_text(self) -> str:
        """The note shown until the first frame: compiling on a first run, else starting;
        and a scene render's progress past a second."""
        rendering = self.rendering_text()
        if rendering:
            return rendering
        if self.presented or time.monotonic() - self._t0 < 0.3:
            return ""
        if self._first_run:
            return COMPILING_NOTE
        return "starting the pipeline ..."

    @staticmethod
    def has_exposure_control(source: Any) -> bool:
        return hasattr(source, "set_exposure") and hasattr(source, "exposure")

    @property
    def dual(self) -> bool:
        """Both sensors live: this stream and :attr:`second` (the other sensor) side by side."""
        return self.second is not None

    def set_dual(self, on: bool) -> bool:
        """The dual view on or off (the simulated camera only); False with a note if refused."""
        if bool(on) == self.dual:
            return True
        if not on:
            second, self.second = self.second, None
            try:
                second.close()
            finally:
                self.toast("dual view off")
                self._refresh_frames()
            return True
        if not self.is_sim or not hasattr(self.source, "stream"):
            self.notify("the dual view needs the simulated camera (--source sim)", error=True)
            return False
        from ..pipeline import Pipeline
        from .dual import SecondStream

        if self.source.lens_of("m") is None:  # both sensors need a lens to show something
            from ..app import DEFAULT_LENS, mount_lens

            mode = self.source.mode
            mount_lens(self.source, DEFAULT_LENS)
            self.source.set_mode(mode)
        settings = Settings(demosaic=self.settings.demosaic, view_size=self.settings.view_size)
        pipeline = Pipeline(settings, backend=self.pipeline.backend)
        self.second = SecondStream(
            self.source.stream("other"), pipeline, interop=self.pipeline.backend == "cupy"
        )
        if self._running:
            self.second.start()
        self._refresh_frames()
        self.toast("dual view: both sensors")
        return True

    def brightline_frames(self, mode: str) -> list[tuple[float, tuple[float, ...]]]:
        """The bright-line frame of the M lens for the view of sensor ``mode`` (the dual
        view's built-in picture), else none."""
        if not self.dual or mode != "builtin":
            return []
        from .dual import camera_brightline

        line = camera_brightline(self.source)
        return [line] if line is not None else []

    def compute_layout(self, fb_size: tuple[int, int]) -> Layout:
        """This frame's rectangles (see :mod:`viewfinder.render.layout`)."""
        second = None
        if self.second is not None:
            second = self.second.renderer.image_size or (0, 0)
        return compute_layout(
            fb_size,
            self.renderer.image_size,
            collapsed=self.collapsed or not self.show_panels,
            histogram=self.show_histogram,
            scopes=self.show_scopes,
            placement=self.placement,
            clean=self.clean,
            second_size=second,
            second_first=self.dual and self.source.mode == "m",
        )

    def view_area(self, fb_size: tuple[int, int]) -> tuple[int, int, int, int]:
        """The image area: the window minus the docked column."""
        return self.compute_layout(fb_size).image_area

    def layout_prefs(self) -> dict[str, Any]:
        """What the user's config remembers of the layout."""
        return {
            "collapsed": self.collapsed,
            "show_histogram": self.show_histogram,
            "show_scopes": self.show_scopes,
            "placement": self.placement,
        }

    def notify(self, text: str, error: bool = False) -> None:
        """A note in the capture panel; errors also go to the view (a toast and the message
        line) and to stderr."""
        self._notes.append((time.monotonic(), text))
        if error:
            repeated = text == self.message
            self.message = text
            if not repeated:  # a failure that recurs every frame is said once
                self.toast(text, error=True)
                print(f"viewfinder: {text}", file=sys.stderr)

    def toast(self, text: str, error: bool = False) -> None:
        """A short note over the image (captures, errors, mode changes), gone after 3 s."""
        self.toasts.append((time.monotonic(), text, error))

    def active_toasts(self) -> list[tuple[str, bool]]:
        self.recent_notes()  # the writer's notes become toasts too
        now = time.monotonic()
        return [(t, e) for at, t, e in self.toasts if now - at < (6.0 if e else 3.0)]

    def recent_notes(self) -> list[str]:
        if self._writer is not None:
            while self._writer.notes:
                note = self._writer.notes.pop(0)
                self._notes.append((time.monotonic(), note))
                if note.startswith("wrote "):
                    self.toast(Path(note[6:]).name)  # "VF_..._000123.dng, 24.1 MB"
                else:
                    self.toast(note, error=note.startswith("capture failed"))
        now = time.monotonic()
        return [t for at, t in self._notes if now - at < 20.0]

    # -- one frame -------------------------------------------------------------------------
    def histograms(self) -> tuple[dict[str, Any] | None, np.ndarray | None]:
        """RAW EV summary (see stages.histogram.raw_stats) and the (4, 256) view histogram."""
        return self._raw_stats, self._view_hist

    def white_balance_text(self) -> str:
        """The panel's line: which white balance the view uses ("as shot", "auto: ...")."""
        return white_balance_label(self.last_meta, self.settings.white_balance)

    def scope_stats(self) -> dict[str, np.ndarray]:
        """Waveform and vectorscope counts of the last frame whose copies are complete."""
        return self._scopes

    def _take(self, result: Result) -> None:
        self.last_result = result
        frame = result.frame
        meta = frame.meta if frame is not None else None
        if (meta or {}).get("lens") != (self.last_meta or {}).get("lens"):
            self._refresh_frames()  # the lens changed (here, or by whoever drives the camera)
        self.last_meta = meta
        for warning in (meta or {}).get("warnings") or ():
            if warning not in self._warned:  # implausible data: said once, not each frame
                self._warned.add(warning)
                self.notify(f"{self.source_name}: {warning}", error=True)
        self.orientation = orientation_of(meta)
        if result.ready_event is not None:
            cupy = self.pipeline.xp
            cupy.cuda.get_current_stream().wait_event(result.ready_event)  # GPU-side wait
        if result.stats_ready():
            if result.raw_stats.get("ev_hist") is not None:
                self._raw_stats = dict(result.raw_stats)
            self._scopes = {
                k: np.array(result.stats[k])
                for k in ("waveform", "vectorscope")
                if k in result.stats
            }
            vh = result.stats.get("view_histogram")
            if vh is not None:
                self._view_hist = np.array(vh)
        if self._raw_stats is None or self._view_hist is None:
            self._host_histograms(result)
        self._drive_exposure(result)
        t = time.perf_counter()
        self.renderer.upload(result.arrays, result.arrays.get("magnifier"), self.orientation)
        if result.ready_event is not None:
            cupy = self.pipeline.xp
            # the slot's arrays are read by copies queued on this thread's stream: the
            # processor waits on this event before it writes the slot again
            if result.consumed_event is None:
                result.consumed_event = cupy.cuda.Event(block=False, disable_timing=True)
            result.consumed_event.record(cupy.cuda.get_current_stream())
        self.stats["upload_ms"] = (time.perf_counter() - t) * 1e3

    def _host_histograms(self, result: Result) -> None:
        """Histograms on the host when the assists stage gives none (NumPy frames only)."""
        frame = result.frame
        image = result.arrays.get("image")
        if self._view_hist is None and isinstance(image, np.ndarray):
            sub = image[::2, ::2, :3].reshape(-1, 3)
            luma = (sub @ np.array([0.2126, 0.7152, 0.0722])).astype(np.int64)
            self._view_hist = np.stack(
                [np.bincount(sub[:, k], minlength=256) for k in range(3)]
                + [np.bincount(luma, minlength=256)]
            )
        if self._raw_stats is None and frame is not None and isinstance(frame.data, np.ndarray):
            from ..stages.histogram import HistogramSettings, raw_histogram, raw_stats

            hist = raw_histogram(frame.data, frame.cfa, frame.bits)
            self._raw_stats = raw_stats(
                hist, frame.black_level, frame.white_level, HistogramSettings(raw=True)
            )

    def render(self, fb_size: tuple[int, int]) -> None:
        """Draw the view and the panels into the bound framebuffer."""
        from imgui_bundle import imgui
        from OpenGL import GL

        fw, fh = fb_size
        self.ctx.bind()
        GL.glViewport(0, 0, fw, fh)
        GL.glClearColor(0.08, 0.08, 0.09, 1.0)
        GL.glClear(GL.GL_COLOR_BUFFER_BIT)
        t = time.perf_counter()
        self.layout = layout = self.compute_layout(fb_size)
        self.magnifier_inset = None
        if layout.image is not None:
            self.image_rect = layout.image
            ov = self.shown_overlays()
            if ov.magnifier:
                avoid = [r for r in (layout.histogram, layout.scopes) if r and layout.overlay]
                self.magnifier_inset = magnifier_rect(layout.image, ov.magnifier_centre, avoid)
            self.renderer.draw(
                self.image_rect, fb_size, ov, time.monotonic() - self._t0, self.magnifier_inset
            )
        self._fit_view(layout.slot or layout.image_area)
        if self.second is not None:
            frames = [] if self.clean else self.brightline_frames(self.second.mode)
            self.second.draw(layout.second, fb_size, frames, time.monotonic() - self._t0)
            self.second.fit(layout.second_slot)
        t1 = time.perf_counter()
        io = imgui.get_io()
        io.display_size = imgui.ImVec2(fw, fh)
        io.delta_time = max(1e-4, min(0.5, t1 - (self._last_present or t1 - 1 / 60)))
        imgui.backends.opengl3_new_frame()
        if self.ctx.window is not None:
            imgui.backends.glfw_new_frame()
        imgui.new_frame()
        draw_panels(self, fb_size)
        imgui.render()
        imgui.backends.opengl3_render_draw_data(imgui.get_draw_data())
        self.stats["draw_ms"] = (t1 - t) * 1e3
        self.stats["ui_ms"] = (time.perf_counter() - t1) * 1e3

    def shown_overlays(self) -> Overlays:
        """The overlays as drawn: none in the clean view."""
        if not self.clean:
            return self.overlays
        return replace(
            self.overlays,
            peaking=False,
            zebra=False,
            false_colour=False,
            grid="off",
            guide="off",
            framelines=False,
            magnifier=False,
        )

    def _fit_view(self, area: tuple[int, int, int, int]) -> None:
        """Develop the view at the size it is shown: once the image area has kept a new size
        for 0.2 s (at once headless), the pipeline's view_size follows it."""
        result = self.last_result
        if not self.fit_view or result is None or result.frame is None or area[2] <= 0:
            return
        from ..orientation import swaps_axes

        frame = result.frame
        box = (area[2], area[3])
        if swaps_axes(self.orientation):  # fit the turned picture: the sensor's order here
            box = box[::-1]
        want = fit_size((frame.width, frame.height), box)
        if want == tuple(self.settings.view_size or ()):
            self._fit_pending = None
            return
        now = time.monotonic()
        if self._fit_pending is None or self._fit_pending[0] != want:
            self._fit_pending = (want, now)
        if self._headless or now - self._fit_pending[1] >= 0.2:
            self._fit_pending = None
            self.update_settings(view_size=want)

    def step(self, wait_s: float = 0.0) -> bool:
        """Take the newest result (waiting up to ``wait_s``), draw, present; True if new."""
        if self.ctx.window is not None:
            import glfw

            glfw.poll_events()
        self._sync_assists()
        result = self.processor.wait(wait_s) if wait_s > 0 else self.processor.take()
        if result is not None:
            self._take(result)
        second_new = self.second is not None and self.second.take(self.pipeline.on_device)
        self._check_errors()
        if (
            self.ctx.window is not None
            and result is None
            and not second_new
            and not self._needs_redraw()
        ):
            # nothing new to show: sleep until input or ~a frame, so that a software GL
            # does not redraw an unchanged picture at vsync and starve the processing thread
            glfw.wait_events_timeout(0.008)
            return False
        self.render(self.ctx.framebuffer_size())
        self.ctx.present()
        now = time.perf_counter()
        if result is not None:
            if self._last_present:
                self._frame_times.append(now - self._last_present)
            self._last_present = now
            self.presented += 1
            self._update_stats(result)
        return result is not None

    def _needs_redraw(self) -> bool:
        """Input arrived, or something on screen moves (zebra stripes, notes fading)."""
        recent_input = time.monotonic() - self._input_at < 0.5  # ImGui hover, animations
        moving = (self.overlays.zebra and not self.clean) or not self.presented
        moving = moving or self.render_progress is not None  # its percentage moves
        if not self.presented and self._first_run and not self._said_compiling:
            if time.monotonic() - self._t0 > 0.3:
                self._said_compiling = True
                print(f"viewfinder: {self.status_text()}", file=sys.stderr, flush=True)
        return recent_input or moving or bool(self.recent_notes()) or bool(self.active_toasts())

    def _forward(self, backend_callback: Any) -> Any:
        """A glfw callback that hands the event to ImGui's glfw backend and asks for a redraw."""

        def callback(_window: Any, *args: Any) -> None:
            self._input_at = time.monotonic()
            backend_callback(self.ctx.window_address, *args)

        return callback

    def _check_errors(self) -> None:
        err = self.source_thread.error
        if err is not None and not self.message:
            self.notify(f"source {self.source_name} stopped: {err}", error=True)
        perr, self.processor.error = self.processor.error, None
        if perr is not None:
            self.notify(f"processing: {perr}", error=True)
            if self._processing_failing is None:  # since when no frame got through
                self._processing_failing = (time.monotonic(), self.processor.frames_done, perr)
        elif (
            self._processing_failing is not None
            and self.processor.frames_done > self._processing_failing[1]
        ):
            self._processing_failing = None
        skipped = getattr(self.source, "errors", None)  # files a folder player skipped
        if isinstance(skipped, dict):
            seen = getattr(self, "_skipped_seen", 0)
            seen = 0 if len(skipped) < seen else seen  # another source since
            for why in list(skipped.values())[seen:]:
                self.notify(f"skipped {why}")
            self._skipped_seen = len(skipped)
        self._check_stall()

    def stall_text(self) -> str:
        """ "no frames from /dev/video0 for 3 s; reconnecting (attempt 4): why" for the view."""
        src = self.source
        where = getattr(src, "path", None) or self.source_name
        text = f"no frames from {where} for {self.source_thread.stalled_s:.0f} s"
        corrupt = getattr(src, "corrupt", 0)
        if corrupt:
            text += f" ({corrupt} corrupt or empty buffers skipped)"
        status, why = getattr(src, "status", None), getattr(src, "error", None)
        if status in ("camera disconnected", "no frames"):
            attempts = getattr(src, "reopen_attempts", 0)
            text += f"; reconnecting (attempt {attempts})" if attempts else "; reconnecting"
            if why:
                text += f": {why}"
        return text

    def _check_stall(self) -> None:
        """Say so when the source has sent nothing for STALL_NOTICE_S s, and when it is back.

        In a window the note goes to the view and once to stderr; headless, only the final
        error of ``run(timeout=)`` is printed.
        """
        thread = self.source_thread
        if not thread.alive:
            return
        if thread.stalled_s >= STALL_NOTICE_S:
            text = self.stall_text()
            if not self._stalled:
                self._stalled = True
                self.notify(text, error=not self._headless)
            self.message = text  # the seconds and attempts move on in the view
        elif self._stalled:
            self._stalled = False
            self.message = ""
            self.notify(f"frames again from {self.source_name}")

    def _update_stats(self, result: Result) -> None:
        st = self.stats
        if self._frame_times:
            st["fps"] = len(self._frame_times) / max(sum(self._frame_times), 1e-9)
        now = time.monotonic()
        self._proc_marks.append((now, self.processor.frames_done))
        (t0, n0), (t1, n1) = self._proc_marks[0], self._proc_marks[-1]
        st["proc_fps"] = (n1 - n0) / (t1 - t0) if t1 > t0 else 0.0
        st["dropped"] = self.ring.dropped
        if result.frame is not None:
            st["latency_ms"] = (time.monotonic_ns() - result.frame.timestamp_ns) / 1e6
        st["timings"] = dict(result.timings_ms)
        st["path"], st["backend"] = result.path, result.backend
        st["upload_path"] = self.renderer.path
        st["interop_error"] = self.renderer.image.interop_error
        if self.pipeline.on_device and now - self._gpu_mem_at > 1.0:
            cupy = self.pipeline.xp

            free, total = cupy.cuda.runtime.memGetInfo()  # once a second, not per frame
            used = cupy.get_default_memory_pool().used_bytes()
            st["gpu_memory"] = (
                f"pool {used / 2**20:.0f} MiB, device "
                f"{(total - free) / 2**30:.1f}/{total / 2**30:.0f} GiB"
            )
            self._gpu_mem_at = now

    def run(
        self,
        frames: int = 0,
        headless: bool = False,
        on_frame: Any = None,
        timeout: float | None = None,
    ) -> int:
        """Present until Esc / the window closes, or ``frames`` new frames (0: no limit).

        Headless with ``timeout``: when the source sends nothing for ``timeout`` s, raises
        :class:`~viewfinder.sources.base.SourceTimeout` ("no frames from /dev/video0 for
        5 s; reconnecting..."). In a window a silent source is shown and waited for.
        """
        if timeout is not None and not timeout > 0:
            raise ValueError(f"timeout must be > 0 s, got {timeout}")
        self._headless = headless
        self._sync_assists()
        self._apply_settings()
        self.processor.start()
        self._running = True
        if self.second is not None:
            self.second.start()
        while not self._quit and not self.ctx.should_close():
            fresh = self.step(wait_s=min(0.5, timeout or 0.5) if headless else 0.0)
            if fresh and on_frame is not None:
                on_frame(self)
            # the dual view: the other stream shows frames too before a counted run ends
            second_done = self.second is None or self.second.presented >= min(frames, 2)
            if frames and self.presented >= frames and second_done:
                break
            if headless and not fresh and not self.source_thread.alive and not len(self.ring):
                break  # the source ended (or failed) and nothing more will come
            if headless and timeout and not fresh and self.source_thread.stalled_s > timeout:
                raise SourceTimeout(self.stall_text())
            failing = self._processing_failing
            if headless and failing and time.monotonic() - failing[0] > (timeout or 5.0):
                # every frame fails (a backend that cannot run here): end with its reason
                raise RuntimeError(f"processing failed: {failing[2]}")
        return self.presented

    def close(self) -> None:
        """Stop the threads, write pending captures, release the source, GL and ImGui.

        Safe whether or not :meth:`run` ran; each step runs even if an earlier one fails,
        and the first failure is raised at the end (a source that fails to close, such as
        an unplugged camera, is not a failure).
        """
        from imgui_bundle import imgui, implot

        steps = [
            lambda: self.second is not None and self.second.close(),
            # before the first frame the thread is compiling the CPU kernels (a first run:
            # 10-30 s, not interruptible): Esc does not wait for it, the thread is a daemon
            lambda: self.processor.stop(timeout=1.0 if self.presented else 0.1),
            lambda: self.source_thread.stop(timeout=1.0),
            lambda: self._writer is not None and self._writer.close(),
            self._close_source_quietly,
            self.renderer.delete,
            imgui.backends.opengl3_shutdown,
            lambda: self.ctx.window is not None and imgui.backends.glfw_shutdown(),
            lambda: implot.destroy_context(self.implot_ctx),
            lambda: imgui.destroy_context(self.imgui_ctx),
            self._restore_opencv_threads,
        ]
        first: Exception | None = None
        for step in steps:
            try:
                step()
            except Exception as exc:  # finish the teardown, report the first failure
                first = first or exc
        if first is not None:
            raise first

    def _close_source_quietly(self) -> None:
        try:
            self.source.close()
        except Exception:  # closing a device that is gone fails: nothing left to release
            pass

    def _restore_opencv_threads(self) -> None:
        if self._cv_threads is not None:
            import cv2

            cv2.setNumThreads(self._cv_threads)


def first_run() -> bool:
    """True when Numba has not cached the CPU kernels yet (the first run compiles them)."""
    schedules = Path(__file__).resolve().parent.parent / "schedules"
    numba_config = sys.modules.get("numba.core.config")  # set in code, after the import
    cache = os.environ.get("NUMBA_CACHE_DIR") or getattr(numba_config, "CACHE_DIR", "")
    where = Path(cache) if cache else schedules / "__pycache__"
    try:
        return not any(where.rglob("cpu_preview*.nbi"))
    except OSError:
        return False


def _single_thread_opencv() -> int | None:
    """Set OpenCV to one thread; the previous count (None without OpenCV)."""
    try:
        import cv2
    except ImportError:  # the CuPy path does not need it
        return None
    previous = cv2.getNumThreads()
    cv2.setNumThreads(1)
    return previous
