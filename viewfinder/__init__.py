"""viewfinder: a real-time GPU-accelerated camera viewfinder engine."""

from .frame import CFA_PATTERNS, Frame, check_cfa
from .settings import Settings

__version__ = "0.1.0"
__all__ = ["CFA_PATTERNS", "Frame", "Settings", "check_cfa", "__version__"]
