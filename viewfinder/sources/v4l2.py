"""USB and MIPI cameras through V4L2 (linuxpy): raw Bayer frames, or YUYV/MJPEG as a stand-in.

Raw Bayer formats (8, 10, 12, 16 bit, packed 10/12-bit MIPI, all four CFA orders) become
frames as they are. YUYV and MJPEG cameras stand in for a raw sensor: each frame is decoded,
linearised (sRGB curve) and mosaicked into a 10-bit RGGB frame so that the whole raw pipeline
runs; ``meta["stand_in"]`` is then True. A capture thread dequeues buffers into a bounded
:class:`~viewfinder.sources.base.FrameRing` (oldest dropped and counted) with the driver's
timestamps. When the camera is unplugged the source says ``status == "camera disconnected"``
and reopens it when it comes back; when it stays open but sends nothing usable (no buffers,
EAGAIN, only corrupt or empty buffers) for ``stall_timeout`` s it says ``"no frames"`` and
reopens it the same way. Corrupt and empty buffers are skipped and counted in ``corrupt``.
"""

from __future__ import annotations

import errno
import threading
import time
from typing import Any

from ..frame import Frame
from .base import STALL_NOTICE_S, FrameRing, SourceError, SourceTimeout
from .v4l2_devices import (
    GONE,
    cli_devices,
    describe_devices,
    describe_missing,
    device_path,
    list_device_paths,
)
from .v4l2_formats import (
    STAND_IN_BLACK,
    decode,
    default_stride,
    format_rank,
    mosaic_rggb10,
    unpack_raw10p,
    unpack_raw12p,
)


