"""Noise model of focus peaking: the photon-transfer model of a raw frame, from its metadata or
estimated from its pixels, and the variance-stabilising LUT built from it (step 1 of
:mod:`viewfinder.stages.peaking`)."""

from __future__ import annotations

import threading
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..backend import array_module, is_device_array, to_host
from ..frame import Frame, cfa_site_offsets, check_cfa, check_mosaic
from ..settings import check_range


@dataclass(frozen=True)
class NoiseModel:
    """Photon-transfer model: ``var(dn) = gain_dn_per_e * (dn - black) + read_noise_dn**2``."""

    gain_dn_per_e: float
    read_noise_dn: float

    def __post_init__(self) -> None:
        check_range("gain_dn_per_e", self.gain_dn_per_e, 0.0, 1e4)
        check_range("read_noise_dn", self.read_noise_dn, 0.0, 1e5)

    @classmethod
    def from_meta(cls, meta: dict) -> NoiseModel | None:
        noise = meta.get("noise") if isinstance(meta, dict) else None
        if not isinstance(noise, dict) or "gain_dn_per_e" not in noise:
            return None
        return cls(float(noise["gain_dn_per_e"]), float(noise.get("read_noise_dn", 0.0)))


#: Noise floor (DN): quantisation noise of an integer raw, sqrt(1/12).
QUANT_NOISE_DN = 0.2887


def stabilise_lut(bits: int, black: float, model: NoiseModel) -> np.ndarray:
    """Generalised Anscombe transform of every DN value, (2**bits,) float32.

    ``t(dn) = 2 s / (sqrt(g s + c) + sqrt(c))`` with ``s = dn - black``,
    ``c = 3/8 g**2 + read**2 + 1/12``: the stable form of ``2/g (sqrt(g s + c) - sqrt(c))``,
    whose noise is ~N(0, 1) everywhere and which tends to ``s / read`` as ``g -> 0``.
    """
    g = float(model.gain_dn_per_e)
    c = 0.375 * g * g + float(model.read_noise_dn) ** 2 + QUANT_NOISE_DN**2
    s = np.arange(1 << int(bits), dtype=np.float64) - float(black)
    return (2.0 * s / (np.sqrt(np.maximum(g * s + c, c * 1e-6)) + np.sqrt(c))).astype(np.float32)


#: Patch of a site plane whose variance is one sample of the noise: 4 rows (the row bands
#: NoiseTracker copies are 8 sensor rows, 4 per site plane) by 16 columns.
PATCH = (4, 16)
#: Per brightness band the variance is read at this quantile of the patches' variances: the
#: flattest patches, where texture adds least (texture only ever adds variance).
PATCH_QUANTILE = 0.1


