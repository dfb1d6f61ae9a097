"""The IMX989 sensor model: photon transfer, linearity, clipping, kernels vs reference."""

from __future__ import annotations

import ctypes

import numpy as np
import pytest

from tests.kernels.shim import build_shim, ptr
from viewfinder.sources import sensor as sensor_module
from viewfinder.sources.sensor import IMX989, FrameRing, Sensor, expose_reference


def flat(shape: tuple[int, int], rate: float) -> np.ndarray:
    return np.full(shape, rate, np.float32)


@pytest.mark.parametrize("iso", [100, 800, 6400])
def test_flat_patch_variance_matches_photon_transfer(iso):
    sensor = Sensor(IMX989, seed=iso)  # native 1.6 um pixels; a 512 x 512 window
    p = sensor.noise_params(iso)
    # aim at ~40% of the raw range whatever the ISO
    mean_e = 0.4 * (p.white_level - p.black_level) / p.gain_dn_per_e
    out = np.empty((512, 512), np.uint16)
    sensor.expose(flat((512, 512), mean_e / 0.01), 0.01, iso, out=out)
    values = out.astype(np.float64)
    signal = values.mean() - p.black_level
    assert signal == pytest.approx(p.gain_dn_per_e * mean_e, rel=0.01)
    model = p.variance_dn2(signal)
    assert values.var() == pytest.approx(model, rel=0.05)
    # the read noise matters at high ISO: the model is not just shot noise there
    if iso == 6400:
        assert p.read_noise_dn**2 > 0.02 * model


def test_dark_frame_variance_is_read_noise():
    sensor = Sensor(IMX989, seed=3)
    p = sensor.noise_params(3200)
    out = np.empty((512, 512), np.uint16)
    sensor.expose(flat((512, 512), 0.0), 0.01, 3200, out=out)
    values = out.astype(np.float64)
    assert values.mean() == pytest.approx(p.black_level, abs=0.1)
    assert values.var() == pytest.approx(p.read_noise_dn**2 + 1 / 12, rel=0.05)


def test_doubling_exposure_doubles_signal():
    sensor = Sensor(IMX989, (1024, 768), seed=1)
    rate = flat((768, 1024), 1.0e7)
    black = IMX989.black_level
    s1 = sensor.expose(rate, 0.01, 100).mean() - black
    s2 = sensor.expose(rate, 0.02, 100).mean() - black
    assert 100 < s1 and s2 < 900  # below clipping
    assert s2 / s1 == pytest.approx(2.0, rel=0.005)


def test_clipping_at_full_well_and_white_level():
    sensor = Sensor(IMX989, (64, 64), seed=2)
    # base ISO: the full well lands on the white level
    p50 = sensor.noise_params(50)
    assert p50.black_level + p50.gain_dn_per_e * p50.full_well_e == pytest.approx(1023)
    huge = flat((64, 64), 1e12)
    out = sensor.expose(huge, 1.0, 50)
    assert out.min() >= 1015 and out.max() == 1023
    # ISO 800: the white level clips first, at exactly 1023
    assert np.all(sensor.expose(huge, 1.0, 800) == 1023)
    assert np.all(sensor.expose(flat((64, 64), 0.0), 1.0, 50, noise=False) == 64)


def test_binned_and_small_outputs_scale_with_pixel_area():
    native = Sensor(IMX989).noise_params(400)
    binned_sensor = Sensor(IMX989, "binned")
    assert (binned_sensor.width, binned_sensor.height) == (4096, 3072)
    binned = binned_sensor.noise_params(400)
    assert binned_sensor.pixel_um == pytest.approx(3.2)
    assert binned.full_well_e == pytest.approx(4 * native.full_well_e)
    assert binned.gain_dn_per_e == pytest.approx(native.gain_dn_per_e / 4)
    assert Sensor(IMX989, (1920, 1080)).height_mm < IMX989.height_mm  # a 16:9 crop


@pytest.mark.parametrize("size", [(8193, 6144), (1921, 1080), (16384, 100), (2, 2), "half"])
def test_bad_sizes_are_refused(size):
    with pytest.raises(ValueError, match="sensor output size"):
        Sensor(IMX989, size)


