"""PinnedReadback (stages/histogram.py) under a GPU that lags: a fake CuPy whose copies into
pinned memory land only when the test completes their events, and a run on cudasim.

The invariant: ``latest()`` never returns a buffer with a copy in flight, and it returns the
newest earlier push whose copy has completed.
"""

from __future__ import annotations

import sys
import types

import numpy as np
import pytest

from tests.test_pipeline_device import cudasim  # noqa: F401  (fixture)
from viewfinder.stages.histogram import PinnedReadback

POISON = -1  # what a buffer holds while a copy into it is in flight


class FakeGpu:
    """One stream: copies queue up in order; ``complete(n)`` lands the first ``n``."""

    def __init__(self) -> None:
        self.pending: list[tuple[np.ndarray, np.ndarray]] = []  # (pinned dst, value)
        self.landed = 0  # copies completed since the start
        self.enqueued = 0

    def complete(self, n: int | None = None) -> None:
        n = len(self.pending) if n is None else min(n, len(self.pending))
        for dst, value in self.pending[:n]:
            dst[...] = value
        del self.pending[:n]
        self.landed += n


class FakeEvent:
    gpu: FakeGpu

    def __init__(self, block: bool = False, disable_timing: bool = False) -> None:
        self.mark: int | None = None

    def record(self, stream=None) -> None:
        self.mark = self.gpu.enqueued  # done once every copy enqueued so far has landed

    @property
    def done(self) -> bool:
        return self.mark is None or self.gpu.landed >= self.mark

    def synchronize(self) -> None:  # pragma: no cover - must not be called
        raise AssertionError("PinnedReadback waited on the host")


class FakeDev:
    """A device array: ``get(out=pinned, blocking=False)`` is a copy in flight."""

    def __init__(self, gpu: FakeGpu, value: np.ndarray) -> None:
        self.gpu, self.value = gpu, value

    def get(self, stream=None, out=None, blocking=True):
        assert not blocking and out is not None
        out[...] = POISON  # whatever the buffer holds mid-copy
        self.gpu.pending.append((out, self.value.copy()))
        self.gpu.enqueued += 1
        return out


@pytest.fixture
def fake(monkeypatch):
    gpu = FakeGpu()
    event = type("Event", (FakeEvent,), {"gpu": gpu})
    xp = types.ModuleType("fakecupy")
    xp.cuda = types.SimpleNamespace(Event=event)
    cupyx = types.ModuleType("cupyx")
    cupyx.empty_pinned = lambda shape, dtype: np.zeros(shape, dtype)
    monkeypatch.setitem(sys.modules, "cupyx", cupyx)
    return xp, gpu


def frame(gpu: FakeGpu, k: int) -> FakeDev:
    return FakeDev(gpu, np.full((4, 8), k, np.int64))


def test_latest_never_returns_a_buffer_being_copied_into(fake):
    """The interleaving that broke the two alternating buffers: frame 1 shown (buffer 1),
    frame 2 into buffer 0 and frame 3 into buffer 1 with neither copy done; ``latest`` then
    fell back on buffer 1, which frame 3's copy was overwriting."""
    xp, gpu = fake
    rb = PinnedReadback(xp, (4, 8), np.int64)
    rb.push(frame(gpu, 0))
    gpu.complete()
    assert rb.latest() is None  # only this frame's push: nothing a frame old yet
    rb.push(frame(gpu, 1))
    gpu.complete()
    shown = rb.latest()
    assert (shown == 0).all()
    rb.push(frame(gpu, 2))  # the GPU lags from here: no copy lands
    held = rb.latest()
    assert (held == 1).all()
    rb.push(frame(gpu, 3))
    got = rb.latest()
    assert not (got == POISON).any(), "latest() returned a buffer with a copy in flight"
    assert (got == 1).all()  # still the newest completed push
    assert (held == 1).all()  # and what it returned before was not overwritten
    gpu.complete()
    rb.push(frame(gpu, 4))
    assert (rb.latest() == 3).all()  # frames 2 and 3 landed: the newest earlier one


@pytest.mark.parametrize("seed", range(6))
@pytest.mark.parametrize("depth", [2, 3, 4])
def test_random_lag_schedules_keep_the_invariant(fake, seed, depth):
    xp, gpu = fake
    rng = np.random.default_rng(seed)
    rb = PinnedReadback(xp, (4, 8), np.int64, depth=depth)
    accepted: list[int] = []  # pushes that were copied (not skipped), by frame number
    landed_upto = 0  # accepted[:landed_upto] have landed
    previous = -1
    for k in range(200):
        skipped = rb.skipped
        rb.push(frame(gpu, k))
        if rb.skipped == skipped:
            accepted.append(k)
        if rng.random() < 0.6:  # the GPU catches up on some of its queue
            n = int(rng.integers(0, len(gpu.pending) + 1))
            gpu.complete(n)
            landed_upto += n
        got = rb.latest()
        landed = [f for f in accepted[:landed_upto] if f != k]
        if got is None:
            assert previous < 0
            continue
        assert not (got == POISON).any(), f"frame {k}: a buffer with a copy in flight"
        value = int(got[0, 0])
        assert (got == value).all() and value in landed
        assert value >= previous  # never goes back in time
        previous = value
        if depth >= 3:  # a free buffer always exists: the newest landed earlier push
            assert value == max(landed), (k, value, max(landed))
    assert previous > 150  # and it keeps up


@pytest.mark.cudasim
def test_cudasim_readback_is_a_frame_late_and_never_mid_copy(cudasim):  # noqa: F811
    """On cudasim a copy into pinned memory lands only when its event is queried or synced:
    the buffer latest() returns must hold exactly the frame it stands for."""
    cp = cudasim
    rb = PinnedReadback(cp, (4, 16), np.int64)
    dev = cp.zeros((4, 16), cp.int64)
    seen = []
    with cp.counting() as c:
        for k in range(8):
            dev.fill(k)
            rb.push(dev)
            got = rb.latest()
            seen.append(None if got is None else int(got[0, 0]))
            if got is not None:
                assert (got == got[0, 0]).all()
    assert seen == [None, *range(7)]
    assert c.host_syncs == []
