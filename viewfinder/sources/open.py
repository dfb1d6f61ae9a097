"""Open a frame source from its command-line spec: ``sim``, ``file:PATH``, ``v4l2[:PATH|N]``,
``cam:N`` or ``cam:PATH``."""

from __future__ import annotations

import inspect
import sys
from typing import Any

from .base import FrameSource, SourceError

FILE_REPLAY_FPS = 30.0
SOURCE_SPECS = (
    "sim | file:PATH (RAW file or folder) | v4l2 | v4l2:N | v4l2:/dev/videoN"
    " | cam:N (camera through OpenCV) | cam:PATH (video file)"
)


def open_source(
    spec: str, lens: str | None = None, size: tuple[int, int] | None = None, **kw: Any
) -> FrameSource:
    """Open the source named by ``spec``.

    Parameters
    ----------
    spec : str
        ``"sim"`` (simulated camera), ``"file:PATH"`` (a RAW/DNG file or a folder of them,
        looped), ``"v4l2"`` (first camera), ``"v4l2:N"`` or ``"v4l2:/dev/videoN"``,
        ``"cam"``/``"cam:N"`` (camera N through OpenCV: DirectShow/MSMF, AVFoundation or
        V4L2) or ``"cam:PATH"`` (a video file through OpenCV).
    lens : str or None
        Lens id for the simulated camera's M mount.
    size : (width, height) or None
        Output size: sensor size for ``sim``, capture size for ``v4l2`` and ``cam:N``.
    **kw
        Passed to the source's constructor (e.g. ``fps``).

    Raises
    ------
    ValueError
        Unknown spec, or options the source does not take.
    SourceError
        The source exists in principle but cannot be opened (missing device, no file).
    """
    if not isinstance(spec, str) or not spec.strip():
        raise ValueError(f"unknown source {spec!r}: expected {SOURCE_SPECS}")
    kind, _, arg = spec.strip().partition(":")
    kind = kind.lower()
    if kind == "sim":
        try:
            from .simulated import SimulatedCamera
        except ImportError as exc:
            raise SourceError(f"the simulated camera is not available: {exc}") from exc
        if arg:
            raise ValueError(f"the simulated camera takes no argument, got {spec!r}")
        params = inspect.signature(SimulatedCamera).parameters
        unknown = [k for k in kw if k not in params]
        if unknown:
            raise ValueError(f"the simulated camera takes no option {', '.join(unknown)}")
        if isinstance(size, tuple):  # --size, said in the CLI's words (WxH, not a tuple)
            from .sensor import IMX989

            spec, (w, h) = kw.get("spec", IMX989), size
            if w % 2 or h % 2 or not (4 <= w <= spec.width and 4 <= h <= spec.height):
                raise ValueError(
                    f"--size must be an even WIDTHxHEIGHT from 4x4 to {spec.width}x"
                    f"{spec.height} for the simulated camera, got {w}x{h}"
                )
        cam = SimulatedCamera(size, **kw)
        if lens is not None and lens != "builtin":
            cam.attach_lens(lens)  # ValueError lists the known lenses
            cam.set_mode("m")
        return cam
    if lens is not None and lens != "builtin":
        raise ValueError(f"--lens {lens!r} applies only to the simulated camera (--source sim)")
    if kind == "file":
        if not arg:
            raise ValueError("file source needs a path: file:PATH (a RAW file or a folder)")
        from .rawfile import RawFileSource

        if size is not None:
            raise ValueError(
                f"file source plays files at their own size; got --size {size_text(size)}"
            )
        # replay like a camera: paced, so the player does not spin through files that the
        # viewer would only drop (pass fps=None for as fast as they decode)
        # the skipped files are listed on stderr when the source closes
        return RawFileSource(arg, **{"fps": FILE_REPLAY_FPS, "report": sys.stderr, **kw})
    if kind == "v4l2":
        from .v4l2 import V4L2Source

        device: int | str = 0
        if arg:
            device = int(arg) if arg.isdigit() else arg
        return V4L2Source(device, size=size, **kw)
    if kind == "cam":
        from .cvcapture import OpenCVSource

        cam: int | str = 0
        if arg:
            cam = int(arg) if arg.isdigit() else arg
        return OpenCVSource(cam, size=size, **kw)
    raise ValueError(f"unknown source {spec!r}: expected {SOURCE_SPECS}")


def size_text(size: Any) -> str:
    """A size as the CLI writes it: (640, 480) -> "640x480" (anything else as it is)."""
    if isinstance(size, (tuple, list)) and len(size) == 2:
        return f"{size[0]}x{size[1]}"
    return str(size)


def apply_scene(source: FrameSource, scene: str | None, lens: str | None) -> None:
    """``--scene``: show ``scene`` on the simulated camera (``None``: leave it). With the
    default lens (``lens`` None) the M lens focuses on the scene's subject. ``ValueError``
    for another source or an unknown scene (the source is left as it was)."""
    if scene is None:
        return
    if not hasattr(source, "set_scene"):
        raise ValueError(f"--scene {scene!r} applies only to the simulated camera (--source sim)")
    source.set_scene(scene)  # ValueError names the scenes
    if lens is None and source.lens is not None:
        source.set_focus(max(source.scene.subject_m, source.lens.min_focus_m))
