"""The standard suite of ``viewfinder bench``: what it runs, and the JSON it writes.

Suites (``--suite``, a comma list; default all):

- ``pipeline``: raw 10-bit RGGB frame to RGBA8 view at 1920x1080, 3840x2160, 4096x3072 and
  8192x6144 (each at the views of ``python -m bench.bench_pipeline``: 1280x720, 1920x1080,
  2048x1536, 2048x1536, and 1:1), with the default assists and with
  all of them, end to end and per stage (CPU: ``develop`` and ``assists``; device: the
  pipeline's own CUDA-event stages), the demosaic stage alone, the peers at each size and the
  memory roofline (:mod:`viewfinder.bench.peers`).
- ``sim``: the simulated sensor's ``read()`` (the exposure of every pixel), with NumPy's
  normal generator at the frame size as the peer.
- ``view``: the viewer's presentation of a processed frame, headless (upload, draw, panels),
  timed to ``glFinish``.
- ``capture``: ``write_dng`` of a 4096x3072 10-bit frame, with the bare bytes written and
  fsynced and tifffile without fsync as peers on the same disk.

``--quick`` runs the first view only, fewer repeats, no 50 MP frame on the CPU and no
colour-demosaicing above 1080p: about 30 s on 2 CPU cores.

Every measurement becomes a row (:func:`make_row`): ``id`` (unique in a run, the key that
``viewfinder bench compare`` matches runs on), ``suite``, ``size``, ``case``, ``stage``,
``impl``, ``kind`` (``ours``, ``peer`` or ``roofline``), ``timer`` (``wall`` or
``cuda-events``), ``median_ms``, ``p10_ms``, ``p90_ms``, ``min_ms``, ``n``, ``peer`` (the id
of the row it is compared with), ``x_peer`` (median over the peer's), ``roofline_ms`` (the
bytes it must move at the measured copy bandwidth), ``x_roofline`` and ``note``.
"""

from __future__ import annotations

import dataclasses as dc
import datetime as _dt
import os
import platform
import shutil
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from viewfinder.bench.harness import _cpu_name, _summary, measure

SCHEMA = "viewfinder-bench/1"
SUITES = ("pipeline", "sim", "view", "capture")
SIZES = ((1920, 1080), (3840, 2160), (4096, 3072), (8192, 6144))
SIZE_ALIASES = {
    "1080p": (1920, 1080),
    "4k": (3840, 2160),
    "12mp": (4096, 3072),
    "50mp": (8192, 6144),
}
#: No larger frame runs on the CPU with --quick.
QUICK_CPU_MAX_PIXELS = 4096 * 3072
#: colour-demosaicing (seconds a frame) runs up to this size (--quick: 1080p only).
COLOUR_MAX_PIXELS = 4096 * 3072
#: The buffer the copy bandwidth is measured on: well above an H200's 50 MB L2.
ROOFLINE_BYTES = 512 * 2**20
ROOFLINE_BYTES_CPU = 256 * 2**20
ROOFLINE_BYTES_QUICK_CPU = 64 * 2**20
ROW_KEYS = (
    "id",
    "suite",
    "size",
    "case",
    "stage",
    "impl",
    "kind",
    "timer",
    "median_ms",
    "p10_ms",
    "p90_ms",
    "min_ms",
    "n",
    "peer",
    "x_peer",
    "roofline_ms",
    "x_roofline",
    "note",
)
KINDS = ("ours", "peer", "roofline")


def size_name(size: Sequence[int]) -> str:
    return f"{size[0]}x{size[1]}"


