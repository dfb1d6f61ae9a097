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

Because the threshold is in units of the frame's own noise, the defaults suit every ISO.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
from numba import njit

from ..backend import array_module, is_device_array, to_host
from ..frame import Frame, cfa_site_offsets, check_cfa, check_mosaic
from ..settings import check_choice, check_range

PEAKING_COLOURS: dict[str, tuple[int, int, int]] = {
    "red": (255, 0, 0),
    "yellow": (255, 230, 0),
    "blue": (40, 90, 255),
    "green": (0, 255, 0),
    "white": (255, 255, 255),
}
PEAKING_MODES: tuple[str, ...] = ("colour", "grey")
#: Weight of the distance-2 gradient (darktable's constant).
FAR_WEIGHT = 0.67
#: Mean and standard deviation of the (clipped, box-filtered) sharpness score on unit white
#: noise, measured with :func:`sharpness_reference` on 2048x2048 N(0, 1) samples (the fraction
#: of pure-noise pixels above mean + k std is 8.4e-3, 1.5e-3, 2.1e-4, 2.3e-5 for k = 3, 4, 5, 6).
NOISE_SCORE_MEAN = 0.2876
NOISE_SCORE_STD = 0.1477
#: Threshold of level 1, in score standard deviations, at sensitivity 0.5.
BASE_SIGMAS = 5.0


@dataclass(frozen=True)
class PeakingSettings:
    """Focus peaking controls.

    Attributes
    ----------
    enabled : bool
    sensitivity : float in [0, 1]
        0.5 marks detail 5 noise sigmas above the noise score; every 0.25 halves or doubles it.
    colour : {"red", "yellow", "blue", "green", "white"}
    mode : {"colour", "grey"}
        Colour over the image, or colour over a grey (luma) copy of it.
    min_contrast : float in [0, 0.2]
        Weber-contrast floor (default 2 %): at low ISO the noise is so low that faint residual
        detail of a defocused area (a disc PSF passes some fine detail) would clear a
        noise-only threshold; the floor asks for this much detail contrast as well.
    """

    enabled: bool = False
    sensitivity: float = 0.5
    colour: str = "red"
    mode: str = "colour"
    min_contrast: float = 0.02

    def __post_init__(self) -> None:
        check_range("peaking sensitivity", self.sensitivity, 0.0, 1.0)
        check_range("peaking min_contrast", self.min_contrast, 0.0, 0.2)
        check_choice("peaking colour", self.colour, tuple(PEAKING_COLOURS))
        check_choice("peaking mode", self.mode, PEAKING_MODES)

    def thresholds(self) -> tuple[float, float, float]:
        """Score thresholds of levels 1, 2 and 3 (in stabilised-noise units)."""
        k = BASE_SIGMAS * 2.0 ** (4.0 * (0.5 - float(self.sensitivity)))
        t1 = NOISE_SCORE_MEAN + k * NOISE_SCORE_STD
        return (t1, 2.0 * t1, 4.0 * t1)

    def floor_gain(self) -> np.float32:
        """Level-1 floor per unit of stabilised luma: ``min_contrast / 2`` (as d t / t = dS /
        (2 S) for shot noise), scaled by the sensitivity like the noise thresholds."""
        k = 2.0 ** (4.0 * (0.5 - float(self.sensitivity)))
        return np.float32(0.5 * float(self.min_contrast) * k)


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


