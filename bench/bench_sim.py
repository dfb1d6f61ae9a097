"""Thin wrapper of :mod:`viewfinder.bench.sim` (the benchmark moved into the package; the
standard suite is ``viewfinder bench``). ``python -m bench.bench_sim`` runs it as before and
writes its JSON into bench/results (or ``$VIEWFINDER_BENCH_RESULTS``)."""

import sys

from viewfinder.bench.sim import *  # noqa: F403
from viewfinder.bench.sim import main

if __name__ == "__main__":
    from bench._wrap import run

    sys.exit(run(main))