@pytest.mark.parametrize(
    "time_s, iso, match",
    [
        (0.01, 40, r"ISO must be in \[50.0, 6400.0\]"),
        (0.01, 12800, r"ISO must be in"),
        (0.0, 100, r"exposure time \(s\) must be in"),
        (60.0, 100, r"exposure time \(s\) must be in"),
        ("fast", 100, r"exposure time \(s\) must be a number"),
    ],
)
def test_bad_exposure_is_refused(time_s, iso, match):
    sensor = Sensor(IMX989, (64, 64))
    with pytest.raises(ValueError, match=match):
        sensor.expose(flat((64, 64), 1.0), time_s, iso)


def test_noise_bank_is_standard_normal():
    sensor = Sensor(IMX989, (1024, 768), seed=9)
    size = sensor._noise_bank(1024 * 768)[0].size
    assert size == 1024 * 768 + Sensor.BANK_SLACK
    z = sensor.noise_deviates(0, size).astype(np.float64)
    assert abs(z.mean()) < 1e-6 and z.var() == pytest.approx(1.0, abs=1e-6)
    assert np.mean(z**4) == pytest.approx(3.0, abs=0.02)  # Gaussian kurtosis


def _reference_bank(rng: np.random.Generator, n: int) -> tuple[np.ndarray, float, float]:
    """The bank as first written: one float32 draw of the whole bank, NumPy's mean and std."""
    z = rng.standard_normal(n, dtype=np.float32) * Sensor.BANK_CODES_PER_SIGMA
    codes = np.clip(np.rint(z), -127, 127).astype(np.int8)
    mean = codes.mean(dtype=np.float64)
    std = codes.std(dtype=np.float64)
    return codes, float(1.0 / std), float(-mean / std)


@pytest.mark.parametrize("chunk", [None, 1000, 1 << 22])
def test_noise_bank_is_bit_identical_to_one_draw(monkeypatch, chunk):
    # Drawn in chunks straight into the codes, the squares summed along NumPy's pairwise
    # tree: the same codes, scale and offset as the whole-array draw (and the generator left
    # in the same state for the frame offsets), here also across a growth of the bank.
    if chunk is not None:
        monkeypatch.setattr(sensor_module, "_CODE_CHUNK", chunk)
    # Seed 20: at both sizes a correctly rounded sum of the squares (from a 256-bin count of
    # the codes) gives another float64 std than NumPy's pairwise one (1 seed in 5 does).
    ref_rng = np.random.default_rng(20)
    sensor = Sensor(IMX989, (64, 36), seed=20)
    for pixels in (64 * 36, 128 * 72 + 5):
        ref = _reference_bank(ref_rng, pixels + Sensor.BANK_SLACK)
        bank = sensor._noise_bank(pixels)
        assert np.array_equal(bank[0], ref[0])
        assert (bank[1], bank[2]) == (ref[1], ref[2])
    assert np.array_equal(sensor._rng.integers(0, 1 << 20, 4), ref_rng.integers(0, 1 << 20, 4))


def test_numba_kernel_equals_reference(rng):
    sensor = Sensor(IMX989, (256, 128), seed=5)
    rate = rng.uniform(0, 6e5, size=(132, 260)).astype(np.float32)  # with a margin
    p = sensor.noise_params(800)
    out = sensor.expose(rate, 0.01, 800, offset=(2, 4), noise_offsets=(10, 5000))
    n = 128 * 256
    z1 = sensor.noise_deviates(10, n).reshape(128, 256)
    z2 = sensor.noise_deviates(5000, n).reshape(128, 256)
    ref = expose_reference(rate[2:130, 4:260] * np.float32(0.01), z1, z2, p)
    diff = np.abs(out.astype(int) - ref.astype(int))
    assert diff.max() <= 1  # float rounding at .5 ties only
    assert np.mean(diff) < 1e-3
    mean_only = sensor.expose(rate, 0.01, 800, offset=(2, 4), noise=False)
    zeros = np.zeros_like(z1)
    ref0 = expose_reference(rate[2:130, 4:260] * np.float32(0.01), zeros, zeros, p)
    assert np.abs(mean_only.astype(int) - ref0.astype(int)).max() <= 1


