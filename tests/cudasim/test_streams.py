"""cudasim's cupy.cuda: streams, events, deferred read-back into pinned memory, the device."""

from __future__ import annotations

import sys
import threading
import time

import numpy as np
import pytest

import viewfinder.cudasim as cp
from viewfinder.cudasim import counting, cupyx

cuda = cp.cuda


@pytest.fixture
def dev() -> cp.ndarray:
    return cp.asarray(np.arange(12, dtype=np.uint16).reshape(3, 4))


def _pinned_like(a: cp.ndarray) -> np.ndarray:
    out = cupyx.empty_pinned(a.shape, a.dtype)
    out.fill(0)
    return out


# -- deferred read-back ---------------------------------------------------------------------
def test_async_readback_into_pinned_memory_lands_at_event_synchronize(dev: cp.ndarray) -> None:
    host = _pinned_like(dev)
    with counting() as c:
        assert dev.get(out=host, blocking=False) is host
        assert not host.any()  # stale: the copy has not landed
        ev = cuda.Event()
        ev.record()
        assert not host.any()
        assert c.host_syncs == [] and c.deferred_readbacks == 1
        ev.synchronize()
    assert c.host_syncs == ["Event.synchronize()"]
    assert c.copies == [("d2h", 24, True)]
    np.testing.assert_array_equal(host, np.arange(12).reshape(3, 4))


def test_event_done_lands_copies_recorded_before_it(dev: cp.ndarray) -> None:
    host = _pinned_like(dev)
    stream = cuda.Stream(non_blocking=True)
    dev.get(out=host, stream=stream, blocking=False)
    ev = stream.record()
    with counting() as c:
        assert ev.done is True  # a query, not a wait
    assert c.host_syncs == []
    assert host[2, 3] == 11


def test_an_event_recorded_before_the_copy_does_not_land_it(dev: cp.ndarray) -> None:
    host = _pinned_like(dev)
    early = cuda.Event()
    early.record()
    dev.get(out=host, blocking=False)
    early.synchronize()
    assert not host.any()
    cuda.get_current_stream().synchronize()
    assert host[1, 1] == 5


def test_the_copy_carries_the_data_as_of_when_it_was_queued(dev: cp.ndarray) -> None:
    host = _pinned_like(dev)
    dev.get(out=host, blocking=False)
    dev += 100  # a later kernel on the same stream
    cuda.Stream.null.synchronize()
    assert host[0, 0] == 0 and host[2, 3] == 11


def test_stream_and_device_synchronize_land_pending_copies(dev: cp.ndarray) -> None:
    a, b = _pinned_like(dev), _pinned_like(dev)
    s1, s2 = cuda.Stream(), cuda.Stream()
    dev.get(out=a, stream=s1, blocking=False)
    dev.get(out=b, stream=s2, blocking=False)
    with counting() as c:
        s1.synchronize()
        assert a[0, 1] == 1 and not b.any()  # only s1's work
        cuda.Device().synchronize()
    assert b[0, 1] == 1
    assert c.host_syncs == ["Stream.synchronize()", "Device.synchronize()"]


def test_wait_event_chains_streams(dev: cp.ndarray) -> None:
    host = _pinned_like(dev)
    producer, consumer = cuda.Stream(), cuda.Stream()
    dev.get(out=host, stream=producer, blocking=False)
    consumer.wait_event(producer.record())
    assert not host.any()
    consumer.synchronize()
    assert host[2, 0] == 8


def test_a_blocking_get_waits_for_earlier_work_on_its_stream(dev: cp.ndarray) -> None:
    host = _pinned_like(dev)
    dev.get(out=host, blocking=False)
    with counting() as c:
        dev.get()
    assert c.host_syncs == ["get()"] and host[0, 3] == 3


