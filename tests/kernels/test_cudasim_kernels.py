"""Every CUDA kernel of viewfinder/kernels, executed on cudasim and compared with NumPy.

Each check runs the project's own device code path (the stage functions, engines and the
pipeline that launch the kernels) on the cudasim backend and compares its output with the
NumPy path: bit-exact for integer outputs (histograms, zebra flags, peaking levels and the
raw-clip bit, scopes, the composited view), within float rounding for float outputs. A check
declares the kernels it must execute; the runtime's launch counter proves they ran.

``test_every_kernel_has_a_check`` enumerates the ``extern "C" __global__`` kernels of every
``.cu`` file: a new kernel without a check fails it. The mutation tests edit a copy of the
sources (a removed ``__syncthreads()``, two swapped ``int`` parameters) and require the checks
to fail, so that these tests are known to catch such bugs.
"""

from __future__ import annotations

import collections
import contextlib
import re
import shutil
from collections.abc import Callable, Iterator
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

import viewfinder.kernels as vk
import viewfinder.stages.demosaic as demosaic_stage
from tests.stages.test_assists import all_on, run, view_image
from tests.stages.test_histogram import bincount_oracle
from tests.stages.test_peaking import BITS, WHITE, capture, textured_scene
from viewfinder import Frame, Settings, cudasim
from viewfinder.cudasim.simt.build import build
from viewfinder.frame import CFA_PATTERNS
from viewfinder.pipeline import Pipeline
from viewfinder.sources.sensor import IMX989, GpuExposer, Sensor
from viewfinder.stages.demosaic import demosaic
from viewfinder.stages.histogram import raw_histogram
from viewfinder.stages.peaking import PeakingEngine, PeakingSettings

pytestmark = [
    pytest.mark.cudasim,
    pytest.mark.skipif(shutil.which("g++") is None, reason="cudasim needs g++"),
]
cp = cudasim
# Frames are never square, so that a swapped width and height cannot go unnoticed.
H, W = 70, 102


def _device_frame(frame: Frame) -> Frame:
    return replace(frame, data=cp.asarray(frame.data))


def _test_frame(seed: int = 10, h: int = 200, w: int = 328) -> Frame:
    rng = np.random.default_rng(seed)
    frame = capture(textured_scene(rng, h, w), 1600, rng)
    frame.data[10:14, 20:30] = WHITE  # clipped sites: the raw zebra bit
    return frame


def check_demosaic(method: str, dtype: type) -> None:
    rng = np.random.default_rng(3)
    for cfa in CFA_PATTERNS:
        raw = rng.integers(0, 1024, (H, W)).astype(dtype)
        if dtype == np.float32:
            raw /= 1023
        ref = demosaic(raw, cfa, method)
        got = demosaic(cp.asarray(raw), cfa, method).get()
        # no FMA contraction on the CPU: the same float operations as NumPy, bar rounding
        np.testing.assert_allclose(got, ref, rtol=2e-5, atol=2e-5 * ref.max(), err_msg=cfa)


def check_preview(method: str) -> None:
    frame = _test_frame(4, 120, 176)
    s = Settings(demosaic=method, view_size=(61, 43), tone="contrast", contrast=0.3)
    ref = Pipeline(s, backend="numpy", reference=True).process(frame)
    out = Pipeline(s, backend="cudasim", schedule="per-stage").process(frame)
    assert out.path == ("cuda-hq" if method == "hq" else "cuda-fused")
    assert np.abs(out.image.get().astype(int) - ref.image).max() <= 1


#: (frame (H, W), view (w, h), CFA, method, bits): scales of 2, 1.5 (1920 -> 1280), 4
#: (8192 -> 2048; bilinear and MHC: the integer-scale develop of tile.cu), 1:1 and an odd
#: one; frames that are not a multiple of the tile; 12 bits (the histogram in global
#: memory); the 4x4 minimum frame.
TILE_CASES = [
    ((240, 320), (160, 120), "RGGB", "mhc", 10),
    ((216, 384), (256, 144), "GRBG", "mhc", 10),
    ((384, 512), (128, 96), "GBRG", "bilinear", 10),
    ((328, 392), (98, 82), "GRBG", "mhc", 10),  # 4:1 MHC, 82 rows: not a multiple of the tile
    ((200, 328), (328, 200), "BGGR", "mhc", 10),
    ((202, 330), (97, 61), "BGGR", "bilinear", 12),
    ((4, 4), (4, 4), "RGGB", "mhc", 10),
]


