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


#: The smallest size each size option takes (width, height): one table, one wording.
SIZE_MINIMUM = {"--view": (320, 240), "--size": (4, 4)}
SIZE_MAXIMUM = 65536


def parse_size(text: str | None, what: str) -> tuple[int, int] | None:
    """``"WxH"`` -> (W, H); ``None`` stays ``None``; ``ValueError`` names a bad value.

    Every size option of the CLI is checked here, with one wording:
    "--view must be WIDTHxHEIGHT from 320x240 to 65536x65536, e.g. 1920x1080, got '2x2'".
    """
    if text is None:
        return None
    lo_w, lo_h = SIZE_MINIMUM.get(what, (4, 4))
    wording = (
        f"{what} must be WIDTHxHEIGHT from {lo_w}x{lo_h} to {SIZE_MAXIMUM}x{SIZE_MAXIMUM}, "
        f"e.g. 1920x1080, got {text!r}"
    )
    try:
        w, h = (int(p) for p in str(text).lower().split("x"))
    except ValueError:
        raise ValueError(wording) from None
    if not (lo_w <= w <= SIZE_MAXIMUM and lo_h <= h <= SIZE_MAXIMUM):
        raise ValueError(wording)
    return w, h


#: Image files a snapshot can be (OpenCV writes them by extension).
SNAPSHOT_EXTENSIONS = (".png", ".jpg", ".jpeg", ".tif", ".tiff", ".bmp", ".webp")


def check_output_file(text: str, what: str, extensions: tuple[str, ...]) -> Path:
    """The path of an output file, checked before any work starts: a known extension, an
    existing folder that can be written, not a folder itself. ``ValueError`` names the
    path and the cause."""
    import os

    path = Path(text).expanduser()
    if not str(text).strip():
        raise ValueError(f"{what} needs a file name, got an empty one")
    if path.is_dir():
        raise ValueError(f"{what} {str(path)!r} is a folder, not a file name")
    if path.suffix.lower() not in extensions:
        why = f"extension {path.suffix!r}" if path.suffix else "no extension"
        raise ValueError(
            f"{what} {str(path)!r} has {why}: use {', '.join(extensions[:-1])} or {extensions[-1]}"
        )
    folder = path.parent if str(path.parent) else Path(".")
    if not folder.exists():
        raise ValueError(f"{what} {str(path)!r}: the folder {str(folder)!r} does not exist")
    if not folder.is_dir():
        raise ValueError(f"{what} {str(path)!r}: {str(folder)!r} is not a folder")
    if not os.access(folder, os.W_OK | os.X_OK):
        raise ValueError(
            f"{what} {str(path)!r}: the folder {str(folder)!r} is not writable (permission denied)"
        )
    return path


def config_dir() -> Path:
    """The user's config folder: $XDG_CONFIG_HOME/viewfinder (default ~/.config/viewfinder)."""
    import os

    base = os.environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return Path(base) / "viewfinder"


def load_prefs() -> dict[str, Any]:
    """The window size and layout remembered from the last window (``{}`` when none, or when
    the file cannot be read: a damaged file is never fatal)."""
    import json

    path = config_dir() / "viewer.json"
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        return {}
    if not isinstance(data, dict):
        return {}
    size = data.get("window")
    ok = (
        isinstance(size, list)
        and len(size) == 2
        and all(isinstance(v, int) and 320 <= v <= SIZE_MAXIMUM for v in size)
    )
    if not ok:
        data.pop("window", None)
    if not isinstance(data.get("layout"), dict):
        data.pop("layout", None)
    return data


def save_prefs(prefs: dict[str, Any]) -> Path | None:
    """Write the window size and layout to :func:`config_dir` (the path; None on failure,
    said on stderr: the session's work is done, a read-only home does not fail it)."""
    import json
    import os

    folder = config_dir()
    path = folder / "viewer.json"
    try:
        folder.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".json.tmp")
        tmp.write_text(json.dumps(prefs, indent=1, sort_keys=True))
        os.replace(tmp, path)
    except OSError as exc:
        print(
            f"viewfinder: cannot remember the layout in {path}: {exc.strerror or exc}",
            file=sys.stderr,
        )
        return None
    return path


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


