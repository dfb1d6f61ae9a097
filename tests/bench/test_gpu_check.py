"""bench.gpu_check: the parsers, the install commands, the step runner, and whole runs on a
machine with no CUDA device (the cudasim run, and the GPU steps forced with --assume-gpu)."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from bench import gpu_check as gc
from viewfinder.backend import gpu_available

REPO = Path(__file__).resolve().parents[2]

JUNIT = """<?xml version="1.0" encoding="utf-8"?>
<testsuites><testsuite name="pytest" errors="1" failures="2" skipped="3" tests="10" time="1.0">
<testcase classname="tests.stages.test_a" name="test_ok" time="0.1"/>
<testcase classname="tests.stages.test_a" name="test_bad[1]" time="0.1">
  <failure message="assert 1 == 2">trace</failure></testcase>
<testcase classname="tests.render.test_b" name="test_bad2" time="0.1">
  <failure message="boom">trace</failure></testcase>
<testcase classname="tests.render.test_b" name="test_err" time="0.1">
  <error message="fixture">trace</error></testcase>
<testcase classname="tests.render.test_b" name="test_skip" time="0.0">
  <skipped message="needs a CUDA device"/></testcase>
</testsuite></testsuites>
"""


# -- pytest results


def test_parse_junit_counts_and_names_the_failures(tmp_path):
    path = tmp_path / "r.xml"
    path.write_text(JUNIT)
    got = gc.parse_junit(path)
    assert {k: got[k] for k in ("passed", "failed", "errors", "skipped", "total")} == {
        "passed": 4,
        "failed": 2,
        "errors": 1,
        "skipped": 3,
        "total": 10,
    }
    assert got["failures"] == [
        "tests/stages/test_a.py::test_bad[1]",
        "tests/render/test_b.py::test_bad2",
        "tests/render/test_b.py::test_err",
    ]


def test_parse_junit_single_testsuite_root_missing_and_broken(tmp_path):
    one = tmp_path / "one.xml"
    one.write_text('<testsuite tests="3" failures="0" errors="0" skipped="1"></testsuite>')
    assert gc.parse_junit(one)["passed"] == 2
    assert gc.parse_junit(tmp_path / "absent.xml") is None
    bad = tmp_path / "bad.xml"
    bad.write_text("<testsuites><testsuite")  # pytest killed while writing
    assert gc.parse_junit(bad) is None


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            "x\n===== 3 passed, 1 failed, 2 skipped, 5 deselected in 4.52s =====\n",
            {"passed": 3, "failed": 1, "skipped": 2, "deselected": 5, "errors": 0, "total": 6},
        ),
        (  # -q: no rules; singular "error", warnings counted apart
            "....\n12 passed, 1 error, 2 warnings in 0.31s\n",
            {"passed": 12, "errors": 1, "failed": 0, "warnings": 2, "total": 13},
        ),
        ("==== 68 skipped in 3.10s ====", {"skipped": 68, "passed": 0, "total": 68}),
        ("=== no tests ran in 0.01s ===", {"passed": 0, "failed": 0, "total": 0}),
        (
            "== 1 failed, 2 passed, 3 deselected in 1.00s (0:00:01) ==",
            {"failed": 1, "passed": 2, "deselected": 3, "total": 3},
        ),
    ],
)
def test_parse_pytest_closing_line(text, expected):
    got = gc.parse_pytest_output(text)
    assert got is not None
    for key, value in expected.items():
        assert got[key] == value, (key, got)


def test_parse_pytest_output_takes_the_last_closing_line_and_the_failed_ids():
    text = (
        "tests/a.py::test_x PASSED\n"
        "=== short test summary info ===\n"
        "PASSED tests/a.py::test_x\n"
        "FAILED tests/a.py::test_y - assert 0\n"
        "ERROR tests/b.py::test_z - fixture\n"
        "==== 1 failed, 1 passed, 1 error in 2.00s ====\n"
    )
    got = gc.parse_pytest_output(text)
    assert (got["passed"], got["failed"], got["errors"]) == (1, 1, 1)
    assert got["failures"] == ["tests/a.py::test_y", "tests/b.py::test_z"]
    assert gc.parse_pytest_output("collecting ...\nKilled\n") is None
    assert gc.parse_pytest_output("") is None


def test_pytest_counts_prefers_the_junit_file(tmp_path):
    path = tmp_path / "r.xml"
    path.write_text(JUNIT)
    assert gc.pytest_counts(path, "== 99 passed in 1.0s ==")["total"] == 10
    assert gc.pytest_counts(tmp_path / "absent.xml", "== 99 passed in 1.0s ==")["passed"] == 99
    assert gc.pytest_counts(None, "nothing") is None


# -- wheels and .deb files


def test_pip_install_command_names_each_wheel_once_from_the_folders_alone(tmp_path):
    a, b = tmp_path / "a", tmp_path / "b"
    a.mkdir()
    b.mkdir()
    for name in (
        "PyOpenGL-3.1.7-py3-none-any.whl",
        "imgui_bundle-1.93.0-cp312-cp312-manylinux_2_17_x86_64.whl",
        "glfw-2.7.0-py2.py27.py3.py30.py31.py32.py33.py34.py35.py36.py37.py38-none-manylinux2014_x86_64.whl",
        "glfw-2.8.0-py2.py27.py3.py30.py31.py32.py33.py34.py35.py36.py37.py38-none-manylinux2014_x86_64.whl",
        "libegl1_1.6.0-1_amd64.deb",
    ):
        (a / name).write_bytes(b"")
    (b / "rawpy-0.25.0-cp312-cp312-manylinux_2_17_x86_64.whl").write_bytes(b"")
    (b / "glfw-2.8.0-py3-none-any.whl").write_bytes(b"")
    cmd = gc.pip_install_command([a, b], tmp_path / "site", "/usr/bin/python3")
    assert cmd[:4] == ["/usr/bin/python3", "-m", "pip", "install"]
    for flag in ("--no-index", "--no-deps"):
        assert flag in cmd
    assert cmd[cmd.index("--target") + 1] == str(tmp_path / "site")
    links = [cmd[i + 1] for i, c in enumerate(cmd) if c == "--find-links"]
    assert links == [str(a), str(b)]
    names = cmd[cmd.index("--target") + 2 :]
    assert names == ["glfw", "imgui_bundle", "pyopengl", "rawpy"]  # one each; pip picks the newest
    assert gc.wheel_names(a) == ["glfw", "imgui_bundle", "pyopengl"]
    empty = tmp_path / "empty"
    empty.mkdir()
    assert gc.pip_install_command([empty], tmp_path / "site", "python") is None


def test_deb_unpack_commands_and_library_dirs(tmp_path):
    debs = tmp_path / "debs"
    debs.mkdir()
    for name in ("libglvnd0_1.6.0-1_amd64.deb", "libegl1_1.6.0-1_amd64.deb", "x.whl"):
        (debs / name).write_bytes(b"")
    prefix = tmp_path / "root"
    assert gc.deb_unpack_commands([debs], prefix) == [
        ["dpkg-deb", "-x", str(debs / "libegl1_1.6.0-1_amd64.deb"), str(prefix)],
        ["dpkg-deb", "-x", str(debs / "libglvnd0_1.6.0-1_amd64.deb"), str(prefix)],
    ]
    lib = prefix / "usr" / "lib" / "x86_64-linux-gnu"
    lib.mkdir(parents=True)
    (lib / "libEGL.so.1.1.0").write_bytes(b"")
    (lib / "libEGL.so.1").symlink_to("libEGL.so.1.1.0")
    (prefix / "usr" / "share" / "doc").mkdir(parents=True)
    assert gc.library_dirs(prefix) == [str(lib)]
    env = {"LD_LIBRARY_PATH": "/usr/local/nvidia/lib64:" + str(lib)}
    gc.prepend_path(env, "LD_LIBRARY_PATH", [str(lib)])
    assert env["LD_LIBRARY_PATH"] == f"{lib}:/usr/local/nvidia/lib64"


def test_egl_vendor_file_only_when_glvnd_would_find_no_vendor(tmp_path):
    nvidia = tmp_path / "10_nvidia.json"
    nvidia.write_text("{}")
    empty, full = tmp_path / "empty", tmp_path / "full"
    empty.mkdir()
    full.mkdir()
    (full / "50_mesa.json").write_text("{}")
    assert gc.egl_vendor_file({}, str(nvidia), (str(empty),)) == str(nvidia)
    assert gc.egl_vendor_file({}, str(nvidia), (str(full),)) is None
    assert gc.egl_vendor_file({}, str(tmp_path / "none.json"), (str(empty),)) is None
    set_already = {"__EGL_VENDOR_LIBRARY_FILENAMES": "x.json"}
    assert gc.egl_vendor_file(set_already, str(nvidia), (str(empty),)) is None


def _wheel(folder: Path, name: str, version: str) -> Path:
    """A minimal pure-Python wheel holding the module ``name``."""
    dist = f"{name}-{version}.dist-info"
    path = folder / f"{name}-{version}-py3-none-any.whl"
    files = {
        f"{name}.py": "VALUE = 42\n",
        f"{dist}/METADATA": f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n",
        f"{dist}/WHEEL": "Wheel-Version: 1.0\nGenerator: test\nRoot-Is-Purelib: true\n"
        "Tag: py3-none-any\n",
    }
    record = "".join(f"{f},,\n" for f in files) + f"{dist}/RECORD,,\n"
    with zipfile.ZipFile(path, "w") as z:
        for f, text in files.items():
            z.writestr(f, text)
        z.writestr(f"{dist}/RECORD", record)
    return path


@pytest.mark.skipif(shutil.which("dpkg-deb") is None, reason="needs dpkg-deb")
def test_setup_installs_the_wheels_and_unpacks_the_debs(tmp_path, monkeypatch):
    carried = tmp_path / "carried"
    carried.mkdir()
    _wheel(carried, "vf_probe_pkg", "0.1")
    pkg = tmp_path / "pkg"
    (pkg / "DEBIAN").mkdir(parents=True)
    (pkg / "DEBIAN" / "control").write_text(
        "Package: vf-fake-egl\nVersion: 1.0\nArchitecture: all\nMaintainer: t <t@t>\n"
        "Description: test\n"
    )
    lib = pkg / "usr" / "lib" / "x86_64-linux-gnu"
    lib.mkdir(parents=True)
    (lib / "libVfFake.so.1").write_bytes(b"\x7fELF")
    subprocess.run(
        ["dpkg-deb", "--build", str(pkg), str(carried / "vf-fake-egl_1.0_all.deb")],
        check=True,
        capture_output=True,
    )
    out = tmp_path / "out"
    out.mkdir()
    check = gc.Check(out, True, [carried], 120)
    try:
        check.setup()
        steps = {s.name: s for s in check.steps}
        assert steps["setup_wheels"].status == "ok", steps["setup_wheels"].tail
        assert steps["setup_debs"].status == "ok", steps["setup_debs"].tail
        site = check.work / "site"
        assert (site / "vf_probe_pkg.py").is_file()
        assert check.env["PYTHONPATH"].split(os.pathsep)[0] == str(site)
        libdir = check.work / "debroot" / "usr" / "lib" / "x86_64-linux-gnu"
        assert (libdir / "libVfFake.so.1").is_file()
        assert check.env["LD_LIBRARY_PATH"].split(os.pathsep)[0] == str(libdir)
        # the children see them
        probe = subprocess.run(
            [sys.executable, "-c", "import vf_probe_pkg; print(vf_probe_pkg.VALUE)"],
            env=check.env,
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert probe.stdout.strip() == "42", probe.stderr
    finally:
        shutil.rmtree(check.work, ignore_errors=True)


# -- the step runner


def test_a_step_past_its_timeout_is_killed_recorded_and_the_next_runs(tmp_path, monkeypatch):
    monkeypatch.setattr(
        gc, "KILL_SEQUENCE", ((signal.SIGINT, 1.0), (signal.SIGTERM, 1.0), (signal.SIGKILL, 2.0))
    )
    check = gc.Check(tmp_path, True, [], 120)
    try:
        stubborn = (
            "import signal, time; signal.signal(signal.SIGINT, signal.SIG_IGN); "
            "print('started', flush=True); time.sleep(60)"
        )
        step, output = check.run("hang", [sys.executable, "-c", stubborn], 1.5, min_s=0)
        assert step.status == "timeout" and "timed out" in step.note
        assert step.duration_s < 15
        assert "started" in output and step.tail[-1] == "started"
        crash = "import sys; print('bad things'); sys.exit(3)"
        step2, _ = check.run("crash", [sys.executable, "-c", crash], 30, min_s=0)
        assert (step2.status, step2.returncode, step2.note) == ("failed", 3, "bad things")
        step3, _ = check.run("fine", [sys.executable, "-c", "print('ok')"], 30, min_s=0)
        assert step3.status == "ok"
        step4, _ = check.run("missing", ["/nonexistent/program"], 30, min_s=0)
        assert step4.status == "error" and "cannot start" in step4.note
        saved = json.loads((tmp_path / gc.JSON_NAME).read_text())
        assert [s["status"] for s in saved["steps"]] == ["timeout", "failed", "ok", "error"]
        log = (tmp_path / gc.LOG_NAME).read_text()
        assert "===== hang: timeout" in log and "bad things" in log
    finally:
        shutil.rmtree(check.work, ignore_errors=True)


def test_a_step_is_skipped_when_the_budget_is_spent(tmp_path):
    check = gc.Check(tmp_path, True, [], 20)
    try:
        step, _ = check.run("late", [sys.executable, "-c", "print(1)"], 60, reserve_after=30)
        assert step.status == "skipped" and "out of time" in step.note
        assert step.status not in gc.FAILED
    finally:
        shutil.rmtree(check.work, ignore_errors=True)


# -- figures for the summary


def test_parse_headless_run():
    text = (
        "frame   59 seq   120 | develop 1.2 assists 0.4 total 1.9 ms | upload 0.3 draw 0.2 ui "
        "1.1 ms | 59.8 fps | latency 20 ms | dropped 0\n"
        "snapshot /o/view.png (1280x720)\n"
        "presented 60 frames in 1.50 s (40.0 fps incl. start) | backend cupy path cuda-fused "
        "upload cuda-gl-interop | GL NVIDIA H200/PCIe/SSE2 (egl)\n"
    )
    got = gc.parse_headless_run(text)
    assert got["upload"] == "interop" and got["upload_path"] == "cuda-gl-interop"
    assert got["gl_renderer"] == "NVIDIA H200/PCIe/SSE2" and got["gl_kind"] == "egl"
    assert got["frames"] == 60 and got["fps_last"] == 59.8 and got["backend"] == "cupy"
    assert got["stages_ms_last"] == {"develop": 1.2, "assists": 0.4, "total": 1.9}
    assert gc.upload_kind("pinned+pbo") == "pinned"
    assert gc.parse_headless_run("Traceback ...") == {}


def test_rows_from_each_benchmark_json():
    pipeline = {
        "results": [
            {
                "size": [8192, 6144],
                "cases": {
                    "cuda/mhc/view2048x1536": {
                        "median_ms": 2.0,
                        "stages_gpu_ms": {"gpu_upload": 0.01, "gpu_develop": 1.5},
                    },
                    "cuda/bilinear/view2048x1536": {"median_ms": 1.0},
                    "peer/opencv_vng": {"median_ms": 300.0},
                },
            }
        ]
    }
    rows = gc.pipeline_rows(pipeline)
    assert rows[0] == ("pipeline 8192x6144 cuda/mhc/view2048x1536", 2.0, 500.0, "")
    assert rows[1][0] == "pipeline 8192x6144 cuda/bilinear/view2048x1536"  # no peers
    assert "stages of cuda/mhc/view2048x1536" in rows[2][0]
    assert rows[3] == ("    gpu_upload", 0.01, None, "") and rows[4][1] == 1.5
    assert len(rows) == 5
    assists = {
        "gpu": {
            "8192x6144/view2048x1536": {
                "all": {"median_ms": 0.4},
                "peaking": {"median_ms": 0.2},
                "pipeline_off": {"median_ms": 1.6},
                "pipeline_all": {"median_ms": 2.0},
                "added_by_all_ms": 0.4,
            }
        }
    }
    assert [r[0].split()[-1] for r in gc.assists_rows(assists)] == [
        "all",
        "pipeline_off",
        "pipeline_all",
        "all",
    ]
    sim = {
        "gpu": {"size": [8192, 6144], "device_events": {"median_ms": 0.5}},
        "gpu_sizes": [
            {"size": [1920, 1080], "device_events": {"median_ms": 0.1}},
            {"size": [8192, 6144], "device_events": {"median_ms": 0.5}},
        ],
    }
    assert [r[0] for r in gc.sim_rows(sim)] == [
        "sim 1920x1080 read (CUDA events)",
        "sim 8192x6144 read (CUDA events)",
    ]
    assert gc.sim_rows({"gpu": sim["gpu"]})[0][2] == 2000.0  # one size: "gpu" alone
    view = {
        "frame_size": [8192, 6144],
        "window": [3840, 2160],
        "results": [
            {
                "assists": {"peaking": True, "zebra": False, "histogram": True},
                "present": {"median_ms": 4.0},
                "present_fps": 250.0,
                "live": {"new_frames_per_s": 120.0, "upload_path": "cuda-gl-interop"},
            }
        ],
    }
    vrows = gc.view_rows(view)
    assert vrows[0] == (
        "view 8192x6144 in 3840x2160 peaking+histogram present",
        4.0,
        250.0,
        "upload interop",
    )
    assert vrows[1][2] == 120.0
    assert gc.cudasim_rows({"skipped": "no runtime"})[0][3] == "skipped: no runtime"


def test_format_table_aligns_numbers_right():
    text = gc.format_table(["name", "ms"], [["a", "1.5"], ["long name", "12.25"]])
    lines = text.splitlines()
    assert lines[0].startswith("name") and lines[2].endswith("  1.5")
    assert len({len(line) for line in lines}) == 1


# -- whole runs


def _run_check(tmp_path: Path, *extra: str, timeout: float = 330) -> tuple:
    out = tmp_path / "out"
    env = dict(os.environ)
    env.pop("VIEWFINDER_BACKEND", None)
    proc = subprocess.run(
        [sys.executable, "-m", "bench.gpu_check", "--out", str(out), "--quick", *extra],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    files = [p for p in out.iterdir() if p.is_file()]
    report = json.loads((out / gc.JSON_NAME).read_text())
    return proc, out, files, report


@pytest.mark.slow
@pytest.mark.skipif(gpu_available(), reason="a CUDA device is here: this is the CPU run")
def test_cpu_run_says_so_first_runs_cudasim_and_writes_a_json(tmp_path):
    proc, out, files, report = _run_check(tmp_path)
    lines = proc.stdout.splitlines()
    assert lines and "no CUDA device" in lines[0], proc.stdout[:2000]
    assert len(files) <= gc.MAX_FILES
    assert {p.name for p in files} >= {gc.JSON_NAME, gc.LOG_NAME}
    steps = {s["name"]: s for s in report["steps"]}
    assert list(steps) == ["probe", "pytest_cudasim", "cudasim_bench"]
    assert report["mode"] == "cpu" and report["device"]["cuda"] is False
    assert all(
        s["status"] in ("ok", "skipped", "failed", "timeout", "error") for s in steps.values()
    )
    # exit 0 unless a step failed (a failing cudasim test, say)
    failed = [s for s in steps.values() if s["status"] in gc.FAILED]
    assert proc.returncode == (1 if failed else 0), (proc.stdout[-3000:], proc.stderr[-3000:])
    assert report["exit_code"] == proc.returncode
    assert report["tests"] is not None  # counted, even if the marker selects nothing
    assert "gpu_check summary: no CUDA device" in proc.stdout
    assert "tests: " in proc.stdout and "passed" in proc.stdout
    assert any(ln.startswith("step ") for ln in lines)
    bench = report["benchmarks"].get("cudasim_bench", {})
    if steps["cudasim_bench"]["status"] == "ok":
        assert "figure" in proc.stdout and "cudasim 128x96" in proc.stdout
        case = next(iter(bench["cases"].values()))
        assert case["median_ms"] > 0
    else:
        assert steps["cudasim_bench"]["note"]


@pytest.mark.slow
@pytest.mark.skipif(gpu_available(), reason="a CUDA device is here: the GPU steps would run")
def test_gpu_steps_forced_on_a_cpu_machine_fail_one_by_one_and_the_run_goes_on(tmp_path):
    """--assume-gpu: the GPU tests skip, the view renders on Mesa's EGL (or fails without
    it), the --gpu-only benchmarks fail at once; each is recorded and the run ends non-zero."""
    proc, out, files, report = _run_check(tmp_path, "--assume-gpu")
    assert proc.returncode == 1, proc.stdout[-3000:]
    assert len(files) <= gc.MAX_FILES
    names = [s["name"] for s in report["steps"]]
    assert names == [
        "probe",
        "pytest_gpu",
        "view_egl",
        "bench_pipeline",
        "bench_assists",
        "bench_sim",
        "bench_view_50mp",
    ]
    steps = {s["name"]: s for s in report["steps"]}
    assert steps["pytest_gpu"]["status"] == "ok"  # every gpu test skips here
    assert report["tests"]["passed"] == 0 and report["tests"]["skipped"] > 0
    assert (out / "pytest-gpu.xml").is_file()
    for name in ("bench_pipeline", "bench_assists", "bench_sim", "bench_view_50mp"):
        assert steps[name]["status"] == "failed" and steps[name]["note"], steps[name]
    view = steps["view_egl"]
    if view["status"] == "ok":
        assert (out / gc.VIEW_PNG).is_file()
        assert view["figures"]["upload"] in ("pbo", "pinned")
        assert "not CUDA-GL interop" in view["note"]
    assert "FAILED: bench_pipeline" in proc.stdout
    log = (out / gc.LOG_NAME).read_text()
    assert "no CUDA device (CuPy) here" in log  # the failing step's output is in the log
