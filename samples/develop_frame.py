"""Develop simulated frames through the pipeline, print the frame rate, write a PNG.

    python samples/develop_frame.py [--size 1920x1080] [--frames 60] [--out view.png]

The simulated IMX989 behind a Summilux-M 35 f/1.4 focused at 3 m, focus peaking and
histograms on; runs on CuPy when a CUDA device is usable, else on the CPU.
"""

from __future__ import annotations

import argparse
import dataclasses as dc
import statistics
import time

from viewfinder import Pipeline, Settings
from viewfinder.backend import to_host
from viewfinder.capture import write_png
from viewfinder.sources import SimulatedCamera


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--size", default="1920x1080", help="sensor output size WxH")
    ap.add_argument("--frames", type=int, default=60)
    ap.add_argument("--out", default="view.png")
    args = ap.parse_args()

    width, height = (int(v) for v in args.size.lower().split("x"))
    camera = SimulatedCamera((width, height))
    camera.set_mode("m")
    camera.attach_lens("summilux-35")
    camera.set_focus(3.0)
    settings = Settings(view_size=(1280, 720))
    settings = dc.replace(
        settings,
        peaking=dc.replace(settings.peaking, enabled=True),
        histogram=dc.replace(settings.histogram, raw=True, view=True),
    )
    pipeline = Pipeline(settings)
    times = []
    for _ in range(args.frames):
        frame = camera.read()
        t0 = time.perf_counter()
        out = pipeline.process(frame)
        times.append(time.perf_counter() - t0)
    median_ms = statistics.median(times) * 1e3
    print(
        f"{frame.width}x{frame.height} -> {out.view.shape[1]}x{out.view.shape[0]} "
        f"on {out.backend} ({out.path}): {median_ms:.1f} ms a frame, "
        f"{1e3 / median_ms:.0f} fps"
    )
    print(f"wrote {write_png(to_host(out.view), args.out)}")
    camera.close()


if __name__ == "__main__":
    main()
