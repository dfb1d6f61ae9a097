"""``viewfinder run --headless`` in a fresh process, with no display (EGL) when possible."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

REPO = Path(__file__).resolve().parents[2]


def _run(args, cwd, env_extra=None, drop_display=True, timeout=240):
    env = dict(os.environ)
    if drop_display:
        env.pop("DISPLAY", None)
        env.pop("WAYLAND_DISPLAY", None)
    env["PYTHONPATH"] = str(REPO) + os.pathsep + env.get("PYTHONPATH", "")
    env.update(env_extra or {})
    return subprocess.run(
        [sys.executable, "-m", "viewfinder.cli", *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


@pytest.mark.gl
def test_headless_run_writes_a_snapshot_and_prints_per_frame_figures(tmp_path):
    import cv2

    out = tmp_path / "shot.png"
    # EGL when there is no display; under xvfb-run an X display works just as well
    drop = not os.environ.get("DISPLAY") or os.environ.get("VF_TEST_EGL", "1") == "1"
    proc = _run(
        [
            "run",
            "--headless",
            "--frames",
            "4",
            "--size",
            "960x720",
            "--lens",
            "builtin",
            "--verbose",
            "--snapshot",
            str(out),
        ],
        tmp_path,
        drop_display=drop,
    )
    if proc.returncode != 0 and "no OpenGL for headless rendering" in proc.stderr:
        pytest.skip(f"no EGL here: {proc.stderr.strip()}")
    assert proc.returncode == 0, proc.stderr
    lines = [ln for ln in proc.stdout.splitlines() if ln.startswith("frame ")]
    assert len(lines) == 4 and all("ms" in ln and "fps" in ln for ln in lines)
    assert "presented 4 frames" in proc.stdout
    img = cv2.imread(str(out))
    assert img.shape == (720, 1280, 3)
    view = img[:, :900]  # the image area (the panels are on the right)
    assert view.std() > 20 and np.unique(view.reshape(-1, 3), axis=0).shape[0] > 1000
    assert sorted(p.name for p in tmp_path.iterdir()) == ["shot.png"]  # no imgui .ini


def test_window_without_display_is_one_line_and_nonzero(tmp_path):
    proc = _run(["run", "--frames", "1"], tmp_path)
    assert proc.returncode != 0
    err = proc.stderr.strip().splitlines()
    assert len(err) == 1 and "--headless" in err[0] and "xvfb-run" in err[0]


def test_unopenable_source_exits_nonzero_with_one_line(tmp_path):
    proc = _run(["run", "--headless", "--frames", "1", "--source", "v4l2:/dev/video99"], tmp_path)
    assert proc.returncode != 0
    err = proc.stderr.strip().splitlines()
    assert len(err) == 1 and "/dev/video99" in err[0]
    proc = _run(["run", "--headless", "--frames", "1", "--lens", "no-such-lens"], tmp_path)
    assert proc.returncode != 0 and "no-such-lens" in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1


@pytest.mark.gl
def test_window_mode_runs_under_a_display(tmp_path):
    """The glfw window with ImGui's glfw backend (under Xvfb in CI)."""
    import cv2

    if not os.environ.get("DISPLAY"):
        pytest.skip("needs an X display (run under xvfb-run)")
    out = tmp_path / "win.png"
    proc = _run(
        ["run", "--frames", "3", "--size", "960x720", "--snapshot", str(out)],
        tmp_path,
        drop_display=False,
    )
    assert proc.returncode == 0, proc.stderr
    img = cv2.imread(str(out))
    assert img.shape == (720, 1280, 3) and img[:, :900].std() > 20
    assert sorted(p.name for p in tmp_path.iterdir()) == ["win.png"]


@pytest.mark.gl
@pytest.mark.cudasim
def test_headless_run_on_cudasim_runs_the_device_path(tmp_path):
    """The whole program on the CUDA code path with no GPU: the simulated sensor's kernel,
    the fused develop, every default assist, the read-backs and the window's upload."""
    import cv2

    out = tmp_path / "shot.png"
    args = ["run", "--headless", "--backend", "cudasim", "--frames", "3"]
    args += ["--size", "320x240"]
    args.append("--verbose")  # a line a frame
    proc = _run([*args, "--snapshot", str(out)], tmp_path)
    if proc.returncode != 0 and "no OpenGL for headless rendering" in proc.stderr:
        pytest.skip(f"no EGL here: {proc.stderr.strip()}")
    assert proc.returncode == 0, proc.stderr
    assert "backend cudasim path cuda-tiled" in proc.stdout, proc.stdout
    frames = [ln for ln in proc.stdout.splitlines() if ln.startswith("frame ")]
    assert len(frames) == 3 and all("gpu_develop" in ln for ln in frames[1:]), frames
    img = cv2.imread(str(out))
    assert img is not None and img.std() > 20  # a picture, not a blank window


