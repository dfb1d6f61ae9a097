"""``cupy.cuda`` of the stand-in: streams, events, device, memory pointers, pinned memory.

The "device" is the CPU and infinitely fast: kernels and device-to-device work run at once.
What lags is the one thing a host can observe: an asynchronous copy into pinned host memory
(``dev.get(out=pinned, blocking=False)``) is queued on its stream and lands only when the host
waits for it (``Stream.synchronize()``, ``Event.synchronize()`` or ``.done`` of an event recorded
after it, ``Device().synchronize()``). Code that reads the pinned buffer sooner sees stale data.
"""

from __future__ import annotations

import ctypes
import itertools
import mmap
import os
import threading
import time
import weakref
from collections.abc import Callable
from typing import Any

import numpy as np

from .counters import counters


class CUDARuntimeError(RuntimeError):
    """What CuPy raises for a failed CUDA runtime call (``cudaErrorXxx: message``)."""


def is_available() -> bool:
    return True


def get_device_id() -> int:
    return 0


# -- streams and events ---------------------------------------------------------------------

_lock = threading.RLock()
_queues: dict[int, list[tuple[int, Callable[[], None]]]] = {}  # stream ptr -> pending work
_seq = itertools.count(1)  # one order for all enqueued work
_ptrs = itertools.count(0x1000, 0x10)
_tls = threading.local()


def _enqueue(stream: Stream, fn: Callable[[], None]) -> int:
    with _lock:
        n = next(_seq)
        _queues.setdefault(stream.ptr, []).append((n, fn))
        return n


def _flush(ptr: int, upto: int | None = None) -> None:
    """Run the pending work of stream ``ptr`` (all, or up to sequence number ``upto``)."""
    with _lock:
        queue = _queues.get(ptr, [])
        while queue and (upto is None or queue[0][0] <= upto):
            _, fn = queue.pop(0)
            fn()


def _flush_all() -> None:
    with _lock:
        for ptr in list(_queues):
            _flush(ptr)


class Stream:
    """A CUDA stream (``Stream.null`` is the legacy default stream, ``ptr`` 0)."""

    null: Stream
    ptds: Stream

    def __init__(self, null: bool = False, non_blocking: bool = False, ptds: bool = False) -> None:
        if null and ptds:
            raise ValueError("null and ptds cannot both be True")
        self.ptr = 0 if null else 2 if ptds else next(_ptrs)
        self.non_blocking = non_blocking
        self.device_id = 0

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Stream) and other.ptr == self.ptr

    def __hash__(self) -> int:
        return hash(self.ptr)

    def __repr__(self) -> str:
        return f"<Stream {self.ptr} (device 0)>"

    def __enter__(self) -> Stream:
        if not hasattr(_tls, "outer"):
            _tls.outer = []
        _tls.outer.append(get_current_stream())
        _tls.stream = self
        return self

    def __exit__(self, *exc: object) -> None:
        _tls.stream = _tls.outer.pop()

    def use(self) -> Stream:
        _tls.stream = self
        return self

    def synchronize(self) -> None:
        counters.sync("Stream.synchronize()")
        _flush(self.ptr)

    @property
    def done(self) -> bool:
        """True (an infinitely fast device has finished); pending copies land now."""
        _flush(self.ptr)
        return True

    def record(self, event: Event | None = None) -> Event:
        event = Event() if event is None else event
        event.record(self)
        return event

    def wait_event(self, event: Event) -> None:
        """Later work on this stream waits for ``event``: syncing it completes the event."""
        ptr, upto = event._stream_ptr, event._upto
        if ptr is not None and ptr != self.ptr:
            _enqueue(self, lambda: _flush(ptr, upto))


Stream.null = Stream(null=True)
Stream.ptds = Stream(ptds=True)


def get_current_stream() -> Stream:
    """The calling thread's current stream (``Stream.null`` unless one is in use)."""
    return getattr(_tls, "stream", None) or Stream.null


class Event:
    """A CUDA event: ``record()`` marks the point in a stream's work, ``synchronize()`` waits."""

    def __init__(
        self, block: bool = False, disable_timing: bool = False, interprocess: bool = False
    ) -> None:
        if interprocess and not disable_timing:
            raise ValueError("Timing must be disabled for interprocess events")
        self.block, self.disable_timing, self.interprocess = block, disable_timing, interprocess
        self.ptr = next(_ptrs)
        self._stream_ptr: int | None = None
        self._upto = 0
        self._t_ns: int | None = None

    def __repr__(self) -> str:
        return f"<Event {self.ptr}>"

    def record(self, stream: Stream | None = None) -> None:
        stream = get_current_stream() if stream is None else stream
        with _lock:
            self._stream_ptr, self._upto = stream.ptr, next(_seq)
        self._t_ns = time.perf_counter_ns()

    def _complete(self) -> None:
        if self._stream_ptr is not None:
            _flush(self._stream_ptr, self._upto)

    def synchronize(self) -> None:
        counters.sync("Event.synchronize()")
        self._complete()

    @property
    def done(self) -> bool:
        """True (never-recorded events too, as in CUDA); copies before the record land now."""
        self._complete()
        return True