def views(size: tuple[int, int], quick: bool) -> list[tuple[int, int]]:
    """The views a frame is shown at, as the pipeline benchmark always had them
    (:data:`viewfinder.bench.pipeline.VIEWS`: 1280x720 and 1:1 for 1080p, 1920x1080 for 4K,
    2048x1536 for 12 and 50 MP, and 1:1); another size at a quarter of its side and 1:1.
    ``quick``: the first only."""
    from viewfinder.bench.pipeline import VIEWS

    w, h = size
    choices = VIEWS.get((w, h)) or [(w // 4 // 2 * 2, h // 4 // 2 * 2), (w, h)]
    return list(choices[:1] if quick else choices)


def parse_size_list(text: str | None) -> list[tuple[int, int]] | None:
    """``"1920x1080,50mp"`` -> [(1920, 1080), (8192, 6144)]; ValueError naming the choices."""
    if text is None:
        return None
    sizes = []
    for part in text.split(","):
        key = part.strip().lower()
        size = SIZE_ALIASES.get(key)
        if size is None:
            try:
                w, h = (int(v) for v in key.split("x"))
                size = (w, h)
            except ValueError:
                size = None
        if size not in SIZES:
            choices = ", ".join(size_name(s) for s in SIZES)
            raise ValueError(
                f"unknown size {part.strip()!r}: choose from {choices} "
                f"(or {', '.join(SIZE_ALIASES)})"
            )
        sizes.append(size)
    return sizes


def parse_suite_list(text: str | None) -> list[str]:
    if text is None:
        return list(SUITES)
    suites = []
    for part in text.split(","):
        name = part.strip().lower()
        if name not in SUITES:
            raise ValueError(f"unknown suite {part.strip()!r}: choose from {', '.join(SUITES)}")
        if name not in suites:
            suites.append(name)
    return suites


def make_row(**fields: Any) -> dict[str, Any]:
    """A row with every key of :data:`ROW_KEYS` (missing ones None, ``note`` "")."""
    unknown = set(fields) - set(ROW_KEYS)
    if unknown:
        raise ValueError(f"unknown row fields {sorted(unknown)}")
    row = {k: fields.get(k) for k in ROW_KEYS}
    row["note"] = row["note"] or ""
    return row


# ---------------------------------------------------------------------------------------------
# The machine


def machine(backend: str) -> dict[str, Any]:
    """CPU model and cores, load average, GPU name, driver, CUDA and CuPy versions, and the
    versions a figure depends on."""
    from importlib import metadata

    info: dict[str, Any] = {
        "cpu": _cpu_name(),
        "cpu_count": os.cpu_count(),
        "load_average": [round(v, 2) for v in os.getloadavg()],
        "platform": platform.platform(),
        "python": platform.python_version(),
        "backend": backend,
        "gpu": None,
        "gpu_driver": None,
        "cuda_runtime": None,
        "cuda_driver": None,
        "cupy": None,
        "versions": {},
    }
    for dist in (
        "viewfinder",
        "numpy",
        "numba",
        "opencv-python-headless",
        "opencv-python",
        "colour-demosaicing",
        "tifffile",
        "cupy-cuda13x",
        "cupy-cuda12x",
        "nvidia-npp",
        "nvidia-npp-cu12",
    ):
        try:
            info["versions"][dist] = metadata.version(dist)
        except metadata.PackageNotFoundError:
            pass
    if backend != "cupy":
        return info
    from viewfinder.backend import cupy_module

    cp = cupy_module()
    if cp is None:
        return info
    rt = cp.cuda.runtime
    props = rt.getDeviceProperties(rt.getDevice())
    name = props["name"]
    info["gpu"] = name.decode() if isinstance(name, bytes) else str(name)
    info["cupy"] = cp.__version__
    info["gpu_memory_gib"] = round(props["totalGlobalMem"] / 2**30, 1)
    info["compute_capability"] = f"{props['major']}.{props['minor']}"

    def ver(v: int) -> str:
        return f"{v // 1000}.{v % 1000 // 10}"

    info["cuda_runtime"] = ver(rt.runtimeGetVersion())
    info["cuda_driver"] = ver(rt.driverGetVersion())
    info["gpu_driver"] = _nvidia_driver()
    return info


def _nvidia_driver() -> str | None:
    try:
        return Path("/sys/module/nvidia/version").read_text().strip()
    except OSError:
        pass
    smi = shutil.which("nvidia-smi")
    if smi:
        import subprocess

        try:
            q = subprocess.run(
                [smi, "--query-gpu=driver_version", "--format=csv,noheader"],
                capture_output=True,
                text=True,
                timeout=20,
            )
            return q.stdout.strip().splitlines()[0] if q.stdout.strip() else None
        except (OSError, subprocess.SubprocessError):
            return None
    return None


# ---------------------------------------------------------------------------------------------
# The run


@dc.dataclass
class Options:
    suites: list[str] = dc.field(default_factory=lambda: list(SUITES))
    sizes: list[tuple[int, int]] | None = None  # None: the default of the backend and --quick
    backend: str = "numpy"
    quick: bool = False
    repeat: int | None = None
    peers: bool = True


def default_sizes(backend: str, quick: bool) -> list[tuple[int, int]]:
    if backend == "cupy":
        return list(SIZES)
    if backend == "cudasim":  # the CUDA code on the CPU runtime: seconds a frame
        return [SIZES[0]] if quick else list(SIZES[:2])
    return [s for s in SIZES if not quick or s[0] * s[1] <= QUICK_CPU_MAX_PIXELS]


class Run:
    """One ``viewfinder bench`` run: ``plan()`` lists the tasks, ``execute()`` runs them (with
    a progress callback) and ``payload()`` is the JSON."""

    def __init__(self, options: Options, command: Sequence[str] = ()) -> None:
        self.o = options
        self.command = list(command)
        self.device = options.backend in ("cupy", "cudasim")
        if options.backend == "cupy":
            from viewfinder.backend import cupy_module

            self.xp = cupy_module()
            if self.xp is None:
                raise RuntimeError("--backend cupy needs CuPy with a CUDA device; none here")
        elif options.backend == "cudasim":
            import viewfinder.cudasim as xp

            self.xp = xp
        else:
            self.xp = np
        self.sizes = options.sizes or default_sizes(options.backend, options.quick)
        self.repeat = options.repeat or (
            (2 if options.quick else 3)
            if options.backend == "cudasim"
            else (20 if options.quick else 50)
            if options.backend == "cupy"
            else (5 if options.quick else 15)
        )
        self.rows: list[dict[str, Any]] = []
        self.notes: list[str] = []
        self.roofline: dict[str, Any] | None = None
        self._raws: dict[tuple[int, int], np.ndarray] = {}
        self.started = _dt.datetime.now(_dt.UTC)
        self.t0 = time.perf_counter()
        self.machine = machine(options.backend)
        if options.backend == "cudasim":
            self.notes.append(
                "cudasim: the CUDA code ran on the CPU runtime; its times are not a GPU's, "
                "and the GPU peers (NPP, CuPy bilinear, device memcpy roofline) were skipped"
            )

    # -- the plan ----------------------------------------------------------------------------
    def plan(self) -> list[tuple[str, Callable[[], None]]]:
        """``[(label, task)]`` in the order they run."""
        tasks: list[tuple[str, Callable[[], None]]] = []
        if "pipeline" in self.o.suites:
            tasks.append(("roofline: copy bandwidth", self.task_roofline))
            for size in self.sizes:
                name = size_name(size)
                for view in views(size, self.o.quick):
                    for assists in ("default", "all"):
                        tasks.append(
                            (
                                f"pipeline {name} view {size_name(view)} {assists} assists",
                                lambda s=size, v=view, a=assists: self.task_pipeline(s, v, a),
                            )
                        )
                tasks.append((f"demosaic {name}", lambda s=size: self.task_demosaic(s)))
                if self.o.peers:
                    tasks.append((f"peers {name}", lambda s=size: self.task_peers(s)))
        if "sim" in self.o.suites:
            tasks.append(("simulated sensor read", self.task_sim))
        if "view" in self.o.suites:
            tasks.append(("view presentation (headless)", self.task_view))
        if "capture" in self.o.suites:
            tasks.append(("capture writes", self.task_capture))
        return tasks

    def execute(self, progress: Callable[[str], None] | None = None) -> None:
        for label, task in self.plan():
            if progress:
                progress(label)
            try:
                task()
            except Exception as exc:  # one broken part is reported, the rest still runs
                self.notes.append(f"{label}: failed: {type(exc).__name__}: {exc}")
        self.finish_ratios()

    # -- helpers -----------------------------------------------------------------------------
    def raw(self, size: tuple[int, int]) -> np.ndarray:
        if size not in self._raws:
            from viewfinder.bench.pipeline import synthetic_raw

            self._raws = {size: synthetic_raw(*size)}  # one at a time: 50 MP is 100 MB
        return self._raws[size]

    def sync(self) -> None:
        if self.device:
            self.xp.cuda.get_current_stream().synchronize()

    def time_device(self, fn: Callable[[], Any], repeat: int, warmup: int = 2) -> dict[str, Any]:
        """CUDA-event times of the work ``fn`` queues on the current stream."""
        xp = self.xp
        for _ in range(warmup):
            fn()
        self.sync()
        samples = []
        start, stop = xp.cuda.Event(), xp.cuda.Event()
        for _ in range(repeat):
            start.record()
            fn()
            stop.record()
            stop.synchronize()
            samples.append(float(xp.cuda.get_elapsed_time(start, stop)))
        return _summary(samples)

    def time_any(self, fn: Callable[[], Any], repeat: int, warmup: int = 2) -> tuple[dict, str]:
        if self.device:
            return self.time_device(fn, repeat, warmup), "cuda-events"
        return measure(fn, repeat=repeat, warmup=warmup), "wall"

    def add(self, **fields: Any) -> dict[str, Any]:
        stats = fields.pop("stats", None) or {}
        for k in ("median_ms", "p10_ms", "p90_ms", "min_ms", "n"):
            if k in stats:
                fields.setdefault(k, stats[k])
        row = make_row(**fields)
        if any(r["id"] == row["id"] for r in self.rows):
            raise ValueError(f"duplicate row id {row['id']!r}")
        self.rows.append(row)
        return row

    def frame(self, size: tuple[int, int]) -> Any:
        from viewfinder import Frame

        raw = self.raw(size)
        data = self.xp.asarray(raw) if self.device else raw
        return Frame(data, "RGGB", 64, 1023, 10, meta={"white_balance": (1.8, 1.0, 1.5)})

    # -- tasks -------------------------------------------------------------------------------
    def task_roofline(self) -> None:
        from viewfinder.bench import peers

        if self.o.backend == "cudasim":
            return
        if self.o.backend == "cupy":
            nbytes = ROOFLINE_BYTES
            fn, moved = peers.device_copy(self.xp, nbytes)
            impl = "device memcpy (D2D)"
        else:
            nbytes = ROOFLINE_BYTES_QUICK_CPU if self.o.quick else ROOFLINE_BYTES_CPU
            fn, moved = peers.host_copy(nbytes)
            impl = "host memcpy (numpy.copyto, 1 thread)"
        stats, timer = self.time_any(fn, repeat=max(5, self.repeat // 2), warmup=2)
        gbps = moved / (stats["median_ms"] * 1e-3) / 1e9
        self.roofline = {"impl": impl, "bytes": moved, "gb_per_s": gbps}
        self.add(
            id=f"roofline {impl}",
            suite="pipeline",
            case=f"copy {nbytes // 2**20} MiB",
            stage="copy",
            impl=impl,
            kind="roofline",
            timer=timer,
            stats=stats,
            note=f"{gbps:.1f} GB/s (read + write)",
        )

    def roofline_ms(self, nbytes: float) -> float | None:
        if not self.roofline:
            return None
        return nbytes / (self.roofline["gb_per_s"] * 1e9) * 1e3

    def task_pipeline(self, size: tuple[int, int], view: tuple[int, int], assists: str) -> None:
        from viewfinder import Settings
        from viewfinder.bench.pipeline import all_assists
        from viewfinder.pipeline import Pipeline

        settings = Settings(demosaic="mhc", view_size=view)
        if assists == "all":
            settings = all_assists(settings)
        pipe = Pipeline(settings, backend=self.o.backend)
        frame = self.frame(size)
        stages: dict[str, list[float]] = {}
        walls: list[float] = []
        warmup = 2
        for i in range(warmup + self.repeat):
            t0 = time.perf_counter()
            out = pipe.process(frame)
            self.sync()
            wall = (time.perf_counter() - t0) * 1e3
            if i < warmup:
                continue
            walls.append(wall)
            for k, v in out.timings_ms.items():
                # device: the pipeline's CUDA events (a frame late: complete as we sync
                # after each frame); CPU: its wall-clock stages
                if self.device == k.startswith("gpu_"):
                    stages.setdefault(k, []).append(float(v))
        case = f"view{size_name(view)} {assists} assists"
        base = f"pipeline {size_name(size)} {case}"
        traffic = size[0] * size[1] * 2 + view[0] * view[1] * 4  # raw in, RGBA8 view out
        if self.device:
            total, timer = self.time_device(lambda: pipe.process(frame), self.repeat), "cuda-events"
        else:
            total, timer = _summary(walls), "wall"
        self.add(
            id=f"{base} total",
            suite="pipeline",
            size=size_name(size),
            case=case,
            stage="total",
            impl="viewfinder",
            kind="ours",
            timer=timer,
            stats=total,
            roofline_ms=self.roofline_ms(traffic),
            note=f"path {out.path}",
        )
        for k, v in stages.items():
            stage = k[4:] if k.startswith("gpu_") else k
            if stage == "total":
                continue
            self.add(
                id=f"{base} {stage}",
                suite="pipeline",
                size=size_name(size),
                case=case,
                stage=stage,
                impl="viewfinder",
                kind="ours",
                timer=timer,
                stats=_summary(v),
            )

    def task_demosaic(self, size: tuple[int, int]) -> None:
        from viewfinder.stages.demosaic import demosaic

        w, h = size
        raw = self.raw(size)
        if self.device:
            raw = self.xp.asarray(raw)
        out = self.xp.empty((h, w, 3), self.xp.float32)
        stats, timer = self.time_any(
            lambda: demosaic(raw, "RGGB", "mhc", out=out), repeat=self.repeat, warmup=1
        )
        self.add(
            id=f"demosaic {size_name(size)} mhc",
            suite="pipeline",
            size=size_name(size),
            case="demosaic mhc",
            stage="demosaic",
            impl="viewfinder",
            kind="ours",
            timer=timer,
            stats=stats,
            roofline_ms=self.roofline_ms(w * h * (2 + 12)),  # u16 in, float32 RGB out
            note="the stage alone (NumPy reference on the CPU; the live CPU path is fused)"
            if not self.device
            else "the stage alone",
        )

    def task_peers(self, size: tuple[int, int]) -> None:
        from viewfinder.bench import peers

        w, h = size
        raw = self.raw(size)
        pixels = w * h
        colour = pixels <= (SIZES[0][0] * SIZES[0][1] if self.o.quick else COLOUR_MAX_PIXELS)
        if colour and peers.colour_demosaicing() is None:
            self.note_once("colour-demosaicing is not installed: its peers were skipped")
        cpu_repeat = max(3, self.repeat // 3) if not self.device else 5
        for name, fn, note in peers.cpu_demosaic_peers(raw, colour):
            slow = name.startswith("colour")
            stats = measure(fn, repeat=2 if slow else cpu_repeat, warmup=0 if slow else 1)
            self.add(
                id=f"peer {size_name(size)} {name}",
                suite="pipeline",
                size=size_name(size),
                case="demosaic",
                stage="demosaic",
                impl=name,
                kind="peer",
                timer="wall",
                stats=stats,
                note=f"CPU, {note}",
            )
        if self.o.backend == "cupy":
            self.gpu_peers(size)

    def gpu_peers(self, size: tuple[int, int]) -> None:
        from viewfinder.bench import peers

        cp, (w, h) = self.xp, size
        draw = cp.asarray(self.raw(size))
        rgb = cp.empty((h, w, 3), cp.float32)
        bil = peers.DeviceBilinear(cp)
        stats = self.time_device(lambda: bil(draw, rgb), self.repeat)
        self.add(
            id=f"peer {size_name(size)} cupy bilinear",
            suite="pipeline",
            size=size_name(size),
            case="demosaic",
            stage="demosaic",
            impl="cupy bilinear",
            kind="peer",
            timer="cuda-events",
            stats=stats,
            roofline_ms=self.roofline_ms(w * h * (2 + 12)),
            note="GPU, one thread a pixel, u16 -> float32 RGB",
        )
        try:
            npp = getattr(self, "_npp", None)
            if npp is None:
                npp = self._npp = peers.NppCfaToRgb(cp)
                self.notes.append(peers.check_npp(npp, cp))
            out16 = cp.empty((h, w, 3), cp.uint16)
            stats = self.time_device(lambda: npp(draw, out16), self.repeat)
        except Exception as exc:
            self._npp = False
            self.note_once(f"NPP peer skipped: {exc}")
            return
        self.add(
            id=f"peer {size_name(size)} npp CFAToRGB",
            suite="pipeline",
            size=size_name(size),
            case="demosaic",
            stage="demosaic",
            impl="npp CFAToRGB",
            kind="peer",
            timer="cuda-events",
            stats=stats,
            roofline_ms=self.roofline_ms(w * h * (2 + 6)),
            note="GPU, nppiCFAToRGB_16u_C1C3R_Ctx, u16 -> u16 RGB",
        )

    def note_once(self, text: str) -> None:
        if text not in self.notes:
            self.notes.append(text)

    def task_sim(self) -> None:
        from viewfinder.sources.simulated import SimulatedCamera

        if self.o.backend == "cupy":
            sizes = [(8192, 6144)]
        elif self.o.backend == "cudasim":
            sizes = [(1920, 1080)]
        else:
            sizes = [(1920, 1080)] if self.o.quick else [(1920, 1080), (4096, 3072)]
        for size in sizes:
            cam = SimulatedCamera(size, backend=self.o.backend, motion=True, noise=True)
            try:
                cam.set_mode("m")
                cam.attach_lens("summilux-35")
                cam.set_focus(1.0)
                cam.read()  # render and cache the defocused scene
                stats, timer = self.time_any(cam.read, repeat=self.repeat * 2, warmup=3)
            finally:
                cam.close()
            self.add(
                id=f"sim {size_name(size)} read",
                suite="sim",
                size=size_name(size),
                case="read",
                stage="read",
                impl="viewfinder",
                kind="ours",
                timer=timer,
                stats=stats,
                roofline_ms=self.roofline_ms(size[0] * size[1] * 2),
                note="shot + read noise, clipping, quantisation of every pixel",
            )
            if not self.device and self.o.peers:
                rng = np.random.default_rng(0)
                shape = (size[1], size[0])
                stats = measure(
                    lambda r=rng, s=shape: r.standard_normal(s, dtype=np.float32),
                    repeat=max(3, self.repeat // 2),
                )
                self.add(
                    id=f"sim {size_name(size)} numpy standard_normal",
                    suite="sim",
                    size=size_name(size),
                    case="read",
                    stage="read",
                    impl="numpy standard_normal f32",
                    kind="peer",
                    timer="wall",
                    stats=stats,
                    note="the noise draw alone of a per-frame NumPy sensor",
                )

    def task_view(self) -> None:
        if self.o.backend == "cudasim":
            self.notes.append("view: skipped on cudasim (the live view there is for tests)")
            return
        from viewfinder.render.context import create_context, prepare_platform

        prepare_platform(True)
        gpu = self.o.backend == "cupy"
        window, frame_size = ((3840, 2160), (8192, 6144)) if gpu else ((1280, 720), (1920, 1080))
        ctx = create_context(True, window, prefer_gpu=gpu)
        try:
            from viewfinder.app import _view_size
            from viewfinder.bench.view import exposed_frames, run_config
            from viewfinder.render.panels import PANEL_WIDTH

            frames = exposed_frames(frame_size, self.o.backend, n=2)
            view = _view_size(frame_size, (window[0] - PANEL_WIDTH, window[1]))
            configs = [{"peaking": True, "zebra": False, "histogram": True}]
            if not self.o.quick:
                configs.insert(0, {"peaking": False, "zebra": False, "histogram": False})
                configs.append({"peaking": True, "zebra": True, "histogram": True})
            for cfg in configs:
                r = run_config(
                    ctx, frames, view, self.o.backend, cfg, 10 if self.o.quick else 60, 60.0
                )
                tag = "+".join(k for k, on in cfg.items() if on) or "plain"
                case = f"{size_name(frame_size)} in {size_name(window)} {tag}"
                live = r["live"]
                self.add(
                    id=f"view {case} present",
                    suite="view",
                    size=size_name(frame_size),
                    case=case,
                    stage="present",
                    impl="viewfinder",
                    kind="ours",
                    timer="wall",
                    stats=r["present"],
                    note=f"GL {ctx.renderer}; upload {live.get('upload_path')}",
                )
                self.add(
                    id=f"view {case} upload",
                    suite="view",
                    size=size_name(frame_size),
                    case=case,
                    stage="upload",
                    impl="viewfinder",
                    kind="ours",
                    timer="wall",
                    stats=r["upload_only"],
                )
        finally:
            ctx.close()

    def task_capture(self) -> None:
        import tifffile

        from viewfinder import Frame
        from viewfinder.capture import write_dng

        w, h = 4096, 3072
        data = np.random.default_rng(0).integers(64, 1024, (h, w), dtype=np.uint16)
        frame = Frame(data, cfa="RGGB", bits=10, black_level=64, meta={"iso": 200})
        repeat = 3 if self.o.quick else 10
        tmp = Path(tempfile.mkdtemp(prefix="vf-bench-capture-", dir=self.scratch))
        samples: dict[str, list[float]] = {"write_dng": [], "tofile_fsync": [], "tifffile": []}

        def bare(p: Path) -> None:
            with open(p, "wb") as fh:
                data.tofile(fh)
                fh.flush()
                os.fsync(fh.fileno())

        steps = (
            ("write_dng", lambda p: write_dng(frame, p)),
            ("tofile_fsync", bare),
            ("tifffile", lambda p: tifffile.imwrite(p, data, photometric="minisblack")),
        )
        try:
            for i in range(repeat + 1):  # interleaved, so that all see the same disk
                for name, fn in steps:
                    p = tmp / f"{name}-{i}.bin"
                    t0 = time.perf_counter()
                    fn(p)
                    if i:
                        samples[name].append((time.perf_counter() - t0) * 1e3)
                    p.unlink()
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
        labels = {
            "write_dng": ("viewfinder write_dng", "ours", "DNG + EXIF, fsync, atomic rename"),
            "tofile_fsync": ("bare bytes + fsync", "peer", "what the disk allows"),
            "tifffile": ("tifffile, no fsync", "peer", "what the page cache allows"),
        }
        for name, ms in samples.items():
            impl, kind, note = labels[name]
            stats = _summary(ms)
            mbps = data.nbytes / 1e6 / (stats["median_ms"] / 1e3)
            self.add(
                id=f"capture {size_name((w, h))} {name}",
                suite="capture",
                size=size_name((w, h)),
                case="write 10-bit raw",
                stage="write",
                impl=impl,
                kind=kind,
                timer="wall",
                stats=stats,
                peer=f"capture {size_name((w, h))} tofile_fsync" if kind == "ours" else None,
                note=f"{note}; {mbps:.0f} MB/s",
            )

    scratch: str | None = None  # the folder capture writes in (the --out folder)

    # -- ratios --------------------------------------------------------------------------------
    def reference_peer(self, size: str) -> str | None:
        """The id of the peer each of our rows at ``size`` is compared with: NPP on a GPU
        (the CuPy bilinear when NPP is missing), OpenCV's bilinear on the CPU."""
        ids = {r["id"] for r in self.rows}
        prefs = ["npp CFAToRGB", "cupy bilinear"] if self.o.backend == "cupy" else []
        prefs.append("opencv bilinear")
        for name in prefs:
            rid = f"peer {size} {name}"
            if rid in ids:
                return rid
        return None

    def finish_ratios(self) -> None:
        by_id = {r["id"]: r for r in self.rows}
        for r in self.rows:
            ours = r["kind"] == "ours"
            if ours and r["suite"] == "pipeline" and r["stage"] in ("total", "demosaic"):
                r["peer"] = r["peer"] or self.reference_peer(r["size"])
            sim_peer = f"sim {r['size']} numpy standard_normal"
            if ours and r["suite"] == "sim" and sim_peer in by_id:
                r["peer"] = r["peer"] or sim_peer
            peer = by_id.get(r["peer"]) if r["peer"] else None
            if peer and peer["median_ms"] and r["median_ms"] is not None:
                r["x_peer"] = r["median_ms"] / peer["median_ms"]
            if r["roofline_ms"] and r["median_ms"] is not None:
                r["x_roofline"] = r["median_ms"] / r["roofline_ms"]

    def payload(self) -> dict[str, Any]:
        import viewfinder

        self.machine["load_average_end"] = [round(v, 2) for v in os.getloadavg()]
        return {
            "schema": SCHEMA,
            "tool": "viewfinder bench",
            "viewfinder": viewfinder.__version__,
            "command": self.command,
            "started": self.started.isoformat(timespec="seconds"),
            "duration_s": round(time.perf_counter() - self.t0, 2),
            "options": {
                "suites": self.o.suites,
                "sizes": [size_name(s) for s in self.sizes],
                "backend": self.o.backend,
                "quick": self.o.quick,
                "repeat": self.repeat,
                "peers": self.o.peers,
            },
            "machine": self.machine,
            "roofline": self.roofline,
            "rows": self.rows,
            "notes": self.notes,
        }


def validate(payload: Any) -> dict[str, Any]:
    """``payload`` when it is a ``viewfinder bench`` result; ValueError naming what is wrong."""
    if not isinstance(payload, dict):
        raise ValueError("not a viewfinder bench result (not a JSON object)")
    if payload.get("schema") != SCHEMA:
        raise ValueError(
            f"not a viewfinder bench result (schema {payload.get('schema')!r}, want {SCHEMA!r})"
        )
    for key, kind in (
        ("machine", dict),
        ("options", dict),
        ("rows", list),
        ("notes", list),
        ("started", str),
        ("duration_s", (int, float)),
    ):
        if not isinstance(payload.get(key), kind):
            raise ValueError(f"viewfinder bench result: {key!r} missing or of the wrong type")
    for key in ("cpu", "cpu_count", "load_average", "gpu", "gpu_driver", "cuda_runtime", "cupy"):
        if key not in payload["machine"]:
            raise ValueError(f"viewfinder bench result: machine has no {key!r}")
    seen = set()
    for i, row in enumerate(payload["rows"]):
        if not isinstance(row, dict) or set(row) != set(ROW_KEYS):
            raise ValueError(f"viewfinder bench result: row {i} does not have the row keys")
        if not isinstance(row["id"], str) or row["id"] in seen:
            raise ValueError(f"viewfinder bench result: row {i} id missing or repeated")
        seen.add(row["id"])
        if row["kind"] not in KINDS:
            raise ValueError(f"viewfinder bench result: row {row['id']!r} kind {row['kind']!r}")
        ms = row["median_ms"]
        if not isinstance(ms, (int, float)) or ms < 0:
            raise ValueError(f"viewfinder bench result: row {row['id']!r} has no median_ms")
    return payload


def run(
    options: Options,
    command: Sequence[str] = (),
    scratch: str | None = None,
    progress: Callable[[str], None] | None = None,
) -> dict[str, Any]:
    """Run the suite; the JSON payload."""
    r = Run(options, command)
    r.scratch = scratch
    r.execute(progress)
    return r.payload()


if __name__ == "__main__":  # pragma: no cover
    sys.exit("use `viewfinder bench`")
