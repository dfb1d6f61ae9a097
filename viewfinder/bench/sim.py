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

``--full-size SCENE``: the 8192x6144 M camera (Summilux-M 35 at f/1.4) on the CPU, in a fresh
process each: the first frame (scene render, exposure) in seconds and the process's peak
memory, then a focus change, an aperture change and a cached frame; JSON
``<date>-cpu2-sim-<scene>.json``. The planes also get their worst changes
(:data:`WORST_CASES`): focused on the charts (1 m) or the colour checker (2 m) at f/8 and
f/1.4, the sharp plane drawn at full size; each timed the first time (no grid kept: drawn,
blurred, composited) and again with its grids kept (blurred and composited).

With several ``--gpu-sizes`` the JSON's ``gpu`` holds the last size and ``gpu_sizes`` them all.
"""

from __future__ import annotations

import argparse
import os
import sys

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


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer repeats, 1920x1080 only")
    parser.add_argument("--gpu-only", action="store_true", help="skip the CPU figures")
    parser.add_argument("--gpu-sizes", default="8192x6144", help="comma list of WxH")
    parser.add_argument("--repeat", type=int, default=None)
    parser.add_argument(
        "--full-size", default=None, help="planes | motorcycle: the 8192x6144 first frame etc."
    )
    args = parser.parse_args(argv)
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
