"""A RAW file whose decoded samples lie far above its white level is flagged, not shown silently."""

from __future__ import annotations

import numpy as np
import pytest

from viewfinder.capture import write_dng
from viewfinder.frame import Frame
from viewfinder.sources.rawfile import read_raw_file

pytest.importorskip("rawpy")


def test_samples_far_above_white_are_flagged_in_meta(tmp_path):
    data = np.random.default_rng(1).integers(64, 4096, (64, 96), dtype=np.uint16)
    data[10, 10:20] = 36846  # what a corrupt 12-bit file decoded to
    path = write_dng(Frame(data, bits=16, white_level=4095, black_level=64), tmp_path / "x.dng")
    frame = read_raw_file(path)
    assert frame.white_level == 4095 and frame.bits == 12
    assert frame.meta["warnings"] == [
        "10 samples (0.16 %) above the white level 4095, up to 36846: "
        "the file's data or levels are wrong"
    ]
    clean = write_dng(Frame(data.clip(0, 4095), bits=12, black_level=64), tmp_path / "y.dng")
    assert "warnings" not in read_raw_file(clean).meta
