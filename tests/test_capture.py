"""Capture: DNGs that raw software reads back bit-exact, atomic writes, the burst writer."""

from __future__ import annotations

import errno
import os
import shutil
import subprocess
import threading
import time
from pathlib import Path

import numpy as np
import pytest

from viewfinder import capture, capture_writer
from viewfinder.capture import (
    CaptureError,
    as_shot_neutral,
    atomic_write,
    dng_color_matrix,
    write_dng,
)
from viewfinder.capture_writer import BurstWriter, write_frame
from viewfinder.frame import CFA_PATTERNS, Frame, cfa_masks

rawpy = pytest.importorskip("rawpy")
cv2 = pytest.importorskip("cv2")

M = np.array([[1.6, -0.4, -0.2], [-0.3, 1.5, -0.2], [0.0, -0.5, 1.5]])
META = {
    "white_balance": (2.0, 1.0, 1.5),
    "color_matrix": M,
    "exposure_s": 1 / 120,
    "iso": 200,
    "aperture": 1.9,
    "focal_mm": 8.7,
    "lens": "builtin",
    "lens_name": "built-in 8.7 mm f/1.9",
    "sensor": "IMX989",
}


def _random_frame(cfa="RGGB", bits=10, shape=(48, 64), seed=0, seq=0) -> Frame:
    rng = np.random.default_rng(seed)
    data = rng.integers(0, 2**bits, shape, dtype=np.uint16)
    return Frame(data, cfa=cfa, bits=bits, black_level=2 ** (bits - 4), seq=seq, meta=dict(META))


def _red_patch(cfa: str, bits: int = 10) -> Frame:
    """Flat mosaic whose red sites are bright and green/blue dark: a red surface."""
    black = 2 ** (bits - 4)
    data = np.full((64, 64), black, np.uint16)
    r, g, b = cfa_masks(data.shape, cfa)
    scale = (2**bits - 1 - black) / 1023
    data[r] += int(300 * scale)
    data[g] += int(20 * scale)
    data[b] += int(15 * scale)
    return Frame(
        data, cfa=cfa, bits=bits, black_level=black, meta={"white_balance": (1.0, 1.0, 1.0)}
    )


# -- DNG ------------------------------------------------------------------------------------


@pytest.mark.parametrize("bits", [10, 12, 14])
@pytest.mark.parametrize("cfa", CFA_PATTERNS)
def test_dng_round_trip_bit_exact(tmp_path, cfa, bits):
    f = _random_frame(cfa, bits, seed=bits)
    path = write_dng(f, tmp_path / "x.dng")
    with rawpy.imread(str(path)) as raw:
        np.testing.assert_array_equal(raw.raw_image_visible, f.data)
        desc = raw.color_desc.decode()
        pattern = "".join(desc[i] for i in raw.raw_pattern.reshape(-1))
        assert pattern == cfa
        assert raw.black_level_per_channel == [f.black_level] * 4
        assert raw.white_level == 2**bits - 1
        # LibRaw's camera->sRGB matrix is the frame's matrix; its WB the frame's gains.
        np.testing.assert_allclose(raw.color_matrix[:, :3], M, atol=1e-5)
        wb = np.array(raw.camera_whitebalance[:3])
        np.testing.assert_allclose(wb / wb[1], META["white_balance"], rtol=1e-5)
        other = raw.other
        assert other.shutter_speed == pytest.approx(1 / 120, rel=1e-5)
        assert other.iso_speed == 200 and other.aperture == pytest.approx(1.9, rel=1e-5)
        assert other.focal_length == pytest.approx(8.7, rel=1e-5)
        assert raw.lens.model == META["lens_name"]