def _tile_case_frame(shape: tuple[int, int], cfa: str, bits: int, seq: int) -> Frame:
    h, w = shape
    frame = _test_frame(h + w, max(h, 16), max(w, 16))
    data = np.ascontiguousarray(frame.data[:h, :w])
    noise = dict(frame.meta["noise"])
    if bits == 12:  # the same scene with 2 more bits
        data = data * 4 + 3
        noise = {k: v * 4 for k, v in noise.items()}
    white = (1 << bits) - 1
    return Frame(data, cfa, 64 << (bits - 10), white, bits, seq, meta={"noise": noise})


def check_tile_pass() -> None:
    """The tiled schedule against the per-stage one (bit for bit: view, overlays, histogram)
    and the develop against the NumPy reference (1 LSB)."""
    for shape, view, cfa, method, bits in TILE_CASES:
        s = replace(all_on(), demosaic=method, view_size=view, magnifier=Settings().magnifier)
        tiled = Pipeline(s, backend="cudasim", schedule="tiled")
        staged = Pipeline(s, backend="cudasim", schedule="per-stage")
        host = Pipeline(s, backend="numpy")
        for seq in range(3):  # the RAW histogram comes back a frame late
            frame = _tile_case_frame(shape, cfa, bits, seq)
            dev = replace(frame, data=cp.asarray(frame.data))
            a, b, c = tiled.process(dev), staged.process(dev), host.process(frame)
            cp.cuda.Stream.null.synchronize()
        case = f"{shape} -> {view} {cfa} {method} {bits} bits"
        assert a.path == "cuda-tiled" and b.path == "cuda-fused", case
        np.testing.assert_array_equal(a.image.get(), b.image.get(), case)
        np.testing.assert_array_equal(a.view.get(), b.view.get(), case)
        for name in ("peaking", "zebra", "view_histogram"):
            np.testing.assert_array_equal(
                getattr(a.assists, name).get(), getattr(b.assists, name).get(), f"{case} {name}"
            )
        np.testing.assert_array_equal(a.assists.raw_histogram, c.assists.raw_histogram, case)
        assert np.abs(a.image.get().astype(int) - c.image).max() <= 1, case
        if shape[0] > 8:
            assert a.assists.peaking.get().any(), f"{case}: no peaking marks to compare"


#: (curve code, contrast): sRGB, linear, the S-curve off, mild, default and at full strength
#: (where the evaluated curve's last bits break a step's window: the curve is kept)
TONES = [(0, 0.5), (1, 0.5), (2, 0.0), (2, 0.3), (2, 0.5), (2, 1.0)]


def check_tone_thresholds() -> None:
    """vf_tone_thresholds' table against the device's own vf_tone bytes (every float within
    300 of each threshold, 200k uniform ones, the ends) and NumPy's tone (1 LSB: NumPy's
    powf is not glibc's); the table is taken wherever its windows hold."""
    from viewfinder.schedules.cuda_tile import TilePass
    from viewfinder.stages.tone import tone

    tp = TilePass(cp, (64, 64), (32, 32), 10)
    code = vk.module_code("tile", tuple(sorted(tp._defines.items()))) + (
        'extern "C" __global__ void tone_bytes(const float* x, int n, int curve, float k,'
        " unsigned char* out) { for (int i = blockIdx.x * blockDim.x + threadIdx.x; i < n;"
        " i += blockDim.x * gridDim.x) out[i] = (unsigned char)vf_tone_byte(x[i], curve, k); }"
    )
    device_bytes = cp.RawModule(code=code, options=vk.NVRTC_OPTIONS).get_function("tone_bytes")
    rng = np.random.default_rng(5)
    names = {0: "srgb", 1: "linear", 2: "contrast"}
    for curve, contrast in TONES:
        ok = tp.commit_tone(curve, contrast)
        assert ok or (curve, contrast) == (2, 1.0), (curve, contrast)
        if not ok:
            continue
        tab = tp.tone_table.get()
        assert tab[0] == -np.inf and np.all(np.diff(tab[1:].view(np.int32)) > 0)
        near = (tab[1:].view(np.int32)[:, None] + np.arange(-300, 301)[None]).ravel()
        near = near[(near >= 0) & (near <= 0x3F800000)].astype(np.int32).view(np.float32)
        ends = np.float32([-1.0, -0.0, 0.0, 1e-30, 0.0031308, 1.0, 1.5, 1e30])
        x = np.concatenate([near, rng.random(200_000, dtype=np.float32), ends])
        out = cp.zeros(x.size, cp.uint8)
        args = (cp.asarray(x), np.int32(x.size), np.int32(curve), np.float32(contrast), out)
        device_bytes((64, 1, 1), (256, 1, 1), args)
        got = np.searchsorted(tab[1:], x, side="right")
        np.testing.assert_array_equal(got, out.get(), f"{curve} {contrast}")
        ref = np.clip(tone(x, names[curve], contrast), 0, 1) * np.float32(255) + np.float32(0.5)
        assert np.abs(got - ref.astype(np.uint8).astype(int)).max() <= 1


