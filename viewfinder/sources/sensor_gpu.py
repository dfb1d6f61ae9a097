"""Device exposure of the simulated sensor: CuPy glue of ``kernels/sim.cu``."""

from __future__ import annotations

import numpy as np

from ..backend import is_device_array
from .sensor_exposure import NoiseParams


class GpuExposer:
    """CuPy glue of ``kernels/sim.cu``: exposes frames on the device with no host sync.

    The rate map is uploaded once per change of the rendered scene (:meth:`set_rate`); per
    frame one kernel writes into the next of ``buffers`` preallocated device frames (the
    consumer must be done with a frame before ``buffers - 1`` newer ones are read). With
    ``host=True`` the frame is copied into the next of as many pinned host buffers.
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
        self._i = 0
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
        out = self._out[self._i]
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
            host = self._host[self._i]
            out.get(out=host)  # synchronises: the modelled sensor upload starts from here
            out = host
        self._i = (self._i + 1) % len(self._out)
        return out
