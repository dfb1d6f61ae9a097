import cv2
import numpy as np
import pytest

from viewfinder.stages.color import apply_matrix, color_matrix_for
from viewfinder.stages.output import to_rgba8
from viewfinder.stages.resize import area_downscale, area_weights, view_size_for
from viewfinder.stages.tone import srgb_decode, srgb_encode, tone, tone_lut


def test_srgb_encode_known_values_and_inverse():
    x = np.array([0.0, 0.0031308, 0.18, 0.5, 1.0, 2.0, -1.0], np.float32)
    e = srgb_encode(x)
    np.testing.assert_allclose(e[[0, 2, 3, 4]], [0.0, 0.46135613, 0.7353570, 1.0], atol=1e-5)
    assert abs(e[5] - 1.0) < 1e-6 and e[6] == 0.0
    np.testing.assert_allclose(srgb_decode(e[:5]), np.clip(x[:5], 0, 1), atol=1e-6)


def test_contrast_curve_is_monotonic_and_fixes_ends():
    x = np.linspace(0, 1, 1001, dtype=np.float32)
    for k in (0.0, 0.5, 1.0):
        y = tone(x, "contrast", k)
        assert np.all(np.diff(y) >= 0) and y[0] == 0 and abs(y[-1] - 1) < 1e-6
    # strength 0 is plain sRGB; strength 1 darkens the shadows
    np.testing.assert_allclose(tone(x, "contrast", 0.0), tone(x, "srgb"))
    assert tone(x, "contrast", 1.0)[200] < tone(x, "srgb")[200]


def test_tone_lut_samples_tone():
    lut = tone_lut("srgb", 0.5, size=1025)
    np.testing.assert_allclose(lut, tone(np.linspace(0, 1, 1025, dtype=np.float32)), atol=1e-7)


def test_unknown_tone_curve():
    with pytest.raises(ValueError, match="unknown tone curve 'gamma'"):
        tone(np.zeros(3, np.float32), "gamma")


def test_apply_matrix_definition(rng):
    rgb = rng.random((5, 7, 3), dtype=np.float32)
    m = rng.normal(size=(3, 3)).astype(np.float32)
    out = apply_matrix(rgb, m)
    np.testing.assert_allclose(out, np.einsum("ij,hwj->hwi", m, rgb), rtol=1e-5, atol=1e-6)


def test_color_matrix_for_defaults_and_validation():
    np.testing.assert_array_equal(color_matrix_for({}), np.eye(3))
    with pytest.raises(ValueError, match="3x3"):
        color_matrix_for({"color_matrix": [[1, 2], [3, 4]]})


@pytest.mark.parametrize("size", [(64, 48), (50, 31), (127, 95), (128, 96), (1, 1)])
def test_area_downscale_equals_opencv_inter_area(size, rng):
    img = rng.random((96, 128, 3), dtype=np.float32)
    ours = area_downscale(img, size)
    peer = cv2.resize(img, size, interpolation=cv2.INTER_AREA).reshape(ours.shape)
    np.testing.assert_allclose(ours, peer, atol=2e-6)


def test_area_downscale_preserves_mean_and_flat_fields(rng):
    img = rng.random((90, 120), dtype=np.float32)
    small = area_downscale(img, (40, 30))  # exact 3x: the mean of 3x3 blocks
    np.testing.assert_allclose(small, img.reshape(30, 3, 40, 3).mean(axis=(1, 3)), atol=1e-6)
    flat = area_downscale(np.full((61, 83, 3), 0.3, np.float32), (17, 11))
    np.testing.assert_allclose(flat, 0.3, atol=1e-6)


def test_area_weights_rows_sum_to_one_and_refuse_upscale():
    for src, dst in [(10, 3), (1080, 720), (8192, 2048), (7, 7)]:
        _, w = area_weights(src, dst)
        np.testing.assert_allclose(w.sum(axis=1), 1.0, atol=1e-6)
    with pytest.raises(ValueError, match="dst <= src"):
        area_weights(4, 8)


def test_view_size_for_clamps_to_frame():
    assert view_size_for((1920, 1080), None) == (1920, 1080)
    assert view_size_for((1920, 1080), (4000, 720)) == (1920, 720)


def test_to_rgba8_rounds_and_clips():
    d = np.array([[[0.0, 0.5, 1.2], [-0.1, 1 / 255, 0.998]]], np.float32)
    out = to_rgba8(d)
    np.testing.assert_array_equal(out[0, 0], [0, 128, 255, 255])
    np.testing.assert_array_equal(out[0, 1], [0, 1, 254, 255])


def _matrix_formula(rgb: np.ndarray, m: np.ndarray) -> np.ndarray:
    """The definition in float32, in the order apply_matrix promises (no FMA, no BLAS)."""
    m = m.astype(np.float32)
    r, g, b = (rgb[..., k].astype(np.float32) for k in range(3))
    return np.stack([(m[i, 0] * r + m[i, 1] * g) + m[i, 2] * b for i in range(3)], axis=-1)


def test_apply_matrix_is_the_float32_formula_exactly(rng):
    rgb = rng.normal(0.4, 0.5, (33, 47, 3)).astype(np.float32)
    m = rng.normal(size=(3, 3)).astype(np.float32)
    want = _matrix_formula(rgb, m)
    np.testing.assert_array_equal(apply_matrix(rgb, m), want)
    inplace = rgb.copy()
    assert apply_matrix(inplace, m, out=inplace) is inplace
    np.testing.assert_array_equal(inplace, want)
    crop = rgb[3:20:2, 5:40]  # a strided view, and 1-D / 2-D stacks of pixels
    np.testing.assert_array_equal(apply_matrix(crop, m), want[3:20:2, 5:40])
    np.testing.assert_array_equal(apply_matrix(rgb[4], m), want[4])
    np.testing.assert_array_equal(apply_matrix(rgb[4, 9], m), want[4, 9])


def test_apply_matrix_device_path_needs_no_blas(dxp, monkeypatch, rng):
    """CuPy's matmul loads cuBLAS, which the cuda12/cuda13 extras do not install: the device
    path must be element-wise arithmetic, equal to the NumPy path, in place and allocation-free
    with a scratch buffer."""
    cp = dxp

    def no_blas(*a, **k):
        raise ImportError("libcublas.so.13: cannot open shared object file")

    for name in ("matmul", "dot", "einsum", "tensordot", "inner", "vdot"):
        monkeypatch.setattr(cp, name, no_blas, raising=False)
    rgb = rng.normal(0.4, 0.5, (24, 40, 3)).astype(np.float32)
    m = rng.normal(size=(3, 3)).astype(np.float32)
    want = apply_matrix(rgb, m)
    got = apply_matrix(cp.asarray(rgb), m)
    assert isinstance(got, cp.ndarray)
    np.testing.assert_array_equal(got.get(), want)
    dev = cp.asarray(rgb)
    scratch = cp.empty((3, 24, 40), np.float32)
    if cp.__name__ == "viewfinder.cudasim":
        with cp.counting() as counted:
            assert apply_matrix(dev, m, out=dev, scratch=scratch) is dev
        assert counted.allocations == 0 and counted.copies == []  # nor an upload of the matrix
    else:
        assert apply_matrix(dev, m, out=dev, scratch=scratch) is dev
    np.testing.assert_array_equal(dev.get(), want)
