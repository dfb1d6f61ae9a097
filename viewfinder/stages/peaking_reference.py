"""Focus peaking, the plain NumPy definition: the reference the Numba and CUDA paths are tested
against (steps 2 to 4 of :mod:`viewfinder.stages.peaking`), and the max-pooling onto the view."""

from __future__ import annotations

import numpy as np

from .peaking_noise import NoiseModel, stabilise_lut
from .peaking_settings import FAR_WEIGHT, PeakingSettings


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
    raw: np.ndarray,
    bits: int,
    black: float,
    model: NoiseModel,
    settings: PeakingSettings,
    pool_area: float = 1.0,
) -> np.ndarray:
    """Peaking levels of a raw mosaic, the plain NumPy definition, (H, W) uint8 in 0..3, with
    the thresholds of a view that pools ``pool_area`` sites per pixel (1: sensor resolution)."""
    lut = stabilise_lut(bits, black, model)
    t = lut[np.minimum(np.asarray(raw), lut.size - 1)]
    return levels_from_score(
        sharpness_reference(t),
        settings.thresholds(pool_area),
        _binomial_ref(t),
        settings.floor_gain(),
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
