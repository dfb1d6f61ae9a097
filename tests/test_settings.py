import dataclasses

import pytest

from viewfinder import Settings


def test_defaults():
    s = Settings()
    assert s.demosaic == "mhc" and s.tone == "srgb" and s.view_size is None


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"demosaic": "ahd"}, "unknown demosaic method 'ahd'"),
        ({"tone": "log"}, "unknown tone curve 'log'"),
        ({"exposure_ev": 9}, r"exposure_ev must be in \[-8.0, 8.0\], got 9"),
        ({"contrast": -0.1}, r"contrast must be in \[0.0, 1.0\]"),
        ({"white_balance": (1, 2)}, "3 gains"),
        ({"white_balance": (1, 40, 1)}, r"G gain must be in \[0.1, 16.0\]"),
        ({"color_matrix": [[1, 0], [0, 1]]}, "3x3"),
        ({"view_size": (1, 100)}, r"view width must be in \[2, 16384\]"),
        ({"exposure_ev": float("nan")}, "exposure_ev"),
    ],
)
def test_out_of_range_is_refused_with_the_range(kwargs, message):
    with pytest.raises(ValueError, match=message):
        Settings(**kwargs)


def test_replace_validates_too():
    with pytest.raises(ValueError, match="contrast"):
        dataclasses.replace(Settings(), contrast=3)
