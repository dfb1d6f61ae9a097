"""All viewfinder assists behind one configure/process interface (the pipeline's assist stage).

Per frame, in order: peaking levels and the RAW-clip flag on the full-resolution raw, max-pooled
to the view (:mod:`.peaking`); the RAW histogram (:mod:`.histogram`); one pass over the clean
8-bit view for the display histogram and the scopes (:mod:`.scopes`), the zebra flags
(:mod:`.zebra`), false colour (:mod:`.falsecolor`) and the composite written into the view in
place; the focus magnifier (:mod:`.magnifier`). The host path is Numba/OpenCV (its view
pass in :mod:`viewfinder.schedules.cpu_assists`), the device path CUDA kernels
(kernels/assists.cu, histogram.cu, or the tiled pass kernels/tile.cu);
:func:`composite_reference` and the per-assist references define what both compute.

Composite order per view pixel: false colour replaces the image; peaking in grey mode turns
it grey (luma); peaking blends its colour at 50 / 75 / 100 % for levels 1 / 2 / 3; zebra
stripes go on top.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

import numpy as np

from ..backend import array_module, is_device_array
from ..frame import Frame
from ..schedules.cpu_assists import CpuViewPass
from .falsecolor import false_colour_lut, false_colour_reference
from .histogram import PinnedReadback, raw_histogram, raw_stats
from .magnifier import Magnifier
from .peaking import PEAKING_COLOURS, PeakingEngine
from .scopes import vectorscope_scales
from .zebra import luma8, stripes_reference, zebra_colours_reference, zebra_reference


@dataclass
class AssistOutputs:
    """What the assists give for one frame; a field is None when its assist is off.

    Arrays live on the pipeline's backend and stay valid until the next ``process``.

    Attributes
    ----------
    peaking : (h, w) uint8, levels 0..3 at view size (max-pooled from sensor resolution)
    zebra : (h, w) uint8 flags: bit 0 over, 1 under, 2-4 R/G/B clipped, 5 RAW clipped
    raw_histogram : (4, 2**bits) int64 NumPy, R, Gr, Gb, B (on the GPU: the previous frame's)
    raw_stats : dict (see :func:`viewfinder.stages.histogram.raw_stats`)
    view_histogram : (4, 256) int64, R, G, B, luma of the clean view
    false_colour : (h, w, 4) uint8
    waveform : (256, w) uint32; parade : (3, 256, w) uint32; vectorscope : (n, n) uint32
    magnifier : (mh, mw, 4) uint8
    """

    peaking: Any = None
    zebra: Any = None
    raw_histogram: Any = None
    raw_stats: dict | None = None
    view_histogram: Any = None
    false_colour: Any = None
    waveform: Any = None
    parade: Any = None
    vectorscope: Any = None
    magnifier: Any = None


def composite_reference(
    rgba: np.ndarray, pooled: np.ndarray, settings: Any, seq: int
) -> tuple[np.ndarray, np.ndarray | None, np.ndarray | None]:
    """The definition of the overlays: (shown RGBA (h, w, 4), zebra flags, false colour).

    ``rgba`` is the clean view; ``pooled`` the pooled peaking level (bits 0-1) and RAW-clip
    flag (bit 2); ``settings`` a :class:`viewfinder.Settings`.
    """
    p, z, fc = settings.peaking, settings.zebra, settings.false_colour
    out = rgba.copy()
    img = rgba[..., :3].astype(np.int64)
    flags = fcol = None
    if fc.enabled:
        fcol = false_colour_reference(rgba, fc.band_table())
        img = fcol[..., :3].astype(np.int64)
    if p.enabled:
        if p.mode == "grey":
            img = np.repeat(luma8(img)[..., None].astype(np.int64), 3, axis=2)
        level = (pooled & 3).astype(np.int64)
        a = np.array([0, 128, 192, 256])[level][..., None]
        colour = np.array(PEAKING_COLOURS[p.colour], np.int64)
        img = (img * (256 - a) + colour * a + 128) >> 8
    if z.enabled:
        flags = zebra_reference(rgba, (pooled & 4) > 0, z)
        draw = (flags > 0) & stripes_reference(flags.shape, z.phase(seq), z.stripe_width)
        img = np.where(draw[..., None], zebra_colours_reference(flags), img)
    out[..., :3] = img.astype(np.uint8)
    return out, flags, fcol


class Assists(CpuViewPass):
    """The assist stage: ``configure`` allocates every buffer, ``process`` only fills them."""

    def __init__(self) -> None:
        from concurrent.futures import ThreadPoolExecutor

        self._key: tuple | None = None
        self._worker = ThreadPoolExecutor(1, thread_name_prefix="vf-assists")
        self._lut_key: Any = None
        self._pending: tuple | None = None  # (frame, settings, layout key, raw-side job)

    def configure(
        self,
        xp: Any,
        frame_shape: tuple[int, int],
        view_shape: tuple[int, int],
        bits: int,
        settings: Any,
    ) -> None:
        """Allocate for frames of ``frame_shape`` (H, W) and views of ``view_shape`` (h, w)."""
        n = int(settings.scopes.vectorscope_size)
        key = (
            xp.__name__,
            tuple(frame_shape),
            tuple(view_shape),
            int(bits),
            n,
            settings.magnifier.buffer_key(),
        )
        if key == self._key:
            return
        h, w = view_shape
        self.xp, self.bits, self.on_gpu = xp, int(bits), xp is not np
        self.frame_shape, self.view_shape = tuple(frame_shape), tuple(view_shape)
        self.engine = PeakingEngine()
        # frames without a noise model get theirs estimated on a background thread
        self.engine.configure(xp, frame_shape, view_shape, bits, background_noise=True)
        self.zebra = xp.zeros((h, w), xp.uint8)
        self.peak = xp.zeros((h, w), xp.uint8)
        self.fc = xp.zeros((h, w, 4), xp.uint8)
        self.fc_lut = xp.zeros((256, 4), xp.uint8)
        self.view_hist = xp.zeros((4, 256), xp.int64)
        self.wave = xp.zeros((256, w), xp.uint32)
        self.parade = xp.zeros((3, 256, w), xp.uint32)
        self.vs = xp.zeros((n, n), xp.uint32)
        self.lum = np.empty((h, w), np.uint8)
        self.clean = np.empty((h, w), np.uint32)
        self.cells = np.empty(w, np.int32)
        self._pattern_key: tuple | None = None
        self.loc = np.empty((4, 16, 256), np.uint16)  # per-strip scope counters (h < 65536)
        self.raw_hist = xp.zeros((4, 1 << self.bits), xp.int64)
        self.readback = PinnedReadback(xp, (4, 1 << self.bits), np.int64)
        self.raw_dev = xp.empty(frame_shape, xp.uint16) if self.on_gpu else None
        self.magnifier = Magnifier()
        self.magnifier.configure(xp, frame_shape, bits, settings.magnifier)
        self._lut_key = None
        self._key = key

    def begin(self, frame: Frame, settings: Any) -> None:
        """Host path: start the raw side of ``frame`` (peaking and the RAW clip, which read
        only the raw) on the worker thread now, so that it runs beside the develop; the
        ``process`` call for the same frame and settings takes it over. Call after
        ``configure``. Does nothing on the device."""
        if self._key is None or self.on_gpu:
            return
        z = settings.zebra
        raw_white = float(frame.white_level) if (z.enabled and z.raw) else None
        peak = settings.peaking if settings.peaking.enabled else None
        hist = self.raw_hist if (settings.histogram.raw and peak is not None) else None
        job = self._worker.submit(self.engine.run, frame, peak, raw_white=raw_white, raw_hist=hist)
        self._pending = (frame, settings, self._key, job)

    def _raw_side_job(
        self, frame: Frame, settings: Any, peak: Any, raw_white: Any, hist: Any
    ) -> Any:
        """The worker's raw-side job for this frame: the one ``begin`` started, else a new
        one."""
        pending, self._pending = self._pending, None
        if pending is not None:
            p_frame, p_settings, key, job = pending
            if p_frame is frame and p_settings is settings and key == self._key:
                return job
            job.result()  # a stale one (not this frame): let it end before reusing buffers
        return self._worker.submit(self.engine.run, frame, peak, raw_white=raw_white, raw_hist=hist)

    def process(
        self,
        frame: Frame,
        scaling: Any,
        view_linear: Any,
        view_display: Any,
        view_rgba: Any,
        settings: Any,
        raw_side_done: bool = False,
    ) -> AssistOutputs:
        """Run the enabled assists; composite the overlays into ``view_rgba`` in place.

        ``raw_side_done`` (device only): the pipeline's tiled pass already wrote the pooled
        peaking / raw-clip map (``engine.pooled``) and the RAW histogram (``raw_hist``).
        """
        xp = getattr(self, "xp", None) or array_module(view_rgba)
        self.configure(xp, frame.shape, view_rgba.shape[:2], frame.bits, settings)
        p, z, hs, fc, sc = (
            settings.peaking,
            settings.zebra,
            settings.histogram,
            settings.false_colour,
            settings.scopes,
        )
        xp = self.xp
        if self.on_gpu and not is_device_array(frame.data):
            self.raw_dev.set(np.ascontiguousarray(frame.data, dtype=np.uint16))
            frame = replace(frame, data=self.raw_dev)
        raw_white = float(frame.white_level) if (z.enabled and z.raw) else None
        peak = p if p.enabled else None
        out = AssistOutputs()
        if fc.enabled and self._lut_key != fc.band_table():
            lut = false_colour_lut(fc.band_table())
            self.fc_lut[...] = xp.asarray(lut) if self.on_gpu else lut
            self._lut_key = fc.band_table()
        for flag, buf in (
            (hs.view, self.view_hist),
            (sc.waveform, self.wave),
            (sc.parade, self.parade),
            (sc.vectorscope, self.vs),
        ):
            if flag:
                buf.fill(0)
        view_work = any(
            (hs.view, sc.waveform, sc.parade, sc.vectorscope, z.enabled, fc.enabled, p.enabled)
        )
        if self.on_gpu:
            if raw_side_done:
                pooled = self.engine.pooled
            else:
                pooled = self._raw_side(frame, peak, raw_white, hs.raw)
            if view_work:
                self._view_pass_gpu(view_rgba, pooled, frame.seq, settings)
        else:
            # Peaking and the RAW clip run on the worker thread (started by begin() before the
            # develop when the pipeline calls it), counting the RAW histogram in the same pass
            # over the raw, while this one develops and does the scopes of the clean view:
            # Numba (nogil) releases the GIL, so the two cores share the work. The overlays
            # need both.
            hist_in_job = hs.raw and peak is not None
            job = self._raw_side_job(
                frame, settings, peak, raw_white, self.raw_hist if hist_in_job else None
            )
            if hs.raw and not hist_in_job:
                raw_histogram(frame.data, frame.cfa, frame.bits, out=self.raw_hist)
            if view_work:
                self._scopes_cpu(view_rgba, settings)
            pooled = job.result()
            if hist_in_job and not self.engine.hist_done:  # no noise model yet, tiny frames
                raw_histogram(frame.data, frame.cfa, frame.bits, out=self.raw_hist)
            if view_work:
                self._composite_cpu(view_rgba, pooled, frame.seq, settings)
        if hs.raw:
            self.readback.push(self.raw_hist)
            host = self.readback.latest()
            if host is not None:
                out.raw_histogram = host
                out.raw_stats = raw_stats(host, frame.black_level, frame.white_level, hs)
        out.peaking = self.peak if p.enabled else None
        out.zebra = self.zebra if z.enabled else None
        out.view_histogram = self.view_hist if hs.view else None
        out.false_colour = self.fc if fc.enabled else None
        out.waveform = self.wave if sc.waveform else None
        out.parade = self.parade if sc.parade else None
        out.vectorscope = self.vs if sc.vectorscope else None
        if settings.magnifier.enabled:
            out.magnifier = self.magnifier.process(frame, scaling, settings, self.engine)
        return out

    def _raw_side(self, frame: Frame, peak: Any, raw_white: float | None, raw_hist: bool) -> Any:
        pooled = self.engine.run(frame, peak, raw_white=raw_white)
        if raw_hist:
            raw_histogram(frame.data, frame.cfa, frame.bits, out=self.raw_hist)
        return pooled

    def _view_pass_gpu(self, rgba: Any, pooled: Any, seq: int, settings: Any) -> None:
        from ..kernels import get_kernel

        p, z, hs, fc, sc = (
            settings.peaking,
            settings.zebra,
            settings.histogram,
            settings.false_colour,
            settings.scopes,
        )
        i32, f32 = np.int32, np.float32
        h, w = self.view_shape
        ku, kv = vectorscope_scales(self.vs.shape[0])
        prgb = PEAKING_COLOURS[p.colour]
        get_kernel("assists", "vf_view_pass", xp=self.xp)(
            ((w + 31) // 32, (h + 7) // 8, 1),
            (32, 8, 1),
            (
                rgba,
                pooled,
                i32(w),
                i32(h),
                i32(sc.row_step),
                i32(hs.view),
                self.view_hist,
                i32(sc.waveform),
                self.wave,
                i32(sc.parade),
                self.parade,
                i32(sc.vectorscope),
                self.vs,
                i32(self.vs.shape[0]),
                f32(ku),
                f32(kv),
                i32(z.enabled),
                i32(1),
                i32(z.over_threshold()),
                i32(z.under_threshold()),
                i32(z.mode == "rgb"),
                i32(z.raw),
                i32(z.phase(seq)),
                i32(z.stripe_width),
                self.zebra,
                i32(fc.enabled),
                self.fc_lut,
                self.fc,
                i32(p.enabled),
                i32(prgb[0]),
                i32(prgb[1]),
                i32(prgb[2]),
                i32(p.mode == "grey"),
                self.peak,
            ),
        )
