"""OpenCVSource (``--source cam:N`` / ``cam:PATH``) on video files OpenCV opens through the same
``cv2.VideoCapture`` path as a camera: frames, end of file, bad index, wrong-size frames,
bounded waits when the stream stops."""

from __future__ import annotations

import sys
import threading
import time

import numpy as np
import pytest

cv2 = pytest.importorskip("cv2")

from viewfinder.cli import main  # noqa: E402
from viewfinder.sources.base import SourceError, SourceThread, SourceTimeout  # noqa: E402
from viewfinder.sources.cvcapture import OpenCVSource, camera_apis  # noqa: E402
from viewfinder.sources.open import open_source  # noqa: E402
from viewfinder.sources.v4l2_formats import STAND_IN_BLACK, mosaic_rggb10  # noqa: E402

W, H = 64, 48
REAL_CAPTURE = cv2.VideoCapture  # the tests below patch cv2.VideoCapture


def picture(i: int, w: int = W, h: int = H) -> np.ndarray:
    """BGR test frame ``i``: a red left half, a grey right half that brightens with ``i``."""
    img = np.empty((h, w, 3), np.uint8)
    img[:, : w // 2] = (30, 40, 200)
    img[:, w // 2 :] = 60 + 20 * i
    return img


def write_avi(path, n: int = 5) -> str:
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), 25.0, (W, H))
    assert writer.isOpened()
    for i in range(n):
        writer.write(picture(i))
    writer.release()
    return str(path)


def decoded(path: str) -> list[np.ndarray]:
    """What OpenCV itself decodes from ``path`` (the oracle for the mosaic)."""
    cap = cv2.VideoCapture(path)
    out = []
    while True:
        ok, img = cap.read()
        if not ok:
            break
        out.append(img)
    cap.release()
    return out


def drain(src, timeout: float = 5.0) -> tuple[list, Exception]:
    frames = []
    while True:
        try:
            frames.append(src.read(timeout=timeout))
        except SourceError as exc:  # SourceTimeout included: the test then fails on it
            return frames, exc


