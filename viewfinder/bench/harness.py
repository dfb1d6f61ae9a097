"""Benchmark harness: warm-up, repeated runs, medians and spread, JSON with the machine.

Benchmarks are not tests. Peers run in the same process so that ratios hold on a noisy
machine; GPU work is timed with CUDA events.
"""

from __future__ import annotations

import datetime as _dt
import json
import os
import platform
import re
import statistics
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

#: Where ``write_results`` writes when given no folder (set by ``bench.gpu_check`` to its work
#: folder, and by the ``bench/`` wrappers of a checkout to bench/results).
RESULTS_ENV = "VIEWFINDER_BENCH_RESULTS"


def cache_dir() -> Path:
    """The user's cache folder for benchmark output: ``$XDG_CACHE_HOME/viewfinder/bench``
    (default ``~/.cache/viewfinder/bench``), never the package or repository tree."""
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "viewfinder" / "bench"


def default_results_dir() -> Path:
    """``$VIEWFINDER_BENCH_RESULTS`` when set, else :func:`cache_dir`."""
    return Path(os.environ.get(RESULTS_ENV) or cache_dir())


def _summary(samples_ms: list[float]) -> dict[str, float]:
    s = sorted(samples_ms)
    return {
        "median_ms": statistics.median(s),
        "p10_ms": float(np.percentile(s, 10)),
        "p90_ms": float(np.percentile(s, 90)),
        "min_ms": s[0],
        "n": len(s),
    }


def measure(
    fn: Callable[[], Any],
    repeat: int = 20,
    warmup: int = 3,
    sync: Callable[[], Any] | None = None,
) -> dict[str, float]:
    """Wall-clock ``fn()`` ``repeat`` times after ``warmup`` calls; ``sync()`` after each."""
    for _ in range(warmup):
        fn()
        if sync:
            sync()
    samples = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        if sync:
            sync()
        samples.append((time.perf_counter() - t0) * 1e3)
    return _summary(samples)


def gpu_measure(fn: Callable[[], Any], repeat: int = 50, warmup: int = 5) -> dict[str, float]:
    """GPU time of ``fn()`` (work it queues on the current stream), by CUDA events."""
    import cupy as cp

    for _ in range(warmup):
        fn()
    cp.cuda.Stream.null.synchronize()
    samples = []
    for _ in range(repeat):
        start, stop = cp.cuda.Event(), cp.cuda.Event()
        start.record()
        fn()
        stop.record()
        stop.synchronize()
        samples.append(float(cp.cuda.get_elapsed_time(start, stop)))
    return _summary(samples)


def _cpu_name() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def environment() -> dict[str, Any]:
    """The machine and the versions that a figure depends on."""
    from viewfinder import backend

    env: dict[str, Any] = {
        "date": _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds"),
        "python": platform.python_version(),
        "numpy": np.__version__,
        "cpu": _cpu_name(),
        "cpu_count": os.cpu_count(),
        "platform": platform.platform(),
        "gpu": None,
    }
    for name in ("cv2", "numba", "cupy", "colour_demosaicing"):
        try:
            env[name] = __import__(name).__version__
        except Exception:
            env[name] = None
    cp = backend.cupy_module()
    if cp is not None:
        props = cp.cuda.runtime.getDeviceProperties(0)
        env["gpu"] = props["name"].decode() if isinstance(props["name"], bytes) else props["name"]
        env["cuda_runtime"] = cp.cuda.runtime.runtimeGetVersion()
    return env


def parse_sizes(text: str) -> list[tuple[int, int]]:
    """``"1920x1080,8192x6144"`` -> [(1920, 1080), (8192, 6144)]."""
    try:
        sizes = [tuple(int(v) for v in part.lower().split("x")) for part in text.split(",")]
    except ValueError:
        raise ValueError(f"sizes must be a comma list of WxH, got {text!r}") from None
    if not sizes or any(len(s) != 2 for s in sizes):
        raise ValueError(f"sizes must be a comma list of WxH, got {text!r}")
    return sizes  # type: ignore[return-value]


def device_tag(env: dict[str, Any]) -> str:
    name = env.get("gpu") or f"cpu{env.get('cpu_count')}"
    return re.sub(r"[^A-Za-z0-9]+", "-", name).strip("-").lower()


def write_results(name: str, payload: dict[str, Any], out_dir: Path | None = None) -> Path:
    """Write ``payload`` plus the environment to ``<date>-<device>-<name>.json`` in
    ``out_dir`` (default: :func:`default_results_dir`)."""
    env = environment()
    out_dir = Path(out_dir or default_results_dir())
    out_dir.mkdir(parents=True, exist_ok=True)
    day = env["date"][:10]
    path = out_dir / f"{day}-{device_tag(env)}-{name}.json"
    tmp = path.with_suffix(".json.tmp")
    tmp.write_text(json.dumps({"benchmark": name, "environment": env, **payload}, indent=2))
    tmp.replace(path)
    return path
