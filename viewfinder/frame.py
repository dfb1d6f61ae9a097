"""The one frame type that crosses every boundary, and the CFA convention.

CFA names give the top-left 2x2 block read row by row: ``"RGGB"`` means R at (0, 0),
G at (0, 1), G at (1, 0) and B at (1, 1). The two greens are Gr (on red rows) and Gb (on
blue rows); per-site statistics are always in the order R, Gr, Gb, B.
"""

from __future__ import annotations

import math
import numbers
import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np

CFA_PATTERNS: tuple[str, ...] = ("RGGB", "BGGR", "GRBG", "GBRG")
#: Largest frame side accepted, in pixels (a 16384 x 16384 uint16 mosaic is 512 MiB).
MAX_FRAME_SIDE = 16384
#: Integer code of each pattern, as the CUDA kernels and the C++ shims take it.
CFA_CODES: dict[str, int] = {name: i for i, name in enumerate(CFA_PATTERNS)}
SITE_NAMES: tuple[str, ...] = ("R", "Gr", "Gb", "B")


def check_cfa(cfa: str) -> str:
    """Return the upper-case CFA name, or raise ``ValueError`` naming the bad value."""
    if not isinstance(cfa, str) or cfa.upper() not in CFA_PATTERNS:
        raise ValueError(f"unknown cfa {cfa!r}: expected one of {', '.join(CFA_PATTERNS)}")
    return cfa.upper()


def cfa_colors(cfa: str) -> np.ndarray:
    """Colour index (0 = R, 1 = G, 2 = B) of each site of the 2x2 block, shape (2, 2)."""
    cfa = check_cfa(cfa)
    return np.array(["RGB".index(c) for c in cfa], dtype=np.int64).reshape(2, 2)


def cfa_site_offsets(cfa: str) -> tuple[tuple[int, int], ...]:
    """(row, col) offsets inside the 2x2 block of the R, Gr, Gb and B sites, in that order."""
    cfa = check_cfa(cfa)
    pos = {(r, c): cfa[2 * r + c] for r in range(2) for c in range(2)}
    red_row = next(r for (r, _), ch in pos.items() if ch == "R")
    r_site = next(p for p, ch in pos.items() if ch == "R")
    b_site = next(p for p, ch in pos.items() if ch == "B")
    gr_site = next(p for p, ch in pos.items() if ch == "G" and p[0] == red_row)
    gb_site = next(p for p, ch in pos.items() if ch == "G" and p[0] != red_row)
    return (r_site, gr_site, gb_site, b_site)


def cfa_masks(shape: tuple[int, int], cfa: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Boolean R, G and B masks of a mosaic of ``shape`` (H, W), each (H, W)."""
    colors = cfa_colors(cfa)
    h, w = shape
    tiled = np.tile(colors, ((h + 1) // 2, (w + 1) // 2))[:h, :w]
    return tiled == 0, tiled == 1, tiled == 2


def mosaic(rgb: Any, cfa: str = "RGGB") -> Any:
    """Sample an RGB image through the CFA, as a sensor would.

    Parameters
    ----------
    rgb : (H, W, 3) array, H and W even
    cfa : CFA name

    Returns
    -------
    (H, W) array of the same dtype and module.
    """
    h, w = rgb.shape[:2]
    if rgb.ndim != 3 or rgb.shape[2] != 3 or h % 2 or w % 2:
        raise ValueError(f"mosaic needs an (H, W, 3) image with even sides, got {rgb.shape}")
    from .backend import array_module

    xp = array_module(rgb)
    idx = xp.asarray(np.tile(cfa_colors(cfa), (h // 2, w // 2)))
    return xp.take_along_axis(rgb, idx[..., None], axis=2)[..., 0].copy()


def check_mosaic(raw: Any, name: str = "raw frame") -> None:
    """Raise ``ValueError`` unless ``raw`` is a numeric 2-D mosaic with even sides >= 4."""
    shape = getattr(raw, "shape", None)
    dtype = getattr(raw, "dtype", None)
    if shape is None or dtype is None:
        raise ValueError(f"{name} must be a NumPy or CuPy array, got {type(raw).__name__}")
    if dtype.kind not in "uif":
        raise ValueError(f"{name} must have a numeric dtype, got {dtype}")
    if len(shape) != 2 or shape[0] % 2 or shape[1] % 2:
        raise ValueError(f"{name} must be 2-D with even height and width, got {tuple(shape)}")
    if shape[0] < 4 or shape[1] < 4:
        raise ValueError(f"{name} must be at least 4x4, got {tuple(shape)}")


def data_warnings(data: np.ndarray, white_level: float) -> list[str]:
    """Why decoded raw ``data`` (H, W) looks wrong, one line each; empty when plausible.

    Flags samples above what the white level's bit depth can hold (a 12-bit file with
    white 4095 has none; a corrupt one decodes to values up to 36846), an implausible
    white level (fewer than 8 bits), and data with a single value everywhere (a 1-bit file
    decodes to all black). One pass over the data on the host (about 10 ms at 24 MP).
    """
    warnings: list[str] = []
    if not 255 <= white_level <= 65535:
        warnings.append(f"implausible white level {white_level:g} (bit depth below 8 or above 16)")
    container = (1 << max(1, math.ceil(math.log2(max(white_level, 1) + 1)))) - 1
    lo, hi = int(data.min()), int(data.max())
    if hi > container:
        n = int(np.count_nonzero(data > container))
        warnings.append(
            f"{n} samples ({100 * n / data.size:.2g} %) above the white level "
            f"{white_level:g}, up to {hi}: the file's data or levels are wrong"
        )
    if lo == hi:
        warnings.append(f"every sample is {lo}: no picture in the data")
    return warnings


def _level(name: str, value: Any) -> float | int:
    """A finite real number (Python int or float), or ``ValueError`` naming ``name``."""
    if isinstance(value, np.generic) and value.ndim == 0:
        value = value.item()
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise ValueError(f"{name} must be a number, got {type(value).__name__} {value!r:.40}")
    if not math.isfinite(value):
        raise ValueError(f"{name} must be finite, got {value!r}")
    return value if isinstance(value, int) else float(value)


class DeviceSync:
    """How a device frame crosses CUDA streams with no host wait.

    The producer records ``ready`` on its stream after writing the frame; a consumer makes
    its own stream wait on it (:meth:`wait`) before reading, and hands back an event recorded
    on its stream after its last read (:meth:`release`); the producer's stream waits on the
    released events before it rewrites the buffer. One object per producer buffer, reused.
    """

    def __init__(self, ready: Any) -> None:
        self.ready = ready
        self._released: dict[int, Any] = {}  # consumer id -> its latest release event

    def wait(self, stream: Any) -> None:
        """Make ``stream`` wait (on the device) until the frame is written."""
        stream.wait_event(self.ready)

    def release(self, event: Any, consumer: object) -> None:
        """``consumer``'s reads of the frame end at ``event`` (recorded on its stream)."""
        self._released[id(consumer)] = event

    def take_released(self) -> list[Any]:
        """The consumers' release events since the last call (the producer waits on them)."""
        events, self._released = list(self._released.values()), {}
        return events


