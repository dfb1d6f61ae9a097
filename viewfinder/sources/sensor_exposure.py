"""Per-pixel exposure of the simulated sensor: the photon-transfer parameters of one output
pixel, the NumPy reference of the exposure, and its Numba kernels (the model and why the shot
noise is Gaussian: :mod:`viewfinder.sources.sensor`), and the ring of host frame buffers the
frames are exposed into."""

from __future__ import annotations

import sys
from dataclasses import dataclass

import numba
import numpy as np


@dataclass(frozen=True)
class NoiseParams:
    """Photon-transfer parameters of one output pixel at one ISO (model: ``sensor.py``)."""

    gain_dn_per_e: float
    read_noise_dn: float
    read_noise_e: float
    full_well_e: float
    black_level: float
    white_level: float
    quantisation_var_dn2: float = 1.0 / 12.0

    def variance_dn2(self, signal_dn: np.ndarray | float) -> np.ndarray | float:
        """Model variance (DN^2) of a flat patch of mean ``signal_dn`` above black."""
        return (
            self.gain_dn_per_e * np.asarray(signal_dn)
            + self.read_noise_dn**2
            + self.quantisation_var_dn2
        )

    def as_meta(self) -> dict[str, float]:
        return {
            "gain_dn_per_e": self.gain_dn_per_e,
            "read_noise_dn": self.read_noise_dn,
            "read_noise_e": self.read_noise_e,
            "full_well_e": self.full_well_e,
            "black_level": self.black_level,
            "white_level": self.white_level,
            "quantisation_var_dn2": self.quantisation_var_dn2,
            "model": "var = gain * (mean - black) + read_noise_dn**2 + 1/12",
        }


def expose_reference(
    mean_e: np.ndarray, z1: np.ndarray, z2: np.ndarray, p: NoiseParams
) -> np.ndarray:
    """NumPy reference of the exposure of one pixel per element (float32 maths), uint16.

    ``mean_e`` is the mean photo-electron count, ``z1`` and ``z2`` standard normal deviates
    of the shot and of the read noise. The numba and CUDA kernels compute the same.
    """
    f = np.float32
    n = np.asarray(mean_e, f)
    e = n + np.sqrt(np.maximum(n, f(0))) * np.asarray(z1, f)
    e = np.clip(e, f(0), f(p.full_well_e))
    dn = f(p.black_level) + f(p.gain_dn_per_e) * e + f(p.read_noise_dn) * np.asarray(z2, f)
    dn = np.floor(dn + f(0.5))
    return np.clip(dn, 0, p.white_level).astype(np.uint16)


def _expose_py(
    rate, oy, ox, time_s, gain, full_well, read_dn, black, white, bank, zs, zc, o1, o2, out
):
    # float32 throughout and row slices: numba vectorises the inner loop. (x + 0.5) clipped
    # to [0, white] and truncated is floor(x + 0.5) clipped, as in expose_reference. The bank
    # holds int8 codes: z = code * zs + zc.
    h, w = out.shape
    zero, half = np.float32(0.0), np.float32(0.5)
    for y in numba.prange(h):
        r = rate[y + oy]
        z1 = bank[o1 + y * w : o1 + y * w + w]
        z2 = bank[o2 + y * w : o2 + y * w + w]
        o = out[y]
        for x in range(w):
            n = r[x + ox] * time_s
            e = n + np.sqrt(max(n, zero)) * (np.float32(z1[x]) * zs + zc)
            e = min(max(e, zero), full_well)
            dn = black + gain * e + read_dn * (np.float32(z2[x]) * zs + zc)
            o[x] = np.uint16(min(max(dn + half, zero), white))


def _expose_mean_py(rate, oy, ox, time_s, gain, full_well, black, white, out):
    h, w = out.shape
    zero, half = np.float32(0.0), np.float32(0.5)
    for y in numba.prange(h):
        r = rate[y + oy]
        o = out[y]
        for x in range(w):
            e = min(max(r[x + ox] * time_s, zero), full_well)
            o[x] = np.uint16(min(max(black + gain * e + half, zero), white))


# Two builds of each kernel: threaded for frames, serial for small windows (autofocus), where
# waking the thread pool costs more than the work.
_expose_par = numba.njit(parallel=True, fastmath=True, cache=True)(_expose_py)
_expose_ser = numba.njit(fastmath=True, cache=True)(_expose_py)
_expose_mean_par = numba.njit(parallel=True, fastmath=True, cache=True)(_expose_mean_py)
_expose_mean_ser = numba.njit(fastmath=True, cache=True)(_expose_mean_py)
#: Windows below this many pixels run the serial kernels.
SERIAL_BELOW = 1 << 18


class FrameRing:
    """Host frame buffers of one sensor, reused once free (the host counterpart of
    :class:`~viewfinder.sources.sensor_gpu.GpuExposer`'s device ring).

    A fresh 100 MB frame (8192 x 6144 uint16) costs its page faults on first touch, about
    150 ms after a pause on a VM that hands freed memory back to its host; a kept buffer is
    resident. Contract with the consumers, as on the device: a buffer is free, and handed out
    again to be rewritten, only once nothing holds the array :meth:`take` returned or a view
    of it (the pipeline ring, captures and the burst writer, result slots: a NumPy view keeps
    a reference to the buffer, which owns its memory). The check is a CPython reference
    count, no wait. When every buffer is held one more is made, kept up to ``max_buffers``;
    beyond that a frame is a fresh, unkept allocation (as without the ring), so a consumer
    that holds many frames (a burst) does not leave them all resident afterwards.
    ``take`` is not thread-safe: callers serialise it with the write that follows.
    """

    def __init__(self, shape: tuple[int, int], dtype: object = np.uint16, max_buffers: int = 6):
        if max_buffers < 1:
            raise ValueError(f"max_buffers must be at least 1, got {max_buffers}")
        self.shape = tuple(int(v) for v in shape)
        self.dtype = np.dtype(dtype)
        self.max_buffers = int(max_buffers)
        self._bufs: list[np.ndarray] = []
        self._baseline: list[int] = []
        self._i = 0
        self.grown = 0  # buffers made because consumers held all of them (the first too)
        self.unkept = 0  # frames allocated outside the ring (all max_buffers held)

    def __len__(self) -> int:
        return len(self._bufs)

    def _refs(self, i: int) -> int:
        return sys.getrefcount(self._bufs[i])

    def take(self) -> np.ndarray:
        """A buffer nothing else holds (contents undefined), to be written and handed out."""
        n = len(self._bufs)
        for k in range(n):
            i = (self._i + k) % n
            if self._refs(i) <= self._baseline[i]:
                self._i = (i + 1) % n
                return self._bufs[i]
        if n >= self.max_buffers:  # every kept buffer is held: a frame of its own
            self.unkept += 1
            return np.empty(self.shape, self.dtype)
        self._bufs.append(np.empty(self.shape, self.dtype))
        self._baseline.append(self._refs(n))  # the ring's own references only
        self.grown += 1
        self._i = 0
        return self._bufs[n]

    def clear(self) -> None:
        """Forget the buffers (frames still held stay valid: they are only no longer kept)."""
        self._bufs, self._baseline, self._i = [], [], 0
