"""USB cameras on every desktop, and video files, through OpenCV's ``VideoCapture``.

``--source cam:N`` opens camera ``N`` with the platform's capture API (DirectShow or Media
Foundation on Windows, AVFoundation on macOS, OpenCV's default backend on Linux, which is
V4L2); ``cam:PATH`` plays a video file (FFmpeg). Frames arrive as 8-bit BGR and stand in for
a raw sensor as V4L2's YUYV/MJPEG frames do: linearised (sRGB curve) and mosaicked into a
10-bit RGGB frame (:func:`~viewfinder.sources.v4l2_formats.mosaic_rggb10`), black level 64,
``meta["stand_in"]`` True.

A capture thread calls ``VideoCapture.read()`` (which can block inside the driver) and puts
frames into a bounded :class:`~viewfinder.sources.base.FrameRing`, so ``read(timeout)`` never
waits longer than asked: it raises :class:`~viewfinder.sources.base.SourceTimeout` naming the
camera and how long it has been silent. A camera that sends nothing usable for
``stall_timeout`` s is released and reopened (``reopen_attempts`` counts). A video file ends:
after its last frame ``read()`` raises :class:`~viewfinder.sources.base.SourceError`
("end of video file ..."). Frames of another size than the stream's (set when it opens) or
empty/undecodable ones are skipped and counted in ``corrupt``, with the reason in ``error``.
"""

from __future__ import annotations

import os
import sys
import threading
import time
from typing import Any

import numpy as np

from ..frame import Frame
from .base import STALL_NOTICE_S, FrameRing, SourceError, SourceTimeout
from .v4l2_formats import STAND_IN_BITS, STAND_IN_BLACK, mosaic_rggb10


def camera_apis(platform: str | None = None) -> list[tuple[str, int]]:
    """The capture APIs tried for a camera index, in order: (name, ``cv2.CAP_*``)."""
    import cv2

    platform = platform or sys.platform
    if platform.startswith("win"):
        return [("MSMF", cv2.CAP_MSMF), ("DSHOW", cv2.CAP_DSHOW)]
    if platform == "darwin":
        return [("AVFOUNDATION", cv2.CAP_AVFOUNDATION)]
    return [("default (V4L2)", cv2.CAP_ANY)]


def _quiet_cv2() -> Any:
    """OpenCV's log level set to errors only (its warnings name the probes it tried);
    returns the previous level, or None when it cannot be set."""
    import cv2

    try:
        old = cv2.utils.logging.getLogLevel()
        cv2.utils.logging.setLogLevel(cv2.utils.logging.LOG_LEVEL_ERROR)
        return old
    except AttributeError:  # a build without cv2.utils.logging
        return None


def _restore_cv2(level: Any) -> None:
    import cv2

    if level is not None:
        cv2.utils.logging.setLogLevel(level)


