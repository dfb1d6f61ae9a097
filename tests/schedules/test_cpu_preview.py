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
