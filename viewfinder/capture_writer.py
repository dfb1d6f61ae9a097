"""The burst writer thread and ``viewfinder capture``.

:class:`BurstWriter` takes frames from the capture side and writes them in its own thread
through a bounded queue. When the disk is slower than the sensor the queue fills and
``put`` either blocks (the default: the burst slows down, ``stalls`` and ``stall_s`` show by
how much) or refuses the frame and counts it in ``rejected``: a frame is never lost silently.
Write errors are kept in ``errors`` as messages (never the exception, whose traceback would
keep the failed frame alive) and raised again by ``close()`` with "wrote N of M". Each file
gets its name when it is complete, claimed atomically (two writers in one folder never
overwrite each other), and a burst starts by removing the ``.part`` files that writers
killed earlier left in its folder.
"""

from __future__ import annotations

import argparse
import queue
import sys
import threading
import time
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np

from .capture import (
    FORMATS,
    CaptureError,
    develop,
    remove_stale_parts,
    write_dng,
    write_error,
    write_jpeg,
    write_png,
)
from .frame import Frame
from .orientation import orient_image, orientation_of
from .progress import Progress

_STOP = object()

#: What ``viewfinder capture`` calls each format in what it prints.
FORMAT_NAMES = {"dng": "DNG", "png": "PNG", "png16": "16-bit PNG", "jpeg": "JPEG"}


class Renderer:
    """Turns raw frames into display-referred RGB for PNG/JPEG captures.

    8-bit captures are what the live pipeline shows (``viewfinder.pipeline.Pipeline``, made
    once and reused); when the pipeline is not available, and for 16-bit PNG (the pipeline's
    view is 8 bit), :func:`viewfinder.capture.develop` renders the frame at full resolution.
    """

    def __init__(self) -> None:
        self._pipeline: Any = None
        self._tried = False

    def rgb8(self, frame: Frame) -> np.ndarray:
        if not self._tried:
            self._tried = True
            try:
                from .pipeline import Pipeline
                from .settings import Settings

                self._pipeline = Pipeline(Settings())
            except ImportError:
                self._pipeline = None
        if self._pipeline is not None:
            view = self._pipeline.process(frame).view
            view = view.get() if hasattr(view, "get") else np.asarray(view)
            return view[..., :3]
        return develop(frame, bits=8)

    def rgb16(self, frame: Frame) -> np.ndarray:
        return develop(frame, bits=16)


def write_frame(
    frame: Frame,
    path: str | Path,
    fmt: str,
    renderer: Renderer | None = None,
    unique: bool = False,
) -> Path:
    """Write ``frame`` as ``fmt`` ("dng", "png", "png16" or "jpeg") at ``path``, atomically.

    With ``unique`` an existing file is never replaced (the first free numbered name is
    claimed); the path written is returned.
    """
    if fmt not in FORMATS:
        raise ValueError(f"unknown capture format {fmt!r}: expected one of {', '.join(FORMATS)}")
    if fmt == "dng":
        return write_dng(frame, path, unique=unique)
    renderer = renderer or Renderer()
    # a DNG keeps the sensor order (and carries the Orientation tag); a picture is turned
    o = orientation_of(frame.meta)
    if fmt == "png16":
        return write_png(orient_image(renderer.rgb16(frame), o), path, unique=unique)
    rgb = orient_image(renderer.rgb8(frame), o)
    if fmt == "png":
        return write_png(rgb, path, unique=unique)
    return write_jpeg(rgb, path, unique=unique)


class WriteFailure(NamedTuple):
    """One failed write: the file name, one line saying why, and the errno (None if none)."""

    path: str
    message: str
    errno: int | None