def check_tile_tones() -> None:
    """The tiled pass (tone thresholds where they hold, the curve else) against the per-stage
    one, bit for bit, for every tone of TONES at 1.5:1, 4:1 and 1:1, and with float views
    (the curve: the display floats need its value); the default assists (the module
    without the RAW zebra's clip flags)."""
    for (shape, view, cfa, method, bits), floats in (
        (TILE_CASES[1], False),
        (TILE_CASES[3], False),
        (TILE_CASES[4], False),
        (TILE_CASES[1], True),
    ):
        for curve, contrast in TONES:
            tone = {0: "srgb", 1: "linear", 2: "contrast"}[curve]
            s = Settings(demosaic=method, view_size=view, tone=tone, contrast=contrast)
            tiled = Pipeline(s, backend="cudasim", schedule="tiled", float_outputs=floats)
            staged = Pipeline(s, backend="cudasim", schedule="per-stage", float_outputs=floats)
            frame = _tile_case_frame(shape, cfa, bits, 0)
            dev = replace(frame, data=cp.asarray(frame.data))
            a, b = tiled.process(dev), staged.process(dev)
            case = f"{shape} -> {view} {tone} {contrast} floats={floats}"
            assert a.path == "cuda-tiled" and b.path == "cuda-fused", case
            np.testing.assert_array_equal(a.image.get(), b.image.get(), case)
            np.testing.assert_array_equal(a.view.get(), b.view.get(), case)
            # the default assists: RAW zebra off (the module without its clip flags)
            assert not s.zebra.raw and a.assists is not None, case
            for name in ("peaking", "zebra"):
                got, want = getattr(a.assists, name), getattr(b.assists, name)
                assert (got is None) == (want is None), f"{case} {name}"
                if got is not None:
                    np.testing.assert_array_equal(got.get(), want.get(), f"{case} {name}")
            if floats:
                np.testing.assert_array_equal(a.display.get(), b.display.get(), case)


def check_peaking() -> None:
    frame = _test_frame()
    pooled = []
    for xp, f in ((np, frame), (cp, _device_frame(frame))):
        engine = PeakingEngine()
        engine.configure(xp, frame.shape, (90, 131), BITS)
        out = engine.run(f, PeakingSettings(True), raw_white=WHITE)
        pooled.append(out if xp is np else out.get())
    host, dev = pooled
    assert (host & 3).any() and (host & 4).any()  # marks and clipped sites both present
    np.testing.assert_array_equal(dev, host)


def check_view_pass() -> None:
    for fc in (False, True):
        frame = _test_frame(8, 192, 256)
        s = all_on(fc=fc)
        clean = view_image(np.random.default_rng(9))
        _, host, host_view = run(frame, s, clean)
        _, dev, dev_view = run(_device_frame(frame), s, clean, xp=cp)
        for name in ("peaking", "zebra", "view_histogram", "waveform", "parade", "vectorscope"):
            assert getattr(host, name).any(), name
            np.testing.assert_array_equal(getattr(dev, name).get(), getattr(host, name), name)
        if fc:
            np.testing.assert_array_equal(dev.false_colour.get(), host.false_colour)
        np.testing.assert_array_equal(dev_view.get(), host_view)


def check_raw_histogram() -> None:
    for bits in (10, 16):  # shared-memory bins, and global atomics above 11 bits
        raw = np.random.default_rng(bits).integers(0, 1 << bits, (H, W), dtype=np.uint16)
        raw[:8] = (1 << bits) - 1  # a clipped band: many threads on one bin
        for cfa in CFA_PATTERNS:
            got = raw_histogram(cp.asarray(raw), cfa, bits).get()
            np.testing.assert_array_equal(got, bincount_oracle(raw, cfa, bits))


