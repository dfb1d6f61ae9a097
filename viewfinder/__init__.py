"""viewfinder: a real-time GPU-accelerated camera viewfinder engine.

``Frame`` carries a raw mosaic; ``Pipeline(settings).process(frame)`` develops it into a view
with focus peaking, zebras and histograms; ``demosaic`` is the demosaicing stage on its own.
"""

from .frame import CFA_PATTERNS, Frame, check_cfa
from .pipeline import Pipeline, PipelineOutputs
from .settings import Settings
from .stages.demosaic import demosaic
from .stages.histogram import raw_histogram
from .stages.peaking import peaking

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
