"""Getting arrays into GL textures: CUDA-GL interop, or host memory through a PBO.

:class:`StreamTexture` holds one texture that is refilled every frame from an ``(h, w)`` or
``(h, w, 4)`` uint8 array.

- CuPy array and an NVIDIA GL context: the texture's pixel-unpack buffer (PBO) is registered
  with CUDA once (cuda-core ``GraphicsResource.from_gl_buffer``); per frame it is mapped,
  wrapped as a CuPy array (``UnownedMemory`` + ``MemoryPointer``), filled by a device copy
  on the current stream, unmapped, and ``glTexSubImage2D`` reads it on the GPU. The view
  never visits host memory (path ``"cuda-gl-interop"``).
- CuPy array without interop: downloaded into pinned host memory, then the PBO path
  (``"pinned+pbo"``).
- NumPy array: copied into a mapped PBO (two, used in turn, so the driver can still be
  reading one) and uploaded from it (``"pbo"``).
"""

from __future__ import annotations

import ctypes
from typing import Any

import numpy as np

PATH_INTEROP = "cuda-gl-interop"
PATH_PINNED = "pinned+pbo"
PATH_PBO = "pbo"


class InteropUnavailable(RuntimeError):
    """CUDA-GL interop cannot be used here (no cuda-core, no CUDA, or a non-NVIDIA GL)."""


def _is_cupy(a: Any) -> bool:
    """A device array (CuPy or the cudasim stand-in)."""
    from ..backend import is_device_array

    return is_device_array(a)


def _formats(channels: int) -> tuple[int, int]:
    from OpenGL import GL

    if channels == 4:
        return GL.GL_RGBA8, GL.GL_RGBA
    if channels == 1:
        return GL.GL_R8, GL.GL_RED
    raise ValueError(f"textures take 1 or 4 channels, got {channels}")


class StreamTexture:
    """A texture refilled each frame from a uint8 array (NumPy or CuPy).

    Parameters
    ----------
    channels : {1, 4}
        R8 (masks: peaking levels, zebra flags) or RGBA8 (the view).
    interop : bool
        Try CUDA-GL interop for CuPy arrays; falls back to pinned memory if it fails.
    """

    def __init__(self, channels: int, interop: bool = True) -> None:
        from OpenGL import GL

        self.channels = channels
        self.internal, self.format = _formats(channels)
        self.texture = int(GL.glGenTextures(1))
        GL.glBindTexture(GL.GL_TEXTURE_2D, self.texture)
        for param, value in (
            (GL.GL_TEXTURE_MIN_FILTER, GL.GL_LINEAR),
            (GL.GL_TEXTURE_MAG_FILTER, GL.GL_LINEAR),
            (GL.GL_TEXTURE_WRAP_S, GL.GL_CLAMP_TO_EDGE),
            (GL.GL_TEXTURE_WRAP_T, GL.GL_CLAMP_TO_EDGE),
        ):
            GL.glTexParameteri(GL.GL_TEXTURE_2D, param, value)
        self.size: tuple[int, int] | None = None  # (width, height)
        self._pbos: list[int] = []
        self._turn = 0
        self._want_interop = interop
        self._interop: _Interop | None = None
        self._pinned: np.ndarray | None = None
        self.path: str | None = None
        self.interop_error: str | None = None
        self._nearest = False

    def set_filter(self, nearest: bool) -> None:
        """Nearest sampling for masks (levels must not blend), linear for pictures."""
        from OpenGL import GL

        if nearest == self._nearest:
            return
        self._nearest = nearest
        mode = GL.GL_NEAREST if nearest else GL.GL_LINEAR
        GL.glBindTexture(GL.GL_TEXTURE_2D, self.texture)
        GL.glTexParameteri(GL.GL_TEXTURE_2D, GL.GL_TEXTURE_MIN_FILTER, mode)
        GL.glTexParameteri(GL.GL_TEXTURE_2D, GL.GL_TEXTURE_MAG_FILTER, mode)

    def _configure(self, width: int, height: int) -> None:
        from OpenGL import GL

        GL.glBindTexture(GL.GL_TEXTURE_2D, self.texture)
        GL.glPixelStorei(GL.GL_UNPACK_ALIGNMENT, 1)
        GL.glTexImage2D(
            GL.GL_TEXTURE_2D,
            0,
            self.internal,
            width,
            height,
            0,
            self.format,
            GL.GL_UNSIGNED_BYTE,
            None,
        )
        if self._interop is not None:
            self._interop.close()
            self._interop = None
        if self._pbos:
            GL.glDeleteBuffers(len(self._pbos), self._pbos)
        nbytes = width * height * self.channels
        self._pbos = [int(b) for b in np.atleast_1d(GL.glGenBuffers(2))]
        for pbo in self._pbos:
            GL.glBindBuffer(GL.GL_PIXEL_UNPACK_BUFFER, pbo)
            GL.glBufferData(GL.GL_PIXEL_UNPACK_BUFFER, nbytes, None, GL.GL_STREAM_DRAW)
        GL.glBindBuffer(GL.GL_PIXEL_UNPACK_BUFFER, 0)
        self._pinned = None
        self.size = (width, height)

    def upload(self, array: Any) -> str:
        """Refill the texture from ``array`` ((h, w) or (h, w, channels) uint8); the path used."""
        shape = tuple(array.shape)
        if (
            array.dtype != np.uint8
            or len(shape) not in (2, 3)
            or (len(shape) == 3 and shape[2] != self.channels)
            or (len(shape) == 2 and self.channels != 1)
        ):
            raise ValueError(
                f"texture wants (h, w{', 4' if self.channels == 4 else ''}) uint8, "
                f"got {shape} {array.dtype}"
            )
        if self.size != (shape[1], shape[0]):
            self._configure(shape[1], shape[0])
        if _is_cupy(array):
            if self._want_interop and self.interop_error is None:
                try:
                    if self._interop is None:
                        self._interop = _Interop(self._pbos[0])
                    self._interop.copy_in(array)
                    self._from_pbo(self._pbos[0])
                    self.path = PATH_INTEROP
                    return self.path
                except Exception as exc:  # e.g. Mesa GL: remember why, use the host path
                    self.interop_error = f"{type(exc).__name__}: {exc}"
                    self._interop = None
            if self._pinned is None:
                from ..backend import array_module

                mem = array_module(array).cuda.alloc_pinned_memory(array.nbytes)
                self._pinned = np.frombuffer(mem, np.uint8, array.nbytes).reshape(shape)
            array.get(out=self._pinned)
            host, self.path = self._pinned, PATH_PINNED
        else:
            host, self.path = np.ascontiguousarray(array), PATH_PBO
        self._host_upload(host)
        return self.path

    def _host_upload(self, host: np.ndarray) -> None:
        from OpenGL import GL

        pbo = self._pbos[self._turn]
        self._turn ^= 1
        GL.glBindBuffer(GL.GL_PIXEL_UNPACK_BUFFER, pbo)
        ptr = GL.glMapBufferRange(
            GL.GL_PIXEL_UNPACK_BUFFER,
            0,
            host.nbytes,
            GL.GL_MAP_WRITE_BIT | GL.GL_MAP_INVALIDATE_BUFFER_BIT,
        )
        if not ptr:
            GL.glBindBuffer(GL.GL_PIXEL_UNPACK_BUFFER, 0)
            raise RuntimeError("glMapBufferRange failed on the upload buffer")
        ctypes.memmove(int(ptr), host.ctypes.data, host.nbytes)
        GL.glUnmapBuffer(GL.GL_PIXEL_UNPACK_BUFFER)
        self._from_pbo(pbo)

    def _from_pbo(self, pbo: int) -> None:
        from OpenGL import GL

        w, h = self.size  # type: ignore[misc]
        GL.glBindBuffer(GL.GL_PIXEL_UNPACK_BUFFER, pbo)
        GL.glBindTexture(GL.GL_TEXTURE_2D, self.texture)
        GL.glPixelStorei(GL.GL_UNPACK_ALIGNMENT, 1)
        GL.glTexSubImage2D(
            GL.GL_TEXTURE_2D, 0, 0, 0, w, h, self.format, GL.GL_UNSIGNED_BYTE, ctypes.c_void_p(0)
        )
        GL.glBindBuffer(GL.GL_PIXEL_UNPACK_BUFFER, 0)

    def delete(self) -> None:
        from OpenGL import GL

        if self._interop is not None:
            self._interop.close()
            self._interop = None
        if self._pbos:
            GL.glDeleteBuffers(len(self._pbos), self._pbos)
            self._pbos = []
        GL.glDeleteTextures(1, [self.texture])


