"""RAW histograms equal numpy.bincount per CFA site; EV summary; pinned readback."""

from __future__ import annotations

import numpy as np
import pytest

from tests.conftest import skimage_photos
from tests.kernels.shim import build_shim, ptr
from viewfinder.frame import CFA_CODES, CFA_PATTERNS, cfa_site_offsets
from viewfinder.stages.histogram import (
    HistogramSettings,
    PinnedReadback,
    raw_histogram,
    raw_histogram_reference,
    raw_stats,
)


def bincount_oracle(raw: np.ndarray, cfa: str, bits: int) -> np.ndarray:
    """Written out here, independent of the module: bincount of each site plane."""
    nb = 1 << bits
    rows = []
    for dy, dx in cfa_site_offsets(cfa):
        plane = np.minimum(raw[dy::2, dx::2].ravel().astype(np.int64), nb - 1)
        rows.append(np.bincount(plane, minlength=nb))
    return np.array(rows, dtype=np.int64)


@pytest.mark.parametrize("cfa", CFA_PATTERNS)
@pytest.mark.parametrize("bits", range(8, 17))
def test_random_raws_equal_bincount(cfa, bits):
    rng = np.random.default_rng(bits)
    raw = rng.integers(0, 1 << bits, (62, 94), dtype=np.uint16)
    h = raw_histogram(raw, cfa, bits)
    assert h.shape == (4, 1 << bits) and h.dtype == np.int64
    np.testing.assert_array_equal(h, bincount_oracle(raw, cfa, bits))
    assert h.sum() == raw.size


