"""The pipeline's device path (CuPy code) run on the cudasim backend: no GPU needed.

``viewfinder.cudasim`` runs the unmodified ``.cu`` kernels on a CPU runtime and counts host
syncs and allocations; these tests use it to check what only the device path does (pinned
uploads, events, buffers made at configure time). The ``cudasim`` fixture skips a test, with
the reason, where the stand-in cannot compile and launch a kernel here (no g++, say).
"""

from __future__ import annotations

import functools

import numpy as np
import pytest


@functools.cache
def _cudasim_problem() -> str | None:
    try:
        from viewfinder import backend as be
        from viewfinder.kernels import get_kernel

        xp = be.get_xp("cudasim")
        raw = xp.asarray(np.arange(64, dtype=np.uint16).reshape(8, 8))
        hist = xp.zeros((4, 256), xp.int64)
        kernel = get_kernel("histogram", "vf_raw_histogram", {"VF_HIST_BINS": 256}, xp=xp)
        kernel((1,), (64,), (raw, np.int32(8), np.int32(8), np.int32(0), hist))
        if int(hist.sum().get()) != 64:
            return "cudasim ran a test kernel with a wrong result"
    except Exception as exc:  # not there yet, or no compiler on this machine
        return f"viewfinder.cudasim cannot run kernels here: {type(exc).__name__}: {exc}"
    return None


@pytest.fixture
def cudasim():
    """The cudasim module (``backend.get_xp("cudasim")``), its counters reset."""
    pytest.importorskip("viewfinder.cudasim")
    problem = _cudasim_problem()
    if problem:
        pytest.skip(problem)
    from viewfinder import backend as be

    xp = be.get_xp("cudasim")
    xp.counters.reset()
    return xp
