"""Scopes of the view: display histogram, luma waveform, RGB parade, vectorscope.

All read the clean 8-bit view (before overlays). Luma is the integer Rec. 709 luma of
:func:`viewfinder.stages.zebra.luma8`.

* view histogram: (4, 256) int64, rows R, G, B, luma;
* waveform: (256, w) uint32, ``waveform[v, x]`` = pixels of column ``x`` with luma ``v``
  (row 0 is black: flip it to draw);
* parade: (3, 256, w) uint32, the same per channel R, G, B;
* vectorscope: (n, n) uint32 over BT.709 ``Cb = (B' - Y') / 1.8556`` (columns) and
  ``Cr = (R' - Y') / 1.5748`` (rows), each in [-0.5, 0.5] spread over ``n`` cells; the
  neutral axis is the centre cell ``(n // 2, n // 2)``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..settings import check_range
from .zebra import luma8


@dataclass(frozen=True)
class ScopeSettings:
    """Which scopes run.

    Attributes
    ----------
    waveform, parade, vectorscope : bool
    vectorscope_size : int in [16, 512]
        Cells a side.
    row_step : int in [1, 16]
        Waveform, parade and vectorscope count rows 0, step, 2 step... of the view (1: every
        row, exact; 2 or 4 halve or quarter their cost on the CPU, the shapes stay).
    """

    waveform: bool = False
    parade: bool = False
    vectorscope: bool = False
    vectorscope_size: int = 128
    row_step: int = 1

    def __post_init__(self) -> None:
        check_range("scope row_step", self.row_step, 1, 16)
        if int(self.row_step) != self.row_step:
            raise ValueError(f"scope row_step must be an integer, got {self.row_step!r}")
        check_range("vectorscope_size", self.vectorscope_size, 16, 512)
        if int(self.vectorscope_size) != self.vectorscope_size:
            raise ValueError(f"vectorscope_size must be an integer, got {self.vectorscope_size!r}")


def vectorscope_scales(n: int) -> tuple[np.float32, np.float32]:
    """(ku, kv): cells per unit of ``256 B - Yw`` and ``256 R - Yw`` (Yw = 54 R + 183 G + 19 B)."""
    return (np.float32(n / (256.0 * 255.0 * 1.8556)), np.float32(n / (256.0 * 255.0 * 1.5748)))


def view_histogram_reference(rgb8: np.ndarray) -> np.ndarray:
    """(4, 256) int64 counts of R, G, B and luma."""
    planes = [rgb8[..., c] for c in range(3)] + [luma8(rgb8[..., :3])]
    return np.stack([np.bincount(p.ravel(), minlength=256) for p in planes]).astype(np.int64)


def _column_hist(v: np.ndarray) -> np.ndarray:
    h, w = v.shape
    idx = v.astype(np.int64) * w + np.arange(w)[None, :]
    return np.bincount(idx.ravel(), minlength=256 * w).reshape(256, w).astype(np.uint32)


def waveform_reference(rgb8: np.ndarray) -> np.ndarray:
    """(256, w) uint32 luma waveform."""
    return _column_hist(luma8(rgb8[..., :3]))


def parade_reference(rgb8: np.ndarray) -> np.ndarray:
    """(3, 256, w) uint32 per-channel waveforms."""
    return np.stack([_column_hist(rgb8[..., c]) for c in range(3)])


def vectorscope_cells(rgb8: np.ndarray, n: int) -> tuple[np.ndarray, np.ndarray]:
    """(u, v) cell of every pixel, int64 each (float32 maths as the kernels do it)."""
    r, g, b = (rgb8[..., c].astype(np.int32) for c in range(3))
    yw = 54 * r + 183 * g + 19 * b
    ku, kv = vectorscope_scales(n)
    half = np.float32(0.5 * n)
    u = np.floor((256 * b - yw).astype(np.float32) * ku + half).astype(np.int64)
    v = np.floor((256 * r - yw).astype(np.float32) * kv + half).astype(np.int64)
    return np.clip(u, 0, n - 1), np.clip(v, 0, n - 1)


def vectorscope_reference(rgb8: np.ndarray, n: int = 128) -> np.ndarray:
    """(n, n) uint32 counts, rows Cr, columns Cb."""
    u, v = vectorscope_cells(rgb8, n)
    return np.bincount((v * n + u).ravel(), minlength=n * n).reshape(n, n).astype(np.uint32)
