"""What the cudasim stand-in counts: host syncs, device allocations, kernel launches.

The hot path of the pipeline must do none of the first two per frame; tests reset the counters
before a frame and read them after (``with counting() as c: pipeline.process(frame)``).
Deferred read-backs (an asynchronous copy into pinned memory, read a frame later) are counted
apart from host syncs: they do not make the host wait.
"""

from __future__ import annotations

import collections
import contextlib
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field


@dataclass
class Counters:
    """Counts since the last :meth:`reset` (``executed`` is kept for the whole process)."""

    #: Why the host waited, one entry per wait: "get()", "int()", "Stream.synchronize()", ...
    host_syncs: list[str] = field(default_factory=list)
    #: Asynchronous device-to-pinned copies (not waits).
    deferred_readbacks: int = 0
    #: New device buffers (views do not count) and their bytes.
    allocations: int = 0
    allocated_bytes: int = 0
    #: (kernel name, bytes of the device buffers it was given), one entry per launch.
    launches: list[tuple[str, int]] = field(default_factory=list)
    #: Host-to-device and device-to-host copies: (direction, bytes, from pinned memory).
    copies: list[tuple[str, int, bool]] = field(default_factory=list)
    #: Every kernel executed in this process, with its launch count (never reset).
    executed: collections.Counter = field(default_factory=collections.Counter)

    def __post_init__(self) -> None:
        self._lock = threading.Lock()

    def reset(self) -> None:
        with self._lock:
            self.host_syncs = []
            self.deferred_readbacks = 0
            self.allocations = 0
            self.allocated_bytes = 0
            self.launches = []
            self.copies = []

    def sync(self, reason: str) -> None:
        with self._lock:
            self.host_syncs.append(reason)

    def deferred_readback(self) -> None:
        with self._lock:
            self.deferred_readbacks += 1

    def allocation(self, nbytes: int) -> None:
        with self._lock:
            self.allocations += 1
            self.allocated_bytes += int(nbytes)

    def launch(self, kernel: str, nbytes: int) -> None:
        with self._lock:
            self.launches.append((kernel, int(nbytes)))
            self.executed[kernel] += 1

    def copy(self, direction: str, nbytes: int, pinned: bool) -> None:
        with self._lock:
            self.copies.append((direction, int(nbytes), bool(pinned)))

    def summary(self) -> dict:
        """A plain dict of the counts (for logs and benchmark JSON)."""
        with self._lock:
            return {
                "host_syncs": len(self.host_syncs),
                "host_sync_reasons": dict(collections.Counter(self.host_syncs)),
                "deferred_readbacks": self.deferred_readbacks,
                "allocations": self.allocations,
                "allocated_bytes": self.allocated_bytes,
                "launches": len(self.launches),
                "launch_bytes": sum(n for _, n in self.launches),
            }


#: The process-wide counters of the stand-in.
counters = Counters()


@contextlib.contextmanager
def counting() -> Iterator[Counters]:
    """Reset the counters, run the block, and give them: ``with counting() as c: ...``."""
    counters.reset()
    yield counters