@pytest.mark.parametrize("bits", [8, 10, 12, 14, 16])
def test_real_photos_equal_bincount(bits):
    for name, img in skimage_photos().items():
        for cfa in CFA_PATTERNS:
            mosaic = np.empty(img.shape[:2], np.uint16)
            colours = np.array(["RGB".index(c) for c in cfa]).reshape(2, 2)
            for dy in (0, 1):
                for dx in (0, 1):
                    mosaic[dy::2, dx::2] = img[dy::2, dx::2, colours[dy, dx]]
            raw = (mosaic.astype(np.uint32) * ((1 << bits) - 1) // 255).astype(np.uint16)
            np.testing.assert_array_equal(
                raw_histogram(raw, cfa, bits), bincount_oracle(raw, cfa, bits), err_msg=name
            )


def test_values_above_the_range_go_in_the_last_bin():
    raw = np.full((4, 6), 2000, np.uint16)
    raw[0, 0] = 3
    h = raw_histogram(raw, "RGGB", 10)
    assert h[0, 1023] == 5 and h[0, 3] == 1 and h[1:, 1023].tolist() == [6, 6, 6]
    np.testing.assert_array_equal(h, raw_histogram_reference(raw, "RGGB", 10))


def test_other_integer_dtypes_and_out_buffer():
    raw = np.random.default_rng(0).integers(0, 256, (8, 10), dtype=np.int32)
    out = np.full((4, 256), 99, np.int64)
    assert raw_histogram(raw, "BGGR", 8, out=out) is out
    np.testing.assert_array_equal(out, bincount_oracle(raw, "BGGR", 8))


def test_bad_input_is_refused():
    with pytest.raises(ValueError, match="even height and width"):
        raw_histogram(np.zeros((5, 6), np.uint16))
    with pytest.raises(ValueError, match="bits must be an integer in 8..16, got 17"):
        raw_histogram(np.zeros((4, 4), np.uint16), bits=17)
    with pytest.raises(ValueError, match="integer array"):
        raw_histogram(np.zeros((4, 4), np.float32))
    with pytest.raises(ValueError, match="unknown cfa 'XYZW'"):
        raw_histogram(np.zeros((4, 4), np.uint16), "XYZW")
    with pytest.raises(ValueError, match=r"out must be \(4, 1024\) int64"):
        raw_histogram(np.zeros((4, 4), np.uint16), out=np.zeros((4, 1024), np.int32))
    with pytest.raises(ValueError, match=r"ev_range must be in \[4.0, 16.0\]"):
        HistogramSettings(ev_range=20)
    with pytest.raises(ValueError, match="ettr_fraction"):
        HistogramSettings(ettr_fraction=0.5)


def _stats(raw, black=64, white=1023, **kw):
    return raw_stats(raw_histogram(raw, "RGGB", 10), black, white, HistogramSettings(**kw))


def test_ev_axis_clipping_and_ettr():
    black, white = 64, 1023
    span = white - black
    raw = np.full((64, 64), black + span // 4, np.uint16)  # two stops below white
    raw[0::2, 0::2][:4, :4] = white  # 16 of 1024 red sites clipped
    s = _stats(raw)
    assert s["ev_hist"].sum(axis=1).tolist() == s["total"].tolist() == [1024] * 4
    assert s["clipped"][0] == pytest.approx(16 / 1024) and s["clipped"][1:].tolist() == [0, 0, 0]
    assert s["ettr_stops"] == 0.0  # the clipped red sites hold more than 1e-4
    raw[0::2, 0::2][:4, :4] = black + span // 4
    s = _stats(raw)
    assert s["ettr_stops"] == pytest.approx(-np.log2((span // 4) / span))
    col = int(s["ettr_stops"] * 8)
    assert s["ev_hist"][:, col].tolist() == [1024] * 4  # all in the two-stop column
    assert s["ev_edges"][0] == 0 and s["ev_edges"][-1] == 12


def test_ettr_fraction_is_respected():
    raw = np.full((200, 200), 300, np.uint16)
    raw[0, 0] = 900  # 1 of 10000 red sites: exactly 1e-4, not more
    assert _stats(raw)["ettr_stops"] == pytest.approx(np.log2(959 / 236))
    assert _stats(raw, ettr_fraction=1e-5)["ettr_stops"] == pytest.approx(np.log2(959 / 836))


@pytest.mark.parametrize("value", [0, 64, 1023])
def test_black_clipped_and_constant_frames_are_sane(value):
    s = _stats(np.full((32, 32), value, np.uint16))
    for key in ("clipped", "ev_hist", "ev_edges"):
        assert np.isfinite(s[key]).all()
    assert np.isfinite(s["ettr_stops"])
    if value <= 64:
        assert s["ettr_stops"] == 12.0 and s["ev_hist"][:, -1].tolist() == [256] * 4
    else:
        assert s["clipped"].tolist() == [1.0] * 4 and s["ettr_stops"] == 0.0
    s = raw_stats(np.zeros((4, 1024), np.int64), 64, 1023, HistogramSettings())
    assert np.isfinite(s["clipped"]).all() and s["ettr_stops"] == 12.0


def test_pinned_readback_on_numpy_is_immediate():
    rb = PinnedReadback(np, (4, 8), np.int64)
    assert rb.latest() is None
    a = np.arange(32).reshape(4, 8)
    rb.push(a)
    np.testing.assert_array_equal(rb.latest(), a)


SHIM = r"""
#include "vf_assists.cuh"
extern "C" void sites(int cfa, int* out) {
  for (int y = 0; y < 2; ++y) for (int x = 0; x < 2; ++x) out[2 * y + x] = vf_cfa_site(cfa, y, x);
}
// The kernel's loop, one thread: 32-bit words of sample pairs into 4 x nbins counts.
extern "C" void histogram(const unsigned int* words, int width, int height, int cfa, int nbins,
                          long long* hist) {
  const long long npairs = (long long)height * (width / 2);
  for (long long p = 0; p < npairs; ++p) {
    int a, b;
    vf_hist_pair(words[p], (int)((p / (width / 2)) & 1), cfa, nbins, &a, &b);
    ++hist[a];
    ++hist[b];
  }
}
"""


@pytest.mark.parametrize("cfa", CFA_PATTERNS)
@pytest.mark.parametrize("bits", [8, 10, 12, 16])
def test_kernel_histogram_maths_equal_bincount(cfa, bits):
    lib = build_shim(SHIM, "hist_shim")
    raw = np.random.default_rng(bits).integers(0, 1 << bits, (30, 46), dtype=np.uint16)
    raw[0, 1] = 65535  # clamped into the last bin
    out = np.zeros((4, 1 << bits), np.int64)
    lib.histogram(ptr(raw), 46, 30, CFA_CODES[cfa], 1 << bits, ptr(out))
    np.testing.assert_array_equal(out, bincount_oracle(raw, cfa, bits))


@pytest.mark.parametrize("cfa", CFA_PATTERNS)
def test_kernel_site_map_matches_the_frame_convention(cfa):
    lib = build_shim(SHIM, "hist_shim")
    out = np.empty(4, np.int32)
    lib.sites(CFA_CODES[cfa], ptr(out))
    expect = np.empty(4, np.int32)
    for k, (dy, dx) in enumerate(cfa_site_offsets(cfa)):
        expect[2 * dy + dx] = k
    np.testing.assert_array_equal(out, expect)


@pytest.mark.parametrize("bits", [8, 10, 12, 16])
def test_cupy_histogram_equals_numpy(bits, dxp):
    cp = dxp
    raw = np.random.default_rng(bits).integers(0, 1 << bits, (480, 642), dtype=np.uint16)
    for cfa in CFA_PATTERNS:
        dev = raw_histogram(cp.asarray(raw), cfa, bits)
        np.testing.assert_array_equal(cp.asnumpy(dev), bincount_oracle(raw, cfa, bits))


def test_pinned_readback_is_one_frame_late(dxp):
    cp = dxp
    rb = PinnedReadback(cp, (4, 1024), np.int64)
    out = cp.zeros((4, 1024), cp.int64)
    frames = [
        np.random.default_rng(i).integers(0, 1024, (64, 64), dtype=np.uint16) for i in range(3)
    ]
    raw_histogram(cp.asarray(frames[0]), "RGGB", 10, out=out)
    rb.push(out)
    assert rb.latest() is None  # nothing of an earlier frame yet
    raw_histogram(cp.asarray(frames[1]), "RGGB", 10, out=out)
    rb.push(out)
    cp.cuda.Stream.null.synchronize()
    np.testing.assert_array_equal(rb.latest(), bincount_oracle(frames[0], "RGGB", 10))
