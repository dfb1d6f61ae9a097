"""Soak: resident memory over a long run, sampled (a benchmark, not a test).

Part 1 sends ``--frames`` frames (default 20,000) through :class:`viewfinder.Pipeline` with the
window's default assists and samples the process's RSS every ``--every`` frames. Part 2 runs
``viewfinder run --headless`` on the simulated camera for ``--viewer-s`` seconds in a child
process and samples the child's RSS once a second, then stops it with Ctrl+C (SIGINT).

Memory is "flat" when the median RSS of the last quarter of the samples is within 2 % of the
median of the first quarter taken after the warm-up (the first 10 % of the run).

``python -m bench.bench_soak [--frames N] [--viewer-s S] [--size WxH]`` writes
``bench/results/<date>-<machine>-soak.json``.
"""

from __future__ import annotations

import argparse
import os
import signal
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

REPO = Path(__file__).resolve().parents[1]
PAGE = os.sysconf("SC_PAGE_SIZE")


def rss_mib(pid: int | str = "self") -> float:
    """Resident set size of process ``pid`` in MiB (from /proc/PID/statm)."""
    with open(f"/proc/{pid}/statm") as fh:
        return int(fh.read().split()[1]) * PAGE / 2**20


def drift(samples: list[float]) -> dict[str, float]:
    """Median RSS of the first and last quarter after a 10 % warm-up, and the change in %."""
    steady = samples[max(1, len(samples) // 10) :]
    q = max(1, len(steady) // 4)
    first, last = statistics.median(steady[:q]), statistics.median(steady[-q:])
    return {
        "first_quarter_mib": round(first, 1),
        "last_quarter_mib": round(last, 1),
        "drift_percent": round(100 * (last - first) / first, 2),
        "peak_mib": round(max(samples), 1),
    }


def soak_pipeline(frames: int, every: int, size: tuple[int, int]) -> dict[str, Any]:
    from viewfinder.frame import Frame
    from viewfinder.pipeline import Pipeline
    from viewfinder.settings import Settings

    w, h = size
    rng = np.random.default_rng(0)
    raws = [rng.integers(64, 1023, (h, w), dtype=np.uint16) for _ in range(4)]
    pipe = Pipeline(Settings(view_size=(w, h)), backend="numpy")
    samples: list[float] = []
    times: list[float] = []
    t0 = time.perf_counter()
    for i in range(frames):
        frame = Frame(raws[i % 4], black_level=64, seq=i)
        t = time.perf_counter()
        pipe.process(frame)
        times.append(time.perf_counter() - t)
        if i % every == 0:
            samples.append(rss_mib())
    samples.append(rss_mib())
    return {
        "frames": frames,
        "frame_size": [w, h],
        "settings": "numpy backend, Settings() defaults (MHC and the default assists)",
        "wall_s": round(time.perf_counter() - t0, 1),
        "median_frame_ms": round(1e3 * statistics.median(times), 2),
        "rss_every_frames": every,
        "rss_mib": [round(s, 1) for s in samples],
        **drift(samples),
    }


def soak_viewer(seconds: float, size: tuple[int, int]) -> dict[str, Any]:
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    args = [sys.executable, "-m", "viewfinder.cli", "run", "--headless", "--size"]
    args += [f"{size[0]}x{size[1]}", "--timeout", "30"]
    proc = subprocess.Popen(
        args,
        cwd=REPO,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )
    first = proc.stdout.readline()  # the first presented frame: start the clock
    if not first.startswith("frame"):
        proc.kill()
        raise RuntimeError(f"the viewer did not start: {first}{proc.stderr.read()}")
    frames_seen = [0]

    import threading

    def drain() -> None:
        for line in proc.stdout:
            if line.startswith("frame"):
                frames_seen[0] += 1

    threading.Thread(target=drain, daemon=True).start()
    samples: list[float] = []
    t0 = time.monotonic()
    while time.monotonic() - t0 < seconds:
        samples.append(rss_mib(proc.pid))
        time.sleep(1.0)
    t = time.monotonic()
    proc.send_signal(signal.SIGINT)
    code = proc.wait(30)
    return {
        "seconds": seconds,
        "frame_size": list(size),
        "frames_presented": frames_seen[0] + 1,
        "exit_status_after_sigint": code,
        "exit_after_sigint_s": round(time.monotonic() - t, 2),
        "rss_every_s": 1.0,
        "rss_mib": [round(s, 1) for s in samples],
        **drift(samples),
    }


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--frames", type=int, default=20_000)
    p.add_argument("--every", type=int, default=250)
    p.add_argument("--viewer-s", type=float, default=300.0)
    p.add_argument("--size", default="640x480")
    p.add_argument("--out", default=None, help="results folder (default bench/results)")
    args = p.parse_args(argv)
    from viewfinder.bench.harness import write_results

    w, h = (int(v) for v in args.size.lower().split("x"))
    result: dict[str, Any] = {"pipeline": soak_pipeline(args.frames, args.every, (w, h))}
    print("pipeline:", {k: v for k, v in result["pipeline"].items() if k != "rss_mib"})
    if args.viewer_s > 0:
        result["viewer"] = soak_viewer(args.viewer_s, (w, h))
        print("viewer:", {k: v for k, v in result["viewer"].items() if k != "rss_mib"})
    out = write_results("soak", result, Path(args.out) if args.out else REPO / "bench" / "results")
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
