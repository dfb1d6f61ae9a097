"""Focus peaking controls and the constants of its noise-calibrated threshold.

See :mod:`viewfinder.stages.peaking` for the method these numbers belong to.
"""

from __future__ import annotations

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
