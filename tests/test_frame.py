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
    with pytest.raises(ValueError, match="bits must be an integer in 1..16, got 20"):
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


# -- validation of what the stages would fail on (issue 15) --------------------------------


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"data": np.zeros((4, 4), np.uint64)}, "unsigned integer array of up to 16 bits.*uint64"),
        ({"data": np.zeros((4, 4), np.uint32)}, "unsigned integer array of up to 16 bits.*uint32"),
        ({"data": np.zeros((4, 4), np.int8)}, "unsigned integer array of up to 16 bits.*int8"),
        ({"data": np.full((4, 4), -3, np.int16)}, r"Frame.data must be an unsigned.*int16"),
        ({"bits": 10.5}, r"Frame.bits must be an integer in 1..16, got 10.5"),
        ({"bits": "10"}, r"Frame.bits must be an integer in 1..16, got '10'"),
        ({"bits": 0}, r"Frame.bits must be an integer in 1..16, got 0"),
        ({"bits": True}, r"Frame.bits must be an integer"),
        ({"white_level": float("inf")}, r"Frame.white_level must be finite, got inf"),
        ({"white_level": float("nan")}, r"Frame.white_level must be finite, got nan"),
        ({"black_level": np.array([64, 64])}, r"Frame.black_level must be a number, got ndarray"),
        ({"black_level": "64"}, r"Frame.black_level must be a number, got str '64'"),
        ({"white_level": 4095, "bits": 10}, r"white_level must be at most 2\*\*bits - 1 = 1023"),
        ({"black_level": -1}, r"Frame.black_level must be in \[0, white_level=1023\)"),
        ({"meta": None}, "Frame.meta must be a dict"),
    ],
)
def test_frame_refuses_what_the_stages_fail_on(kwargs, message):
    args = {"data": np.zeros((4, 4), np.uint16), **kwargs}
    with pytest.raises(ValueError, match=message):
        Frame(**args)


def test_big_endian_data_is_converted_to_native():
    raw = np.arange(16, dtype=">u2").reshape(4, 4) * 60
    f = Frame(raw)
    assert f.data.dtype == np.uint16 and f.data.dtype.isnative
    np.testing.assert_array_equal(f.data, raw)


def test_numpy_scalars_are_accepted_as_python_numbers():
    f = Frame(np.zeros((4, 4), np.uint16), black_level=np.float32(64), bits=np.int64(12))
    assert f.black_level == 64.0 and type(f.black_level) is float
    assert f.bits == 12 and type(f.bits) is int and f.white_level == 4095


def test_frame_size_is_bounded():
    from viewfinder.frame import MAX_FRAME_SIDE

    ok = np.broadcast_to(np.uint16(0), (MAX_FRAME_SIDE, 16))  # no memory behind it
    assert Frame(ok).height == MAX_FRAME_SIDE
    with pytest.raises(ValueError, match="Frame.data is 16x16386: at most 16384 pixels a side"):
        Frame(np.broadcast_to(np.uint16(0), (MAX_FRAME_SIDE + 2, 16)))


def test_default_view_of_a_huge_frame_is_capped():
    from viewfinder.stages.resize import MAX_VIEW_SIDE, view_size_for

    assert view_size_for((16384, 12288), None) == (MAX_VIEW_SIDE, MAX_VIEW_SIDE * 3 // 4)
    assert view_size_for((1920, 1080), None) == (1920, 1080)


def test_data_warnings_flag_garbage_and_pass_real_data():
    from viewfinder.frame import data_warnings

    rng = np.random.default_rng(0)
    good = rng.integers(0, 4096, (64, 64), dtype=np.uint16)
    assert data_warnings(good, 4095) == []
    assert data_warnings(good, 3900) == []  # a 12-bit camera clipping below 4095 is fine
    bad = good.copy()
    bad[0, :9] = 36846
    assert data_warnings(bad, 4095) == [
        "9 samples (0.22 %) above the white level 4095, up to 36846: "
        "the file's data or levels are wrong"
    ]
    black = np.zeros((64, 64), np.uint16)
    assert data_warnings(black, 1) == [
        "implausible white level 1 (bit depth below 8 or above 16)",
        "every sample is 0: no picture in the data",
    ]
