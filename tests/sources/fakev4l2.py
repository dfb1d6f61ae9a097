"""A fake V4L2 kernel under linuxpy, so the real capture code runs without a camera.

As linuxpy's own tests do, this patches what linuxpy calls into the kernel with: ``ioctl``
(``linuxpy.ioctl.fcntl.ioctl``), opening the device node (``linuxpy.io.open``), ``mmap``
(``linuxpy.video.device.mmap.mmap``), ``select`` (``linuxpy.io.IO.select``) and the listing of
``/dev`` (``linuxpy.video.device.iter_device_files``). The fake driver keeps real V4L2 state:
formats, sizes and intervals to enumerate, S_FMT with bytesperline, REQBUFS/QUERYBUF/mmap,
a queue of buffers (QBUF/DQBUF), sequence numbers and timestamps, controls, EBUSY, and ENODEV
after an unplug. Frames are produced when the test calls :meth:`FakeCamera.emit`.

Faults a test can switch on: ``spurious_ready`` (poll says readable, DQBUF says EAGAIN),
``dqbuf_errno`` (every DQBUF fails with it, the node still present), ``bytesused`` (every
buffer comes back this short); ``dqbuf_calls`` counts dequeues.
"""

from __future__ import annotations

import errno
import fnmatch
import itertools
import threading
from collections import deque
from collections.abc import Callable
from contextlib import ExitStack
from pathlib import Path
from unittest import mock

import numpy as np
from linuxpy.video import raw

PAGE = 4096
_fds = itertools.count(50_000)  # never a real descriptor: nothing outside the fake uses them
# Timestamps the fake driver stamps: 100 s + 33.333 ms per frame (CLOCK_MONOTONIC in a driver).
T0_NS, PERIOD_NS = 100_000_000_000, 33_333_000

CAPS = raw.Capability.VIDEO_CAPTURE | raw.Capability.STREAMING


def stride_of(fmt: str, width: int) -> int:
    """bytesperline a driver reports for ``fmt`` (before any padding)."""
    if fmt.endswith("10P"):
        return width * 5 // 4
    if fmt.endswith("12P"):
        return width * 3 // 2
    if fmt.endswith("8"):
        return width
    if fmt == "MJPEG":
        return 0
    return width * 2  # 10/12/14/16-bit in 16-bit words, YUYV


def pack_raw10p(mosaic: np.ndarray, stride: int) -> bytes:
    """(H, W) 10-bit values -> MIPI RAW10 rows of ``stride`` bytes (zero padded), bit by bit."""
    h, w = mosaic.shape
    out = bytearray(stride * h)
    for y in range(h):
        for x0 in range(0, w, 4):
            px = [int(v) for v in mosaic[y, x0 : x0 + 4]]
            o = y * stride + x0 * 5 // 4
            out[o : o + 4] = bytes(p >> 2 for p in px)
            out[o + 4] = sum((p & 3) << (2 * k) for k, p in enumerate(px))
    return bytes(out)


def pack_raw12p(mosaic: np.ndarray, stride: int) -> bytes:
    """(H, W) 12-bit values -> MIPI RAW12 rows (2 pixels in 3 bytes), bit by bit."""
    h, w = mosaic.shape
    out = bytearray(stride * h)
    for y in range(h):
        for x0 in range(0, w, 2):
            a, b = int(mosaic[y, x0]), int(mosaic[y, x0 + 1])
            o = y * stride + x0 * 3 // 2
            out[o : o + 3] = bytes((a >> 4, b >> 4, (a & 0xF) | ((b & 0xF) << 4)))
    return bytes(out)


class _Buf(bytearray):
    """A driver buffer as mmap would show it."""

    def close(self) -> None:
        pass


class _File:
    """What ``open('/dev/videoN')`` returns: an fd bound to one plug-in of one camera."""

    def __init__(self, cam: FakeCamera, mode: str) -> None:
        self.cam, self.generation, self.fd = cam, cam.generation, next(_fds)
        self.name, self.mode, self.closed = cam.path, mode, False

    def fileno(self) -> int:
        return self.fd

    def close(self) -> None:
        self.closed = True


