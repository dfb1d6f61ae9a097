"""RawFileSource: DNGs written by write_dng come back with their CFA, levels and colour."""

from __future__ import annotations

import time

import numpy as np
import pytest

from viewfinder.capture import write_dng
from viewfinder.frame import CFA_PATTERNS, Frame
from viewfinder.sources.base import SourceError
from viewfinder.sources.rawfile import RawFileSource, read_raw_file

pytest.importorskip("rawpy")

M = np.array([[1.7, -0.5, -0.2], [-0.3, 1.6, -0.3], [0.05, -0.45, 1.4]])


def _frame(cfa: str, bits: int, seed: int) -> Frame:
    rng = np.random.default_rng(seed)
    data = rng.integers(0, 2**bits, (48, 64), dtype=np.uint16)
    return Frame(
        data,
        cfa=cfa,
        bits=bits,
        black_level=2 ** (bits - 4),
        meta={
            "white_balance": (2.1, 1.0, 1.6),
            "color_matrix": M,
            "exposure_time": 1 / 250,
            "iso": 400,
            "aperture": 1.4,
            "focal_length": 35.0,
            "lens": "Summilux-M 35 f/1.4",
        },
    )


@pytest.mark.parametrize("cfa", CFA_PATTERNS)
def test_read_raw_file_round_trip(tmp_path, cfa):
    f = _frame(cfa, 12, 1)
    write_dng(f, tmp_path / "a.dng")
    g = read_raw_file(tmp_path / "a.dng")
    np.testing.assert_array_equal(g.data, f.data)
    assert g.cfa == cfa
    assert g.black_level == f.black_level and g.white_level == f.white_level
    assert g.bits == 12
    np.testing.assert_allclose(g.meta["color_matrix"], M, atol=1e-5)
    np.testing.assert_allclose(g.meta["white_balance"], (2.1, 1.0, 1.6), rtol=1e-5)
    assert g.meta["exposure_s"] == pytest.approx(1 / 250, rel=1e-4)
    assert g.meta["iso"] == 400 and g.meta["aperture"] == pytest.approx(1.4, rel=1e-5)
    assert g.meta["focal_mm"] == pytest.approx(35.0) and g.meta["lens_name"] == f.meta["lens"]


def _shift_cfa(cfa: str, dy: int, dx: int) -> str:
    """The CFA name seen from (dy, dx) inside the 2x2 block of ``cfa``."""
    return "".join(cfa[2 * ((r + dy) % 2) + (c + dx) % 2] for r in range(2) for c in range(2))


def test_cfa_follows_visible_crop_origin(tmp_path):
    # DNG: CFAPattern is given at the ActiveArea origin (here row 2, column 1). LibRaw may
    # start the visible image elsewhere; the CFA name must follow where it starts.
    tifffile = pytest.importorskip("tifffile")
    rawpy = pytest.importorskip("rawpy")
    rng = np.random.default_rng(2)
    data = rng.integers(0, 1024, (52, 70), dtype=np.uint16)
    tags = [
        (50706, "B", 4, (1, 4, 0, 0), True),
        (33421, "H", 2, (2, 2), True),
        (33422, "B", 4, (0, 1, 1, 2), True),
        (50710, "B", 3, (0, 1, 2), True),
        (50717, "I", 1, 1023, True),
        (50708, "s", 0, "crop test", True),
        (50829, "I", 4, (2, 1, 50, 65), True),
    ]  # ActiveArea: top, left, bottom, right
    tifffile.imwrite(tmp_path / "c.dng", data, photometric="cfa", extratags=tags, metadata=None)
    g = read_raw_file(tmp_path / "c.dng")
    with rawpy.imread(str(tmp_path / "c.dng")) as raw:
        top, left = raw.sizes.top_margin, raw.sizes.left_margin
    assert (top, left) != (2, 1) or g.cfa == "RGGB"
    assert g.cfa == _shift_cfa("RGGB", top - 2, left - 1)
    h, w = g.data.shape
    np.testing.assert_array_equal(g.data, data[top : top + h, left : left + w])
    assert _shift_cfa("RGGB", 0, 1) == "GRBG" and _shift_cfa("RGGB", 1, 1) == "BGGR"


