"""Files that are not playable raws: one line naming the file and the cause, nothing from
LibRaw on the terminal, nothing hangs; a folder reports what it skipped."""

from __future__ import annotations

import os
import subprocess
import sys

import numpy as np
import pytest

from viewfinder.capture import write_dng
from viewfinder.frame import Frame
from viewfinder.sources.base import SourceError
from viewfinder.sources.rawfile import RawFileSource, read_raw_file

rawpy = pytest.importorskip("rawpy")
tifffile = pytest.importorskip("tifffile")

BASE = [(50706, "B", 4, (1, 4, 0, 0), True), (50717, "I", 1, 16383, True)]


def _good(path) -> None:
    data = np.random.default_rng(0).integers(64, 1023, (32, 48), dtype=np.uint16)
    write_dng(Frame(data, "RGGB", black_level=64, bits=10), path)


def _refusal(path) -> str:
    with pytest.raises(SourceError) as err:
        read_raw_file(path)
    text = str(err.value)
    assert "\n" not in text and str(path) in text
    return text


def test_missing_dangling_empty_and_folder(tmp_path):
    assert "no such file" in _refusal(tmp_path / "missing.dng")
    (tmp_path / "link.dng").symlink_to(tmp_path / "gone.dng")
    assert "dangling link" in _refusal(tmp_path / "link.dng")
    (tmp_path / "empty.dng").write_bytes(b"")
    assert "empty file" in _refusal(tmp_path / "empty.dng")
    with pytest.raises(SourceError, match="empty file name"):
        RawFileSource([""])  # not the current folder
    with pytest.raises(SourceError, match="empty file name"):
        RawFileSource("")


def test_permission_denied(tmp_path, monkeypatch):
    path = tmp_path / "locked.dng"
    _good(path)
    if os.geteuid() != 0:
        path.chmod(0)
    else:  # root reads anything: make the open fail as it does for a user
        import builtins

        real_open = builtins.open

        def no_read(file, *a, **k):
            if str(file) == str(path):
                raise PermissionError(13, "Permission denied", str(file))
            return real_open(file, *a, **k)

        monkeypatch.setattr(builtins, "open", no_read)
    assert "permission denied" in _refusal(path)


def test_fifo_is_refused_without_blocking(tmp_path):
    fifo = tmp_path / "pipe.dng"
    os.mkfifo(fifo)
    assert "not a regular file" in _refusal(fifo)  # opening it would wait for a writer


def test_pictures_are_not_raw_files(tmp_path):
    import cv2

    pic = np.random.default_rng(1).integers(0, 255, (40, 60, 3), dtype=np.uint8)
    cv2.imwrite(str(tmp_path / "a.jpg"), pic)
    cv2.imwrite(str(tmp_path / "a.png"), pic)
    tifffile.imwrite(tmp_path / "grey16.tif", (pic[..., 0].astype(np.uint16) * 257))
    tifffile.imwrite(tmp_path / "renamed.dng", (pic[..., 0].astype(np.uint16) * 257))
    assert "not a raw file (a JPEG image)" in _refusal(tmp_path / "a.jpg")
    assert "not a raw file (a PNG image)" in _refusal(tmp_path / "a.png")
    # LibRaw plays a 16-bit greyscale TIFF as an RGGB mosaic
    assert "not a raw file (a plain TIFF image" in _refusal(tmp_path / "grey16.tif")
    assert "not a raw file (a plain TIFF image" in _refusal(tmp_path / "renamed.dng")
    (tmp_path / "text.nef").write_bytes(b"this is not a raw file" * 50)
    assert "not a raw file" in _refusal(tmp_path / "text.nef")


def test_linear_dng_and_x_trans_say_what_they_are(tmp_path):
    lin = np.random.default_rng(2).integers(0, 16383, (40, 60, 3), dtype=np.uint16)
    tifffile.imwrite(tmp_path / "linear.dng", lin, photometric=34892, extratags=BASE)
    text = _refusal(tmp_path / "linear.dng")
    assert "not a colour-filter-array raw (linear/already demosaiced DNG)" in text
    assert "Bayer raw (colours" not in text
    xtrans = (1, 1, 0, 1, 1, 2, 1, 1, 2, 1, 1, 0, 2, 0, 1, 0, 2, 1) * 2
    tags = BASE + [
        (33421, "H", 2, (6, 6), True),
        (33422, "B", 36, xtrans, True),
        (50710, "B", 3, (0, 1, 2), True),
    ]
    data = np.random.default_rng(3).integers(0, 16383, (48, 60), dtype=np.uint16)
    tifffile.imwrite(tmp_path / "xt.dng", data, photometric="cfa", extratags=tags)
    assert "X-Trans (6x6 CFA) is not supported" in _refusal(tmp_path / "xt.dng")


def test_truncated_file_is_one_line_and_libraw_stays_off_the_terminal(tmp_path):
    good = tmp_path / "good.dng"
    _good(good)
    cut = tmp_path / "cut.dng"
    cut.write_bytes(good.read_bytes()[:600])
    code = (
        "import sys\n"
        "from viewfinder.sources.rawfile import read_raw_file\n"
        "try:\n"
        f"    read_raw_file({str(cut)!r})\n"
        "except Exception as e:\n"
        "    print('ERR', e)\n"
    )
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert r.stderr == ""  # LibRaw's own lines are kept out of the terminal
    lines = r.stdout.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"ERR {cut}:")
    assert "Input/output error" not in lines[0] or "damaged or truncated" in lines[0]


def test_folder_reports_skipped_files_and_fails_when_none_plays(tmp_path, capsys):
    _good(tmp_path / "a.dng")
    (tmp_path / "b.dng").write_bytes(b"junk" * 100)
    (tmp_path / "c.dng").symlink_to(tmp_path / "nowhere.dng")
    src = RawFileSource(tmp_path, report=sys.stderr)
    for _ in range(3):
        src.read()
    assert set(src.errors) == {str(tmp_path / "b.dng"), str(tmp_path / "c.dng")}
    src.close()
    err = capsys.readouterr().err
    assert "skipped 2 of 3 files" in err and "b.dng" in err and "dangling link" in err
    bad = tmp_path / "bad"
    bad.mkdir()
    (bad / "x.dng").write_bytes(b"junk")
    with pytest.raises(SourceError) as e:
        RawFileSource(bad)
    assert "\n" not in str(e.value) and "x.dng" in str(e.value)


def test_cli_refusal_is_one_line(tmp_path):
    r = subprocess.run(
        [
            sys.executable,
            "-m",
            "viewfinder.cli",
            "run",
            "--headless",
            "--source",
            f"file:{tmp_path / 'nope.dng'}",
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert r.returncode != 0
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and "nope.dng" in lines[0] and "no such file" in lines[0], r.stderr