def test_dng_from_cupy_frame(tmp_path, dxp):
    cp = dxp
    f = _random_frame("GBRG", 10, seed=3)
    g = Frame(cp.asarray(f.data), cfa=f.cfa, bits=10, black_level=f.black_level, meta=f.meta)
    write_dng(g, tmp_path / "gpu.dng")
    with rawpy.imread(str(tmp_path / "gpu.dng")) as raw:
        np.testing.assert_array_equal(raw.raw_image_visible, f.data)
    rgb = capture.develop(g, bits=16)
    # Not bit-exact: CUDA contracts multiply-adds into FMAs and its powf rounds differently, so
    # 16-bit codes may move by an LSB, and where the hq demosaic's direction test sits on a tie
    # a rare pixel moves by more (the bound of tests/stages/test_demosaic.py).
    diff = np.abs(rgb.astype(np.int64) - capture.develop(f, bits=16))
    assert np.mean(diff <= 8) > 0.999, np.mean(diff <= 8)
    assert diff.max() < 0.05 * 65535, diff.max()


@pytest.mark.parametrize("cfa", CFA_PATTERNS)
def test_red_patch_comes_out_red(tmp_path, cfa):
    write_dng(_red_patch(cfa), tmp_path / "red.dng")
    with rawpy.imread(str(tmp_path / "red.dng")) as raw:
        rgb = raw.postprocess(
            use_camera_wb=True,
            adjust_maximum_thr=0,
            no_auto_bright=True,
            output_bps=16,
            gamma=(1, 1),
        )
    r, g, b = rgb[16:48, 16:48].reshape(-1, 3).mean(axis=0)
    assert r > 8 * max(g, b, 1), (r, g, b)


def test_color_matrix_and_neutral_are_consistent():
    # XYZ of D65 white through ColorMatrix1 gives the camera's white, i.e. AsShotNeutral.
    from viewfinder.capture import SRGB_TO_XYZ

    cam_white = dng_color_matrix(META) @ (SRGB_TO_XYZ @ np.ones(3))
    np.testing.assert_allclose(cam_white / cam_white[1], as_shot_neutral(META), rtol=1e-9)
    np.testing.assert_allclose(as_shot_neutral(META), [0.5, 1.0, 2 / 3])
    assert cam_white.max() == pytest.approx(1.0)
    # No metadata: identity camera (what the pipeline assumes) and unity gains.
    np.testing.assert_allclose(dng_color_matrix({}) @ SRGB_TO_XYZ, np.eye(3) / 1.0, atol=1e-6)
    with pytest.raises(ValueError, match="white_balance"):
        dng_color_matrix({"white_balance": (1, 0, 1)})
    with pytest.raises(ValueError, match="color_matrix"):
        dng_color_matrix({"color_matrix": np.zeros((3, 3))})


def test_dng_time_is_exposure_time(tmp_path):
    # A frame exposed 90 s ago (monotonic clock) and written now carries its exposure time.
    f = _random_frame()
    f.timestamp_ns = time.monotonic_ns() - 90_000_000_000
    write_dng(f, tmp_path / "t.dng")
    with rawpy.imread(str(tmp_path / "t.dng")) as raw:
        stamp = raw.other.timestamp.timestamp()
    assert abs(stamp - (time.time() - 90)) < 2.5
    f.meta["wall_time"] = 1_700_000_000.0  # a RAW file's own time wins
    write_dng(f, tmp_path / "u.dng")
    with rawpy.imread(str(tmp_path / "u.dng")) as raw:
        assert raw.other.timestamp.timestamp() == 1_700_000_000.0