def test_non_blocking_get_into_pageable_memory_is_synchronous(dev: cp.ndarray) -> None:
    host = np.zeros((3, 4), np.uint16)
    with counting() as c:
        dev.get(out=host, blocking=False)
        fresh = dev.get(blocking=False)  # a new NumPy array is pageable too
    assert host[2, 3] == 11 and fresh[2, 3] == 11
    assert c.deferred_readbacks == 0 and len(c.host_syncs) == 2
    assert c.copies == [("d2h", 24, False), ("d2h", 24, False)]


def test_pinned_readback_of_the_histogram_stage_reads_a_frame_late(
    dev: cp.ndarray, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "cupyx", cupyx)
    from viewfinder.stages.histogram import PinnedReadback

    rb = PinnedReadback(cp, dev.shape, dev.dtype)
    with counting() as c:
        rb.push(dev)
        assert rb.latest() is None  # nothing pushed a frame ago yet
        rb.push(dev + 1)
        first = rb.latest()
    assert first is not None and first[2, 3] == 11
    assert c.host_syncs == [] and c.deferred_readbacks == 2


# -- streams --------------------------------------------------------------------------------
def test_streams_have_distinct_pointers_and_null_is_zero() -> None:
    s1, s2 = cuda.Stream(), cuda.Stream(non_blocking=True)
    assert cuda.Stream.null.ptr == 0 and cuda.Stream(null=True) == cuda.Stream.null
    assert len({s1.ptr, s2.ptr, 0}) == 3 and s1 != s2
    assert cuda.get_current_stream() == cuda.Stream.null
    assert s1.done is True


def test_current_stream_is_a_thread_local_context() -> None:
    s = cuda.Stream()
    seen: list[cuda.Stream] = []
    with s:
        assert cuda.get_current_stream() is s
        t = threading.Thread(target=lambda: seen.append(cuda.get_current_stream()))
        t.start()
        t.join()
        with cuda.Stream.null:
            assert cuda.get_current_stream() == cuda.Stream.null
        assert cuda.get_current_stream() is s
    assert seen == [cuda.Stream.null]
    assert cuda.get_current_stream() == cuda.Stream.null
    try:
        assert s.use() is s and cuda.get_current_stream() is s
    finally:
        cuda.Stream.null.use()


# -- events and timing ----------------------------------------------------------------------
def test_elapsed_time_between_events() -> None:
    start, end = cuda.Event(), cuda.Event()
    start.record()
    time.sleep(0.01)
    end.record()
    end.synchronize()
    ms = cuda.get_elapsed_time(start, end)
    assert 5.0 < ms < 1000.0


def test_elapsed_time_refuses_unrecorded_or_untimed_events() -> None:
    start, end = cuda.Event(), cuda.Event()
    start.record()
    with pytest.raises(RuntimeError, match="never recorded"):
        cuda.get_elapsed_time(start, end)
    untimed = cuda.Event(disable_timing=True)
    untimed.record()
    with pytest.raises(RuntimeError, match="disable_timing"):
        cuda.get_elapsed_time(start, untimed)
    with pytest.raises(ValueError, match="Timing must be disabled"):
        cuda.Event(interprocess=True)
    assert cuda.Event().done is True  # never recorded: complete, as in CUDA
    assert cuda.Event().ptr != cuda.Event().ptr


# -- device and runtime ---------------------------------------------------------------------
def test_device_and_runtime() -> None:
    assert cuda.is_available()
    d = cuda.Device()
    assert d.id == 0 and d.compute_capability == "90" and cuda.Device(0) == d
    with d:
        d.use()
    with pytest.raises(cuda.CUDARuntimeError, match="invalid device"):
        cuda.Device(1)
    rt = cuda.runtime
    assert rt.getDeviceCount() == 1 and rt.getDevice() == 0
    free, total = rt.memGetInfo()
    assert 0 < free <= total
    props = rt.getDeviceProperties(0)
    assert props["name"] == b"cudasim (CPU)" and props["totalGlobalMem"] == total
    for key in ("multiProcessorCount", "major", "minor", "clockRate", "memoryClockRate"):
        assert isinstance(props[key], int)
    assert rt.runtimeGetVersion() >= 12000 and rt.driverGetVersion() >= 12000
