"""The RAW histogram's readout agrees with its hint: no "0.00 %" beside "expose less"."""

from __future__ import annotations

import numpy as np

from viewfinder.render.plots import clipping_text, percent_text
from viewfinder.stages.histogram import HistogramSettings, raw_histogram, raw_stats


def test_percent_text():
    assert percent_text(0) == "0 %"
    assert percent_text(1e-7) == "<0.01 %"
    assert percent_text(0.99e-4) == "<0.01 %"
    assert percent_text(1e-4) == "0.01 %"
    assert percent_text(0.0492) == "4.92 %"


def test_a_few_clipped_pixels_read_as_clipping_not_zero():
    raw = np.full((1000, 1000), 500, np.uint16)
    raw[0, 0] = raw[0, 2] = 1023  # two R sites of 250000 clip: 0.0008 %
    stats = raw_stats(raw_histogram(raw, "RGGB", 10), 64, 1023, HistogramSettings(raw=True))
    text = clipping_text(stats)
    assert "clipping: expose less" in text
    assert "R <0.01 %" in text and "Gr 0 %" in text and "0.00" not in text
    none = raw_stats(
        raw_histogram(np.full((8, 8), 500, np.uint16), "RGGB", 10), 64, 1023, HistogramSettings()
    )
    assert "clipping" not in clipping_text(none) and "R 0 %" in clipping_text(none)