@pytest.mark.skipif(shutil.which("exiftool") is None, reason="exiftool not installed")
@pytest.mark.parametrize("cfa,bits", [("RGGB", 10), ("GBRG", 14)])
def test_exiftool_validates(tmp_path, cfa, bits):
    path = write_dng(_random_frame(cfa, bits), tmp_path / "v.dng")
    out = subprocess.run(
        ["exiftool", "-validate", "-warning", "-error", "-a", str(path)],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert "Validate" in out and ": OK" in out, out
    tags = subprocess.run(
        ["exiftool", "-s", "-UniqueCameraModel", "-LensModel", "-ISO", "-CFAPattern", str(path)],
        capture_output=True,
        text=True,
    ).stdout
    assert "Viewfinder IMX989" in tags and "built-in 8.7 mm f/1.9" in tags and "200" in tags


# -- processed captures ---------------------------------------------------------------------


@pytest.mark.parametrize("fmt", ["png", "png16", "jpeg"])
def test_processed_capture_is_red(tmp_path, fmt):
    frame = _red_patch("GRBG")
    path = write_frame(frame, tmp_path / f"p{capture.FORMATS[fmt]}", fmt)
    img = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
    assert img.dtype == (np.uint16 if fmt == "png16" else np.uint8)
    assert img.shape[:2] == frame.shape
    b, g, r = img[16:48, 16:48, :3].reshape(-1, 3).mean(axis=0)  # OpenCV reads BGR
    assert r > 3 * max(g, b, 1), (r, g, b)


def test_unknown_format_and_bad_image(tmp_path):
    with pytest.raises(ValueError, match="tiff"):
        write_frame(_random_frame(), tmp_path / "x.tif", "tiff")
    with pytest.raises(ValueError, match="PNG"):
        capture.write_png(np.zeros((4, 4), np.uint8), tmp_path / "x.png")


# -- atomic writes --------------------------------------------------------------------------


class _FillingDisk:
    """A file object that takes ``room`` bytes, then fails as a full disk does."""

    def __init__(self, fh, room: int) -> None:
        self._fh, self.room = fh, room

    def write(self, b) -> int:
        b = memoryview(b).cast("B")
        if len(b) > self.room:
            self._fh.write(b[: self.room])
            self.room = 0
            raise OSError(errno.ENOSPC, "No space left on device")
        self.room -= len(b)
        return self._fh.write(b)

    def __getattr__(self, name):
        return getattr(self._fh, name)


@pytest.fixture
def filling_disk(monkeypatch):
    """Temp files that take 4 KiB and then fail with ENOSPC (Python-level writes)."""
    real = capture._open_temp
    temps: list[Path] = []

    def open_temp(final):
        fh, tmp = real(final)
        temps.append(tmp)
        return _FillingDisk(fh, room=4096), tmp

    monkeypatch.setattr(capture, "_open_temp", open_temp)
    return temps


@pytest.fixture
def full_disk(monkeypatch):
    """Temp files whose descriptor writes to /dev/full: the kernel answers ENOSPC to every
    write, whichever way it is made (tifffile writes arrays with ndarray.tofile)."""
    if not Path("/dev/full").exists():
        pytest.skip("/dev/full not available")
    real = capture._open_temp
    temps: list[Path] = []

    def open_temp(final):
        fh, tmp = real(final)
        temps.append(tmp)
        full = os.open("/dev/full", os.O_RDWR)
        os.dup2(full, fh.fileno())
        os.close(full)
        return fh, tmp

    monkeypatch.setattr(capture, "_open_temp", open_temp)
    return temps


def test_full_disk_leaves_no_partial_file(tmp_path, full_disk):
    target = tmp_path / "a.dng"
    with pytest.raises(CaptureError, match="disk full") as err:
        write_dng(_random_frame(shape=(256, 256)), target)
    assert err.value.errno == errno.ENOSPC and str(target) in str(err.value)
    assert full_disk and not full_disk[0].exists()  # the temp file was written, then removed
    assert list(tmp_path.iterdir()) == []


def test_failed_write_keeps_previous_file(tmp_path, filling_disk):
    target = tmp_path / "a.png"
    target.write_bytes(b"previous complete file")
    big = np.random.default_rng(0).integers(0, 255, (256, 256, 3), dtype=np.uint8)
    with pytest.raises(CaptureError, match="disk full"):
        capture.write_png(big, target)
    assert filling_disk and not filling_disk[0].exists()
    assert target.read_bytes() == b"previous complete file"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.png"]


def test_any_error_removes_temp(tmp_path):
    def boom(fh):
        fh.write(b"half")
        raise RuntimeError("encoder crashed")

    with pytest.raises(RuntimeError, match="encoder crashed"):
        atomic_write(tmp_path / "x.bin", boom)
    assert list(tmp_path.iterdir()) == []
    with pytest.raises(CaptureError, match="does not exist"):
        atomic_write(tmp_path / "nope" / "x.bin", lambda fh: None)


def test_crash_mid_write_leaves_no_file_under_final_name(tmp_path):
    """A writer process killed (SIGKILL) half-way: the final name never appears."""
    import signal
    import sys

    code = (
        "import sys, time\n"
        "from viewfinder.capture import atomic_write\n"
        "def write(fh):\n"
        "    fh.write(b'x' * 1_000_000); fh.flush()\n"
        "    print('half', flush=True); time.sleep(60)\n"
        "atomic_write(sys.argv[1], write)\n"
    )
    target = tmp_path / "crash.dng"
    root = Path(__file__).resolve().parents[1]
    proc = subprocess.Popen(
        [sys.executable, "-c", code, str(target)],
        stdout=subprocess.PIPE,
        text=True,
        cwd=root,
        env={**os.environ, "PYTHONPATH": str(root)},
    )
    try:
        assert proc.stdout.readline().strip() == "half"
        temps = list(tmp_path.glob(".crash.dng.*.part"))
        assert len(temps) == 1 and temps[0].stat().st_size == 1_000_000
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait(10)
    assert not target.exists()


# -- burst writer ---------------------------------------------------------------------------


def _slow_disk(monkeypatch, delay: float, gate: threading.Event | None = None):
    real = capture_writer.write_frame

    def slow(*a, **k):
        if gate is not None:
            gate.wait(5)
        time.sleep(delay)
        return real(*a, **k)

    monkeypatch.setattr(capture_writer, "write_frame", slow)


def test_burst_back_pressure_blocks_and_loses_nothing(tmp_path, monkeypatch):
    _slow_disk(monkeypatch, 0.01)
    frames = [_random_frame(seed=i, seq=i) for i in range(12)]
    with BurstWriter(tmp_path, "dng", queue_size=2) as w:
        assert all(w.put(f) for f in frames)
    assert w.stalls > 0 and w.stall_s > 0 and w.rejected == 0 and w.max_depth <= 2
    assert [p.name for p in w.written] == [f"frame_{i:06d}.dng" for i in range(12)]
    for f, p in zip(frames, w.written, strict=True):
        with rawpy.imread(str(p)) as raw:
            np.testing.assert_array_equal(raw.raw_image_visible, f.data)


def test_burst_non_blocking_counts_refused_frames(tmp_path, monkeypatch):
    gate = threading.Event()
    _slow_disk(monkeypatch, 0.0, gate)
    w = BurstWriter(tmp_path, "dng", queue_size=2, block=False)
    results = [w.put(_random_frame(seed=i, seq=i)) for i in range(6)]
    gate.set()
    w.close()
    # The writer holds at most one frame, the queue two: at least 3 were refused, and every
    # frame is either written or counted as refused.
    assert results.count(False) == w.rejected >= 3
    assert len(w.written) + w.rejected == 6 and not w.errors


def test_burst_reports_full_disk(tmp_path, full_disk):
    w = BurstWriter(tmp_path, "dng", queue_size=4)
    for i in range(3):
        w.put(_random_frame(shape=(256, 256), seq=i))
    with pytest.raises(CaptureError, match="disk full") as err:
        w.close()
    assert err.value.errno == errno.ENOSPC and "2 more failed" in str(err.value)
    assert len(w.errors) == 3 and w.written == []
    assert list(tmp_path.iterdir()) == []


def test_simulated_camera_capture(tmp_path):
    """A frame of the simulated camera (via open_source) as a DNG: its metadata in the file."""
    from viewfinder.sources.open import open_source

    try:
        cam = open_source("sim", lens="summilux-35", size=(128, 96))
    except (ImportError, ValueError) as exc:
        pytest.skip(f"simulated camera not usable here: {exc}")
    try:
        f = cam.read()
    finally:
        cam.close()
    path = write_dng(f, tmp_path / "sim.dng")
    with rawpy.imread(str(path)) as raw:
        np.testing.assert_array_equal(raw.raw_image_visible, np.asarray(f.data))
        assert raw.other.aperture == pytest.approx(f.meta["aperture"], rel=1e-4)
        assert raw.other.iso_speed == pytest.approx(f.meta["iso"])
        assert raw.lens.model == f.meta["lens_name"]
        np.testing.assert_allclose(raw.color_matrix[:, :3], f.meta["color_matrix"], atol=1e-5)


def test_cli_capture_from_files(tmp_path, capsys):
    from viewfinder.cli import main

    src = tmp_path / "src"
    src.mkdir()
    frames = [_random_frame("BGGR", 12, seed=i) for i in range(3)]
    for i, f in enumerate(frames):
        write_dng(f, src / f"in{i}.dng")
    out = tmp_path / "out"
    assert (
        main(
            [
                "capture",
                "--source",
                f"file:{src}",
                "--count",
                "5",
                "--format",
                "dng",
                "--out",
                str(out),
            ]
        )
        == 0
    )
    files = sorted(out.glob("*.dng"))
    assert len(files) == 5 and "wrote 5 DNG files" in capsys.readouterr().out
    for i, p in enumerate(files):
        with rawpy.imread(str(p)) as raw:
            np.testing.assert_array_equal(raw.raw_image_visible, frames[i % 3].data)
    assert (
        main(
            [
                "capture",
                "--source",
                f"file:{src}",
                "--count",
                "1",
                "--format",
                "png16",
                "--out",
                str(out),
            ]
        )
        == 0
    )
    assert len(list(out.glob("*.png"))) == 1
    assert main(["capture", "--source", "nonsense", "--out", str(out)]) == 2
    assert "unknown source 'nonsense'" in capsys.readouterr().err


@pytest.mark.slow
def test_burst_100_frames_4096x3072(tmp_path):
    """100 full-size frames: 100 valid DNGs, each the frame that was put, none lost."""
    rng = np.random.default_rng(7)
    base = rng.integers(0, 1024, (3072, 4096), dtype=np.uint16)
    t0 = time.perf_counter()
    with BurstWriter(tmp_path, "dng", queue_size=8) as w:
        for i in range(100):
            data = base.copy()
            data[0, :8] = [(i >> (2 * k)) & 3 for k in range(8)]  # each frame distinct
            data[1, :] = np.roll(base[1], i)
            assert w.put(Frame(data, cfa="RGGB", bits=10, black_level=64, seq=i, meta=META))
    dt = time.perf_counter() - t0
    assert len(w.written) == 100 and not w.errors and w.rejected == 0
    print(f"100 DNGs at 4096x3072 in {dt:.1f} s ({100 / dt:.1f} frames/s), stalls {w.stalls}")
    for i, p in enumerate(w.written):
        assert p.name == f"frame_{i:06d}.dng"
        with rawpy.imread(str(p)) as raw:
            img = raw.raw_image_visible
            assert img.shape == (3072, 4096)
            assert [(int(v)) for v in img[0, :8]] == [(i >> (2 * k)) & 3 for k in range(8)]
            np.testing.assert_array_equal(img[1], np.roll(base[1], i))
            np.testing.assert_array_equal(img[2:], base[2:])
    if shutil.which("exiftool"):
        out = subprocess.run(
            [
                "exiftool",
                "-validate",
                "-warning",
                "-error",
                "-q",
                "-p",
                "$Validate",
                *map(str, w.written),
            ],
            capture_output=True,
            text=True,
        ).stdout.split()
        assert out == ["OK"] * 100


def test_captures_get_the_usual_file_mode(tmp_path):
    import stat

    from viewfinder import capture

    path = capture.atomic_write(tmp_path / "x.bin", lambda fh: fh.write(b"data"))
    # what open() would give a new file, not mkstemp's private 0600
    assert stat.S_IMODE(path.stat().st_mode) == 0o666 & ~capture._UMASK
