"""Progress of a long CLI job on stderr: a tqdm bar on a terminal, plain lines in a pipe.

Nothing shows for a job done within ``delay_s`` (1 s). Past it, a terminal gets a tqdm bar
(done / total, elapsed, rate, and what is going on now); a pipe or a file gets one plain
line every ``every_s`` s (3 s; the first after 3 s), with no control characters, e.g.
``capture: 2 of 12 frames written in 4 s; reading frame 3``. A thread of its own redraws
it, so the elapsed time moves while the job waits on one long step (a 50 MP frame rendered
on the CPU). A job that fails leaves no last line: its error line says where it stopped.
"""

from __future__ import annotations

import os
import sys
import threading
import time
from collections.abc import Callable
from typing import Any, TextIO


def _columns(stream: TextIO) -> int:
    """The width of the terminal ``stream`` is, in columns; 0 when it does not say."""
    try:
        return os.get_terminal_size(stream.fileno()).columns
    except (AttributeError, OSError, ValueError):
        return 0


class Progress:
    """Progress of ``total`` items of a job called ``label``, shown on ``stream``.

    Parameters
    ----------
    total : int
        Items the job has to do.
    label : str
        The job's name ("capture"), the start of each line.
    unit, verb : str
        What an item is and what happens to it: "frame", "written".
    stream : text file
        Where it goes (stderr); a bar when it is a terminal, plain lines otherwise.
    delay_s, every_s : float
        Nothing until ``delay_s`` s have passed (the bar); plain lines every ``every_s`` s,
        the first after ``every_s`` s.
    poll : callable, optional
        Returns the items done so far (read at each redraw: work done by another thread);
        else :meth:`update` says it.
    """

    def __init__(
        self,
        total: int,
        label: str,
        unit: str = "frame",
        verb: str = "written",
        stream: TextIO | None = None,
        delay_s: float = 1.0,
        every_s: float = 3.0,
        poll: Callable[[], int] | None = None,
    ) -> None:
        self.total, self.label, self.unit, self.verb = int(total), label, unit, verb
        self.stream = sys.stderr if stream is None else stream
        self.delay_s, self.every_s = float(delay_s), float(every_s)
        try:
            self.tty = bool(self.stream.isatty())
        except (AttributeError, ValueError):  # closed or not a real file
            self.tty = False
        self.done = 0
        self.poll = poll
        self.doing = ""  # what is going on now: "reading frame 3"
        self.lines = 0  # plain lines printed
        self._bar: Any = None
        self._t0 = time.monotonic()
        # a pipe's first line after every_s: a job of a second or two leaves no line in a log
        self._next_line = self._t0 + max(self.delay_s, self.every_s)
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="progress", daemon=True)
        self._thread.start()

    def update(self, done: int | None = None, doing: str = "") -> None:
        """``done`` items finished so far (None: ask ``poll``); ``doing``: the step under
        way, shown after the count."""
        with self._lock:
            if done is not None:
                self.done = int(done)
            self.doing = doing

    def _run(self) -> None:
        while not self._stop.wait(0.2 if self.tty else 0.1):
            self._show(time.monotonic())

    def _show(self, now: float, final: bool = False) -> None:
        if now - self._t0 < self.delay_s:
            return
        with self._lock:
            done, doing = self.done, self.doing
        if self.poll is not None:
            done = int(self.poll())
        if self.tty:
            self._draw_bar(done, doing, now)
        elif final or now >= self._next_line:
            self._next_line = now + self.every_s
            self._plain_line(done, doing, now)

    def _draw_bar(self, done: int, doing: str, now: float) -> None:
        if self._bar is None:
            try:
                from tqdm import tqdm
            except ImportError:  # no bar: plain lines on the terminal as well
                self.tty = False
                return
            # a terminal that does not say its size (0x0: some ptys) gets 80x24
            width = {"dynamic_ncols": True} if _columns(self.stream) else {"ncols": 80, "nrows": 24}
            self._bar = tqdm(
                total=self.total,
                desc=self.label,
                unit=self.unit,
                file=self.stream,
                leave=True,
                **width,
            )
            self._bar.start_t = self._bar.last_print_t = self._t0 + (
                self._bar._time() - time.monotonic()
            )
        self._bar.n = done
        self._bar.set_postfix_str(doing, refresh=False)
        self._bar.refresh()

    def _plain_line(self, done: int, doing: str, now: float) -> None:
        units = self.unit if self.total == 1 else self.unit + "s"
        line = f"{self.label}: {done} of {self.total} {units} {self.verb} in {now - self._t0:.0f} s"
        if doing:
            line += f"; {doing}"
        try:
            print(line, file=self.stream, flush=True)
            self.lines += 1
        except (OSError, ValueError):  # stderr gone (a closed pipe): the job goes on
            pass

    def close(self, ok: bool = True) -> None:
        """Stop redrawing; leave the bar (or, when the job did not fail, a last line) showing
        where the job ended, when anything was shown at all. A failed job's error says it."""
        if self._stop.is_set():
            return
        self._stop.set()
        if self._thread is not threading.current_thread():
            self._thread.join()
        with self._lock:
            self.doing = ""  # the job's end: nothing under way
        if self._bar is not None:
            self._show(time.monotonic())
            self._bar.close()
        elif self.lines and ok:
            self._show(time.monotonic(), final=True)

    def __enter__(self) -> Progress:
        return self

    def __exit__(self, exc_type: object, *exc: object) -> None:
        self.close(ok=exc_type is None)
