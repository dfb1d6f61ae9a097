"""Frame sources behind one protocol: the simulated camera, V4L2 cameras and RAW files.

Classes are imported on first use, so ``import viewfinder.sources`` does not pull in linuxpy
or rawpy.
"""

from __future__ import annotations

import importlib
from typing import Any

from .base import FrameRing, FrameSource, SourceError, SourceThread

_LAZY = {
    "SimulatedCamera": "viewfinder.sources.simulated",
    "V4L2Source": "viewfinder.sources.v4l2",
    "RawFileSource": "viewfinder.sources.rawfile",
    "open_source": "viewfinder.sources.open",
}

__all__ = ["FrameRing", "FrameSource", "SourceError", "SourceThread", *_LAZY]


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'viewfinder.sources' has no attribute {name!r}")
