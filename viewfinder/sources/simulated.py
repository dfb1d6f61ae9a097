"""The simulated dual-sensor camera: the default frame source and the assists' ground truth.

Two IMX989-class sensors: one behind the built-in 8.7 mm f/1.9 autofocus lens (mode
``"builtin"``), one behind a Leica M bayonet (mode ``"m"``) that takes the manual lenses of
the catalogue. Per frame only the sensor exposure runs (numba on the CPU, one CUDA kernel on
the GPU): the defocused scene is rendered into a cached map of photo-electron rates whenever the
lens, aperture, focus or size changes (on the CPU both scenes write that mosaic in bounded
memory, with no full-size RGB; on a device (CuPy, cudasim) a kernel writes it there from what
the host prepares, small next to the sensor: the motorcycle's composited work grid
(``kernels/scene.cu``), the planes' grids (``kernels/scene_planes.cu``), and frames are
exposed from that device map), and gentle motion moves the read
window over that map in even-pixel steps (which keeps the CFA). The lens's vignetting is baked
into the map, so it sways with the view by those few pixels (invisible on a fall-off that spans
the frame).

Threads: ``read()`` may run in a :class:`~viewfinder.sources.base.SourceThread` while the UI
calls the setters and ``focus_at()``; state changes are atomic, renders and autofocus sweeps
run outside the camera's lock, and each frame's ``meta`` describes the state it was rendered
with.

Exposure: a reflectance of 1 has the scene's white luminance ``L`` (cd/m^2); the sensor
illuminance is ``E = pi L T / (4 N^2)`` lux (lens transmission ``T``, f-number ``N``, times the
lens's vignetting), a pixel collects ``E * t * photons_per_lux_s * area * QE`` electrons in the
exposure time ``t``, and the ISO sets the analogue gain (see ``sensor.py``). With the default
scene (500 cd/m^2) the metered exposure at f/1.9 and ISO 100 is about 1/160 s, the default.

Modules: ``rate_map`` (that exposure model), ``autofocus`` (the built-in lens's contrast AF,
mixed into the camera), ``scene`` and ``sensor`` (what is seen, and how it is read out).
"""

from __future__ import annotations

import contextlib
import math
import threading
import time
from typing import Any

import numpy as np

from .. import optics
from ..backend import BACKENDS, backend_name, is_device_backend
from ..frame import Frame
from .autofocus import ContrastAutofocus
from .lenses import Lens, load_lenses
from .rate_map import COLOR_MATRIX, CROSSTALK, LENS_TRANSMISSION, rate_factors, rate_map
from .scene import Canvas, Optics, Scene, render
from .sensor import IMX989, GpuExposer, Sensor, SensorSpec

__all__ = [
    "COLOR_MATRIX",
    "CROSSTALK",
    "FRAME_TIME_S",
    "LENS_TRANSMISSION",
    "MARGIN",
    "MODES",
    "NO_LENS_F_NUMBER",
    "SCENES",
    "SensorStream",
    "SimulatedCamera",
    "make_scene",
]

MODES: tuple[str, ...] = ("builtin", "m")
#: Margin (px, even) of the rendered map around the frame: the room the motion moves in.
MARGIN = 16
#: Seconds of scene time per frame (motion follows the frame counter, so it is deterministic).
FRAME_TIME_S = 1.0 / 30.0
#: With no lens, the bare sensor under its glass sees a uniform wash of the room's light,
#: modelled as an 18% grey at this effective f-number.
NO_LENS_F_NUMBER = 2.8
#: The scenes by name: fronto-parallel textured planes (``scene.Scene``), and a real depth
#: photograph, the Middlebury motorcycle (``scene_depth.DepthPhotoScene``).
SCENES: tuple[str, ...] = ("planes", "motorcycle")
#: Work a first frame needs that does not depend on the focus runs on background threads:
#: the scene's own (``prepare``: the motorcycle's Numba functions and grain tiles), started
#: when the camera is made and when its sensor, lens or aperture changes; and on the NumPy
#: backend a sensor's noise bank (``Sensor._noise_bank``: 1.5 s at 50 MP on two cores),
#: drawn while its first frame's scene renders. The frame waits for the bank (drawn once
#: from the sensor's seeded generator, as the first exposure would: the frames are the
#: same).
PREFETCH = True


