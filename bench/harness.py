"""Thin wrapper of :mod:`viewfinder.bench.harness` (moved into the package)."""

from bench._wrap import RESULTS_DIR  # noqa: F401  (where the wrappers write by default)
from viewfinder.bench.harness import *  # noqa: F403
from viewfinder.bench.harness import (  # noqa: F401
    RESULTS_ENV,
    environment,
    gpu_measure,
    measure,
    parse_sizes,
    write_results,
)
