import threading

import numpy as np
import pytest

from viewfinder import Frame
from viewfinder.sources.base import FrameRing, FrameSource, SourceError, SourceThread


def frame(seq: int) -> Frame:
    return Frame(np.zeros((4, 4), np.uint16), seq=seq)


def test_ring_drops_oldest_and_counts():
    ring = FrameRing(capacity=2)
    for i in range(5):
        ring.put(frame(i))
    assert ring.dropped == 3 and len(ring) == 2
    assert ring.get(0).seq == 3 and ring.get(0).seq == 4
    assert ring.get(timeout=0.01) is None


def test_latest_skips_to_newest_and_counts_skipped():
    ring = FrameRing(capacity=4)
    for i in range(3):
        ring.put(frame(i))
    assert ring.latest(0).seq == 2 and ring.dropped == 2 and len(ring) == 0


def test_bad_capacity():
    with pytest.raises(ValueError, match="capacity must be >= 1, got 0"):
        FrameRing(0)


class CountingSource:
    """A real FrameSource: frames numbered from 0, failing after ``fail_after`` reads."""

    name = "counting"

    def __init__(self, fail_after: int) -> None:
        self.n = 0
        self.fail_after = fail_after
        self.gate = threading.Semaphore(0)

    def read(self) -> Frame:
        if self.n >= self.fail_after:
            raise SourceError("camera disconnected")
        self.n += 1
        return frame(self.n - 1)

    def close(self) -> None:
        pass


def test_source_thread_fills_the_given_empty_ring_and_reports_errors():
    src = CountingSource(fail_after=3)
    assert isinstance(src, FrameSource)
    ring = FrameRing(capacity=8)  # empty: must still be the ring the thread fills
    thread = SourceThread(src, ring).start()
    seqs = [ring.get(timeout=2).seq for _ in range(3)]
    thread.stop()
    assert thread.ring is ring and seqs == [0, 1, 2]
    assert isinstance(thread.error, SourceError) and "disconnected" in str(thread.error)
