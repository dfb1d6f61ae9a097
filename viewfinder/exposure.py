"""Auto exposure: a meter on the RAW statistics and an exposure program for the sensor.

The viewer already receives, with each result, the RAW histogram summary of the frame
(:func:`viewfinder.stages.histogram.raw_stats`: counts per CFA site on an axis of stops below
white, and the clipped share of each site) and the frame's metadata (the exposure time and
ISO it was taken with). :class:`AutoExposure` turns those into the next exposure:

- **metering**: ``"matrix"`` (the whole frame, from the RAW histogram: its geometric mean
  level), ``"centre"`` (centre-weighted) or ``"spot"`` (the central 5 %), the last two from
  a grid of zone levels of the view (:func:`zone_levels`); every mode keeps the same
  highlight guard from the RAW histogram;
- **highlight guard**: the 99.7th percentile of every CFA site stays at least
  :data:`HEADROOM_EV` below white, so at most 0.3 % of any site clips, unless that would
  darken the metered level by more than :data:`MAX_PROTECT_EV` (a scene that demands
  clipping: a lamp, the sun);
- **program**: ISO 100 from 1/32000 s to 1/60 s, then the ISO rises to 6400, then the time.

Raw data are linear, so one reading gives the whole correction; the controller waits for two
results taken at the exposure it set (the statistics may come a frame late) before reading
again, and stops within :data:`DEADBAND_EV`. The simulated camera settles in a handful of
frames from any lens wide open.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

METERING: tuple[str, ...] = ("matrix", "centre", "spot")
#: Stops below white of the metered level at 0 EV of compensation (mid grey at about 1/10
#: of the raw range, as cameras place it to leave room for highlights).
TARGET_EV = 3.3
#: The 99.7th percentile of each site stays this many stops below white.
HEADROOM_EV = 0.2
#: The highlight guard darkens the metered level by at most this many stops.
MAX_PROTECT_EV = 2.5
#: Changes smaller than this are not made (no hunting on noise).
DEADBAND_EV = 0.2
#: Share of a site's pixels allowed above the guard's percentile.
CLIP_SHARE = 0.003
MIN_TIME_S, MAX_TIME_S = 1 / 32000, 1 / 4
HANDHELD_S = 1 / 60
BASE_ISO, MIN_ISO, MAX_ISO = 100.0, 50.0, 6400.0


def exposure_program(ev100_s: float) -> tuple[float, float]:
    """(time_s, iso) giving ``ev100_s`` (the exposure in seconds at ISO 100).

    ISO 100 from 1/32000 s to 1/60 s; above, the ISO rises to 6400, then the time (to 1/4 s);
    below 1/32000 s at ISO 100, ISO 50.
    """
    e = float(ev100_s)
    if not e > 0 or not math.isfinite(e):
        raise ValueError(f"exposure must be a positive number of seconds, got {ev100_s!r}")
    if e < MIN_TIME_S:
        return MIN_TIME_S, max(MIN_ISO, BASE_ISO * e / MIN_TIME_S)
    if e <= HANDHELD_S:
        return e, BASE_ISO
    iso = BASE_ISO * e / HANDHELD_S
    if iso <= MAX_ISO:
        return HANDHELD_S, iso
    return min(MAX_TIME_S, e * BASE_ISO / MAX_ISO), MAX_ISO


def _levels(raw: dict[str, Any]) -> tuple[np.ndarray, np.ndarray]:
    """Column centres in stops below white and the (4, n) counts (the last column, "darker
    than the axis", dropped)."""
    edges = np.asarray(raw["ev_edges"], np.float64)
    hist = np.asarray(raw["ev_hist"], np.float64)
    centres = 0.5 * (edges[:-1] + edges[1:])
    return centres[:-1], hist[:, :-1]


def mean_level_ev(raw: dict[str, Any]) -> float | None:
    """Geometric mean level of the green sites, stops below white (None: no data)."""
    centres, hist = _levels(raw)
    green = hist[1] + hist[2]
    n = green.sum()
    if n <= 0:
        return None
    return float((green * centres).sum() / n)


def highlight_ev(raw: dict[str, Any], share: float = CLIP_SHARE) -> float:
    """Stops below white of the brightest site's ``1 - share`` percentile (0: at white)."""
    centres, hist = _levels(raw)
    total = np.maximum(np.asarray(raw["total"], np.float64), 1.0)
    best = math.inf
    for k in range(hist.shape[0]):
        above = np.cumsum(hist[k]) / total[k]  # share of the site at or above each column
        i = int(np.searchsorted(above, share, side="right"))
        level = centres[min(i, len(centres) - 1)] - 0.5 * (centres[1] - centres[0])
        best = min(best, max(level, 0.0))
    return float(best)


def zone_levels(image: np.ndarray, grid: tuple[int, int] = (12, 16)) -> np.ndarray:
    """Mean linear luminance of ``grid`` zones of an sRGB-encoded view (h, w, 3 or 4) uint8."""
    img = np.asarray(image)[..., :3]
    gy, gx = grid
    step_y, step_x = max(1, img.shape[0] // (gy * 4)), max(1, img.shape[1] // (gx * 4))
    sub = img[::step_y, ::step_x].astype(np.float32) / 255.0
    lin = np.where(sub <= 0.04045, sub / 12.92, ((sub + 0.055) / 1.055) ** 2.4)
    luma = lin @ np.array([0.2126, 0.7152, 0.0722], np.float32)
    h, w = luma.shape[0] // gy * gy, luma.shape[1] // gx * gx
    return luma[:h, :w].reshape(gy, h // gy, gx, w // gx).mean(axis=(1, 3))


def zone_weights(mode: str, grid: tuple[int, int] = (12, 16)) -> np.ndarray:
    """Weights of the zones for ``"centre"`` (a broad centre) or ``"spot"`` (the centre)."""
    gy, gx = grid
    y = (np.arange(gy) + 0.5) / gy - 0.5
    x = (np.arange(gx) + 0.5) / gx - 0.5
    r2 = y[:, None] ** 2 + x[None, :] ** 2
    if mode == "spot":
        w = (r2 <= 0.09**2 * 2).astype(np.float64)
        if not w.any():
            w[gy // 2, gx // 2] = 1.0
        return w / w.sum()
    w = np.exp(-r2 / (2 * 0.22**2))
    return w / w.sum()


@dataclass
class AutoExposure:
    """Auto exposure of a source with ``set_exposure(time_s, iso)``; see the module docstring.

    ``update(raw_stats, meta, zones)`` once per shown result returns the (time_s, iso) to set,
    or None (no change: settled, locked, off, or waiting for frames at the last setting).
    """

    enabled: bool = True
    metering: str = "matrix"
    compensation_ev: float = 0.0
    locked: bool = False
    settled: bool = False
    #: the exposure last asked for, as (time_s, iso); frames taken otherwise are not read
    target: tuple[float, float] | None = None
    _seen: int = 0
    _waited: int = 0
    steps: int = 0

    def __post_init__(self) -> None:
        self.set_metering(self.metering)

    def set_metering(self, mode: str) -> None:
        if mode not in METERING:
            raise ValueError(f"metering must be one of {', '.join(METERING)}, got {mode!r}")
        self.metering = mode
        self.settled = False

    def set_compensation(self, ev: float) -> None:
        ev = float(ev)
        if not -3.0 <= ev <= 3.0:
            raise ValueError(f"exposure compensation must be -3 to +3 EV, got {ev:+g}")
        self.compensation_ev = ev
        self.settled = False

    def _at_target(self, meta: dict[str, Any]) -> bool:
        if self.target is None:
            return True
        t, iso = meta.get("exposure_s"), meta.get("iso")
        if t is None or iso is None:
            return False
        return math.isclose(t, self.target[0], rel_tol=1e-6) and math.isclose(
            iso, self.target[1], rel_tol=1e-6
        )

    def correction_ev(self, raw: dict[str, Any], zones: np.ndarray | None = None) -> float | None:
        """Stops to add to the exposure (negative: darker); None without data."""
        metered = None
        if self.metering != "matrix" and zones is not None and np.size(zones):
            w = zone_weights(self.metering, np.shape(zones))
            level = float((np.asarray(zones, np.float64) * w).sum())
            if level > 0:
                # the view is tone-mapped: a display mid grey (0.18 linear) is the target
                metered = math.log2(0.18 / level) + self.compensation_ev
        if metered is None:
            mean = mean_level_ev(raw)
            if mean is None:
                return None
            metered = mean - TARGET_EV + self.compensation_ev
        clipped = float(np.max(raw["clipped"]))
        if clipped > CLIP_SHARE:
            # over white: the histogram cannot say by how much; step down firmly
            guard = -1.0 if clipped < 0.05 else -2.0
        else:
            guard = highlight_ev(raw) - HEADROOM_EV
        return max(min(metered, guard), metered - MAX_PROTECT_EV)

    def update(
        self,
        raw: dict[str, Any] | None,
        meta: dict[str, Any] | None,
        zones: np.ndarray | None = None,
    ) -> tuple[float, float] | None:
        if not self.enabled or self.locked or raw is None or not meta:
            return None
        if "exposure_s" not in meta or "iso" not in meta:
            return None
        if not self._at_target(meta):
            self._seen, self._waited = 0, self._waited + 1
            if self._waited > 30:  # the source took another exposure than asked: follow it
                self.target, self._waited = None, 0
            return None
        self._waited = 0
        self._seen += 1
        if self._seen < 2:  # the statistics may be a frame older than this result
            return None
        delta = self.correction_ev(raw, zones)
        if delta is None:
            return None
        if abs(delta) < DEADBAND_EV:
            self.settled = True
            return None
        ev100 = float(meta["exposure_s"]) * float(meta["iso"]) / BASE_ISO * 2.0**delta
        ev100 = min(max(ev100, MIN_TIME_S * MIN_ISO / BASE_ISO), MAX_TIME_S * MAX_ISO / BASE_ISO)
        new = exposure_program(ev100)
        if self.target is not None and all(
            math.isclose(a, b, rel_tol=1e-6) for a, b in zip(new, self.target, strict=True)
        ):
            self.settled = True  # at a limit of the program
            return None
        self.target, self._seen, self.settled = new, 0, False
        self.steps += 1
        return new
