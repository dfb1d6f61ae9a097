"""One-command GPU acceptance run: the GPU tests, the headless EGL view and the benchmarks.

    python -m bench.gpu_check --out DIR [--wheels DIR ...] [--quick]

With a CUDA device (CuPy finds one), in at most 8 minutes on an H100/H200:

1. ``pytest -m gpu`` (counts from its JUnit XML, falling back to its closing line);
2. ``viewfinder run --headless`` through EGL with no display: a screenshot (view.png) and the
   upload path the window used (CUDA-GL ``interop``, or ``pinned`` host memory);
3. the pipeline, assists, simulated-camera and live-view benchmarks at 1920x1080 and
   8192x6144 (``bench_pipeline``, ``bench_assists``, ``bench_sim``, ``bench_view``).

Without one (a CPU machine, CI), the first line of output says so, and it runs the tests that
execute the CUDA code on the CPU runtime (``pytest -m cudasim``) and a short cudasim pipeline
benchmark (small frame, ms per frame and the stand-in's counters) in under 5 minutes.

Every step is a child process with its own timeout (interrupted, then killed, with its process
group), so one hang cannot eat the budget; a step that fails, crashes or times out is recorded
with the end of its output and the next step runs. ``--wheels DIR`` (repeatable) installs the
wheels in DIR first (``pip install --no-index --find-links DIR --no-deps --target ...``, the
target put on the children's PYTHONPATH) and unpacks the ``.deb`` files in DIR (the GL loaders)
with ``dpkg-deb -x`` into a prefix put on LD_LIBRARY_PATH.

At most 8 files are written directly under DIR: gpu_check.log (every step's command and whole
output), gpu_check.json (device, versions, each step's status, duration and figures, the
benchmark JSONs merged in), pytest-gpu.xml or pytest-cudasim.xml, and view.png. It ends with a
summary table on stdout and exits non-zero when a step failed.
"""

from __future__ import annotations

import argparse
import datetime as _dt
import json
import os
import platform
import re
import shlex
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import xml.etree.ElementTree as ET
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from viewfinder.bench.report import format_table

ROOT = Path(__file__).resolve().parents[1]
LOG_NAME = "gpu_check.log"
JSON_NAME = "gpu_check.json"
VIEW_PNG = "view.png"
MAX_FILES = 8
#: Seconds for the whole run: with a GPU (the acceptance limit is 8 minutes) and without.
GPU_BUDGET_S = 460.0
CPU_BUDGET_S = 270.0
#: Kept back at the end of the budget for writing the JSON and the summary.
RESERVE_S = 5.0
#: Lines of a step's output kept in the JSON (the log keeps all of it).
TAIL_LINES = 25
FAILED = ("failed", "timeout", "error")
BENCH_RESULTS_ENV = "VIEWFINDER_BENCH_RESULTS"  # = bench.harness.RESULTS_ENV (no import here)
GPU_SIZES = ("1920x1080", "8192x6144")
CUDASIM_SIZE = (256, 192)
CUDASIM_FRAMES = 4
NVIDIA_EGL_VENDOR = "/usr/local/nvidia/share/glvnd/egl_vendor.d/10_nvidia.json"
EGL_VENDOR_DIRS = ("/etc/glvnd/egl_vendor.d", "/usr/share/glvnd/egl_vendor.d")
#: Distributions whose versions the JSON records (those absent are left out).
DISTRIBUTIONS = (
    "cupy-cuda13x",
    "cupy-cuda12x",
    "cuda-core",
    "cuda-bindings",
    "nvidia-cuda-nvrtc",
    "numpy",
    "numba",
    "opencv-python-headless",
    "opencv-python",
    "scikit-image",
    "tifffile",
    "rawpy",
    "PyOpenGL",
    "glfw",
    "imgui-bundle",
    "linuxpy",
    "colour-demosaicing",
    "nvidia-npp",
    "pytest",
    "pytest-timeout",
)


# ---------------------------------------------------------------------------------------------
# Pure helpers (unit-tested)


def parse_junit(path: str | os.PathLike[str]) -> dict[str, Any] | None:
    """Counts from a pytest JUnit XML file, or ``None`` when it is missing or unreadable.

    Returns ``{"passed", "failed", "errors", "skipped", "total", "failures": [test ids]}``.
    """
    try:
        root = ET.parse(path).getroot()
    except (OSError, ET.ParseError):
        return None
    suites = [root] if root.tag == "testsuite" else root.findall("testsuite")
    if not suites:
        return None
    total = failed = errors = skipped = 0
    for s in suites:
        total += int(s.get("tests", 0))
        failed += int(s.get("failures", 0))
        errors += int(s.get("errors", 0))
        skipped += int(s.get("skipped", 0))
    failures = []
    for case in root.iter("testcase"):
        if case.find("failure") is not None or case.find("error") is not None:
            cls, name = case.get("classname", ""), case.get("name", "")
            failures.append(f"{cls.replace('.', '/')}.py::{name}" if cls else name)
    return {
        "passed": total - failed - errors - skipped,
        "failed": failed,
        "errors": errors,
        "skipped": skipped,
        "total": total,
        "failures": failures,
    }


_COUNT_RE = re.compile(
    r"(\d+) (passed|failed|skipped|errors?|deselected|xfailed|xpassed|warnings?)\b"
)
_CLOSING_RE = re.compile(r"\bin [\d.]+s\b|no tests ran")


