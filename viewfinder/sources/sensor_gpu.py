"""Device exposure of the simulated sensor: CuPy glue of ``kernels/sim.cu``."""

from __future__ import annotations

import sys
from typing import Any

import numpy as np

from ..backend import is_device_array
from ..frame import DeviceSync
from .sensor_exposure import NoiseParams


class GpuExposer:
    """CuPy glue of ``kernels/sim.cu``: exposes frames on the device with no host sync.

    The rate map is taken once per change of the rendered scene (:meth:`set_rate`: uploaded,
    or used in place when the scene was rendered on the device); per frame one kernel writes
    into a free one of ``buffers`` preallocated device frames. With
    ``host=True`` the frame is copied into the matching one of as many pinned host buffers.

    Contract with the consumers: a frame buffer is free, and rewritten, only once nothing
    holds the returned array or a view of it (the ring, the processor, a result slot, a
    capture: the check is a reference count, on the host, no wait). When every buffer is held
    one more is made (an allocation, only while consumers hold ``buffers`` frames or more).
    The kernel runs on the caller's current stream (the source's own non-blocking stream);
    :attr:`last_sync` is the :class:`~viewfinder.frame.DeviceSync` of the frame just
    exposed: a consumer on another stream waits on its ``ready`` event before reading and
    releases an event recorded after its reads, which this stream waits on (on the device)
    before it rewrites that buffer.
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
        self._syncs = [self._new_sync() for _ in range(buffers)]
        self.last_sync: DeviceSync | None = None
        self._baseline = [self._refs(i) for i in range(buffers)]
        self._i = 0
        self.grown = 0  # buffers added because consumers held all of them
        self._rate = None
        self._rate_key: object = None
        self._rate_home: Any = None  # the stream a device map was written on

    def set_rate(self, key: object, rate_e_s: Any, ready: Any = None, home: Any = None) -> None:
        """Take the (H', W') float32 rate map unless ``key`` says it is already there.

        A host (NumPy) map is uploaded on the current stream. A device map is used in place
        (no copy when it is C-contiguous float32); when it was written on another stream,
        ``ready`` is an event recorded after its writes (this stream waits on it, on the
        device) and ``home`` that stream: when a later map replaces it, ``home`` waits (on
        the device) for this stream's reads of it, so its memory, freed to ``home``'s pool,
        is not rewritten under them. No host sync either way.
        """
        if key != self._rate_key:
            if rate_e_s.ndim != 2:
                raise ValueError(f"rate map must be 2-D, got shape {rate_e_s.shape}")
            stream = self._cp.cuda.get_current_stream()
            if self._rate_home is not None and self._rate_home.ptr != stream.ptr:
                done = self._cp.cuda.Event(block=False, disable_timing=True)
                done.record(stream)  # after this stream's last exposure from the old map
                self._rate_home.wait_event(done)
            # the kernel indexes rows of rate_w floats: C order whatever the source layout
            if is_device_array(rate_e_s):  # rendered on the device
                if ready is not None and (home is None or home.ptr != stream.ptr):
                    stream.wait_event(ready)
                self._rate = self._cp.ascontiguousarray(rate_e_s, dtype=self._cp.float32)
                in_place = self._rate.data.ptr == rate_e_s.data.ptr
                self._rate_home = home if in_place else None
            else:  # cupy.ascontiguousarray refuses a NumPy array: contiguous on the host
                self._rate = self._cp.asarray(np.ascontiguousarray(rate_e_s, dtype=np.float32))
                self._rate_home = None
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
        stream = self._cp.cuda.get_current_stream()
        sync = self._syncs[i]
        for event in sync.take_released():  # consumers' reads of the old frame come first
            stream.wait_event(event)
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
        sync.ready.record(stream)
        self.last_sync = sync
        if self._host is not None:
            host = self._host[i]
            out.get(out=host)  # synchronises: the modelled sensor upload starts from here
            out = host
            self.last_sync = None  # a host frame needs no stream hand-over
        return out

    def _new_sync(self) -> DeviceSync:
        return DeviceSync(self._cp.cuda.Event(block=False, disable_timing=True))

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
        self._syncs.append(self._new_sync())
        self.grown += 1
        self._i = 0
        return n