def make_scene(name: str, seed: int = 0) -> Any:
    """The scene called ``name`` (one of :data:`SCENES`), seeded; ``ValueError`` otherwise
    (also when the motorcycle's photograph, bundled with scikit-image, is missing)."""
    if name == "planes":
        return Scene(seed)
    if name == "motorcycle":
        from .scene_depth import DepthPhotoScene

        return DepthPhotoScene(seed)
    raise ValueError(f"unknown scene {name!r}: expected one of {', '.join(SCENES)}")


def scene_name(scene: Any) -> str:
    """``"planes"`` for the planes scene, else the scene's ``name``."""
    return "planes" if isinstance(scene, Scene) else str(getattr(scene, "name", "scene"))


class SimulatedCamera(ContrastAutofocus):
    """Simulated concept camera; a :class:`~viewfinder.sources.base.FrameSource`.

    Parameters
    ----------
    size : (width, height), "full", "binned" or None
        Output size (see :class:`~viewfinder.sources.sensor.Sensor`). Default: 1920x1440 on
        the NumPy backend, the native 8192x6144 on CuPy.
    backend : {"numpy", "cupy", "cudasim"} or None
        Where frames are exposed (default: :func:`viewfinder.backend.backend_name`).
    host : bool
        On CuPy, copy each frame to host memory (a model of a real sensor's upload).
    seed : int
        Seed of the scene and of the noise.
    scene : "planes", "motorcycle", a scene object or None
        What the camera sees (default the planes; see :data:`SCENES` and :meth:`set_scene`).
    motion, noise : bool
        Gentle motion of the view, and sensor noise (off for exact references).
    lens_file : path or None
        A TOML file of extra lenses.
    fps : float or None
        Pace ``read()`` to this rate (``None``: as fast as asked).
    """

    def __init__(
        self,
        size: tuple[int, int] | str | None = None,
        *,
        backend: str | None = None,
        host: bool = False,
        seed: int = 0,
        motion: bool = True,
        noise: bool = True,
        scene: Any = None,
        lens_file: Any = None,
        fps: float | None = None,
        spec: SensorSpec = IMX989,
    ) -> None:
        self.backend = backend or backend_name()
        if self.backend not in BACKENDS:
            raise ValueError(f"backend must be one of {', '.join(BACKENDS)}, got {self.backend!r}")
        #: Frames are exposed by the CUDA kernel (CuPy, or cudasim on the CPU).
        self.on_device = is_device_backend(self.backend)
        if size is None:
            # cudasim runs the CUDA path on the CPU: the full sensor would take minutes a frame
            size = (spec.width, spec.height) if self.backend == "cupy" else (1920, 1440)
        self.sensors = {
            "builtin": Sensor(spec, size, seed=seed),
            "m": Sensor(spec, size, seed=seed + 1),
        }
        self.width, self.height = self.sensors["m"].width, self.sensors["m"].height
        self.name = f"sim {self.width}x{self.height}"
        self.host = bool(host)
        self.motion, self.noise = bool(motion), bool(noise)
        self.fps = fps
        self.seed = int(seed)
        self.scene = make_scene(scene, seed) if isinstance(scene, str) else scene or Scene(seed)
        self.lenses: dict[str, Lens] = load_lenses(lens_file)
        self._lock = threading.RLock()
        self._mode = "builtin"
        self._m_lens: Lens | None = None
        self._six_bit: str | None = None
        # per mode: aperture and focus; the M values exist only with a lens on
        self._aperture = {"builtin": self.lenses["builtin"].max_aperture, "m": None}
        self._focus = {"builtin": 3.0, "m": None}
        self._exposure = (1.0 / 160.0, 100.0)
        #: a sensor's own exposure (set_exposure(mode=...)): the dual view meters each stream
        self._sensor_exposure: dict[str, tuple[float, float] | None] = dict.fromkeys(MODES)
        self._af: dict[str, Any] = {"state": "idle"}
        self._caches: dict[str, dict[str, Any]] = {}
        self._gpu: Any = None
        self._stream: Any = None  # the source's CUDA stream (device backends), made on first use
        self._device_layers: dict = {}
        self._af_sensor: Sensor | None = None
        self._seq = 0
        self._last: tuple[dict[str, Any], tuple[int, int]] | None = None
        self._next_t = time.monotonic()
        self._closed = False
        #: Called as ``on_progress(fraction, text)`` while the scene is rendered (0 at the
        #: start, 1 at the end; the planes scene reports each plane): at 50 MP on a CPU a
        #: render takes seconds, and the window and the CLI show how far it is. Its errors
        #: are ignored.
        self.on_progress: Any = None
        self._bank_jobs: dict[str, threading.Thread] = {}
        self._prepare_scene()

    # ----- state ----------------------------------------------------------------------------
    @property
    def mode(self) -> str:
        return self._mode

    @property
    def lens(self) -> Lens | None:
        """The lens in front of the active sensor (``None``: empty M mount)."""
        return self.lenses["builtin"] if self._mode == "builtin" else self._m_lens

    @property
    def aperture(self) -> float | None:
        return self._aperture[self._mode]

    @property
    def focus_m(self) -> float | None:
        return self._focus[self._mode]

    @property
    def exposure(self) -> tuple[float, float]:
        """(time_s, iso) of the active sensor."""
        return self.exposure_of(self._mode)

    def exposure_of(self, mode: str) -> tuple[float, float]:
        """(time_s, iso) of sensor ``mode``: its own exposure if it was given one, else the
        camera's."""
        return self._sensor_exposure.get(mode) or self._exposure

    def lens_of(self, mode: str) -> Lens | None:
        """The lens in front of sensor ``mode`` (``None``: empty M mount)."""
        return self.lenses["builtin"] if mode == "builtin" else self._m_lens

    def other_mode(self) -> str:
        """The sensor that is not active."""
        return "m" if self._mode == "builtin" else "builtin"

    def stream(self, mode: str = "other") -> SensorStream:
        """A :class:`SensorStream`: the frames of sensor ``mode`` ("builtin", "m", or
        "other": whichever is not active, frame by frame), read beside ``read()``."""
        if mode not in (*MODES, "other"):
            raise ValueError(f"unknown sensor {mode!r}: expected builtin, m or other")
        return SensorStream(self, mode)

    @property
    def scene_name(self) -> str:
        """``"planes"`` or ``"motorcycle"`` (or a custom scene's name)."""
        return scene_name(self.scene)

    def set_scene(self, scene: Any) -> None:
        """Show another scene: a name of :data:`SCENES` or a scene object. The lenses, their
        settings and the exposure stay; a bad name raises ``ValueError`` and keeps the scene."""
        new = make_scene(scene, self.seed) if isinstance(scene, str) else scene
        if not (hasattr(new, "white_luminance") and hasattr(new, "seed")):
            raise ValueError(f"not a scene: {scene!r}")
        with self._lock:
            self.scene = new
            self._caches = {}
            self._device_layers = {}
        self._prepare_scene()

    def set_mode(self, mode: str) -> None:
        """Switch between the built-in lens's sensor and the M-mount sensor."""
        if mode not in MODES:
            raise ValueError(f"unknown mode {mode!r}: expected one of {', '.join(MODES)}")
        with self._lock:
            self._mode = mode
        self._prepare_scene()

    def attach_lens(self, lens_id: str, six_bit: str | None = None) -> None:
        """Mount M lens ``lens_id`` (wide open, focused at infinity); ``six_bit`` is an
        optional emulated 6-bit code (six 0/1 digits) reported in ``meta["six_bit"]``."""
        lens = self.lenses.get(lens_id) if isinstance(lens_id, str) else None
        if lens is None or lens.mount != "m":
            known = ", ".join(k for k, v in self.lenses.items() if v.mount == "m")
            raise ValueError(f"unknown M lens {lens_id!r}: known are {known}")
        if six_bit is not None and not (
            isinstance(six_bit, str) and len(six_bit) == 6 and set(six_bit) <= {"0", "1"}
        ):
            raise ValueError(f"6-bit code must be six 0/1 digits, got {six_bit!r}")
        with self._lock:
            self._m_lens = lens
            self._six_bit = six_bit if six_bit is not None else lens.six_bit
            self._aperture["m"] = lens.max_aperture
            self._focus["m"] = math.inf
        self._prepare_scene("m")

    def detach_lens(self) -> None:
        """Take the lens off the M mount: that sensor then says "no lens attached"."""
        with self._lock:
            self._m_lens, self._six_bit = None, None
            self._aperture["m"] = self._focus["m"] = None

    def _active_lens(self) -> Lens:
        lens = self.lens
        if lens is None:
            raise ValueError("no lens attached to the M mount: attach_lens() first")
        return lens

    def set_aperture(self, f_number: float) -> None:
        """Set the aperture (f-number) of the active lens; the range is the lens's."""
        with self._lock:
            n = self._active_lens().check_aperture(f_number)
            self._aperture[self._mode] = n
        self._prepare_scene()

    def set_focus(self, distance_m: float) -> None:
        """Focus the active lens at ``distance_m`` (``math.inf`` allowed)."""
        with self._lock:
            d = self._active_lens().check_focus(distance_m)
            self._focus[self._mode] = d
            if self._mode == "builtin":
                self._af = {"state": "manual"}

    def set_exposure(self, time_s: float, iso: float, mode: str | None = None) -> None:
        """Exposure time (s, 1/32000 to 30) and ISO (50 to 6400) of both sensors, or with
        ``mode`` of that sensor alone (the dual view meters each stream)."""
        if mode is not None and mode not in MODES:
            raise ValueError(f"unknown sensor {mode!r}: expected one of {', '.join(MODES)}")
        with self._lock:
            exposure = self.sensors["m"].check_exposure(time_s, iso)
            if mode is None:
                self._exposure = exposure
                self._sensor_exposure = dict.fromkeys(MODES)
            else:
                self._sensor_exposure[mode] = exposure

    # ----- rendering ------------------------------------------------------------------------
    def _render_device(self) -> tuple[Any, Any, dict] | None:
        """On the device: blur and composite there, sharp layers uploaded once."""
        if not self.on_device:
            return None
        import importlib

        from ..backend import cupyx_module, get_xp

        if len(self._device_layers) > 32:  # layers of older lenses and sizes
            self._device_layers.clear()
        xp = get_xp(self.backend)
        ndi = importlib.import_module(cupyx_module(xp).__name__ + ".scipy.ndimage")
        return xp, ndi, self._device_layers

    def _state_key(self, mode: str) -> tuple:
        lens = self.lens_of(mode)
        return (
            id(self.scene),
            mode,
            lens.id if lens else None,
            self._aperture[mode],
            self._focus[mode],
            self.width,
            self.height,
        )

    def _canvas(self, mode: str, lens: Lens | None) -> Canvas:
        """The canvas sensor ``mode`` renders through ``lens``: the frame and its margin."""
        return Canvas(
            self.width + 2 * MARGIN,
            self.height + 2 * MARGIN,
            self.sensors[mode].pixel_um / 1000.0,
            lens.focal_mm if lens is not None else 1.0,
        )

    def _prefetch_noise(self, mode: str) -> None:
        """Draw sensor ``mode``'s noise bank on a background thread (NumPy backend, noise
        on, bank not drawn yet): :meth:`_read` starts it before the scene renders and waits
        for it before exposing."""
        if not (PREFETCH and self.noise) or self.on_device:
            return
        sensor = self.sensors[mode]
        with self._lock:
            if mode in self._bank_jobs or sensor._bank is not None:
                return

            def draw() -> None:
                with contextlib.suppress(Exception):  # the frame draws it and raises there
                    sensor._noise_bank(self.width * self.height)

            job = threading.Thread(target=draw, name=f"viewfinder-noise-bank-{mode}")
            self._bank_jobs[mode] = job
            job.start()

    def _wait_noise(self, mode: str) -> None:
        """Wait for sensor ``mode``'s background noise bank, if one is being drawn (the
        sensor's generator is not shared while it draws): every reader of that sensor
        waits for it (a stream's and the camera's), then it is forgotten."""
        with self._lock:
            job = self._bank_jobs.get(mode)
        if job is not None:
            job.join()
            with self._lock:
                if self._bank_jobs.get(mode) is job:
                    del self._bank_jobs[mode]

    def _prepare_scene(self, mode: str | None = None) -> None:
        """Let a scene that can (the motorcycle: ``prepare``) start building, in the
        background, what the next render of sensor ``mode`` (default the active one) needs
        before it knows the focus: a photographer who picks up the camera or changes the
        lens waits less for the first frame."""
        with self._lock:
            mode = mode or self._mode
            lens, aperture, scene = self.lens_of(mode), self._aperture[mode], self.scene
        if not PREFETCH or lens is None or aperture is None or not hasattr(scene, "prepare"):
            return
        state = Optics(lens.focal_mm, aperture, self._focus[mode] or math.inf)
        with contextlib.suppress(Exception):  # a hint: the render does the same and raises
            scene.prepare(self._canvas(mode, lens), state, host_pass=not self.on_device)

    def _ensure_cache(self, mode: str | None = None) -> dict[str, Any]:
        """The rendered rate map and depth of sensor ``mode`` (default the active one; one
        kept per mode).

        The state is read under the lock but the render runs outside it, so the controls
        never wait for a render; a frame always carries the state it was rendered with.
        """
        with self._lock:
            mode = mode or self._mode
            key = self._state_key(mode)
            lens = self.lens_of(mode)
            aperture, focus = self._aperture[mode], self._focus[mode]
            scene = self.scene
            cache = self._caches.get(mode)
            if cache is not None and cache["key"] == key:
                return cache
        sensor = self.sensors[mode]
        canvas = self._canvas(mode, lens)
        whole = (0, 0, canvas.height, canvas.width)
        white = scene.white_luminance
        depth_fn = None
        device_rate: tuple | None = None  # (ready event, stream) of a map made on the device
        what = f"rendering the {scene_name(scene)} scene at {self.width}x{self.height}"
        if lens is not None:
            what += f" ({lens.name}, f/{aperture:g}, {focus:.2f} m)"

        def progress(fraction: float, step: str = "") -> None:
            report = self.on_progress
            if report is not None:
                with contextlib.suppress(Exception):  # a display's trouble is not the camera's
                    report(float(fraction), what + (f": {step}" if step else ""))

        progress(0.0)
        if lens is None:
            # a uniform 18% grey: each CFA site's rate, as rate_map() gives it, without the
            # full-size RGB (600 MB at 50 MP); no depth (NaN), looked up per window
            grey = np.full((2, 2, 3), 0.18, np.float32)
            site = rate_map(grey, None, NO_LENS_F_NUMBER, canvas, (0, 0, 2, 2), sensor, white)
            rate = np.tile(site, (canvas.height // 2, canvas.width // 2))
            depth = None

            def depth_fn(window: tuple[int, int, int, int]) -> tuple[np.ndarray, None]:
                y0, x0, y1, x1 = window
                return np.full((y1 - y0, x1 - x0), np.nan, np.float32), None
        elif hasattr(scene, "render_rate"):
            # the scene writes the sensor's mosaic itself (no full-size RGB), and its depth is
            # looked up per frame window when truth() asks. On a device both scenes write the
            # mosaic there (render_rate_device: their small grids and tables uploaded, one
            # kernel, no full-size host array, no host sync). Cached frames are exposed from
            # the device map
            state = Optics(lens.focal_mm, aperture, focus)
            matrix, vig = rate_factors(lens, aperture, canvas, whole, sensor, white)
            if self.on_device and hasattr(scene, "render_rate_device"):
                from ..backend import get_xp

                xp = get_xp(self.backend)
                stream = xp.cuda.get_current_stream()  # the asking reader's own stream
                if isinstance(scene, Scene):  # the planes say how far they are, plane by plane
                    rate = scene.render_rate_device(
                        canvas, state, whole, matrix, vig, xp, progress=progress
                    )
                else:
                    rate = scene.render_rate_device(canvas, state, whole, matrix, vig, xp)
                ready = xp.cuda.Event(block=False, disable_timing=True)
                ready.record(stream)  # readers on other streams wait for it (set_rate)
                device_rate = (ready, stream)
            elif isinstance(scene, Scene):
                rate = scene.render_rate(canvas, state, whole, matrix, vig, progress=progress)
            else:
                rate = scene.render_rate(canvas, state, whole, matrix, vig)
            depth = None

            def depth_fn(window: tuple[int, int, int, int]) -> tuple[np.ndarray, np.ndarray]:
                return scene.depth_window(canvas, window)
        else:
            state = Optics(lens.focal_mm, aperture, focus)
            rgb, depth = render(
                scene, canvas, state, device=self._render_device(), progress=progress
            )
            rate = rate_map(rgb, lens, aperture, canvas, whole, sensor, white)
        progress(1.0, "done")
        cache = {
            "key": key,
            "mode": mode,
            "scene": scene_name(scene),
            "rate": rate,
            "device_rate": device_rate,
            "depth": depth,
            "depth_fn": depth_fn,
            "canvas": canvas,
            "lens": lens,
            "aperture": aperture,
            "focus": focus,
        }
        with self._lock:
            self._caches[mode] = cache
        return cache

    def _offset(self, seq: int) -> tuple[int, int]:
        """Even-pixel read offset of frame ``seq``: a slow Lissajous sway of the view."""
        if not self.motion:
            return MARGIN, MARGIN
        t = seq * FRAME_TIME_S
        dx = 0.6 * MARGIN * math.sin(2 * math.pi * t / 7.0)
        dy = 0.6 * MARGIN * math.sin(2 * math.pi * t / 11.0 + 1.0)
        return MARGIN + 2 * round(dy / 2), MARGIN + 2 * round(dx / 2)

    # ----- frames ---------------------------------------------------------------------------
    def read(self) -> Frame:
        """Expose and return the next frame (see the module docstring for what it costs)."""
        if self._closed:
            from .base import SourceError

            raise SourceError("simulated camera is closed")
        if self.fps:
            now = time.monotonic()
            self._next_t = max(self._next_t + 1.0 / self.fps, now)
            if self._next_t > now:
                time.sleep(self._next_t - now)
        with self._device_stream():  # renders and exposures on the source's own stream
            return self._read()

    def _device_stream(self) -> Any:
        """The source's non-blocking CUDA stream (a no-op context on the host), so that a
        scene re-render never stalls the processing stream; frames cross streams through
        events (``Frame.sync``)."""
        if not self.on_device:
            return contextlib.nullcontext()
        if self._stream is None:
            from ..backend import get_xp

            self._stream = get_xp(self.backend).cuda.Stream(non_blocking=True)
        return self._stream

    def _read(self, mode: str | None = None, owner: Any = None) -> Frame:
        """The next frame of sensor ``mode`` (default the active one). ``owner`` (default the
        camera) holds the frame counter, the device exposer and the last frame's state: a
        :class:`SensorStream` has its own, so both sensors stream at once."""
        owner = self if owner is None else owner
        if not self.on_device:  # the noise bank is drawn while the scene renders
            self._prefetch_noise(mode or self._mode)
        cache = self._ensure_cache(mode)
        if not self.on_device:
            self._wait_noise(cache["mode"])
        sync = None
        with self._lock:
            seq = owner._seq
            owner._seq += 1
            offset = self._offset(seq)
            mode = cache["mode"]
            time_s, iso = self.exposure_of(mode)
            sensor = self.sensors[mode]
            if self.on_device:
                if owner._gpu is None:
                    owner._gpu = GpuExposer(self.width, self.height, self.host, xp=self.backend)
                owner._gpu.set_rate(cache["key"], cache["rate"], *cache["device_rate"] or ())
                seed = (self.seed * 0x9E3779B1 + seq * 2 + (mode == "m")) & 0xFFFFFFFF
                data = owner._gpu.expose(offset, time_s, sensor.noise_params(iso), seed, self.noise)
                sync = owner._gpu.last_sync
            else:
                # into a free buffer of the sensor's ring (resident memory, no page faults;
                # a frame a consumer still holds is never rewritten), under the lock
                out = sensor.frame_buffer()
                data = sensor.expose(cache["rate"], time_s, iso, offset, self.noise, out=out)
            owner._last = (cache, offset)
            meta = self._meta(cache, sensor, time_s, iso)
        s = sensor.spec
        return Frame(
            data,
            cfa=s.cfa,
            black_level=s.black_level,
            white_level=s.white_level,
            bits=s.bits,
            seq=seq,
            timestamp_ns=time.monotonic_ns(),
            meta=meta,
            sync=sync,
        )

    def _meta(
        self, cache: dict[str, Any], sensor: Sensor, time_s: float, iso: float
    ) -> dict[str, Any]:
        lens: Lens | None = cache["lens"]
        qe = sensor.spec.qe_rgb
        meta: dict[str, Any] = {
            "sensor": sensor.spec.name,
            "scene": cache["scene"],
            "mode": cache["mode"],
            "lens": lens.id if lens else None,
            "lens_name": lens.name if lens else None,
            "aperture": cache["aperture"],
            "focus_m": cache["focus"],
            "focal_mm": lens.focal_mm if lens else None,
            "exposure_s": time_s,
            "iso": iso,
            "pixel_um": sensor.pixel_um,
            "white_balance": (qe[1] / qe[0], 1.0, qe[1] / qe[2]),
            "white_balance_source": "as shot",  # the sensor's own QE under the scene's light
            "orientation": 1,
            "color_matrix": COLOR_MATRIX,
            "noise": sensor.noise_params(iso).as_meta(),
            "status": "ok" if lens else "no lens attached",
        }
        if lens is not None:
            airy = optics.airy_disc_px(cache["aperture"], sensor.pixel_um)
            meta["airy_px"] = airy
            meta["diffraction_warning"] = optics.diffraction_warning(
                cache["aperture"], sensor.pixel_um
            )
            meta["equivalent_focal_mm"] = optics.equivalent_focal_mm(
                lens.focal_mm, sensor.spec.width_mm, sensor.spec.height_mm
            )
        if cache["mode"] == "m" and lens is not None:
            meta["six_bit"] = self._six_bit
        if cache["mode"] == "builtin":
            meta["af"] = dict(self._af)
        return meta

    def truth(self, last: Any = None) -> dict[str, np.ndarray]:
        """Ground truth of the last frame, (H, W) float32 at the frame's resolution
        (``last``: a stream's last frame state instead of the camera's).

        ``depth_m``: depth of the scene at each pixel (``inf`` for the sky); ``coc_px``:
        blur-circle diameter in output pixels from :func:`viewfinder.optics.coc_px`. Both are
        NaN when no lens is attached. On a depth photograph (the motorcycle) also
        ``depth_known`` (bool): False where the photograph's ground truth has no depth (the
        renderer's filled value is given) and beyond its edges.
        """
        with self._lock:
            last = self._last if last is None else last
            if last is None:
                raise ValueError("no frame read yet: call read() first")
            cache, (oy, ox) = last
            lens = cache["lens"]
            known = None
            if cache.get("depth_fn") is not None:
                depth, known = cache["depth_fn"]((oy, ox, oy + self.height, ox + self.width))
            else:
                depth = cache["depth"][oy : oy + self.height, ox : ox + self.width].copy()
            if lens is None:
                return {"depth_m": depth, "coc_px": np.full_like(depth, np.nan)}
            coc = optics.coc_px(
                lens.focal_mm,
                cache["aperture"],
                cache["focus"],
                depth,
                cache["canvas"].pixel_mm * 1000,
            )
            out = {"depth_m": depth, "coc_px": np.asarray(coc, np.float32)}
            if known is not None:
                out["depth_known"] = known
            return out

    # ----- FrameSource ----------------------------------------------------------------------
    def close(self) -> None:
        self._closed = True
        self._gpu = None
        self._caches = {}
        for sensor in self.sensors.values():
            sensor.release_frames()
        self._device_layers = {}

    def __enter__(self) -> SimulatedCamera:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class SensorStream:
    """The frames of one sensor of a :class:`SimulatedCamera`, read beside the camera's own
    ``read()`` (the dual view: both sensors stream at once). A FrameSource.

    ``mode`` "builtin" or "m", or "other": the sensor the camera is not showing, decided per
    frame. The stream has its own frame counter, pacing, CUDA stream and device exposer (its
    frames carry their own ``Frame.sync``); the lenses, apertures, focus and scene are the
    camera's. ``close()`` stops the stream, not the camera.
    """

    def __init__(self, camera: SimulatedCamera, mode: str) -> None:
        self.camera = camera
        self.sensor = mode
        self.fps = camera.fps
        self.width, self.height = camera.width, camera.height
        self.name = f"{camera.name} ({mode})"
        self._seq = 0
        self._gpu: Any = None
        self._stream: Any = None
        self._last: tuple[dict[str, Any], tuple[int, int]] | None = None
        self._next_t = time.monotonic()
        self._closed = False

    @property
    def mode(self) -> str:
        """The sensor this stream reads now ("builtin" or "m")."""
        return self.camera.other_mode() if self.sensor == "other" else self.sensor

    @property
    def lens(self) -> Lens | None:
        return self.camera.lens_of(self.mode)

    @property
    def exposure(self) -> tuple[float, float]:
        return self.camera.exposure_of(self.mode)

    def set_exposure(self, time_s: float, iso: float) -> None:
        """This sensor's own exposure (the other keeps the camera's)."""
        self.camera.set_exposure(time_s, iso, mode=self.mode)

    def read(self) -> Frame:
        cam = self.camera
        if self._closed or cam._closed:
            from .base import SourceError

            raise SourceError(f"{self.name} is closed")
        if self.fps:
            now = time.monotonic()
            self._next_t = max(self._next_t + 1.0 / self.fps, now)
            if self._next_t > now:
                time.sleep(self._next_t - now)
        if cam.on_device and self._stream is None:
            from ..backend import get_xp

            self._stream = get_xp(cam.backend).cuda.Stream(non_blocking=True)
        with self._stream if self._stream is not None else contextlib.nullcontext():
            return cam._read(self.mode, owner=self)

    def truth(self) -> dict[str, np.ndarray]:
        """Ground truth of this stream's last frame (see :meth:`SimulatedCamera.truth`)."""
        if self._last is None:
            raise ValueError("no frame read yet: call read() first")
        return self.camera.truth(self._last)

    def close(self) -> None:
        self._closed = True
        self._gpu = None

    def __enter__(self) -> SensorStream:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
