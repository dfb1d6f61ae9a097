"""What the CLI says reads as a photographer would: sizes as 641x481 (never a Python tuple),
counts in the singular for one, shutter speeds as a camera marks them."""

from __future__ import annotations

import re

import pytest

from viewfinder.app import shutter_text
from viewfinder.cli import main

TUPLE = re.compile(r"\(\d+, \d+\)")


def _error(capsys, *argv: str) -> str:
    assert main(list(argv)) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1, err
    assert not TUPLE.search(err[0]), err[0]
    return err[0]


@pytest.mark.parametrize("size", ["641x481", "10000x8000"])
def test_a_size_the_simulated_sensor_cannot_give_is_said_as_wxh(capsys, tmp_path, size):
    for command in (["capture", "--out", str(tmp_path)], ["run", "--headless", "--frames", "1"]):
        line = _error(capsys, *command, "--size", size)
        assert line.endswith(
            "--size must be an even WIDTHxHEIGHT from 4x4 to 8192x6144 for the simulated "
            f"camera, got {size}"
        )  # before: "sensor output size must be even, ..., got (641, 481)"


def test_sources_that_play_at_their_own_size_name_the_size_asked_for(capsys, tmp_path):
    line = _error(
        capsys, "capture", "--source", f"file:{tmp_path}", "--size", "640x480", "--out", "x"
    )
    assert line.endswith("file source plays files at their own size; got --size 640x480")
    line = _error(
        capsys, "capture", "--source", "cam:/no/such.mp4", "--size", "640x480", "--out", "x"
    )
    assert line.endswith("video files play at their own size; got size 640x480")


def test_the_capture_summary_names_the_format_and_counts_in_the_singular(capsys, tmp_path):
    assert main(["capture", "--size", "64x48", "--out", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert out.startswith(f"wrote 1 DNG file to {tmp_path} in ")  # was "wrote 1 dng files"
    assert "waited on the disk 0 times" not in out
    assert (
        main(
            [
                "capture",
                "--size",
                "64x48",
                "--count",
                "2",
                "--format",
                "png16",
                "--out",
                str(tmp_path),
            ]
        )
        == 0
    )
    assert capsys.readouterr().out.startswith("wrote 2 16-bit PNG files to ")


def test_shutter_speeds_read_as_a_camera_marks_them():
    assert shutter_text(1 / 125) == "1/125 s"
    assert shutter_text(1 / 95.3) == "1/95 s"
    assert shutter_text(0.4) == "1/2.5 s"
    assert shutter_text(1.0) == "1 s" and shutter_text(2.0) == "2 s"  # was "1/0 s" at 2 s


def test_a_camera_frame_that_is_not_8_bit_colour_is_said_in_words():
    import numpy as np

    from viewfinder.sources.cvcapture import OpenCVSource

    src = OpenCVSource.__new__(OpenCVSource)  # just the frame check: no camera needed
    src.path, src.corrupt, src.width, src.height, src.error = "cam:0", 0, 0, 0, None
    src._deliver(np.zeros((480, 640, 3), np.uint16))
    assert src.corrupt == 1
    assert src.error == "cam:0: skipped a 640x480 frame of 3 16-bit channels, not 8-bit colour"