def parse_pytest_output(text: str) -> dict[str, Any] | None:
    """Counts from pytest's closing line (``== 3 passed, 1 failed, 2 skipped in 4.5s ==``,
    or the same without the rules under ``-q``); ``None`` when there is none."""
    for line in reversed(text.splitlines()):
        if not _CLOSING_RE.search(line):
            continue
        counts = {"passed": 0, "failed": 0, "errors": 0, "skipped": 0, "deselected": 0}
        for n, word in _COUNT_RE.findall(line):
            key = {"error": "errors", "warning": "warnings"}.get(word, word)
            counts[key] = counts.get(key, 0) + int(n)
        if "no tests ran" in line or any(counts.values()):
            counts["total"] = sum(
                counts.get(k, 0) for k in ("passed", "failed", "errors", "skipped")
            )
            counts["failures"] = re.findall(r"^(?:FAILED|ERROR) (\S+)", text, re.M)
            return counts
    return None


def pytest_counts(junit: str | os.PathLike[str] | None, output: str) -> dict[str, Any] | None:
    """The JUnit XML's counts when it was written, else those of the closing line."""
    counts = parse_junit(junit) if junit else None
    return counts if counts is not None else parse_pytest_output(output)


def wheel_names(folder: str | os.PathLike[str]) -> list[str]:
    """Distribution names of the wheels in ``folder`` (one each, sorted)."""
    names = {p.name.split("-")[0].lower() for p in Path(folder).glob("*.whl")}
    return sorted(names)


def pip_install_command(
    folders: list[str | os.PathLike[str]], target: str | os.PathLike[str], python: str
) -> list[str] | None:
    """``pip install`` of every wheel in ``folders`` from those folders alone into ``target``
    (no index, no dependencies: the machine reaches no registry), or ``None`` if none."""
    names: list[str] = []
    for folder in folders:
        names += [n for n in wheel_names(folder) if n not in names]
    if not names:
        return None
    cmd = [python, "-m", "pip", "install", "-q", "--no-index", "--no-deps", "--no-compile"]
    cmd += ["--no-cache-dir", "--upgrade", "--disable-pip-version-check"]
    for folder in folders:
        cmd += ["--find-links", str(folder)]
    return [*cmd, "--target", str(target), *names]


def deb_unpack_commands(
    folders: list[str | os.PathLike[str]], prefix: str | os.PathLike[str]
) -> list[list[str]]:
    """One ``dpkg-deb -x FILE PREFIX`` per ``.deb`` file in ``folders``."""
    debs = [p for folder in folders for p in sorted(Path(folder).glob("*.deb"))]
    return [["dpkg-deb", "-x", str(p), str(prefix)] for p in debs]


def library_dirs(prefix: str | os.PathLike[str]) -> list[str]:
    """Folders under ``prefix`` that hold shared libraries (``*.so*``), shallowest first."""
    found = {str(p.parent) for p in Path(prefix).rglob("*.so*") if p.is_file() or p.is_symlink()}
    return sorted(found, key=lambda d: (d.count(os.sep), d))


def prepend_path(env: dict[str, str], key: str, entries: list[str]) -> None:
    """Put ``entries`` in front of the path list ``env[key]`` (no duplicates, no empties)."""
    old = [p for p in env.get(key, "").split(os.pathsep) if p]
    env[key] = os.pathsep.join([*entries, *[p for p in old if p not in entries]])


def egl_vendor_file(
    env: dict[str, str],
    nvidia_json: str = NVIDIA_EGL_VENDOR,
    default_dirs: tuple[str, ...] = EGL_VENDOR_DIRS,
) -> str | None:
    """The NVIDIA EGL vendor file to name in ``__EGL_VENDOR_LIBRARY_FILENAMES`` when glvnd
    would not find a vendor in its default folders (the lent machines keep NVIDIA's under
    /usr/local/nvidia), else ``None``."""
    if env.get("__EGL_VENDOR_LIBRARY_FILENAMES") or env.get("__EGL_VENDOR_LIBRARY_DIRS"):
        return None
    if any(Path(d).is_dir() and any(Path(d).glob("*.json")) for d in default_dirs):
        return None
    return nvidia_json if Path(nvidia_json).is_file() else None


def upload_kind(path: str | None) -> str | None:
    """``"interop"`` / ``"pinned"`` / ``"pbo"`` from a viewer's upload path name."""
    if not path:
        return None
    return {"cuda-gl-interop": "interop", "pinned+pbo": "pinned", "pbo": "pbo"}.get(path, path)


def parse_headless_run(text: str) -> dict[str, Any]:
    """Figures from ``viewfinder run --headless`` output: upload path, GL renderer, fps."""
    out: dict[str, Any] = {}
    m = re.search(
        r"presented (\d+) frames? in ([\d.]+) s \(([\d.]+) fps incl\. start\) \| backend (\S+) "
        r"path (\S+) upload (\S+) \| GL (.*) \((\w+)\)\s*$",
        text,
        re.M,
    )
    if m:
        out.update(
            frames=int(m[1]),
            seconds=float(m[2]),
            fps_incl_start=float(m[3]),
            backend=m[4],
            pipeline_path=m[5],
            upload_path=m[6],
            upload=upload_kind(m[6]),
            gl_renderer=m[7],
            gl_kind=m[8],
        )
    frames = re.findall(r"^frame .*\| ([\d.]+) fps \|", text, re.M)
    if frames:
        out["fps_last"] = float(frames[-1])
    stages = re.findall(r"^frame +\d+ seq +\d+ \| (.*?) ms \|", text, re.M)
    if stages:  # the last frame's per-stage times, "name value name value ..."
        words = stages[-1].split()
        try:
            out["stages_ms_last"] = {
                words[i]: float(words[i + 1]) for i in range(0, len(words) - 1, 2)
            }
        except ValueError:
            pass
    return out


