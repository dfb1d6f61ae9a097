"""The threads behind the viewer: processing (triple-buffered results) and capture I/O.

The source thread fills a bounded ring (oldest dropped and counted). :class:`Processor` takes
the newest frame, runs the pipeline (on its own CUDA stream with CuPy) and copies what the
window shows into the back one of three result slots, so the window thread can draw one slot
while the next is written. :class:`CaptureWriter` writes DNG/PNG files on a thread of its own
so that a slow disk never stalls the window.
"""

from __future__ import annotations

import queue
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ..frame import Frame
from ..sources.base import FrameRing

#: Per-pixel results the window shows (AssistOutputs attribute names; None when off): they
#: stay on the pipeline's device and reach the textures by interop or PBO.
MASK_FIELDS = ("peaking", "zebra", "magnifier")
#: Small statistics, brought to the host one frame late.
STAT_FIELDS = ("raw_histogram", "view_histogram", "waveform", "parade", "vectorscope")


@dataclass
class Result:
    """One processed frame, as the window thread sees it (arrays owned by the slot)."""

    frame: Frame | None = None
    arrays: dict[str, Any] = field(default_factory=dict)  # image / peaking / zebra
    stats: dict[str, np.ndarray] = field(default_factory=dict)  # host copies (see stats_ready)
    raw_stats: dict[str, Any] = field(default_factory=dict)
    timings_ms: dict[str, float] = field(default_factory=dict)
    path: str = ""
    backend: str = ""
    ready_event: Any = None  # CUDA event recorded after the copies (CuPy only)
    #: CUDA event the window thread records after its uploads from ``arrays`` (CuPy only):
    #: the processor's stream waits on it before it writes this slot again.
    consumed_event: Any = None
    processed_ns: int = 0

    def stats_ready(self) -> bool:
        """Whether ``stats`` hold this frame's values (CuPy copies them asynchronously)."""
        return self.ready_event is None or bool(self.ready_event.done)


def _copy_into(slot: dict[str, Any], name: str, src: Any, xp: Any) -> Any:
    dst = slot.get(name)
    if dst is None or dst.shape != src.shape or dst.dtype != src.dtype:
        dst = xp.empty(src.shape, src.dtype)  # only when a size changes
        slot[name] = dst
    dst[...] = src
    return dst


def _pinned_like(a: Any) -> np.ndarray:
    """A host array in pinned (page-locked) memory shaped like device array ``a``."""
    from ..backend import array_module

    mem = array_module(a).cuda.alloc_pinned_memory(a.nbytes)
    return np.frombuffer(mem, a.dtype, a.size).reshape(a.shape)


