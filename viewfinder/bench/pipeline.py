"""Pipeline benchmark: raw frame -> RGBA8 view at 1080p, 4K, 12 MP and 50 MP.

Runs the viewfinder pipeline on the best backend (and the NumPy/Numba CPU path), with peers in
the same process: OpenCV's Bayer conversion (cvtColor, CPU) and colour-demosaicing's Malvar
2004 (CPU, small sizes only: it takes seconds a frame). Writes <results>/<date>-<device>-
pipeline.json.

    python -m bench.bench_pipeline [--quick] [--sizes 1920x1080,8192x6144] [--no-peers]
                                   [--gpu-only] [--repeat N]
"""

from __future__ import annotations

import argparse
import dataclasses as dc
import statistics
import sys

import cv2
import numpy as np

from viewfinder import Frame, Settings
from viewfinder.backend import gpu_available
from viewfinder.bench.harness import gpu_measure, measure, parse_sizes, write_results
from viewfinder.pipeline import Pipeline

SIZES = [(1920, 1080), (3840, 2160), (4096, 3072), (8192, 6144)]
#: ``--quick`` runs no frame larger than this on the CPU (12.6 MP: 4096x3072).
QUICK_CPU_MAX_PIXELS = 4096 * 3072
# The view each frame size is shown at: the sensor at 1/4 a side, as on a phone, and 1:1.
VIEWS = {
    (1920, 1080): [(1280, 720), (1920, 1080)],
    (3840, 2160): [(1920, 1080), (3840, 2160)],
    (4096, 3072): [(2048, 1536), (4096, 3072)],
    (8192, 6144): [(2048, 1536), (8192, 6144)],
}