class OpenCVSource:
    """A camera (index) or a video file (path) through ``cv2.VideoCapture``.

    Parameters
    ----------
    device : int or str
        Camera index, or the path of a video file (or an OpenCV image-sequence pattern).
    size : (width, height) or None
        Capture size asked of a camera (refused for a file); default the camera's.
    fps : float or None
        Frame rate asked of a camera; for a file, the rate it plays at (default the file's).
    pace : bool
        Play a file at its frame rate (as a camera would send it), not as fast as it decodes.
    api : int or None
        A ``cv2.CAP_*`` constant to use instead of the platform's choice.
    ring : int
        Frames held for the consumer (the oldest dropped beyond that).
    stall_timeout : float
        Seconds without a usable frame from a camera after which it is released and
        reopened.

    Attributes
    ----------
    status : str
        ``"streaming"``, ``"no frames"`` (reopening), ``"end of file"`` or ``"closed"``.
    backend : str
        The OpenCV backend that opened the stream (``cap.getBackendName()``).
    width, height : int
        The stream's frame size; frames of another size are skipped.
    captured, corrupt, reopen_attempts, reconnects : int
        Frames delivered; frames skipped (wrong size, empty, not 8-bit colour); attempts to
        reopen since the last good frame; successful reopens.
    error : str or None
        The last thing that went wrong (shown by the viewer).
    """

    def __init__(
        self,
        device: int | str = 0,
        size: tuple[int, int] | None = None,
        fps: float | None = None,
        api: int | None = None,
        pace: bool = True,
        ring: int = 3,
        stall_timeout: float = STALL_NOTICE_S,
    ) -> None:
        try:
            import cv2  # noqa: F401
        except ImportError as exc:
            raise SourceError(f"cam: sources need OpenCV (opencv-python): {exc}") from exc
        if isinstance(device, bool) or not isinstance(device, int | str):
            raise ValueError(f"device must be a camera index or a file path, got {device!r}")
        if isinstance(device, int) and device < 0:
            raise ValueError(f"camera index must be >= 0, got {device}")
        if isinstance(device, str) and not device:
            raise ValueError("empty video file path")
        self.is_file = isinstance(device, str)
        if size is not None and (len(size) != 2 or min(size) <= 0):
            raise ValueError(f"size must be (width, height) > 0, got {size!r}")
        if self.is_file and size is not None:
            raise ValueError(f"video files play at their own size; got size {size[0]}x{size[1]}")
        if fps is not None and not fps > 0:
            raise ValueError(f"fps must be > 0, got {fps}")
        if not stall_timeout > 0:
            raise ValueError(f"stall_timeout must be > 0 s, got {stall_timeout}")
        self.device = device
        self.path = str(device) if self.is_file else f"camera {device}"
        self.name = f"cam:{device}"
        self.want_size, self.want_fps, self.api = size, fps, api
        self.pace = bool(pace) and self.is_file
        self.period_s = 0.0  # a paced file's frame period
        self.stall_timeout = float(stall_timeout)
        self.ring = FrameRing(ring)
        self.status = "opening"
        self.backend = ""
        self.width = self.height = 0
        self.captured = self.corrupt = self.reopen_attempts = self.reconnects = 0
        self.error: str | None = None
        self.last_frame_at = time.monotonic()
        self._silent_since = self.last_frame_at
        self._seq = 0
        self._cap: Any = None
        self._stop = threading.Event()
        self._open()  # a missing camera or file is reported to the caller at once
        self._thread = threading.Thread(target=self._run, name=f"cam-{device}", daemon=True)
        self._thread.start()

    # -- opening ---------------------------------------------------------------------------

    def _apis(self) -> list[tuple[str, int]]:
        import cv2

        if self.api is not None:
            return [(cv2.videoio_registry.getBackendName(self.api) or str(self.api), self.api)]
        if self.is_file:
            return [("default", cv2.CAP_ANY)]
        return camera_apis()

    def _open(self) -> None:
        import cv2

        if self.is_file and "%" not in self.path:
            if not os.path.exists(self.path):
                raise SourceError(f"no such video file: {self.path}")
            if not os.path.isfile(self.path):
                raise SourceError(f"not a regular file: {self.path}")
            if not os.access(self.path, os.R_OK):
                raise SourceError(f"permission denied: {self.path}")
        tried = []
        level = _quiet_cv2()
        try:
            for label, api in self._apis():
                tried.append(label)
                cap = cv2.VideoCapture(self.device, api)
                if cap.isOpened():
                    break
                cap.release()
            else:
                names = ", ".join(tried)
                if self.is_file:
                    raise SourceError(
                        f"OpenCV cannot open video file {self.path} (backend tried: {names})"
                    )
                raise SourceError(
                    f"no camera at index {self.device} (OpenCV backend tried: {names})"
                )
            if self.want_size is not None:
                cap.set(cv2.CAP_PROP_FRAME_WIDTH, self.want_size[0])
                cap.set(cv2.CAP_PROP_FRAME_HEIGHT, self.want_size[1])
            if self.want_fps and not self.is_file:
                cap.set(cv2.CAP_PROP_FPS, float(self.want_fps))
            rate = self.want_fps or cap.get(cv2.CAP_PROP_FPS) or 30.0
            self.period_s = 1.0 / min(max(float(rate), 1.0), 1000.0) if self.pace else 0.0
            w = int(cap.get(cv2.CAP_PROP_FRAME_WIDTH))
            h = int(cap.get(cv2.CAP_PROP_FRAME_HEIGHT))
        finally:
            _restore_cv2(level)
        if self.want_size is not None and (w, h) != tuple(self.want_size):
            cap.release()
            raise SourceError(
                f"{self.path} gave {w}x{h} when asked for {self.want_size[0]}x{self.want_size[1]}"
            )
        self._cap = cap
        self.backend = cap.getBackendName()
        self.width, self.height = w, h  # 0 x 0 when the backend does not say: the first frame
        self._silent_since = time.monotonic()
        self.status = "streaming"

    # -- capture thread --------------------------------------------------------------------

    def _run(self) -> None:
        due = time.monotonic()
        while not self._stop.is_set():
            if self.period_s:  # a paced file: one frame a period
                due += self.period_s
                if self._stop.wait(max(0.0, due - time.monotonic())):
                    break
            if self._cap is None:  # a camera that went silent: reopen it
                if self._stop.wait(0.5):
                    break
                self.reopen_attempts += 1
                try:
                    self._open()
                    self.reconnects += 1
                except SourceError as exc:
                    self.error = str(exc)
                continue
            try:
                ok, img = self._cap.read()  # may block inside the driver: read() does not
            except Exception as exc:  # cv2.error from a backend: skip it, as a bad frame
                ok, img = False, None
                self.error = f"{self.path}: {exc}"
            if self._stop.is_set():
                break
            if ok and img is not None:
                self._deliver(img)
            elif self.is_file:
                self.status = "end of file"
                break
            else:
                self._stop.wait(0.01)  # a camera that returned nothing: do not spin
            if (
                not self.is_file
                and self._cap is not None
                and time.monotonic() - self._silent_since > self.stall_timeout
            ):
                self.status = "no frames"
                self.error = (
                    f"{self.path}: no frames for {self.stall_timeout:g} s (skipped: {self.corrupt})"
                )
                cap, self._cap = self._cap, None
                cap.release()
        self.ring.close()

    def _deliver(self, img: np.ndarray) -> None:
        if img.ndim == 2:
            img = np.repeat(img[:, :, None], 3, axis=2)
        h, w = img.shape[:2]
        why = None
        if img.dtype != np.uint8 or img.ndim != 3 or img.shape[2] not in (3, 4):
            depth = f"{img.dtype.itemsize * 8}-bit" if img.dtype.kind in "ui" else str(img.dtype)
            planes = img.shape[2] if img.ndim == 3 else 1
            why = f"{w}x{h} frame of {planes} {depth} channels, not 8-bit colour"
        elif h < 2 or w < 2:
            why = f"empty frame {w}x{h}"
        elif self.width and self.height and (w, h) != (self.width, self.height):
            why = f"frame of {w}x{h} in a {self.width}x{self.height} stream"
        if why is not None:
            self.corrupt += 1
            self.error = f"{self.path}: skipped a {why}"
            return
        if not (self.width and self.height):
            self.width, self.height = w, h
        data = mosaic_rggb10(img[:, :, 2::-1])  # BGR(A) -> RGB
        meta = {
            "source": "opencv",
            "device": self.path,
            "backend": self.backend,
            "pixel_format": "BGR",
            "stand_in": True,
            "orientation": 1,
        }
        self.ring.put(
            Frame(
                data,
                cfa="RGGB",
                bits=STAND_IN_BITS,
                black_level=STAND_IN_BLACK,
                seq=self._seq,
                timestamp_ns=time.monotonic_ns(),
                meta=meta,
            )
        )
        self._seq += 1
        self.captured += 1
        self.last_frame_at = self._silent_since = time.monotonic()
        self.reopen_attempts = 0

    # -- FrameSource -----------------------------------------------------------------------

    def read(self, timeout: float | None = None) -> Frame:
        """The oldest frame held, waiting for one up to ``timeout`` s (None: no limit).

        Raises :class:`~viewfinder.sources.base.SourceTimeout` when none came in time,
        :class:`~viewfinder.sources.base.SourceError` after the end of a video file or once
        closed.
        """
        frame = self.ring.get(timeout)
        if frame is not None:
            return frame
        if self.status == "end of file":
            raise SourceError(f"end of video file {self.path} after {self.captured} frames")
        if self.ring.closed:
            raise SourceError(f"{self.name} is closed")
        silent = time.monotonic() - self.last_frame_at
        why = self.status if self.error is None else f"{self.status}: {self.error}"
        raise SourceTimeout(f"no frames from {self.path} for {silent:.0f} s ({why})")

    def close(self) -> None:
        """Stop the capture thread and release the capture. A thread stuck inside the
        driver's read is left (a daemon) rather than waited on; its capture is then not
        released under it."""
        self._stop.set()
        self.ring.close()
        if self._thread.is_alive() and self._thread is not threading.current_thread():
            self._thread.join(2.0)
        if not self._thread.is_alive() and self._cap is not None:
            self._cap.release()
            self._cap = None
        self.status = "closed"

    def __enter__(self) -> OpenCVSource:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


__all__ = ["OpenCVSource", "camera_apis"]