class FakeCamera:
    """One V4L2 capture device: what it offers and its streaming state.

    Parameters
    ----------
    formats : dict
        V4L2 format name -> list of (width, height) it offers.
    payload : callable
        ``payload(fmt, width, height, stride, seq) -> bytes`` of one frame.
    """

    def __init__(
        self,
        path: str,
        formats: dict[str, list[tuple[int, int]]],
        payload: Callable[[str, int, int, int, int], bytes],
        fps: tuple[int, ...] = (30,),
        card: str = "Fake USB Camera",
        pad: int = 0,
        controls: dict[int, tuple[str, int, int, int]] | None = None,
    ) -> None:
        self.path, self.formats, self.payload, self.fps_list = path, formats, payload, fps
        self.card, self.pad = card, pad
        # id -> (name, min, max, default): auto exposure, exposure time and gain, as UVC has
        # them (auto_exposure is a menu on UVC; an integer here, the fake has no QUERYMENU)
        default_controls = {
            0x9A0901: ("Auto Exposure", 0, 3, 3),
            0x9A0902: ("Exposure Time, Absolute", 1, 5000, 156),
            0x980913: ("Gain", 0, 255, 32),
        }
        self.control_info = default_controls if controls is None else controls
        self.control_values = {k: v[3] for k, v in self.control_info.items()}
        self.present, self.busy, self.generation = True, False, 0
        self.spurious_ready = False
        self.dqbuf_errno: int | None = None
        self.bytesused: int | None = None
        self.dqbuf_calls = 0
        self.cond = threading.Condition()
        self._reset()

    def _reset(self) -> None:
        fmt = next(iter(self.formats))
        w, h = self.formats[fmt][0]
        self.fmt, self.size, self.fps = fmt, (w, h), self.fps_list[0]
        self.streaming, self.buffers = False, []
        self.queued: deque[int] = deque()
        self.done: deque[tuple[int, int, int, int]] = deque()
        self.seq, self.driver_skipped, self.streamon_count = -1, 0, 0

    @property
    def stride(self) -> int:
        s = stride_of(self.fmt, self.size[0])
        return s + self.pad if s else 0

    @property
    def sizeimage(self) -> int:
        return self.stride * self.size[1] if self.stride else self.size[0] * self.size[1] * 3

    # -- what the test does to the camera ---------------------------------------------------

    def emit(self, n: int = 1, skip: int = 0) -> int:
        """The sensor delivers ``n`` frames; ``skip`` sequence numbers are lost before each
        (as when a driver has no free buffer). Returns how many found a free buffer."""
        filled = 0
        with self.cond:
            for _ in range(n):
                self.seq += 1 + skip
                if not (self.streaming and self.queued):
                    continue  # no buffer: the driver drops it (its sequence still counts)
                idx = self.queued.popleft()
                data = self.payload(self.fmt, *self.size, self.stride, self.seq)
                buf = self.buffers[idx]
                buf[: len(data)] = data
                self.done.append((idx, self.seq, T0_NS + self.seq * PERIOD_NS, len(data)))
                filled += 1
            self.cond.notify_all()
        return filled

    def unplug(self) -> None:
        with self.cond:
            self.present = False
            self.generation += 1
            self._reset()
            self.cond.notify_all()

    def plug(self) -> None:
        with self.cond:
            self.present = True
            self.cond.notify_all()

    def wait_streaming(self, timeout: float = 3.0, count: int = 1) -> bool:
        """Wait until streaming has been switched on ``count`` times since plug-in."""
        with self.cond:
            return self.cond.wait_for(
                lambda: self.streaming and self.streamon_count >= count and self.queued, timeout
            )

    # -- the driver -------------------------------------------------------------------------

    def ioctl(self, f: _File, ioc: int, arg) -> None:  # noqa: C901 (one branch per ioctl)
        if not self.present or f.generation != self.generation:
            raise OSError(errno.ENODEV, "No such device")
        IOC = raw.IOC
        if ioc == IOC.QUERYCAP:
            arg.driver, arg.card, arg.bus_info = b"fakeuvc", self.card.encode(), b"usb-fake-1"
            arg.version = 6 << 16
            arg.capabilities = CAPS | raw.Capability.DEVICE_CAPS
            arg.device_caps = CAPS
        elif ioc == IOC.ENUM_FMT:
            names = list(self.formats)
            if arg.type != raw.BufType.VIDEO_CAPTURE or arg.index >= len(names):
                raise OSError(errno.EINVAL, "Invalid argument")
            arg.pixelformat = raw.PixelFormat[names[arg.index]].value
            arg.description = names[arg.index].encode()
            arg.flags = raw.ImageFormatFlag.COMPRESSED if names[arg.index] == "MJPEG" else 0
        elif ioc == IOC.ENUM_FRAMESIZES:
            sizes = self.formats.get(raw.PixelFormat(arg.pixel_format).name, [])
            if arg.index >= len(sizes):
                raise OSError(errno.EINVAL, "Invalid argument")
            arg.type = raw.Frmsizetypes.DISCRETE
            arg.m1.discrete.width, arg.m1.discrete.height = sizes[arg.index]
        elif ioc == IOC.ENUM_FRAMEINTERVALS:
            if arg.index >= len(self.fps_list):
                raise OSError(errno.EINVAL, "Invalid argument")
            arg.type = raw.Frmivaltypes.DISCRETE
            arg.discrete.numerator, arg.discrete.denominator = 1, self.fps_list[arg.index]
        elif ioc in (IOC.S_FMT, IOC.TRY_FMT, IOC.G_FMT):
            if ioc != IOC.G_FMT:
                if self.busy or self.streaming:
                    raise OSError(errno.EBUSY, "Device or resource busy")
                name = raw.PixelFormat(arg.fmt.pix.pixelformat).name
                fmt = name if name in self.formats else next(iter(self.formats))
                want = (arg.fmt.pix.width, arg.fmt.pix.height)
                size = want if want in self.formats[fmt] else self.formats[fmt][0]
                if ioc == IOC.S_FMT:
                    self.fmt, self.size = fmt, size
            else:
                fmt, size = self.fmt, self.size
            pix = arg.fmt.pix
            pix.pixelformat = raw.PixelFormat[fmt].value
            pix.width, pix.height = size
            s = stride_of(fmt, size[0])
            pix.bytesperline = s + self.pad if s else 0
            pix.sizeimage = pix.bytesperline * size[1] if s else size[0] * size[1] * 3
        elif ioc in (IOC.G_PARM, IOC.S_PARM):
            tpf = arg.parm.capture.timeperframe
            if ioc == IOC.S_PARM:
                want = tpf.denominator / max(tpf.numerator, 1)
                self.fps = min(self.fps_list, key=lambda f: abs(f - want))
            tpf.numerator, tpf.denominator = 1, self.fps
        elif ioc == IOC.REQBUFS:
            if self.busy:
                raise OSError(errno.EBUSY, "Device or resource busy")
            arg.count = min(arg.count, 8)
            self.buffers = [_Buf(self.sizeimage) for _ in range(arg.count)]
            self.queued.clear()
            self.done.clear()
        elif ioc == IOC.QUERYBUF:
            if arg.index >= len(self.buffers):
                raise OSError(errno.EINVAL, "Invalid argument")
            arg.length, arg.m.offset = len(self.buffers[arg.index]), arg.index * PAGE
        elif ioc == IOC.QBUF:
            with self.cond:
                self.queued.append(arg.index)
                self.cond.notify_all()
        elif ioc == IOC.DQBUF:
            with self.cond:
                self.dqbuf_calls += 1
                if self.dqbuf_errno is not None:
                    raise OSError(self.dqbuf_errno, "injected DQBUF failure")
                if not self.done:
                    raise OSError(errno.EAGAIN, "Resource temporarily unavailable")
                idx, seq, ts, used = self.done.popleft()
                if self.bytesused is not None:
                    used = min(used, self.bytesused)
            arg.index, arg.sequence, arg.bytesused = idx, seq, used
            arg.timestamp.secs, arg.timestamp.usecs = divmod(ts // 1000, 1_000_000)
            arg.flags = raw.BufferFlag.DONE | raw.BufferFlag.TIMESTAMP_MONOTONIC
        elif ioc == IOC.STREAMON:
            with self.cond:
                self.streaming = True
                self.streamon_count += 1
                self.cond.notify_all()
        elif ioc == IOC.STREAMOFF:
            with self.cond:
                self.streaming = False
                self.queued.clear()
                self.done.clear()
        elif ioc == IOC.QUERY_EXT_CTRL:
            flags = raw.ControlFlag.NEXT_CTRL | raw.ControlFlag.NEXT_COMPOUND
            after = arg.id & ~flags
            ids = sorted(i for i in self.control_info if i > after)
            if not (arg.id & flags) or not ids:
                raise OSError(errno.EINVAL, "Invalid argument")
            cid = ids[0]
            name, lo, hi, default = self.control_info[cid]
            arg.id, arg.type, arg.name = cid, raw.CtrlType.INTEGER, name.encode()
            arg.minimum, arg.maximum, arg.step, arg.default_value = lo, hi, 1, default
            arg.flags, arg.elem_size, arg.elems = 0, 4, 1
        elif ioc in (IOC.G_EXT_CTRLS, IOC.S_EXT_CTRLS, IOC.G_CTRL, IOC.S_CTRL):
            ctrls = (
                [arg]
                if ioc in (IOC.G_CTRL, IOC.S_CTRL)
                else [arg.controls[i] for i in range(arg.count)]
            )
            for c in ctrls:
                if c.id not in self.control_info:
                    raise OSError(errno.EINVAL, "Invalid argument")
                if ioc in (IOC.S_EXT_CTRLS, IOC.S_CTRL):
                    _, lo, hi, _ = self.control_info[c.id]
                    self.control_values[c.id] = min(max(int(c.value), lo), hi)
                c.value = self.control_values[c.id]
        else:
            raise OSError(errno.ENOTTY, "Inappropriate ioctl for device")


class FakeKernel:
    """Holds the fake cameras and patches linuxpy's kernel calls while used as a context."""

    def __init__(self) -> None:
        self.cameras: dict[str, FakeCamera] = {}
        self.files: dict[int, _File] = {}

    def add(self, cam: FakeCamera) -> FakeCamera:
        self.cameras[cam.path] = cam
        return cam

    def __enter__(self) -> FakeKernel:
        self._stack = ExitStack()
        for target, fake in (
            ("linuxpy.ioctl.fcntl.ioctl", self._ioctl),
            ("linuxpy.io.open", self._open),
            ("linuxpy.video.device.mmap.mmap", self._mmap),
            ("linuxpy.io.IO.select", self),
            ("linuxpy.video.device.iter_device_files", self._iter_device_files),
        ):
            self._stack.enter_context(mock.patch(target, fake))
        return self

    def __exit__(self, *exc: object) -> None:
        self._stack.close()

    def _file(self, fd) -> _File:
        fd = fd if isinstance(fd, int) else fd.fileno()
        f = self.files.get(fd)
        if f is None or f.closed:
            raise OSError(errno.EBADF, "Bad file descriptor")
        return f

    def _open(self, path, mode="rb", buffering=-1, opener=None):
        cam = self.cameras.get(str(path))
        if cam is None or not cam.present:
            raise FileNotFoundError(errno.ENOENT, "No such file or directory", str(path))
        f = _File(cam, mode)
        self.files[f.fd] = f
        return f

    def _ioctl(self, fd, request, arg=None, *rest):
        f = self._file(fd)
        f.cam.ioctl(f, int(request), arg)
        return 0

    def _mmap(self, fd, length, offset=0, **kw):
        f = self._file(fd)
        buf = f.cam.buffers[offset // PAGE]
        assert len(buf) == length, (len(buf), length)
        return buf

    def select(self, rlist, wlist, xlist, timeout=None):
        """select(2): readable when a buffer is done; an unplugged device is readable and
        in error at once (POLLERR), as the kernel reports it."""
        files = [(obj, self._file(obj)) for obj in rlist]
        if not files:
            return [], [], []
        cam = files[0][1].cam

        def ready() -> bool:
            return any(
                not f.cam.present
                or f.generation != f.cam.generation
                or f.cam.done
                or f.cam.spurious_ready
                for _, f in files
            )

        with cam.cond:
            cam.cond.wait_for(ready, timeout)
            gone = [o for o, f in files if not f.cam.present or f.generation != f.cam.generation]
            readable = [o for o, f in files if f.cam.done or f.cam.spurious_ready] + gone
        return readable, [], [o for o in xlist if o in gone]

    def _iter_device_files(self, path="/dev", pattern="*"):
        return [
            Path(p)
            for p, cam in sorted(self.cameras.items())
            if cam.present
            and fnmatch.fnmatch(Path(p).name, pattern)
            and str(Path(p).parent) == str(path)
        ]