def _num(x: Any) -> float | None:
    return float(x) if isinstance(x, int | float) else None


def pipeline_rows(payload: dict[str, Any]) -> list[tuple[str, float | None, float | None, str]]:
    rows = []
    for res in payload.get("results", []):
        w, h = res["size"]
        cases = {k: v for k, v in res.get("cases", {}).items() if not k.startswith("peer/")}
        for case, r in cases.items():
            ms = _num(r.get("median_ms"))
            rows.append((f"pipeline {w}x{h} {case}", ms, 1e3 / ms if ms else None, ""))
        # the stages of the first case with every assist on (else the first with stages)
        staged = [k for k, v in cases.items() if v.get("stages_gpu_ms")]
        staged.sort(key=lambda k: "+assists" not in k)
        if staged:
            rows.append((f"  stages of {staged[0]} (CUDA events):", None, None, ""))
            for stage, v in cases[staged[0]]["stages_gpu_ms"].items():
                rows.append((f"    {stage}", _num(v), None, ""))
    return rows


def assists_rows(payload: dict[str, Any]) -> list[tuple[str, float | None, float | None, str]]:
    rows = []
    for key, cases in (payload.get("gpu") or {}).items():
        for name in ("all", "pipeline_off", "pipeline_all"):
            if name in cases:
                ms = _num(cases[name].get("median_ms"))
                fps = 1e3 / ms if ms and name.startswith("pipeline") else None
                rows.append((f"assists {key} {name}", ms, fps, ""))
        if "added_by_all_ms" in cases:
            rows.append((f"assists {key} added by all", _num(cases["added_by_all_ms"]), None, ""))
    return rows


def sim_rows(payload: dict[str, Any]) -> list[tuple[str, float | None, float | None, str]]:
    rows = []
    gpus = payload.get("gpu_sizes") or ([payload["gpu"]] if payload.get("gpu") else [])
    for g in gpus:
        w, h = g.get("size", (8192, 6144))
        for key, label in (
            ("device_events", "read (CUDA events)"),
            ("device_wall", "read (wall, synced)"),
            ("host_wall", "read + copy to host"),
            ("device_aperture_change_and_read", "aperture change + read"),
        ):
            if key in g:
                ms = _num(g[key].get("median_ms"))
                rows.append((f"sim {w}x{h} {label}", ms, 1e3 / ms if ms else None, ""))
    return rows


def view_rows(payload: dict[str, Any]) -> list[tuple[str, float | None, float | None, str]]:
    rows = []
    fw, fh = payload.get("frame_size", ("?", "?"))
    ww, wh = payload.get("window", ("?", "?"))
    for r in payload.get("results", []):
        a = r.get("assists", {})
        tag = "+".join(k for k in ("peaking", "zebra", "histogram") if a.get(k)) or "plain"
        live = r.get("live", {})
        note = f"upload {upload_kind(live.get('upload_path'))}"
        label = f"view {fw}x{fh} in {ww}x{wh} {tag}"
        ms = _num(r.get("present", {}).get("median_ms"))
        rows.append((f"{label} present", ms, _num(r.get("present_fps")), note))
        rows.append((f"{label} live", None, _num(live.get("new_frames_per_s")), note))
    return rows


def cudasim_rows(payload: dict[str, Any]) -> list[tuple[str, float | None, float | None, str]]:
    if payload.get("skipped"):
        return [("cudasim pipeline", None, None, f"skipped: {payload['skipped']}")]
    w, h = payload["size"]
    rows = []
    for case, r in payload.get("cases", {}).items():
        c = r.get("counters") or {}
        note = ", ".join(f"{k} {c[k]}" for k in ("launches", "host_syncs", "allocations") if k in c)
        ms = _num(r.get("median_ms"))
        rows.append((f"cudasim {w}x{h} {case}", ms, 1e3 / ms if ms else None, note))
    return rows


ROWS = {
    "bench_pipeline": pipeline_rows,
    "bench_assists": assists_rows,
    "bench_sim": sim_rows,
    "bench_view_1080p": view_rows,
    "bench_view_50mp": view_rows,
    "cudasim_bench": cudasim_rows,
}


def _fmt(x: float | None, digits: int) -> str:
    return "" if x is None else f"{x:.{digits}f}"


# ---------------------------------------------------------------------------------------------
# Child modes: the device probe and the cudasim benchmark (run in their own processes)


def _cuda_version(v: int) -> str:
    return f"{v // 1000}.{v % 1000 // 10}"


