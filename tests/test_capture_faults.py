"""Capture under faults: full, read-only and locked folders, two writers racing, killed writers.

Each failure must name the file and its cause, say how many frames were written, release the
frames it could not write, and leave no half-written file under a final name.
"""

from __future__ import annotations

import errno
import os
import signal
import subprocess
import sys
import time
import weakref
from pathlib import Path

import numpy as np
import pytest

from viewfinder import capture
from viewfinder.capture import CaptureError, write_dng, write_png
from viewfinder.capture_writer import BurstWriter
from viewfinder.frame import Frame
from viewfinder.render.worker import CaptureWriter

rawpy = pytest.importorskip("rawpy")
ROOT = Path(__file__).resolve().parents[1]


def _frame(seq: int = 0, shape: tuple[int, int] = (256, 256), seed: int = 0) -> Frame:
    data = np.random.default_rng(seed * 1000 + seq).integers(0, 1024, shape, dtype=np.uint16)
    return Frame(data, cfa="RGGB", bits=10, black_level=64, seq=seq)


def _mount(args: list[str]) -> None:
    proc = subprocess.run(["mount", *args], capture_output=True, text=True)
    if proc.returncode:
        pytest.skip(f"cannot mount here: {proc.stderr.strip()}")


@pytest.fixture
def small_tmpfs(tmp_path):
    """A real 512 KiB tmpfs: a disk that fills up (needs root; skipped where refused)."""
    if os.geteuid() != 0:
        pytest.skip("mounting a tmpfs needs root")
    mnt = tmp_path / "mnt"
    mnt.mkdir()
    _mount(["-t", "tmpfs", "-o", "size=512k,mode=0777", "tmpfs", str(mnt)])
    yield mnt
    subprocess.run(["umount", "-l", str(mnt)], check=False)


@pytest.fixture
def dev_full(monkeypatch):
    """Temp files whose descriptor is /dev/full: every write gets ENOSPC from the kernel,
    and NumPy's ``tofile`` (tifffile's path for big arrays) says so with errno None."""
    if not Path("/dev/full").exists():
        pytest.skip("/dev/full not available")
    real = capture._open_temp

    def open_temp(final):
        fh, tmp = real(final)
        full = os.open("/dev/full", os.O_RDWR)
        os.dup2(full, fh.fileno())
        os.close(full)
        return fh, tmp

    monkeypatch.setattr(capture, "_open_temp", open_temp)


# -- full disk, read-only, permission: named, counted, recognised whatever errno ------------


class _NumpyFullDisk:
    """A temp file that fails as NumPy's ``tofile`` does on a full disk: OSError, no errno."""

    def __init__(self, fh) -> None:
        self._fh = fh

    def write(self, b) -> int:
        raise OSError("Not enough free space to write 25165824 bytes after offset 576")

    def __getattr__(self, name):
        return getattr(self._fh, name)


def test_full_disk_without_errno_is_recognised_and_names_the_file(tmp_path, monkeypatch):
    real = capture._open_temp
    monkeypatch.setattr(
        capture, "_open_temp", lambda f: (lambda fh, t: (_NumpyFullDisk(fh), t))(*real(f))
    )
    target = tmp_path / "big.dng"
    with pytest.raises(CaptureError) as err:
        write_dng(_frame(), target)
    assert err.value.errno == errno.ENOSPC
    assert f"disk full while writing {str(target)!r}" in str(err.value)
    assert list(tmp_path.iterdir()) == []


def test_burst_onto_a_filling_disk_says_which_file_and_wrote_n_of_m(small_tmpfs):
    frames = [_frame(i) for i in range(6)]  # 128 KiB each: about three fit in 512 KiB
    w = BurstWriter(small_tmpfs, "dng", queue_size=8)
    for f in frames:
        w.put(f)
    with pytest.raises(CaptureError) as err:
        w.close()
    msg = str(err.value)
    n = len(w.written)
    assert 1 <= n < 6 and err.value.errno == errno.ENOSPC
    assert msg.startswith(f"disk full while writing '{small_tmpfs}/frame_0000")
    assert msg.endswith(f"more failed); wrote {n} of 6") and "\n" not in msg
    assert sorted(p.name for p in small_tmpfs.iterdir()) == [p.name for p in w.written]
    for p, f in zip(w.written, frames, strict=False):  # what was written is complete
        with rawpy.imread(str(p)) as raw:
            np.testing.assert_array_equal(raw.raw_image_visible, f.data)


def test_read_only_file_system_is_named(small_tmpfs):
    _mount(["-o", "remount,ro", str(small_tmpfs)])
    w = BurstWriter(small_tmpfs, "dng")
    w.put(_frame(0))
    w.put(_frame(1))
    with pytest.raises(CaptureError) as err:
        w.close()
    assert err.value.errno == errno.EROFS
    assert str(err.value) == (
        f"cannot write '{small_tmpfs}/frame_000000.dng': read-only file system "
        "(and 1 more failed); wrote 0 of 2"
    )


def test_permission_error_names_the_file(tmp_path, monkeypatch):
    def refuse(final):
        raise PermissionError(errno.EACCES, "Permission denied")

    monkeypatch.setattr(capture, "_open_temp", refuse)  # root ignores chmod: refuse it here
    w = BurstWriter(tmp_path, "png")
    for i in range(5):
        w.put(_frame(i))
    with pytest.raises(CaptureError) as err:
        w.close()
    assert str(err.value) == (
        f"cannot write '{tmp_path}/frame_000000.png': permission denied "
        "(and 4 more failed); wrote 0 of 5"
    )


