"""The FrameSource protocol and the bounded, drop-oldest frame ring every source fills."""

from __future__ import annotations

import inspect
import threading
import time
from collections import deque
from typing import Protocol, runtime_checkable

from ..frame import Frame


class SourceError(RuntimeError):
    """A source cannot deliver frames (missing, busy, unplugged, unreadable): says why."""


class SourceTimeout(SourceError):
    """No frame came within the time asked for; the source may still recover (reconnect)."""


#: Seconds without a frame after which the viewer says so ("no frames from ... for 2 s").
STALL_NOTICE_S = 2.0
#: Default of ``--timeout``: seconds without a frame before a headless run or a capture
#: gives up with an error.
DEFAULT_TIMEOUT_S = 5.0
#: Longest single wait of the source thread inside ``read()``, so that it sees a stop soon.
READ_POLL_S = 0.25


def takes_timeout(source: object) -> bool:
    """Whether ``source.read`` accepts ``timeout=`` (seconds)."""
    try:
        return "timeout" in inspect.signature(source.read).parameters  # type: ignore[attr-defined]
    except (TypeError, ValueError):
        return False


def read_frame(source: FrameSource, timeout: float) -> Frame:
    """``source.read()`` that gives up after ``timeout`` s with :class:`SourceTimeout`.

    Sources whose ``read`` takes a timeout (V4L2) get it; the others (simulated camera, RAW
    files) return within a frame period by design.
    """
    if takes_timeout(source):
        return source.read(timeout=timeout)  # type: ignore[call-arg]
    return source.read()


@runtime_checkable
class FrameSource(Protocol):
    """Anything that delivers raw frames.

    ``read()`` returns the next :class:`Frame` (blocking until one is ready) or raises
    :class:`SourceError`. A source that can wait indefinitely (a camera that stops sending)
    takes ``read(timeout=seconds)`` and raises :class:`SourceTimeout` when it runs out.
    ``close()`` releases the device or files; sources are also context
    managers. ``name`` is a short human label for the stats panel.
    """

    name: str

    def read(self) -> Frame: ...

    def close(self) -> None: ...


class FrameRing:
    """A bounded ring of frames: a producer thread puts, the consumer takes the newest.

    When the ring is full the oldest frame is dropped and counted, so a slow consumer sees
    fresh frames and the drop count tells the user. Thread-safe.
    """

    def __init__(self, capacity: int = 3) -> None:
        if capacity < 1:
            raise ValueError(f"ring capacity must be >= 1, got {capacity}")
        self.capacity = capacity
        self._frames: deque[Frame] = deque()
        self._cond = threading.Condition()
        self.dropped = 0
        self.pushed = 0
        self.closed = False

    def put(self, frame: Frame) -> None:
        with self._cond:
            if len(self._frames) >= self.capacity:
                self._frames.popleft()
                self.dropped += 1
            self._frames.append(frame)
            self.pushed += 1
            self._cond.notify_all()

    def get(self, timeout: float | None = None) -> Frame | None:
        """Oldest frame still held (FIFO), or ``None`` after ``timeout`` s or when closed."""
        with self._cond:
            if not self._cond.wait_for(lambda: self._frames or self.closed, timeout):
                return None
            return self._frames.popleft() if self._frames else None

    def latest(self, timeout: float | None = None) -> Frame | None:
        """Newest frame; older ones still held are dropped (and counted)."""
        with self._cond:
            if not self._cond.wait_for(lambda: self._frames or self.closed, timeout):
                return None
            if not self._frames:
                return None
            self.dropped += len(self._frames) - 1
            frame = self._frames.pop()
            self._frames.clear()
            return frame

    def __len__(self) -> int:
        with self._cond:
            return len(self._frames)

    def close(self) -> None:
        with self._cond:
            self.closed = True
            self._cond.notify_all()


class SourceThread:
    """Runs ``source.read()`` in a daemon thread into a :class:`FrameRing`.

    Errors from the source are kept in ``error`` (the consumer shows them) and the thread
    stops; ``stop()`` joins it. The source itself is not closed here. A source that takes a
    read timeout is read in short waits (:data:`READ_POLL_S`), so that the thread stops
    soon whatever the source does; while it sends nothing ``stalled_s`` grows (the viewer
    says so) and the thread keeps waiting for it to come back.
    """

    def __init__(self, source: FrameSource, ring: FrameRing | None = None) -> None:
        self.source = source
        self.ring = ring if ring is not None else FrameRing()
        self.error: Exception | None = None
        #: ``time.monotonic()`` of the last frame (of the start before the first one).
        self.last_frame_at = time.monotonic()
        self._timed = takes_timeout(source)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"source-{source.name}", daemon=True)

    def start(self) -> SourceThread:
        self._thread.start()
        return self

    def _run(self) -> None:
        self.last_frame_at = time.monotonic()
        while not self._stop.is_set():
            try:
                if self._timed:
                    frame = self.source.read(timeout=READ_POLL_S)  # type: ignore[call-arg]
                else:
                    frame = self.source.read()
            except SourceTimeout:
                continue  # nothing yet: stalled_s grows, the stop flag is seen
            except Exception as exc:  # reported to the consumer, not lost in the thread
                self.error = exc
                break
            self.last_frame_at = time.monotonic()
            self.ring.put(frame)
            del frame
        self.ring.close()

    def stop(self, timeout: float = 2.0) -> None:
        self._stop.set()
        self.ring.close()
        if self._thread.ident is not None:  # started
            self._thread.join(timeout)

    @property
    def alive(self) -> bool:
        return self._thread.is_alive()

    @property
    def stalled_s(self) -> float:
        """Seconds since the last frame (since the start before the first one)."""
        return time.monotonic() - self.last_frame_at