def synthetic_raw(width: int, height: int, seed: int = 0) -> np.ndarray:
    """A 10-bit RGGB mosaic of a smooth colourful scene with edges and noise: (H, W) uint16."""
    rng = np.random.default_rng(seed)
    # separable: sin(x) cos(y) and the 64 px checkerboard from 1-D rows and columns (a 50 MP
    # frame in about a second rather than 15)
    x = np.arange(width, dtype=np.float32)
    y = np.arange(height, dtype=np.float32)[:, None]
    base = 0.5 + 0.4 * np.sin(x / 37.0) * np.cos(y / 23.0)
    edges = ((x // 64 + y // 64) % 2).astype(np.float32) * 0.3
    raw = np.empty((height, width), np.float32)
    raw[0::2, 0::2] = base[0::2, 0::2]  # R
    raw[0::2, 1::2] = 0.6 * base[0::2, 1::2] + edges[0::2, 1::2]  # Gr
    raw[1::2, 0::2] = 0.6 * base[1::2, 0::2] + edges[1::2, 0::2]  # Gb
    raw[1::2, 1::2] = 1.0 - base[1::2, 1::2]  # B
    raw *= 900
    raw += 64
    raw += 4 * rng.standard_normal(raw.shape, dtype=np.float32)
    return np.clip(raw, 0, 1023, out=raw).astype(np.uint16)


def all_assists(settings: Settings) -> Settings:
    """``settings`` with every assist on (peaking, zebras incl. RAW, histograms, scopes,
    false colour, magnifier)."""
    on = dc.replace
    return on(
        settings,
        peaking=on(settings.peaking, enabled=True),
        zebra=on(settings.zebra, enabled=True, under=True, raw=True),
        histogram=on(settings.histogram, raw=True, view=True),
        false_colour=on(settings.false_colour, enabled=True),
        scopes=on(settings.scopes, waveform=True, parade=True, vectorscope=True),
        magnifier=on(settings.magnifier, enabled=True),
    )


def bench_size(width: int, height: int, repeat: int, with_peers: bool, cpu: bool = True) -> dict:
    raw = synthetic_raw(width, height)
    frame = Frame(
        raw,
        cfa="RGGB",
        black_level=64,
        white_level=1023,
        bits=10,
        meta={"white_balance": (1.8, 1.0, 1.5)},
    )
    mpix = width * height / 1e6
    out: dict = {"size": [width, height], "megapixels": mpix, "cases": {}}
    cases = [
        (view, method, False) for view in VIEWS[(width, height)] for method in ("mhc", "bilinear")
    ]
    cases += [(view, "mhc", True) for view in VIEWS[(width, height)]]
    for view, method, assists in cases:
        settings = Settings(demosaic=method, view_size=view)
        if assists:
            settings = all_assists(settings)
        tag = f"{method}{'+assists' if assists else ''}/view{view[0]}x{view[1]}"
        if cpu:
            pipe = Pipeline(settings, backend="numpy")
            r = measure(lambda p=pipe: p.process(frame), repeat=repeat, warmup=2)
            r["fps"] = 1e3 / r["median_ms"]
            r["gpix_per_s"] = mpix / 1e3 / (r["median_ms"] / 1e3)
            out["cases"][f"cpu/{tag}"] = r
            print(
                f"{width}x{height} cpu/{tag}: {r['median_ms']:.2f} ms ({r['fps']:.1f} fps)",
                flush=True,
            )
        if gpu_available():
            import cupy as cp

            gpipe = Pipeline(settings, backend="cupy")
            dframe = Frame(
                cp.asarray(raw),
                cfa="RGGB",
                black_level=64,
                white_level=1023,
                bits=10,
                meta=frame.meta,
            )
            r = gpu_measure(lambda p=gpipe, f=dframe: p.process(f), repeat=max(repeat, 50))
            r["fps"] = 1e3 / r["median_ms"]
            r["gpix_per_s"] = mpix / 1e3 / (r["median_ms"] / 1e3)
            # The pipeline's own per-stage CUDA events (read a frame late): kernel time
            # without the host's launch gaps that the events around process() include.
            # Median of each stage over 11 frames (the device drained after each).
            stages: dict[str, list[float]] = {}
            for _ in range(12):
                timings = gpipe.process(dframe).timings_ms
                cp.cuda.Device().synchronize()
                for k, v in timings.items():
                    if k.startswith("gpu_"):
                        stages.setdefault(k, []).append(v)
            r["stages_gpu_ms"] = {k: statistics.median(v) for k, v in stages.items()}
            out["cases"][f"cuda/{tag}"] = r
            print(
                f"{width}x{height} cuda/{tag}: {r['median_ms']:.3f} ms GPU "
                f"({r['gpix_per_s']:.1f} Gpx/s)",
                flush=True,
            )
    if with_peers:
        for name, code in (
            ("opencv_bilinear", cv2.COLOR_BayerRGGB2RGB),
            ("opencv_ea", cv2.COLOR_BayerRGGB2RGB_EA),
            ("opencv_vng", cv2.COLOR_BayerRGGB2RGB_VNG),
        ):
            src = raw if name != "opencv_vng" else (raw >> 2).astype(np.uint8)  # VNG: 8-bit only
            r = measure(lambda s=src, c=code: cv2.cvtColor(s, c), repeat=repeat, warmup=1)
            out["cases"][f"peer/{name}"] = r
            print(f"{width}x{height} peer/{name}: {r['median_ms']:.2f} ms", flush=True)
        if width * height <= 4096 * 3072:
            import colour_demosaicing as cd

            norm = raw.astype(np.float32) / 1023
            r = measure(
                lambda: cd.demosaicing_CFA_Bayer_Malvar2004(norm, "RGGB"), repeat=2, warmup=0
            )
            out["cases"]["peer/colour_demosaicing_malvar2004"] = r
            print(
                f"{width}x{height} peer/colour-demosaicing Malvar2004: {r['median_ms']:.0f} ms",
                flush=True,
            )
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="fewer repeats, no 50 MP on the CPU")
    ap.add_argument("--sizes", default=None, help="comma list of WxH")
    ap.add_argument("--no-peers", action="store_true")
    ap.add_argument("--gpu-only", action="store_true", help="skip the CPU path (needs a GPU)")
    ap.add_argument("--repeat", type=int, default=None, help="CPU repeats (GPU: at least 50)")
    args = ap.parse_args(argv)
    if args.gpu_only and not gpu_available():
        print("bench_pipeline --gpu-only: no CUDA device (CuPy) here", file=sys.stderr)
        return 2
    sizes = SIZES
    if args.sizes:
        sizes = parse_sizes(args.sizes)
    for size in sizes:
        if size not in VIEWS:  # any other frame: shown at 1/4 a side and 1:1
            VIEWS[size] = [(size[0] // 4 // 2 * 2, size[1] // 4 // 2 * 2), size]
    repeat = args.repeat or (5 if args.quick else 15)
    results = []
    for w, h in sizes:
        # --quick: no 50 MP on the CPU (minutes on 2 cores); the GPU still runs it
        big = args.quick and w * h > QUICK_CPU_MAX_PIXELS
        if big and not gpu_available():
            print(f"{w}x{h}: skipped (--quick runs no 50 MP frame on the CPU)", flush=True)
            continue
        cpu = not (args.gpu_only or big)
        results.append(bench_size(w, h, repeat, not args.no_peers and not big, cpu=cpu))
    path = write_results("pipeline", {"results": results})
    print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
