"""Device exposure of the simulated sensor: CuPy glue of ``kernels/sim.cu``."""

from __future__ import annotations

import sys

import numpy as np

from ..backend import is_device_array
from .sensor_exposure import NoiseParams


class GpuExposer:
    """CuPy glue of ``kernels/sim.cu``: exposes frames on the device with no host sync.

    The rate map is uploaded once per change of the rendered scene (:meth:`set_rate`); per
    frame one kernel writes into a free one of ``buffers`` preallocated device frames. With
    ``host=True`` the frame is copied into the matching one of as many pinned host buffers.

    Contract with the consumers: a frame buffer is free, and rewritten, only once nothing
    holds the returned array or a view of it (the ring, the processor, a result slot, a
    capture: the check is a reference count, on the host, no wait). When every buffer is held
    one more is made (an allocation, only while consumers hold ``buffers`` frames or more).
    Device reads a consumer enqueued before dropping the frame are ordered before the
    rewrite by stream semantics: the exposure kernel runs on the source thread's current
    stream, the legacy default stream, which waits for earlier work on every blocking stream
    (the :class:`~viewfinder.render.worker.Processor` uses one); a consumer reading on a
    non-blocking stream must keep the frame until its reads are done.
    """

    def __init__(
        self, width: int, height: int, host: bool = False, buffers: int = 6, xp: str = "cupy"
    ) -> None:
        from ..backend import cupyx_module, get_xp
        from ..kernels import get_kernel

        cp = get_xp(xp)  # "cupy", or "cudasim" (the same code on the CPU runtime)
        self._cp = cp
        self.width, self.height = width, height
        self._kernel = get_kernel("sim", "vf_sim_expose", xp=cp)
        self._out = [cp.empty((height, width), cp.uint16) for _ in range(buffers)]
        self._host = None
        if host:
            cupyx = cupyx_module(cp)
            self._host = [cupyx.empty_pinned((height, width), np.uint16) for _ in range(buffers)]
        self._shape = (height, width)
        self._baseline = [self._refs(i) for i in range(buffers)]
        self._i = 0
        self.grown = 0  # buffers added because consumers held all of them
        self._rate = None
        self._rate_key: object = None

    def set_rate(self, key: object, rate_e_s: np.ndarray) -> None:
        """Upload the (H', W') float32 rate map unless ``key`` says it is already there."""
        if key != self._rate_key:
            if rate_e_s.ndim != 2:
                raise ValueError(f"rate map must be 2-D, got shape {rate_e_s.shape}")
            # the kernel indexes rows of rate_w floats: C order whatever the source layout
            if is_device_array(rate_e_s):  # rendered on the device
                self._rate = self._cp.ascontiguousarray(rate_e_s, dtype=self._cp.float32)
            else:  # cupy.ascontiguousarray refuses a NumPy array: contiguous on the host
                self._rate = self._cp.asarray(np.ascontiguousarray(rate_e_s, dtype=np.float32))
            self._rate_key = key

    def expose(
        self, offset: tuple[int, int], time_s: float, p: NoiseParams, seed: int, noise: bool = True
    ) -> object:
        """Frame (H, W) uint16 (CuPy, or NumPy with ``host``) read at ``offset``."""
        if self._rate is None:
            raise ValueError("GpuExposer.expose before set_rate")
        oy, ox = (int(v) for v in offset)
        rate_h, rate_w = self._rate.shape
        if oy < 0 or ox < 0 or oy + self.height > rate_h or ox + self.width > rate_w:
            # the kernel does not bound its reads: a window off the map would read past it
            raise ValueError(
                f"read window {self.width}x{self.height} at offset {offset} "
                f"does not fit the rate map {self._rate.shape}"
            )
        i = self._free_buffer()
        out = self._out[i]
        block = (32, 8, 1)
        grid = ((self.width + 31) // 32, (self.height + 7) // 8, 1)
        self._kernel(
            grid,
            block,
            (
                self._rate,
                np.int32(rate_w),
                np.int32(oy),
                np.int32(ox),
                out,
                np.int32(self.width),
                np.int32(self.height),
                np.float32(time_s),
                np.float32(p.gain_dn_per_e),
                np.float32(p.full_well_e),
                np.float32(p.read_noise_dn),
                np.float32(p.black_level),
                np.float32(p.white_level),
                np.uint32(seed & 0xFFFFFFFF),
                np.int32(1 if noise else 0),
            ),
        )
        if self._host is not None:
            host = self._host[i]
            out.get(out=host)  # synchronises: the modelled sensor upload starts from here
            out = host
        return out

    def _handed(self, i: int) -> object:
        return self._host[i] if self._host is not None else self._out[i]

    def _refs(self, i: int) -> tuple[int, int]:
        """References to buffer ``i`` and to its root array (NumPy views of a pinned buffer
        point at the root, not at the buffer; CuPy views point at the buffer)."""
        a = self._handed(i)
        root = a
        while isinstance(getattr(root, "base", None), type(a)):
            root = root.base
        return sys.getrefcount(a), sys.getrefcount(root)

    def _free_buffer(self) -> int:
        n = len(self._out)
        for k in range(n):
            i = (self._i + k) % n
            held = self._refs(i)
            if held[0] <= self._baseline[i][0] and held[1] <= self._baseline[i][1]:
                self._i = (i + 1) % n
                return i
        cp = self._cp  # every frame is still held: one more buffer, kept from now on
        self._out.append(cp.empty(self._shape, cp.uint16))
        if self._host is not None:
            from ..backend import cupyx_module

            self._host.append(cupyx_module(cp).empty_pinned(self._shape, np.uint16))
        self._baseline.append(self._refs(n))
        self.grown += 1
        self._i = 0
        return n