def test_cli_capture_onto_a_full_disk_is_one_line(small_tmpfs, tmp_path, capsys):
    from viewfinder.cli import main

    src = tmp_path / "src"
    src.mkdir()
    write_dng(_frame(0, shape=(384, 512)), src / "a.dng")
    code = main(["capture", "--source", f"file:{src}", "--count", "8", "--out", str(small_tmpfs)])
    err = capsys.readouterr().err.strip()
    assert code == 2 and err.count("\n") == 0
    assert "disk full while writing" in err and str(small_tmpfs) in err and "of 8" in err


def test_failed_frames_are_released_at_once(tmp_path, dev_full):
    w = BurstWriter(tmp_path, "dng", queue_size=4)
    refs = []
    for i in range(3):
        f = _frame(i, shape=(1024, 1024))
        refs.append(weakref.ref(f.data))
        w.put(f)
        del f
    w.flush()
    assert len(w.errors) == 3 and "disk full" in w.errors[0].message
    assert all(r() is None for r in refs)  # no traceback keeps a frame alive
    with pytest.raises(CaptureError):
        w.close()


# -- names claimed atomically --------------------------------------------------------------

_WRITER = """
import sys, time
from pathlib import Path
import numpy as np
from viewfinder.capture_writer import BurstWriter
from viewfinder.frame import Frame
out, who = Path(sys.argv[1]), int(sys.argv[2])
frames = [Frame(np.full((64, 64), 100 * who + i, np.uint16), seq=i) for i in range(10)]
w = BurstWriter(out, "dng", queue_size=16)
print("ready", flush=True)
while not (out / "go").exists():
    time.sleep(0.0005)
for f in frames:
    w.put(f)
w.close()
print(len(w.written), flush=True)
"""


def _python(code: str, *args: str) -> subprocess.Popen:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.Popen(
        [sys.executable, "-c", code, *args], stdout=subprocess.PIPE, text=True, cwd=ROOT, env=env
    )


def test_two_writer_processes_in_one_folder_lose_nothing(tmp_path):
    procs = [_python(_WRITER, str(tmp_path), str(who)) for who in (1, 2)]
    try:
        assert [p.stdout.readline().strip() for p in procs] == ["ready", "ready"]
        (tmp_path / "go").touch()  # both burst frame_000000..9 at the same moment
        assert [p.stdout.readline().strip() for p in procs] == ["10", "10"]
    finally:
        for p in procs:
            p.wait(30)
    files = sorted(tmp_path.glob("*.dng"))
    values = set()
    for p in files:
        with rawpy.imread(str(p)) as raw:
            values.add(int(raw.raw_image_visible[0, 0]))
    assert len(files) == 20 and values == {100 * w + i for w in (1, 2) for i in range(10)}


def test_viewer_captures_never_replace_a_file(tmp_path):
    (tmp_path / "shot.png").write_bytes(b"an earlier capture")
    writer = CaptureWriter(tmp_path)
    img = np.zeros((8, 8, 3), np.uint8)
    writer.submit("png", img, "shot")
    writer.submit("png", img + 1, "shot")
    writer.close()
    assert (tmp_path / "shot.png").read_bytes() == b"an earlier capture"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["shot.png", "shot_1.png", "shot_2.png"]
    assert [n.rsplit(", ", 1)[0] for n in writer.notes] == [
        f"wrote {tmp_path / 'shot_1.png'}",
        f"wrote {tmp_path / 'shot_2.png'}",
    ]
    assert all(n.endswith(" MB") for n in writer.notes)  # the size, for the toast


def test_unique_write_falls_back_to_an_exclusive_create_without_hard_links(tmp_path, monkeypatch):
    def no_links(src, dst):
        raise PermissionError(errno.EPERM, "Operation not permitted")  # as FAT answers

    monkeypatch.setattr(os, "link", no_links)
    img = np.zeros((8, 8, 3), np.uint8)
    a = write_png(img, tmp_path / "x.png", unique=True)
    b = write_png(img, tmp_path / "x.png", unique=True)
    assert (a.name, b.name) == ("x.png", "x_1.png") and a.stat().st_size > 0
    assert sorted(p.name for p in tmp_path.iterdir()) == ["x.png", "x_1.png"]


# -- leftovers of killed writers -----------------------------------------------------------

_HALF_WRITE = """
import sys, time
from pathlib import Path
from viewfinder.capture import _open_temp
fh, tmp = _open_temp(Path(sys.argv[1]) / "frame_000000.dng")
fh.write(b"x" * 100_000); fh.flush()
print(tmp, flush=True)
time.sleep(60)
"""


def test_a_burst_removes_part_files_of_killed_writers_only(tmp_path):
    killed, live = _python(_HALF_WRITE, str(tmp_path)), _python(_HALF_WRITE, str(tmp_path))
    try:
        dead_part = Path(killed.stdout.readline().strip())
        live_part = Path(live.stdout.readline().strip())
        killed.send_signal(signal.SIGKILL)  # kill -9 mid-write
        killed.wait(10)
        old = tmp_path / ".frame_000001.dng.k2j4h5.part"  # an older writer's name: no pid
        old.write_bytes(b"y")
        os.utime(old, (time.time() - 3600, time.time() - 3600))
        assert dead_part.exists() and live_part.exists()
        w = BurstWriter(tmp_path, "dng")
        w.close()
        assert sorted(w.stale_removed) == sorted([dead_part, old])
        assert not dead_part.exists() and not old.exists()
        assert live_part.exists()  # a writer still at work keeps its file
    finally:
        live.kill()
        live.wait(10)