def estimate_noise(raw: Any, cfa: str, black: float, white: float) -> NoiseModel:
    """Fit the photon-transfer model to a raw frame (or a band of whole rows of one).

    Per CFA site plane, the high-pass ``p - (left + right) / 2`` (noise std ``sqrt(1.5)`` sigma)
    is binned by the local mean in 16 bands; each band's variance is the squared MAD estimate,
    robust to edges; ``var = a + b * mean`` is fitted by weighted least squares with a, b >= 0.
    """
    raw = to_host(raw)
    check_mosaic(raw)
    cfa = check_cfa(cfa)
    span = max(float(white) - float(black), 1.0)
    hp_all, mean_all = [], []
    for dy, dx in cfa_site_offsets(cfa):
        p = raw[dy::2, dx::2].astype(np.float32)
        left, mid, right = p[:, :-2], p[:, 1:-1], p[:, 2:]
        hp_all.append((mid - 0.5 * (left + right)).ravel())
        mean_all.append(((left + mid + right) / 3.0 - float(black)).ravel())
    hp = np.concatenate(hp_all)
    mean = np.concatenate(mean_all)
    keep = (mean > -0.5 * span) & (mean < 0.95 * span)  # clipped sites carry no noise
    hp, mean = hp[keep], mean[keep]
    if hp.size < 64:
        return NoiseModel(0.0, QUANT_NOISE_DN)
    edges = np.quantile(mean, np.linspace(0.0, 1.0, 17))
    xs, vs, ws = [], [], []
    for lo, hi in zip(edges[:-1], edges[1:], strict=True):
        sel = (mean >= lo) & (mean <= hi)
        if sel.sum() < 32:
            continue
        h = hp[sel]
        mad = np.median(np.abs(h - np.median(h)))
        xs.append(float(np.median(mean[sel])))
        vs.append((1.4826 * mad) ** 2 / 1.5)
        ws.append(float(sel.sum()))
    x, v, w = np.array(xs), np.array(vs), np.sqrt(np.array(ws))
    if x.size >= 2 and np.ptp(x) > 1e-6:
        b, a = np.polyfit(x, v, 1, w=w)
        if b < 0:  # noise that does not grow with the signal: pure read noise
            a, b = float(np.average(v, weights=w)), 0.0
        elif a < 0:
            b, a = float(np.sum(w * x * v) / max(np.sum(w * x * x), 1e-12)), 0.0
    else:
        a, b = (float(v[0]) if v.size else 0.0), 0.0
    return NoiseModel(float(max(b, 0.0)), float(np.sqrt(max(a, 0.0))))


def noise_model_for(frame: Frame) -> NoiseModel:
    """The frame's noise model from ``meta["noise"]``, else estimated from its pixels."""
    model = NoiseModel.from_meta(frame.meta)
    if model is not None:
        return model
    return estimate_noise(frame.data, frame.cfa, frame.black_level, frame.white_level)


# -- reference (pure NumPy) ---------------------------------------------------------------------


def _binomial_ref(t: np.ndarray) -> np.ndarray:
    p = np.pad(t, 1, mode="reflect")
    v = 0.25 * p[:-2] + 0.5 * p[1:-1] + 0.25 * p[2:]
    return 0.25 * v[:, :-2] + 0.5 * v[:, 1:-1] + 0.25 * v[:, 2:]


def _gradient_ref(lp: np.ndarray, d: int, h: int, w: int) -> np.ndarray:
    def at(dy: int, dx: int) -> np.ndarray:
        return lp[2 + dy : 2 + dy + h, 2 + dx : 2 + dx + w]

    principal = np.abs(at(0, d) - at(0, -d)) + np.abs(at(d, 0) - at(-d, 0))
    diagonal = np.abs(at(d, d) - at(-d, -d)) + np.abs(at(d, -d) - at(-d, d))
    return principal + diagonal


def score_reference(t: np.ndarray) -> np.ndarray:
    """Clipped sharpness score of a stabilised mosaic ``t`` (H, W), before the box, float32."""
    t = np.asarray(t, dtype=np.float32)
    h, w = t.shape
    lp = np.pad(_binomial_ref(t), 2, mode="reflect")
    far = np.float32(FAR_WEIGHT)
    score = np.float32(0.5) * (_gradient_ref(lp, 1, h, w) - far * _gradient_ref(lp, 2, h, w))
    return np.maximum(score, np.float32(0.0))


def sharpness_reference(t: np.ndarray) -> np.ndarray:
    """Box-filtered sharpness score of a stabilised mosaic ``t`` (H, W) float -> (H, W) float32."""
    score = score_reference(t)
    h, w = score.shape
    sp = np.pad(score, 1, mode="reflect")
    box = sum(
        sp[1 + dy : 1 + dy + h, 1 + dx : 1 + dx + w] for dy in (-1, 0, 1) for dx in (-1, 0, 1)
    )
    return (box / np.float32(9.0)).astype(np.float32)


def levels_from_score(
    score: np.ndarray,
    thresholds: tuple[float, float, float],
    lum: np.ndarray | None = None,
    floor_gain: float = 0.0,
) -> np.ndarray:
    """0..3 levels, (H, W) uint8: level k where the score exceeds ``max(t_k, 2**(k-1) f)``,
    ``f = floor_gain * max(lum, 0)`` the contrast floor (none without ``lum``)."""
    t1, t2, t3 = (np.float32(t) for t in thresholds)
    f = np.zeros_like(score) if lum is None else np.float32(floor_gain) * np.maximum(lum, 0)
    levels = (
        (score > np.maximum(t1, f)).astype(np.uint8)
        + (score > np.maximum(t2, np.float32(2) * f))
        + (score > np.maximum(t3, np.float32(4) * f))
    ).astype(np.uint8)
    _clear_border(levels)
    return levels


