"""The pipeline's device path (CuPy code) run on the cudasim backend: no GPU needed.

``viewfinder.cudasim`` runs the unmodified ``.cu`` kernels on a CPU runtime and counts host
syncs and allocations; these tests use it to check what only the device path does (pinned
uploads, events, buffers made at configure time). The ``cudasim`` fixture skips a test, with
the reason, where the stand-in cannot compile and launch a kernel here (no g++, say).
"""

from __future__ import annotations

import functools

import numpy as np
import pytest


@functools.cache
def _cudasim_problem() -> str | None:
    try:
        from viewfinder import backend as be
        from viewfinder.kernels import get_kernel

        xp = be.get_xp("cudasim")
        raw = xp.asarray(np.arange(64, dtype=np.uint16).reshape(8, 8))
        hist = xp.zeros((4, 256), xp.int64)
        kernel = get_kernel("histogram", "vf_raw_histogram", {"VF_HIST_BINS": 256}, xp=xp)
        kernel((1,), (64,), (raw, np.int32(8), np.int32(8), np.int32(0), hist))
        if int(hist.sum().get()) != 64:
            return "cudasim ran a test kernel with a wrong result"
    except Exception as exc:  # not there yet, or no compiler on this machine
        return f"viewfinder.cudasim cannot run kernels here: {type(exc).__name__}: {exc}"
    return None


@pytest.fixture
def cudasim():
    """The cudasim module (``backend.get_xp("cudasim")``), its counters reset."""
    pytest.importorskip("viewfinder.cudasim")
    problem = _cudasim_problem()
    if problem:
        pytest.skip(problem)
    from viewfinder import backend as be

    xp = be.get_xp("cudasim")
    xp.counters.reset()
    return xp


# -- the pipeline on cudasim -------------------------------------------------------------------

import types  # noqa: E402

from viewfinder import Frame, Settings  # noqa: E402
from viewfinder.pipeline import Pipeline, _UploadRing  # noqa: E402


def photo_raw(size=(96, 128), seed=0) -> np.ndarray:
    data = pytest.importorskip("skimage.data")
    from viewfinder.frame import mosaic

    img = data.astronaut()[: size[0], : size[1]].astype(np.float32) / 255.0
    rng = np.random.default_rng(seed)
    img = np.clip(img + rng.normal(0, 0.01, img.shape).astype(np.float32), 0, 1)
    return np.round(64 + mosaic(img, "RGGB") ** 2.2 * (1023 - 64)).astype(np.uint16)


META = {
    "white_balance": (1.2, 1.0, 1.1),
    "noise": {"gain_dn_per_e": 0.4, "read_noise_dn": 1.5},
    "color_matrix": [[1.7, -0.5, -0.2], [-0.2, 1.4, -0.2], [0.0, -0.6, 1.6]],
}


def host_frame(seq=0, data=None) -> Frame:
    raw = photo_raw(seed=seq) if data is None else data
    return Frame(raw, "RGGB", 64, 1023, 10, seq, meta=META)


@pytest.mark.cudasim
def test_host_frames_upload_through_pinned_buffers_without_waiting(cudasim):
    pipe = Pipeline(Settings(view_size=(64, 48)), backend="cudasim")
    pipe.process(host_frame(0))  # configure: buffers, kernels
    frames = [host_frame(k) for k in range(1, 6)]
    with cudasim.counting() as c:
        outs = [pipe.process(f).image.get(out=np.empty((48, 64, 4), np.uint8)) for f in frames]
    # the only waits are the test's own read-backs, none for the uploads
    assert [r for r in c.host_syncs if "get" not in r] == [], c.host_syncs
    h2d = [(n, pinned) for d, n, pinned in c.copies if d == "h2d"]
    assert h2d == [(96 * 128 * 2, True)] * 5, c.copies  # one pinned upload a frame
    assert c.allocations == 0
    ref = Pipeline(Settings(view_size=(64, 48)), backend="numpy", reference=True)
    for f, got in zip(frames, outs, strict=True):  # each frame's own pixels (no ring mix-up)
        assert np.abs(got.astype(int) - ref.process(f).image).max() <= 1
    assert pipe._uploads.waits == 0


