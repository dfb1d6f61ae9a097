"""Contrast autofocus of the simulated camera's built-in lens: a sweep in dioptres scored on a
small window exposed through the sensor, then a finer sweep around the best step."""

from __future__ import annotations

import math
import threading
from typing import TYPE_CHECKING, Any

import numpy as np

from .rate_map import rate_map
from .scene import Canvas, Optics, Scene, render
from .sensor import Sensor

if TYPE_CHECKING:
    from .lenses import Lens


class ContrastAutofocus:
    """Autofocus part of :class:`~viewfinder.sources.simulated.SimulatedCamera` (a mixin): it
    reads and sets the camera state annotated below under the camera's lock."""

    _lock: threading.RLock
    _mode: str
    _af: dict[str, Any]
    _af_sensor: Sensor | None
    _aperture: dict[str, float | None]
    _exposure: tuple[float, float]
    _focus: dict[str, float | None]
    lenses: dict[str, Lens]
    noise: bool
    scene: Scene
    seed: int
    sensors: dict[str, Sensor]
    width: int
    height: int

    def focus_at(self, x: float, y: float) -> float:
        """Contrast autofocus of the built-in lens on output pixel (x, y): sweep, lock.

        Renders a small window around the point at each focus step, exposes it through the
        sensor (noise included) and scores it by the mean squared gradient of the green
        sites; a coarse sweep in dioptres from the closest focus to infinity is refined
        around the best step. Returns the locked focus distance (m); on a featureless spot
        the sweep fails (``meta["af"]["state"] == "failed"``) and the focus stays.
        """
        with self._lock:
            if self._mode != "builtin":
                raise ValueError(
                    "autofocus needs the built-in lens (mode 'builtin'); M lenses focus by hand"
                )
            if not (0 <= x < self.width and 0 <= y < self.height):
                raise ValueError(
                    f"autofocus point ({x}, {y}) is outside the {self.width}x{self.height} frame"
                )
            point = (float(x), float(y))
            self._af = {"state": "scanning", "point": point}
            exposure = self.exposure_of("builtin")
        # The sweep runs outside the lock, so the live view goes on meanwhile (its frames say
        # "scanning"); the scene's caches are shared, and guarded by the scene's own lock.
        focus, steps = self._contrast_sweep(point[0], point[1], exposure)
        with self._lock:
            if focus is None:  # hunting failed: keep the focus, say so
                self._af = {
                    "state": "failed",
                    "reason": "no contrast",
                    "point": point,
                    "steps": steps,
                }
                return self._focus["builtin"]
            self._focus["builtin"] = focus
            self._af = {"state": "locked", "point": point, "focus_m": focus, "steps": steps}
            return focus

    #: Side (native pixels) of the autofocus window.
    AF_WINDOW = 192

    def _af_setup(self, x: float, y: float) -> tuple[Canvas, Sensor, tuple[int, int, int, int]]:
        """Native-resolution canvas, sensor and window around output pixel (x, y).

        Contrast AF reads the sensor at full resolution around the tapped point (as a phone
        does), so its precision does not depend on the preview size.
        """
        spec = self.sensors["builtin"].spec
        if self._af_sensor is None:
            self._af_sensor = Sensor(spec, None, seed=self.seed + 7)
        lens = self.lenses["builtin"]
        canvas = Canvas(spec.width, spec.height, spec.pixel_um / 1000.0, lens.focal_mm)
        out_pitch = self.sensors["builtin"].pixel_um / spec.pixel_um  # native px per output px
        cx = (x + 0.5 - self.width / 2) * out_pitch + spec.width / 2
        cy = (y + 0.5 - self.height / 2) * out_pitch + spec.height / 2
        side = self.AF_WINDOW
        x0 = int(min(max(round(cx - side / 2) // 2 * 2, 0), spec.width - side))
        y0 = int(min(max(round(cy - side / 2) // 2 * 2, 0), spec.height - side))
        return canvas, self._af_sensor, (y0, x0, y0 + side, x0 + side)

    def _af_score(
        self,
        focus_m: float,
        canvas: Canvas,
        sensor: Sensor,
        window: tuple[int, int, int, int],
        exposure: tuple[float, float],
    ) -> float:
        """Sharpness of ``window`` focused at ``focus_m``: mean squared gradient of Gr."""
        lens = self.lenses["builtin"]
        n = self._aperture["builtin"]
        rgb, _ = render(self.scene, canvas, Optics(lens.focal_mm, n, focus_m), window)
        rate = rate_map(rgb, lens, n, canvas, window, sensor, self.scene.white_luminance)
        raw = np.empty(rate.shape, np.uint16)
        sensor.expose(rate, *exposure, noise=self.noise, out=raw)
        g = raw[0::2, 1::2].astype(np.float32)  # Gr sites: windows start on even pixels
        return float(np.mean(np.diff(g, axis=0) ** 2) + np.mean(np.diff(g, axis=1) ** 2))

    #: The sweep fails ("no contrast") when its sharpness varies less than this fraction.
    AF_MIN_CONTRAST = 0.1

    def _contrast_sweep(
        self, x: float, y: float, exposure: tuple[float, float]
    ) -> tuple[float | None, int]:
        """Coarse sweep in dioptres (closest focus to infinity), then a fine one.

        Returns the best focus distance (``None`` when the window has too little detail for
        the statistic to change with focus) and the number of steps taken.
        """
        lens = self.lenses["builtin"]
        canvas, sensor, window = self._af_setup(x, y)
        d_max = 1.0 / lens.min_focus_m

        def d_to_m(d: float) -> float:
            return math.inf if d <= 0 else 1.0 / d

        def scores(dioptres: np.ndarray) -> np.ndarray:
            return np.array(
                [self._af_score(d_to_m(d), canvas, sensor, window, exposure) for d in dioptres]
            )

        coarse = np.linspace(0.0, d_max, 25)
        s = scores(coarse)
        if s.max() - s.min() < self.AF_MIN_CONTRAST * s.max():
            return None, len(coarse)
        i = int(np.argmax(s))
        step = coarse[1] - coarse[0]
        fine = np.linspace(max(coarse[i] - step, 0.0), min(coarse[i] + step, d_max), 9)
        d = fine[int(np.argmax(scores(fine)))]
        focus = math.inf if d <= 0 else max(1.0 / d, lens.min_focus_m)
        return focus, len(coarse) + len(fine)
