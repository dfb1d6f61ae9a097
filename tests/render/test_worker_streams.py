"""Stream ordering between the processing thread and the window thread (CuPy path, on the CPU).

The processor writes result slots on its own CUDA stream, the window thread copies them into
textures on another; neither waits on the host. A stand-in CuPy logs every event record and
stream wait, and the test checks the order the GPU would see: the window waits for a slot's
copies (``ready_event``) before it reads it, and the processor waits for the window's reads
(``consumed_event``) before it writes that slot again.
"""

from __future__ import annotations

import types
from types import SimpleNamespace

import numpy as np
import pytest

from viewfinder.frame import Frame
from viewfinder.render.worker import Processor
from viewfinder.sources.base import FrameRing

LOG: list[tuple] = []


class _Stream:
    def __init__(self, name: str) -> None:
        self.name = name

    def wait_event(self, event: _Event) -> None:
        assert event.recorded_on is not None, "waiting on an event never recorded"
        LOG.append(("wait", self.name, event.name))


class _Event:
    count = 0

    def __init__(self, block: bool = False, disable_timing: bool = False) -> None:
        _Event.count += 1
        self.name = f"event{_Event.count}"
        self.recorded_on: str | None = None

    def record(self, stream: _Stream) -> None:
        self.recorded_on = stream.name
        LOG.append(("record", stream.name, self.name))

    @property
    def done(self) -> bool:
        return self.recorded_on is not None


@pytest.fixture
def fake_cupy(monkeypatch):
    LOG.clear()
    viewer_stream = _Stream("viewer")
    cp = types.ModuleType("cupy")
    cp.cuda = SimpleNamespace(Event=_Event, get_current_stream=lambda: viewer_stream)
    cp.empty = np.empty  # the slots' arrays: host memory stands in for device memory
    monkeypatch.setattr(_Pipeline, "xp", cp)  # the processor uses its pipeline's module
    return viewer_stream


class _Pipeline:
    backend = "cupy"
    on_device = True
    xp = np

    def process(self, frame: Frame) -> SimpleNamespace:
        view = np.full((4, 6, 4), frame.seq, np.uint8)
        return SimpleNamespace(
            assists=None, view=view, frame=frame, timings_ms={}, path="cuda", backend="cupy"
        )


def _frame(seq: int) -> Frame:
    return Frame(np.zeros((4, 6), np.uint16), "RGGB", black_level=64, bits=10, seq=seq)


def _consume(result, stream: _Stream) -> None:
    """What Viewer._take does around its uploads (GPU-side waits and records only)."""
    stream.wait_event(result.ready_event)
    if result.consumed_event is None:
        result.consumed_event = _Event()
    result.consumed_event.record(stream)


def test_slots_are_rewritten_only_after_the_window_read_them(fake_cupy):
    viewer = fake_cupy
    proc = Processor(_Pipeline(), FrameRing(3))
    proc._stream = _Stream("proc")  # what _run sets up on the processing thread
    taken = []  # the result slot shown after each publish
    for seq in range(8):
        LOG.append(("publish", seq))
        proc._publish(_Pipeline().process(_frame(seq)))
        result = proc.take()
        assert result is not None and result.arrays["image"][0, 0, 0] == seq
        assert result.ready_event.recorded_on == "proc"
        _consume(result, viewer)
        taken.append((result, result.consumed_event.name))
    # three slots in turn: publish k rewrites the slot shown after publish k - 3, and must
    # first wait (on the processor's stream) for the window's reads of it, and only for them
    marks = [i for i, e in enumerate(LOG) if e[0] == "publish"] + [len(LOG)]
    for seq in range(8):
        span = LOG[marks[seq] + 1 : marks[seq + 1]]
        waits = [e for e in span if e[0] == "wait" and e[1] == "proc"]
        if seq < 3:
            assert waits == [], span
            continue
        slot, event = taken[seq - 3]
        assert slot is taken[seq][0]
        assert waits == [("wait", "proc", event)], span
        ready = ("record", "proc", slot.ready_event.name)
        assert span.index(waits[0]) < span.index(ready)  # before the slot is written


def test_process_one_orders_its_copies_on_the_calling_stream(fake_cupy):
    viewer = fake_cupy
    proc = Processor(_Pipeline(), FrameRing(3))  # no thread: _stream stays None
    first = proc.process_one(_frame(1))
    assert first.ready_event is not None and first.ready_event.recorded_on == "viewer"
    _consume(first, viewer)
    for seq in (2, 3, 4):
        proc.process_one(_frame(seq))
    assert ("wait", "viewer", first.consumed_event.name) in LOG
