"""The ``viewfinder`` command.

Each subcommand's work lives in its own module, imported only when it runs; this file only
parses arguments and turns expected errors into one line on stderr and a non-zero exit.
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys
import threading
from collections.abc import Callable, Sequence

# subcommand -> "module:function"; the function takes the parsed args and returns an exit code.
COMMANDS: dict[str, str] = {
    "run": "viewfinder.app:cli_run",
    "lenses": "viewfinder.sources.lenses:cli_lenses",
    "devices": "viewfinder.sources.v4l2:cli_devices",
    "capture": "viewfinder.capture:cli_capture",
    "bench": "viewfinder.bench.cli:cli_bench",
}


class CliError(Exception):
    """An error the user can fix: printed as one line, exit status 2."""


class _Formatter(argparse.HelpFormatter):
    """Help that shows each option's default (when it has a meaningful one)."""

    def _get_help_string(self, action: argparse.Action) -> str:
        text = action.help or ""
        default = action.default
        if (
            "%(default)" not in text
            and "default" not in text
            and default not in (None, False, "", argparse.SUPPRESS)
            and action.option_strings
        ):
            text += " (default: %(default)s)"
        return text


def _version() -> str:
    try:
        from importlib.metadata import version

        return version("viewfinder")
    except Exception:  # a checkout that is not installed
        from viewfinder import __version__

        return __version__


def _add_lens_file(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--lens-file",
        default=None,
        help="a TOML file of extra lenses for the simulated camera (as samples/my_lenses.toml); "
        "their ids work with --lens",
    )


def _add_source_args(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--source",
        default="sim",
        help="sim | v4l2[:PATH or index] | file:PATH (DNG/raw file or folder) | "
        "cam:N (USB camera N through OpenCV: DirectShow/MSMF, AVFoundation, V4L2) | "
        "cam:PATH (a video file through OpenCV)",
    )
    p.add_argument(
        "--lens",
        default=None,
        help="lens id to attach on the M mount, or 'builtin' (see `viewfinder lenses`)",
    )
    p.add_argument(
        "--scene",
        default=None,
        help="simulated camera's scene: planes (default) | motorcycle (a real depth photograph)",
    )
    p.add_argument(
        "--timeout",
        default=None,
        help="give up after this many seconds without a frame from the source (default 5; "
        "headless runs and captures; a window shows the wait and keeps reconnecting)",
    )


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="viewfinder",
        description="GPU-accelerated camera viewfinder engine. Bare `viewfinder [options]` "
        "is `viewfinder run [options]`: the live view of the simulated camera.",
        formatter_class=_Formatter,
    )
    parser.add_argument("--version", action="version", version=f"viewfinder {_version()}")
    sub = parser.add_subparsers(dest="command")

    def add(name: str, **kw: object) -> argparse.ArgumentParser:
        kw.setdefault("description", kw.get("help"))
        return sub.add_parser(name, formatter_class=_Formatter, **kw)  # type: ignore[arg-type]

    run = add("run", help="live view (window, or --headless); the default command")
    _add_source_args(run)
    _add_lens_file(run)
    run.add_argument("--headless", action="store_true", help="render offscreen, no window")
    run.add_argument("--frames", type=int, default=0, help="stop after N frames (0: run on)")
    run.add_argument(
        "--snapshot",
        default=None,
        help="write the last view to this image file (.png, .jpg or .tif; its folder must "
        "exist); the file is --view's size",
    )
    run.add_argument("--size", default=None, help="sensor output size WxH (simulated source)")
    run.add_argument(
        "--view",
        default=None,
        help="window and snapshot size WxH, the image letterboxed in it with its aspect kept "
        "(default 1280x720; a window opens at the size it last had)",
    )
    run.add_argument(
        "--clean", action="store_true", help="clean view: no panels, no overlays (C toggles)"
    )
    run.add_argument(
        "--dual",
        action="store_true",
        help="both sensors live (simulated camera): the built-in wide view with the M lens's "
        "bright-line frame beside the M view",
    )
    run.add_argument(
        "--verbose",
        action="store_true",
        help="headless: one line of figures per frame (else one status line a second)",
    )
    run.add_argument("--demosaic", default="mhc", help="bilinear | mhc | hq")
    run.add_argument(
        "--backend",
        default=None,
        help="numpy | cupy | cudasim (the CUDA path run on the CPU, slow; default: best available)",
    )
    run.add_argument(
        "--no-window", dest="headless", action="store_true", help="alias of --headless"
    )

    lenses = add("lenses", help="list the lenses, one a line, id first")
    lenses.add_argument("--file", default=None, help="a TOML file of extra lenses")

    add("devices", help="list V4L2 devices with their formats, sizes and rates")

    cap = add("capture", help="capture N frames to DNG, PNG or JPEG files")
    _add_source_args(cap)
    _add_lens_file(cap)
    cap.add_argument("--count", type=int, default=1, help="number of frames")
    cap.add_argument(
        "--format",
        default="dng",
        choices=("dng", "png", "png16", "jpeg"),
        help="dng: the raw frame bit-exact; png / png16 / jpeg: developed",
    )
    cap.add_argument("--out", default=".", help="output folder")
    cap.add_argument("--size", default=None, help="sensor output size WxH (simulated source)")

    from viewfinder.bench.cli import add_arguments as add_bench_arguments

    add_bench_arguments(
        sub.add_parser("bench", help="benchmark suite with peers; `bench compare A.json B.json`")
    )
    return parser


def _resolve(target: str) -> Callable[[argparse.Namespace], int]:
    module_name, func_name = target.split(":")
    return getattr(importlib.import_module(module_name), func_name)


def _live_threads() -> list[threading.Thread]:
    """The threads other than this one still alive."""
    me = threading.current_thread()
    return [t for t in threading.enumerate() if t is not me and t.is_alive()]


def main(argv: Sequence[str] | None = None) -> int:
    """Run a subcommand; its exit status. ``argv`` None: the command line (the console
    script), where Ctrl+C ends the process as soon as the command has cleaned up."""
    as_program = argv is None
    parser = build_parser()
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or (argv[0] not in COMMANDS and argv[0] not in ("-h", "--help", "--version")):
        argv = ["run", *argv]  # bare `viewfinder [run options]` is `viewfinder run ...`
    args = parser.parse_args(argv)
    command = args.command
    try:
        status = int(_resolve(COMMANDS[command])(args) or 0)
        if as_program and _live_threads():
            # the command has cleaned up (captures written, window closed) but left a thread
            # at work: a first run's Numba compilation, which cannot be interrupted. The
            # interpreter's exit would join it (the assists' worker) for up to 30 s after
            # Esc; end now instead (Numba's cache files are written whole, or not at all)
            sys.stdout.flush()
            sys.stderr.flush()
            os._exit(status)
        return status
    except KeyboardInterrupt:
        # Ctrl+C: the command's own cleanup (captures written, files closed, devices
        # released) has run on the way out. As a program, skip the interpreter's teardown
        # of Numba/LLVM and GL (about a second) so that Ctrl+C stops within a second.
        if as_program:
            sys.stdout.flush()
            sys.stderr.flush()
            os._exit(130)
        return 130
    except (CliError, ValueError, OSError, RuntimeError) as exc:
        message = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        print(f"viewfinder {command}: error: {message}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