@dataclass
class Frame:
    """One raw frame from a sensor, validated once when made.

    Attributes
    ----------
    data : (H, W) uint16 or uint8 array (NumPy or CuPy)
        The raw mosaic, LSB-aligned, in DN. H and W even, 4 to :data:`MAX_FRAME_SIDE`.
        A non-native byte order (``>u2``) is converted to native; signed, wider and float
        arrays are refused.
    cfa : str
        CFA name of the top-left 2x2 block (see module docstring).
    black_level, white_level : float
        Raw values of black and of the clipping point, in DN: finite numbers with
        ``0 <= black_level < white_level <= 2**bits - 1``. ``white_level`` defaults to
        ``2**bits - 1``. Samples above the white level are clipped by the pipeline.
    bits : int
        Bits per sample, an integer in 1..16.
    seq : int
        Frame counter of the source.
    timestamp_ns : int
        ``time.monotonic_ns()`` when the frame was exposed (or read).
    meta : dict
        Sensor, lens, aperture, focus distance (m), exposure time (s), ISO, white balance...
        ``meta["warnings"]`` (list of str), when present, says why the data looks wrong.
    sync : DeviceSync or None
        For a device frame written on another CUDA stream: wait on it before reading.

    Every bad field raises ``ValueError`` naming it.
    """

    data: Any
    cfa: str = "RGGB"
    black_level: float = 0
    white_level: float | None = None
    bits: int = 10
    seq: int = 0
    timestamp_ns: int = field(default_factory=time.monotonic_ns)
    meta: dict[str, Any] = field(default_factory=dict)
    sync: DeviceSync | None = field(default=None, compare=False, repr=False)

    def __post_init__(self) -> None:
        check_mosaic(self.data, "Frame.data")
        dtype = self.data.dtype
        if dtype.kind != "u" or dtype.itemsize > 2:
            raise ValueError(
                f"Frame.data must be an unsigned integer array of up to 16 bits "
                f"(uint8 or uint16), got {dtype}"
            )
        if not dtype.isnative:  # e.g. ">u2" read from a big-endian file
            self.data = self.data.astype(dtype.newbyteorder("="))
        h, w = self.data.shape
        if h > MAX_FRAME_SIDE or w > MAX_FRAME_SIDE:
            raise ValueError(
                f"Frame.data is {w}x{h}: at most {MAX_FRAME_SIDE} pixels a side are supported"
            )
        self.cfa = check_cfa(self.cfa)
        bits = self.bits.item() if isinstance(self.bits, np.integer) else self.bits
        if isinstance(bits, bool) or not isinstance(bits, int) or not 1 <= bits <= 16:
            raise ValueError(f"Frame.bits must be an integer in 1..16, got {self.bits!r}")
        self.bits = bits
        top = (1 << bits) - 1
        if self.white_level is None:
            self.white_level = top
        self.black_level = _level("Frame.black_level", self.black_level)
        self.white_level = _level("Frame.white_level", self.white_level)
        if not 0 <= self.black_level < self.white_level:
            raise ValueError(
                f"Frame.black_level must be in [0, white_level={self.white_level}), "
                f"got {self.black_level}"
            )
        if self.white_level > top:
            raise ValueError(
                f"Frame.white_level must be at most 2**bits - 1 = {top} for {bits}-bit "
                f"data, got {self.white_level}"
            )
        if not isinstance(self.meta, dict):
            raise ValueError(f"Frame.meta must be a dict, got {type(self.meta).__name__}")

    @property
    def height(self) -> int:
        return int(self.data.shape[0])

    @property
    def width(self) -> int:
        return int(self.data.shape[1])

    @property
    def shape(self) -> tuple[int, int]:
        return (self.height, self.width)
