"""Live-view benchmark: frames to screen in the viewer's window (offscreen), panels included.

Two figures per configuration:

- ``present``: one presentation of an already processed frame, timed to ``glFinish``: take
  the result, upload the view (and masks), draw the image with its overlays, build and draw
  the ImGui panels. ``1000 / median`` is how fast the window can show frames.
- ``live``: the threaded viewer end to end (source ring -> processing thread -> window), frames
  newly presented per second over ``--frames`` frames, with the per-stage times.

The source replays frames exposed beforehand by the simulated camera (so the sensor model does
not compete for the CPU), paced at ``--source-fps``. CPU default: a 1280x720 window fed by
1920x1080 frames; ``--gpu``: a 3840x2160 window fed by 8192x6144 frames, CuPy and EGL.

    python -m bench.bench_view [--frames 90] [--gpu] [--quick] [--frame-size WxH] [--window WxH]
"""

from __future__ import annotations

import argparse
import os
import time
from dataclasses import replace
from typing import Any

from viewfinder.bench.harness import environment, measure, parse_sizes, write_results


class ReplaySource:
    """Cycles through pre-exposed frames at ``fps`` (a FrameSource)."""

    def __init__(self, frames: list[Any], fps: float) -> None:
        self.frames, self.fps, self.name = frames, fps, f"replay {len(frames)}"
        self.seq, self._next = 0, time.monotonic()

    def read(self) -> Any:
        self._next = max(self._next + 1.0 / self.fps, time.monotonic())
        time.sleep(max(0.0, self._next - time.monotonic()))
        f = self.frames[self.seq % len(self.frames)]
        self.seq += 1
        return replace(f, seq=self.seq, timestamp_ns=time.monotonic_ns())

    def close(self) -> None:
        pass


def exposed_frames(size: tuple[int, int], backend: str, n: int = 4) -> list[Any]:
    from viewfinder.sources.simulated import SimulatedCamera

    cam = SimulatedCamera(size=size, backend=backend)
    cam.set_mode("builtin")
    return [cam.read() for _ in range(n)]


def run_config(
    ctx: Any,
    frames: list[Any],
    view: tuple[int, int],
    backend: str,
    assists: dict[str, bool],
    n_frames: int,
    source_fps: float,
) -> dict[str, Any]:
    from OpenGL import GL

    from viewfinder.pipeline import Pipeline
    from viewfinder.render.viewer import Viewer
    from viewfinder.settings import Settings

    pipeline = Pipeline(Settings(view_size=view), backend=backend)
    viewer = Viewer(ReplaySource(frames, source_fps), pipeline, ctx)
    viewer.overlays.peaking = assists["peaking"]
    viewer.overlays.zebra = assists["zebra"]
    viewer.show_histogram = assists["histogram"]
    try:
        viewer.run(frames=5, headless=True)  # warm-up: JIT, buffers, textures
        t0, p0, c0 = time.perf_counter(), viewer.presented, time.process_time()
        load0 = os.getloadavg()[0]
        viewer.run(frames=p0 + n_frames, headless=True)
        elapsed = time.perf_counter() - t0
        n = max(1, viewer.presented - p0)
        live = {
            "new_frames_per_s": (viewer.presented - p0) / elapsed,
            "frames": viewer.presented - p0,
            # CPU time of every thread of this process (processing, Numba and OpenCV workers,
            # the window, llvmpipe) per presented frame: what the two cores must supply
            "cpu_ms_per_frame": (time.process_time() - c0) * 1e3 / n,
            "load_avg_1min": [load0, os.getloadavg()[0]],
            "dropped_total": viewer.ring.dropped,
            "latency_ms_last": viewer.stats.get("latency_ms"),
            "timings_ms_last": viewer.stats.get("timings"),
            "upload_path": viewer.stats.get("upload_path"),
            "pipeline_path": viewer.stats.get("path"),
        }
        result = viewer.last_result
        fb = ctx.framebuffer_size()
        # the presentation alone: stop the source and processing threads so they do not
        # share the two cores with it
        viewer.processor.stop()
        viewer.source_thread.stop()

        def present() -> None:
            viewer._take(result)
            viewer.render(fb)
            GL.glFinish()

        timing = measure(present, repeat=30, warmup=3)
        upload = measure(
            lambda: (viewer.renderer.upload(result.arrays), GL.glFinish()), repeat=30, warmup=3
        )
    finally:
        viewer.close()
    return {
        "assists": assists,
        "present": timing,
        "present_fps": 1e3 / timing["median_ms"],
        "upload_only": upload,
        "live": live,
    }


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--gpu", action="store_true", help="4K window, 8192x6144 frames, CuPy")
    ap.add_argument("--frames", type=int, default=90)
    ap.add_argument("--source-fps", type=float, default=None)
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--frame-size", default=None, help="source frame size WxH (default above)")
    ap.add_argument("--window", default=None, help="window size WxH (default above)")
    args = ap.parse_args(argv)

    from viewfinder.render.context import create_context, prepare_platform

    prepare_platform(True)
    if args.gpu:
        window, frame_size, backend, fps = (3840, 2160), (8192, 6144), "cupy", 240.0
    else:
        window, frame_size, backend, fps = (1280, 720), (1920, 1080), "numpy", 60.0
    fps = args.source_fps or fps
    if args.frame_size:
        frame_size = parse_sizes(args.frame_size)[0]
    if args.window:
        window = parse_sizes(args.window)[0]
    n = 20 if args.quick else args.frames
    ctx = create_context(True, window, prefer_gpu=args.gpu)
    frames = exposed_frames(frame_size, backend)
    from viewfinder.app import _view_size
    from viewfinder.render.panels import PANEL_WIDTH

    view = _view_size(frame_size, (window[0] - PANEL_WIDTH, window[1]))
    configs = [
        {"peaking": False, "zebra": False, "histogram": False},
        {"peaking": True, "zebra": False, "histogram": True},
        {"peaking": True, "zebra": True, "histogram": True},
    ]
    results = []
    load_before = os.getloadavg()
    for cfg in configs:
        r = run_config(ctx, frames, view, backend, cfg, n, fps)
        results.append(r)
        print(
            f"{cfg}: present {r['present']['median_ms']:.2f} ms "
            f"({r['present_fps']:.0f} fps), upload {r['upload_only']['median_ms']:.2f} ms, "
            f"live {r['live']['new_frames_per_s']:.1f} new frames/s "
            f"({r['live']['cpu_ms_per_frame']:.1f} CPU ms each) "
            f"[{r['live']['upload_path']}, {r['live']['pipeline_path']}]",
            flush=True,
        )
    payload = {
        "window": window,
        "frame_size": frame_size,
        "view_size": view,
        "backend": backend,
        "source_fps": fps,
        "gl": {"renderer": ctx.renderer, "version": ctx.version, "kind": ctx.kind},
        "results": results,
        "env": environment(),
        # a shared 2-core machine: other work changes the figures, so say how busy it was
        "load_avg_before": load_before,
        "load_avg_after": os.getloadavg(),
    }
    ctx.close()
    path = write_results("view-gpu" if args.gpu else "view", payload)
    print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