def open_with_lens(
    spec: str,
    lens: str | None,
    size: tuple[int, int] | None,
    paced: bool,
    lens_file: str | None = None,
) -> Any:
    """Open source ``spec``; on the simulated camera put ``lens`` on (default Summilux 35),
    with the lenses of ``lens_file`` added to the catalogue."""
    from .sources.open import open_source

    is_sim = spec.strip().lower().split(":")[0] == "sim"
    # the simulated sensor runs as fast as asked: pace it like a real one (30 fps in a window;
    # 60 headless, so a run measures the viewer rather than waits on the sensor)
    extra: dict[str, Any] = {"fps": 30.0 if paced else 60.0} if is_sim else {}
    if lens_file:
        if not is_sim:
            raise ValueError(f"--lens-file needs the simulated camera, not {spec!r}")
        extra["lens_file"] = lens_file
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


def _status_line(viewer: Any, elapsed: float) -> str:
    """The once-a-second line of a headless run."""
    st = viewer.stats
    t = st.get("timings") or {}
    total = t.get("total")
    ae = viewer.auto_exposure
    exposure = ""
    meta = viewer.last_meta or {}
    if "exposure_s" in meta:
        state = "AE " + ("settled" if ae.settled else "metering") if ae.enabled else "manual"
        exposure = f" | {shutter_text(meta['exposure_s'])} ISO {meta.get('iso', 0):.0f} {state}"
    n = viewer.presented
    return (
        f"{elapsed:5.1f} s | {n} frame{'' if n == 1 else 's'} | {st.get('fps', 0):.1f} fps"
        + (f" | {total:.0f} ms a frame" if total is not None else "")
        + f" | dropped {st.get('dropped', 0)}{exposure}"
    )


def shutter_text(seconds: float) -> str:
    """A shutter speed as a camera shows it: "1/125 s", "1/2.5 s" under a second, "2 s"."""
    if seconds >= 1 or seconds <= 0:
        return f"{seconds:g} s"
    return f"1/{1 / seconds:.2g} s" if seconds > 0.25 else f"1/{1 / seconds:.0f} s"