SHIM = r"""
#include "vf_sim.cuh"
extern "C" void sim_pixels(const float* mean_e, const float* z1, const float* z2, int n,
                           float gain, float fw, float read_dn, float black, float white,
                           unsigned short* out) {
    for (int i = 0; i < n; ++i)
        out[i] = vf_sim_pixel(mean_e[i], z1[i], z2[i], gain, fw, read_dn, black, white);
}
extern "C" void expose_frame(const float* rate, int rate_w, int oy, int ox, unsigned short* out,
                             int w, int h, float t, float gain, float fw, float read_dn,
                             float black, float white, unsigned int seed, int noise) {
    for (int y = 0; y < h; ++y)  // the grid of vf_sim_expose, one thread per pixel
        for (int x = 0; x < w; ++x)
            out[(long long)y * w + x] = vf_sim_expose_at(rate, rate_w, oy, ox, x, y, w, t, gain,
                                                         fw, read_dn, black, white, seed, noise);
}
extern "C" void normals(int n, unsigned int seed, float* z1, float* z2) {
    for (int i = 0; i < n; ++i) vf_normal_pair((unsigned int)i, seed, z1 + i, z2 + i);
}
"""


def test_cuda_pixel_maths_equals_reference(rng):
    lib = build_shim(SHIM, "vf_sim")
    p = Sensor(IMX989, (64, 64)).noise_params(1600)
    n = 200_000
    mean_e = rng.uniform(-5, 1.2 * p.full_well_e / 8, n).astype(np.float32)
    z1 = rng.standard_normal(n).astype(np.float32)
    z2 = rng.standard_normal(n).astype(np.float32)
    out = np.empty(n, np.uint16)
    f = ctypes.c_float
    lib.sim_pixels(
        ptr(mean_e),
        ptr(z1),
        ptr(z2),
        n,
        f(p.gain_dn_per_e),
        f(p.full_well_e),
        f(p.read_noise_dn),
        f(p.black_level),
        f(p.white_level),
        ptr(out),
    )
    ref = expose_reference(mean_e, z1, z2, p)
    diff = np.abs(out.astype(int) - ref.astype(int))
    assert diff.max() <= 1 and np.mean(diff) < 1e-3
    assert (ref == 1023).any() and (ref < 1023).any()


def test_cuda_normals_are_standard_and_independent():
    lib = build_shim(SHIM, "vf_sim")
    n = 1 << 20
    z1, z2 = np.empty(n, np.float32), np.empty(n, np.float32)
    lib.normals(n, ctypes.c_uint(7), ptr(z1), ptr(z2))
    for z in (z1, z2):
        assert abs(z.mean()) < 5e-3 and z.var() == pytest.approx(1.0, abs=5e-3)
        assert abs(np.mean(z**4) - 3.0) < 0.05  # Gaussian kurtosis
    assert abs(np.corrcoef(z1, z2)[0, 1]) < 5e-3
    assert abs(np.corrcoef(z1[:-1], z1[1:])[0, 1]) < 5e-3  # neighbours independent
    w1, w2 = np.empty(n, np.float32), np.empty(n, np.float32)
    lib.normals(n, ctypes.c_uint(8), ptr(w1), ptr(w2))  # next frame: fresh numbers
    assert abs(np.corrcoef(z1, w1)[0, 1]) < 5e-3


def _kernel_frame(lib, rate, offset, size, p, time_s, seed, noise):
    w, h = size
    out = np.empty((h, w), np.uint16)
    f = ctypes.c_float
    lib.expose_frame(
        ptr(rate),
        rate.shape[1],
        offset[0],
        offset[1],
        ptr(out),
        w,
        h,
        f(time_s),
        f(p.gain_dn_per_e),
        f(p.full_well_e),
        f(p.read_noise_dn),
        f(p.black_level),
        f(p.white_level),
        ctypes.c_uint(seed),
        int(noise),
    )
    return out


