"""The Numba normalise of the fused CPU preview against its NumPy definition, borders included."""

from __future__ import annotations

import numpy as np
import pytest

from viewfinder.schedules.cpu_preview import PAD, normalize_padded


def normalize_padded_reference(raw, site_black, site_scale):
    h, w = raw.shape
    black = np.tile(site_black, (h // 2, w // 2))
    scale = np.tile(site_scale, (h // 2, w // 2))
    v = np.clip((raw.astype(np.float32) - black) * scale, 0, 1).astype(np.float32)
    return np.pad(v, PAD, mode="reflect")  # reflect-101: -1 -> 1


@pytest.mark.parametrize("shape", [(2, 2), (4, 6), (6, 2), (30, 40), (301 * 2, 199 * 2)])
def test_normalize_padded_equals_definition_with_per_site_blacks(shape):
    rng = np.random.default_rng(sum(shape))
    raw = rng.integers(0, 1 << 14, shape, dtype=np.uint16)
    black = np.array([[512, 500], [530, 490]], np.float32)
    scale = (np.float32(1) / (np.float32(16383) - black)).astype(np.float32)
    out = np.full((shape[0] + 2 * PAD, shape[1] + 2 * PAD), np.nan, np.float32)
    normalize_padded(raw, black, scale, out)
    np.testing.assert_array_equal(out, normalize_padded_reference(raw, black, scale))


@pytest.mark.parametrize("shape", [(2, 2), (4, 6), (6, 2), (30, 40), (301 * 2, 199 * 2)])
def test_normalize_split_is_the_padded_mosaic_by_column_parity(shape):
    from viewfinder.schedules.cpu_preview import normalize_split

    rng = np.random.default_rng(sum(shape))
    raw = rng.integers(0, 1 << 14, shape, dtype=np.uint16)
    black = np.array([[512, 500], [530, 490]], np.float32)
    scale = (np.float32(1) / (np.float32(16383) - black)).astype(np.float32)
    split = np.full((shape[0] + 2 * PAD, 2, shape[1] // 2 + PAD), np.nan, np.float32)
    normalize_split(raw, black, scale, split)
    padded = normalize_padded_reference(raw, black, scale)
    np.testing.assert_array_equal(split[:, 0], padded[:, 0::2])
    np.testing.assert_array_equal(split[:, 1], padded[:, 1::2])


@pytest.mark.parametrize("cfa", ["RGGB", "BGGR", "GRBG", "GBRG"])
@pytest.mark.parametrize("method", [0, 1])
@pytest.mark.parametrize(
    "shape, view",
    [
        ((96, 128), (48, 64)),
        ((96, 128), (37, 50)),
        ((96, 128), (95, 127)),
        ((62, 90), (5, 7)),
        ((6, 8), (1, 1)),
        ((300, 400), (77, 102)),
        ((40, 60), (40, 30)),
    ],
)
def test_view_from_split_equals_the_per_site_demosaic_then_area_mean(cfa, method, shape, view):
    """The linear pass (the demosaic's area mean as weighted sums of the mosaic) gives what
    demosaicing every site then averaging gives, to float rounding, at any scale."""
    from viewfinder.frame import cfa_colors
    from viewfinder.schedules.cpu_preview import (
        normalize_split,
        split_taps,
        view_from_padded,
        view_from_split,
    )
    from viewfinder.stages.resize import area_weights

    rng = np.random.default_rng(7)
    raw = rng.integers(0, 1 << 14, shape, dtype=np.uint16)
    black = np.array([[512, 500], [530, 490]], np.float32)
    scale = (np.float32(1) / (np.float32(16383) - black)).astype(np.float32)
    (h, w), (vh, vw) = shape, view
    iy, wy = area_weights(h, vh)
    ix, wx = area_weights(w, vw)
    ccm = np.array([[1.7, -0.5, -0.2], [-0.2, 1.4, -0.2], [0.0, -0.6, 1.6]], np.float32)
    lut = np.linspace(0, 1, 4096, dtype=np.float32)
    colors = cfa_colors(cfa)
    outs = [
        (
            np.empty((vh, vw, 3), np.float32),
            np.empty((vh, vw, 3), np.float32),
            np.empty((vh, vw, 4), np.uint8),
        )
        for _ in range(2)
    ]
    padded = np.empty((h + 2 * PAD, w + 2 * PAD), np.float32)
    normalize_padded(raw, black, scale, padded)
    view_from_padded(padded, colors, method, iy, wy, ix, wx, ccm, lut, *outs[0])
    split = np.empty((h + 2 * PAD, 2, w // 2 + PAD), np.float32)
    normalize_split(raw, black, scale, split)
    view_from_split(split, *split_taps(colors, method), iy, wy, ix, wx, ccm, lut, *outs[1])
    np.testing.assert_allclose(outs[1][0], outs[0][0], atol=2e-6, rtol=1e-5)
    np.testing.assert_allclose(outs[1][1], outs[0][1], atol=1e-3)  # a 4k-entry table
    assert np.abs(outs[1][2].astype(int) - outs[0][2]).max() <= 1