def check_sim_expose() -> None:
    sensor = Sensor(IMX989, (W, H))
    margin = 6
    rate = np.random.default_rng(5).uniform(1e8, 3e9, (H + 2 * margin, W + 2 * margin))
    rate = rate.astype(np.float32)
    gpu = GpuExposer(W, H, xp="cudasim")
    gpu.set_rate("k", rate)
    got = gpu.expose((margin, 2), 1 / 100, sensor.noise_params(100), seed=7, noise=False)
    want = sensor.expose(rate, 1 / 100, 100, (margin, 2), noise=False)
    assert want.min() < 150 and want.max() == 1023 and np.unique(want).size > 500
    assert np.abs(got.get().astype(int) - want.astype(int)).max() <= 1


def check_scene_mosaic() -> None:
    from viewfinder.sources import scene_depth as sd

    rng = np.random.default_rng(5)
    src = rng.random((9, 40, 5), dtype=np.float32)
    src[:, :, 3] *= 6.0  # blur circles 0-6 work px
    tiles, periods, offsets, lut = sd.detail_octaves(0.02, 1.5, 3)  # 6 grain octaves
    w, h, y0, x0 = 77, 23, 3, 1
    xi, xw = sd._cubic_taps(0.12 * np.arange(w) + 0.7, src.shape[1])
    yi, yw = sd._cubic_taps(0.3 * np.arange(h) + 0.4, src.shape[0])
    vy = rng.random(h, dtype=np.float32) + 0.5
    vx = rng.random(w, dtype=np.float32) + 0.5
    planes = np.empty((5, src.shape[0], w), np.float32)
    sd._rows_pass_planar(src, xi, xw, planes)
    want = np.empty((h, w), np.float32)
    args = (tiles, periods, offsets, lut, vy, vx)
    sd._mosaic_pass(planes, yi, yw, np.float32(2.5), y0, x0, *args, want)
    inp = {"work": src, "xi": xi, "xw": xw, "yi": yi, "yw": yw, "coc_scale": np.float32(2.5)}
    inp |= {"vy": vy, "vx": vx}
    detail = (cp.asarray(tiles), cp.asarray(lut), periods, offsets)
    got = sd._device_mosaic(cp, inp, (y0, x0, y0 + h, x0 + w), detail)
    np.testing.assert_allclose(got.get(), want, rtol=1e-5, atol=1e-7)


def check_scene_planes() -> None:
    from tests.sources.test_scene_grid import pass_case, planes_pass_mosaic, split
    from viewfinder.sources import scene_grid as sg

    y0, x0, h, w = 3, 4, 45, 70  # odd row, even column: a swapped parity shows
    pi, pf, m, buf, edges, tiles, vy, vx = pass_case(y0, x0, True, h, w)
    want = planes_pass_mosaic(y0, x0, h, w, pi, pf, m, buf, edges, [tiles], vy, vx)
    window = (y0, x0, y0 + h, x0 + w)
    got = sg.device_pass(cp, window, pi, pf, m, split(buf, pi, cp), edges, [tiles], vy, vx)
    np.testing.assert_allclose(got.get(), want, rtol=1e-5, atol=1e-6 * float(want.max()))


DEMOSAIC = {
    "bilinear": ["vf_demosaic_bilinear_{}"],
    "mhc": ["vf_demosaic_mhc_{}"],
    "hq": [
        "vf_hq_directions_{}",
        "vf_hq_green_{}",
        "vf_hq_rb_{}",
        "vf_hq_refine_{}",
        "vf_hq_rb_at_g",
    ],
}
#: check -> the kernels it must execute
CHECKS: dict[str, tuple[Callable[[], None], set[str]]] = {
    **{
        f"demosaic-{m}-{s}": (
            lambda m=m, t=t: check_demosaic(m, t),
            {k.format(s) for k in DEMOSAIC[m]},
        )
        for m in DEMOSAIC
        for s, t in (("u16", np.uint16), ("f32", np.float32))
    },
    "preview-bilinear": (lambda: check_preview("bilinear"), {"vf_preview_raw"}),
    "preview-mhc": (lambda: check_preview("mhc"), {"vf_preview_raw"}),
    "preview-hq": (lambda: check_preview("hq"), {"vf_preview_rgb"}),
    "peaking": (check_peaking, {"vf_peak_luma", "vf_peak_score", "vf_peak_pool"}),
    "tile-pass": (check_tile_pass, {"vf_tile_pass"}),
    "tone-thresholds": (check_tone_thresholds, {"vf_tone_thresholds"}),
    "tile-tones": (check_tile_tones, {"vf_tile_pass", "vf_tone_thresholds"}),
    "view-pass": (check_view_pass, {"vf_view_pass"}),
    "raw-histogram": (check_raw_histogram, {"vf_raw_histogram"}),
    "sim-expose": (check_sim_expose, {"vf_sim_expose"}),
    "scene-mosaic": (check_scene_mosaic, {"vf_scene_mosaic"}),
    "scene-planes": (check_scene_planes, {"vf_scene_planes"}),
}