def get_elapsed_time(start_event: Event, end_event: Event) -> float:
    """Milliseconds between two recorded events (their host record times)."""
    for name, ev in (("start", start_event), ("end", end_event)):
        if ev._t_ns is None:
            raise CUDARuntimeError(
                f"cudaErrorInvalidResourceHandle: the {name} event was never recorded"
            )
        if ev.disable_timing:
            raise CUDARuntimeError(
                f"cudaErrorInvalidResourceHandle: the {name} event was created with "
                "disable_timing=True"
            )
    return (end_event._t_ns - start_event._t_ns) / 1e6


class Device:
    """Device 0, the only one."""

    def __init__(self, device: int | None = None) -> None:
        device = 0 if device is None else int(device)
        if device != 0:
            raise CUDARuntimeError(f"cudaErrorInvalidDevice: invalid device ordinal {device}")
        self.id = device
        self.compute_capability = "90"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Device) and other.id == self.id

    def __hash__(self) -> int:
        return self.id

    def __int__(self) -> int:
        return self.id

    def __repr__(self) -> str:
        return f"<CUDA Device {self.id}>"

    def __enter__(self) -> Device:
        return self

    def __exit__(self, *exc: object) -> None:
        pass

    def use(self) -> None:
        pass

    def synchronize(self) -> None:
        counters.sync("Device.synchronize()")
        _flush_all()

    @property
    def mem_info(self) -> tuple[int, int]:
        return runtime.memGetInfo()


class runtime:  # noqa: N801 - a namespace, as cupy.cuda.runtime is a module
    """``cupy.cuda.runtime`` (the calls the project makes)."""

    CUDARuntimeError = CUDARuntimeError
    is_hip = False

    @staticmethod
    def getDeviceCount() -> int:  # noqa: N802 - CUDA's names
        return 1

    @staticmethod
    def getDevice() -> int:  # noqa: N802
        return 0

    @staticmethod
    def setDevice(device: int) -> None:  # noqa: N802
        Device(device)

    @staticmethod
    def deviceSynchronize() -> None:  # noqa: N802
        Device().synchronize()

    @staticmethod
    def memGetInfo() -> tuple[int, int]:  # noqa: N802
        """(free, total) bytes: the host's available and physical memory."""
        page = os.sysconf("SC_PAGE_SIZE")
        return os.sysconf("SC_AVPHYS_PAGES") * page, os.sysconf("SC_PHYS_PAGES") * page

    @staticmethod
    def getDeviceProperties(device: int) -> dict[str, Any]:  # noqa: N802
        Device(device)
        return {
            "name": b"cudasim (CPU)",
            "totalGlobalMem": runtime.memGetInfo()[1],
            "multiProcessorCount": os.cpu_count() or 1,
            "major": 9,
            "minor": 0,
            "clockRate": 1_000_000,
            "memoryClockRate": 1_000_000,
            "memoryBusWidth": 64,
            "warpSize": 32,
            "maxThreadsPerBlock": 1024,
            "sharedMemPerBlock": 48 * 1024,
        }

    @staticmethod
    def runtimeGetVersion() -> int:  # noqa: N802
        return 13000

    @staticmethod
    def driverGetVersion() -> int:  # noqa: N802
        return 13000


# -- device memory ------------------------------------------------------------------------


def _byte_bounds(a: np.ndarray) -> tuple[int, int]:
    """[low, high) addresses of the bytes NumPy array ``a`` spans."""
    lo = hi = a.__array_interface__["data"][0]
    for n, s in zip(a.shape, a.strides, strict=True):
        if n == 0:
            return lo, lo
        if s < 0:
            lo += s * (n - 1)
        else:
            hi += s * (n - 1)
    return lo, hi + a.itemsize


def _bytes_at(ptr: int, size: int) -> np.ndarray:
    """The host bytes ``[ptr, ptr + size)`` as a uint8 NumPy array (no copy)."""
    if not size:
        return np.empty(0, np.uint8)
    return np.ctypeslib.as_array((ctypes.c_ubyte * size).from_address(ptr))


class BaseMemory:
    """A range of "device" memory (host memory here): ``ptr``, ``size``, ``device_id``."""

    ptr: int
    size: int
    device_id: int = 0
    _buf: np.ndarray  # the range as uint8

    @property
    def device(self) -> Device:
        return Device(self.device_id)

    def __int__(self) -> int:
        return self.ptr


class Memory(BaseMemory):
    """Memory the stand-in owns (counted as an allocation when made by ``Memory(size)``)."""

    def __init__(self, size: int) -> None:
        self._buf = np.empty(int(size), np.uint8)
        self.size = int(size)
        self.ptr = self._buf.__array_interface__["data"][0] if self.size else 0
        counters.allocation(self.size)
        _pool._track(self._buf)

    @classmethod
    def _of(cls, base: np.ndarray) -> Memory:
        """The memory of a NumPy array the stand-in already owns (not counted again)."""
        self = cls.__new__(cls)
        lo, hi = _byte_bounds(base)
        self.ptr, self.size, self._owner = lo, hi - lo, base
        self._buf = _bytes_at(lo, hi - lo)
        return self