def probe() -> dict[str, Any]:
    """What CUDA device there is (if any), the driver and runtime, and the versions."""
    from importlib import metadata

    info: dict[str, Any] = {"cuda": False, "versions": {}}
    for dist in DISTRIBUTIONS:
        try:
            info["versions"][dist] = metadata.version(dist)
        except metadata.PackageNotFoundError:
            pass
    smi = shutil.which("nvidia-smi")
    if smi:
        try:
            q = subprocess.run(
                [smi, "--query-gpu=name,driver_version", "--format=csv,noheader"],
                capture_output=True,
                text=True,
                timeout=20,
            )
            info["nvidia_smi"] = q.stdout.strip() or q.stderr.strip()
        except (OSError, subprocess.SubprocessError) as exc:
            info["nvidia_smi"] = f"failed: {exc}"
    try:
        import cupy
    except Exception as exc:
        info["reason"] = f"CuPy does not import ({type(exc).__name__}: {exc})"
        return info
    info["cupy"] = cupy.__version__
    try:
        count = cupy.cuda.runtime.getDeviceCount() if cupy.cuda.is_available() else 0
    except Exception as exc:
        info["reason"] = f"CuPy finds no CUDA device ({type(exc).__name__}: {exc})"
        return info
    if count < 1:
        info["reason"] = "CuPy finds no CUDA device (cupy.cuda.is_available() is False)"
        return info
    rt = cupy.cuda.runtime
    props = rt.getDeviceProperties(0)
    name = props["name"]
    info.update(
        cuda=True,
        device_count=count,
        name=name.decode() if isinstance(name, bytes) else str(name),
        compute_capability=f"{props['major']}.{props['minor']}",
        memory_gib=round(props["totalGlobalMem"] / 2**30, 1),
        multiprocessors=props["multiProcessorCount"],
        driver_cuda_version=_cuda_version(rt.driverGetVersion()),
        runtime_version=_cuda_version(rt.runtimeGetVersion()),
    )
    if "nvidia_smi" in info and "," in info["nvidia_smi"]:
        info["driver_version"] = info["nvidia_smi"].splitlines()[0].split(",")[-1].strip()
    try:
        x = cupy.arange(1024, dtype=cupy.float32)
        info["smoke_test"] = bool(float(x.sum()) == 523776.0)
    except Exception as exc:
        info["smoke_test"] = False
        info["smoke_error"] = f"{type(exc).__name__}: {exc}"
    return info