class Processor:
    """Runs ``pipeline.process`` on the newest frame of ``ring`` in a thread.

    ``take()`` returns the newest finished :class:`Result` not yet taken (or ``None``).
    Errors are kept in ``error``; ``frames_done`` counts processed frames.
    """

    def __init__(
        self, pipeline: Any, ring: FrameRing, before: Callable[[], None] | None = None
    ) -> None:
        self.pipeline = pipeline
        self.ring = ring
        self.before = before  # applies pending settings changes between frames
        self.error: Exception | None = None
        self.frames_done = 0
        self._slots = [Result(), Result(), Result()]
        self._write, self._ready, self._shown = 0, 1, 2
        self._fresh = False
        self._lock = threading.Lock()
        self._new = threading.Condition(self._lock)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="processing", daemon=True)
        self._stream: Any = None

    def start(self) -> Processor:
        """Start the thread (once; later calls do nothing)."""
        if not self._thread.is_alive() and not self._stop.is_set():
            self._thread.start()
        return self

    def stop(self, timeout: float = 5.0) -> None:
        """Stop the thread and wait up to ``timeout`` s for it (nothing to wait for if it
        never started)."""
        self._stop.set()
        self.ring.close()
        if self._thread.ident is not None:
            self._thread.join(timeout)

    def set_ring(self, ring: FrameRing) -> None:
        """Follow a new source's ring (after the user switched sources)."""
        old, self.ring = self.ring, ring
        old.close()

    def _run(self) -> None:
        if self.pipeline.on_device:
            cupy = self.pipeline.xp
            # This thread's work goes on its own non-blocking stream: a device frame carries
            # the event its source recorded (Frame.sync), which the pipeline waits on here,
            # so a scene re-render on the source's stream never stalls processing.
            self._stream = cupy.cuda.Stream(non_blocking=True)
            self._stream.use()
        while not self._stop.is_set():
            ring = self.ring
            frame = ring.latest(timeout=0.1)
            if frame is None:
                continue
            try:
                if self.before is not None:
                    self.before()
                out = self.pipeline.process(frame)
                self._publish(out)
            except Exception as exc:  # shown by the window; the thread keeps serving
                self.error = exc
                time.sleep(0.05)

    def process_one(self, frame: Frame) -> Result:
        """Process ``frame`` synchronously on the calling thread (headless, tests)."""
        if self.before is not None:
            self.before()
        self._publish(self.pipeline.process(frame))
        result = self.take()
        assert result is not None
        return result

    def _publish(self, out: Any) -> None:
        xp = self.pipeline.xp
        slot = self._slots[self._write]
        stream = self._stream
        if stream is None and self.pipeline.on_device:  # process_one: caller's stream
            stream = xp.cuda.get_current_stream()
        if stream is not None and slot.consumed_event is not None:
            # The window thread's copies out of this slot (texture uploads, on its own stream)
            # may still be queued on the GPU: wait for them there, not on the host.
            stream.wait_event(slot.consumed_event)
        assists = out.assists
        slot.arrays = slot.arrays or {}
        # a hidden overlay is absent from the outputs: drop what an earlier frame left
        for name in list(slot.arrays):
            if name in MASK_FIELDS and getattr(assists, name, None) is None:
                del slot.arrays[name]
        _copy_into(slot.arrays, "image", out.image if assists is not None else out.view, xp)
        for name in MASK_FIELDS:
            value = getattr(assists, name, None)
            if value is not None:
                _copy_into(slot.arrays, name, value, xp)
        for name in STAT_FIELDS:
            value = getattr(assists, name, None)
            if value is None:
                slot.stats.pop(name, None)
            elif hasattr(value, "get"):  # CuPy: async copy into pinned memory, no host wait
                dst = slot.stats.get(name)
                if dst is None or dst.shape != value.shape or dst.dtype != value.dtype:
                    dst = _pinned_like(value)
                    slot.stats[name] = dst
                value.get(stream=stream, out=dst, blocking=False)
            else:
                _copy_into(slot.stats, name, np.asarray(value), np)
        slot.raw_stats = dict(getattr(assists, "raw_stats", None) or {})
        slot.frame = out.frame
        slot.timings_ms = dict(out.timings_ms)
        slot.path, slot.backend = out.path, out.backend
        slot.processed_ns = time.monotonic_ns()
        if stream is not None:
            if slot.ready_event is None:  # one event per slot, recorded again each frame
                slot.ready_event = xp.cuda.Event(block=False, disable_timing=True)
            slot.ready_event.record(stream)
        with self._lock:
            self._write, self._ready = self._ready, self._write
            self._fresh = True
            self.frames_done += 1
            self._new.notify_all()

    def take(self) -> Result | None:
        """The newest finished result not taken before, or ``None``."""
        with self._lock:
            if not self._fresh:
                return None
            self._shown, self._ready = self._ready, self._shown
            self._fresh = False
            return self._slots[self._shown]

    def wait(self, timeout: float) -> Result | None:
        """Wait up to ``timeout`` s for a new result and take it."""
        with self._lock:
            self._new.wait_for(lambda: self._fresh or self._stop.is_set(), timeout)
        return self.take()


def _megabytes(path: Path) -> str:
    """A file's size as a toast gives it: "24.1 MB"."""
    try:
        return f"{Path(path).stat().st_size / 1e6:.1f} MB"
    except OSError:
        return "size unknown"


class CaptureWriter:
    """Writes captures on its own thread; ``notes`` collects one line per file written."""

    def __init__(self, folder: Path) -> None:
        self.folder = Path(folder)
        self.notes: list[str] = []
        self._cleaned = False
        self._queue: queue.Queue[tuple[str, Any, Path] | None] = queue.Queue(maxsize=8)
        self._thread = threading.Thread(target=self._run, name="capture", daemon=True)
        self._thread.start()

    def submit(self, kind: str, payload: Any, stem: str) -> Path:
        """Queue a capture: ``kind`` "dng" (payload a Frame) or "png" ((h, w, 3) uint8).

        Returns the name asked for; an existing file is never replaced: the capture takes
        the next free numbered name when it is written (the note says which).
        """
        if kind not in ("dng", "png"):
            raise ValueError(f"capture format must be dng or png, got {kind!r}")
        path = self.folder / f"{stem}.{kind}"
        try:
            self._queue.put_nowait((kind, payload, path))
        except queue.Full:
            self.notes.append("capture skipped: the writer is still busy")
        return path

    def _run(self) -> None:
        from .. import capture

        while True:
            job = self._queue.get()
            if job is None:
                return
            kind, payload, path = job
            try:
                path.parent.mkdir(parents=True, exist_ok=True)
                if not self._cleaned:  # leftovers of a writer killed in this folder
                    self._cleaned = True
                    capture.remove_stale_parts(path.parent)
                if kind == "dng":
                    written = capture.write_dng(payload, path, unique=True)
                else:
                    written = capture.write_png(payload, path, unique=True)
                self.notes.append(f"wrote {written}, {_megabytes(written)}")
            except Exception as exc:  # a full disk or a bad folder: tell the user
                error = capture.write_error(exc, path)
                self.notes.append(f"capture failed: {error or exc}")
                del exc, error
            finally:
                job = payload = None  # the frame is released now, not at the next capture
                self._queue.task_done()

    def flush(self, timeout: float = 10.0) -> None:
        """Wait until every queued capture is written (or ``timeout`` s)."""
        end = time.monotonic() + timeout
        while self._queue.unfinished_tasks and time.monotonic() < end:
            time.sleep(0.01)

    def close(self) -> None:
        self.flush()
        self._queue.put(None)
        self._thread.join(2.0)
