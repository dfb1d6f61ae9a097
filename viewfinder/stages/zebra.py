"""Zebras: over/under exposure on the display image, per-channel clipping, RAW clipping.

Definitions (display values are the clean 8-bit view; luma is Rec. 709 in integers,
``(54 R + 183 G + 19 B + 128) >> 8``):

* over: luma >= ``ceil(level * 255)`` (``level`` 0.5 to 1, default 0.95);
* under (optional): luma <= ``floor(under_level * 255)``;
* RGB mode: each channel >= the over threshold, one colour per clipped combination (the
  additive colour of the clipped channels: red, green, blue, yellow, magenta, cyan; black
  when all three clip);
* RAW: any photosite of the view pixel's sensor block at or above the white level (computed
  on the full-resolution raw and max-pooled, see :mod:`viewfinder.stages.peaking`).

Flags per view pixel: bit 0 over, bit 1 under, bits 2-4 R, G, B clipped, bit 5 RAW clipped.
They are drawn as diagonal stripes ``((x + y + phase) // width) % 2 == 0`` that move by
``speed`` pixels per frame (``phase = seq * speed``), ``width`` in view pixels.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from ..settings import check_choice, check_range

ZEBRA_MODES: tuple[str, ...] = ("luma", "rgb")
OVER, UNDER, CLIP_R, CLIP_G, CLIP_B, CLIP_RAW = 1, 2, 4, 8, 16, 32
#: Stripe colour of the RAW-clip zebra and of the under zebra; over is black.
RAW_COLOUR = (255, 128, 0)
UNDER_COLOUR = (0, 80, 255)


@dataclass(frozen=True)
class ZebraSettings:
    """Zebra controls.

    Attributes
    ----------
    enabled : bool
    level : float in [0.5, 1.0]
        Over-exposure luma level (fraction of display white), default 0.95 (95 %).
    under : bool
        Also flag luma at or below ``under_level``.
    under_level : float in [0, 0.5]
    mode : {"luma", "rgb"}
        RGB mode also flags each clipped channel, one colour per combination.
    raw : bool
        Flag view pixels whose sensor block has a photosite at the white level.
    stripe_width : int in [1, 64]
        Stripe width in view pixels.
    speed : int in [0, 64]
        Stripe motion in view pixels per frame.
    """

    enabled: bool = False
    level: float = 0.95
    under: bool = False
    under_level: float = 0.05
    mode: str = "luma"
    raw: bool = False
    stripe_width: int = 6
    speed: int = 1

    def __post_init__(self) -> None:
        check_range("zebra level", self.level, 0.5, 1.0)
        check_range("zebra under_level", self.under_level, 0.0, 0.5)
        check_choice("zebra mode", self.mode, ZEBRA_MODES)
        for name, lo, hi in (("stripe_width", 1, 64), ("speed", 0, 64)):
            v = getattr(self, name)
            check_range(f"zebra {name}", v, lo, hi)
            if int(v) != v:
                raise ValueError(f"zebra {name} must be an integer in [{lo}, {hi}], got {v!r}")

    def over_threshold(self) -> int:
        """8-bit luma at and above which a pixel is over."""
        return min(255, math.ceil(round(float(self.level) * 255.0, 6)))

    def under_threshold(self) -> int:
        """8-bit luma at and below which a pixel is under; -1 when under zebras are off."""
        return math.floor(round(float(self.under_level) * 255.0, 6)) if self.under else -1

    def phase(self, seq: int) -> int:
        """Stripe phase of frame ``seq`` (kept in one stripe period)."""
        return int(seq) * int(self.speed) % (2 * int(self.stripe_width))


def luma8(rgb8: np.ndarray) -> np.ndarray:
    """Rec. 709 luma of 8-bit RGB (..., 3) in integers, (...) uint8."""
    r, g, b = (rgb8[..., c].astype(np.int32) for c in range(3))
    return ((54 * r + 183 * g + 19 * b + 128) >> 8).astype(np.uint8)


def zebra_reference(
    rgb8: np.ndarray, raw_clip: np.ndarray | None, settings: ZebraSettings
) -> np.ndarray:
    """Zebra flags of a clean 8-bit view (h, w, 3+) -> (h, w) uint8 (bits as documented)."""
    lum = luma8(rgb8[..., :3])
    over_t, under_t = settings.over_threshold(), settings.under_threshold()
    flags = np.where(lum >= over_t, OVER, 0).astype(np.uint8)
    if under_t >= 0:
        flags |= np.where(lum <= under_t, UNDER, 0).astype(np.uint8)
    if settings.mode == "rgb":
        for c, bit in enumerate((CLIP_R, CLIP_G, CLIP_B)):
            flags |= np.where(rgb8[..., c] >= over_t, bit, 0).astype(np.uint8)
    if settings.raw and raw_clip is not None:
        flags |= np.where(raw_clip, CLIP_RAW, 0).astype(np.uint8)
    return flags


def stripes_reference(shape: tuple[int, int], phase: int, width: int) -> np.ndarray:
    """Where the "on" stripes lie, (h, w) bool."""
    y, x = np.indices(shape)
    return ((x + y + int(phase)) // int(width)) % 2 == 0


def zebra_colours_reference(flags: np.ndarray) -> np.ndarray:
    """Stripe colour of each flagged pixel, (h, w, 3) uint8 (priority RAW, RGB, over, under)."""
    out = np.zeros(flags.shape + (3,), np.uint8)
    out[flags & UNDER > 0] = UNDER_COLOUR
    out[flags & OVER > 0] = (0, 0, 0)
    rgb = flags & (CLIP_R | CLIP_G | CLIP_B)
    some = (rgb > 0) & (rgb != (CLIP_R | CLIP_G | CLIP_B))
    for c, bit in enumerate((CLIP_R, CLIP_G, CLIP_B)):
        out[..., c] = np.where(some, np.where(flags & bit > 0, 255, 0), out[..., c])
    out[rgb == (CLIP_R | CLIP_G | CLIP_B)] = (0, 0, 0)
    out[flags & CLIP_RAW > 0] = RAW_COLOUR
    return out