def cudasim_bench(width: int, height: int, frames: int) -> dict[str, Any]:
    """The pipeline on the cudasim backend: ms per frame and the stand-in's counters.

    Cases: the raw frame already on the "device" (as bench_pipeline times the GPU), with and
    without every assist, and a host frame (one upload a frame). Each case's counters are
    those of its last frame (the hot path should wait on the host and allocate nothing).
    Reports ``{"skipped": why}`` when :mod:`viewfinder.cudasim` cannot run the pipeline's
    kernels yet (it does not import, or the first frame fails)."""
    import importlib

    import numpy as np

    try:
        xp = importlib.import_module("viewfinder.cudasim")
        if not hasattr(xp, "RawModule"):
            return {"skipped": "viewfinder.cudasim has no RawModule yet"}
    except Exception as exc:
        return {"skipped": f"viewfinder.cudasim does not import ({type(exc).__name__}: {exc})"}
    from bench.bench_pipeline import all_assists, synthetic_raw
    from viewfinder import Frame, Settings
    from viewfinder.pipeline import Pipeline

    try:
        from viewfinder.cudasim.counters import counters as all_counters
        from viewfinder.cudasim.counters import counting
    except Exception:
        all_counters, counting = None, None

    raw = synthetic_raw(width, height)
    meta = {"white_balance": (1.8, 1.0, 1.5)}
    host = Frame(raw, "RGGB", 64, 1023, 10, meta=meta)
    view = (width // 2 // 2 * 2, height // 2 // 2 * 2)
    plain = Settings(demosaic="mhc", view_size=view)
    tag = f"view{view[0]}x{view[1]}"

    def sync() -> None:
        try:
            xp.cuda.Stream.null.synchronize()
        except Exception:
            pass

    out: dict[str, Any] = {"size": [width, height], "view": list(view), "cases": {}}
    t0 = time.perf_counter()
    try:
        device = Frame(xp.asarray(raw), "RGGB", 64, 1023, 10, meta=meta)
        pipe = Pipeline(plain, backend="cudasim")
        pipe.process(device)  # builds (or loads) the kernels, allocates the buffers
        sync()
    except Exception as exc:
        return {"skipped": f"cudasim cannot run the pipeline yet ({type(exc).__name__}: {exc})"}
    out["first_frame_ms"] = (time.perf_counter() - t0) * 1e3
    cases = [
        (f"mhc/{tag}", plain, device),
        (f"mhc+assists/{tag}", all_assists(plain), device),
        (f"mhc/{tag} host frame", plain, host),
    ]
    for name, settings, frame in cases:
        pipe = Pipeline(settings, backend="cudasim")
        pipe.process(frame)  # warm-up: buffers
        sync()
        samples, counts = [], None
        for i in range(frames):
            t0 = time.perf_counter()
            if counting is not None and i == frames - 1:
                with counting() as c:  # process() alone
                    result = pipe.process(frame)
                    counts = c.summary()
            else:
                result = pipe.process(frame)
            sync()
            samples.append((time.perf_counter() - t0) * 1e3)
        out["cases"][name] = {
            "median_ms": statistics.median(samples),
            "min_ms": min(samples),
            "n": len(samples),
            "counters": counts,
            "view_mean": float(np.asarray(result.view.get()).mean()),
        }
    if all_counters is not None:
        out["kernels_executed"] = dict(all_counters.executed)
    return out


# ---------------------------------------------------------------------------------------------
# The run


@dataclass
class Step:
    name: str
    command: list[str]
    status: str = "pending"  # ok | failed | timeout | error | skipped
    duration_s: float = 0.0
    timeout_s: float | None = None
    returncode: int | None = None
    note: str = ""
    figures: dict[str, Any] = field(default_factory=dict)
    tail: list[str] = field(default_factory=list)


#: How a step past its timeout is ended: each signal to its process group, then that many
#: seconds' wait. SIGINT first: pytest then writes its JUnit XML and closing line.
KILL_SEQUENCE = ((signal.SIGINT, 10.0), (signal.SIGTERM, 5.0), (signal.SIGKILL, 5.0))


def _kill_group(proc: subprocess.Popen[bytes]) -> None:
    """Send :data:`KILL_SEQUENCE` to the child's process group until the child has ended."""
    for sig, wait in KILL_SEQUENCE:
        try:
            os.killpg(proc.pid, sig)
        except ProcessLookupError:
            return
        try:
            proc.wait(wait)
            return
        except subprocess.TimeoutExpired:
            continue


class Check:
    def __init__(self, out: Path, quick: bool, wheels: list[Path], budget_s: float) -> None:
        self.out, self.quick, self.wheels = out, quick, wheels
        self.t0 = time.monotonic()
        self.deadline = self.t0 + budget_s
        self.steps: list[Step] = []
        self.work = Path(tempfile.mkdtemp(prefix="gpu_check-"))
        self.log_path = out / LOG_NAME
        self.json_path = out / JSON_NAME
        self.log_path.write_text("")
        #: Progress lines held back until the first line (which names the device) is out.
        self.pending: list[str] | None = []
        self.env = dict(os.environ)
        self.env["PYTHONUNBUFFERED"] = "1"
        prepend_path(self.env, "PYTHONPATH", [str(ROOT)])
        self.report: dict[str, Any] = {
            "tool": "bench.gpu_check",
            "started": _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds"),
            "command": [sys.executable, "-m", "bench.gpu_check", *sys.argv[1:]],
            "quick": quick,
            "budget_s": budget_s,
            "host": {
                "python": platform.python_version(),
                "platform": platform.platform(),
                "cpu_count": os.cpu_count(),
            },
            "mode": None,
            "device": {},
            "tests": None,
            "steps": [],
            "benchmarks": {},
            "summary": [],
        }

    # -- bookkeeping

    def log(self, text: str) -> None:
        with open(self.log_path, "a", encoding="utf-8") as f:
            f.write(text if text.endswith("\n") else text + "\n")

    def save(self) -> None:
        self.report["steps"] = [asdict(s) for s in self.steps]
        self.report["elapsed_s"] = round(time.monotonic() - self.t0, 1)
        tmp = self.work / (JSON_NAME + ".tmp")
        tmp.write_text(json.dumps(self.report, indent=2, default=str))
        shutil.copyfile(tmp, self.json_path)

    def remaining(self) -> float:
        return self.deadline - time.monotonic()

    # -- one child process

    def run(
        self,
        name: str,
        cmd: list[str],
        timeout: float,
        *,
        env: dict[str, str] | None = None,
        cwd: Path | None = None,
        reserve_after: float = 0.0,
        min_s: float = 10.0,
    ) -> tuple[Step, str]:
        """Run ``cmd`` as step ``name``; its output goes to the log and is returned.

        The timeout is ``timeout`` or less: what is left of the budget after
        ``reserve_after`` seconds kept for the steps that follow."""
        step = Step(name, [str(c) for c in cmd])
        self.steps.append(step)
        allowed = min(timeout, self.remaining() - RESERVE_S - reserve_after)
        if allowed < min_s:
            step.status, step.note = "skipped", f"out of time ({self.remaining():.0f} s left)"
            self.log(f"\n===== {name}: skipped, {step.note}")
            self.save()
            return step, ""
        step.timeout_s = round(allowed, 1)
        self.log(f"\n===== {name} (timeout {allowed:.0f} s): {' '.join(step.command)}")
        with open(self.log_path, "rb") as f:
            start = f.seek(0, os.SEEK_END)
        t0 = time.monotonic()
        try:
            with open(self.log_path, "ab") as logf:
                proc = subprocess.Popen(
                    step.command,
                    stdin=subprocess.DEVNULL,
                    stdout=logf,
                    stderr=subprocess.STDOUT,
                    env=env or self.env,
                    cwd=str(cwd or ROOT),
                    start_new_session=True,
                )
                try:
                    step.returncode = proc.wait(allowed)
                    step.status = "ok" if step.returncode == 0 else "failed"
                except subprocess.TimeoutExpired:
                    _kill_group(proc)
                    step.returncode = proc.poll()
                    step.status = "timeout"
                    step.note = f"timed out after {allowed:.0f} s"
        except OSError as exc:
            step.status, step.note = "error", f"cannot start: {exc}"
        step.duration_s = round(time.monotonic() - t0, 2)
        with open(self.log_path, "rb") as f:
            f.seek(start)
            output = f.read().decode("utf-8", "replace")
        step.tail = output.splitlines()[-TAIL_LINES:]
        if step.status in FAILED and not step.note:  # the last line usually says why
            last = [ln.strip() for ln in step.tail if ln.strip()]
            step.note = last[-1][:200] if last else "no output"
        self.log(
            f"===== {name}: {step.status} in {step.duration_s:.1f} s (exit {step.returncode})"
            + (f": {step.note}" if step.note else "")
        )
        self.save()
        return step, output

    def say(self, step: Step, text: str = "") -> None:
        extra = text or step.note
        line = f"  [{step.name}] {step.status} in {step.duration_s:.1f} s" + (
            f": {extra}" if extra else ""
        )
        if self.pending is not None:
            self.pending.append(line)
        else:
            print(line, flush=True)

    def say_first(self, line: str) -> None:
        """Print the first line of output, then the progress lines held back."""
        print(line, flush=True)
        self.log(line)
        for held in self.pending or []:
            print(held, flush=True)
        self.pending = None

    # -- steps

    def setup(self) -> None:
        """Install the carried wheels and unpack the carried .deb files (GL loaders)."""
        if not self.wheels:
            return
        missing = [str(w) for w in self.wheels if not w.is_dir()]
        folders = [w for w in self.wheels if w.is_dir()]
        site, prefix = self.work / "site", self.work / "debroot"
        cmd = pip_install_command(folders, site, sys.executable)
        debs = deb_unpack_commands(folders, prefix)
        if missing:
            step = Step("setup", [], status="error", note=f"no such folder: {', '.join(missing)}")
            self.steps.append(step)
            self.say(step)
        if cmd:
            step, _ = self.run("setup_wheels", cmd, 120, min_s=5)
            prepend_path(self.env, "PYTHONPATH", [str(site)])
            step.figures["wheels"] = cmd[cmd.index(str(site)) + 1 :]
            if step.status == "ok":
                self.say(step, f"{len(step.figures['wheels'])} wheels into {site}")
            else:
                self.say(step)
        if debs:
            script = " && ".join(shlex.join(d) for d in debs)
            step, _ = self.run("setup_debs", ["bash", "-c", script], 60, min_s=5)
            libs = library_dirs(prefix)
            prepend_path(self.env, "LD_LIBRARY_PATH", libs)
            step.figures.update(debs=[d[2] for d in debs], library_dirs=libs)
            if step.status == "ok":
                self.say(step, f"{len(debs)} .deb into {prefix}, LD_LIBRARY_PATH += {libs}")
            else:
                self.say(step)
        vendor = egl_vendor_file(self.env)
        if vendor:
            self.env["__EGL_VENDOR_LIBRARY_FILENAMES"] = vendor
            self.log(f"__EGL_VENDOR_LIBRARY_FILENAMES={vendor}")
        self.save()

    def probe(self) -> dict[str, Any]:
        cmd = [sys.executable, "-m", "bench.gpu_check", "--probe"]
        step, output = self.run("probe", cmd, 90, min_s=5)
        info: dict[str, Any] = {"cuda": False}
        for line in reversed(output.splitlines()):
            if line.startswith("{"):
                try:
                    info = json.loads(line)
                    break
                except json.JSONDecodeError:
                    continue
        else:
            step.status = "error" if step.status == "ok" else step.status
            info["reason"] = f"the device probe {step.status}: {step.note or 'no answer'}"
        if info.get("cuda") and not info.get("smoke_test"):
            step.status = "failed"
            step.note = f"a CuPy reduction on the device failed: {info.get('smoke_error')}"
        step.figures = info
        self.report["device"] = info
        self.save()
        return info

    def pytest(self, marker: str, timeout: float, reserve_after: float, gpu: bool) -> Step:
        junit = self.out / f"pytest-{marker}.xml"
        # --quick without a device: the cudasim tests not also marked slow
        expr = f"{marker} and not slow" if self.quick and not gpu else marker
        cmd = [sys.executable, "-m", "pytest", "-m", expr, "-rA", "-p", "no:cacheprovider"]
        cmd += [f"--junitxml={junit}", "-o", "junit_family=xunit2"]
        if "pytest-timeout" in self.report["device"].get("versions", {}):
            cmd.append("--timeout=150")
        env = dict(self.env)
        if gpu:  # no display on the GPU machines: OpenGL through EGL
            env.pop("DISPLAY", None)
            env.pop("WAYLAND_DISPLAY", None)
            env.pop("VIEWFINDER_BACKEND", None)
            env["PYOPENGL_PLATFORM"] = "egl"
        step, output = self.run(
            f"pytest_{marker}", cmd, timeout, env=env, reserve_after=reserve_after
        )
        counts = pytest_counts(junit if junit.is_file() else None, output)
        if step.status == "skipped":
            return step
        if step.returncode == 5:  # pytest: no test selected
            step.status = "failed" if gpu else "ok"
            step.note = f"no test is marked {marker}"
            counts = counts or {"passed": 0, "failed": 0, "errors": 0, "skipped": 0, "total": 0}
        if counts is not None:
            step.figures["tests"] = counts
            self.report["tests"] = counts
            if counts.get("failed") or counts.get("errors"):
                step.status = "failed" if step.status == "ok" else step.status
        c = counts or {}
        step.note = step.note or (
            f"{c.get('passed', 0)} passed, {c.get('failed', 0)} failed, "
            f"{c.get('errors', 0)} errors, {c.get('skipped', 0)} skipped"
            if counts
            else "no pytest summary"
        )
        self.save()
        self.say(step)
        return step

    def view(self, reserve_after: float) -> Step:
        png = self.out / VIEW_PNG
        frames = "30" if self.quick else "60"
        cmd = [sys.executable, "-m", "viewfinder.cli", "run", "--headless", "--frames", frames]
        cmd += ["--snapshot", str(png)]
        env = dict(self.env)
        env.pop("DISPLAY", None)
        env.pop("WAYLAND_DISPLAY", None)
        env.pop("VIEWFINDER_BACKEND", None)
        env["PYOPENGL_PLATFORM"] = "egl"
        cwd = self.work / "view"
        cwd.mkdir(exist_ok=True)
        step, output = self.run("view_egl", cmd, 120, env=env, cwd=cwd, reserve_after=reserve_after)
        if step.status == "skipped":
            return step
        step.figures = parse_headless_run(output)
        step.figures["snapshot"] = str(png) if png.is_file() else None
        if step.status == "ok" and not png.is_file():
            step.status, step.note = "failed", "no snapshot written"
        up = step.figures.get("upload")
        if step.status == "ok" and up != "interop":
            step.note = f"the view was uploaded through {up}, not CUDA-GL interop"
            if self.report["device"].get("cuda"):  # the acceptance asks for interop
                step.status = "failed"
        self.save()
        self.say(
            step,
            step.note
            or f"upload {up}, GL {step.figures.get('gl_renderer')}, "
            f"{step.figures.get('fps_incl_start', 0):.0f} fps incl. start -> {png.name}",
        )
        return step

    def bench(
        self, name: str, module: str, args: list[str], timeout: float, reserve_after: float
    ) -> Step:
        results = self.work / name
        results.mkdir(exist_ok=True)
        env = dict(self.env)
        env[BENCH_RESULTS_ENV] = str(results)
        env.pop("DISPLAY", None)
        env.pop("WAYLAND_DISPLAY", None)
        env.pop("VIEWFINDER_BACKEND", None)
        cmd = [sys.executable, "-m", module, *args]
        cwd = self.work / f"{name}-cwd"
        cwd.mkdir(exist_ok=True)
        step, _ = self.run(name, cmd, timeout, env=env, cwd=cwd, reserve_after=reserve_after)
        payloads = []
        for path in sorted(results.glob("*.json")):
            try:
                payloads.append(json.loads(path.read_text()))
            except (OSError, json.JSONDecodeError) as exc:
                step.note = f"unreadable results {path.name}: {exc}"
        if payloads:
            self.report["benchmarks"][name] = payloads[-1]
        elif step.status == "ok":
            step.status, step.note = "failed", "wrote no results JSON"
        self.save()
        self.say(step)
        return step

    def cudasim(self, reserve_after: float) -> Step:
        w, h = (128, 96) if self.quick else CUDASIM_SIZE
        n = 2 if self.quick else CUDASIM_FRAMES
        cmd = [sys.executable, "-m", "bench.gpu_check", "--cudasim-bench", f"{w}x{h}x{n}"]
        env = dict(self.env)
        env["VIEWFINDER_BACKEND"] = "cudasim"
        step, output = self.run("cudasim_bench", cmd, 150, env=env, reserve_after=reserve_after)
        payload = None
        for line in reversed(output.splitlines()):
            if line.startswith("{"):
                try:
                    payload = json.loads(line)
                    break
                except json.JSONDecodeError:
                    continue
        if payload is not None:
            self.report["benchmarks"]["cudasim_bench"] = payload
            if payload.get("skipped"):
                step.status, step.note = "skipped", payload["skipped"]
        elif step.status == "ok":
            step.status, step.note = "failed", "no result printed"
        self.save()
        self.say(step)
        return step

    # -- the end

    def summary(self) -> str:
        mode = self.report["mode"]
        dev = self.report["device"]
        if mode == "gpu":
            title = (
                f"gpu_check summary: {dev.get('name')} (CUDA driver "
                f"{dev.get('driver_cuda_version')}, runtime {dev.get('runtime_version')}, "
                f"driver {dev.get('driver_version', '?')}, CuPy {dev.get('cupy')})"
            )
        else:
            title = f"gpu_check summary: no CUDA device ({dev.get('reason', '?')}); cudasim run"
        steps = [[s.name, s.status, f"{s.duration_s:.1f}", s.note[:70]] for s in self.steps]
        t = self.report.get("tests") or {}
        tests = (
            f"tests: {t.get('passed', 0)} passed, {t.get('failed', 0)} failed, "
            f"{t.get('errors', 0)} errors, {t.get('skipped', 0)} skipped"
            if t
            else "tests: no result"
        )
        for f in (t.get("failures") or [])[:20]:
            tests += f"\n  FAILED {f}"
        rows: list[tuple[str, float | None, float | None, str]] = []
        for name, payload in self.report["benchmarks"].items():
            try:
                rows += ROWS[name](payload)
            except Exception as exc:  # a changed JSON shape must not lose the summary
                rows.append((name, None, None, f"cannot summarise: {type(exc).__name__} {exc}"))
        view = next((s for s in self.steps if s.name == "view_egl"), None)
        if view is not None and view.figures.get("upload_path"):
            rows.insert(
                0,
                (
                    "headless EGL view (viewfinder run)",
                    None,
                    view.figures.get("fps_last"),
                    f"upload {view.figures.get('upload')}, {view.figures.get('gl_renderer')}",
                ),
            )
        self.report["summary"] = [
            {"figure": r[0], "median_ms": r[1], "fps": r[2], "note": r[3]} for r in rows
        ]
        parts = [title, "", format_table(["step", "status", "time s", "note"], steps), "", tests]
        if rows:
            table = [[r[0], _fmt(r[1], 3), _fmt(r[2], 1), r[3]] for r in rows]
            parts += ["", format_table(["figure", "median ms", "fps", "note"], table)]
        failed = [s.name for s in self.steps if s.status in FAILED]
        elapsed = time.monotonic() - self.t0
        parts += [
            "",
            f"{'FAILED: ' + ', '.join(failed) if failed else 'all steps passed'} "
            f"({elapsed:.0f} s; files in {self.out})",
        ]
        return "\n".join(parts)

    def finish(self) -> int:
        failed = [s for s in self.steps if s.status in FAILED]
        code = 1 if failed else 0
        text = self.summary()
        self.report["ok"] = not failed
        self.report["exit_code"] = code
        self.report["finished"] = _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds")
        files = sorted(p.name for p in self.out.iterdir() if p.is_file())
        self.report["files"] = files
        self.save()
        self.log("\n" + text)
        print("\n" + text, flush=True)
        shutil.rmtree(self.work, ignore_errors=True)
        return code


def run_gpu(check: Check) -> None:
    q = check.quick
    sizes = GPU_SIZES[1:] if q else GPU_SIZES
    size_arg = ",".join(sizes)
    # (name, module, args, timeout): the benchmarks after the tests and the view
    benches: list[tuple[str, str, list[str], float]] = [
        (
            "bench_pipeline",
            "bench.bench_pipeline",
            ["--gpu-only", "--no-peers", "--sizes", size_arg, "--repeat", "5"],
            90,
        ),
        (
            "bench_assists",
            "bench.bench_assists",
            ["--gpu-only", "--quick", "--sizes", size_arg],
            75,
        ),
        ("bench_sim", "bench.bench_sim", ["--gpu-only", "--quick", "--gpu-sizes", size_arg], 90),
    ]
    if not q:
        benches.append(
            (
                "bench_view_1080p",
                "bench.bench_view",
                ["--gpu", "--quick", "--frame-size", "1920x1080", "--window", "1920x1080"],
                75,
            )
        )
    benches.append(("bench_view_50mp", "bench.bench_view", ["--gpu", "--quick"], 90))
    min_each = 25.0
    later = min_each * (len(benches) + 1)
    check.pytest("gpu", 180, reserve_after=later, gpu=True)
    later -= min_each
    check.view(reserve_after=later)
    for name, module, args, timeout in benches:
        later -= min_each
        check.bench(name, module, args, timeout, reserve_after=later)


def run_cpu(check: Check) -> None:
    check.pytest("cudasim", 225, reserve_after=30, gpu=False)
    check.cudasim(reserve_after=0)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(
        prog="python -m bench.gpu_check", description=__doc__.splitlines()[0]
    )
    ap.add_argument("--out", type=Path, help="folder for the log, JSON, JUnit XML and view.png")
    ap.add_argument(
        "--wheels",
        type=Path,
        action="append",
        default=[],
        help="folder of wheels (and .deb GL loaders) to install first; may be repeated",
    )
    ap.add_argument(
        "--quick",
        action="store_true",
        help="fewer sizes, frames and repeats (no device: the cudasim tests not marked slow)",
    )
    ap.add_argument("--budget", type=float, default=None, help="seconds for the whole run")
    ap.add_argument("--probe", action="store_true", help=argparse.SUPPRESS)
    # runs the GPU steps whatever the probe found (to check this script on a CPU machine:
    # the GPU tests skip, the view uploads through a PBO, the --gpu-only benchmarks fail)
    ap.add_argument("--assume-gpu", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--cudasim-bench", default=None, help=argparse.SUPPRESS)
    args = ap.parse_args(argv)

    if args.probe:
        print(json.dumps(probe()), flush=True)
        return 0
    if args.cudasim_bench:
        w, h, n = (int(v) for v in args.cudasim_bench.split("x"))
        print(json.dumps(cudasim_bench(w, h, n)), flush=True)
        return 0
    if args.out is None:
        ap.error("--out DIR is required")

    args.out.mkdir(parents=True, exist_ok=True)
    check = Check(args.out.resolve(), args.quick, [w.resolve() for w in args.wheels], 1e9)
    try:
        check.setup()
        info = check.probe()
        gpu = bool(info.get("cuda")) or args.assume_gpu
        budget = args.budget or (GPU_BUDGET_S if gpu else CPU_BUDGET_S)
        check.deadline = check.t0 + budget
        check.report["budget_s"] = budget
        check.report["mode"] = "gpu" if gpu else "cpu"
        if gpu:
            first = (
                f"gpu_check: CUDA device {info.get('name')} (sm {info.get('compute_capability')}, "
                f"{info.get('memory_gib')} GiB, CUDA driver {info.get('driver_cuda_version')}, "
                f"runtime {info.get('runtime_version')}, CuPy {info.get('cupy')}): "
                "GPU tests, headless EGL view, benchmarks"
            )
        else:
            first = (
                f"gpu_check: no CUDA device ({info.get('reason', 'unknown')}): running the "
                "cudasim tests (pytest -m cudasim) and a cudasim pipeline benchmark instead"
            )
        # the first line of output says which run this is; the setup's lines come after it
        check.say_first(first)
        if gpu:
            run_gpu(check)
        else:
            run_cpu(check)
    except KeyboardInterrupt:
        if check.pending is not None:
            check.say_first("gpu_check: interrupted before the device probe ended")
        check.steps.append(Step("interrupted", [], status="error", note="KeyboardInterrupt"))
    except Exception as exc:  # a bug here must still leave the JSON and the summary
        if check.pending is not None:
            check.say_first(f"gpu_check: the run broke before the device probe ended ({exc})")
        check.steps.append(
            Step("gpu_check", [], status="error", note=f"{type(exc).__name__}: {exc}")
        )
        import traceback

        check.log(traceback.format_exc())
    return check.finish()


if __name__ == "__main__":
    sys.exit(main())
