import numpy as np
import pytest

from viewfinder import Frame
from viewfinder.frame import (
    CFA_PATTERNS,
    cfa_colors,
    cfa_masks,
    cfa_site_offsets,
    check_cfa,
    check_mosaic,
)


def test_frame_defaults_from_the_issue():
    raw = np.zeros((8, 8), np.uint16)
    f = Frame(data=raw, cfa="RGGB", black_level=64, white_level=1023, bits=10)
    assert f.shape == (8, 8) and f.seq == 0 and f.meta == {} and f.timestamp_ns > 0
    assert Frame(raw, bits=12).white_level == 4095


def test_cfa_convention_rows_read_left_to_right():
    np.testing.assert_array_equal(cfa_colors("RGGB"), [[0, 1], [1, 2]])
    np.testing.assert_array_equal(cfa_colors("BGGR"), [[2, 1], [1, 0]])
    np.testing.assert_array_equal(cfa_colors("GRBG"), [[1, 0], [2, 1]])
    np.testing.assert_array_equal(cfa_colors("GBRG"), [[1, 2], [0, 1]])


@pytest.mark.parametrize("cfa", CFA_PATTERNS)
def test_site_offsets_are_r_gr_gb_b(cfa):
    r, gr, gb, b = cfa_site_offsets(cfa)
    assert cfa[2 * r[0] + r[1]] == "R" and cfa[2 * b[0] + b[1]] == "B"
    assert gr[0] == r[0] and gb[0] == b[0]  # Gr shares the red row, Gb the blue row
    rm, gm, bm = cfa_masks((4, 6), cfa)
    assert rm.sum() == 6 and gm.sum() == 12 and bm.sum() == 6


@pytest.mark.parametrize(
    ("shape", "dtype", "message"),
    [
        ((7, 9), np.uint16, r"2-D with even height and width, got \(7, 9\)"),
        ((4, 4, 3), np.uint16, "2-D"),
        ((2, 2), np.uint16, r"at least 4x4, got \(2, 2\)"),
        ((4, 4), np.bool_, "numeric dtype, got bool"),
    ],
)
def test_bad_mosaics_are_named(shape, dtype, message):
    with pytest.raises(ValueError, match=message):
        check_mosaic(np.zeros(shape, dtype))
    with pytest.raises(ValueError, match=message):
        Frame(np.zeros(shape, dtype))


def test_bad_cfa_bits_and_levels():
    raw = np.zeros((4, 4), np.uint16)
    with pytest.raises(ValueError, match="unknown cfa 'RGBG'"):
        check_cfa("RGBG")
    with pytest.raises(ValueError, match="bits must be in 8..16, got 20"):
        Frame(raw, bits=20)
    with pytest.raises(ValueError, match="black_level"):
        Frame(raw, black_level=2000, white_level=1023)
    with pytest.raises(ValueError, match="integer array"):
        Frame(raw.astype(np.float32))
    assert check_cfa("rggb") == "RGGB"


@pytest.mark.parametrize("cfa", CFA_PATTERNS)
def test_mosaic_samples_the_site_colour(cfa, rng):
    from viewfinder.frame import mosaic

    rgb = rng.integers(0, 1024, (6, 8, 3)).astype(np.uint16)
    raw = mosaic(rgb, cfa)
    colors = cfa_colors(cfa)
    for y in range(6):
        for x in range(8):
            assert raw[y, x] == rgb[y, x, colors[y % 2, x % 2]]
    with pytest.raises(ValueError, match="even sides"):
        mosaic(rgb[:5], cfa)
