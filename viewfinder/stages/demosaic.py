"""Demosaic: (H, W) Bayer mosaic -> (H, W, 3) float32 RGB in the units of the input.

Methods
-------
``"bilinear"``
    Mean of the nearest same-colour sites.
``"mhc"``
    Malvar, He and Cutler (2004): bilinear corrected by the Laplacian of the site's own colour.
    The live default; the GPU preview kernel fuses it.
``"hq"``
    Ratio Corrected Demosaicing (RCD) with two of Menon's (2007) refining steps; see
    :mod:`viewfinder.stages.demosaic_hq`. Meant for captures and for live view on a GPU
    (five kernel passes). CPSNR on McMaster18 36.3 dB (MHC 34.4, Menon2007 34.2).

Borders are mirrored (index -1 reads 1, ``scipy.ndimage`` mode ``"mirror"``), which keeps the
CFA parity. colour-demosaicing convolves with scipy's default ``"reflect"`` (-1 reads 0), which
mixes colours at the edge, so the two agree everywhere but within 2 px of the border.
The NumPy path is the reference; CuPy input runs the kernels of
``viewfinder/kernels/demosaic.cu``, which share their per-pixel maths with the g++-tested
headers. Nothing is clipped: values above the white level are the caller's concern.
"""

from __future__ import annotations

from typing import Any

import cv2
import numpy as np

from ..backend import array_module, is_device_array
from ..frame import CFA_CODES, cfa_site_offsets, check_cfa, check_mosaic
from .demosaic_hq import demosaic_hq

METHODS: tuple[str, ...] = ("bilinear", "mhc", "hq")

# Correlation kernels (all symmetric, so convolution is the same) of the 3x3 bilinear and the
# 5x5 Malvar-He-Cutler filters; "row" is the colour on the left/right neighbours of a G site.
_K = {
    "bil_cross": np.array([[0, 1, 0], [1, 0, 1], [0, 1, 0]], np.float32) / 4,
    "bil_diag": np.array([[1, 0, 1], [0, 0, 0], [1, 0, 1]], np.float32) / 4,
    "bil_row": np.array([[0, 0, 0], [1, 0, 1], [0, 0, 0]], np.float32) / 2,
    "mhc_green": np.array(
        [[0, 0, -1, 0, 0], [0, 0, 2, 0, 0], [-1, 2, 4, 2, -1], [0, 0, 2, 0, 0], [0, 0, -1, 0, 0]],
        np.float32,
    )
    / 8,
    "mhc_row": np.array(
        [
            [0, 0, 0.5, 0, 0],
            [0, -1, 0, -1, 0],
            [-1, 4, 5, 4, -1],
            [0, -1, 0, -1, 0],
            [0, 0, 0.5, 0, 0],
        ],
        np.float32,
    )
    / 8,
    "mhc_diag": np.array(
        [
            [0, 0, -1.5, 0, 0],
            [0, 2, 0, 2, 0],
            [-1.5, 0, 6, 0, -1.5],
            [0, 2, 0, 2, 0],
            [0, 0, -1.5, 0, 0],
        ],
        np.float32,
    )
    / 8,
}
_K["bil_col"] = np.ascontiguousarray(_K["bil_row"].T)
_K["mhc_col"] = np.ascontiguousarray(_K["mhc_row"].T)


def check_method(method: str) -> str:
    """Return ``method`` or raise ``ValueError`` naming it and the choices."""
    if not isinstance(method, str) or method not in METHODS:
        raise ValueError(
            f"unknown demosaic method {method!r}: expected one of {', '.join(METHODS)}"
        )
    return method


def cpsnr(reference: np.ndarray, result: np.ndarray, border: int = 10) -> float:
    """Colour PSNR in dB of 8-bit ``reference`` (H, W, 3) against ``result`` (clipped to
    0..255), ``border`` pixels left out on every side: the demosaicing literature's measure."""
    r = reference[border:-border, border:-border].astype(np.float64)
    o = np.clip(result[border:-border, border:-border].astype(np.float64), 0, 255)
    return float(10 * np.log10(255.0**2 / np.mean((r - o) ** 2)))


def hq_scratch_shape(shape: tuple[int, int]) -> tuple[int, int, int]:
    """Shape of the float32 scratch buffer the GPU ``"hq"`` method takes: (2, H, W)."""
    return (2, int(shape[0]), int(shape[1]))


def _check_out(out: Any, shape: tuple[int, int], xp: Any) -> None:
    want = (int(shape[0]), int(shape[1]), 3)
    if type(out) is not xp.ndarray:
        raise ValueError(f"out must be a {xp.__name__} array like the raw frame, got {type(out)}")
    if tuple(out.shape) != want or out.dtype != np.float32 or not out.flags.c_contiguous:
        raise ValueError(
            f"out must be a C-contiguous float32 array of shape {want}, "
            f"got {out.dtype} {tuple(out.shape)}"
        )


def demosaic(
    raw: Any,
    cfa: str = "RGGB",
    method: str = "mhc",
    out: Any | None = None,
    scratch: Any | None = None,
) -> Any:
    """Demosaic a Bayer mosaic.

    Parameters
    ----------
    raw : (H, W) array, NumPy or CuPy, any integer or float dtype
        The mosaic; H and W even and >= 4. Units are kept (DN in, DN out).
    cfa : {"RGGB", "BGGR", "GRBG", "GBRG"}
        Layout of the top-left 2x2 block.
    method : {"bilinear", "mhc", "hq"}
    out : (H, W, 3) float32 C-contiguous array of the same kind as ``raw``, optional
        Written and returned; lets a pipeline reuse its buffer.
    scratch : (2, H, W) float32 CuPy array, optional
        Scratch planes of the GPU ``"hq"`` passes (see :func:`hq_scratch_shape`); ignored by
        the NumPy path and by the other methods.

    Returns
    -------
    (H, W, 3) float32 array (NumPy for NumPy input, CuPy for CuPy input), RGB.
    """
    check_mosaic(raw)
    cfa = check_cfa(cfa)
    method = check_method(method)
    xp = array_module(raw)
    if out is None:
        out = xp.empty((raw.shape[0], raw.shape[1], 3), dtype=np.float32)
    else:
        _check_out(out, raw.shape, xp)
    if is_device_array(raw):
        return _demosaic_cupy(raw, cfa, method, out, scratch)
    m = np.ascontiguousarray(raw, dtype=np.float32)
    if method == "hq":
        return demosaic_hq(m, cfa, out)
    return _demosaic_linear(m, cfa, method, out)


