"""viewfinder: a real-time GPU-accelerated camera viewfinder engine.

``Frame`` carries a raw mosaic; ``Pipeline(settings).process(frame)`` develops it into a view
with focus peaking, zebras and histograms; ``demosaic`` is the demosaicing stage on its own.
"""

import os

# OpenMP threads that spin while they wait take a core from the window, the assists and the
# source threads; on a loaded two-core machine spinning cost 5-8x in Numba's parallel loops
# (measured). Numba's OpenMP runtime reads this once, at the first parallel loop of the
# process, so it is set here, before any module of the package can start one. A user's own
# setting wins.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

from .frame import CFA_PATTERNS, Frame, check_cfa  # noqa: E402
from .pipeline import Pipeline, PipelineOutputs  # noqa: E402
from .settings import Settings  # noqa: E402
from .stages.demosaic import demosaic  # noqa: E402
from .stages.histogram import raw_histogram  # noqa: E402
from .stages.peaking import peaking  # noqa: E402

__version__ = "0.1.0"
__all__ = [
    "CFA_PATTERNS",
    "Frame",
    "Pipeline",
    "PipelineOutputs",
    "Settings",
    "__version__",
    "check_cfa",
    "demosaic",
    "peaking",
    "raw_histogram",
]
