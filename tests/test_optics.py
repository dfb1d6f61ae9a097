"""Thin-lens optics against hand-worked values."""

from __future__ import annotations

import math

import numpy as np
import pytest

from viewfinder import optics

# IMX989: 8192 x 6144 pixels of 1.6 um
W_MM, H_MM = 8192 * 1.6e-3, 6144 * 1.6e-3


def test_crop_factor_of_the_one_inch_sensor():
    # diagonal = hypot(13.1072, 9.8304) = 16.384 mm; full frame 43.2666 mm
    assert optics.sensor_diagonal_mm(W_MM, H_MM) == pytest.approx(16.384, abs=1e-6)
    crop = optics.crop_factor(W_MM, H_MM)
    assert crop == pytest.approx(43.26661 / 16.384, rel=1e-5)  # 2.6408
    assert 2.6 < crop < 2.7
    # the 35 mm Summilux frames like a ~92 mm lens; the built-in 8.7 mm is the 23 mm equivalent
    assert optics.equivalent_focal_mm(35, W_MM, H_MM) == pytest.approx(92.43, abs=0.01)
    assert optics.equivalent_focal_mm(8.7, W_MM, H_MM) == pytest.approx(23.0, abs=0.05)


def test_field_of_view():
    # 50 mm across 36 mm: 2 atan(18 / 50) = 39.598 degrees
    assert optics.field_of_view_deg(50, 36) == pytest.approx(39.598, abs=1e-3)
    # built-in lens across the sensor width: 2 atan(6.5536 / 8.7) = 2 * 36.990 = 73.98 degrees
    assert optics.field_of_view_deg(8.7, W_MM) == pytest.approx(73.98, abs=0.01)


def test_coc_criterion_is_diagonal_over_1500():
    assert optics.coc_criterion_mm(36, 24) == pytest.approx(0.028844, abs=1e-6)
    assert optics.coc_criterion_mm(W_MM, H_MM) == pytest.approx(16.384 / 1500, rel=1e-9)


def test_hyperfocal_hand_worked():
    # f = 50 mm, N = 8, c = 0.03 mm: H = 2500 / 0.24 + 50 = 10466.667 mm
    assert optics.hyperfocal_m(50, 8, 0.03) == pytest.approx(10.466667, abs=1e-6)


def test_depth_of_field_hand_worked():
    # s = 3000 mm, H - f = 10416.667: near = 3000 * 10416.667 / 13366.667 = 2337.905 mm,
    # far = 3000 * 10416.667 / 7466.667 = 4185.268 mm
    near, far = optics.depth_of_field(50, 8, 3.0, 0.03)
    assert near == pytest.approx(2.337905, abs=1e-6)
    assert far == pytest.approx(4.185268, abs=1e-6)


def test_depth_of_field_beyond_hyperfocal_is_infinite():
    # s = 20 m > H: near = 20000 * 10416.667 / 30366.667 = 6860.593 mm, far = inf
    near, far = optics.depth_of_field(50, 8, 20.0, 0.03)
    assert near == pytest.approx(6.860593, abs=1e-6)
    assert far == math.inf
    # focused at the hyperfocal distance everything from H / 2 is sharp
    # focused at infinity: from f^2 / (N c) = 10416.667 mm on
    assert optics.depth_of_field(50, 8, math.inf, 0.03) == (pytest.approx(10.416667), math.inf)
    h = optics.hyperfocal_m(50, 8, 0.03)
    near, far = optics.depth_of_field(50, 8, h, 0.03)
    assert near == pytest.approx(h / 2, rel=1e-9)
    assert far == math.inf


def test_blur_circle_hand_worked():
    # f = 50, N = 2, s = 2000 mm: f^2 / (N (s - f)) = 2500 / 3900 = 0.641026 mm
    assert optics.blur_circle_mm(50, 2, 2.0, math.inf) == pytest.approx(0.641026, abs=1e-6)
    # subject at 4 m: times |4000 - 2000| / 4000
    assert optics.blur_circle_mm(50, 2, 2.0, 4.0) == pytest.approx(0.320513, abs=1e-6)
    assert optics.blur_circle_mm(50, 2, 2.0, 2.0) == 0.0
    # focused at infinity: f^2 / (N d) = 2500 / (2 * 5000) = 0.25 mm for d = 5 m
    assert optics.blur_circle_mm(50, 2, math.inf, 5.0) == pytest.approx(0.25, abs=1e-12)
    assert optics.blur_circle_mm(50, 2, math.inf, math.inf) == 0.0
    # vectorised, in pixels of 1.6 um: 0.320513 mm = 200.32 px
    px = optics.coc_px(50, 2, 2.0, np.array([2.0, 4.0, np.inf]), 1.6)
    np.testing.assert_allclose(px, [0.0, 200.3205, 400.641], atol=1e-3)


def test_blur_at_dof_limits_equals_the_criterion():
    for f, n, s, c in ((35, 1.4, 1.0, 0.0109), (8.7, 1.9, 2.0, 0.0109), (90, 2, 5.0, 0.03)):
        near, far = optics.depth_of_field(f, n, s, c)
        assert optics.blur_circle_mm(f, n, s, near) == pytest.approx(c, rel=1e-9)
        if math.isfinite(far):
            assert optics.blur_circle_mm(f, n, s, far) == pytest.approx(c, rel=1e-9)