def demosaic_into(
    raw: Any, out: Any, cfa: str = "RGGB", method: str = "mhc", scratch: Any | None = None
) -> Any:
    """:func:`demosaic` into the preallocated ``out`` (H, W, 3) float32; returns ``out``."""
    if out is None:
        raise ValueError("demosaic_into needs an out buffer, got None")
    return demosaic(raw, cfa=cfa, method=method, out=out, scratch=scratch)


def _filter(m: np.ndarray, name: str) -> np.ndarray:
    # BORDER_REFLECT_101 is scipy's "mirror" (-1 -> 1).
    return cv2.filter2D(m, cv2.CV_32F, _K[name], borderType=cv2.BORDER_REFLECT_101)


def _demosaic_linear(m: np.ndarray, cfa: str, method: str, out: np.ndarray) -> np.ndarray:
    """Bilinear or MHC: four linear filters, each kept on the lattices where it applies."""
    pre = "bil_" if method == "bilinear" else "mhc_"
    green = _filter(m, "bil_cross" if method == "bilinear" else "mhc_green")
    diag = _filter(m, pre + "diag")
    row = _filter(m, pre + "row")
    col = _filter(m, pre + "col")
    (ry, rx), (gry, grx), (gby, gbx), (by, bx) = cfa_site_offsets(cfa)
    for c, (y0, x0) in ((0, (ry, rx)), (2, (by, bx))):
        out[y0::2, x0::2, c] = m[y0::2, x0::2]
        out[y0::2, x0::2, 1] = green[y0::2, x0::2]
        out[y0::2, x0::2, 2 - c] = diag[y0::2, x0::2]
    # Gr: R left/right, B above/below; Gb: the other way round.
    for (y0, x0), r_src, b_src in (((gry, grx), row, col), ((gby, gbx), col, row)):
        out[y0::2, x0::2, 1] = m[y0::2, x0::2]
        out[y0::2, x0::2, 0] = r_src[y0::2, x0::2]
        out[y0::2, x0::2, 2] = b_src[y0::2, x0::2]
    return out


# --- CuPy path: thin glue over demosaic.cu (no host sync; allocates only what is not given) ---

_BLOCK = (32, 8, 1)
_KERNELS: dict[tuple[str, str], Any] = {}


def _kernel(cp: Any, name: str) -> Any:
    """The compiled kernel ``name`` of demosaic.cu for module ``cp`` (CuPy or cudasim), cached
    here to skip per-frame lookups."""
    kernel = _KERNELS.get((cp.__name__, name))
    if kernel is None:
        from ..kernels import get_kernel

        kernel = _KERNELS[cp.__name__, name] = get_kernel("demosaic", name, xp=cp)
    return kernel


def _demosaic_cupy(raw: Any, cfa: str, method: str, out: Any, scratch: Any | None) -> Any:
    cp = array_module(raw)
    if raw.dtype == np.uint16:
        suffix = "u16"
    else:
        # The kernels read uint16 or float32; other dtypes pay one conversion.
        raw = raw.astype(cp.float32, copy=False)
        suffix = "f32"
    raw = cp.ascontiguousarray(raw)
    h, w = int(raw.shape[0]), int(raw.shape[1])
    grid = ((w + _BLOCK[0] - 1) // _BLOCK[0], (h + _BLOCK[1] - 1) // _BLOCK[1], 1)
    wi, hi, code = np.int32(w), np.int32(h), np.int32(CFA_CODES[cfa])
    if method != "hq":
        _kernel(cp, f"vf_demosaic_{method}_{suffix}")(grid, _BLOCK, (raw, out, wi, hi, code))
        return out
    if scratch is None:
        scratch = cp.empty(hq_scratch_shape((h, w)), dtype=cp.float32)
    elif (
        type(scratch) is not cp.ndarray
        or tuple(scratch.shape) != hq_scratch_shape((h, w))
        or scratch.dtype != np.float32
        or not scratch.flags.c_contiguous
    ):
        raise ValueError(
            f"scratch must be a C-contiguous float32 CuPy array of shape "
            f"{hq_scratch_shape((h, w))}, got {getattr(scratch, 'dtype', None)} "
            f"{tuple(getattr(scratch, 'shape', ()))}"
        )
    vh, pq = scratch[0], scratch[1]
    _kernel(cp, f"vf_hq_directions_{suffix}")(grid, _BLOCK, (raw, vh, pq, wi, hi))
    _kernel(cp, f"vf_hq_green_{suffix}")(grid, _BLOCK, (raw, vh, out, wi, hi, code))
    _kernel(cp, f"vf_hq_rb_{suffix}")(grid, _BLOCK, (raw, pq, out, wi, hi, code))
    _kernel(cp, "vf_hq_rb_at_g")(grid, _BLOCK, (vh, out, wi, hi, code))
    _kernel(cp, f"vf_hq_refine_{suffix}")(grid, _BLOCK, (raw, vh, out, wi, hi, code))
    return out