@pytest.mark.cudasim
def test_a_frame_already_in_pinned_memory_is_not_copied_on_the_host(cudasim):
    from viewfinder.backend import cupyx_module

    pipe = Pipeline(Settings(view_size=(64, 48)), backend="cudasim")
    pipe.process(host_frame(0))
    pinned = cupyx_module(cudasim).empty_pinned((96, 128), np.uint16)
    pinned[...] = photo_raw(seed=3)
    ring_before = [h.copy() for h in pipe._uploads.host]
    out = pipe.process(host_frame(3, data=pinned))
    assert pipe._uploads.direct == 1
    for before, after in zip(ring_before, pipe._uploads.host, strict=True):
        np.testing.assert_array_equal(before, after)  # the ring was not written
    ref = Pipeline(Settings(view_size=(64, 48)), backend="numpy", reference=True)
    got = out.image.get()
    assert np.abs(got.astype(int) - ref.process(host_frame(3)).image).max() <= 1


class _FakeEvent:
    def __init__(self, block=False, disable_timing=False):
        self.done_flag, self.recorded, self.waited = True, 0, 0

    def record(self, stream=None):
        self.recorded += 1

    @property
    def done(self):
        return self.done_flag

    def synchronize(self):
        self.waited += 1
        self.done_flag = True


class _FakeDst:
    def __init__(self):
        self.sets: list[tuple[int, object]] = []

    def set(self, arr, stream=None):
        assert stream is not None, "an upload must be asynchronous, on the current stream"
        self.sets.append((arr.__array_interface__["data"][0], stream))


def test_upload_ring_waits_only_for_an_unfinished_buffer(monkeypatch):
    stream = object()
    xp = types.SimpleNamespace(
        __name__="fakecupy",
        cuda=types.SimpleNamespace(Event=_FakeEvent, get_current_stream=lambda: stream),
    )
    cupyx = types.SimpleNamespace(empty_pinned=lambda shape, dtype: np.zeros(shape, dtype))
    monkeypatch.setattr("viewfinder.backend.cupyx_module", lambda _: cupyx)
    ring, dst = _UploadRing(xp, (4, 6)), _FakeDst()
    frames = [np.full((4, 6), k, np.uint16) for k in range(7)]
    for k in range(3):
        ring.upload(frames[k], dst)
    assert [e.recorded for e in ring.events] == [1, 1, 1] and ring.waits == 0
    ring.events[0].done_flag = False  # the GPU has not finished frame 0's copy yet
    ring.upload(frames[3], dst)
    assert ring.events[0].waited == 1 and ring.waits == 1  # so its buffer waits, once
    ring.upload(frames[4], dst)  # buffer 1: done, no wait
    assert ring.events[1].waited == 0 and ring.waits == 1
    ptrs = [p for p, _ in dst.sets]
    assert ptrs[:3] == [h.__array_interface__["data"][0] for h in ring.host]
    assert ptrs[3] == ptrs[0] and ptrs[4] == ptrs[1]
    assert all(s is stream for _, s in dst.sets)
    np.testing.assert_array_equal(ring.host[1], frames[4])


@pytest.mark.cudasim
def test_gpu_timer_makes_no_events_per_frame(cudasim, monkeypatch):
    pipe = Pipeline(Settings(view_size=(64, 48)), backend="cudasim")
    pipe.process(host_frame(0))
    pipe.process(host_frame(1))
    made = []
    original = cudasim.cuda.Event

    class Counted(original):
        def __init__(self, *a, **k):
            made.append(1)
            super().__init__(*a, **k)

    monkeypatch.setattr(cudasim.cuda, "Event", Counted)
    for k in range(2, 6):
        out = pipe.process(host_frame(k))
        assert "gpu_total" in out.timings_ms and "gpu_develop" in out.timings_ms
    assert made == []


