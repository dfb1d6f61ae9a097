"""V4L2 device nodes: naming, listing, and ``viewfinder devices``."""

from __future__ import annotations

import errno
from typing import Any

from .base import SourceError
from .v4l2_formats import format_rank

DEV_PREFIX = "/dev/video"
#: errno values that mean the device went away mid-stream.
GONE = (errno.ENODEV, errno.EIO, errno.ENXIO, errno.ENOENT, errno.EPIPE)


def device_path(device: int | str) -> str:
    """``2`` or ``"2"`` -> ``/dev/video2``; a path is kept."""
    if isinstance(device, int) or (isinstance(device, str) and device.isdigit()):
        return f"{DEV_PREFIX}{int(device)}"
    return str(device)


def list_device_paths() -> list[str]:
    """Video device nodes present (``/dev/video*``), sorted by number."""
    from linuxpy.device import device_number
    from linuxpy.video.device import iter_video_files

    return sorted((str(p) for p in iter_video_files()), key=lambda p: device_number(p) or 0)


def describe_missing(path: str) -> str:
    present = list_device_paths()
    there = ", ".join(present) if present else "none"
    return f"no V4L2 device {path} (devices present: {there})"


def describe_devices() -> list[str]:
    """One block of lines per capture device: formats with their sizes and frame rates."""
    from linuxpy.video.device import BufferType, Capability, Device, FrameSizeType

    lines: list[str] = []
    for path in list_device_paths():
        try:
            with Device(path) as dev:
                if Capability.VIDEO_CAPTURE not in dev.info.device_capabilities:
                    continue
                lines.append(f"{path}: {dev.info.card} ({dev.info.driver}, {dev.info.bus_info})")
                for f in dev.info.formats:
                    if f.type != BufferType.VIDEO_CAPTURE:
                        continue
                    use = "" if format_rank(f.pixel_format.name) >= 0 else " (not usable)"
                    lines.append(f"  {f.pixel_format.name} ({f.description}){use}")
                    for s in dev.info.format_frame_sizes(f.pixel_format):
                        if s.type == FrameSizeType.DISCRETE:
                            w, h = s.info.width, s.info.height
                            rates = sorted(
                                {
                                    float(t.max_fps)
                                    for t in dev.info.fps_intervals(f.pixel_format, w, h)
                                    if t.max_fps
                                }
                            )
                            fps = ", ".join(f"{r:g}" for r in rates) or "?"
                            lines.append(f"    {w}x{h} @ {fps} fps")
                        else:
                            i = s.info
                            lines.append(
                                f"    {i.min_width}x{i.min_height} to {i.max_width}x{i.max_height}"
                            )
        except OSError as exc:
            lines.append(f"{path}: cannot open ({exc.strerror or exc})")
    return lines


def cli_devices(args: Any) -> int:
    """``viewfinder devices``: list V4L2 capture devices with formats, sizes and rates."""
    try:
        import linuxpy.video.device  # noqa: F401
    except ImportError as exc:
        raise SourceError(
            f"listing V4L2 devices needs linuxpy (pip install linuxpy): {exc}"
        ) from exc
    lines = describe_devices()
    print("\n".join(lines) if lines else "no V4L2 capture devices found (/dev/video*)")
    return 0