class UnownedMemory(BaseMemory):
    """Memory someone else owns (``owner`` is kept alive), e.g. a mapped GL buffer."""

    def __init__(self, ptr: int, size: int, owner: Any, device_id: int | None = None) -> None:
        self.ptr, self.size, self.owner = int(ptr), int(size), owner
        self.device_id = 0 if device_id is None or device_id < 0 else int(device_id)
        if self.size and not self.ptr:
            raise ValueError("UnownedMemory: null pointer with a non-zero size")
        self._buf = _bytes_at(self.ptr, self.size)


class MemoryPointer:
    """A pointer into a :class:`BaseMemory` (``mem``, ``offset``, ``ptr``)."""

    def __init__(self, mem: BaseMemory, offset: int) -> None:
        self.mem, self.offset = mem, int(offset)
        self.ptr = mem.ptr + self.offset
        self.device_id = mem.device_id

    @property
    def device(self) -> Device:
        return Device(self.device_id)

    def __int__(self) -> int:
        return self.ptr

    def __add__(self, offset: int) -> MemoryPointer:
        return MemoryPointer(self.mem, self.offset + int(offset))

    def __sub__(self, offset: int) -> MemoryPointer:
        return self + (-int(offset))

    def __repr__(self) -> str:
        return f"<MemoryPointer 0x{self.ptr:x}>"


class MemoryPool:
    """Live bytes of stand-in arrays; freed blocks stay "cached" until ``free_all_blocks()``."""

    def __init__(self) -> None:
        self._used = 0
        self._cached = 0
        self._plock = threading.Lock()

    def _track(self, base: np.ndarray) -> None:
        n = base.nbytes
        with self._plock:
            self._used += n
        weakref.finalize(base, self._release, n)

    def _release(self, n: int) -> None:
        with self._plock:
            self._used -= n
            self._cached += n

    def malloc(self, size: int) -> MemoryPointer:
        return MemoryPointer(Memory(size), 0)

    def used_bytes(self) -> int:
        return self._used

    def free_bytes(self) -> int:
        return self._cached

    def total_bytes(self) -> int:
        return self._used + self._cached

    def free_all_blocks(self, stream: Stream | None = None) -> None:
        with self._plock:
            self._cached = 0

    def n_free_blocks(self) -> int:
        return 0

    def set_limit(self, size: int | None = None, fraction: float | None = None) -> None:
        pass

    def get_limit(self) -> int:
        return 0


_pool = MemoryPool()


def alloc(size: int) -> MemoryPointer:
    """New device memory (an allocation)."""
    return _pool.malloc(size)


# -- pinned host memory -------------------------------------------------------------------

_pinned: dict[int, int] = {}  # start address -> end address of live pinned ranges
_pinned_lock = threading.Lock()


def _register_pinned(start: int, size: int, owner: object) -> None:
    with _pinned_lock:
        _pinned[start] = start + size
    weakref.finalize(owner, _unregister_pinned, start)


def _unregister_pinned(start: int) -> None:
    with _pinned_lock:
        _pinned.pop(start, None)


def is_memory_pinned(ptr: int, size: int = 1) -> bool:
    """True when ``[ptr, ptr + size)`` lies in one live pinned allocation."""
    with _pinned_lock:
        return any(s <= ptr and ptr + size <= e for s, e in _pinned.items())


def is_array_pinned(a: np.ndarray) -> bool:
    """True when NumPy array ``a`` lives in pinned memory."""
    lo, hi = _byte_bounds(a)
    return a.size > 0 and is_memory_pinned(lo, hi - lo)


class PinnedMemoryPointer(mmap.mmap):
    """Page-locked host memory: a buffer for ``numpy.frombuffer(mem, dtype, count)``."""

    def __new__(cls, size: int) -> PinnedMemoryPointer:
        return super().__new__(cls, -1, max(int(size), 1))

    def __init__(self, size: int) -> None:
        self.size = int(size)
        view = ctypes.c_char.from_buffer(self)
        self.ptr = ctypes.addressof(view)
        del view
        _register_pinned(self.ptr, self.size, self)

    def __int__(self) -> int:
        return self.ptr


def alloc_pinned_memory(size: int) -> PinnedMemoryPointer:
    """Pinned host memory of ``size`` bytes (registered, so copies to/from it are async)."""
    return PinnedMemoryPointer(size)


class PinnedMemoryPool:
    """``cupy.cuda.PinnedMemoryPool``: hands out :class:`PinnedMemoryPointer` blocks."""

    def malloc(self, size: int) -> PinnedMemoryPointer:
        return alloc_pinned_memory(size)

    def free_all_blocks(self) -> None:
        pass

    def n_free_blocks(self) -> int:
        return 0

    def used_bytes(self) -> int:
        with _pinned_lock:
            return sum(e - s for s, e in _pinned.items())

    def total_bytes(self) -> int:
        return self.used_bytes()


_pinned_pool = PinnedMemoryPool()


def get_default_memory_pool() -> MemoryPool:
    return _pool


def get_default_pinned_memory_pool() -> PinnedMemoryPool:
    return _pinned_pool