def cli_run(args: argparse.Namespace) -> int:
    """Entry point of ``viewfinder run`` (and of bare ``viewfinder``)."""
    from .render.context import (
        DisplayUnavailable,
        has_display,
        no_display_message,
        prepare_platform,
    )

    headless = bool(getattr(args, "headless", False))
    frames = int(getattr(args, "frames", 0) or 0)
    if frames < 0:
        raise ValueError(f"--frames must be >= 0, got {frames}")
    snapshot = getattr(args, "snapshot", None)
    if snapshot is not None:  # before any work: a bad path fails now, not after the run
        snapshot = check_output_file(snapshot, "--snapshot", SNAPSHOT_EXTENSIONS)
    if snapshot and not frames and headless:
        frames = 1
    size = parse_size(getattr(args, "size", None), "--size")
    view = parse_size(getattr(args, "view", None), "--view")
    timeout = parse_timeout(getattr(args, "timeout", None))
    verbose = bool(getattr(args, "verbose", False))
    prefs = {} if headless else load_prefs()  # a headless run is the same on every machine
    # --view is the window's (and the snapshot's) size; the image keeps its aspect inside it
    window = view or tuple(prefs.get("window") or WINDOW_SIZE)
    prepare_platform(headless)  # before anything imports OpenGL
    if not headless and not has_display():  # say so before the source starts up
        raise DisplayUnavailable(no_display_message())  # not set, or nothing answers there

    from .orientation import orientation_of, swaps_axes
    from .pipeline import Pipeline
    from .render.context import create_context
    from .render.viewer import COMPILING_NOTE, Viewer, first_run
    from .settings import Settings

    backend = getattr(args, "backend", None)
    if backend not in (None, *BACKENDS):
        raise ValueError(f"--backend must be one of {', '.join(BACKENDS)}, got {backend!r}")
    lens_file = getattr(args, "lens_file", None)
    clean = bool(getattr(args, "clean", False))
    dual = bool(getattr(args, "dual", False))
    if dual and args.source.strip().lower().split(":")[0] != "sim":
        raise ValueError(f"--dual needs the simulated camera (--source sim), not {args.source!r}")
    source = open_with_lens(args.source, args.lens, size, paced=not headless, lens_file=lens_file)
    try:
        apply_scene(source, getattr(args, "scene", None), args.lens)  # --scene
        # a first run compiles the scene's and the pipeline's kernels before the first
        # frame (and before the window opens): say so now, not after seconds of nothing
        compiling = not headless and first_run()
        if compiling:
            print(f"viewfinder: {COMPILING_NOTE}", file=sys.stderr, flush=True)
        probe = read_frame(source, timeout)  # the frame size decides the view size
        from .render.layout import compute_layout

        layout = compute_layout(
            window,
            (probe.width, probe.height),
            clean=clean,
            second_size=(0, 0) if dual else None,
            **{
                k: v
                for k, v in (prefs.get("layout") or {}).items()
                if k in ("collapsed", "placement")
            },
        )
        area = (layout.slot or layout.image_area)[2:]
        if swaps_axes(orientation_of(probe.meta)):  # shown turned: fit the turned area
            area = area[::-1]
        first_view = _view_size((probe.width, probe.height), area)
        demosaic = getattr(args, "demosaic", "mhc") or "mhc"
        settings = Settings(demosaic=demosaic, view_size=first_view)
        pipeline = Pipeline(settings, backend=backend)
        ctx = create_context(headless, window, prefer_gpu=pipeline.backend == "cupy")
    except BaseException:
        source.close()
        raise

    def reopen(spec: str) -> Any:
        return open_with_lens(spec, None, size, paced=not headless, lens_file=lens_file)

    viewer = Viewer(
        source,
        pipeline,
        ctx,
        source_spec=args.source,
        open_source=reopen,
        fit_view=True,
        clean=clean,
        layout=prefs.get("layout"),
        dual=dual,
    )
    if compiling:
        viewer._said_compiling = True  # on the terminal already; the window shows it too
    started = time.perf_counter()
    last_status = [started]

    def on_frame(v: Any) -> None:
        now = time.perf_counter()
        if verbose:
            print(_frame_line(v), flush=True)
        elif now - last_status[0] >= 1.0:  # one line a second
            last_status[0] = now
            print(_status_line(v, now - started), flush=True)

    try:
        # headless, a source that goes silent ends the run with one line after --timeout s;
        # a window shows "no frames from ..." and waits for it to come back
        shown = viewer.run(
            frames=frames,
            headless=headless,
            on_frame=on_frame if headless else None,
            timeout=timeout if headless else None,
        )
        elapsed = time.perf_counter() - started
        if snapshot:
            import cv2

            # draw the last frame again without presenting it: the back buffer of a window
            # is undefined after a swap, and the offscreen target gets the same pixels
            viewer.render(ctx.framebuffer_size())
            pixels = ctx.read_pixels()
            try:
                ok = cv2.imwrite(str(snapshot), cv2.cvtColor(pixels, cv2.COLOR_RGBA2BGR))
            except cv2.error as exc:
                ok, why = False, str(exc).strip().splitlines()[-1]
            else:
                why = "OpenCV could not write it"
            if not ok:
                raise OSError(f"cannot write the snapshot {str(snapshot)!r}: {why}")
            print(f"snapshot {snapshot} ({pixels.shape[1]}x{pixels.shape[0]})")
        if headless:
            st = viewer.stats
            print(
                f"presented {shown} frame{'' if shown == 1 else 's'} in {elapsed:.2f} s "
                f"({shown / max(elapsed, 1e-9):.1f}"
                f" fps incl. start) | backend {st.get('backend')} path {st.get('path')} "
                f"upload {st.get('upload_path')} | GL {ctx.renderer} ({ctx.kind})"
            )
        error = viewer.source_thread.error
        if headless and shown == 0 and error is not None:
            print(f"viewfinder run: error: source failed: {error}", file=sys.stderr)
            return 1
    finally:
        if not headless and ctx.window is not None and viewer._fullscreen_saved is None:
            import glfw

            remembered = {"window": list(glfw.get_window_size(ctx.window))}
            save_prefs({**remembered, "layout": viewer.layout_prefs()})
        viewer.close()
        ctx.close()
    return 0
