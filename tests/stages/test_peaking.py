"""Focus peaking: sharp vs defocused scenes at three ISOs, noise, references, kernel maths."""

from __future__ import annotations

import ctypes
from dataclasses import replace

import cv2
import numpy as np
import pytest

from tests.kernels.shim import build_shim, ptr
from tests.test_pipeline_device import cudasim  # noqa: F401  (fixture)
from viewfinder import Frame
from viewfinder.stages.peaking import (
    NOISE_SCORE_MEAN,
    NOISE_SCORE_STD,
    MaxPool,
    NoiseModel,
    PeakingEngine,
    PeakingSettings,
    estimate_noise,
    maxpool_reference,
    peaking,
    peaking_reference,
    pool_area,
    pool_ranges,
    pooled_thresholds,
    score_reference,
    sharpness_reference,
    stabilise_lut,
)

FULL_WELL_E = 12000.0  # electrons at white, ISO 100
READ_E = 2.5
BLACK, BITS = 64, 10
WHITE = (1 << BITS) - 1


def textured_scene(rng: np.random.Generator, h: int = 384, w: int = 512) -> np.ndarray:
    """Linear scene: blocky edges plus fine texture; the right half defocused (sigma 3 px)."""
    blocks = cv2.resize(rng.random((h // 8, w // 8)), (w, h), interpolation=cv2.INTER_NEAREST)
    fine = cv2.GaussianBlur(rng.random((h, w)), (0, 0), 0.7)
    img = np.clip(0.05 + 0.48 * blocks + 0.6 * (fine - fine.mean()), 0.02, 0.9)
    out = img.copy()
    out[:, w // 2 :] = cv2.GaussianBlur(img, (0, 0), 3.0)[:, w // 2 :]
    return out


def capture(scene: np.ndarray, iso: float, rng: np.random.Generator, meta: bool = True) -> Frame:
    """Photon-transfer sensor: Poisson electrons (exposure scaled for ISO) + read noise, RGGB."""
    gain = (WHITE - BLACK) / FULL_WELL_E * iso / 100.0
    h, w = scene.shape
    cfa_gain = np.ones((h, w))
    cfa_gain[0::2, 0::2], cfa_gain[1::2, 1::2] = 0.55, 0.7
    electrons = rng.poisson(scene * cfa_gain * FULL_WELL_E * 100.0 / iso)
    dn = electrons * gain + rng.normal(0.0, READ_E * gain, (h, w)) + BLACK
    raw = np.clip(np.round(dn), 0, WHITE).astype(np.uint16)
    noise = {"gain_dn_per_e": gain, "read_noise_dn": READ_E * gain}
    return Frame(raw, "RGGB", BLACK, WHITE, BITS, meta={"iso": iso, "noise": noise} if meta else {})


@pytest.mark.parametrize("iso", [100, 800, 3200])
@pytest.mark.parametrize("with_model", [True, False], ids=["meta-noise", "estimated-noise"])
def test_marks_lie_in_the_sharp_half(iso, with_model):
    rng = np.random.default_rng(iso)
    frame = capture(textured_scene(rng), iso, rng, meta=with_model)
    levels = peaking(frame)
    assert levels.shape == frame.shape and levels.dtype == np.uint8
    assert levels.max() <= 3
    marked = levels > 0
    w = marked.shape[1]
    sharp, blurred = marked[:, : w // 2 - 8], marked[:, w // 2 + 8 :]  # skip the seam
    in_sharp = sharp.sum() / max(1, sharp.sum() + blurred.sum())
    assert in_sharp >= 0.90, f"only {in_sharp:.1%} of the marks in the sharp half"
    assert sharp.mean() >= 0.05, f"peaking found almost nothing ({sharp.mean():.2%})"


@pytest.mark.parametrize("with_model", [True, False])
def test_flat_noisy_area_at_iso_3200_stays_clean(with_model):
    rng = np.random.default_rng(7)
    frame = capture(np.full((256, 256), 0.3), 3200, rng, meta=with_model)
    assert (peaking(frame) > 0).mean() <= 0.01


def test_contrasty_defocused_edge_is_not_focus():
    """Plain local contrast is rejected: a big blurred step scores nothing, a sharp one does."""
    rng = np.random.default_rng(3)
    step = np.where(np.arange(256)[None, :] < 128, 0.05, 0.85) * np.ones((128, 1))
    soft = capture(cv2.GaussianBlur(step, (0, 0), 2.5), 100, rng)
    sharp = capture(step, 100, rng)
    assert (peaking(soft) > 0).mean() < 1e-3  # noise-level false positives only
    assert (peaking(soft)[:, 112:144] > 0).mean() < 0.01
    # every row but the 2 border rows (never marked), at full strength
    assert (peaking(sharp)[2:-2, 124:132] == 3).any(axis=1).all()
    assert not peaking(sharp)[[0, 1, -2, -1]].any()
    # the same gradient without the distance-2 term (plain contrast) does fire on the soft edge
    from viewfinder.stages import peaking as pk

    t = stabilise_lut(BITS, BLACK, NoiseModel.from_meta(soft.meta))[soft.data]
    h, w = t.shape
    lp = np.pad(pk._binomial_ref(t), 2, mode="reflect")
    assert (0.5 * pk._gradient_ref(lp, 1, h, w) > PeakingSettings().thresholds()[2]).any()


def test_sensitivity_is_monotonic_and_levels_nest():
    rng = np.random.default_rng(11)
    frame = capture(textured_scene(rng, 192, 256), 800, rng)
    counts = [(peaking(frame, PeakingSettings(True, s)) > 0).sum() for s in (0.0, 0.5, 1.0)]
    assert counts[0] < counts[1] < counts[2]
    t = PeakingSettings(sensitivity=0.3).thresholds()
    assert t[0] < t[1] < t[2]


def test_stabilised_noise_has_unit_std():
    """The Anscombe LUT turns shot + read noise into ~N(0, 1) at every level."""
    rng = np.random.default_rng(2)
    gain, read = 0.7, 3.0
    lut = stabilise_lut(12, 100, NoiseModel(gain, read))
    for level in (20.0, 300.0, 2500.0):
        e = rng.poisson(level / gain, 200_000)
        dn = np.clip(np.round(e * gain + rng.normal(0, read, e.size) + 100), 0, 4095)
        assert 0.9 < lut[dn.astype(np.int64)].std() < 1.1


def test_noise_estimate_recovers_the_model():
    rng = np.random.default_rng(4)
    gain, read = 0.4, 2.0
    ramp = np.linspace(20, 800, 512)[None, :] * np.ones((256, 1))
    e = rng.poisson(ramp / gain)
    raw = np.clip(np.round(e * gain + rng.normal(0, read, ramp.shape) + BLACK), 0, WHITE)
    m = estimate_noise(raw.astype(np.uint16), "RGGB", BLACK, WHITE)
    assert abs(m.gain_dn_per_e - gain) / gain < 0.25
    assert abs(m.read_noise_dn - read) / read < 0.5


@pytest.mark.parametrize("cfa", ["RGGB", "GBRG"])
def test_fast_path_equals_reference(cfa):
    rng = np.random.default_rng(5)
    frame = capture(textured_scene(rng, 130, 174), 800, rng)
    frame = Frame(frame.data, cfa, BLACK, WHITE, BITS, meta=frame.meta)
    model = NoiseModel.from_meta(frame.meta)
    s = PeakingSettings(True, 0.7)
    ref = peaking_reference(frame.data, BITS, BLACK, model, s)
    fast = peaking(frame, s)
    assert (fast != ref).mean() < 1e-3  # float rounding at a threshold, nothing more
    assert ref.any()


@pytest.mark.parametrize(
    "src,dst",
    [((100, 130), (37, 51)), ((64, 64), (64, 64)), ((10, 14), (23, 31)), ((90, 120), (45, 60))],
)
def test_maxpool_equals_reference(src, dst):
    a = np.random.default_rng(1).integers(0, 4, src).astype(np.uint8)
    out = np.empty(dst, np.uint8)
    MaxPool(src, dst)(a, out)
    np.testing.assert_array_equal(out, maxpool_reference(a, dst))
    start, stop = pool_ranges(src[0], dst[0])
    if dst[0] <= src[0]:  # a partition of the rows when downscaling
        assert start[0] == 0 and stop[-1] == src[0] and (start[1:] == stop[:-1]).all()


def test_engine_pools_levels_and_raw_clip():
    rng = np.random.default_rng(6)
    frame = capture(textured_scene(rng, 128, 160), 400, rng)
    frame.data[5, 7] = WHITE
    s = PeakingSettings(True)
    full = peaking(frame, s, view_shape=(40, 50))
    eng = PeakingEngine()
    eng.configure(np, frame.shape, (40, 50), BITS)
    pooled = eng.run(frame, s, raw_white=WHITE).copy()
    np.testing.assert_array_equal(pooled & 3, maxpool_reference(full, (40, 50)))
    clip = maxpool_reference((frame.data >= WHITE).astype(np.uint8), (40, 50))
    np.testing.assert_array_equal((pooled >> 2) & 1, clip)
    assert clip[5 * 40 // 128, 7 * 50 // 160] == 1


def kernel_pool_reference(levels: np.ndarray, clip: np.ndarray, shape) -> np.ndarray:
    """Brute force of ``vf_peak_pool``: per view pixel, the blocks of ``vf_pool_range``
    (``[j src / dst, max((j + 1) src / dst, start + 1))``), the highest level in bits 0-1 and
    bit 2 set when any site of the block is clipped."""
    (H, W), (h, w) = levels.shape, shape

    def rng_of(j, src, dst):
        s, e = j * src // dst, (j + 1) * src // dst
        return s, (e if e > s else s + 1)

    out = np.zeros(shape, np.uint8)
    for i in range(h):
        y0, y1 = rng_of(i, H, h)
        for j in range(w):
            x0, x1 = rng_of(j, W, w)
            level = int(levels[y0:y1, x0:x1].max())
            out[i, j] = level | (4 if clip[y0:y1, x0:x1].any() else 0)
    return out


@pytest.mark.parametrize(
    "src,dst", [((100, 130), (37, 51)), ((90, 120), (45, 60)), ((10, 14), (23, 31))]
)
def test_maxpool_of_flags_is_max_level_or_clip(src, dst):
    rng = np.random.default_rng(3)
    levels = rng.integers(0, 4, src).astype(np.uint8)
    clip = rng.random(src) < 0.2
    levels[clip] = rng.integers(0, 2, int(clip.sum()))  # clipped sites with low levels
    out = np.empty(dst, np.uint8)
    MaxPool(src, dst)(levels | (clip.astype(np.uint8) << 2), out, flags=True)
    np.testing.assert_array_equal(out, kernel_pool_reference(levels, clip, dst))


def test_engine_pools_peaking_with_raw_clip_as_the_kernel_does():
    """Bit-exact against the kernel's definition where a block holds a clipped site of a low
    level beside an unclipped site of a higher one (the byte maximum would say "level 0")."""
    rng = np.random.default_rng(8)
    frame = capture(textured_scene(rng, 128, 160), 400, rng)
    s, view = PeakingSettings(True), (40, 50)
    levels = peaking(frame, s, view_shape=view)
    white = float(np.percentile(frame.data, 97))  # bright sites all over the texture
    clip = frame.data >= white
    want = kernel_pool_reference(levels, clip, view)
    byte_max = maxpool_reference(levels | (clip.astype(np.uint8) << 2), view)
    assert ((byte_max & 3) != (want & 3)).sum() >= 5  # the data holds the case, several times
    eng = PeakingEngine()
    eng.configure(np, frame.shape, view, BITS)
    np.testing.assert_array_equal(eng.run(frame, s, raw_white=white), want)
    np.testing.assert_array_equal(eng.run(frame, None, raw_white=white), (want & 4))


@pytest.mark.parametrize("view", [(128, 160), (37, 51), (64, 80), (9, 8), (200, 260)])
@pytest.mark.parametrize("sensitivity", [0.3, 0.9])
def test_one_pass_frame_path_equals_the_whole_frame_steps(view, sensitivity):
    """The frame path (one pass down the frame, a few rows of each step: _peak_fused) gives
    the pooled flags of the whole-frame steps (peaking() at full resolution, then the kernel's
    pooling), at 1:1, downscaled, upscaled, with and without the clip bit or the levels."""
    rng = np.random.default_rng(11)
    frame = capture(textured_scene(rng, 128, 160), 800, rng)
    s = PeakingSettings(True, sensitivity)
    levels = peaking(frame, s, view_shape=view)
    assert levels.any()
    white = float(np.percentile(frame.data, 99))
    clip = frame.data >= white
    eng = PeakingEngine()
    eng.configure(np, frame.shape, view, BITS)
    want = kernel_pool_reference(levels, clip, view)
    np.testing.assert_array_equal(eng.run(frame, s, raw_white=white), want)
    np.testing.assert_array_equal(eng.run(frame, s), want & 3)
    np.testing.assert_array_equal(eng.run(frame, None, raw_white=white), want & 4)


@pytest.mark.cudasim
def test_device_pooling_equals_host_bit_exact(cudasim):  # noqa: F811
    """The CUDA kernels (on cudasim) and the host path give the same pooled flags, bit for
    bit, on the data where the host's byte maximum used to disagree."""
    rng = np.random.default_rng(8)
    frame = capture(textured_scene(rng, 128, 160), 400, rng)
    s, view = PeakingSettings(True), (40, 50)
    white = float(np.percentile(frame.data, 97))
    host = PeakingEngine()
    host.configure(np, frame.shape, view, BITS)
    dev = PeakingEngine()
    dev.configure(cudasim, frame.shape, view, BITS)
    dev_frame = replace(frame, data=cudasim.asarray(frame.data))
    for settings in (s, None):
        want = host.run(frame, settings, raw_white=white).copy()
        got = dev.run(dev_frame, settings, raw_white=white).get()
        np.testing.assert_array_equal(got, want)


def test_pooled_thresholds_rise_with_the_pool_area_and_stay_nested():
    s = PeakingSettings(True)
    assert s.thresholds() == s.thresholds(1.0) == pooled_thresholds(s.thresholds(), 0.5)
    assert pool_area((6144, 8192), (768, 1024)) == 64.0
    assert pool_area((100, 100), (200, 50)) == 2.0  # an upscaled axis pools nothing
    for sens in (0.0, 0.5, 1.0):
        base = PeakingSettings(True, sens).thresholds()
        last = base
        for area in (2.25, 4.0, 9.0, 64.0, 400.0):
            t = PeakingSettings(True, sens).thresholds(area)
            assert t == pooled_thresholds(base, area)  # what the pipeline hands the tiled pass
            assert all(a > b for a, b in zip(t, last, strict=True)) and t[0] < t[1] < t[2]
            last = t
    # sensitivity 0.5 at 8192x6144 in a 1024x768 view: level 1 at about 6.85 sigmas, not 5
    k = (s.thresholds(64.0)[0] - NOISE_SCORE_MEAN) / NOISE_SCORE_STD
    assert 6.7 < k < 7.0


@pytest.mark.parametrize("dst", [512, 341, 256, 128])
def test_pooled_false_alarm_rate_per_view_pixel_matches_the_site_rate(dst):
    """CFAR per view pixel: on unit white noise (a flat field after stabilisation), a view
    pixel pooling A sites (2x2, 3x3 non-integer: 1024 -> 341, 4x4, 8x8) is marked about as
    often as one site at 1:1 with the pooled thresholds; with the 1:1 ones, several times as
    often. Sensitivity 0.75 (2.5 sigmas: a rate of ~2 % that a small sample measures)."""
    rng = np.random.default_rng(12)
    s = PeakingSettings(True, 0.75)
    score = np.concatenate(
        [sharpness_reference(rng.standard_normal((1024, 1024)))[4:-4, 4:-4] for _ in range(2)]
    )
    site_rate = (score > s.thresholds()[0]).mean()
    assert 0.015 < site_rate < 0.025
    n = score.shape[1]
    ys, _ = pool_ranges(score.shape[0], score.shape[0] * dst // n)
    xs, _ = pool_ranges(n, dst)
    pooled = np.maximum.reduceat(np.maximum.reduceat(score, ys, axis=0), xs, axis=1)
    area = pool_area(score.shape, pooled.shape)
    rate = (pooled > s.thresholds(area)[0]).mean()
    assert 0.8 < rate / site_rate < 1.25, (area, rate, site_rate)
    assert (pooled > s.thresholds()[0]).mean() > 1.8 * site_rate  # what the 1:1 one gives


@pytest.mark.parametrize("value", [0, BLACK, WHITE, 500])
def test_degenerate_frames_are_sane(value):
    raw = np.full((64, 96), value, np.uint16)
    for meta in ({}, {"noise": {"gain_dn_per_e": 0.0, "read_noise_dn": 0.0}}):
        levels = peaking(Frame(raw, "RGGB", BLACK, WHITE, BITS, meta=meta))
        assert not levels.any()
    assert np.isfinite(sharpness_reference(np.zeros((8, 8)))).all()


def test_bad_settings_and_input_are_refused():
    with pytest.raises(ValueError, match=r"peaking sensitivity must be in \[0.0, 1.0\]"):
        PeakingSettings(sensitivity=1.5)
    with pytest.raises(ValueError, match="unknown peaking colour 'purple'"):
        PeakingSettings(colour="purple")
    with pytest.raises(ValueError, match="unknown peaking mode"):
        PeakingSettings(mode="overlay")
    with pytest.raises(ValueError, match="gain_dn_per_e"):
        NoiseModel(-1.0, 1.0)
    with pytest.raises(ValueError, match="takes a viewfinder.Frame"):
        peaking(np.zeros((8, 8), np.uint16))


SHIM = r"""
#include "vf_assists.cuh"
struct Lut { const unsigned short* raw; const float* lut; int w, h, top;
  float operator()(int y, int x) const {
    int v = raw[vf_mirror(y, h) * w + vf_mirror(x, w)]; return lut[v < top ? v : top]; } };
extern "C" void levels(const unsigned short* raw, const float* lut, int nlut, int w, int h,
                       float far, float t1, float t2, float t3, float fg, float* lum,
                       float* score, unsigned char* out) {
  Lut src{raw, lut, w, h, nlut - 1};
  for (int y = 0; y < h; ++y)
    for (int x = 0; x < w; ++x) lum[y * w + x] = vf_peak_binomial(src, y, x);
  VfFloatSource l{lum, w, h};
  for (int y = 0; y < h; ++y)
    for (int x = 0; x < w; ++x) score[y * w + x] = vf_peak_score(l, y, x, far);
  VfFloatSource s{score, w, h};
  for (int y = 0; y < h; ++y) for (int x = 0; x < w; ++x)
    out[y * w + x] = (unsigned char)vf_peak_level(s, l, y, x, h, w, t1, t2, t3, fg);
}
extern "C" void ranges(int src, int dst, int* start, int* stop) {
  for (int j = 0; j < dst; ++j) vf_pool_range(j, src, dst, start + j, stop + j);
}
"""


def test_kernel_maths_match_the_reference():
    lib = build_shim(SHIM, "peaking_shim")
    rng = np.random.default_rng(9)
    frame = capture(textured_scene(rng, 96, 128), 800, rng)
    model = NoiseModel.from_meta(frame.meta)
    s = PeakingSettings(True, 0.6)
    lut = stabilise_lut(BITS, BLACK, model)
    h, w = frame.shape
    lum, score = np.empty((h, w), np.float32), np.empty((h, w), np.float32)
    out = np.empty((h, w), np.uint8)
    f = ctypes.c_float
    lib.levels(
        ptr(frame.data),
        ptr(lut),
        len(lut),
        w,
        h,
        f(0.67),
        *(f(t) for t in s.thresholds()),
        f(s.floor_gain()),
        ptr(lum),
        ptr(score),
        ptr(out),
    )
    ref = peaking_reference(frame.data, BITS, BLACK, model, s)
    assert (out != ref).mean() < 1e-3 and ref.any()
    np.testing.assert_allclose(score, score_reference(lut[frame.data]), atol=1e-4)
    for src, dst in ((1000, 333), (6144, 1080), (10, 37)):
        start, stop = np.empty(dst, np.int32), np.empty(dst, np.int32)
        lib.ranges(src, dst, ptr(start), ptr(stop))
        rs, re = pool_ranges(src, dst)
        np.testing.assert_array_equal(start, rs)
        np.testing.assert_array_equal(stop, re)


def test_cupy_peaking_equals_numpy(dxp):
    cp = dxp
    rng = np.random.default_rng(10)
    frame = capture(textured_scene(rng, 256, 320), 1600, rng)
    host = peaking(frame)
    dev = peaking(Frame(cp.asarray(frame.data), "RGGB", BLACK, WHITE, BITS, meta=frame.meta))
    assert (cp.asnumpy(dev) != host).mean() < 1e-3
    eng = PeakingEngine()
    eng.configure(cp, frame.shape, (100, 128), BITS)
    pooled = eng.run(
        Frame(cp.asarray(frame.data), "RGGB", BLACK, WHITE, BITS, meta=frame.meta),
        PeakingSettings(True),
        raw_white=WHITE,
    )
    want = maxpool_reference(peaking(frame, view_shape=(100, 128)), (100, 128))
    assert (cp.asnumpy(pooled) & 3 != want).mean() < 1e-2


def test_simulated_camera_marks_follow_the_depth_ground_truth():
    """On the simulated M camera (Summilux 35 at f/1.4 focused at 3 m), >= 90 % of the marked
    sites lie within the detector's reach (4 px: binomial 1 + distance-2 taps + box 1) of a
    site whose blur circle is at most 2 px by the simulator's ground truth, at ISO 100, 800
    and 3200. (The reach matters at depth steps: a sharp object's edge is marked on both
    sides, and the far side belongs to the defocused background.)"""
    sim = pytest.importorskip("viewfinder.sources.simulated")
    cam = sim.SimulatedCamera(size=(960, 720), backend="numpy", seed=0, motion=False)
    cam.set_mode("m")
    cam.attach_lens("summilux-35")
    cam.set_aperture(1.4)
    cam.set_focus(3.0)
    for iso in (100, 800, 3200):
        cam.set_exposure(1 / 160 * 100 / iso, iso)
        frame = cam.read()
        assert "gain_dn_per_e" in frame.meta["noise"]
        in_focus = (cam.truth()["coc_px"] <= 2.0).astype(np.uint8)
        near_focus = cv2.dilate(in_focus, np.ones((9, 9), np.uint8)) > 0
        marked = peaking(frame) > 0
        assert marked.mean() > 0.02, f"ISO {iso}: almost nothing marked"
        precision = near_focus[marked].mean()
        assert precision >= 0.90, f"ISO {iso}: {precision:.1%} of the marks near focus"


@pytest.mark.parametrize("cfa", ["RGGB", "BGGR", "GRBG", "GBRG"])
def test_frame_path_counts_the_raw_histogram_on_the_way(cfa):
    """The frame path's RAW histogram (counted on the rows the stabilising table reads) is
    raw_histogram's, values above the top bin in the last; without levels it leaves it."""
    from viewfinder.stages.histogram import raw_histogram_reference

    rng = np.random.default_rng(12)
    f = capture(textured_scene(rng, 96, 130), 800, rng)
    data = f.data.copy()
    data[3, 4] = 5000  # above the 10-bit top bin
    frame = Frame(data, cfa, BLACK, WHITE, BITS, meta=f.meta)
    eng = PeakingEngine()
    eng.configure(np, frame.shape, (30, 40), BITS)
    hist = np.full((4, 1 << BITS), -1, np.int64)
    eng.run(frame, PeakingSettings(True), raw_white=WHITE, raw_hist=hist)
    assert eng.hist_done
    np.testing.assert_array_equal(hist, raw_histogram_reference(data, cfa, BITS))
    eng.run(frame, None, raw_white=WHITE, raw_hist=hist)
    assert not eng.hist_done