class V4L2Source:
    """A V4L2 camera as a :class:`~viewfinder.sources.base.FrameSource`.

    Parameters
    ----------
    device : int or str
        Index (``/dev/videoN``) or device path.
    size : (width, height) or None
        Capture size; default the largest the format offers.
    fmt : str or None
        V4L2 format name (``"SRGGB10P"``, ``"YUYV"``, ``"MJPEG"``...); default the best
        raw Bayer format offered, else YUYV, else MJPEG.
    fps : float or None
        Frame rate to ask the driver for.
    buffers, ring : int
        Driver buffers, and frames held for the consumer (oldest dropped beyond that).
    reconnect_interval : float
        Seconds between attempts to reopen an unplugged camera.
    stall_timeout : float
        Seconds without a usable frame after which an open camera is closed and reopened.

    Attributes
    ----------
    status : str
        ``"streaming"``, ``"camera disconnected"``, ``"no frames"`` (open but silent,
        reopening) or ``"closed"``; the viewer shows it.
    driver_dropped : int
        Frames the driver skipped (gaps in its sequence numbers).
    corrupt : int
        Buffers skipped because they were empty, short or undecodable.
    reconnects, stalls : int
        Successful reopens; times the camera went silent while open.
    reopen_attempts : int
        Attempts to reopen since the last good frame (the viewer shows them).
    ring : FrameRing
        ``ring.dropped`` counts frames dropped because the consumer was late.
    """

    def __init__(
        self,
        device: int | str = 0,
        size: tuple[int, int] | None = None,
        fmt: str | None = None,
        fps: float | None = None,
        buffers: int = 4,
        ring: int = 3,
        reconnect_interval: float = 0.5,
        stall_timeout: float = STALL_NOTICE_S,
    ) -> None:
        if not 1 <= int(buffers) <= 32:
            raise ValueError(f"buffers must be in 1..32, got {buffers}")
        if not reconnect_interval > 0:
            raise ValueError(f"reconnect_interval must be > 0 s, got {reconnect_interval}")
        if not stall_timeout > 0:
            raise ValueError(f"stall_timeout must be > 0 s, got {stall_timeout}")
        if size is not None and (len(size) != 2 or min(size) <= 0):
            raise ValueError(f"size must be (width, height) > 0, got {size!r}")
        try:
            import linuxpy.video.device  # noqa: F401
        except ImportError as exc:
            raise SourceError(f"V4L2 cameras need linuxpy (pip install linuxpy): {exc}") from exc
        self.path = device_path(device)
        self.name = f"v4l2:{self.path}"
        self.want_size, self.want_fmt, self.want_fps = size, fmt, fps
        self.n_buffers = buffers
        self.reconnect_interval = reconnect_interval
        self.stall_timeout = float(stall_timeout)
        self.ring = FrameRing(ring)
        self.status = "opening"
        self.driver_dropped = self.corrupt = self.captured = self.disconnects = 0
        self.reconnects = self.stalls = self.reopen_attempts = 0
        self.error: str | None = None
        self.last_frame_at = time.monotonic()  # of the last usable frame (or of the start)
        self._silent_since = self.last_frame_at  # last usable frame or (re)open: stall clock
        self._idle_wait = 0.0  # back-off of a poll that says ready with nothing to dequeue
        self.format: dict[str, Any] = {}
        self._dev: Any = None
        self._cap: Any = None
        self._last_seq: int | None = None
        self._seq = 0
        self._stop = threading.Event()
        self._open()  # errors here (missing, busy, format) reach the caller at once
        self._thread = threading.Thread(target=self._run, name=f"v4l2-{self.path}", daemon=True)
        self._thread.start()

    # -- opening ---------------------------------------------------------------------------

    def _open(self) -> None:
        from linuxpy.video.device import (
            BufferType,
            Capability,
            Device,
            PixelFormat,
            VideoCapture,
        )

        dev = Device(self.path)
        try:
            dev.open()
        except FileNotFoundError as exc:
            raise SourceError(describe_missing(self.path)) from exc
        except OSError as exc:
            raise self._os_error(exc, "open") from exc
        try:
            caps = dev.info.device_capabilities
            if Capability.VIDEO_CAPTURE not in caps:
                raise SourceError(f"{self.path} ({dev.info.card}) is not a video capture device")
            fmt, (w, h) = self._choose(dev)
            dev.set_format(BufferType.VIDEO_CAPTURE, w, h, PixelFormat[fmt].value)
            got = dev.get_format(BufferType.VIDEO_CAPTURE)
            if got.pixel_format.name != fmt or (got.width, got.height) != (w, h):
                raise SourceError(
                    f"{self.path} gave {got.pixel_format.name} "
                    f"{got.width}x{got.height} when asked for {fmt} {w}x{h}"
                )
            if self.want_fps:
                dev.set_fps(BufferType.VIDEO_CAPTURE, self.want_fps)
            cap = VideoCapture(dev, size=self.n_buffers)
            cap.open()
        except SourceError:
            _close_quietly(dev)
            raise
        except OSError as exc:
            _close_quietly(dev)
            raise self._os_error(exc, "set up") from exc
        self.format = {
            "format": fmt,
            "width": w,
            "height": h,
            "stride": got.bytes_per_line or 0,
            "card": dev.info.card,
            "fps": _float_or_none(lambda: dev.get_fps(BufferType.VIDEO_CAPTURE)),
        }
        self._dev, self._cap, self._last_seq = dev, cap, None
        self._silent_since = time.monotonic()
        self.status = "streaming"

    def _os_error(self, exc: OSError, what: str) -> SourceError:
        if exc.errno == errno.EBUSY:
            return SourceError(f"{self.path} is busy: another program is using the camera")
        if exc.errno in (errno.EACCES, errno.EPERM):
            return SourceError(
                f"no permission to {what} {self.path} (add yourself to the 'video' group)"
            )
        if exc.errno in GONE:
            return SourceError(describe_missing(self.path))
        return SourceError(f"cannot {what} {self.path}: {exc}")

    def _choose(self, dev: Any) -> tuple[str, tuple[int, int]]:
        """The pixel format and size to ask for, checked against what the device offers."""
        from linuxpy.video.device import BufferType, FrameSizeType

        offered = [f.pixel_format for f in dev.info.formats if f.type == BufferType.VIDEO_CAPTURE]
        names = [p.name for p in offered]
        usable = [n for n in names if format_rank(n) >= 0]
        if self.want_fmt is not None:
            want = {"MJPG": "MJPEG"}.get(self.want_fmt.upper(), self.want_fmt.upper())
            if want not in names:
                raise SourceError(
                    f"{self.path} does not offer format {self.want_fmt!r}; "
                    f"it offers: {', '.join(names) or 'none'}"
                )
            if want not in usable:
                raise SourceError(
                    f"format {want} is not supported; usable formats of "
                    f"{self.path}: {', '.join(usable) or 'none'}"
                )
            fmt = want
        elif usable:
            fmt = max(usable, key=format_rank)
        else:
            raise SourceError(
                f"{self.path} offers no format viewfinder can use "
                f"({', '.join(names) or 'none'}); need Bayer, YUYV or MJPEG"
            )
        pix = offered[names.index(fmt)]
        sizes = dev.info.format_frame_sizes(pix)
        discrete = [
            (s.info.width, s.info.height) for s in sizes if s.type == FrameSizeType.DISCRETE
        ]
        if self.want_size is None:
            if discrete:
                return fmt, max(discrete, key=lambda s: s[0] * s[1])
            if sizes:
                return fmt, (sizes[0].info.max_width, sizes[0].info.max_height)
            raise SourceError(f"{self.path} lists no frame size for {fmt}")
        w, h = self.want_size
        ok = (w, h) in discrete or any(
            s.type != FrameSizeType.DISCRETE
            and s.info.min_width <= w <= s.info.max_width
            and s.info.min_height <= h <= s.info.max_height
            for s in sizes
        )
        if not ok:
            listed = ", ".join(f"{a}x{b}" for a, b in discrete) or "see `viewfinder devices`"
            raise SourceError(f"{self.path} does not offer {w}x{h} in {fmt}; sizes: {listed}")
        return fmt, (w, h)

    # -- capture thread --------------------------------------------------------------------

    def _run(self) -> None:
        while not self._stop.is_set():
            if self._dev is None:  # unplugged: try again every reconnect_interval
                if self._stop.wait(self.reconnect_interval):
                    break
                self.reopen_attempts += 1
                try:
                    self._open()
                    self.reconnects += 1
                    self.error = None
                except SourceError as exc:
                    self.error = str(exc)
                continue
            try:
                self._grab()
            except OSError as exc:
                if exc.errno == errno.EAGAIN:  # ready but nothing to dequeue: back off
                    self._idle_wait = min(0.05, max(0.001, 2 * self._idle_wait))
                    self._stop.wait(self._idle_wait)
                else:
                    self._disconnect(exc)
            except Exception as exc:  # anything else stops the stream: say so, try again
                self._disconnect(exc)
            if self._dev is not None and time.monotonic() - self._silent_since > self.stall_timeout:
                self.stalls += 1
                self._disconnect(
                    f"no frames for {self.stall_timeout:g} s (corrupt buffers: {self.corrupt})",
                    status="no frames",
                )
        self.ring.close()

    def _grab(self) -> None:
        dev = self._dev
        readable, _, failed = dev.io.select.select((dev,), (), (dev,), 0.1)
        if not readable and not failed:
            return
        frame = self._cap.buffer.raw_read()  # DQBUF, copy out of the mmap, QBUF
        self._idle_wait = 0.0
        buff = frame.buff
        seq = int(buff.sequence)
        if self._last_seq is not None and seq > self._last_seq + 1:
            self.driver_dropped += seq - self._last_seq - 1
        self._last_seq = seq
        f = self.format
        try:
            if not len(frame.data):
                raise ValueError("empty buffer")
            data, cfa, bits, stand_in = decode(
                frame.data, f["format"], f["width"], f["height"], f["stride"] or default_stride(f)
            )
        except Exception:  # ValueError, cv2.error: a broken or short buffer, not an unplug
            self.corrupt += 1  # USB cameras send the odd broken JPEG: skip, count it
            return
        meta = {
            "source": "v4l2",
            "device": self.path,
            "card": f["card"],
            "pixel_format": f["format"],
            "stand_in": stand_in,
            "driver_sequence": seq,
            "orientation": 1,
        }
        ts = int(buff.timestamp.secs) * 1_000_000_000 + int(buff.timestamp.usecs) * 1000
        black = STAND_IN_BLACK if stand_in else 0
        self.ring.put(
            Frame(
                data,
                cfa=cfa,
                bits=bits,
                black_level=black,
                seq=self._seq,
                timestamp_ns=ts or time.monotonic_ns(),
                meta=meta,
            )
        )
        self._seq += 1
        self.captured += 1
        self.last_frame_at = self._silent_since = time.monotonic()
        self.reopen_attempts = 0

    def _disconnect(self, exc: Exception | str, status: str = "camera disconnected") -> None:
        if status == "camera disconnected":
            self.disconnects += 1
        self.status = status
        self.error = f"{self.path}: {exc}"
        cap, dev, self._cap, self._dev = self._cap, self._dev, None, None
        _close_quietly(cap)
        _close_quietly(dev)

    # -- FrameSource -----------------------------------------------------------------------

    def read(self, timeout: float | None = None) -> Frame:
        """The oldest frame held, waiting for one up to ``timeout`` s (None: no limit).

        Raises :class:`~viewfinder.sources.base.SourceTimeout` ("no frames from /dev/video0
        for 2 s (camera disconnected: ...)") when none came in time, ``SourceError`` once
        closed. While the camera is unplugged or silent the source keeps reopening it.
        """
        frame = self.ring.get(timeout)
        if frame is None:
            if self.ring.closed:
                raise SourceError(f"{self.name} is closed")
            silent = time.monotonic() - self.last_frame_at
            why = self.status if self.error is None else f"{self.status}: {self.error}"
            raise SourceTimeout(f"no frames from {self.path} for {silent:.0f} s ({why})")
        return frame

    def close(self) -> None:
        self._stop.set()
        if self._thread.is_alive() and self._thread is not threading.current_thread():
            self._thread.join(2.0)
        self.ring.close()
        _close_quietly(self._cap)
        _close_quietly(self._dev)
        self._cap = self._dev = None
        self.status = "closed"

    def __enter__(self) -> V4L2Source:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- controls --------------------------------------------------------------------------

    def controls(self) -> dict[str, dict[str, int]]:
        """Exposure and gain controls the device has: name -> min, max, step, value."""
        out = {}
        for name, ctrl in self._controls().items():
            out[name] = {
                "min": ctrl.minimum,
                "max": ctrl.maximum,
                "step": ctrl.step,
                "value": ctrl.value,
            }
        return out

    def set_control(self, name: str, value: int) -> int:
        """Set ``"exposure"`` or ``"gain"`` (device units, clipped to its range); returns it.

        A device in auto exposure (or auto gain) ignores or refuses manual values, so its
        auto mode is switched off first (UVC: ``auto_exposure`` = 1, manual).
        """
        from linuxpy.video.device import ControlID

        ctrls = self._controls()
        if name not in ctrls:
            raise ValueError(
                f"{self.path} has no {name!r} control; it has: {', '.join(ctrls) or 'none'}"
            )
        auto = {"exposure": (ControlID.EXPOSURE_AUTO, 1), "gain": (ControlID.AUTOGAIN, 0)}
        cid, manual = auto[name]
        try:
            present = dict(self._dev.controls.items())
            if cid in present and present[cid].value != manual:
                present[cid].value = manual
            ctrls[name].value = int(value)
            return ctrls[name].value
        except (OSError, AttributeError) as exc:  # read-only, inactive, or the device is gone
            raise SourceError(f"{self.path}: cannot set {name} to {value}: {exc}") from exc

    def auto_modes(self) -> dict[str, bool]:
        """The camera's own auto modes that it has, on or off: ``"auto exposure"``, ``"auto
        white balance"``, ``"auto gain"`` (a camera with none of them: ``{}``)."""
        return {name: value != manual for name, (_, manual, value) in self._autos().items()}

    def set_auto_mode(self, name: str, on: bool) -> bool:
        """Switch one of the camera's own auto modes on or off; returns whether it is on.

        Auto exposure on is the UVC "aperture priority" mode (the one UVC cameras offer
        beside manual), else "auto"; off is "manual".
        """
        autos = self._autos()
        if name not in autos:
            raise ValueError(
                f"{self.path} has no {name} mode; it has: {', '.join(autos) or 'none'}"
            )
        ctrl, manual, _ = autos[name]
        if not on:
            want = manual
        elif name == "auto exposure":
            offered = _menu_values(ctrl)
            want = next((m for m in (3, 0, 2) if m in offered), ctrl.default)
        else:
            want = 1
        try:
            ctrl.value = want
            return int(ctrl.value) != manual
        except (OSError, AttributeError) as exc:  # read-only, inactive, or the device is gone
            raise SourceError(
                f"{self.path}: cannot switch {name} {'on' if on else 'off'}: {exc}"
            ) from exc

    def _autos(self) -> dict[str, tuple[Any, int, int]]:
        """name -> (control, its manual value, its value) of the auto modes the camera has."""
        from linuxpy.video.device import ControlID

        if self._dev is None:
            raise SourceError(f"{self.name}: {self.status}")
        present = dict(self._dev.controls.items())
        out = {}
        for name, cid, manual in (
            ("auto exposure", ControlID.EXPOSURE_AUTO, 1),  # 1: manual (UVC)
            ("auto white balance", ControlID.AUTO_WHITE_BALANCE, 0),
            ("auto gain", ControlID.AUTOGAIN, 0),
        ):
            if cid in present:
                try:
                    out[name] = (present[cid], manual, int(present[cid].value))
                except (OSError, TypeError):  # inactive, or write-only: not a switch we can show
                    continue
        return out

    def _controls(self) -> dict[str, Any]:
        from linuxpy.video.device import ControlID

        if self._dev is None:
            raise SourceError(f"{self.name}: {self.status}")
        wanted = {
            "exposure": (ControlID.EXPOSURE_ABSOLUTE, ControlID.EXPOSURE),
            "gain": (ControlID.ANALOGUE_GAIN, ControlID.GAIN),
        }
        present = dict(self._dev.controls.items())  # items() makes linuxpy enumerate them
        found = {}
        for name, ids in wanted.items():
            for cid in ids:
                if cid in present:
                    found[name] = present[cid]
                    break
        return found


def _menu_values(ctrl: Any) -> set[int]:
    """The values a control takes: a menu's items, or its range."""
    keys = getattr(ctrl, "data", None)
    if isinstance(keys, dict) and keys:
        return {int(k) for k in keys}
    step = max(1, int(getattr(ctrl, "step", 1) or 1))
    return set(range(int(ctrl.minimum), int(ctrl.maximum) + 1, step))


def _float_or_none(fn: Any) -> float | None:
    try:
        return float(fn())
    except (OSError, ZeroDivisionError, ValueError):
        return None


def _close_quietly(obj: Any) -> None:
    if obj is None:
        return
    try:
        obj.close()
    except Exception:  # closing a device that is gone fails; nothing left to release
        pass


__all__ = [
    "V4L2Source",
    "cli_devices",
    "decode",
    "describe_devices",
    "list_device_paths",
    "mosaic_rggb10",
    "unpack_raw10p",
    "unpack_raw12p",
]
