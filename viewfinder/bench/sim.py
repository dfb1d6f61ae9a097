"""Simulated camera benchmark: frames per second of ``SimulatedCamera.read()``.

What a frame costs once the defocused scene is cached (focus, aperture and size unchanged):
the sensor exposure (shot + read noise, clipping, quantisation) of every pixel, the motion
offset and the ``Frame`` with its metadata. Also measured: the cost of a change (re-render of
the blurred layers), one contrast-autofocus sweep, and, as peers in the same process, NumPy's
own noise generators at the same size (what a straightforward per-frame implementation pays).
On a CUDA device: 8192x6144 frames on the device (CUDA events and wall clock with a sync),
with ``host=True`` (device -> pinned host copy), and an aperture change (the mosaic rendered
on the CPU, scene_grid, and uploaded once).

    python -m bench.bench_sim [--quick] [--gpu-only] [--gpu-sizes 8192x6144,...] [--repeat N]
    python -m bench.bench_sim --full-size planes|motorcycle
    python -m bench.bench_sim --device-host planes|motorcycle [--samples N] [--no-model]

``--full-size SCENE``: the 8192x6144 M camera (Summilux-M 35 at f/1.4) on the CPU, in a fresh
process each: the first frame (scene render, exposure) in seconds and the process's peak
memory, then a focus change, an aperture change and a cached frame; JSON
``<date>-cpu2-sim-<scene>.json``. The planes also get their worst changes
(:data:`WORST_CASES`): focused on the charts (1 m) or the colour checker (2 m) at f/8 and
f/1.4, the sharp plane drawn at full size; each timed the first time (no grid kept: drawn,
blurred, composited) and again with its grids kept (blurred and composited).

``--device-host SCENE`` (issue 12, no GPU needed): the host part of a device first frame,
measured on ``cudasim`` with the scene kernels not executed (kernel time excluded:
unmeasured). In ``--samples`` fresh processes (one subprocess a sample): the 8192x6144 M
camera's creation (constructor, ``set_mode("m")``, ``mount_lens(cam, "summilux-35")``), the
first ``_ensure_cache()`` (the scene's host work up to its kernel launch, its uploads
included) and the rest of the first ``read()`` (the exposer's buffers, ``set_rate``: the
upload of a host-rendered map, and the exposure launch, also not executed), then a focus
change and an aperture change the same way, and the host part of a cached ``read()``. The
measurement hook is :func:`skipped_kernels` (this bench only): every kernel of a module whose
name starts with ``scene`` (``scene.cu``: the motorcycle, ``scene_planes.cu``: the planes) or
``sim`` (the exposure) is a no-op, neither compiled nor run. Each sample says which path the
scene took (``render_rate_device``, and whether the cache holds a device map). Also (unless
``--no-model``) a MODEL of a cached frame on an H200 from ``bench/gpu_model.py``: the
exposure kernel ``vf_sim_expose`` at 8192x6144 and the viewer's pipeline (MHC, default
assists, 2048x1536 view): issue and DRAM floors, not a measurement. JSON
``<date>-cpu2-sim-device-host-<scene>.json``.

With several ``--gpu-sizes`` the JSON's ``gpu`` holds the last size and ``gpu_sizes`` them all.
"""

from __future__ import annotations

import argparse
import collections
import contextlib
import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from typing import Any

import numba
import numpy as np

from viewfinder.backend import cupy_module
from viewfinder.bench.harness import _summary, gpu_measure, measure, parse_sizes, write_results
from viewfinder.sources.simulated import SimulatedCamera

CPU_SIZES = [(1920, 1080), (2048, 1536), (4096, 3072)]
#: (focus m, f-number) of the planes' costliest changes: a chart plane sharp, at full size.
WORST_CASES = ((1.0, 8.0), (2.0, 8.0), (1.0, 1.4), (2.0, 1.4))


def fps(stats: dict[str, float]) -> float:
    return 1000.0 / stats["median_ms"]