def test_folder_loop_skips_bad_files(tmp_path):
    frames = [_frame("RGGB", 10, s) for s in range(3)]
    for i, f in enumerate(frames):
        write_dng(f, tmp_path / f"f{i}.dng")
    good = (tmp_path / "f1.dng").read_bytes()
    (tmp_path / "f1b_truncated.dng").write_bytes(good[: len(good) // 3])
    (tmp_path / "f1c_garbage.dng").write_bytes(b"this is not a raw file" * 100)
    (tmp_path / "notes.txt").write_text("ignored")
    src = RawFileSource(tmp_path)
    assert len(src.paths) == 5
    got = [src.read() for _ in range(7)]
    expected = [0, 1, 2, 0, 1, 2, 0]
    for g, e in zip(got, expected, strict=True):
        np.testing.assert_array_equal(g.data, frames[e].data)
    assert [g.seq for g in got] == list(range(7))
    assert set(src.errors) == {
        str(tmp_path / "f1b_truncated.dng"),
        str(tmp_path / "f1c_garbage.dng"),
    }
    for name, why in src.errors.items():
        assert name in why


def test_no_readable_file_names_them(tmp_path):
    bad = [tmp_path / "x.dng", tmp_path / "y.nef"]
    bad[0].write_bytes(b"\0" * 100)
    bad[1].write_bytes(b"II*\0garbage")
    with pytest.raises(SourceError) as err:
        RawFileSource(bad)
    assert "x.dng" in str(err.value) and "y.nef" in str(err.value)
    with pytest.raises(SourceError, match="missing.dng"):
        RawFileSource([tmp_path / "missing.dng"])


def test_no_loop_ends_and_fps_paces(tmp_path):
    write_dng(_frame("BGGR", 10, 5), tmp_path / "a.dng")
    write_dng(_frame("BGGR", 10, 6), tmp_path / "b.dng")
    src = RawFileSource(tmp_path, fps=20, loop=False)
    t0 = time.monotonic()
    src.read(), src.read()
    assert time.monotonic() - t0 >= 0.045  # the second frame waited one period (50 ms)
    with pytest.raises(SourceError, match="end of files"):
        src.read()
    with pytest.raises(ValueError, match="fps"):
        RawFileSource(tmp_path, fps=0)


@pytest.mark.parametrize("cfa", CFA_PATTERNS)
def test_per_site_black_levels_are_read_and_written_per_site(tmp_path, cfa):
    """DNG BlackLevel with a 2x2 repeat: meta["black_levels"] names each site (R, Gr, Gb, B),
    and a DNG capture writes them back per site."""
    tifffile = pytest.importorskip("tifffile")
    from viewfinder.frame import cfa_site_offsets

    block = (510, 520, 530, 540)  # DNG order: the sites of the 2x2 block row by row
    tags = [
        (50706, "B", 4, (1, 4, 0, 0), True),
        (33421, "H", 2, (2, 2), True),
        (33422, "B", 4, tuple("RGB".index(c) for c in cfa), True),
        (50710, "B", 3, (0, 1, 2), True),
        (50713, "H", 2, (2, 2), True),
        (50714, "I", 4, block, True),
        (50717, "I", 1, 16383, True),
        (50708, "s", 0, "per-site black", True),
    ]
    data = np.random.default_rng(0).integers(500, 16000, (40, 60), dtype=np.uint16)
    tifffile.imwrite(tmp_path / "b.dng", data, photometric="cfa", extratags=tags, metadata=None)
    f = read_raw_file(tmp_path / "b.dng")
    want = tuple(float(block[2 * y + x]) for y, x in cfa_site_offsets(cfa))
    assert f.meta["black_levels"] == want and f.black_level == 525.0
    write_dng(f, tmp_path / "c.dng")
    assert read_raw_file(tmp_path / "c.dng").meta["black_levels"] == want
