"""Zebras against their definitions: thresholds, flags, stripes, colours, bad settings."""

from __future__ import annotations

import numpy as np
import pytest

from viewfinder.stages.zebra import (
    CLIP_B,
    CLIP_G,
    CLIP_R,
    CLIP_RAW,
    OVER,
    UNDER,
    ZebraSettings,
    luma8,
    stripes_reference,
    zebra_colours_reference,
    zebra_reference,
)


def test_luma8_is_rec709_rounded():
    rng = np.random.default_rng(0)
    rgb = rng.integers(0, 256, (500, 3)).astype(np.uint8)
    exact = rgb.astype(np.float64) @ np.array([0.2126, 0.7152, 0.0722])
    assert np.abs(luma8(rgb).astype(np.float64) - exact).max() <= 1.0
    assert luma8(np.array([255, 255, 255], np.uint8)) == 255
    assert luma8(np.array([0, 0, 0], np.uint8)) == 0


def test_default_level_is_95_percent():
    s = ZebraSettings(enabled=True)
    assert s.level == 0.95 and s.over_threshold() == 243  # ceil(0.95 * 255) = ceil(242.25)
    assert s.under_threshold() == -1
    assert ZebraSettings(under=True, under_level=0.1).under_threshold() == 25
    assert ZebraSettings(level=1.0).over_threshold() == 255


def test_flags_follow_the_definition():
    s = ZebraSettings(enabled=True, level=0.9, under=True, under_level=0.1, mode="rgb", raw=True)
    t = s.over_threshold()  # 230
    px = np.array(
        [
            [[250, 250, 250], [10, 10, 10], [240, 100, 100], [100, 240, 100]],
            [[100, 100, 240], [240, 240, 0], [128, 128, 128], [231, 231, 231]],
        ],
        np.uint8,
    )
    raw_clip = np.zeros((2, 4), bool)
    raw_clip[1, 2] = True
    f = zebra_reference(px, raw_clip, s)
    lum = luma8(px)
    for (y, x), v in np.ndenumerate(f):
        expect = (OVER if lum[y, x] >= t else 0) | (UNDER if lum[y, x] <= 25 else 0)
        expect |= sum(bit for c, bit in enumerate((CLIP_R, CLIP_G, CLIP_B)) if px[y, x, c] >= t)
        expect |= CLIP_RAW if raw_clip[y, x] else 0
        assert v == expect, (y, x)
    assert f[0, 0] == OVER | CLIP_R | CLIP_G | CLIP_B and f[0, 1] == UNDER
    assert f[0, 2] == CLIP_R and f[1, 2] == CLIP_RAW
    luma_only = zebra_reference(px, raw_clip, ZebraSettings(enabled=True, level=0.9))
    assert set(np.unique(luma_only)) <= {0, OVER}


def test_stripes_are_diagonal_and_move_with_the_frame():
    s = ZebraSettings(enabled=True, stripe_width=4, speed=2)
    a = stripes_reference((16, 16), s.phase(0), 4)
    assert a[0, :4].all() and not a[0, 4:8].any()  # 4 view pixels wide
    assert (a[1:, :-1] == a[:-1, 1:]).all()  # constant along anti-diagonals: diagonal stripes
    b = stripes_reference((16, 16), s.phase(1), 4)
    np.testing.assert_array_equal(b[:, :-2], a[:, 2:])  # moved by `speed` pixels
    assert s.phase(4) == s.phase(0)  # period 2 * width / speed frames


def test_one_colour_per_clipped_combination():
    combos = [CLIP_R, CLIP_G, CLIP_B, CLIP_R | CLIP_G, CLIP_R | CLIP_B, CLIP_G | CLIP_B]
    colours = zebra_colours_reference(np.array(combos, np.uint8))
    assert len({tuple(c) for c in colours}) == 6
    assert colours[3].tolist() == [255, 255, 0] and colours[5].tolist() == [0, 255, 255]
    both = zebra_colours_reference(np.array([CLIP_RAW | OVER, UNDER, OVER], np.uint8))
    assert both[0].tolist() == [255, 128, 0]  # RAW clipping wins
    assert both[1].tolist() == [0, 80, 255] and both[2].tolist() == [0, 0, 0]


def test_bad_settings_are_refused_with_the_range():
    with pytest.raises(ValueError, match=r"zebra level must be in \[0.5, 1.0\], got 0.3"):
        ZebraSettings(level=0.3)
    with pytest.raises(ValueError, match=r"zebra under_level must be in \[0.0, 0.5\]"):
        ZebraSettings(under_level=0.8)
    with pytest.raises(ValueError, match="unknown zebra mode 'hsv'"):
        ZebraSettings(mode="hsv")
    with pytest.raises(ValueError, match=r"zebra stripe_width must be in \[1, 64\]"):
        ZebraSettings(stripe_width=0)
    with pytest.raises(ValueError, match="must be an integer"):
        ZebraSettings(stripe_width=2.5)