def test_video_file_frames_are_stand_in_mosaics_then_end_of_file(tmp_path):
    path = write_avi(tmp_path / "clip.avi", n=5)
    truth = decoded(path)
    assert len(truth) == 5
    with open_source(f"cam:{path}", pace=False, ring=16) as src:
        assert src.backend == "FFMPEG" and (src.width, src.height) == (W, H)
        frames, end = drain(src)
    assert not isinstance(end, SourceTimeout)
    assert f"end of video file {path} after 5 frames" in str(end)
    assert [f.seq for f in frames] == list(range(5))
    for f, img in zip(frames, truth, strict=True):
        assert f.data.shape == (H, W) and f.data.dtype == np.uint16
        assert (f.cfa, f.bits, f.black_level) == ("RGGB", 10, STAND_IN_BLACK)
        assert f.meta["stand_in"] and f.meta["source"] == "opencv"
        assert f.meta["backend"] == "FFMPEG" and f.meta["orientation"] == 1
        np.testing.assert_array_equal(f.data, mosaic_rggb10(img[:, :, ::-1]))
    # red on the left: the R sites well above the B sites (a BGR/RGB swap would invert it)
    left = frames[0].data[:, : W // 2 - 8]
    assert left[0::2, 0::2].mean() > 4 * left[1::2, 1::2].mean()


def test_paced_file_plays_at_its_frame_rate(tmp_path):
    path = write_avi(tmp_path / "clip.avi", n=4)  # 25 fps
    with OpenCVSource(path, fps=20.0, ring=16) as src:
        t0 = time.monotonic()
        frames, _ = drain(src)
        elapsed = time.monotonic() - t0
    assert len(frames) == 4 and elapsed >= 3 * 0.05 * 0.9


def test_bad_index_is_one_line_naming_index_and_backend():
    with pytest.raises(SourceError) as info:
        open_source("cam:97")
    msg = str(info.value)
    names = ", ".join(name for name, _ in camera_apis())
    assert msg == f"no camera at index 97 (OpenCV backend tried: {names})"
    if sys.platform.startswith("linux"):
        assert "V4L2" in msg


def test_cli_bad_index_is_one_line_exit_2(capsys):
    assert main(["run", "--headless", "--frames", "1", "--source", "cam:97"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "no camera at index 97" in err[0], err


def test_bad_paths_and_options(tmp_path):
    with pytest.raises(SourceError, match=r"no such video file: .*missing\.avi"):
        OpenCVSource(str(tmp_path / "missing.avi"))
    junk = tmp_path / "junk.avi"
    junk.write_bytes(b"not a video at all" * 10)
    with pytest.raises(SourceError, match=r"OpenCV cannot open video file .*junk\.avi"):
        OpenCVSource(str(junk))
    path = write_avi(tmp_path / "clip.avi", n=1)
    with pytest.raises(ValueError, match="video files play at their own size"):
        open_source(f"cam:{path}", size=(32, 24))
    with pytest.raises(ValueError, match="camera index must be >= 0"):
        OpenCVSource(-1)
    with pytest.raises(ValueError, match="stall_timeout must be > 0"):
        OpenCVSource(path, stall_timeout=0)


def test_frame_of_the_wrong_size_is_skipped_and_counted(tmp_path):
    # an image sequence (OpenCV's CAP_IMAGES keeps each file's size; FFmpeg would rescale)
    sizes = [(W, H), (W, H), (W // 2, H // 2), (W, H)]
    for i, (w, h) in enumerate(sizes):
        cv2.imwrite(str(tmp_path / f"f_{i:03d}.png"), picture(i, w, h))
    pattern = str(tmp_path / "f_%03d.png")
    with OpenCVSource(pattern, api=cv2.CAP_IMAGES, pace=False, ring=16) as src:
        frames, end = drain(src)
        assert src.corrupt == 1
        assert f"skipped a frame of {W // 2}x{H // 2} in a {W}x{H} stream" in src.error
    assert "end of video file" in str(end)
    assert len(frames) == 3 and all(f.data.shape == (H, W) for f in frames)


class _StallingCapture:
    """A real VideoCapture on a file that, after ``good`` frames, blocks in read() (a camera
    that stops delivering inside the driver) or returns nothing (``block=False``)."""

    released = threading.Event()

    def __init__(self, path: str, good: int, block: bool) -> None:
        self._cap = REAL_CAPTURE(path)
        self.good, self.block = good, block
        self.opens = 0

    def __getattr__(self, name):
        return getattr(self._cap, name)

    def read(self):
        if self.good > 0:
            self.good -= 1
            return self._cap.read()
        if self.block:
            self.released.wait(10.0)
        return False, None


def test_camera_that_stops_delivering_times_out_and_reopens(tmp_path, monkeypatch):
    path = write_avi(tmp_path / "clip.avi", n=5)
    opened = []

    def fake_capture(index, api):  # camera 0 is the file, silent after 2 frames
        opened.append((index, api))
        return _StallingCapture(path, good=2 if len(opened) == 1 else 0, block=False)

    monkeypatch.setattr(cv2, "VideoCapture", fake_capture)
    src = OpenCVSource(0, stall_timeout=0.3, ring=16)
    try:
        assert len(drain_n(src, 2)) == 2
        t0 = time.monotonic()
        with pytest.raises(SourceTimeout, match=r"no frames from camera 0 for \d+ s"):
            src.read(timeout=0.2)
        assert time.monotonic() - t0 < 1.0
        deadline = time.monotonic() + 5
        while src.reopen_attempts == 0 and time.monotonic() < deadline:
            time.sleep(0.05)
        assert src.reopen_attempts >= 1 and len(opened) >= 2
        with pytest.raises(SourceTimeout, match=r"no frames for 0\.3 s"):
            src.read(timeout=0.1)
    finally:
        src.close()
    assert src.status == "closed"


def test_read_blocked_in_the_driver_does_not_hang(tmp_path, monkeypatch):
    path = write_avi(tmp_path / "clip.avi", n=5)
    _StallingCapture.released.clear()
    monkeypatch.setattr(cv2, "VideoCapture", lambda i, a: _StallingCapture(path, 1, block=True))
    src = OpenCVSource(0, stall_timeout=0.3)
    thread = SourceThread(src).start()  # the viewer's reader: short waits, sees a stop
    try:
        assert thread.ring.get(5.0) is not None
        t0 = time.monotonic()
        assert thread.ring.get(0.5) is None  # nothing more, and no hang
        assert thread.stalled_s >= 0.4 and thread.error is None
        thread.stop()
        t1 = time.monotonic()
        src.close()  # the capture thread is stuck in read(): close() does not wait on it
        assert time.monotonic() - t1 < 2.5 and time.monotonic() - t0 < 6
        assert not thread.alive
    finally:
        _StallingCapture.released.set()


def drain_n(src, n: int) -> list:
    return [src.read(timeout=5.0) for _ in range(n)]