def _clear_border(levels: np.ndarray) -> None:
    """No marks within 2 sites of the frame border: the distance-2 taps are mirrored there,
    which turns a ramp (vignetting, a lens-edge falloff) into an apparent sharp ridge."""
    levels[:2] = 0
    levels[-2:] = 0
    levels[:, :2] = 0
    levels[:, -2:] = 0


def peaking_reference(
    raw: np.ndarray, bits: int, black: float, model: NoiseModel, settings: PeakingSettings
) -> np.ndarray:
    """Peaking levels of a raw mosaic, the plain NumPy definition, (H, W) uint8 in 0..3."""
    lut = stabilise_lut(bits, black, model)
    t = lut[np.minimum(np.asarray(raw), lut.size - 1)]
    return levels_from_score(
        sharpness_reference(t), settings.thresholds(), _binomial_ref(t), settings.floor_gain()
    )


def pool_ranges(src: int, dst: int) -> tuple[np.ndarray, np.ndarray]:
    """Source index ranges ``[start, stop)`` of each of ``dst`` pooled cells, (dst,) int64 each.

    Cell ``j`` covers ``[floor(j src / dst), max(floor((j+1) src / dst), start + 1))``: a
    partition when downscaling, nearest-neighbour when upscaling.
    """
    j = np.arange(dst, dtype=np.int64)
    start = j * src // dst
    stop = np.maximum((j + 1) * src // dst, start + 1)
    return start, stop


def maxpool_reference(a: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """Max over each view pixel's sensor block (:func:`pool_ranges`), (h, w)."""
    ys, ye = pool_ranges(a.shape[0], shape[0])
    xs, xe = pool_ranges(a.shape[1], shape[1])
    out = np.empty(shape, dtype=a.dtype)
    for i in range(shape[0]):
        rows = a[ys[i] : ye[i]].max(axis=0)
        for j in range(shape[1]):
            out[i, j] = rows[xs[j] : xe[j]].max()
    return out


def peaking(frame: Frame, settings: PeakingSettings | None = None) -> np.ndarray:
    """Focus-peaking levels of ``frame`` at sensor resolution.

    Parameters
    ----------
    frame : Frame
        Raw frame; ``meta["noise"]`` gives the noise model when known.
    settings : PeakingSettings, optional
        Default: sensitivity 0.5, which suits every ISO (the threshold follows the noise).

    Returns
    -------
    (H, W) uint8 (NumPy for a host frame, CuPy for a device frame): 0 = nothing, 1..3 strength.
    """
    if not isinstance(frame, Frame):
        raise ValueError(f"peaking() takes a viewfinder.Frame, got {type(frame).__name__}")
    engine = PeakingEngine()
    engine.configure(array_module(frame.data), frame.shape, frame.shape, frame.bits)
    return engine.run(frame, settings or PeakingSettings(enabled=True), full_res=True)


# -- fast paths: Numba + OpenCV on the host, CUDA kernels (kernels/assists.cu) on the device -----

# Serial Numba on purpose: on the 2-core target, OpenMP-parallel loops next to OpenCV's own
# thread pool ran 5-8x slower than one vectorised thread (measured); OpenCV parallelises the
# filters, and the assist stage runs this raw side on a second thread (nogil).
_njit = njit(cache=True, fastmath=True, boundscheck=False, nogil=True)


@_njit
def _lut_rows(raw, lut, out):  # pragma: no cover - compiled
    top = lut.size - 1
    for y in range(raw.shape[0]):
        r, o = raw[y], out[y]
        for x in range(raw.shape[1]):
            o[x] = lut[min(r[x], top)]


@_njit
def _score_px(lum, y, x, mx, my, far):  # pragma: no cover - compiled
    # Mirrored (reflect-101) taps; mx/my rows: -1, +1, -2, +2.
    g = np.float32(0.0)
    for d in range(2):
        n, s, w, e = my[2 * d, y], my[2 * d + 1, y], mx[2 * d, x], mx[2 * d + 1, x]
        m = (
            abs(lum[y, e] - lum[y, w])
            + abs(lum[s, x] - lum[n, x])
            + abs(lum[s, e] - lum[n, w])
            + abs(lum[s, w] - lum[n, e])
        )
        g = g + m if d == 0 else g - far * m
    return max(np.float32(0.5) * g, np.float32(0.0))


@_njit
def _score_interior(lum, far, out):  # pragma: no cover - compiled
    # Rows and columns 2..n-3; i = x - 2 keeps offsets non-negative so the loop vectorises.
    h, w = lum.shape
    for y in range(2, h - 2):
        r0, n1, s1, n2, s2, o = lum[y], lum[y - 1], lum[y + 1], lum[y - 2], lum[y + 2], out[y, 2:]
        for i in range(w - 4):
            g1 = (
                abs(r0[i + 3] - r0[i + 1])
                + abs(s1[i + 2] - n1[i + 2])
                + abs(s1[i + 3] - n1[i + 1])
                + abs(s1[i + 1] - n1[i + 3])
            )
            g2 = (
                abs(r0[i + 4] - r0[i])
                + abs(s2[i + 2] - n2[i + 2])
                + abs(s2[i + 4] - n2[i])
                + abs(s2[i] - n2[i + 4])
            )
            o[i] = max(np.float32(0.5) * (g1 - far * g2), np.float32(0.0))


@_njit
def _score_border(lum, mx, my, far, out):  # pragma: no cover - compiled
    h, w = lum.shape
    for y in range(h):
        if y < 2 or y >= h - 2:
            for x in range(w):
                out[y, x] = _score_px(lum, y, x, mx, my, far)
        else:
            for x in (0, 1, w - 2, w - 1):
                out[y, x] = _score_px(lum, y, x, mx, my, far)


def _score_rows(
    lum: np.ndarray, mx: np.ndarray, my: np.ndarray, far: np.float32, out: np.ndarray
) -> None:
    _score_interior(lum, far, out)
    _score_border(lum, mx, my, far, out)


@_njit
def _box_levels_rows(score, lum, mx, my, t1, t2, t3, fg, out):  # pragma: no cover - compiled
    # 3x3 mean (reflect-101) then the three thresholds with the contrast floor fg * lum.
    h, w = score.shape
    col = np.empty(w + 2, np.float32)  # column sums with one mirrored column each side
    ninth = np.float32(1.0 / 9.0)
    for y in range(h):
        a, b, c = score[my[0, y]], score[y], score[my[1, y]]
        cs = col[1 : w + 1]
        for x in range(w):
            cs[x] = a[x] + b[x] + c[x]
        col[0] = col[2]
        col[w + 1] = col[w - 1]
        o, lr = out[y], lum[y]
        for x in range(w):
            v = (col[x] + col[x + 1] + col[x + 2]) * ninth
            f = fg * max(lr[x], np.float32(0.0))
            o[x] = (
                np.uint8(v > max(t1, f))
                + np.uint8(v > max(t2, np.float32(2.0) * f))
                + np.uint8(v > max(t3, np.float32(4.0) * f))
            )


def _mirror_table(n: int) -> np.ndarray:
    """Reflect-101 neighbour indices, (4, n) int64: rows -1, +1, -2, +2."""
    i = np.arange(n)
    rows = []
    for d in (1, 2):
        rows.append(np.abs(i - d))
        hi = i + d
        rows.append(np.where(hi >= n, 2 * n - 2 - hi, hi))
    return np.clip(np.array(rows, dtype=np.int64), 0, n - 1)


@_njit
def _maxpool_rows(a, ys, ye, xs, xe, tmp, out):  # pragma: no cover - compiled
    for i in range(out.shape[0]):
        tmp[:] = a[ys[i]]
        for y in range(ys[i] + 1, ye[i]):
            r = a[y]
            for x in range(tmp.size):
                tmp[x] = max(tmp[x], r[x])
        o = out[i]
        for j in range(out.shape[1]):
            m = tmp[xs[j]]
            for x in range(xs[j] + 1, xe[j]):
                m = max(m, tmp[x])
            o[j] = m


@_njit
def _or_clip(raw, white, levels):  # pragma: no cover - compiled
    for y in range(raw.shape[0]):
        r, o = raw[y], levels[y]
        for x in range(raw.shape[1]):
            o[x] |= np.uint8(r[x] >= white) << 2


class MaxPool:
    """Max-pooling of uint8 maps onto the :func:`pool_ranges` blocks (same result as
    :func:`maxpool_reference`), with its index ranges and row buffer made once."""

    def __init__(self, src_shape: tuple[int, int], dst_shape: tuple[int, int]) -> None:
        self.identity = tuple(src_shape) == tuple(dst_shape)
        self._ys, self._ye = pool_ranges(src_shape[0], dst_shape[0])
        self._xs, self._xe = pool_ranges(src_shape[1], dst_shape[1])
        self._tmp = np.empty(src_shape[1], np.uint8)

    def __call__(self, a: np.ndarray, out: np.ndarray) -> np.ndarray:
        if self.identity:
            np.copyto(out, a)
        else:
            _maxpool_rows(a, self._ys, self._ye, self._xs, self._xe, self._tmp, out)
        return out


class PeakingEngine:
    """Peaking with buffers made once per layout; NumPy or CuPy by the raw's module."""

    #: frames between two noise estimates when the frame carries no noise model
    ESTIMATE_EVERY = 30

    def configure(
        self, xp: Any, frame_shape: tuple[int, int], view_shape: tuple[int, int], bits: int
    ) -> None:
        h, w = frame_shape
        self.xp, self.bits = xp, int(bits)
        self.frame_shape, self.view_shape = tuple(frame_shape), tuple(view_shape)
        self.on_gpu = xp is not np
        self.lum = xp.empty((h, w), xp.float32)
        self.score = xp.empty((h, w), xp.float32)
        self.pooled = xp.zeros(view_shape, xp.uint8)
        self._lut_key: tuple | None = None
        self._model: NoiseModel | None = None
        self._model_seq = -(10**9)
        if self.on_gpu:
            self.lut_dev = xp.empty(1 << self.bits, xp.float32)
        else:
            self.t = np.empty((h, w), np.float32)
            self.levels = np.empty((h, w), np.uint8)
            self.pool = MaxPool(frame_shape, view_shape)
            self._mx, self._my = _mirror_table(w), _mirror_table(h)

    def model(self, frame: Frame) -> NoiseModel:
        """Noise model: the frame's, else an estimate refreshed every ESTIMATE_EVERY frames."""
        m = NoiseModel.from_meta(frame.meta)
        if m is not None:
            return m
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
                self.lut_dev.set(self.lut)
            self._lut_key = key
        return self.lut

    def run(
        self,
        frame: Frame,
        settings: PeakingSettings | None,
        full_res: bool = False,
        raw_white: float | None = None,
        model: NoiseModel | None = None,
    ) -> Any:
        """Pooled flags at view size: bits 0-1 the peaking level (``settings`` None: 0), bit 2
        set where a photosite of the view pixel's block reaches ``raw_white`` (None: never).
        ``full_res`` (host only): return the sensor-size levels instead, unpooled. ``model``
        overrides the frame's noise model (the magnifier passes the whole frame's)."""
        if settings is None and raw_white is None:
            self.pooled.fill(0)
            return self.pooled
        if settings is not None:
            self.commit(frame, model)
        if self.on_gpu:
            return self._run_gpu(frame, settings, raw_white)
        return self._run_cpu(frame, settings, full_res, raw_white)

    def _run_cpu(
        self,
        frame: Frame,
        settings: PeakingSettings | None,
        full_res: bool,
        raw_white: float | None,
    ) -> np.ndarray:
        import cv2

        raw = to_host(frame.data)
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
            t1, t2, t3 = (np.float32(t) for t in settings.thresholds())
            fg = settings.floor_gain()
            _box_levels_rows(self.score, self.lum, mx, my, t1, t2, t3, fg, self.levels)
            _clear_border(self.levels)
            if full_res:
                return self.levels
        if raw_white is not None:  # bit 2: a photosite at or above white, pooled with the levels
            _or_clip(
                raw, raw.dtype.type(min(np.ceil(raw_white), np.iinfo(raw.dtype).max)), self.levels
            )
        return self.pool(self.levels, self.pooled)

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
            get_kernel("assists", "vf_peak_luma")(
                grid, block, (raw, i32(W), i32(H), self.lut_dev, i32(self.lut_dev.size), self.lum)
            )
            get_kernel("assists", "vf_peak_score")(
                grid, block, (self.lum, i32(W), i32(H), f32(FAR_WEIGHT), self.score)
            )
            thresholds, fg = settings.thresholds(), settings.floor_gain()
        get_kernel("assists", "vf_peak_pool")(
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


def _row_bands(raw: Any, bands: int = 16, rows: int = 8) -> np.ndarray:
    """``bands`` bands of ``rows`` whole rows spread over the frame, on the host (H', W)."""
    h = raw.shape[0]
    if h <= bands * rows:
        return to_host(raw)
    starts = (np.linspace(0, h - rows, bands).astype(np.int64) // 2) * 2
    idx = (starts[:, None] + np.arange(rows)[None, :]).ravel()
    if is_device_array(raw):  # every ESTIMATE_EVERY frames only, and a small copy
        return to_host(raw[array_module(raw).asarray(idx)])
    return np.asarray(raw)[idx]