class BurstWriter:
    """Writes frames to ``out_dir`` in a background thread through a bounded queue.

    Parameters
    ----------
    out_dir : path
        Existing folder (created if missing) for the files.
    fmt : {"dng", "png", "png16", "jpeg"}
        File format.
    queue_size : int
        Frames held in memory waiting for the disk (each a full raw frame).
    block : bool
        ``put`` waits for room (back-pressure on the caller) when True; when False it
        returns False at once and counts the frame in ``rejected``.
    pattern : str
        File name (without extension), formatted with ``seq`` and ``index``.

    Attributes
    ----------
    written : list[Path]
        Files completed, in order.
    errors : list[WriteFailure]
        (file name, message, errno) of each failed write; the frame itself is released at
        once.
    stale_removed : list[Path]
        ``.part`` files of earlier, killed writers removed from ``out_dir`` at the start.
    stalls, stall_s, rejected, max_depth : int, float, int, int
        Back-pressure: puts that had to wait, total seconds waited, frames refused by a
        non-blocking ``put``, and the deepest the queue got.
    """

    def __init__(
        self,
        out_dir: str | Path,
        fmt: str = "dng",
        queue_size: int = 8,
        block: bool = True,
        pattern: str = "frame_{seq:06d}",
    ) -> None:
        if fmt not in FORMATS:
            raise ValueError(
                f"unknown capture format {fmt!r}: expected one of {', '.join(FORMATS)}"
            )
        if queue_size < 1:
            raise ValueError(f"queue_size must be >= 1, got {queue_size}")
        self.out_dir = Path(out_dir)
        self.out_dir.mkdir(parents=True, exist_ok=True)
        self.fmt = fmt
        self.block = block
        self.pattern = pattern
        self.written: list[Path] = []
        self.errors: list[WriteFailure] = []
        self.stale_removed = remove_stale_parts(self.out_dir)
        self.stalls = 0
        self.stall_s = 0.0
        self.rejected = 0
        self.max_depth = 0
        self.submitted = 0
        self._names: set[Path] = set()
        self._queue: queue.Queue[Any] = queue.Queue(maxsize=queue_size)
        self._renderer = Renderer()
        self._lock = threading.Lock()
        self._closed = False
        self._thread = threading.Thread(target=self._run, name="burst-writer", daemon=True)
        self._thread.start()

    def path_for(self, frame: Frame, index: int) -> Path:
        """The name a frame asks for: ``pattern`` + extension (``_1``, ``_2``... appended when
        already asked for in this burst). The file may end up under the next free numbered
        name: names are claimed when the file is complete, atomically (see
        :func:`viewfinder.capture.atomic_write`), never by checking what exists."""
        stem = self.pattern.format(seq=frame.seq, index=index)
        ext = FORMATS[self.fmt]
        path, n = self.out_dir / (stem + ext), 0
        while path in self._names:
            n += 1
            path = self.out_dir / f"{stem}_{n}{ext}"
        self._names.add(path)
        return path

    def put(self, frame: Frame, timeout: float | None = None) -> bool:
        """Queue ``frame`` for writing; the caller must not modify it afterwards.

        Returns True when queued. With ``block=True`` it waits for room (counted in
        ``stalls``/``stall_s``) up to ``timeout`` s; a frame it could not queue returns False
        and is counted in ``rejected``.
        """
        if self._closed:
            raise RuntimeError("BurstWriter is closed")
        with self._lock:
            index = self.submitted
            self.submitted += 1
        with self._lock:
            path = self.path_for(frame, index)
        item = (frame, path)
        try:
            self._queue.put_nowait(item)
        except queue.Full:
            if not self.block:
                self.rejected += 1
                return False
            self.stalls += 1
            t0 = time.perf_counter()
            try:
                self._queue.put(item, timeout=timeout)
            except queue.Full:
                self.rejected += 1
                return False
            finally:
                self.stall_s += time.perf_counter() - t0
        self.max_depth = max(self.max_depth, self._queue.qsize())
        return True

    @property
    def pending(self) -> int:
        """Frames queued and not yet written."""
        return self._queue.unfinished_tasks

    def _run(self) -> None:
        while True:
            item = self._queue.get()
            try:
                if item is _STOP:
                    return
                frame, path = item
                try:
                    written = write_frame(frame, path, self.fmt, self._renderer, unique=True)
                    self.written.append(written)
                except Exception as exc:  # the message is kept for close(), not the exception
                    error = write_error(exc, path)
                    message = str(error) if error is not None else f"cannot write {path}: {exc}"
                    code = error.errno if error is not None else None
                    self.errors.append(WriteFailure(str(path), message, code))
                    del exc, error
            finally:
                # release the frame now, not when the next one arrives
                item = frame = None
                self._queue.task_done()

    def flush(self) -> None:
        """Wait until every queued frame is written (or failed)."""
        self._queue.join()

    def close(self) -> None:
        """Write what is queued, stop the thread, and raise the first write error if any."""
        if not self._closed:
            self._closed = True
            self._queue.put(_STOP)
            self._thread.join()
        if self.errors:
            first = self.errors[0]
            more = f" (and {len(self.errors) - 1} more failed)" if len(self.errors) > 1 else ""
            raise CaptureError(
                first.errno, f"{first.message}{more}; wrote {len(self.written)} of {self.submitted}"
            )

    def __enter__(self) -> BurstWriter:
        return self

    def __exit__(self, exc_type: object, *exc: object) -> None:
        if exc_type is None:
            self.close()
        else:  # already failing: finish the thread, keep the original error
            try:
                self.close()
            except CaptureError:
                pass


