"""A V4L2 camera that stops delivering: nothing hangs, every wait ends with its cause.

Unit tests drive :class:`V4L2Source` through the fake kernel; the command-line tests run
``viewfinder capture`` and ``viewfinder run --headless`` in a process of their own with the
fake kernel installed (``tests/sources/v4l2_scenarios.py``), one fault scenario each.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

pytest.importorskip("linuxpy")
cv2 = pytest.importorskip("cv2")

from tests.sources.fakev4l2 import FakeCamera, FakeKernel  # noqa: E402
from tests.sources.test_v4l2 import H, W, payload, wait_for  # noqa: E402
from viewfinder.sources.base import SourceThread, SourceTimeout  # noqa: E402
from viewfinder.sources.v4l2 import V4L2Source  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def kernel():
    with FakeKernel() as k:
        yield k


def test_empty_mjpeg_buffer_is_skipped_and_counted_not_an_unplug(kernel):
    def empty_second(fmt, w, h, stride, seq):
        return b"" if seq == 1 else payload(fmt, w, h, stride, seq)

    cam = kernel.add(FakeCamera("/dev/video0", {"MJPEG": [(W, H)]}, empty_second))
    with V4L2Source(0) as src:
        cam.wait_streaming()
        cam.emit(3)
        assert [src.read(timeout=3).meta["driver_sequence"] for _ in range(2)] == [0, 2]
        assert src.corrupt == 1 and src.disconnects == 0 and src.status == "streaming"


def test_truncated_buffers_are_skipped_and_counted(kernel):
    cam = kernel.add(FakeCamera("/dev/video0", {"SRGGB10": [(W, H)]}, payload))
    with V4L2Source(0) as src:
        cam.wait_streaming()
        cam.bytesused = 100  # every buffer comes back short
        cam.emit(3)
        wait_for(lambda: src.corrupt == 3)
        assert src.disconnects == 0 and src.captured == 0
        cam.bytesused = None
        cam.emit(1)
        assert src.read(timeout=3).meta["driver_sequence"] == 3


def test_a_ready_poll_with_nothing_to_dequeue_backs_off(kernel):
    cam = kernel.add(FakeCamera("/dev/video0", {"SRGGB10": [(W, H)]}, payload))
    with V4L2Source(0, stall_timeout=60) as src:
        cam.wait_streaming()
        cam.spurious_ready = True  # poll says readable, DQBUF says EAGAIN
        time.sleep(0.1)
        before = cam.dqbuf_calls
        time.sleep(0.5)
        calls = cam.dqbuf_calls - before
        assert calls <= 25, f"{calls} dequeues in 0.5 s: the loop spins"
        assert src.status == "streaming" and src.disconnects == 0
        cam.spurious_ready = False
        cam.emit(1)
        assert src.read(timeout=3).seq == 0  # and it comes back at once


def test_a_silent_camera_times_out_with_its_cause_and_is_reopened(kernel):
    cam = kernel.add(FakeCamera("/dev/video0", {"SRGGB10": [(W, H)]}, payload))
    with V4L2Source(0, stall_timeout=0.3, reconnect_interval=0.05) as src:
        cam.wait_streaming()
        t0 = time.monotonic()
        with pytest.raises(SourceTimeout, match=r"^no frames from /dev/video0 for 0 s \("):
            src.read(timeout=0.4)
        assert time.monotonic() - t0 < 1.0
        wait_for(lambda: src.stalls >= 1 and src.reconnects >= 1)
        assert cam.wait_streaming(count=2)  # closed and streaming again
        cam.emit(1)
        assert src.read(timeout=3).data.shape == (H, W)
        assert src.reopen_attempts == 0 and src.status == "streaming"


def test_source_thread_waits_in_short_steps_and_says_how_long(kernel):
    cam = kernel.add(FakeCamera("/dev/video0", {"SRGGB10": [(W, H)]}, payload))
    with V4L2Source(0) as src:
        cam.wait_streaming()
        thread = SourceThread(src).start()
        time.sleep(0.6)
        assert thread.alive and thread.error is None and thread.stalled_s >= 0.5
        cam.emit(1)
        wait_for(lambda: thread.stalled_s < 0.5)
        t0 = time.monotonic()
        thread.stop()
        assert not thread.alive and time.monotonic() - t0 < 0.6


# -- the command, one fault scenario a process ---------------------------------------------


def _cli(scenario: str, *args: str, timeout: float = 60) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    env.pop("DISPLAY", None)  # headless runs render through EGL
    return subprocess.run(
        [sys.executable, "-m", "tests.sources.v4l2_scenarios", scenario, *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


FAULTS = [
    "unplug",
    "no_frames",
    "empty_mjpeg",
    pytest.param("busy_after_replug", marks=pytest.mark.slow),
    pytest.param("enodev_every_dequeue", marks=pytest.mark.slow),
    pytest.param("eagain_ready_poll", marks=pytest.mark.slow),
    pytest.param("truncated_buffers", marks=pytest.mark.slow),
    pytest.param("format_change", marks=pytest.mark.slow),
    pytest.param("never_a_frame", marks=pytest.mark.slow),
]


#: A progress line of `viewfinder capture` in a pipe (viewfinder/progress.py)
PROGRESS = re.compile(r"capture: \d+ of \d+ frames? written in \d+ s(; .*)?$")


@pytest.mark.parametrize("scenario", FAULTS)
def test_capture_from_a_camera_that_stops_ends_with_one_line(scenario, tmp_path):
    t0 = time.monotonic()
    proc = _cli(
        scenario,
        "capture",
        "--source",
        "v4l2:0",
        "--timeout",
        "1",
        "--count",
        "30",
        "--out",
        str(tmp_path),
    )
    # the error is one line (after the capture's progress lines, when it ran over 3 s)
    err = "\n".join(ln for ln in proc.stderr.strip().splitlines() if not PROGRESS.match(ln))
    assert proc.returncode == 2 and err.count("\n") == 0, proc.stderr
    assert err.startswith("viewfinder capture: error: no frames from /dev/video0 for ")
    good = 0 if scenario == "never_a_frame" else 5
    assert err.endswith(f"; wrote {good} of 30")
    assert len(list(tmp_path.glob("*.dng"))) == good and not list(tmp_path.glob(".*"))
    assert time.monotonic() - t0 < 20


def test_capture_rides_out_an_unplug(tmp_path):
    proc = _cli(
        "unplug_replug",
        "capture",
        "--source",
        "v4l2:0",
        "--timeout",
        "4",
        "--count",
        "30",
        "--out",
        str(tmp_path),
    )
    assert proc.returncode == 0, proc.stderr
    assert len(list(tmp_path.glob("*.dng"))) == 30


@pytest.mark.gl
@pytest.mark.parametrize("scenario", FAULTS)
def test_headless_run_on_a_camera_that_stops_ends_with_one_line(scenario):
    t0 = time.monotonic()
    proc = _cli(scenario, "run", "--headless", "--source", "v4l2:0", "--timeout", "1")
    err = proc.stderr.strip()
    assert proc.returncode == 2 and err.count("\n") == 0, proc.stderr
    assert err.startswith("viewfinder run: error: no frames from /dev/video0 for ")
    assert time.monotonic() - t0 < 30


@pytest.mark.gl
def test_headless_run_rides_out_an_unplug():
    proc = _cli(
        "unplug_replug",
        "run",
        "--headless",
        "--source",
        "v4l2:0",
        "--timeout",
        "4",
        "--frames",
        "40",
    )
    assert proc.returncode == 0, proc.stderr
    assert "presented 40 frames" in proc.stdout


# -- Ctrl+C --------------------------------------------------------------------------------


def _interrupt_after(args: list[str], ready: str | None) -> tuple[int, float, str]:
    """Start ``python args``, wait for a stdout line starting with ``ready``, send SIGINT;
    (exit status, seconds from the signal to the exit, stderr)."""
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    env.pop("DISPLAY", None)
    proc = subprocess.Popen(
        [sys.executable, *args],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        # a runner started in the background ignores SIGINT, and children inherit that
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )
    try:
        if ready is None:  # nothing to wait for on stdout
            time.sleep(4)
        else:
            deadline = time.monotonic() + 60
            while time.monotonic() < deadline:
                line = proc.stdout.readline()
                if not line or line.startswith(ready):
                    break
            time.sleep(0.3)
        t0 = time.monotonic()
        proc.send_signal(signal.SIGINT)
        code = proc.wait(10)
        return code, time.monotonic() - t0, proc.stderr.read()
    finally:
        proc.kill()
        proc.wait(10)


@pytest.mark.gl
def test_ctrl_c_stops_a_headless_run_waiting_on_a_silent_camera_within_a_second():
    args = ["-m", "tests.sources.v4l2_scenarios", "no_frames"]
    args += ["run", "--headless", "--source", "v4l2:0", "--timeout", "60", "--verbose"]
    code, took, err = _interrupt_after(args, "frame")  # --verbose: a "frame" line a frame
    assert code == 130 and took < 1.0, (code, took, err)


def test_ctrl_c_stops_a_capture_within_a_second_and_leaves_no_part_file(tmp_path):
    args = ["-m", "tests.sources.v4l2_scenarios", "no_frames"]
    args += ["capture", "--source", "v4l2:0", "--timeout", "60", "--count", "99"]
    args += ["--out", str(tmp_path)]
    proc_out = tmp_path
    code, took, err = _interrupt_after(args, None)
    assert code == 130 and took < 1.0, (code, took, err)
    assert len(list(proc_out.glob("*.dng"))) == 5 and not list(proc_out.glob(".*"))