@pytest.mark.cudasim
def test_float_views_are_written_only_when_asked(cudasim):
    s = Settings(view_size=(64, 48), tone="contrast", contrast=0.3)
    frame = host_frame(0)
    ref = Pipeline(s, backend="numpy", reference=True).process(frame)
    lean = Pipeline(s, backend="cudasim")
    with cudasim.counting() as c:
        out = lean.process(frame)
    assert out.linear is None and out.display is None
    assert np.abs(out.image.get().astype(int) - ref.image).max() <= 1
    (lean_bytes,) = [n for name, n in c.launches if name == "vf_tile_pass"]
    full = Pipeline(s, backend="cudasim", float_outputs=True)
    with cudasim.counting() as c:
        out = full.process(frame)
    (full_bytes,) = [n for name, n in c.launches if name == "vf_tile_pass"]
    assert full_bytes - lean_bytes == 2 * 48 * 64 * 3 * 4  # linear and display not passed
    np.testing.assert_allclose(out.linear.get(), ref.linear, atol=2e-5, rtol=1e-4)
    np.testing.assert_allclose(out.display.get(), ref.display, atol=5e-4)
    lean.float_outputs = True  # asked for between frames: made from the next frame on
    assert lean.process(frame).linear is not None


@pytest.mark.cudasim
@pytest.mark.parametrize("host", [True, False], ids=["host-frames", "device-frames"])
@pytest.mark.parametrize("noise_meta", [True, False], ids=["noise-model", "estimated-noise"])
def test_a_frame_with_every_assist_neither_waits_nor_allocates(cudasim, host, noise_meta):
    from viewfinder.stages.falsecolor import FalseColourSettings
    from viewfinder.stages.histogram import HistogramSettings
    from viewfinder.stages.magnifier import MagnifierSettings
    from viewfinder.stages.peaking import PeakingSettings
    from viewfinder.stages.scopes import ScopeSettings
    from viewfinder.stages.zebra import ZebraSettings

    s = Settings(
        peaking=PeakingSettings(enabled=True),
        zebra=ZebraSettings(enabled=True, raw=True),
        histogram=HistogramSettings(raw=True, view=True),
        false_colour=FalseColourSettings(enabled=True),
        scopes=ScopeSettings(waveform=True, parade=True, vectorscope=True),
        magnifier=MagnifierSettings(enabled=True, size=(32, 32), zoom=2),
        view_size=(64, 48),
    )
    pipe = Pipeline(s, backend="cudasim")
    meta = dict(META) if noise_meta else {}

    def frame(seq):
        raw = photo_raw(seed=seq)
        return Frame(raw if host else cudasim.asarray(raw), "RGGB", 64, 1023, 10, seq, meta=meta)

    frames = [frame(k) for k in range(40)]
    for f in frames[:3]:
        pipe.process(f)
    with cudasim.counting() as c:  # including frame 30, where a new noise estimate is due
        for f in frames[3:]:
            pipe.process(f)
    assert c.host_syncs == [] and c.allocations == 0, c.summary()


@pytest.mark.cudasim
@pytest.mark.parametrize("method", ["bilinear", "mhc", "hq"])
def test_every_method_with_every_assist_is_steady_and_equals_numpy(cudasim, method):
    """Bilinear, MHC (the tiled pass) and hq (the per-stage chain) with every assist on: no
    host wait and no allocation per frame once configured, and the view's develop equal to
    the NumPy path (within an LSB; hq within FMA-free rounding)."""
    from tests.stages.test_gpu_stages import all_assists_on

    s = all_assists_on(demosaic=method, view_size=(80, 60))
    dev, host = Pipeline(s, backend="cudasim"), Pipeline(s, backend="numpy")
    frames = [Frame(photo_raw(seed=k), "RGGB", 64, 1023, 10, k, meta=dict(META)) for k in range(5)]
    for f in frames[:2]:
        dev.process(f)
    with cudasim.counting() as c:
        for f in frames[2:]:
            out = dev.process(f)
    assert c.host_syncs == [] and c.allocations == 0, c.summary()
    assert out.path == {"bilinear": "cuda-tiled", "mhc": "cuda-tiled", "hq": "cuda-hq"}[method]
    ref = host.process(frames[-1])
    assert np.abs(out.image.get().astype(int) - ref.image).max() <= 1