def _run_check(name: str) -> set[str]:
    """Run check ``name``; return the kernels it launched."""
    before = collections.Counter(cp.counters.executed)
    CHECKS[name][0]()
    after = cp.counters.executed
    return {k for k in after if after[k] > before[k]}


@pytest.mark.parametrize("name", CHECKS)
def test_kernel_equals_numpy(name):
    ran = _run_check(name)
    assert CHECKS[name][1] <= ran, f"{name} did not execute {CHECKS[name][1] - ran}"


def all_kernels() -> set[str]:
    """Every ``extern "C" __global__`` kernel of the package's .cu files (and define variants
    the code compiles: the histogram's global-atomics one)."""
    names: set[str] = set()
    for path in vk.source_files():
        names.update(build(vk.module_code(path.stem), vk.NVRTC_OPTIONS).kernels)
    return names


def test_every_kernel_has_a_check():
    declared = set().union(*(kernels for _, kernels in CHECKS.values()))
    kernels = all_kernels()
    assert len(kernels) >= 21
    assert kernels - declared == set(), "kernels without a check against NumPy"
    assert declared - kernels == set(), "checks of kernels that no longer exist"


# ---- mutation tests: the checks must catch a broken kernel ------------------------------------


@contextlib.contextmanager
def mutated_kernels(tmp_path: Path, file: str, mutate: Callable[[str], str]) -> Iterator[None]:
    """The kernels loaded from a copy of viewfinder/kernels with ``file`` edited."""
    copy = tmp_path / "kernels"
    shutil.copytree(vk.KERNEL_DIR, copy, ignore=shutil.ignore_patterns("*.py", "__pycache__"))
    text = (copy / file).read_text()
    edited = mutate(text)
    assert edited != text, "the mutation changed nothing"
    (copy / file).write_text(edited)
    old = vk.KERNEL_DIR

    def clear() -> None:
        vk._load.cache_clear()
        vk._function.cache_clear()
        demosaic_stage._KERNELS.clear()

    clear()
    vk.KERNEL_DIR = copy
    try:
        yield
    finally:
        vk.KERNEL_DIR = old
        clear()


@pytest.mark.parametrize("which", [0, 1])
def test_a_removed_syncthreads_in_histogram_cu_is_caught(tmp_path, which):
    def drop(text: str) -> str:
        spots = [m.start() for m in re.finditer(r"__syncthreads\(\);", text)]
        assert len(spots) == 2
        at = spots[which]
        return text[:at] + text[at + len("__syncthreads();") :]

    with mutated_kernels(tmp_path, "histogram.cu", drop), pytest.raises(AssertionError):
        check_raw_histogram()
    check_raw_histogram()  # and the real source passes again


def swap_int_parameters(text: str, kernel: str) -> str:
    """Swap the first two adjacent ``int`` parameters of ``kernel``'s signature."""
    # (a launch-bounds macro may stand between ``void`` and the name: tile.cu's VF_TILE_BOUNDS)
    m = re.search(r'extern "C" __global__ void (?:[A-Z_]+ )?' + kernel + r"\s*\(([^)]*)\)", text)
    assert m, kernel
    params = m.group(1)
    swapped = re.sub(r"int (\w+), int (\w+)", r"int \2, int \1", params, count=1)
    return text[: m.start(1)] + swapped + text[m.end(1) :]


@pytest.mark.parametrize(
    "file, kernel, check",
    [
        ("assists.cu", "vf_peak_score", "peaking"),
        ("assists.cu", "vf_peak_pool", "peaking"),
        ("preview.cu", "vf_preview_raw", "preview-mhc"),
        ("histogram.cu", "vf_raw_histogram", "raw-histogram"),
        ("tile.cu", "vf_tile_pass", "tile-pass"),
        ("sim.cu", "vf_sim_expose", "sim-expose"),
        ("scene_planes.cu", "vf_scene_planes", "scene-planes"),
    ],
)
def test_swapped_int_parameters_are_caught(tmp_path, file, kernel, check):
    with (
        mutated_kernels(tmp_path, file, lambda t: swap_int_parameters(t, kernel)),
        pytest.raises(AssertionError),
    ):
        CHECKS[check][0]()
