"""``viewfinder bench`` and ``viewfinder bench compare``.

    viewfinder bench [--quick] [--suite pipeline,sim,view,capture] [--sizes 1920x1080,...]
                     [--backend numpy|cupy|cudasim] [--out DIR] [--repeat N] [--no-peers]
    viewfinder bench compare A.json B.json [...] [--out DIR]

Bad input (an unknown suite, size or backend, ``--backend cupy`` with no GPU, an ``--out``
that cannot be written) is a ValueError or RuntimeError with one line, raised before anything
runs; ``viewfinder.cli`` prints it on stderr and exits 2.
"""

from __future__ import annotations

import argparse
import datetime as _dt
import json
import os
import re
import sys
from pathlib import Path
from typing import Any

from viewfinder.bench import report, suite
from viewfinder.bench.harness import cache_dir


def add_arguments(p: argparse.ArgumentParser) -> None:
    """The options of ``viewfinder bench`` (validated in :func:`cli_bench`, not by argparse,
    so that a bad value is one line naming the choices)."""
    p.add_argument(
        "words",
        nargs="*",
        metavar="compare A.json B.json",
        help="compare two or more result files side by side (table and chart)",
    )
    p.add_argument("--quick", action="store_true", help="fewer repeats, no 50 MP on the CPU")
    p.add_argument("--suite", default=None, help=f"comma list of {', '.join(suite.SUITES)}")
    p.add_argument(
        "--sizes",
        default=None,
        help="comma list of "
        + ", ".join(suite.size_name(s) for s in suite.SIZES)
        + " (or 1080p, 4k, 12mp, 50mp)",
    )
    p.add_argument("--backend", default=None, help="numpy | cupy | cudasim (default: best)")
    p.add_argument(
        "--out", default=None, help=f"folder for the JSON and PNG (default {cache_dir()})"
    )
    p.add_argument("--repeat", default=None, help="timed repeats per case")
    p.add_argument("--no-peers", action="store_true", help="skip the peers")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")


def writable_dir(path: str | os.PathLike[str]) -> Path:
    """``path`` created and proven writable, or ValueError in one line."""
    out = Path(path).expanduser()
    try:
        out.mkdir(parents=True, exist_ok=True)
        probe = out / f".vf-bench-probe-{os.getpid()}"
        probe.write_bytes(b"")
        probe.unlink()
    except OSError as exc:
        raise ValueError(f"--out {out} cannot be written: {exc.strerror or exc}") from None
    return out


def parse_backend(name: str | None) -> str:
    from viewfinder.backend import BACKENDS, backend_name, gpu_available

    if name is None:
        return backend_name()
    name = name.strip().lower()
    if name not in BACKENDS:
        raise ValueError(f"unknown backend {name!r}: choose from {', '.join(BACKENDS)}")
    if name == "cupy" and not gpu_available():
        raise RuntimeError(
            "--backend cupy needs CuPy with a CUDA device, and none is usable here "
            "(use --backend numpy, or cudasim for the CUDA code on the CPU)"
        )
    return name


def parse_repeat(text: str | None) -> int | None:
    if text is None:
        return None
    try:
        n = int(text)
    except ValueError:
        n = 0
    if n < 1:
        raise ValueError(f"--repeat must be a whole number of at least 1, got {text!r}")
    return n


def stem(payload: dict[str, Any]) -> str:
    m, o = payload["machine"], payload["options"]
    device = m.get("gpu") or f"cpu{m.get('cpu_count')}"
    device = re.sub(r"[^A-Za-z0-9]+", "-", device).strip("-").lower()
    when = payload["started"][:19].replace(":", "").replace("-", "")
    return f"bench-{when}-{device}-{o['backend']}{'-quick' if o['quick'] else ''}"


def _write_json(path: Path, payload: dict[str, Any]) -> None:
    tmp = path.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(payload, indent=1))
    tmp.replace(path)


class _Progress:
    """A tqdm bar over the tasks of a run (stderr, only on a terminal)."""

    def __init__(self, total: int, enabled: bool) -> None:
        self.bar = None
        if enabled:
            try:
                from tqdm import tqdm
            except ImportError:
                return
            self.bar = tqdm(total=total, unit="task", file=sys.stderr, dynamic_ncols=True)
        self.started = False

    def __call__(self, label: str) -> None:
        if self.bar is None:
            return
        if self.started:
            self.bar.update(1)
        self.started = True
        self.bar.set_description(label[:48])

    def close(self) -> None:
        if self.bar is not None:
            if self.started:
                self.bar.update(1)
            self.bar.close()


def cli_bench(args: argparse.Namespace) -> int:
    words = list(args.words or [])
    if words and words[0] == "compare":
        return cli_compare(words[1:], args.out)
    if words:
        raise ValueError(
            f"unknown bench command {words[0]!r}: use `viewfinder bench [options]` or "
            "`viewfinder bench compare A.json B.json ...`"
        )
    # every check before anything runs
    suites = suite.parse_suite_list(args.suite)
    sizes = suite.parse_size_list(args.sizes)
    backend = parse_backend(args.backend)
    repeat = parse_repeat(args.repeat)
    out = writable_dir(args.out or cache_dir())
    options = suite.Options(
        suites=suites,
        sizes=sizes,
        backend=backend,
        quick=args.quick,
        repeat=repeat,
        peers=not args.no_peers,
    )
    run = suite.Run(options, command=["viewfinder", "bench", *sys.argv[2:]])
    run.scratch = str(out)
    tasks = run.plan()
    enabled = not args.no_progress and sys.stderr.isatty()
    progress = _Progress(len(tasks), enabled)
    print(
        f"viewfinder bench: {len(tasks)} tasks on {backend}"
        f"{' (quick)' if args.quick else ''}: {', '.join(suites)}",
        flush=True,
    )
    try:
        run.execute(progress)
    finally:
        progress.close()
    payload = run.payload()
    name = stem(payload)
    json_path = out / f"{name}.json"
    _write_json(json_path, payload)
    print(report.run_table(payload))
    png = out / f"{name}.png"
    try:
        report.chart(payload, png)
    except Exception as exc:  # the figures are in the JSON: a chart failure is a note
        print(f"chart not written: {type(exc).__name__}: {exc}", file=sys.stderr)
        png = None
    print(f"wrote {json_path}" + (f" and {png.name}" if png else ""))
    print(f"took {payload['duration_s']:.1f} s")
    return 0


def cli_compare(files: list[str], out_arg: str | None) -> int:
    if len(files) < 2:
        raise ValueError("bench compare needs two or more result files: compare A.json B.json")
    out = writable_dir(out_arg or cache_dir())
    payloads = [report.load(f) for f in files]
    names = [str(f) for f in files]
    print(report.compare_table(payloads, names))
    when = _dt.datetime.now().strftime("%Y%m%dT%H%M%S")
    png = report.compare_chart(payloads, out / f"compare-{when}.png", names)
    print(f"wrote {png}")
    return 0