def _patch_stats(raw: np.ndarray, cfa: str, black: float) -> tuple[np.ndarray, np.ndarray]:
    """Mean signal (DN above black) and high-pass variance of every 4x16 patch of every site
    plane; the high-pass ``p - (left + right) / 2`` has variance 1.5 sigma^2 on pure noise."""
    ph, pw = PATCH
    means, variances = [], []
    for dy, dx in cfa_site_offsets(cfa):
        p = raw[dy::2, dx::2].astype(np.float32)
        left, mid, right = p[:, :-2], p[:, 1:-1], p[:, 2:]
        hp = mid - 0.5 * (left + right)
        sig = (left + mid + right) / 3.0 - np.float32(black)
        h, w = hp.shape[0] // ph * ph, hp.shape[1] // pw * pw
        if h == 0 or w == 0:
            continue
        hb = hp[:h, :w].reshape(h // ph, ph, w // pw, pw)
        means.append(sig[:h, :w].reshape(h // ph, ph, w // pw, pw).mean(axis=(1, 3)).ravel())
        variances.append(hb.var(axis=(1, 3)).ravel() / 1.5)
    if not means:
        return np.zeros(0), np.zeros(0)
    return np.concatenate(means), np.concatenate(variances)


def _quantile_factor() -> float:
    """The PATCH_QUANTILE of pure-noise patch variances over the true variance (calibrated
    once on Gaussian noise through the same statistic: neighbouring high-pass values are
    correlated, so no chi-square table applies)."""
    rng = np.random.default_rng(12345)
    noise = rng.normal(1000.0, 10.0, (512, 1024)).astype(np.float32)
    _, v = _patch_stats(noise, "RGGB", 0.0)
    return float(np.quantile(v, PATCH_QUANTILE) / 100.0)


_FACTOR: float | None = None


def estimate_noise(raw: Any, cfa: str, black: float, white: float) -> NoiseModel:
    """Fit the photon-transfer model to a raw frame (or a band of whole rows of one).

    Flat patches: every 4x16 patch of each CFA site plane gives its mean signal and its
    high-pass variance; the patches are binned by signal in 16 bands, and each band's noise
    variance is a low quantile (10 %) of its patches' variances, corrected by that quantile's
    value on pure noise. Texture only adds variance, so the flattest patches of a band read
    the noise even on a detailed photograph (a median over all pixels read texture as noise:
    a gain twice too high and no read noise on a photo at ISO 3200). ``var = a + b * mean``
    is then fitted by weighted least squares with a, b >= 0.
    """
    global _FACTOR
    if _FACTOR is None:
        _FACTOR = _quantile_factor()
    raw = to_host(raw)
    check_mosaic(raw)
    cfa = check_cfa(cfa)
    span = max(float(white) - float(black), 1.0)
    mean, var = _patch_stats(np.asarray(raw), cfa, float(black))
    keep = (mean > -0.5 * span) & (mean < 0.9 * span)  # clipped sites carry no noise
    mean, var = mean[keep], var[keep]
    if mean.size < 32:
        return NoiseModel(0.0, QUANT_NOISE_DN)
    edges = np.quantile(mean, np.linspace(0.0, 1.0, 17))
    xs, vs, ws = [], [], []
    for lo, hi in zip(edges[:-1], edges[1:], strict=True):
        sel = (mean >= lo) & (mean <= hi)
        if sel.sum() < 16:
            continue
        xs.append(float(np.median(mean[sel])))
        vs.append(float(np.quantile(var[sel], PATCH_QUANTILE)) / _FACTOR)
        ws.append(float(sel.sum()))
    x, v = np.array(xs), np.array(vs)
    # a band's variance is known to a relative error ~ 1 / sqrt(patches): weight by the
    # inverse of its absolute error, so the dark bands (which fix the read noise) count
    w = np.sqrt(np.array(ws)) / np.maximum(v, 1e-6)
    if x.size >= 2 and np.ptp(x) > 1e-6:
        b, a = np.polyfit(x, v, 1, w=w)
        if b < 0:  # noise that does not grow with the signal: pure read noise
            a, b = float(np.average(v, weights=w**2)), 0.0
        elif a < 0:
            b, a = float(np.sum(w**2 * x * v) / max(np.sum(w**2 * x * x), 1e-12)), 0.0
    else:
        a, b = (float(v[0]) if v.size else 0.0), 0.0
    return NoiseModel(float(max(b, 0.0)), float(np.sqrt(max(a, 0.0))))


def noise_model_for(frame: Frame) -> NoiseModel:
    """The frame's noise model from ``meta["noise"]``, else estimated from its pixels."""
    model = NoiseModel.from_meta(frame.meta)
    if model is not None:
        return model
    return estimate_noise(frame.data, frame.cfa, frame.black_level, frame.white_level)


def _row_bands(raw: Any, bands: int = 16, rows: int = 8) -> np.ndarray:
    """``bands`` bands of ``rows`` whole rows spread over the frame, on the host (H', W)."""
    h = raw.shape[0]
    if h <= bands * rows:
        return to_host(raw)
    starts = (np.linspace(0, h - rows, bands).astype(np.int64) // 2) * 2
    idx = (starts[:, None] + np.arange(rows)[None, :]).ravel()
    if is_device_array(raw):  # every PeakingEngine.ESTIMATE_EVERY frames only, and a small copy
        return to_host(raw[array_module(raw).asarray(idx)])
    return np.asarray(raw)[idx]


_executor: ThreadPoolExecutor | None = None
_executor_lock = threading.Lock()


def _noise_worker() -> ThreadPoolExecutor:
    """The one background thread that runs noise estimates (made on first use)."""
    global _executor
    with _executor_lock:
        if _executor is None:
            _executor = ThreadPoolExecutor(1, thread_name_prefix="vf-noise")
        return _executor


class NoiseTracker:
    """The noise model of a stream of frames without one in their metadata, re-estimated off
    the frame path.

    Every ``every`` frames (by ``Frame.seq``) :meth:`model` takes the row bands of
    :func:`_row_bands` into a host buffer made here, without waiting: on the device, an
    asynchronous copy into pinned memory and an event after it; the bands go to a background
    thread (:func:`estimate_noise`, 0.1-0.5 s of host work) once that event is done, checked
    on later frames. Until the new model is ready :meth:`model` keeps returning the old one
    (``None`` before the first estimate of the stream is ready): no frame waits for it.
    """

    def __init__(
        self, xp: Any, frame_shape: tuple[int, int], every: int = 30, bands: int = 16, rows: int = 8
    ) -> None:
        h, w = (int(v) for v in frame_shape)
        self.xp, self.on_device = xp, xp is not np
        self.every = int(every)
        if h <= bands * rows:
            self._spans = [(0, h)]
        else:
            starts = (np.linspace(0, h - rows, bands).astype(np.int64) // 2) * 2
            self._spans = [(int(s), int(s) + rows) for s in starts]
        n = sum(e - s for s, e in self._spans)
        if self.on_device:
            from ..backend import cupyx_module

            self._host = cupyx_module(xp).empty_pinned((n, w), np.uint16)
            self._event = xp.cuda.Event(block=False, disable_timing=True)
        else:
            self._host = np.empty((n, w), np.uint16)
        self.current: NoiseModel | None = None
        self.estimates = 0  # models computed so far
        self.error: Exception | None = None  # of the last failed estimate (the model is kept)
        self._seq: int | None = None  # frame seq of the last capture
        self._landing: tuple | None = None  # (cfa, black, white) of a copy still in flight
        self._job: Future | None = None

    def model(self, frame: Frame) -> NoiseModel | None:
        """The newest finished estimate (None before the first); starts the next when due."""
        if self._job is not None and self._job.done():
            try:
                self.current = self._job.result()
                self.estimates += 1
                self.error = None
            except Exception as exc:  # keep the old model; the next capture retries
                self.error = exc
            self._job = None
        if self._landing is not None and self._event.done:
            self._submit(*self._landing)
            self._landing = None
        due = self._seq is None or abs(int(frame.seq) - self._seq) >= self.every
        if due and self._job is None and self._landing is None:
            self._seq = int(frame.seq)
            self._capture(frame)
        return self.current

    def _capture(self, frame: Frame) -> None:
        raw, host = frame.data, self._host
        args = (frame.cfa, float(frame.black_level), float(frame.white_level))
        at = 0
        if not self.on_device:
            raw = np.asarray(raw)
            if raw.dtype != host.dtype:  # no estimate reads the buffer now (none in flight)
                host = self._host = np.empty(host.shape, raw.dtype)
            for s, e in self._spans:
                host[at : at + e - s] = raw[s:e]
                at += e - s
            self._submit(*args)
            return
        if raw.dtype != host.dtype or not raw.flags.c_contiguous:  # the kernels' raw is dense
            raw = self.xp.ascontiguousarray(raw, dtype=host.dtype)
        for s, e in self._spans:  # whole rows of a C-contiguous raw: contiguous copies
            raw[s:e].get(out=host[at : at + e - s], blocking=False)
            at += e - s
        self._event.record()
        self._landing = args

    def _submit(self, cfa: str, black: float, white: float) -> None:
        estimator = globals()["estimate_noise"]  # looked up per call (tests inject a slow one)
        self._job = _noise_worker().submit(estimator, self._host, cfa, black, white)