def _image_box(img):
    """Bounding box (x, y, w, h) of the pixels that are not the window's background."""
    bg = img[0, 0].astype(int)
    differs = np.abs(img.astype(int) - bg).max(axis=2) > 12
    ys, xs = np.nonzero(differs)
    return xs.min(), ys.min(), xs.max() - xs.min() + 1, ys.max() - ys.min() + 1


@pytest.mark.gl
def test_view_is_the_snapshot_size_and_the_image_keeps_its_aspect(tmp_path):
    import cv2

    out = tmp_path / "wide.png"
    args = ["run", "--headless", "--frames", "3", "--size", "960x720", "--view", "1920x1080"]
    proc = _run([*args, "--clean", "--snapshot", str(out)], tmp_path)
    if proc.returncode != 0 and "no OpenGL for headless rendering" in proc.stderr:
        pytest.skip(f"no EGL here: {proc.stderr.strip()}")
    assert proc.returncode == 0, proc.stderr
    img = cv2.imread(str(out))
    assert img.shape == (1080, 1920, 3)
    x, y, w, h = _image_box(img)
    assert h == 1080 and w / h == pytest.approx(4 / 3, abs=0.01)  # pillarboxed 4:3
    assert x == pytest.approx((1920 - w) / 2, abs=2)


@pytest.mark.gl
def test_headless_prints_a_status_line_a_second_not_a_line_a_frame(tmp_path):
    proc = _run(["run", "--headless", "--frames", "12", "--size", "640x480"], tmp_path)
    if proc.returncode != 0 and "no OpenGL for headless rendering" in proc.stderr:
        pytest.skip(f"no EGL here: {proc.stderr.strip()}")
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    assert not [ln for ln in lines if ln.startswith("frame ")]
    status = [ln for ln in lines if " frames | " in ln and "fps" in ln]
    assert len(status) <= max(2, len(lines))  # at most one a second of the run
    assert all("AE" in ln for ln in status)  # the exposure the camera took, AE's state


@pytest.mark.gl
def test_window_size_and_layout_are_remembered_in_the_config_folder(tmp_path):
    import json

    import cv2

    if not os.environ.get("DISPLAY"):
        pytest.skip("needs an X display (run under xvfb-run)")
    config = tmp_path / "config"
    env = {"XDG_CONFIG_HOME": str(config)}
    work = tmp_path / "work"
    work.mkdir()
    args = ["run", "--frames", "2", "--size", "640x480"]
    proc = _run([*args, "--view", "1000x640"], work, env_extra=env, drop_display=False)
    assert proc.returncode == 0, proc.stderr
    saved = json.loads((config / "viewfinder" / "viewer.json").read_text())
    assert saved["window"] == [1000, 640] and saved["layout"]["placement"] == "strip"
    saved["layout"]["placement"] = "top-right"
    (config / "viewfinder" / "viewer.json").write_text(json.dumps(saved))
    out = work / "again.png"
    proc = _run([*args, "--snapshot", str(out)], work, env_extra=env, drop_display=False)
    assert proc.returncode == 0, proc.stderr
    assert cv2.imread(str(out)).shape == (640, 1000, 3)  # the window it last had
    saved = json.loads((config / "viewfinder" / "viewer.json").read_text())
    assert saved["layout"]["placement"] == "top-right"
    assert sorted(p.name for p in work.iterdir()) == ["again.png"]  # nothing beside the work


def test_cudasim_without_a_compiler_is_one_line_before_any_work(tmp_path):
    proc = _run(
        ["run", "--headless", "--backend", "cudasim", "--frames", "2", "--size", "320x240"],
        tmp_path,
        env_extra={"CXX": "/nonexistent/g++"},
        timeout=60,
    )
    assert proc.returncode == 2
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and "'/nonexistent/g++' was not found" in lines[0], proc.stderr


@pytest.mark.gl
def test_a_headless_run_whose_every_frame_fails_ends_with_its_reason(tmp_path, monkeypatch):
    """A processing failure that recurs on every frame is said once and ends a headless run
    after --timeout (it used to print the same line per frame until killed)."""
    script = tmp_path / "fail.py"
    script.write_text(
        "import sys\n"
        "from viewfinder import pipeline, cli\n"
        "def broken(self, frame):\n"
        "    raise RuntimeError('kernel exploded')\n"
        "pipeline.Pipeline.process = broken\n"
        "sys.exit(cli.main(sys.argv[1:]))\n"
    )
    env = dict(os.environ, PYTHONPATH=str(REPO))
    env.pop("DISPLAY", None)
    proc = subprocess.run(
        [
            sys.executable,
            str(script),
            "run",
            "--headless",
            "--frames",
            "5",
            "--timeout",
            "2",
            "--size",
            "320x240",
        ],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    if proc.returncode != 0 and "no OpenGL for headless rendering" in proc.stderr:
        pytest.skip(f"no EGL here: {proc.stderr.strip()}")
    assert proc.returncode == 2, proc.stderr
    assert proc.stderr.count("kernel exploded") == 2, proc.stderr  # the note once, the reason once
    assert "processing failed: kernel exploded" in proc.stderr.strip().splitlines()[-1]
