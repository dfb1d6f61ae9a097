"""EXIF orientation: the transforms, LibRaw's flip, and captures that keep or turn the picture."""

from __future__ import annotations

import numpy as np
import pytest

from viewfinder.capture import write_dng
from viewfinder.capture_writer import Renderer, write_frame
from viewfinder.frame import Frame
from viewfinder.orientation import (
    ORIENTATIONS,
    check_orientation,
    display_to_stored,
    orient_image,
    orientation_of,
    oriented_size,
    stored_to_display,
)


def _dng_tags(orientation: int | None) -> list[tuple]:
    tags = [
        (50706, "B", 4, (1, 4, 0, 0), True),  # DNGVersion
        (33421, "H", 2, (2, 2), True),  # CFARepeatPatternDim
        (33422, "B", 4, (0, 1, 1, 2), True),  # CFAPattern RGGB
        (50710, "B", 3, (0, 1, 2), True),  # CFAPlaneColor
        (50717, "I", 1, 1023, True),  # WhiteLevel
        (50708, "s", 0, "orientation test", True),  # UniqueCameraModel
    ]
    if orientation is not None:
        tags.append((274, "H", 1, orientation, True))
    return tags


@pytest.mark.parametrize("o", ORIENTATIONS)
def test_orient_image_moves_each_pixel_where_display_to_stored_says(o):
    a = np.arange(6 * 10).reshape(6, 10)
    shown = orient_image(a, o)
    h, w = shown.shape
    assert (w, h) == oriented_size((10, 6), o)
    for i in range(h):
        for j in range(w):
            s, t = display_to_stored((j + 0.5) / w, (i + 0.5) / h, o)
            assert shown[i, j] == a[int(t * 6), int(s * 10)]
            assert stored_to_display(s, t, o) == pytest.approx(((j + 0.5) / w, (i + 0.5) / h))


def test_bad_orientation_values_are_refused():
    for bad in (0, 9, "x", 2.5, None):
        with pytest.raises(ValueError, match="Orientation value 1..8"):
            check_orientation(bad)
    assert orientation_of({}) == 1 and orientation_of({"orientation": 6}) == 6


@pytest.mark.parametrize("o", ORIENTATIONS)
def test_file_orientation_read_through_libraw_matches_its_own_rendering(tmp_path, o):
    """A DNG with Orientation ``o`` (tifffile): read_raw_file says ``o``, and orient_image
    turns the unrotated rendering exactly as LibRaw's own postprocess does."""
    rawpy = pytest.importorskip("rawpy")
    tifffile = pytest.importorskip("tifffile")
    from viewfinder.sources.rawfile import read_raw_file

    data = np.random.default_rng(o).integers(0, 1023, (40, 60), dtype=np.uint16)
    path = tmp_path / f"o{o}.dng"
    tifffile.imwrite(path, data, photometric="cfa", extratags=_dng_tags(o), metadata=None)
    frame = read_raw_file(path)
    assert frame.meta["orientation"] == o
    np.testing.assert_array_equal(frame.data, data)  # the mosaic stays in sensor order
    kw = {
        "no_auto_bright": True,
        "gamma": (1, 1),
        "output_bps": 16,
        "user_wb": [1, 1, 1, 1],
        "output_color": rawpy.ColorSpace.raw,
        "demosaic_algorithm": rawpy.DemosaicAlgorithm.LINEAR,
    }
    with rawpy.imread(str(path)) as raw:
        turned = raw.postprocess(**kw)
    with rawpy.imread(str(path)) as raw:
        stored = raw.postprocess(user_flip=0, **kw)
    np.testing.assert_array_equal(orient_image(stored, o), turned)


def test_untagged_file_is_shown_as_stored(tmp_path):
    pytest.importorskip("rawpy")
    tifffile = pytest.importorskip("tifffile")
    from viewfinder.sources.rawfile import read_raw_file

    data = np.zeros((40, 60), np.uint16)
    tifffile.imwrite(tmp_path / "n.dng", data, photometric="cfa", extratags=_dng_tags(None))
    assert read_raw_file(tmp_path / "n.dng").meta["orientation"] == 1


def _frame(o: int) -> Frame:
    rng = np.random.default_rng(3)
    data = rng.integers(64, 1023, (48, 64), dtype=np.uint16)
    return Frame(data, "RGGB", black_level=64, bits=10, meta={"orientation": o})


@pytest.mark.parametrize("o", [2, 6, 7, 8])
def test_dng_capture_keeps_the_raw_and_carries_the_tag(tmp_path, o):
    pytest.importorskip("rawpy")
    from viewfinder.sources.rawfile import read_raw_file

    f = _frame(o)
    write_dng(f, tmp_path / "c.dng")
    g = read_raw_file(tmp_path / "c.dng")
    np.testing.assert_array_equal(g.data, f.data)
    assert g.meta["orientation"] == o


@pytest.mark.parametrize("fmt", ["png", "jpeg"])
@pytest.mark.parametrize("o", [1, 3, 6, 8])
def test_png_and_jpeg_captures_are_turned(tmp_path, fmt, o):
    import cv2

    yy, xx = np.mgrid[0:48, 0:64]
    smooth = 64 + (xx * 12 + yy * yy * 0.3).astype(np.uint16)  # no symmetry to hide a turn
    f = Frame(smooth.astype(np.uint16), "RGGB", black_level=64, bits=10, meta={"orientation": o})
    unturned = Renderer().rgb8(f)
    got = cv2.imread(str(write_frame(f, tmp_path / f"c.{fmt}", fmt)))[..., ::-1].astype(int)
    errors = {
        k: np.abs(got - orient_image(unturned, k).astype(int)).mean()
        for k in ORIENTATIONS
        if orient_image(unturned, k).shape == got.shape
    }
    assert min(errors, key=errors.get) == o
    assert errors[o] <= (0 if fmt == "png" else 2.0)
