"""Assists benchmark: what peaking, zebras, histograms, false colour, scopes and the magnifier
add to a frame, each alone and all together, and the whole pipeline with all of them on.

CPU (NumPy/Numba/OpenCV): 1920x1080 frame, 1920x1080 and 1280x720 views. GPU (when CuPy has a
device): 8192x6144 frame at a 2048x1536 view, timed with CUDA events (the issue's budget: all
assists together at most 0.5 ms). Writes <results>/<date>-<device>-assists.json.

    python -m bench.bench_assists [--quick] [--gpu-only] [--sizes 8192x6144,...] [--repeat N]

``--sizes``: the GPU frame sizes (each at a view a quarter of its side).
"""

from __future__ import annotations

import argparse
import time
from dataclasses import replace

import numpy as np

from viewfinder import Frame, Settings
from viewfinder.backend import gpu_available
from viewfinder.bench.harness import gpu_measure, measure, parse_sizes, write_results
from viewfinder.bench.pipeline import synthetic_raw
from viewfinder.pipeline import Pipeline
from viewfinder.stages.assists import Assists
from viewfinder.stages.falsecolor import FalseColourSettings
from viewfinder.stages.histogram import HistogramSettings
from viewfinder.stages.magnifier import MagnifierSettings
from viewfinder.stages.normalize import raw_scaling
from viewfinder.stages.peaking import PeakingSettings
from viewfinder.stages.scopes import ScopeSettings
from viewfinder.stages.zebra import ZebraSettings

NOISE = {"gain_dn_per_e": 0.3, "read_noise_dn": 2.0}


def single(name: str) -> Settings:
    """Settings with only assist ``name`` on ("all": every one)."""
    parts = {
        "peaking": {"peaking": PeakingSettings(enabled=True)},
        "zebra": {"zebra": ZebraSettings(enabled=True, mode="rgb", raw=True, under=True)},
        "raw_histogram": {"histogram": HistogramSettings(raw=True)},
        "view_histogram": {"histogram": HistogramSettings(view=True)},
        "false_colour": {"false_colour": FalseColourSettings(enabled=True)},
        "waveform": {"scopes": ScopeSettings(waveform=True)},
        "parade": {"scopes": ScopeSettings(parade=True)},
        "vectorscope": {"scopes": ScopeSettings(vectorscope=True)},
        "magnifier": {"magnifier": MagnifierSettings(enabled=True)},
    }
    if name == "all":
        return Settings(
            peaking=PeakingSettings(enabled=True),
            zebra=ZebraSettings(enabled=True, mode="rgb", raw=True, under=True),
            histogram=HistogramSettings(raw=True, view=True),
            false_colour=FalseColourSettings(enabled=True),
            scopes=ScopeSettings(waveform=True, parade=True, vectorscope=True),
            magnifier=MagnifierSettings(enabled=True),
        )
    return Settings(**parts[name])


NAMES = [
    "peaking",
    "zebra",
    "raw_histogram",
    "view_histogram",
    "false_colour",
    "waveform",
    "parade",
    "vectorscope",
    "magnifier",
    "all",
]


def measure_cpu(fn, repeat: int) -> dict:
    """Wall-clock figures plus the process CPU time per call (all threads): on a machine
    shared with other work the CPU time is the steadier figure of the work done."""
    r = measure(fn, repeat=repeat, warmup=2)
    t0 = time.process_time()
    for _ in range(repeat):
        fn()
    r["cpu_ms"] = (time.process_time() - t0) * 1e3 / repeat
    return r


