"""What the ``bench/`` wrappers share: run a :mod:`viewfinder.bench` module's ``main`` the way
``python -m bench.bench_X`` always ran, writing into this checkout's bench/results unless
``$VIEWFINDER_BENCH_RESULTS`` names another folder (``bench.gpu_check`` sets it)."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

from viewfinder.bench.harness import RESULTS_ENV

RESULTS_DIR = Path(__file__).resolve().parent / "results"


def run(main: Callable[[], int | None]) -> int:
    os.environ.setdefault(RESULTS_ENV, str(RESULTS_DIR))
    return int(main() or 0)
