"""Focus peaking controls and the constants of its noise-calibrated threshold.

See :mod:`viewfinder.stages.peaking` for the method these numbers belong to.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

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
#: Pooling (CFAR per view pixel). The view shows the maximum level of each view pixel's block
#: of ``A`` photosites (``A = (H / h) (W / w)``, :func:`pool_area`), so at a fixed per-site
#: threshold a noise-only view pixel fires about ``A / cluster`` times as often as one site
#: does: at 8192x6144 in a 1024x768 view (A = 64) the flat grey field's marked view pixels went
#: 2.2e-4 (1:1) -> 1.1 % / 2.3 % / 7.3 % at ISO 100 / 1600 / 6400. So each level's threshold
#: ``t`` (``k = (t - mean) / std`` sigmas at 1:1) is raised by
#: ``std * (POOL_SHIFT_A + POOL_SHIFT_B / k) * ln A`` (:func:`pooled_thresholds`), which keeps
#: the rate per view pixel at the 1:1 rate per site. Calibration (2026-12-02): unit white noise
#: through :func:`~viewfinder.stages.peaking_reference.sharpness_reference`, 100 tiles of
#: 2048x2048 (4.2e8 sites, 2 sites of border dropped), max-pooled by ``pool_ranges`` onto
#: A = 2.25, 4, 6.26, 9, 12.25, 16, 25.1, 36.1, 49.3, 64, 100, 145, 255 (integer and
#: non-integer ratios: the rate follows the mean area); for each k in 2..6 the pooled threshold
#: whose rate equals the 1:1 rate at k. The shift in sigmas is close to ``c(k) ln A`` for every
#: A (c = 0.52, 0.44, 0.42 at k = 2.5, 5, 6: the score's tail is near exponential, slightly
#: lighter further out); least squares of ``c = a + b / k`` over k = 2..6, A = 2.25..255 gives
#: a = 0.374, b = 0.346 (rms 0.05 sigma, worst 0.19). Measured pooled rate / target with these:
#: k = 5 (sensitivity 0.5) 0.99, 0.99, 1.00, 0.99, 1.00, 1.00 at A = 2.25, 4, 9, 16, 49, 64;
#: k = 3 0.96 .. 1.13, k = 4 0.99 .. 1.10, k = 6 0.85 .. 0.97 over A = 2.25..64; k = 1.25
#: (sensitivity 1, outside the fit) 0.79 .. 0.55 (fewer than the target). Levels 2 and 3 (k
#: ~12 and ~26 at sensitivity 0.5) use the same rule, extrapolated (their noise rate is ~0).
#: On the simulated camera's flat grey (bench/results/2026-12-02-cpu2-peaking-pooled-false-
#: alarms.json), marked view pixels at 2048x1536 -> 1024x768 (A = 4): 7.1e-4 / 7.7e-4 / 8.2e-4
#: -> 1.9e-4 / 2.3e-4 / 2.4e-4 at ISO 100 / 1600 / 6400 (1:1 site rate 2.1e-4 .. 2.4e-4); at
#: 8192x6144 (A = 64) 1.1 % / 2.4 % / 7.3 % -> 0.026 % / 0.20 % / 1.4 %. What is left at 50 MP
#: and high ISO is not the pooling: there a site holds a few electrons (1.6 um, ~16 e- and
#: ~4 e- at ISO 1600 / 6400), the stabilised noise is not Gaussian and the 1:1 rate itself is
#: 5.5e-4 / 2.0e-3.
POOL_SHIFT_A = 0.374
POOL_SHIFT_B = 0.346


def pool_area(frame_shape: tuple[int, int], view_shape: tuple[int, int]) -> float:
    """Mean number of photosites max-pooled into one view pixel, ``(H / h) (W / w)``, each
    factor at least 1 (an upscaled axis repeats sites: nothing pooled)."""
    (H, W), (h, w) = frame_shape, view_shape
    return max(H / max(h, 1), 1.0) * max(W / max(w, 1), 1.0)


def pooled_thresholds(
    thresholds: tuple[float, float, float], area: float
) -> tuple[float, float, float]:
    """Thresholds for view pixels that pool ``area`` sites, from the 1:1 ``thresholds`` (a
    noise-only view pixel then fires about as often as one site at 1:1; see POOL_SHIFT_A)."""
    if area <= 1.0:
        return tuple(float(t) for t in thresholds)  # type: ignore[return-value]
    ln_area = math.log(area)
    out: list[float] = []
    for t in thresholds:
        k = max((float(t) - NOISE_SCORE_MEAN) / NOISE_SCORE_STD, 1.0)
        t = float(t) + NOISE_SCORE_STD * (POOL_SHIFT_A + POOL_SHIFT_B / k) * ln_area
        out.append(max(t, out[-1]) if out else t)  # the levels stay nested
    return tuple(out)  # type: ignore[return-value]


@dataclass(frozen=True)
class PeakingSettings:
    """Focus peaking controls.

    Attributes
    ----------
    enabled : bool
    sensitivity : float in [0, 1]
        0.5 marks detail 5 noise sigmas above the noise score; every 0.25 halves or doubles it.
        That is per photosite; a view pixel that pools A photosites asks for about
        ``(0.374 + 0.346 / k) ln A`` sigmas more (1.85 at 8192x6144 in a 1024x768 view), so
        that noise marks as few view pixels as it marks sites at 1:1.
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

    def thresholds(self, pool_area: float = 1.0) -> tuple[float, float, float]:
        """Score thresholds of levels 1, 2 and 3 (in stabilised-noise units) for view pixels
        that max-pool ``pool_area`` photosites (:func:`pool_area`; 1: sensor resolution)."""
        k = BASE_SIGMAS * 2.0 ** (4.0 * (0.5 - float(self.sensitivity)))
        t1 = NOISE_SCORE_MEAN + k * NOISE_SCORE_STD
        return pooled_thresholds((t1, 2.0 * t1, 4.0 * t1), pool_area)

    def floor_gain(self) -> np.float32:
        """Level-1 floor per unit of stabilised luma: ``min_contrast / 2`` (as d t / t = dS /
        (2 S) for shot noise), scaled by the sensitivity like the noise thresholds."""
        k = 2.0 ** (4.0 * (0.5 - float(self.sensitivity)))
        return np.float32(0.5 * float(self.min_contrast) * k)
