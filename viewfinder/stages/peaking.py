"""Focus peaking at sensor resolution with a noise-adaptive threshold.

Method (per photosite of the raw mosaic, then max-pooled to the view):

1. Variance stabilisation: the generalised Anscombe transform of the photon-transfer model
   ``var(dn) = gain * (dn - black) + read**2`` (DN) maps every site to a value whose noise has
   unit standard deviation, whatever the ISO or the brightness. The model comes from
   ``frame.meta["noise"]`` (``{"gain_dn_per_e", "read_noise_dn"}``) or is estimated from the
   frame (:func:`estimate_noise`: MAD of a same-colour high-pass, per brightness band).
2. Luma at full resolution: a 3x3 binomial on the mosaic, which cancels the Bayer modulation
   (its response is zero at the Nyquist frequencies where the CFA puts colour).
3. Sharpness as darktable's focus peaking measures it (``src/common/focus_peaking.h``): the mean
   of the principal and diagonal gradient magnitudes at distance 1 minus 0.67 times the same at
   distance 2 (magnitudes as L1 norms here, |dx| + |dy|, which vectorise without a square
   root). A defocused edge, however contrasty, has a gradient at distance 2 about twice the one
   at distance 1, so plain local contrast scores below zero; only detail finer than ~2 px scores
   above. Negative scores are clipped to 0 (the negative side lobes beside a crisp step would
   otherwise cancel it), then a 3x3 box mean joins isolated dots and averages the noise down.
4. Three levels: the score above ``T``, ``2 T``, ``4 T``, where ``T`` is a number of noise
   standard deviations of the score (calibrated on unit white noise), set by ``sensitivity``.
   The 2 sites next to the frame border stay unmarked (their distance-2 taps are mirrored).
5. Max-pooling onto the view. A view pixel shows the highest level of its block of ``A``
   sites, so each threshold is raised with ``ln A`` (``pooled_thresholds``, calibrated on
   pooled unit white noise): a noise-only view pixel fires about as often as one site at 1:1,
   whatever the sensor size and window (a constant false-alarm rate per view pixel).
   :func:`peaking` (sensor resolution, no view) uses the 1:1 thresholds.

Because the threshold is in units of the frame's own noise, the defaults suit every ISO.

Modules: ``peaking_settings`` (the controls and the threshold's constants), ``peaking_noise``
(step 1: noise model and stabilising LUT), ``peaking_reference`` (the NumPy definition of steps
2 to 4, and the pooling onto the view); the schedules that run it live apart, in
``viewfinder/schedules/`` (``cpu_peaking.py``: the Numba fast path; ``cuda_tile.py``: the
GPU's fused pass) and ``kernels/assists.cu`` (the per-stage kernels). This one holds
the stage (:class:`PeakingEngine`, :func:`peaking`) and re-exports the others' public names.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ..backend import array_module, to_host
from ..frame import Frame, cfa_site_offsets
from ..schedules.cpu_peaking import (
    MaxPool,
    _box_levels_rows,
    _lut_rows,
    _mirror_table,
    _or_clip,
    _peak_fused,
    _score_rows,
)
from .peaking_noise import (
    QUANT_NOISE_DN,
    NoiseModel,
    NoiseTracker,
    _row_bands,
    estimate_noise,
    noise_model_for,
    stabilise_lut,
)
from .peaking_reference import (
    _binomial_ref,  # noqa: F401 - kept importable here: the tests build on the reference steps
    _clear_border,
    _gradient_ref,  # noqa: F401
    levels_from_score,
    maxpool_reference,
    peaking_reference,
    pool_ranges,
    score_reference,
    sharpness_reference,
)
from .peaking_settings import (
    BASE_SIGMAS,
    FAR_WEIGHT,
    NOISE_SCORE_MEAN,
    NOISE_SCORE_STD,
    PEAKING_COLOURS,
    PEAKING_MODES,
    PeakingSettings,
    pool_area,
    pooled_thresholds,
)

__all__ = [
    "BASE_SIGMAS",
    "FAR_WEIGHT",
    "NOISE_SCORE_MEAN",
    "NOISE_SCORE_STD",
    "PEAKING_COLOURS",
    "PEAKING_MODES",
    "QUANT_NOISE_DN",
    "MaxPool",
    "NoiseModel",
    "PeakingEngine",
    "PeakingSettings",
    "estimate_noise",
    "levels_from_score",
    "maxpool_reference",
    "noise_model_for",
    "peaking",
    "peaking_reference",
    "pool_area",
    "pool_ranges",
    "pooled_thresholds",
    "score_reference",
    "sharpness_reference",
    "stabilise_lut",
]


def peaking(
    frame: Frame,
    settings: PeakingSettings | None = None,
    view_shape: tuple[int, int] | None = None,
) -> np.ndarray:
    """Focus-peaking levels of ``frame`` at sensor resolution.

    Parameters
    ----------
    frame : Frame
        Raw frame; ``meta["noise"]`` gives the noise model when known.
    settings : PeakingSettings, optional
        Default: sensitivity 0.5, which suits every ISO (the threshold follows the noise).
    view_shape : (h, w), optional
        The view these levels are to be max-pooled onto: the thresholds are then those of
        its pooling (:func:`pool_area`), as the viewer's stage uses them. Default: the
        frame's own shape (1:1 thresholds).

    Returns
    -------
    (H, W) uint8 (NumPy for a host frame, CuPy for a device frame): 0 = nothing, 1..3 strength.
    """
    if not isinstance(frame, Frame):
        raise ValueError(f"peaking() takes a viewfinder.Frame, got {type(frame).__name__}")
    engine = PeakingEngine()
    engine.configure(array_module(frame.data), frame.shape, frame.shape, frame.bits)
    if view_shape is not None:  # levels at sensor size, thresholds of the view's pooling
        engine.pool_area = pool_area(frame.shape, tuple(view_shape))
    return engine.run(frame, settings or PeakingSettings(enabled=True), full_res=True)


def _site_table(cfa: str) -> np.ndarray:
    """Row of the RAW histogram (R, Gr, Gb, B) of each site of the 2x2 block, (2, 2) int64."""
    table = np.empty((2, 2), np.int64)
    for k, (dy, dx) in enumerate(cfa_site_offsets(cfa)):
        table[dy, dx] = k
    return table


# -- the stage: Numba + OpenCV on the host (schedules/cpu_peaking.py), CUDA kernels
# (kernels/assists.cu) on the device


class PeakingEngine:
    """Peaking with buffers made once per layout; NumPy or CuPy by the raw's module."""

    #: frames between two noise estimates when the frame carries no noise model
    ESTIMATE_EVERY = 30

    def configure(
        self,
        xp: Any,
        frame_shape: tuple[int, int],
        view_shape: tuple[int, int],
        bits: int,
        background_noise: bool = False,
    ) -> None:
        """Buffers for ``frame_shape`` frames pooled to ``view_shape``. ``background_noise``:
        frames without a noise model get one estimated on a background thread
        (:class:`NoiseTracker`; the stage's setting), else estimated in :meth:`model` itself
        (one-off calls such as :func:`peaking`)."""
        h, w = frame_shape
        self.xp, self.bits = xp, int(bits)
        self.frame_shape, self.view_shape = tuple(frame_shape), tuple(view_shape)
        #: sites pooled into a view pixel: the thresholds rise with it (``pooled_thresholds``)
        self.pool_area = pool_area(self.frame_shape, self.view_shape)
        self.on_gpu = xp is not np
        self.lum = xp.empty((h, w), xp.float32)
        self.score = xp.empty((h, w), xp.float32)
        self.pooled = xp.zeros(view_shape, xp.uint8)
        self._lut_key: tuple | None = None
        self._model: NoiseModel | None = None
        self._model_seq = -(10**9)
        self.noise = None
        if background_noise:
            self.noise = NoiseTracker(xp, frame_shape, self.ESTIMATE_EVERY)
        if self.on_gpu:
            from ..backend import cupyx_module

            self.lut_dev = xp.empty(1 << self.bits, xp.float32)
            # the LUT goes up from pinned memory, asynchronously: a pageable set() would make
            # the frame thread wait for the stream whenever the noise model changes
            self._lut_host = cupyx_module(xp).empty_pinned(1 << self.bits, np.float32)
            self._lut_event = xp.cuda.Event(block=False, disable_timing=True)
            self._lut_sent = False
        else:
            self.t = np.empty((h, w), np.float32)
            self.levels = np.empty((h, w), np.uint8)
            self.pool = MaxPool(frame_shape, view_shape)
            self._mx, self._my = _mirror_table(w), _mirror_table(h)
            # the frame path: one pass down the frame with a few rows of each step (rows of
            # the stabilised frame, luma, score; a row of flags, the pooled rows)
            f32 = np.float32
            # two bands of view rows on two threads (this one and a helper) when there are
            # enough rows: the pass is the longer side of a frame beside the develop
            self._bands = 2 if (h >= 64 and view_shape[0] >= 8) else 1
            self._rings = [
                (
                    np.empty((3, w + 2), f32),
                    np.empty((5, w + 4), f32),
                    np.empty((3, w + 2), f32),
                    np.empty((2, w), np.uint8),
                )
                for _ in range(self._bands)
            ]
            self._no_hist = np.zeros((4, 1), np.int64)
            self._band_hist = np.zeros((4, 1 << self.bits), np.int64)
            self._helper = getattr(self, "_helper", None)  # made on first use, kept

    def model(self, frame: Frame) -> NoiseModel | None:
        """Noise model: the frame's, else an estimate refreshed every ESTIMATE_EVERY frames.

        With ``background_noise`` the estimate runs on another thread and this returns the
        latest finished one: ``None`` until the first is ready (peaking marks nothing then).
        """
        m = NoiseModel.from_meta(frame.meta)
        if m is not None:
            return m
        if self.noise is not None:
            return self.noise.model(frame)
        if self._model is None or abs(frame.seq - self._model_seq) >= self.ESTIMATE_EVERY:
            self._model = estimate_noise(
                _row_bands(frame.data), frame.cfa, frame.black_level, frame.white_level
            )
            self._model_seq = frame.seq
        return self._model

    def commit(self, frame: Frame, model: NoiseModel | None = None) -> np.ndarray:
        model = model or self.model(frame)
        key = (model, float(frame.black_level), self.bits)
        if key != self._lut_key:
            self.lut = stabilise_lut(self.bits, frame.black_level, model)
            if self.on_gpu:
                if self._lut_sent and not self._lut_event.done:  # the last upload: rare
                    self._lut_event.synchronize()
                np.copyto(self._lut_host, self.lut)
                stream = self.xp.cuda.get_current_stream()
                self.lut_dev.set(self._lut_host, stream=stream)
                self._lut_event.record(stream)
                self._lut_sent = True
            self._lut_key = key
        return self.lut

    def run(
        self,
        frame: Frame,
        settings: PeakingSettings | None,
        full_res: bool = False,
        raw_white: float | None = None,
        model: NoiseModel | None = None,
        raw_hist: np.ndarray | None = None,
    ) -> Any:
        """Pooled flags at view size: bits 0-1 the peaking level (``settings`` None: 0), bit 2
        set where a photosite of the view pixel's block reaches ``raw_white`` (None: never).
        ``full_res`` (host only): return the sensor-size levels instead, unpooled (with the
        thresholds of the configured view's pooling, :attr:`pool_area`). ``model``
        overrides the frame's noise model (the magnifier passes the whole frame's).

        ``raw_hist`` (host, (4, 2**bits) int64): also count the RAW histogram into it
        (:func:`~viewfinder.stages.histogram.raw_histogram`'s result) in the same pass over
        the raw when the frame path runs with levels; ``hist_done`` says whether it did (else
        the caller counts it)."""
        self.hist_done = False
        if settings is not None:
            model = model or self.model(frame)
            if model is None:  # the first noise estimate is not ready: no marks yet
                settings = None
            else:
                self.commit(frame, model)
        if settings is None and raw_white is None:
            self.pooled.fill(0)
            return self.pooled
        if self.on_gpu:
            return self._run_gpu(frame, settings, raw_white)
        return self._run_cpu(frame, settings, full_res, raw_white, raw_hist)

    def _run_cpu(
        self,
        frame: Frame,
        settings: PeakingSettings | None,
        full_res: bool,
        raw_white: float | None,
        raw_hist: np.ndarray | None = None,
    ) -> np.ndarray:
        import cv2

        raw = to_host(frame.data)
        if not full_res and min(raw.shape) >= 8:
            count = (
                raw_hist is not None
                and settings is not None
                and raw.dtype in (np.uint8, np.uint16)
                and raw_hist.shape == (4, self.lut.size)
            )
            return self._run_fused(raw, settings, raw_white, raw_hist if count else None, frame.cfa)
        if settings is None:
            self.levels.fill(0)
        else:
            _lut_rows(raw, self.lut, self.t)
            k = np.array([0.25, 0.5, 0.25], np.float32)
            cv2.sepFilter2D(
                self.t, cv2.CV_32F, k, k, dst=self.lum, borderType=cv2.BORDER_REFLECT_101
            )
            mx, my = self._mx, self._my
            _score_rows(self.lum, mx, my, np.float32(FAR_WEIGHT), self.score)
            t1, t2, t3 = (np.float32(t) for t in settings.thresholds(self.pool_area))
            fg = settings.floor_gain()
            _box_levels_rows(self.score, self.lum, mx, my, t1, t2, t3, fg, self.levels)
            _clear_border(self.levels)
            if full_res:
                return self.levels
        if raw_white is None:
            return self.pool(self.levels, self.pooled)
        # bit 2: a photosite at or above white; pooled as the kernel does (max level, OR clip)
        _or_clip(raw, raw.dtype.type(min(np.ceil(raw_white), np.iinfo(raw.dtype).max)), self.levels)
        return self.pool(self.levels, self.pooled, flags=True)

    def _run_fused(
        self,
        raw: np.ndarray,
        settings: PeakingSettings | None,
        raw_white: float | None,
        raw_hist: np.ndarray | None,
        cfa: str,
    ) -> np.ndarray:
        f32 = np.float32
        t1 = t2 = t3 = fg = f32(0.0)
        if settings is not None:
            t1, t2, t3 = (f32(t) for t in settings.thresholds(self.pool_area))
            fg = f32(settings.floor_gain())
        white = raw.dtype.type(0)
        if raw_white is not None:
            white = raw.dtype.type(min(np.ceil(raw_white), np.iinfo(raw.dtype).max))
        lut = self.lut if settings is not None else np.zeros(1, f32)
        if raw_hist is not None:
            raw_hist.fill(0)
        p = self.pool
        sites = _site_table(cfa)
        common = (raw, lut, f32(FAR_WEIGHT), t1, t2, t3, fg, settings is not None)
        common += (raw_white is not None, white, p._ys, p._ye, p._xs, p._xe)
        count = raw_hist is not None
        n = self.pooled.shape[0]
        if self._bands == 1:
            hist = raw_hist if count else self._no_hist
            _peak_fused(*common, *self._rings[0], self.pooled, count, hist, sites, 0, n)
        else:  # the lower band on the helper thread (Numba releases the GIL), the upper here
            if self._helper is None:
                from concurrent.futures import ThreadPoolExecutor

                self._helper = ThreadPoolExecutor(1, thread_name_prefix="vf-peaking")
            mid = n // 2
            hist_b = self._band_hist if count else self._no_hist
            if count:
                hist_b.fill(0)
            lower = self._helper.submit(
                _peak_fused, *common, *self._rings[1], self.pooled, count, hist_b, sites, mid, n
            )
            hist = raw_hist if count else self._no_hist
            _peak_fused(*common, *self._rings[0], self.pooled, count, hist, sites, 0, mid)
            lower.result()
            if count:
                raw_hist += hist_b
        self.hist_done = raw_hist is not None
        return self.pooled

    def _run_gpu(
        self, frame: Frame, settings: PeakingSettings | None, raw_white: float | None
    ) -> Any:
        from ..kernels import get_kernel

        i32, f32 = np.int32, np.float32
        raw = frame.data
        if raw.dtype != np.uint16 or not raw.flags.c_contiguous:  # the kernels read uint16
            raw = self.xp.ascontiguousarray(raw, dtype=self.xp.uint16)
        (H, W), (h, w) = self.frame_shape, self.view_shape
        block = (32, 8, 1)
        grid = ((W + 31) // 32, (H + 7) // 8, 1)
        thresholds, fg = (0.0, 0.0, 0.0), np.float32(0.0)
        if settings is not None:
            get_kernel("assists", "vf_peak_luma", xp=self.xp)(
                grid, block, (raw, i32(W), i32(H), self.lut_dev, i32(self.lut_dev.size), self.lum)
            )
            get_kernel("assists", "vf_peak_score", xp=self.xp)(
                grid, block, (self.lum, i32(W), i32(H), f32(FAR_WEIGHT), self.score)
            )
            thresholds, fg = settings.thresholds(self.pool_area), settings.floor_gain()
        get_kernel("assists", "vf_peak_pool", xp=self.xp)(
            ((w + 31) // 32, (h + 7) // 8, 1),
            block,
            (
                self.score,
                self.lum,
                raw,
                i32(W),
                i32(H),
                i32(w),
                i32(h),
                i32(settings is not None),
                *(f32(t) for t in thresholds),
                f32(fg),
                i32(raw_white is not None),
                f32(raw_white if raw_white is not None else 0.0),
                self.pooled,
            ),
        )
        return self.pooled
