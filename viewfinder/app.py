"""``viewfinder run``: the live view in a window, or offscreen with ``--headless``.

With no arguments the simulated camera opens on its M mount with the Summilux-M 35 f/1.4
attached and focus peaking on. ``--headless --frames N --snapshot out.png`` renders the same
view and panels offscreen (EGL with no X server, else a hidden window), prints one line of
figures per frame and writes the last frame as a PNG.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import Any

from .backend import BACKENDS
from .sources.base import DEFAULT_TIMEOUT_S, read_frame
from .sources.open import apply_scene

DEFAULT_LENS = "summilux-35"
#: Where the focus ring starts on the default lens: the astronaut plane of the simulated
#: scene, so the first view shows peaking on a subject (a lens comes on focused at infinity).
DEFAULT_FOCUS_M = 3.0
#: The aperture a lens starts at when it is put on: the marked stop nearest f/2.8 (a lens
#: slower than that, wide open): a shallow but workable depth of field.
START_APERTURE = 2.8
WINDOW_SIZE = (1280, 720)


def parse_size(text: str | None, what: str) -> tuple[int, int] | None:
    """``"WxH"`` -> (W, H); ``None`` stays ``None``; ``ValueError`` names a bad value."""
    if text is None:
        return None
    parts = str(text).lower().split("x")
    try:
        w, h = (int(p) for p in parts)
    except ValueError:
        raise ValueError(f"{what} must be WIDTHxHEIGHT, e.g. 1920x1080, got {text!r}") from None
    if w < 2 or h < 2 or w > 65536 or h > 65536:
        raise ValueError(f"{what} must be between 2x2 and 65536x65536, got {text!r}")
    return w, h


def parse_timeout(value: float | str | None) -> float:
    """``--timeout`` in seconds (default :data:`DEFAULT_TIMEOUT_S`); ``ValueError`` unless > 0."""
    if value is None:
        return DEFAULT_TIMEOUT_S
    try:
        seconds = float(value)
    except (TypeError, ValueError):
        raise ValueError(f"--timeout must be a number of seconds, got {value!r}") from None
    if not 0 < seconds < 1e6:  # also refuses NaN and inf: nothing waits forever
        raise ValueError(f"--timeout must be more than 0 s, got {value!r}")
    return seconds


def start_aperture(lens: Any) -> float:
    """The marked stop of ``lens`` nearest :data:`START_APERTURE` (in stops)."""
    import math

    stops = [float(s) for s in lens.apertures]
    return min(stops, key=lambda n: abs(math.log2(n / START_APERTURE)))


def mount_lens(source: Any, lens_id: str) -> None:
    """Put M lens ``lens_id`` on the simulated camera keeping the focus distance of the lens
    it replaces (3 m on an empty mount), clamped to the new lens's close focus, at the lens's
    :func:`start_aperture`."""
    import math

    keep = DEFAULT_FOCUS_M
    if source.mode == "m" and source.lens is not None and source.focus_m is not None:
        keep = source.focus_m
    source.attach_lens(lens_id)
    lens = source.lenses[lens_id]
    mode = source.mode
    if mode != "m":
        source.set_mode("m")
    try:
        source.set_focus(keep if math.isinf(keep) else max(keep, lens.min_focus_m))
        source.set_aperture(start_aperture(lens))
    finally:
        if mode != "m":
            source.set_mode(mode)


def open_with_lens(spec: str, lens: str | None, size: tuple[int, int] | None, paced: bool) -> Any:
    """Open source ``spec``; on the simulated camera put ``lens`` on (default Summilux 35)."""
    from .sources.open import open_source

    is_sim = spec.strip().lower().split(":")[0] == "sim"
    # the simulated sensor runs as fast as asked: pace it like a real one (30 fps in a window;
    # 60 headless, so a run measures the viewer rather than waits on the sensor)
    extra = {"fps": 30.0 if paced else 60.0} if is_sim else {}
    source = open_source(spec, None if is_sim else lens, size, **extra)
    if is_sim:
        try:
            if lens == "builtin":
                source.set_mode("builtin")
            else:
                source.set_mode("m")
                mount_lens(source, lens or DEFAULT_LENS)
        except Exception:
            source.close()
            raise
    return source


def _view_size(frame_size: tuple[int, int], area: tuple[int, int]) -> tuple[int, int]:
    """Largest even size of the frame's aspect that fits ``area`` (the view is 1:1 on screen)."""
    from .render.layout import fit_size

    return fit_size(frame_size, area)


