"""False colour: each luma band of the display image painted in a signal colour.

The default palette is the IRE scale of cinema false colour (ARRI's layout); the rest of the
image shows as grey (its luma). IRE = 8-bit Rec. 709 luma x 100 / 255; a band is
``lo <= IRE < hi`` (a band with ``hi >= 100`` includes 100):

=============  ================  ==========================================
IRE            colour            meaning
=============  ================  ==========================================
0 - 2.5        purple            crushed black, no detail
2.5 - 4        blue              just above black
38 - 42        green             18 % grey (middle grey)
52 - 56        pink              one stop over middle grey: light skin
97 - 99        yellow            just below clipping
99 - 100       red               clipped
=============  ================  ==========================================

User bands replace the table: ``((lo, hi, (r, g, b)), ...)``, later bands win on overlaps.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..settings import check_range
from .zebra import luma8

Band = tuple[float, float, tuple[int, int, int]]
DEFAULT_IRE_BANDS: tuple[Band, ...] = (
    (0.0, 2.5, (128, 0, 200)),
    (2.5, 4.0, (0, 90, 255)),
    (38.0, 42.0, (0, 200, 0)),
    (52.0, 56.0, (255, 130, 200)),
    (97.0, 99.0, (255, 230, 0)),
    (99.0, 100.0, (255, 0, 0)),
)
MAX_BANDS = 16


def _check_bands(bands: tuple) -> tuple[Band, ...]:
    try:
        items = tuple(bands)
    except TypeError:
        raise ValueError(
            f"false colour bands must be a sequence of (lo, hi, (r, g, b)), got {bands!r}"
        ) from None
    if not 1 <= len(items) <= MAX_BANDS:
        raise ValueError(f"false colour needs 1 to {MAX_BANDS} bands, got {len(items)}")
    out = []
    for band in items:
        if len(band) != 3 or len(band[2]) != 3:
            raise ValueError(f"a false colour band is (lo, hi, (r, g, b)), got {band!r}")
        lo = check_range("false colour band lo (IRE)", band[0], 0.0, 100.0)
        hi = check_range("false colour band hi (IRE)", band[1], 0.0, 100.0)
        if not lo < hi:
            raise ValueError(f"false colour band needs lo < hi, got {band!r}")
        rgb = tuple(int(check_range("false colour channel", c, 0, 255)) for c in band[2])
        out.append((lo, hi, rgb))
    return tuple(out)


@dataclass(frozen=True)
class FalseColourSettings:
    """False colour controls: ``enabled``; ``bands`` None for :data:`DEFAULT_IRE_BANDS`."""

    enabled: bool = False
    bands: tuple | None = None

    def __post_init__(self) -> None:
        if self.bands is not None:
            object.__setattr__(self, "bands", _check_bands(self.bands))

    def band_table(self) -> tuple[Band, ...]:
        return self.bands if self.bands is not None else DEFAULT_IRE_BANDS


def false_colour_lut(bands: tuple[Band, ...] = DEFAULT_IRE_BANDS) -> np.ndarray:
    """RGBA of each 8-bit luma value, (256, 4) uint8."""
    lum = np.arange(256)
    ire = lum * 100.0 / 255.0
    lut = np.empty((256, 4), np.uint8)
    lut[:, :3] = lum[:, None]
    lut[:, 3] = 255
    for lo, hi, rgb in bands:
        inside = (ire >= lo) & ((ire < hi) | ((hi >= 100.0) & (ire <= 100.0)))
        lut[inside, :3] = rgb
    return lut


def false_colour_reference(
    rgb8: np.ndarray, bands: tuple[Band, ...] = DEFAULT_IRE_BANDS
) -> np.ndarray:
    """False colour of a clean 8-bit view (h, w, 3+) -> (h, w, 4) uint8, band by band."""
    ire = luma8(rgb8[..., :3]).astype(np.float64) * 100.0 / 255.0
    out = np.empty(rgb8.shape[:2] + (4,), np.uint8)
    out[..., :3] = luma8(rgb8[..., :3])[..., None]
    out[..., 3] = 255
    for lo, hi, rgb in bands:
        inside = (ire >= lo) & ((ire < hi) | ((hi >= 100.0) & (ire <= 100.0)))
        out[inside, :3] = rgb
    return out