class _Interop:
    """A GL pixel buffer registered with CUDA (cuda-core), filled from CuPy arrays."""

    def __init__(self, pbo: int) -> None:
        try:
            try:
                from cuda.core import Device, GraphicsResource
            except ImportError:  # older cuda-core
                from cuda.core.experimental import Device, GraphicsResource
            import cupy
        except ImportError as exc:
            raise InteropUnavailable(f"cuda-core or CuPy missing ({exc})") from exc
        self._cupy = cupy
        self._device_id = int(cupy.cuda.Device().id)
        self._device = Device(self._device_id)
        self._device.set_current()
        # write_discard: CUDA overwrites the whole buffer, GL need not keep old contents
        self._resource = GraphicsResource.from_gl_buffer(pbo, flags="write_discard")
        self._streams: dict[int, Any] = {}

    def _stream(self) -> Any:
        cp_stream = self._cupy.cuda.get_current_stream()
        key = int(cp_stream.ptr)
        if key not in self._streams:
            self._streams[key] = self._device.create_stream(cp_stream)
        return self._streams[key]

    def copy_in(self, array: Any) -> None:
        """Device copy of ``array`` into the mapped buffer, ordered on CuPy's current stream."""
        cupy = self._cupy
        stream = self._stream()
        buf = self._resource.map(stream=stream)
        try:
            if int(buf.size) < array.nbytes:
                raise InteropUnavailable(
                    f"mapped GL buffer holds {buf.size} bytes, the view needs {array.nbytes}"
                )
            # the device given, CuPy does not query the pointer's attributes every frame
            mem = cupy.cuda.UnownedMemory(int(buf.handle), int(buf.size), buf, self._device_id)
            dst = cupy.ndarray(array.shape, cupy.uint8, cupy.cuda.MemoryPointer(mem, 0))
            dst[...] = array  # contiguous: one cudaMemcpyAsync, device to device
        finally:
            # unmapping on the stream orders the copy before any GL command issued after it
            self._resource.unmap(stream=stream)

    def close(self) -> None:
        self._resource.close()
