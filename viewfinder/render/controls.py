"""What the user does to the viewer: camera and pipeline controls, keys, mouse, scroll.

A mixin of :class:`~viewfinder.render.viewer.Viewer`: every change goes to the camera (which
locks itself) or is validated here and handed to the processing thread between frames;
errors become a message in the view and a line on stderr, and the viewer stays up.
"""

from __future__ import annotations

import math
import threading
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np

from ..orientation import display_to_stored, orient_image
from ..sources.base import FrameRing, SourceThread
from .view import frameline_rects
from .worker import CaptureWriter

#: Framelines of the built-in lens, in 35 mm-equivalent focal lengths.
BUILTIN_FRAMES_EQUIV = (28.0, 35.0, 50.0, 75.0)


def start_source(source: Any, ring: FrameRing) -> SourceThread:
    """Start ``source``'s reader thread into ``ring``."""
    thread = SourceThread(source, ring)
    # SourceThread does ``ring or FrameRing()``, and an empty ring is falsy (it has __len__):
    # make sure it fills the ring the processor reads.
    thread.ring = ring
    return thread.start()


class ViewerControls:
    """Controls and input handling; the state lives in the Viewer that mixes this in."""

    # provided by Viewer
    source: Any
    ring: Any
    processor: Any
    pipeline: Any
    settings: Any
    ctx: Any
    overlays: Any
    message: str
    _input_at: float
    image_rect: tuple[int, int, int, int]
    orientation: int

    # -- controls (routed to the camera, or to the pipeline between frames) ---------------
    def _camera_call(self, what: str, fn: Any, *args: Any) -> bool:
        try:
            fn(*args)
        except (ValueError, RuntimeError) as exc:
            self.notify(f"{what}: {exc}", error=True)
            return False
        self.message = ""
        self._refresh_frames()
        return True

    def set_mode(self, mode: str) -> bool:
        return self._camera_call("lens", self.source.set_mode, mode)

    def attach_lens(self, lens_id: str | None) -> bool:
        if lens_id is None:
            return self._camera_call("lens", self.source.detach_lens)
        from ..app import mount_lens

        ok = self._camera_call("lens", mount_lens, self.source, lens_id)
        if ok:
            lens = self.source.lens
            self.toast(f"{lens.name} at f/{self.source.aperture:g}, {self.source.focus_m:.2f} m")
            self.auto_exposure.settled = False
        return ok

    def set_aperture(self, f_number: float) -> bool:
        return self._camera_call("aperture", self.source.set_aperture, f_number)

    def set_focus(self, distance_m: float) -> bool:
        return self._camera_call("focus", self.source.set_focus, distance_m)

    def set_exposure(self, time_s: float, iso: float, manual: bool = True) -> bool:
        """Set the sensor's exposure; a manual setting switches auto exposure off."""
        if manual and self.auto_exposure.enabled:
            self.auto_exposure.enabled = False
            self.toast("auto exposure off (manual ISO / shutter)")
        return self._camera_call("exposure", self.source.set_exposure, time_s, iso)

    @property
    def has_auto_exposure(self) -> bool:
        """The source takes an exposure from us (the simulated camera); a V4L2 camera keeps
        its own auto modes."""
        return hasattr(self.source, "set_exposure") and hasattr(self.source, "exposure")

    def set_auto_exposure(self, on: bool) -> None:
        ae = self.auto_exposure
        ae.enabled, ae.settled = bool(on) and self.has_auto_exposure, False
        if on and not self.has_auto_exposure:
            self.notify(f"{self.source_name} keeps its own exposure", error=True)
            return
        self.toast(f"auto exposure {'on (' + ae.metering + ')' if ae.enabled else 'off'}")

    def camera_auto_modes(self) -> dict[str, bool]:
        """The camera's own auto modes (a V4L2 camera's auto exposure, auto white balance,
        auto gain), name -> on, as far as it has them: ``{}`` for other sources and while the
        camera is away. Read from the camera at most once a second (the panel asks each
        frame)."""
        read = getattr(self.source, "auto_modes", None)
        if read is None:
            return {}
        now = time.monotonic()
        cached = getattr(self, "_camera_autos", None)
        if cached is None or now - cached[0] > 1.0:
            try:
                modes = dict(read())
            except (ValueError, RuntimeError, OSError):  # unplugged, reopening
                modes = {}
            cached = self._camera_autos = (now, modes)
        return cached[1]

    def set_camera_auto(self, name: str, on: bool) -> bool:
        """Switch one of the camera's own auto modes (see :meth:`camera_auto_modes`)."""
        self._camera_autos = None
        if not self._camera_call(name, self.source.set_auto_mode, name, bool(on)):
            return False
        self.toast(f"camera {name} {'on' if on else 'off'}")
        return True

    def toggle_ae_lock(self) -> None:
        ae = self.auto_exposure
        if not ae.enabled:
            self.toast("AE lock needs auto exposure (A)")
            return
        ae.locked = not ae.locked
        self.toast("AE locked" if ae.locked else "AE unlocked")

    def _drive_exposure(self, result: Any) -> None:
        """One step of auto exposure from the statistics the window already has."""
        ae = self.auto_exposure
        if not ae.enabled or ae.locked or not self.has_auto_exposure or result.frame is None:
            return
        zones = None
        if ae.metering != "matrix":
            from ..exposure import zone_levels

            image = result.arrays.get("image")
            if image is not None:
                # a 1/16 subsample: the host array, or a small copy of the device one
                sub = image[::16, ::16, :3]
                zones = zone_levels(sub.get() if hasattr(sub, "get") else sub, (6, 8))
        new = ae.update(self._raw_stats, result.frame.meta, zones)
        if new is not None:
            try:
                if getattr(self, "second", None) is not None:  # dual view: each its own
                    self.source.set_exposure(*new, mode=self.source.mode)
                else:
                    self.source.set_exposure(*new)
            except (ValueError, RuntimeError) as exc:
                ae.enabled = False
                self.notify(f"auto exposure off: {exc}", error=True)

    def switch_lens(self) -> bool:
        """Tab: the other sensor (built-in lens <-> M mount)."""
        if not self.is_sim:
            self.notify("switching lenses needs the simulated camera", error=True)
            return False
        return self.set_mode("m" if self.source.mode == "builtin" else "builtin")

    def update_settings(self, **changes: Any) -> None:
        """Validate now; the processing thread applies them before its next frame."""
        try:
            self.settings = replace(self.settings, **changes)
        except (TypeError, ValueError) as exc:
            self.notify(str(exc), error=True)
            return
        self._settings_dirty = True

    def _sync_assists(self) -> None:
        """Make the pipeline compute what the overlays and panels show (and nothing more)."""
        s, ov = self.settings, self.shown_overlays()
        hist = self.show_histogram and not self.clean
        scopes = self.show_scopes and not self.clean
        ae = self.auto_exposure.enabled and self.has_auto_exposure  # AE meters the RAW histogram
        want = {
            "peaking": {"enabled": ov.peaking, "colour": ov.peak_colour},
            "zebra": {"enabled": ov.zebra},
            "histogram": {"raw": hist or ae, "view": hist},
            "scopes": {"waveform": scopes, "vectorscope": scopes},
            # the overlay's point is on the picture as shown; the stage's on the sensor
            "magnifier": {
                "enabled": ov.magnifier,
                "center": display_to_stored(*ov.magnifier_centre, self.orientation),
            },
            # false colour is drawn by the view shader from the clean image: not computed
            "false_colour": {"enabled": False},
        }
        changes = {}
        for name, fields_ in want.items():
            sub = getattr(s, name, None)
            if sub is None:
                continue
            diff = {k: v for k, v in fields_.items() if hasattr(sub, k) and getattr(sub, k) != v}
            if diff:
                changes[name] = replace(sub, **diff)
        if changes:
            self.update_settings(**changes)
        zebra, fc = getattr(s, "zebra", None), getattr(s, "false_colour", None)
        if zebra is not None:
            ov.zebra_period_px = float(zebra.stripe_width)
            ov.zebra_speed_px_s = 30.0 * float(zebra.speed)  # the stage's px/frame at 30 fps
        if fc is not None:
            ov.false_colour_bands = fc.band_table()

    def _apply_settings(self) -> None:
        if self._settings_dirty:
            self._settings_dirty = False
            self.pipeline.settings = self.settings

    def _refresh_frames(self) -> None:
        """Framelines for the lens now on the camera (longer lenses of the catalogue)."""
        lens = getattr(self.source, "lens", None) if self.is_sim else None
        if lens is None:
            self.overlays.frames = []
            return
        if lens.mount == "builtin" and getattr(self, "second", None) is not None:
            # the dual view: the M lens's field of view as a bright-line frame
            self.overlays.frames = self.brightline_frames("builtin")
            return
        if lens.mount == "builtin":
            # a phone lens: framelines of the equivalent focal lengths of the crop a phone
            # app offers (28/35/50/75 mm equiv.), labelled as such
            w_mm, h_mm = self.sensor_size_mm
            equiv = lens.focal_mm * 43.27 / math.hypot(w_mm, h_mm)
            self.overlays.frames = frameline_rects(equiv, list(BUILTIN_FRAMES_EQUIV), limit=6)
            return
        others = [x.focal_mm for x in self.source.lenses.values() if x.mount == "m"]
        self.overlays.frames = frameline_rects(lens.focal_mm, others, limit=6)

    def open_source(self, spec: str) -> bool:
        """Switch to the source ``spec``; on failure the current one stays and says why."""
        if self._open_source is None:
            self.notify("this viewer cannot open other sources", error=True)
            return False
        try:
            new = self._open_source(spec)
        except Exception as exc:  # SourceError, ValueError, OSError: shown, viewer stays up
            self.notify(f"cannot open source {spec!r}: {exc}", error=True)
            return False
        if getattr(self, "second", None) is not None:  # the dual view reads the old camera
            self.set_dual(False)
        old_thread, old_source = self.source_thread, self.source
        self.source = new
        self.follow_progress(new)
        self.render_progress = None
        self.ring = FrameRing(self.ring.capacity)
        self.source_thread = start_source(new, self.ring)
        self.processor.set_ring(self.ring)
        old_thread.stop()
        try:
            old_source.close()
        except Exception:  # closing a dead device must not take the viewer down
            pass
        self.message = ""
        self.notify(f"source: {self.source_name}")
        self._refresh_frames()
        return True

    def capture(self, kind: str = "dng") -> Path | None:
        """Queue a DNG of the raw frame, or a PNG of the view, for the writer thread."""
        result = self.last_result
        if result is None or result.frame is None:
            self.notify("nothing to capture yet")
            return None
        if self._writer is None:
            self._writer = CaptureWriter(self.capture_folder)
        frame = result.frame
        stem = time.strftime("VF_%Y%m%d_%H%M%S") + f"_{frame.seq:06d}"
        if kind == "dng":
            data = frame.data
            data = data.get() if hasattr(data, "get") else np.array(data)
            payload: Any = replace(frame, data=data, meta=dict(frame.meta))
        else:
            image = result.arrays["image"]
            image = image.get() if hasattr(image, "get") else image
            # the picture as shown (a DNG keeps the sensor order and carries the tag)
            payload = np.ascontiguousarray(orient_image(image[..., :3], self.orientation))
        path = self._writer.submit(kind, payload, stem)
        self.notify(f"capturing {path.name}")
        return path

    # -- input -----------------------------------------------------------------------------
    def _on_key(self, window: Any, key: int, scancode: int, action: int, mods: int) -> None:
        self._input_at = time.monotonic()
        from imgui_bundle import imgui

        imgui.backends.glfw_key_callback(self.ctx.window_address, key, scancode, action, mods)
        if action != 1 or imgui.get_io().want_text_input:  # press only; typing goes to ImGui
            return
        self.handle_key(key)

    def handle_key(self, key: int) -> None:
        """The viewer's shortcuts (glfw key codes)."""
        import glfw

        ov = self.overlays
        if key == glfw.KEY_TAB:
            self.switch_lens()
        elif key == glfw.KEY_P:
            ov.peaking = not ov.peaking
        elif key == glfw.KEY_Z:
            ov.zebra = not ov.zebra
        elif key == glfw.KEY_F:
            ov.false_colour = not ov.false_colour
        elif key == glfw.KEY_M:
            ov.magnifier = not ov.magnifier
        elif key == glfw.KEY_H:
            self.show_histogram = not self.show_histogram
        elif key == glfw.KEY_A:
            self.set_auto_exposure(not self.auto_exposure.enabled)
        elif key == glfw.KEY_L:
            self.toggle_ae_lock()
        elif key == glfw.KEY_C:
            self.toggle_clean()
        elif key == glfw.KEY_I:
            self.collapsed = not self.collapsed
        elif key == glfw.KEY_SPACE:
            self.capture("dng")
        elif key == glfw.KEY_F11:
            self.toggle_fullscreen()
        elif key == glfw.KEY_ESCAPE:
            self._quit = True

    def toggle_clean(self) -> None:
        """C: the clean view (no panels, no overlays) and back."""
        self.clean = not self.clean
        self.toast("clean view (C to leave)" if self.clean else "panels and overlays back")

    def toggle_fullscreen(self) -> None:
        if self.ctx.window is None:
            return
        import glfw

        w = self.ctx.window
        if self._fullscreen_saved is None:
            x, y = glfw.get_window_pos(w)
            ww, wh = glfw.get_window_size(w)
            self._fullscreen_saved = (x, y, ww, wh)
            monitor = glfw.get_primary_monitor()
            mode = glfw.get_video_mode(monitor)
            glfw.set_window_monitor(
                w, monitor, 0, 0, mode.size.width, mode.size.height, mode.refresh_rate
            )
        else:
            x, y, ww, wh = self._fullscreen_saved
            self._fullscreen_saved = None
            glfw.set_window_monitor(w, None, x, y, ww, wh, 0)

    def _on_mouse_button(self, window: Any, button: int, action: int, mods: int) -> None:
        self._input_at = time.monotonic()
        import glfw
        from imgui_bundle import imgui

        imgui.backends.glfw_mouse_button_callback(self.ctx.window_address, button, action, mods)
        if (
            action != glfw.PRESS
            or button != glfw.MOUSE_BUTTON_LEFT
            or imgui.get_io().want_capture_mouse
        ):
            return
        x, y = glfw.get_cursor_pos(window)
        sx, sy = self._pixel_scale()
        self.click(x * sx, y * sy)

    def _pixel_scale(self) -> tuple[float, float]:
        import glfw

        ww, wh = glfw.get_window_size(self.ctx.window)
        fw, fh = self.ctx.framebuffer_size()
        return (fw / ww if ww else 1.0), (fh / wh if wh else 1.0)

    def click(self, x: float, y: float) -> None:
        """A click at framebuffer pixel (x, y): place the magnifier, or focus the built-in lens."""
        rx, ry, rw, rh = self.image_rect
        if rw <= 0 or not (rx <= x < rx + rw and ry <= y < ry + rh):
            return
        u, v = (x - rx) / rw, (y - ry) / rh  # on the picture as shown
        if self.overlays.magnifier:
            self.overlays.magnifier_centre = (u, v)  # _sync_assists maps it to the sensor
            return
        if self.is_sim and self.source.mode == "builtin" and hasattr(self.source, "focus_at"):
            s, t = display_to_stored(u, v, self.orientation)
            fx, fy = s * self.source.width, t * self.source.height
            # a contrast-AF sweep takes a while: never on the window thread
            threading.Thread(
                target=self._camera_call,
                name="autofocus",
                daemon=True,
                args=("autofocus", self.source.focus_at, fx, fy),
            ).start()

    def _on_scroll(self, window: Any, dx: float, dy: float) -> None:
        self._input_at = time.monotonic()
        from imgui_bundle import imgui

        imgui.backends.glfw_scroll_callback(self.ctx.window_address, dx, dy)
        if not imgui.get_io().want_capture_mouse:
            self.scroll_focus(dy)

    def scroll_focus(self, steps: float) -> None:
        """Turn the M lens's focus ring: one step is 1/40 of its dioptre travel."""
        if not self.is_sim or self.source.mode != "m" or self.source.lens is None:
            return
        lens = self.source.lens
        focus = self.source.focus_m or math.inf
        d_max = 1.0 / lens.min_focus_m
        dio = 0.0 if math.isinf(focus) else 1.0 / focus
        dio = min(max(dio + steps * d_max / 40.0, 0.0), d_max)
        self.set_focus(math.inf if dio <= 1e-6 else 1.0 / dio)