def _frame_line(viewer: Any) -> str:
    st, r = viewer.stats, viewer.last_result
    t = st.get("timings") or {}
    stages = " ".join(f"{k} {v:.1f}" for k, v in t.items())
    seq = r.frame.seq if r is not None and r.frame is not None else -1
    return (
        f"frame {viewer.presented:4d} seq {seq:5d} | {stages} ms | upload "
        f"{st.get('upload_ms', 0):.1f} draw {st.get('draw_ms', 0):.1f} ui "
        f"{st.get('ui_ms', 0):.1f} ms | {st.get('fps', 0):.1f} fps | latency "
        f"{st.get('latency_ms', 0):.0f} ms | dropped {st.get('dropped', 0)}"
    )


def cli_run(args: argparse.Namespace) -> int:
    """Entry point of ``viewfinder run`` (and of bare ``viewfinder``)."""
    from .render.context import NO_DISPLAY_HINT, DisplayUnavailable, has_display, prepare_platform

    headless = bool(getattr(args, "headless", False))
    frames = int(getattr(args, "frames", 0) or 0)
    if frames < 0:
        raise ValueError(f"--frames must be >= 0, got {frames}")
    snapshot = getattr(args, "snapshot", None)
    if snapshot and not frames and headless:
        frames = 1
    size = parse_size(getattr(args, "size", None), "--size")
    view = parse_size(getattr(args, "view", None), "--view")
    timeout = parse_timeout(getattr(args, "timeout", None))
    window = WINDOW_SIZE
    prepare_platform(headless)  # before anything imports OpenGL
    if not headless and not has_display():  # say so before the source starts up
        raise DisplayUnavailable(NO_DISPLAY_HINT)

    from .orientation import orientation_of, swaps_axes
    from .pipeline import Pipeline
    from .render.context import create_context
    from .render.panels import PANEL_WIDTH
    from .render.viewer import Viewer
    from .settings import Settings

    backend = getattr(args, "backend", None)
    if backend not in (None, *BACKENDS):
        raise ValueError(f"--backend must be one of {', '.join(BACKENDS)}, got {backend!r}")
    source = open_with_lens(args.source, args.lens, size, paced=not headless)
    try:
        apply_scene(source, getattr(args, "scene", None), args.lens)  # --scene
        probe = read_frame(source, timeout)  # the frame size decides the view size
        if view is None:
            area = (window[0] - PANEL_WIDTH, window[1])
            if swaps_axes(orientation_of(probe.meta)):  # shown turned: fit the turned area
                area = area[::-1]
            view = _view_size((probe.width, probe.height), area)
        settings = Settings(demosaic=getattr(args, "demosaic", "mhc") or "mhc", view_size=view)
        pipeline = Pipeline(settings, backend=backend)
        ctx = create_context(headless, window, prefer_gpu=pipeline.backend == "cupy")
    except BaseException:
        source.close()
        raise

    def reopen(spec: str) -> Any:
        return open_with_lens(spec, None, size, paced=not headless)

    viewer = Viewer(source, pipeline, ctx, source_spec=args.source, open_source=reopen)
    started = time.perf_counter()
    try:
        on_frame = (lambda v: print(_frame_line(v), flush=True)) if headless else None
        # headless, a source that goes silent ends the run with one line after --timeout s;
        # a window shows "no frames from ..." and waits for it to come back
        shown = viewer.run(
            frames=frames,
            headless=headless,
            on_frame=on_frame,
            timeout=timeout if headless else None,
        )
        elapsed = time.perf_counter() - started
        if snapshot:
            import cv2

            # draw the last frame again without presenting it: the back buffer of a window
            # is undefined after a swap, and the offscreen target gets the same pixels
            viewer.render(ctx.framebuffer_size())
            pixels = ctx.read_pixels()
            path = Path(snapshot)
            if not cv2.imwrite(str(path), cv2.cvtColor(pixels, cv2.COLOR_RGBA2BGR)):
                raise OSError(f"cannot write the snapshot {str(path)!r}")
            print(f"snapshot {path} ({pixels.shape[1]}x{pixels.shape[0]})")
        if headless:
            st = viewer.stats
            print(
                f"presented {shown} frames in {elapsed:.2f} s ({shown / max(elapsed, 1e-9):.1f}"
                f" fps incl. start) | backend {st.get('backend')} path {st.get('path')} "
                f"upload {st.get('upload_path')} | GL {ctx.renderer} ({ctx.kind})"
            )
        error = viewer.source_thread.error
        if headless and shown == 0 and error is not None:
            print(f"viewfinder run: error: source failed: {error}", file=sys.stderr)
            return 1
    finally:
        viewer.close()
        ctx.close()
    return 0
