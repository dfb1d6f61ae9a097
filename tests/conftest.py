"""Shared fixtures and markers: `gpu` tests skip without a CUDA device, `gl` without OpenGL.

The ``dxp`` fixture runs a test of the device code paths twice: on CuPy (marked ``gpu``:
skipped without a CUDA device) and on :mod:`viewfinder.cudasim` (marked ``cudasim``: the same
CuPy code and the unmodified CUDA kernels, run on the CPU; skipped without g++).
"""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest

from viewfinder.backend import get_xp, gpu_available

SHARED_DATA = Path(__file__).resolve().parents[2] / "shared" / "data"
MCMASTER = SHARED_DATA / "mcmaster18"


def pytest_collection_modifyitems(config, items):
    skip_gpu = pytest.mark.skip(reason="needs a CUDA device (CuPy)")
    has_gpu = gpu_available()
    for item in items:
        if "gpu" in item.keywords and not has_gpu:
            item.add_marker(skip_gpu)


@pytest.fixture(
    params=[
        pytest.param("cupy", marks=pytest.mark.gpu, id="cupy"),
        pytest.param("cudasim", marks=pytest.mark.cudasim, id="cudasim"),
    ]
)
def dxp(request):
    """The device array module: ``cupy`` on a GPU, ``viewfinder.cudasim`` on the CPU."""
    if request.param == "cudasim" and shutil.which("g++") is None:
        pytest.skip("cudasim compiles the CUDA kernels with g++, which is not installed")
    return get_xp(request.param)


@pytest.fixture
def rng() -> np.random.Generator:
    return np.random.default_rng(1234)


def skimage_photos() -> dict[str, np.ndarray]:
    """scikit-image's bundled RGB photos as (H, W, 3) uint8, cropped to even sides."""
    data = pytest.importorskip("skimage.data")
    photos = {}
    for name in ("astronaut", "chelsea", "coffee", "rocket"):
        img = getattr(data, name)()
        h, w = img.shape[0] // 2 * 2, img.shape[1] // 2 * 2
        photos[name] = np.ascontiguousarray(img[:h, :w, :3])
    return photos


def mcmaster_images() -> dict[str, np.ndarray]:
    """McMaster18 as (H, W, 3) uint8; skips the test when the set is absent."""
    if not MCMASTER.is_dir() or not any(MCMASTER.iterdir()):
        pytest.skip(f"McMaster18 not found at {MCMASTER}")
    tifffile = pytest.importorskip("tifffile")
    out = {}
    for path in sorted(MCMASTER.glob("*.tif*")):
        img = tifffile.imread(path)
        h, w = img.shape[0] // 2 * 2, img.shape[1] // 2 * 2
        out[path.stem] = np.ascontiguousarray(img[:h, :w, :3])
    return out