def test_airy_disc_and_diffraction_warning():
    # 2.44 * 0.55 um * 8 = 10.736 um = 6.71 px of 1.6 um
    assert optics.airy_disc_mm(8) == pytest.approx(0.010736, rel=1e-9)
    assert optics.airy_disc_px(8, 1.6) == pytest.approx(6.71, abs=1e-3)
    # the 2 px limit of 1.6 um pixels falls at f/2.385
    assert optics.diffraction_warning(2.3, 1.6) is None
    warning = optics.diffraction_warning(2.5, 1.6)
    assert warning is not None and "Airy disc" in warning and "f/2.5" in warning
    assert optics.diffraction_warning(4.0, 3.2) is None


def test_vignetting_profile():
    r = np.array([0.0, 10.0, 21.65])
    wide = optics.vignetting_gain(r, 43.3, 2.5, 1.4, 1.4)
    assert wide[0] == 1.0
    assert wide[2] == pytest.approx(2**-2.5, rel=1e-3)  # the lens profile at the edge
    assert wide[1] == pytest.approx(2 ** (-2.5 * (10 / 21.65) ** 2), rel=1e-9)
    # two stops down (f/2.8) the optical vignetting is gone
    np.testing.assert_allclose(optics.vignetting_gain(r, 43.3, 2.5, 2.8, 1.4), 1.0)


@pytest.mark.parametrize(
    "args, match",
    [
        ((50, 8, 0.04, 0.03), "focus_m must be beyond the focal length"),
        ((50, 0, 3.0, 0.03), "f_number must be positive"),
        ((50, 8, 3.0, -1), "coc_mm must be positive"),
        ((float("nan"), 8, 3.0, 0.03), "focal_mm must be positive"),
    ],
)
def test_bad_input_is_refused(args, match):
    with pytest.raises(ValueError, match=match):
        optics.depth_of_field(*args)


def disk_esf(x: np.ndarray, r: float) -> np.ndarray:
    """Fraction of a uniform disk of radius r left of the line at x (analytic)."""
    x = np.clip(x, -r, r)
    segment = r * r * np.arccos(x / r) - x * np.sqrt(r * r - x * x)  # right of the line
    return 1.0 - segment / (math.pi * r * r)


def test_blur_kernel_is_a_normalised_pillbox():
    for d in (3.0, 9.0, 14.5):
        k = optics.blur_kernel(d).astype(np.float64)
        assert k.sum() == pytest.approx(1.0, abs=1e-6)
        c = k.shape[0] // 2
        yy, xx = np.mgrid[-c : c + 1, -c : c + 1]
        # second moment of a disk of radius r: r^2 / 2
        assert np.sum(k * (xx**2 + yy**2)) == pytest.approx((d / 2) ** 2 / 2, rel=0.05)
    # the Airy core adds its Gaussian variance 2 sigma^2 on top
    k = optics.blur_kernel(0.0, 10.0).astype(np.float64)
    c = k.shape[0] // 2
    yy, xx = np.mgrid[-c : c + 1, -c : c + 1]
    assert np.sum(k * (xx**2 + yy**2)) == pytest.approx(2 * 1.72**2, rel=0.1)


def _blur_numpy_xp(img, d, airy=0.0):
    import scipy.ndimage

    return optics.defocus_blur_xp(img, d, airy, np, scipy.ndimage)


@pytest.mark.parametrize("blur", [optics.defocus_blur, _blur_numpy_xp], ids=["cv2", "xp"])
@pytest.mark.parametrize("diameter, tol", [(10.0, 0.02), (60.0, 0.04)])
def test_defocused_edge_follows_the_disk_edge_spread(blur, diameter, tol):
    # a vertical step edge between columns 99 and 100 (edge at x = 100 in pixel edges)
    img = np.zeros((200, 200, 1), np.float32)
    img[:, 100:] = 1.0
    out = blur(img, diameter)[100, :, 0]
    x = np.arange(200) + 0.5 - 100.0
    expected = disk_esf(x, diameter / 2)
    inner = slice(30, 170)  # away from the zero padding of the image borders
    assert np.max(np.abs(out[inner] - expected[inner])) < tol
    # the 5% to 95% transition is as wide as the disk's
    ramp = np.count_nonzero((out[inner] > 0.05) & (out[inner] < 0.95))
    expected_ramp = np.count_nonzero((expected[inner] > 0.05) & (expected[inner] < 0.95))
    assert abs(ramp - expected_ramp) <= max(1, 0.1 * expected_ramp)


@pytest.mark.parametrize("diameter, airy", [(0.2, 0.5), (6.0, 0.0), (12.0, 3.0), (40.0, 0.0)])
def test_array_module_blur_equals_the_opencv_blur(rng, diameter, airy):
    # the CuPy path's maths (here with NumPy and SciPy) against the OpenCV path
    img = np.zeros((160, 200, 4), np.float32)
    img[40:120, 50:150] = rng.random((80, 100, 4), dtype=np.float32)
    a = optics.defocus_blur(img, diameter, airy)
    b = _blur_numpy_xp(img, diameter, airy)
    assert a.shape == b.shape and b.dtype == np.float32
    assert np.abs(a - b).max() < (1e-5 if diameter < 16 else 0.05)
    assert abs(float(a.sum()) - float(b.sum())) < 1e-3 * float(a.sum())  # light is kept
