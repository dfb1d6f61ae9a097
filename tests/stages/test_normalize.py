import numpy as np
import pytest

from viewfinder import Frame
from viewfinder.frame import CFA_PATTERNS, cfa_colors
from viewfinder.stages.normalize import normalize, raw_scaling


@pytest.mark.parametrize("cfa", CFA_PATTERNS)
def test_normalize_matches_definition(cfa, rng):
    raw = rng.integers(0, 1024, (8, 10)).astype(np.uint16)
    frame = Frame(raw, cfa=cfa, black_level=64, white_level=1023, bits=10)
    sc = raw_scaling(frame, (2.0, 1.0, 1.5), exposure_ev=1.0)
    out = normalize(raw, sc)
    gains = np.array([2.0, 1.0, 1.5])[np.tile(cfa_colors(cfa), (4, 5))]
    expected = np.clip((raw - 64.0) * gains * 2.0 / (1023 - 64), 0, 1)
    np.testing.assert_allclose(out, expected, rtol=1e-6, atol=1e-7)
    assert out.dtype == np.float32


def test_values_above_white_clip_instead_of_wrapping():
    raw = np.full((4, 4), 4000, np.uint16)  # far above a 10-bit white level
    raw[0, 0] = 0  # below black
    frame = Frame(raw, black_level=64, white_level=1023, bits=10)
    out = normalize(raw, raw_scaling(frame))
    assert out.max() == 1.0 and out.min() == 0.0


def test_highlights_clip_before_matrix_stay_neutral():
    # A sensor-clipped patch (all sites at white) with strong red/blue gains stays neutral.
    raw = np.full((4, 4), 1023, np.uint16)
    frame = Frame(raw, black_level=64, white_level=1023, bits=10)
    out = normalize(raw, raw_scaling(frame, (2.2, 1.0, 1.7)))
    assert np.all(out == 1.0)


def test_bad_white_balance_is_refused():
    frame = Frame(np.zeros((4, 4), np.uint16))
    with pytest.raises(ValueError, match="white balance"):
        raw_scaling(frame, (1.0, 0.0, 1.0))