def parse_size(text: str | None) -> tuple[int, int] | None:
    """``--size "WxH"`` -> (width, height), or None: :func:`viewfinder.app.parse_size`, the
    one place sizes are checked."""
    from .app import parse_size as parse

    return parse(text, "--size")


def cli_capture(args: argparse.Namespace) -> int:
    """``viewfinder capture``: read ``--count`` frames from ``--source`` into ``--out``."""
    from .app import parse_timeout
    from .sources.base import SourceError, read_frame
    from .sources.open import apply_scene, open_source

    if args.count < 1:
        raise ValueError(f"--count must be >= 1, got {args.count}")
    # A camera that stops sending (unplugged) must not hang the command: --timeout s at most
    timeout = parse_timeout(getattr(args, "timeout", None))
    lens_file = getattr(args, "lens_file", None)
    if lens_file and args.source.strip().lower().split(":")[0] != "sim":
        raise ValueError(f"--lens-file needs the simulated camera, not {args.source!r}")
    source = open_source(
        args.source,
        lens=getattr(args, "lens", None),
        size=parse_size(getattr(args, "size", None)),
        **({"lens_file": lens_file} if lens_file else {}),
    )
    try:
        apply_scene(source, getattr(args, "scene", None), getattr(args, "lens", None))
    except BaseException:
        source.close()
        raise
    t0 = time.perf_counter()
    writers: list[BurstWriter] = []

    def finished() -> int:
        return sum(len(w.written) + len(w.errors) for w in writers)

    try:
        # a burst or a slow capture (a 50 MP frame on the CPU) shows its progress until the
        # writer has written the last file; it ends before the summary or the error line
        with (
            Progress(args.count, "capture", poll=finished) as progress,
            BurstWriter(args.out, fmt=args.format, queue_size=8) as writer,
        ):
            writers.append(writer)
            reading = [""]
            if hasattr(source, "on_progress"):  # the simulated camera says how far a render is
                source.on_progress = lambda fraction, _what: progress.update(
                    doing=f"{reading[0]} (rendering {fraction:.0%})" if fraction < 1 else reading[0]
                )
            for i in range(args.count):
                reading[0] = f"reading frame {i + 1}"
                progress.update(doing=reading[0])
                try:
                    frame = read_frame(source, timeout)
                except SourceError as exc:
                    writer.flush()
                    raise SourceError(
                        f"{exc}; wrote {len(writer.written)} of {args.count}"
                    ) from exc
                progress.update(doing=f"writing frame {i + 1}")
                writer.put(frame)
                del frame  # the writer holds it until written, no longer
            progress.update(doing="writing")
    finally:
        source.close()
    dt = time.perf_counter() - t0
    n = len(writer.written)
    line = f"wrote {n} {FORMAT_NAMES[args.format]} file{'' if n == 1 else 's'} to {writer.out_dir}"
    line += f" in {dt:.2f} s"
    if writer.stalls:  # the disk was slower than the camera
        times = "once" if writer.stalls == 1 else f"{writer.stalls} times"
        line += f" (the disk held the burst up {times}, {writer.stall_s:.2f} s)"
    print(line, file=sys.stdout)
    return 0 if len(writer.written) == args.count else 1