def bench_cpu(repeat: int) -> dict:
    out: dict = {}
    w, h = 1920, 1080
    frame = Frame(synthetic_raw(w, h), "RGGB", 64, 1023, 10, meta={"noise": NOISE})
    for view in ((1920, 1080), (1280, 720)):
        vw, vh = view
        # the view the pipeline develops from this frame (a smooth scene, as a real one)
        dev = Pipeline(Settings(view_size=view), backend="numpy").process(frame)
        rgba = np.ascontiguousarray(dev.image)
        work = rgba.copy()
        cases = {}
        for name in NAMES:
            s = single(name)
            a = Assists()
            a.configure(np, frame.shape, (vh, vw), 10, s)
            sc = raw_scaling(frame)

            def run(a=a, s=s, sc=sc, work=work, rgba=rgba):
                np.copyto(work, rgba)
                a.process(frame, sc, None, None, work, s)

            r = cases[name] = measure_cpu(run, repeat)
            print(
                f"cpu {w}x{h} view {vw}x{vh} {name}: {r['median_ms']:.2f} ms wall, "
                f"{r['cpu_ms']:.2f} ms cpu"
            )
        for label, s in (("pipeline_off", Settings()), ("pipeline_all", single("all"))):
            pipe = Pipeline(replace(s, view_size=view), backend="numpy")
            r = measure(lambda p=pipe: p.process(frame), repeat=repeat, warmup=2)
            r["fps"] = 1e3 / r["median_ms"]
            cases[label] = r
            print(
                f"cpu {w}x{h} view {vw}x{vh} {label}: {r['median_ms']:.2f} ms ({r['fps']:.1f} fps)"
            )
        out[f"{w}x{h}/view{vw}x{vh}"] = cases
    return out


def bench_gpu(repeat: int, size: tuple[int, int] = (8192, 6144)) -> dict:
    import cupy as cp

    w, h = size
    vw, vh = w // 4 // 2 * 2, h // 4 // 2 * 2
    raw = cp.asarray(synthetic_raw(w, h))
    frame = Frame(raw, "RGGB", 64, 1023, 10, meta={"noise": NOISE})
    rgba = cp.asarray(np.random.default_rng(0).integers(0, 256, (vh, vw, 4)).astype(np.uint8))
    cases = {}
    for name in NAMES:
        s = single(name)
        a = Assists()
        a.configure(cp, frame.shape, (vh, vw), 10, s)
        sc = raw_scaling(frame)
        cases[name] = gpu_measure(
            lambda a=a, s=s, sc=sc: a.process(frame, sc, None, None, rgba, s),
            repeat=repeat,
            warmup=3,
        )
        print(f"gpu {w}x{h} view {vw}x{vh} {name}: {cases[name]['median_ms']:.3f} ms")
    for label, s in (("pipeline_off", Settings()), ("pipeline_all", single("all"))):
        pipe = Pipeline(replace(s, view_size=(vw, vh)), backend="cupy")
        cases[label] = gpu_measure(lambda p=pipe: p.process(frame), repeat=repeat, warmup=3)
        print(f"gpu {w}x{h} view {vw}x{vh} {label}: {cases[label]['median_ms']:.3f} ms")
    cases["added_by_all_ms"] = (
        cases["pipeline_all"]["median_ms"] - cases["pipeline_off"]["median_ms"]
    )
    return {f"{w}x{h}/view{vw}x{vh}": cases}


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="fewer repeats")
    ap.add_argument("--gpu-only", action="store_true", help="skip the CPU figures (needs a GPU)")
    ap.add_argument("--sizes", default="8192x6144", help="GPU frame sizes, comma list of WxH")
    ap.add_argument("--repeat", type=int, default=None)
    args = ap.parse_args(argv)
    if args.gpu_only and not gpu_available():
        raise SystemExit("bench_assists --gpu-only: no CUDA device (CuPy) here")
    sizes = parse_sizes(args.sizes)
    repeat = args.repeat or (5 if args.quick else 20)
    payload = {} if args.gpu_only else {"cpu": bench_cpu(repeat)}
    if gpu_available():
        payload["gpu"] = {}
        for size in sizes:
            payload["gpu"].update(bench_gpu(repeat, size))
    print(write_results("assists", payload))


if __name__ == "__main__":
    main()