def cpu_frames(size: tuple[int, int], repeat: int) -> dict[str, object]:
    out: dict[str, object] = {"size": list(size)}
    cam = SimulatedCamera(size, backend="numpy", motion=True, noise=True)
    cam.set_mode("m")
    cam.attach_lens("summilux-35")
    cam.set_focus(1.0)
    cam.read()  # render and cache
    out["read"] = measure(cam.read, repeat=repeat, warmup=5)
    cam.noise = False
    out["read_noise_free"] = measure(cam.read, repeat=repeat, warmup=3)
    cam.noise = True
    apertures = iter([2.0, 2.8, 4.0, 5.6, 8.0, 11.0, 16.0, 1.4] * 4)

    def change() -> None:  # every call a new aperture: the layers are blurred again
        cam.set_aperture(next(apertures))
        cam.read()

    out["aperture_change_and_read"] = measure(change, repeat=max(3, repeat // 10), warmup=1)
    # peers: NumPy noise generators at the frame size
    rng = np.random.default_rng(0)
    lam = np.full((size[1], size[0]), 400.0)
    out["peer_numpy_standard_normal_f32"] = measure(
        lambda: rng.standard_normal(lam.shape, dtype=np.float32), repeat=max(5, repeat // 4)
    )
    out["peer_numpy_poisson"] = measure(lambda: rng.poisson(lam), repeat=max(3, repeat // 10))
    out["fps"] = fps(out["read"])
    cam.close()
    return out


def autofocus() -> dict[str, object]:
    cam = SimulatedCamera((1920, 1440), backend="numpy", motion=False)
    cam.read()
    return {
        "size": [1920, 1440],
        "tap": [960, 720],
        "focus_at": measure(lambda: cam.focus_at(960, 720), repeat=3, warmup=1),
    }


def gpu_frames(repeat: int, size: tuple[int, int] = (8192, 6144)) -> dict[str, object]:
    cp = cupy_module()
    out: dict[str, object] = {"size": list(size)}
    for host in (False, True):
        cam = SimulatedCamera(size, backend="cupy", host=host, motion=True)
        cam.set_mode("m")
        cam.attach_lens("summilux-35")
        cam.set_focus(1.0)
        cam.read()
        key = "host" if host else "device"
        sync = cp.cuda.Stream.null.synchronize
        out[f"{key}_wall"] = measure(cam.read, repeat=repeat, warmup=5, sync=sync)
        out[f"{key}_wall"]["fps"] = fps(out[f"{key}_wall"])
        if not host:
            apertures = iter([2.0, 2.8, 4.0, 5.6, 8.0, 11.0, 16.0, 1.4] * 4)

            def change(c=cam, stops=apertures) -> None:  # render on the host, upload once
                c.set_aperture(next(stops))
                c.read()

            out["device_aperture_change_and_read"] = measure(change, repeat=8, warmup=1, sync=sync)
            out["device_events"] = gpu_measure(cam.read, repeat=repeat, warmup=5)
            out["device_events"]["fps"] = fps(out["device_events"])
            out["device_event_exposure_kernel_only"] = gpu_measure(
                lambda c=cam: c._gpu.expose(
                    (16, 16), 1 / 100, c.sensors["m"].noise_params(100), 1, True
                ),
                repeat=repeat,
                warmup=5,
            )
        cam.close()
    return out


def full_size(scene: str, repeat: int = 5) -> dict[str, object]:
    """First frame, focus change, aperture change and cached frame of the 8192x6144 M camera
    showing ``scene`` (run in a fresh process for its peak memory)."""
    import resource
    import time

    size = (8192, 6144)
    rss0 = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    t0 = time.perf_counter()
    cam = SimulatedCamera(size, backend="numpy", scene=scene, motion=True, noise=True)
    cam.set_mode("m")
    cam.attach_lens("summilux-35")
    cam.set_aperture(1.4)
    cam.set_focus(cam.scene.subject_m)
    cam.read()
    first_s = time.perf_counter() - t0
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    foci = iter([2.2, 2.5, 3.0, 4.0, 2.3, 2.8, 3.5, 2.4] * 4)
    stops = iter([2.0, 2.8, 4.0, 5.6, 8.0, 1.4, 2.8, 4.0] * 4)

    def focus() -> None:
        cam.set_focus(next(foci))
        cam.read()

    def aperture() -> None:
        cam.set_aperture(next(stops))
        cam.read()

    out: dict[str, object] = {
        "scene": scene,
        "size": list(size),
        "lens": "summilux-35",
        "first_frame_s": first_s,
        "peak_rss_mb": peak_mb,
        "rss_before_mb": rss0,
        "focus_change_and_read": measure(focus, repeat=repeat, warmup=1),
        "aperture_change_and_read": measure(aperture, repeat=repeat, warmup=1),
        "cached_read": measure(cam.read, repeat=repeat * 4, warmup=2),
        "peak_rss_after_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
    }
    if scene == "planes":
        out["worst_changes"] = worst_changes(cam, max(3, repeat // 2))
        out["peak_rss_after_worst_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    cam.close()
    return out


def worst_changes(cam: SimulatedCamera, repeat: int) -> list[dict[str, object]]:
    """Each of :data:`WORST_CASES` rendered ``repeat`` times the first time (the scene's
    grids dropped first) and again (grids kept), each with its read()."""
    import time

    scene = cam.scene
    out = []
    for focus, stop in WORST_CASES:
        first, again = [], []
        for _ in range(repeat):
            cam.set_aperture(stop)
            cam.set_focus(focus)
            for kept, samples in ((False, first), (True, again)):
                cam._caches.clear()  # render this state again
                if not kept:
                    with scene._lock:
                        scene._grids.clear()
                        scene._grid_bytes = 0
                t0 = time.perf_counter()
                cam.read()
                samples.append((time.perf_counter() - t0) * 1e3)
        out.append(
            {
                "focus_m": focus,
                "f_number": stop,
                "first_time": _summary(first),
                "grids_kept": _summary(again),
            }
        )
    return out


#: Module-name prefixes of the kernels :func:`device_host_sample` does not execute: the scenes'
#: mosaic kernels (``scene.cu``, ``scene_planes.cu``, any later ``scene*.cu``) and the
#: exposure (``sim.cu``).
SKIPPED_MODULES = ("scene", "sim")
DEVICE_HOST_LABEL = (
    "host part of a device first frame: cudasim with the scene kernels not executed "
    "(kernel time excluded: unmeasured)"
)


@contextlib.contextmanager
def skipped_kernels(prefixes: tuple[str, ...] = SKIPPED_MODULES) -> Iterator[Any]:
    """Measurement hook of this bench (no product code changes): while active, every kernel
    :func:`viewfinder.kernels.get_kernel` hands out from a module whose name starts with one
    of ``prefixes`` is a no-op (neither compiled nor launched); the others are the real ones.
    Yields a :class:`collections.Counter` of the skipped launches by ``module:function``.

    It wraps ``viewfinder.kernels._function`` (what ``get_kernel`` calls, whatever name a
    caller imported), as ``bench/gpu_model.py`` does to record launches. A kernel object
    handed out while active stays a no-op for whoever keeps it (the exposer keeps its own)."""
    import viewfinder.kernels as vk

    original = vk._function
    launched: collections.Counter[str] = collections.Counter()

    def function(xp: Any, name: str, fn: str, defines: tuple) -> Any:
        if not name.startswith(prefixes):
            return original(xp, name, fn, defines)

        def noop(*_args: Any, **_kwargs: Any) -> None:
            launched[f"{name}:{fn}"] += 1

        return noop

    vk._function = function
    try:
        yield launched
    finally:
        vk._function = original


def device_host_sample(scene: str, size: tuple[int, int] = (8192, 6144)) -> dict[str, Any]:
    """One sample of ``--device-host`` (call it in a fresh process): seconds of each step's
    host part on ``cudasim`` with :func:`skipped_kernels` active."""
    from viewfinder.app import mount_lens

    load0 = os.getloadavg()[0]
    out: dict[str, Any] = {}
    with skipped_kernels() as launched:
        t0 = time.perf_counter()
        cam = SimulatedCamera(size, backend="cudasim", scene=scene, motion=False)
        cam.set_mode("m")
        mount_lens(cam, "summilux-35")
        out["create_s"] = time.perf_counter() - t0

        def step(name: str) -> None:
            t0 = time.perf_counter()
            with cam._device_stream():  # as read() renders: on the camera's own stream
                cache = cam._ensure_cache()
            t1 = time.perf_counter()
            cam.read()  # the rest: exposer buffers, set_rate (a host map's upload), launch
            t2 = time.perf_counter()
            out[f"{name}_ensure_cache_s"] = t1 - t0
            out[f"{name}_read_rest_s"] = t2 - t1
            out[f"{name}_s"] = t2 - t0
            out[f"{name}_device_map"] = cache["device_rate"] is not None
            out[f"{name}_state"] = [cache["aperture"], cache["focus"]]

        step("first")
        out["create_and_first_s"] = out["create_s"] + out["first_s"]
        out["render_rate_device"] = hasattr(cam.scene, "render_rate_device")
        focus = cam.focus_m
        cam.set_focus(2.5 if abs(focus - 2.5) > 0.05 else 3.0)
        step("focus_change")
        cam.set_aperture(1.4 if abs(cam.aperture - 1.4) > 0.05 else 2.8)
        step("aperture_change")
        cached = []
        for _ in range(10):
            t0 = time.perf_counter()
            cam.read()
            cached.append(time.perf_counter() - t0)
        out["cached_read_s"] = float(np.median(cached))
        out["skipped_launches"] = dict(launched)
        cam.close()
    out["load_1min_before"] = load0
    out["load_1min_after"] = os.getloadavg()[0]
    return out


def _spread(values: list[float]) -> dict[str, float]:
    return {
        "median": float(np.median(values)),
        "min": float(min(values)),
        "max": float(max(values)),
        "n": len(values),
    }


def expose_model(size: tuple[int, int] = (8192, 6144)) -> dict[str, Any]:
    """MODEL (floors, not a measurement) of ``vf_sim_expose`` at ``size`` on an H200 with
    ``bench/gpu_model.py``'s machinery: the launch recorded on cudasim without running it
    (``config.execute = False``), the sm_90 SASS of NVRTC, the dynamic instruction count and
    the DRAM bytes of its table entry (reads one f32 rate, writes one u16 a site)."""
    from bench import gpu_model as g
    from viewfinder import cudasim
    from viewfinder.cudasim.simt import module as simt_module
    from viewfinder.sources.sensor_gpu import GpuExposer
    from viewfinder.sources.simulated import MARGIN

    w, h = size
    cam = SimulatedCamera((64, 48), backend="numpy", motion=False)
    p = cam.sensors["m"].noise_params(100)
    cam.close()
    exposer = GpuExposer(w, h, xp="cudasim")
    exposer.set_rate("model", cudasim.zeros((h + 2 * MARGIN, w + 2 * MARGIN), np.float32))
    cfg = simt_module.config
    saved = (cfg.execute, cfg.launch_log)
    cfg.execute = False
    cfg.launch_log = log = []
    try:
        exposer.expose((MARGIN, MARGIN), 1 / 100, p, 1, True)
    finally:
        cfg.execute, cfg.launch_log = saved
    ((kernel, grid, block, args, scalars),) = log
    lc = g.Launch(kernel, "sim", (), grid, block, args, scalars)
    g.attach_signatures([lc])
    ctx = g.Ctx(lc, lc.named(), size, size)
    spec = g.KERNELS[kernel]
    read, write = spec.traffic(ctx)
    comp = g.compile_module("sim", ())
    ins, labels = g.parse_sass(comp.sass)[kernel]
    cnt = g.dynamic_count(ins, labels, lc, spec, ctx)
    res = comp.resources.get(kernel, {})
    dev = g.H200
    warp_insts = lc.warps * cnt.per_thread
    dram_ms = (read + write) / dev.dram_bytes_per_s * 1e3
    issue_ms = warp_insts / dev.warp_issue_per_s * 1e3
    row = {
        "kernel": kernel,
        "grid": list(lc.grid),
        "block": list(lc.block),
        "noise": True,
        "access_pattern": spec.doc,
        "dram_read_bytes": int(read),
        "dram_write_bytes": int(write),
        "dram_floor_ms": dram_ms,
        "sass_static": cnt.static,
        "insts_per_thread": cnt.per_thread,
        "loops_without_trip": cnt.loops_without_trip,
        "uniform_branches_resolved": cnt.resolved_branches,
        "warp_insts": warp_insts,
        "issue_floor_ms": issue_ms,
        "registers": res.get("registers"),
        "shared_bytes": res.get("shared_bytes"),
        "spill_store_bytes": res.get("spill_store_bytes"),
        "compiler": comp.compiler,
        "floor_ms": max(dram_ms, issue_ms),
        "bound": "issue" if issue_ms > dram_ms else "dram",
    }
    if res:
        row.update(g.occupancy(res["registers"], res["shared_bytes"], lc.block_threads))
    return row


def cached_frame_model(size: tuple[int, int] = (8192, 6144)) -> dict[str, Any]:
    """MODEL of a cached frame on an H200: :func:`expose_model` plus the viewer's pipeline
    (``bench.gpu_model.model``: MHC, default assists, 2048x1536 view, the default schedule),
    kernels one after another. Floors: no latency, stalls, launch overhead or host work."""
    from bench import gpu_model as g

    tools = g.toolchain()
    if tools["compiler"] is None or tools["nvdisasm"] is None:
        return {"measured": False, "error": f"no SASS toolchain: {tools}"}
    expose = expose_model(size)
    pipe = g.model(size=size)
    t = pipe["totals"]
    frame_ms = expose["floor_ms"] + (t["frame_floor_ms"] or 0.0)
    return {
        "what": "MODEL, not a measurement (no GPU has run these kernels): floors on an H200 "
        "from bench/gpu_model.py (sm_90 SASS of NVRTC; issue floor = warp instructions / "
        "(132 SMs x 4 x 1.98 GHz), DRAM floor = bytes / 4.8e12 B/s); no latency, stalls, "
        "launch overhead (~2-4 us a launch) or host work",
        "measured": False,
        "device": pipe["device"],
        "expose": expose,
        "pipeline": {
            "config": pipe["config"],
            "totals": t,
            "kernels": [
                {k: r.get(k) for k in ("kernel", "floor_ms", "issue_floor_ms", "dram_floor_ms")}
                for r in pipe["kernels"]
            ],
        },
        "cached_frame_floor_ms": frame_ms,
        # the pipeline's device copies and memsets that are not kernels (gpu_model other_ops)
        "cached_frame_floor_with_other_ops_ms": frame_ms
        + (t["dram_bytes_with_other_ops"] - t["dram_bytes"]) / g.H200.dram_bytes_per_s * 1e3,
        "caveats": "the exposure's data-dependent branches (clipping) are counted both ways "
        "(an upper bound of its instructions); the issue floor treats MUFU (log, sin, cos of "
        "the noise) as full-rate; the viewer's device-to-host copy (host=True) is not counted",
        "cached_frame_fps_ceiling": 1000.0 / frame_ms if frame_ms else None,
        "target_fps": 120,
        "target_ms": 1000.0 / 120,
    }


def _git(*args: str) -> str | None:
    """``git args`` in the package's checkout (its output stripped), ``None`` without one."""
    import viewfinder

    root = os.path.dirname(os.path.dirname(os.path.abspath(viewfinder.__file__)))
    try:
        done = subprocess.run(["git", *args], capture_output=True, text=True, cwd=root)
    except OSError:
        return None
    return done.stdout.strip() if done.returncode == 0 else None


def device_host_main(scene: str, samples: int, with_model: bool = True) -> int:
    """``--device-host``: :func:`device_host_sample` in ``samples`` fresh processes, medians
    and ranges; then the model (:func:`cached_frame_model`); JSON and a summary."""
    import viewfinder

    root = os.path.dirname(os.path.dirname(os.path.abspath(viewfinder.__file__)))
    env = dict(os.environ)
    env["PYTHONPATH"] = root + os.pathsep + env.get("PYTHONPATH", "")
    cmd = [sys.executable, "-m", "viewfinder.bench.sim", "--device-host-sample", scene]
    load_before = list(os.getloadavg())
    runs = []
    for i in range(samples):
        t0 = time.perf_counter()
        done = subprocess.run(cmd, capture_output=True, text=True, env=env, cwd=root)
        if done.returncode != 0:
            print(done.stderr, file=sys.stderr)
            return 1
        run = json.loads(done.stdout.strip().splitlines()[-1])
        run["process_s"] = time.perf_counter() - t0  # interpreter start and imports included
        runs.append(run)
        print(
            f"  sample {i + 1}/{samples}: create {run['create_s']:.3f} s, first "
            f"{run['first_s']:.3f} s (ensure_cache {run['first_ensure_cache_s']:.3f}), "
            f"focus {run['focus_change_s']:.3f} s, aperture {run['aperture_change_s']:.3f} s, "
            f"load {run['load_1min_before']:.2f}-{run['load_1min_after']:.2f}"
        )
    keys = [k for k, v in runs[0].items() if isinstance(v, float) and not k.startswith("load")]
    first = runs[0]
    payload: dict[str, Any] = {
        "what": DEVICE_HOST_LABEL,
        "measured_on": "cudasim (CPU), kernels of modules starting with "
        f"{'/'.join(SKIPPED_MODULES)!r} not executed (skipped_kernels); each sample a fresh "
        "process",
        "excluded": "the kernels' run time (the scene's mosaic, the exposure): unmeasured; "
        "their compilation (NVRTC on a GPU: CuPy's disk cache when warm). Uploads are "
        "cudasim's host copies, not PCIe transfers",
        "scene": scene,
        "size": [8192, 6144],
        "lens": "summilux-35",
        "samples": samples,
        "path": {
            "render_rate_device": first["render_rate_device"],
            "device_map": first["first_device_map"],
            "skipped_launches": first["skipped_launches"],
            "note": "device_map true: the scene wrote its mosaic with a device kernel (not "
            "executed here); false: rendered on the host and uploaded by set_rate (measured)",
        },
        "commit": _git("rev-parse", "--short", "HEAD"),
        "uncommitted_under_viewfinder": _git("status", "--porcelain", "--", "viewfinder"),
        "load_average_before": load_before,
        "seconds": {k: _spread([r[k] for r in runs]) for k in keys},
        "runs": runs,
        "load_average_after": list(os.getloadavg()),
    }
    s = payload["seconds"]
    print(f"{scene} 8192x6144, {DEVICE_HOST_LABEL}")
    print(
        f"  path: render_rate_device={first['render_rate_device']}, device map="
        f"{first['first_device_map']}, skipped {first['skipped_launches']}"
    )
    for k in (
        "create_s",
        "first_s",
        "first_ensure_cache_s",
        "first_read_rest_s",
        "create_and_first_s",
    ):
        print(f"  {k}: median {s[k]['median']:.3f} s ({s[k]['min']:.3f}-{s[k]['max']:.3f})")
    for k in ("focus_change_s", "aperture_change_s"):
        print(
            f"  {k}: median {s[k]['median'] * 1e3:.1f} ms ({s[k]['min'] * 1e3:.1f}-"
            f"{s[k]['max'] * 1e3:.1f})"
        )
    c = s["cached_read_s"]
    print(
        f"  cached_read_s: median {c['median'] * 1e6:.0f} us ({c['min'] * 1e6:.0f}-"
        f"{c['max'] * 1e6:.0f}), the exposure launch not executed"
    )
    print(f"  load {load_before[0]:.2f} before, {payload['load_average_after'][0]:.2f} after")
    if with_model:
        try:
            payload["cached_frame_model"] = m = cached_frame_model()
        except Exception as exc:  # the model's toolchain (NVRTC, nvdisasm) may be missing
            payload["cached_frame_model"] = m = {"measured": False, "error": repr(exc)}
        if "error" not in m:
            e = m["expose"]
            print(
                f"  MODEL (floors on an H200, not measured): vf_sim_expose issue "
                f"{e['issue_floor_ms']:.3f} ms, DRAM {e['dram_floor_ms']:.3f} ms; pipeline "
                f"{m['pipeline']['totals']['frame_floor_ms']:.3f} ms; cached frame floor "
                f"{m['cached_frame_floor_ms']:.3f} ms ({m['cached_frame_fps_ceiling']:.0f} fps "
                "ceiling)"
            )
        else:
            print(f"  model: {m['error']}")
    print(f"wrote {write_results('sim-device-host-' + scene, payload)}")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer repeats, 1920x1080 only")
    parser.add_argument("--gpu-only", action="store_true", help="skip the CPU figures")
    parser.add_argument("--gpu-sizes", default="8192x6144", help="comma list of WxH")
    parser.add_argument("--repeat", type=int, default=None)
    parser.add_argument(
        "--full-size", default=None, help="planes | motorcycle: the 8192x6144 first frame etc."
    )
    parser.add_argument(
        "--device-host",
        default=None,
        help="planes | motorcycle: the host part of a device first frame (cudasim, the scene "
        "kernels not executed), in fresh processes",
    )
    parser.add_argument("--samples", type=int, default=6, help="--device-host: processes")
    parser.add_argument(
        "--no-model", action="store_true", help="--device-host: skip the H200 model"
    )
    parser.add_argument("--device-host-sample", default=None, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.device_host_sample:  # one sample, in this fresh process: a JSON line
        print(json.dumps(device_host_sample(args.device_host_sample)))
        return 0
    if args.device_host:
        return device_host_main(args.device_host, args.samples, not args.no_model)
    if args.full_size:
        payload = {
            "numba_threads": numba.get_num_threads(),
            "load_average_before": list(os.getloadavg()),
            **full_size(args.full_size, args.repeat or 5),
            "load_average_after": list(os.getloadavg()),
        }
        r = payload
        print(
            f"{args.full_size} 8192x6144: first frame {r['first_frame_s']:.2f} s, peak "
            f"{r['peak_rss_mb']:.0f} MB; focus change "
            f"{r['focus_change_and_read']['median_ms']:.0f} ms, aperture change "
            f"{r['aperture_change_and_read']['median_ms']:.0f} ms, cached frame "
            f"{r['cached_read']['median_ms']:.1f} ms"
        )
        for w in r.get("worst_changes", []):
            print(
                f"  focus {w['focus_m']:g} m at f/{w['f_number']:g}: first time "
                f"{w['first_time']['median_ms']:.0f} ms (p90 {w['first_time']['p90_ms']:.0f}), "
                f"grids kept {w['grids_kept']['median_ms']:.0f} ms"
            )
        print(f"wrote {write_results('sim-' + args.full_size, payload)}")
        return 0
    gpu_sizes = parse_sizes(args.gpu_sizes)
    if args.gpu_only and cupy_module() is None:
        print("bench_sim --gpu-only: no CUDA device (CuPy) here", file=sys.stderr)
        return 2
    repeat = args.repeat or (20 if args.quick else 100)
    payload: dict[str, object] = {
        "numba_threads": numba.get_num_threads(),
        "load_average_before": list(os.getloadavg()),  # the CPU figures are shared-machine ones
        "cpu": [],
    }
    sizes = [] if args.gpu_only else CPU_SIZES[:1] if args.quick else CPU_SIZES
    for size in sizes:
        r = cpu_frames(size, repeat)
        payload["cpu"].append(r)
        print(
            f"cpu {size[0]}x{size[1]}: read {r['read']['median_ms']:.2f} ms "
            f"(min {r['read']['min_ms']:.2f}) "
            f"({r['fps']:.0f} fps), noise-free {r['read_noise_free']['median_ms']:.2f} ms, "
            f"aperture change {r['aperture_change_and_read']['median_ms']:.0f} ms; peers: "
            f"numpy normal {r['peer_numpy_standard_normal_f32']['median_ms']:.1f} ms, "
            f"poisson {r['peer_numpy_poisson']['median_ms']:.1f} ms"
        )
    if not (args.quick or args.gpu_only):
        payload["autofocus"] = autofocus()
        print(f"autofocus sweep: {payload['autofocus']['focus_at']['median_ms']:.0f} ms")
    for size in gpu_sizes if cupy_module() is not None else []:
        payload["gpu"] = g = gpu_frames(repeat, size)
        if len(gpu_sizes) > 1:
            payload.setdefault("gpu_sizes", []).append(g)
        print(
            f"gpu {size[0]}x{size[1]}: events {g['device_events']['median_ms']:.3f} ms "
            f"({g['device_events']['fps']:.0f} fps), wall {g['device_wall']['median_ms']:.3f}"
            f" ms ({g['device_wall']['fps']:.0f} fps), host copy "
            f"{g['host_wall']['median_ms']:.2f} ms, kernel "
            f"{g['device_event_exposure_kernel_only']['median_ms']:.3f} ms, aperture change "
            f"{g['device_aperture_change_and_read']['median_ms']:.0f} ms"
        )
    payload["load_average_after"] = list(os.getloadavg())
    path = write_results("sim", payload)
    print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
