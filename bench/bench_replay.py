"""A 12 MP 14-bit raw file replayed through the pipeline, as `viewfinder run --source file:`
does it: decode once (RawFileSource caches), then every frame develops with the default
assists of the window (peaking, RAW and view histograms) plus zebra (with the RAW clip), and
no noise model in the file.

``python -m bench.bench_replay [--frames 60] [--out bench/results/NAME.json]``

Reports the decode time, per-frame wall time (median, p95, max), frames per second, and the
stage timings of the pipeline; the frame is a photograph (scikit-image's astronaut, resized,
with shot and read noise at ISO 800) written as a DNG in a temporary folder.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np


def make_dng(path: Path, size=(4000, 3000), bits=14, seed=0) -> None:
    import cv2
    from skimage import data

    from viewfinder.capture import write_dng
    from viewfinder.frame import Frame, mosaic

    w, h = size
    pic = cv2.resize(data.astronaut(), (w, h), interpolation=cv2.INTER_CUBIC)
    lin = (pic.astype(np.float32) / 255.0) ** 2.2 * np.float32(0.8)
    white, black = (1 << bits) - 1, 512
    electrons = mosaic(lin, "RGGB") * 20000.0  # full well ~25 ke-, ISO 800-ish gain below
    rng = np.random.default_rng(seed)
    gain = (white - black) / 25000.0
    dn = black + gain * rng.poisson(electrons) + rng.normal(0, 3.0, electrons.shape)
    raw = np.clip(np.round(dn), 0, white).astype(np.uint16)
    meta = {"white_balance": (1.9, 1.0, 1.5), "iso": 800}
    write_dng(Frame(raw, "RGGB", black_level=black, white_level=white, bits=bits, meta=meta), path)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--frames", type=int, default=60)
    ap.add_argument("--view", default="1020x765", help="view size WxH (the window's at 4:3)")
    ap.add_argument("--out", default=None)
    ap.add_argument("--backend", default="numpy")
    args = ap.parse_args(argv)
    from dataclasses import replace

    from viewfinder.pipeline import Pipeline
    from viewfinder.settings import Settings
    from viewfinder.sources.rawfile import RawFileSource, read_raw_file

    vw, vh = (int(x) for x in args.view.split("x"))
    load_start = os.getloadavg()[0]
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "replay12mp.dng"
        make_dng(path)
        t = time.perf_counter()
        read_raw_file(path)
        decode_ms = (time.perf_counter() - t) * 1e3
        src = RawFileSource(path, fps=None)
        s = Settings(view_size=(vw, vh))
        s = replace(
            s,
            peaking=replace(s.peaking, enabled=True),
            histogram=replace(s.histogram, raw=True, view=True),
            zebra=replace(s.zebra, enabled=True, raw=True),
        )
        pipe = Pipeline(s, backend=args.backend)
        first = time.perf_counter()
        pipe.process(src.read())  # configure, compile
        first_ms = (time.perf_counter() - first) * 1e3
        walls, cpus, stages = [], [], {}
        for _ in range(args.frames):
            f = src.read()
            t, c = time.perf_counter(), time.process_time()
            out = pipe.process(f)
            walls.append((time.perf_counter() - t) * 1e3)
            cpus.append((time.process_time() - c) * 1e3)
            for k, v in out.timings_ms.items():
                stages.setdefault(k, []).append(v)
        src.close()
    walls_sorted = sorted(walls)
    result = {
        "benchmark": "replay of a 4000x3000 14-bit DNG, default assists (peaking, histograms)"
        " and zebra (RAW clip)",
        "machine": {
            "cpus": os.cpu_count(),
            "processor": platform.processor() or platform.machine(),
            "load_avg_1m": os.getloadavg()[0],
            "load_avg_1m_at_start": load_start,
            "python": platform.python_version(),
        },
        "backend": args.backend,
        "view": [vw, vh],
        "frames": args.frames,
        "decode_ms": round(decode_ms, 1),
        "first_frame_ms": round(first_ms, 1),
        "frame_ms": {
            "median": round(statistics.median(walls), 1),
            "p95": round(walls_sorted[int(0.95 * (len(walls) - 1))], 1),
            "max": round(max(walls), 1),
        },
        "fps_median": round(1e3 / statistics.median(walls), 1),
        # CPU time of all the process's threads a frame: the work, less sensitive to other
        # sessions' load than wall time (on 2 quiet cores, wall >= cpu / 2)
        "cpu_ms_median": round(statistics.median(cpus), 1),
        "frames_over_100ms": sum(w > 100 for w in walls),
        "stages_ms_median": {k: round(statistics.median(v), 1) for k, v in stages.items()},
    }
    text = json.dumps(result, indent=2)
    print(text)
    if args.out:
        Path(args.out).write_text(text + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
