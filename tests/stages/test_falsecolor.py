"""False colour against its band definition; user bands; bad bands."""

from __future__ import annotations

import numpy as np
import pytest

from viewfinder.stages.falsecolor import (
    DEFAULT_IRE_BANDS,
    FalseColourSettings,
    false_colour_lut,
    false_colour_reference,
)
from viewfinder.stages.zebra import luma8


def test_default_palette_bands():
    lut = false_colour_lut()
    ire = np.arange(256) * 100 / 255
    for v in range(256):
        colour = tuple(lut[v, :3])
        bands = [
            b for b in DEFAULT_IRE_BANDS if b[0] <= ire[v] < b[1] or (b[1] >= 100 and ire[v] == 100)
        ]
        if bands:
            assert colour == bands[-1][2], v
        else:
            assert colour == (v, v, v), v  # outside the bands: grey
    assert tuple(lut[0, :3]) == (128, 0, 200) and tuple(lut[255, :3]) == (255, 0, 0)
    assert tuple(lut[102, :3]) == (0, 200, 0)  # 40 IRE: middle grey is green
    assert (lut[:, 3] == 255).all()


def test_reference_image_uses_the_luma_of_each_pixel():
    rng = np.random.default_rng(1)
    img = rng.integers(0, 256, (40, 50, 4)).astype(np.uint8)
    out = false_colour_reference(img)
    np.testing.assert_array_equal(out, false_colour_lut()[luma8(img[..., :3])])


def test_user_bands_replace_the_table_and_later_bands_win():
    s = FalseColourSettings(True, ((0, 50, (1, 2, 3)), (40, 100, (9, 9, 9))))
    lut = false_colour_lut(s.band_table())
    assert tuple(lut[0, :3]) == (1, 2, 3) and tuple(lut[255, :3]) == (9, 9, 9)
    assert tuple(lut[110, :3]) == (9, 9, 9)  # 43 IRE: in both, the later wins
    assert FalseColourSettings().band_table() == DEFAULT_IRE_BANDS


@pytest.mark.parametrize(
    "bands,message",
    [
        (((10, 5, (1, 2, 3)),), "lo < hi"),
        (((0, 120, (1, 2, 3)),), r"hi \(IRE\) must be in \[0.0, 100.0\]"),
        (((0, 10, (1, 2, 300)),), r"channel must be in \[0, 255\]"),
        (((0, 10),), r"\(lo, hi, \(r, g, b\)\)"),
        ((), "1 to 16 bands"),
        (5, "sequence of"),
    ],
)
def test_bad_bands_are_refused(bands, message):
    with pytest.raises(ValueError, match=message):
        FalseColourSettings(True, bands)
