"""The processing pipeline: raw frame in, view and assists out.

Reading order (what happens to a frame)::

    scaling = raw_scaling(frame, wb, ev)          # black, white, white balance, clip
    rgb     = demosaic(normalize(raw), method)    # bilinear | mhc | hq
    linear  = area_downscale(rgb @ ccm.T, view)   # camera RGB -> linear sRGB, view size
    display = tone(linear, curve)                 # sRGB / contrast
    image   = to_rgba8(display)
    view    = assists.process(...)                # peaking, zebra, histograms... over image

That chain, stage by stage, is the NumPy reference (:func:`develop_reference`). The live paths
fuse it: on the GPU one CUDA kernel per view pixel (``kernels/preview.cu``), on the CPU two
Numba passes (``schedules/cpu_preview.py``); no full-size RGB image is written for bilinear and
MHC. Buffers are made in ``configure`` (size or settings change), kernel arguments in
``commit`` (settings change), and ``process`` only launches work.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np

from . import backend as be
from .frame import CFA_CODES, Frame, cfa_colors
from .schedules.cuda_tile import TILE_MAX, TilePass, tile_size
from .settings import Settings
from .stages.color import apply_matrix, color_matrix_for
from .stages.demosaic import demosaic, hq_scratch_shape
from .stages.normalize import RawScaling, normalize, raw_scaling
from .stages.output import to_rgba8
from .stages.peaking_settings import FAR_WEIGHT
from .stages.resize import area_downscale, area_weights, view_size_for
from .stages.tone import tone, tone_lut

TONE_CODES = {"srgb": 0, "linear": 1, "contrast": 2}
METHOD_CODES = {"bilinear": 0, "mhc": 1}


@dataclass
class PipelineOutputs:
    """What one processed frame gives (arrays on the pipeline's backend).

    Attributes
    ----------
    view : (h, w, 4) uint8
        RGBA as the user sees it: the image with the assist overlays composited.
    image : (h, w, 4) uint8
        RGBA without overlays.
    linear, display : (h, w, 3) float32 or None
        The view in linear sRGB and in display encoding (0..1). The host paths always make
        them; the device path only with ``Pipeline(float_outputs=True)`` (they are 24 bytes a
        view pixel that nothing on the device reads), else they are None.
    timings_ms : dict
        Per-stage time in ms (CPU wall time; GPU event time of the previous frame on CuPy).
    assists : AssistOutputs or None
    path : str
        Which implementation ran ("cpu-fused", "cpu-reference", "cuda-tiled" (one pass),
        "cuda-fused" (per-stage kernels), "cuda-hq").
    """

    view: Any
    image: Any
    linear: Any
    display: Any
    frame: Frame
    backend: str
    path: str
    timings_ms: dict[str, float] = field(default_factory=dict)
    assists: Any = None


def develop_reference(frame: Frame, settings: Settings) -> tuple[Any, Any, Any]:
    """The stage-by-stage NumPy/CuPy reference: (linear (h,w,3), display (h,w,3), rgba)."""
    scaling = raw_scaling(frame, settings.white_balance, settings.exposure_ev)
    mosaic = normalize(frame.data, scaling)
    rgb = demosaic(mosaic, frame.cfa, settings.demosaic)
    rgb = apply_matrix(rgb, color_matrix_for(frame.meta, settings.color_matrix), out=rgb)
    view = view_size_for((frame.width, frame.height), settings.view_size)
    linear = area_downscale(rgb, view)
    display = tone(linear, settings.tone, settings.contrast)
    return linear, display, to_rgba8(display)


class Pipeline:
    """Raw frames to views. ``Pipeline(settings)``; ``process(frame) -> PipelineOutputs``.

    Thread safety: ``process()`` (and ``configure``/``commit``) must be called from one
    thread at a time, the one that owns the pipeline's buffers. ``update()`` and the
    ``settings`` setter may be called from any thread at any time: ``Settings`` is frozen,
    a change replaces the whole object (under a lock), and ``process()`` takes the current
    object once per frame and uses only that snapshot, so a frame never mixes old and new
    settings and a change applies from the next frame on.

    Parameters
    ----------
    settings : Settings, optional
    backend : {"numpy", "cupy", "cudasim"}, optional
        Default: :func:`viewfinder.backend.backend_name`.
    reference : bool
        Run the unfused stage chain (slow; for tests and checks).
    schedule : {"auto", "tiled", "per-stage"}
        On the device, for bilinear and MHC: "tiled" runs develop, peaking, RAW zebra and RAW
        histogram as one pass over the raw frame (``kernels/tile.cu``), "per-stage" runs a
        kernel per stage (the previous schedule; the same results bit for bit); "auto" is
        "tiled" wherever the view's scale allows it. Ignored on the host.
    float_outputs : bool, optional
        Also write the float views ``PipelineOutputs.linear`` and ``.display``. The host paths
        make them anyway (default True there); on the device the preview kernels skip them
        unless asked (default False: 75 MB a frame at 50 MP that the assists never read).
        Settable between frames (``pipe.float_outputs = True``).
    """

    def __init__(
        self,
        settings: Settings | None = None,
        backend: str | None = None,
        reference: bool = False,
        float_outputs: bool | None = None,
        schedule: str = "auto",
    ) -> None:
        self.backend = backend or be.backend_name()
        self.xp = be.get_xp(self.backend)
        #: True when the CUDA kernels run (CuPy on a GPU, or the cudasim stand-in on the CPU).
        self.on_device = be.is_device_backend(self.backend)
        self.reference = reference
        self.float_outputs = (not self.on_device) if float_outputs is None else bool(float_outputs)
        if schedule not in ("auto", "tiled", "per-stage"):
            raise ValueError(f"schedule must be auto, tiled or per-stage, got {schedule!r}")
        self.schedule = schedule
        self._settings = settings or Settings()
        self._settings_lock = threading.Lock()  # update() is a read-modify-write
        self._tile: TilePass | None = None
        self._layout: tuple | None = None
        self._params_key: tuple | None = None
        self._buffers: dict[str, Any] = {}
        self._assists = _make_assists()
        self._gpu_timer = _GpuTimer(self.xp) if self.on_device else None
        # events recorded after a device frame's last read, handed back to its producer
        # (a ring: re-recording one the producer already waited on is harmless)
        self._release_events = (
            [self.xp.cuda.Event(block=False, disable_timing=True) for _ in range(4)]
            if self.on_device
            else []
        )
        self._release_k = 0

    # -- settings ---------------------------------------------------------------------------
    @property
    def settings(self) -> Settings:
        return self._settings

    @settings.setter
    def settings(self, value: Settings) -> None:
        if not isinstance(value, Settings):
            raise ValueError(f"settings must be a viewfinder.Settings, got {type(value).__name__}")
        with self._settings_lock:
            self._settings = value

    def update(self, **changes: Any) -> Settings:
        """Replace some settings (validated); buffers and arguments follow on the next frame.

        Safe from any thread (see the class docstring); returns the new settings.
        """
        with self._settings_lock:
            self._settings = replace(self._settings, **changes)
            return self._settings

    # -- configure: buffers for a frame layout ---------------------------------------------
    def configure(self, frame: Frame, settings: Settings | None = None) -> None:
        """Buffers for ``frame``'s layout under ``settings`` (default: the current ones)."""
        s = settings or self._settings
        view_w, view_h = view_size_for((frame.width, frame.height), s.view_size)
        floats = self.float_outputs or not self.on_device  # the host paths always write them
        layout = (frame.shape, frame.bits, (view_w, view_h), s.demosaic, self.reference, floats)
        if layout == self._layout:
            return
        xp, H, W = self.xp, frame.height, frame.width
        iy, wy = area_weights(H, view_h)
        ix, wx = area_weights(W, view_w)
        b: dict[str, Any] = {
            "iy": xp.asarray(iy.astype(np.int32 if self.on_device else np.int64)),
            "wy": xp.asarray(wy),
            "wx": xp.asarray(wx),
            "ix": xp.asarray(ix.astype(np.int32 if self.on_device else np.int64)),
            "linear": xp.empty((view_h, view_w, 3), xp.float32) if floats else None,
            "display": xp.empty((view_h, view_w, 3), xp.float32) if floats else None,
            "image": xp.empty((view_h, view_w, 4), xp.uint8),
            "view": xp.empty((view_h, view_w, 4), xp.uint8),
        }
        if self.backend == "numpy" and not self.reference:
            if (view_h, view_w) == (H, W):  # 1:1: every site demosaiced
                b["padded"] = np.empty((H + 4, W + 4), np.float32)
            else:  # smaller: the area mean of the demosaic as one linear pass (cpu_preview)
                b["split"] = np.empty((H + 4, 2, (W + 4) // 2), np.float32)
        if self.on_device:
            b["raw"] = xp.empty((H, W), xp.uint16)
            self._uploads = _UploadRing(xp, (H, W))
            if s.demosaic == "hq":
                b["mosaic"] = xp.empty((H, W), xp.float32)
                b["rgb"] = xp.empty((H, W, 3), xp.float32)
                b["hq_scratch"] = xp.empty(hq_scratch_shape((H, W)), xp.float32)
        self._buffers = b
        self._layout = layout
        self._params_key = None
        if self._assists is not None:
            self._assists.configure(xp, (H, W), (view_h, view_w), frame.bits, s)
        # bilinear and MHC on the device: develop, peaking, RAW zebra and RAW histogram in one
        # tiled pass over the raw frame (schedules/cuda_tile.py), where the scale allows
        self._tile = None
        if (
            self.on_device
            and self.schedule != "per-stage"
            and s.demosaic != "hq"
            and self._assists is not None
            and tile_size((H, W), (view_h, view_w)) is not None
        ):
            self._tile = TilePass(xp, (H, W), (view_h, view_w), frame.bits)
        elif self.schedule == "tiled" and self.on_device and s.demosaic != "hq":
            raise ValueError(
                f"the tiled schedule does not apply to {W}x{H} -> {view_w}x{view_h} "
                f"(at most {TILE_MAX} sites a view pixel)"
            )

    # -- commit: settings and frame metadata to kernel arguments ----------------------------
    def commit(self, frame: Frame, settings: Settings | None = None) -> None:
        """Kernel arguments for ``settings`` (default: the current ones) and ``frame``."""
        s = settings or self._settings
        wb = s.white_balance or tuple(frame.meta.get("white_balance") or (1.0, 1.0, 1.0))
        ccm_src = s.color_matrix if s.color_matrix is not None else frame.meta.get("color_matrix")
        ccm_key = None if ccm_src is None else tuple(np.asarray(ccm_src, np.float64).ravel())
        blacks = frame.meta.get("black_levels")
        blacks_key = None if blacks is None else tuple(np.asarray(blacks, np.float64).ravel())
        key = (s, tuple(wb), ccm_key, frame.black_level, blacks_key, frame.white_level, frame.cfa)
        if key == self._params_key:
            return
        scaling = raw_scaling(frame, tuple(wb), s.exposure_ev)
        ccm = color_matrix_for(frame.meta, s.color_matrix)
        self._scaling = scaling
        self._ccm = ccm
        self._colors = cfa_colors(frame.cfa)
        if not self.on_device and s.demosaic in METHOD_CODES:
            from .schedules.cpu_preview import split_taps

            self._split_taps = split_taps(self._colors, METHOD_CODES[s.demosaic])
        self._site_scale = scaling.site_scales()
        self._site_black = scaling.site_blacks()  # per site: some cameras' blacks differ
        self._lut = tone_lut(s.tone, s.contrast)
        if self.on_device:
            self._ccm_dev = self.xp.asarray(ccm.ravel())
            self._site_black_dev = self.xp.asarray(self._site_black.ravel())
            self._site_scale_dev = self.xp.asarray(self._site_scale.ravel())
        if self._tile is not None:
            self._tile.commit(self._site_black, self._site_scale)
        self._params_key = key

    # -- process ------------------------------------------------------------------------------
    def process(self, frame: Frame) -> PipelineOutputs:
        """Develop ``frame`` into a view (and the assists' outputs)."""
        if not isinstance(frame, Frame):
            raise ValueError(f"process() takes a viewfinder.Frame, got {type(frame).__name__}")
        t0 = time.perf_counter()
        s = self._settings  # one snapshot for the whole frame: update() may run meanwhile
        self.configure(frame, s)
        self.commit(frame, s)
        timings: dict[str, float] = {}
        b = self._buffers
        if not self.on_device and self._assists is not None:
            self._assists.begin(frame, s)  # peaking on the assists' worker, beside the develop
        if self.on_device:
            path = self._develop_cuda(frame, timings, s)
        elif self.reference or s.demosaic == "hq":
            linear, display, rgba = develop_reference(frame, s)
            b["linear"][...], b["display"][...], b["image"][...] = linear, display, rgba
            path = "cpu-reference"
        else:
            self._develop_cpu(frame, s)
            path = "cpu-fused"
        t1 = time.perf_counter()
        timings.setdefault("develop", (t1 - t0) * 1e3)
        assists = None
        view = b["image"]
        if self._assists is not None:
            view = b["view"]
            view[...] = b["image"]
            # On the GPU the assists read the device copy of the raw, not the host frame.
            source = frame if self.backend == "numpy" else replace(frame, data=self._raw_dev)
            assists = self._assists.process(
                source,
                self._scaling,
                b["linear"],
                b["display"],
                view,
                s,
                raw_side_done=path == "cuda-tiled",
            )
            timings.setdefault("assists", (time.perf_counter() - t1) * 1e3)
            if self._gpu_timer is not None:
                self._gpu_timer.mark("assists")
        if frame.sync is not None:  # this stream's reads of the frame end here
            self._release_k = (self._release_k + 1) % len(self._release_events)
            event = self._release_events[self._release_k]
            event.record(self.xp.cuda.get_current_stream())
            frame.sync.release(event, self)
        timings.setdefault("total", (time.perf_counter() - t0) * 1e3)
        if self._gpu_timer is not None:
            timings.update(self._gpu_timer.previous())
        return PipelineOutputs(
            view=view,
            image=b["image"],
            linear=b["linear"],
            display=b["display"],
            frame=frame,
            backend=self.backend,
            path=path,
            timings_ms=timings,
            assists=assists,
        )

    def _develop_cpu(self, frame: Frame, s: Settings) -> None:
        from .schedules.cpu_preview import (
            normalize_padded,
            normalize_split,
            view_from_padded,
            view_from_split,
        )

        b = self._buffers
        raw = be.to_host(frame.data)
        taps = (b["iy"], b["wy"], b["ix"], b["wx"], self._ccm, self._lut)
        outs = (b["linear"], b["display"], b["image"])
        if "split" in b:
            normalize_split(raw, self._site_black, self._site_scale, b["split"])
            view_from_split(b["split"], *self._split_taps, *taps, *outs)
            return
        normalize_padded(raw, self._site_black, self._site_scale, b["padded"])
        view_from_padded(b["padded"], self._colors, METHOD_CODES[s.demosaic], *taps, *outs)

    def _develop_cuda(self, frame: Frame, timings: dict[str, float], s: Settings) -> str:
        from .kernels import get_kernel

        xp, b, sc = self.xp, self._buffers, self._scaling
        timer = self._gpu_timer
        timer.mark("start")
        raw = frame.data
        if frame.sync is not None:  # written on the source's stream: wait there, not here
            frame.sync.wait(xp.cuda.get_current_stream())
        if not be.is_device_array(raw):  # a host frame: through pinned memory, asynchronously
            self._uploads.upload(raw, b["raw"])
            raw = b["raw"]
        elif raw.dtype != xp.uint16 or not raw.flags.c_contiguous:
            b["raw"][...] = raw  # the kernels index a dense uint16 mosaic (a crop is strided)
            raw = b["raw"]
        self._raw_dev = raw
        timer.mark("upload")
        vh, vw = b["image"].shape[:2]
        block = (32, 8, 1)
        grid = ((vw + 31) // 32, (vh + 7) // 8, 1)
        tone_args = (
            np.int32(TONE_CODES[s.tone]),
            np.float32(s.contrast),
            np.int32(vw),
            np.int32(vh),
            b["linear"],
            b["display"],
            b["image"],
        )
        taps = (
            b["iy"],
            b["wy"],
            np.int32(b["iy"].shape[1]),
            b["ix"],
            b["wx"],
            np.int32(b["ix"].shape[1]),
            self._ccm_dev,
        )
        if self._tile is not None:
            self._tile_pass(replace(frame, data=raw), taps, tone_args, s)
            path = "cuda-tiled"
        elif s.demosaic == "hq":
            demosaic(
                normalize(raw, sc, out=b["mosaic"]),
                frame.cfa,
                "hq",
                out=b["rgb"],
                scratch=b["hq_scratch"],
            )
            kernel = get_kernel("preview", "vf_preview_rgb", xp=xp)
            kernel(
                grid,
                block,
                (b["rgb"], np.int32(frame.width), np.int32(frame.height), *taps, *tone_args),
            )
            path = "cuda-hq"
        else:
            kernel = get_kernel("preview", "vf_preview_raw", xp=xp)
            kernel(
                grid,
                block,
                (
                    raw,
                    np.int32(frame.width),
                    np.int32(frame.height),
                    np.int32(sc.cfa_code),
                    np.int32(METHOD_CODES[s.demosaic]),
                    self._site_black_dev,
                    self._site_scale_dev,
                    *taps,
                    *tone_args,
                ),
            )
            path = "cuda-fused"
        timer.mark("develop")
        return path

    def _tile_pass(self, frame: Frame, taps: tuple, tone_args: tuple, s: Settings) -> None:
        """The fused raw-side pass: the view, and the assists' pooled peaking / raw-clip map
        and RAW histogram, which ``Assists.process`` then takes as done."""
        a = self._assists
        a.configure(self.xp, frame.shape, self._buffers["image"].shape[:2], frame.bits, s)
        p, z, hs = s.peaking, s.zebra, s.histogram
        peaking = None
        if p.enabled:
            model = a.engine.model(frame)  # None until a first estimate is ready: no marks
            if model is not None:
                a.engine.commit(frame, model)
                # the thresholds of the view's pooling, as the engine's own paths use them
                thresholds = p.thresholds(a.engine.pool_area)
                peaking = (a.engine.lut_dev, FAR_WEIGHT, thresholds, p.floor_gain())
        hist = None
        if hs.raw:
            a.raw_hist.fill(0)
            hist = a.raw_hist
        iy, wy, _, ix, wx, _, ccm = taps
        self._tile.run(
            frame.data,
            CFA_CODES[frame.cfa],
            METHOD_CODES[s.demosaic],
            (iy, wy, ix, wx, ccm),
            (int(tone_args[0]), float(tone_args[1])),
            tone_args[4:7],
            peaking,
            float(frame.white_level) if (z.enabled and z.raw) else None,
            a.engine.pooled,
            hist,
        )


class _GpuTimer:
    """CUDA events per stage; elapsed times are read one frame late (no host wait).

    Two sets of events made once, used by alternate frames: a frame's marks are read on the
    next frame while that one records into the other set (no new Event per frame).
    """

    def __init__(self, xp: Any, marks: int = 6) -> None:
        self.xp = xp
        self._sets = [[xp.cuda.Event() for _ in range(marks)] for _ in range(2)]
        self._k = 0
        self._current: list[tuple[str, Any]] = []
        self._last: list[tuple[str, Any]] = []

    def mark(self, name: str) -> None:
        if name == "start":
            self._last, self._current = self._current, []
            self._k = 1 - self._k
        events = self._sets[self._k]
        if len(self._current) == len(events):  # more marks than made: once, then kept
            events.append(self.xp.cuda.Event())
        event = events[len(self._current)]
        event.record()
        self._current.append((name, event))

    def previous(self) -> dict[str, float]:
        marks = self._last
        if len(marks) < 2 or not marks[-1][1].done:
            return {}
        out = {}
        for (_, a), (name, bev) in zip(marks, marks[1:], strict=False):
            out[f"gpu_{name}"] = float(self.xp.cuda.get_elapsed_time(a, bev))
        out["gpu_total"] = float(self.xp.cuda.get_elapsed_time(marks[0][1], marks[-1][1]))
        return out


def _is_pinned(xp: Any, a: np.ndarray) -> bool:
    """Whether host array ``a`` lies in pinned (page-locked) memory."""
    check = getattr(xp.cuda, "is_array_pinned", None)  # cudasim tracks its pinned ranges
    if check is not None:
        return bool(check(a))
    obj = a
    for _ in range(8):  # CuPy: cupyx.empty_pinned arrays are views of a PinnedMemoryPointer
        obj = getattr(obj, "base", None)
        if obj is None:
            return False
        if type(obj).__name__ in ("PinnedMemoryPointer", "PinnedMemory"):
            return True
    return False


class _UploadRing:
    """Host frames to the device through a ring of pinned buffers (made in ``configure``).

    Per frame: the frame is copied into the next pinned buffer (skipped when the frame already
    lies in pinned memory, C-contiguous uint16), then an asynchronous ``set`` on the current
    stream and an event after it. Before a buffer is rewritten its previous upload must have
    finished: its event is checked and waited on only if not done (with three buffers, only
    when the GPU lags by three frames). From pageable memory CuPy's ``set`` would block the
    host for the whole copy (100 MB at 50 MP).
    """

    def __init__(self, xp: Any, shape: tuple[int, int], depth: int = 3) -> None:
        cupyx = be.cupyx_module(xp)
        self.xp = xp
        self.host = [cupyx.empty_pinned(shape, np.uint16) for _ in range(depth)]
        self.events = [xp.cuda.Event(block=False, disable_timing=True) for _ in range(depth)]
        self.used = [False] * depth
        self.next = 0
        self.waits = 0  # uploads that found their buffer's previous upload still running
        self.direct = 0  # frames uploaded straight from their own pinned memory

    def upload(self, raw: Any, dst: Any) -> None:
        stream = self.xp.cuda.get_current_stream()
        if raw.dtype == np.uint16 and raw.flags.c_contiguous and _is_pinned(self.xp, raw):
            dst.set(raw, stream=stream)
            self.direct += 1
            return
        i = self.next
        self.next = (i + 1) % len(self.host)
        event = self.events[i]
        if self.used[i] and not event.done:
            self.waits += 1
            event.synchronize()
        np.copyto(self.host[i], raw, casting="unsafe")
        dst.set(self.host[i], stream=stream)
        event.record(stream)
        self.used[i] = True


def _make_assists() -> Any:
    try:
        from .stages.assists import Assists
    except ModuleNotFoundError as exc:  # until the assists stage lands
        if exc.name != "viewfinder.stages.assists":
            raise
        return None
    return Assists()


__all__ = ["Pipeline", "PipelineOutputs", "RawScaling", "develop_reference"]
