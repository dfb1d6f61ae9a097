"""``cupyx.scipy.ndimage`` of the cudasim stand-in: ``scipy.ndimage`` on device arrays.

Every public function of ``scipy.ndimage`` is reached through the module ``__getattr__``, made
strict as CuPy's are: device arrays in (``input``, ``weights``, ``output``), device arrays out,
NumPy arrays refused with ``TypeError`` (CuPy's filters pass them to kernels, which refuse them).
"""

from __future__ import annotations

from types import ModuleType
from typing import Any

import scipy.ndimage as _ndi

from ..._array import function


def __getattr__(name: str) -> Any:
    obj = getattr(_ndi, name, None)
    if name.startswith("_") or obj is None or isinstance(obj, ModuleType) or not callable(obj):
        raise AttributeError(f"module 'cupyx.scipy.ndimage' (cudasim) has no attribute {name!r}")
    wrapped = function(obj, name)
    globals()[name] = wrapped
    return wrapped