def test_cuda_kernel_body_matches_the_numpy_sensor(rng):
    # the per-pixel body of kernels/sim.cu run on the CPU over a whole frame
    lib = build_shim(SHIM, "vf_sim")
    sensor = Sensor(IMX989, (320, 240), seed=4)
    p = sensor.noise_params(400)
    rate = rng.uniform(0, 3e7, size=(260, 340)).astype(np.float32)  # a margin around
    mean = sensor.expose(rate, 0.01, 400, offset=(6, 12), noise=False)
    frame = _kernel_frame(lib, rate, (6, 12), (320, 240), p, 0.01, 0, noise=False)
    assert np.abs(frame.astype(int) - mean.astype(int)).max() <= 1  # same window, same maths
    # noisy: a flat field follows the photon-transfer model, fresh noise per seed
    flat_rate = np.full((240, 320), 2e7, np.float32)
    a = _kernel_frame(lib, flat_rate, (0, 0), (320, 240), p, 0.01, 1, noise=True)
    b = _kernel_frame(lib, flat_rate, (0, 0), (320, 240), p, 0.01, 2, noise=True)
    signal = a.mean() - p.black_level
    assert signal == pytest.approx(p.gain_dn_per_e * 2e5, rel=0.01)
    assert a.astype(np.float64).var() == pytest.approx(p.variance_dn2(signal), rel=0.05)
    assert abs(np.corrcoef(a.ravel(), b.ravel())[0, 1]) < 0.02


def test_frame_ring_rewrites_a_buffer_only_once_nothing_holds_it():
    """FrameRing (the host frame buffers of a sensor): a buffer comes back only once no
    array, view or buffer export of it is held; one more is made while all are held, kept
    up to max_buffers; beyond that frames are fresh allocations the ring does not keep."""
    from numpy.lib.stride_tricks import as_strided

    ring = FrameRing((4, 6), np.uint16, max_buffers=4)
    a = ring.take()
    assert a.shape == (4, 6) and a.dtype == np.uint16 and len(ring) == 1
    a_ptr = a.ctypes.data
    del a
    assert ring.take().ctypes.data == a_ptr and len(ring) == 1  # free: the same buffer
    holders = [
        lambda b: b,  # the frame itself
        lambda b: b[1:3, ::2],  # a view
        lambda b: as_strided(b, (2, 2), (4, 2)),  # a view through another object
        lambda b: memoryview(b),  # a buffer export
    ]
    held = []
    for hold in holders:
        b = ring.take()
        b[...] = len(held) + 1
        held.append(hold(b))
        del b
    assert len(ring) == 4 and ring.grown == 4 and ring.unkept == 0
    extra = [ring.take() for _ in range(3)]  # every kept buffer is held: unkept frames
    assert len(ring) == 4 and ring.unkept == 3
    for e in extra:
        e[...] = 99
    for i, h in enumerate(held):
        assert np.all(np.asarray(h) == i + 1)  # never handed out again while held
    del held[1]  # the view's buffer is free again, the others are not
    b = ring.take()
    assert len(ring) == 4 and ring.unkept == 3
    b[...] = 7
    assert [int(np.asarray(h).ravel()[0]) for h in held] == [1, 3, 4]
    ring.clear()
    assert len(ring) == 0 and np.all(b == 7)  # a held frame outlives the ring
    with pytest.raises(ValueError, match="max_buffers"):
        FrameRing((4, 4), max_buffers=0)


def test_sensor_frame_buffers_are_per_sensor_and_released():
    sensor = Sensor(IMX989, (64, 48))
    rate = np.full((48, 64), 1e4, np.float32)
    f = sensor.expose(rate, 0.01, 100, out=sensor.frame_buffer())
    g = sensor.expose(rate, 0.01, 100, out=sensor.frame_buffer())
    assert f.shape == (48, 64) and not np.shares_memory(f, g) and len(sensor._frames) == 2
    other = Sensor(IMX989, (64, 48), seed=1)
    assert not np.shares_memory(other.frame_buffer(), f)
    sensor.release_frames()
    assert sensor._frames is None and f.shape == (48, 64)
