"""Replay DNG and camera RAW files through rawpy (LibRaw) as raw frames.

Each file gives one :class:`~viewfinder.frame.Frame` with the CFA order, black and white
levels, colour matrix and white balance read from the file itself. A file that LibRaw cannot
read (corrupt, truncated, not a Bayer raw) is skipped with an error that names it, kept in
``source.errors``, and the other files keep playing.
"""

from __future__ import annotations

import contextlib
import math
import os
import stat
import sys
import tempfile
import threading
import time
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

import numpy as np

from ..frame import CFA_PATTERNS, Frame, cfa_site_offsets, data_warnings
from ..orientation import FLIP_TO_EXIF
from ..stages.white_balance import AS_SHOT, AUTO, UNITY, estimate_white_balance
from .base import SourceError

#: File name extensions taken from a folder (case-insensitive). An explicit list of files
#: is tried whatever the extensions.
RAW_EXTENSIONS: frozenset[str] = frozenset(
    ".dng .cr2 .cr3 .crw .nef .nrw .arw .srf .sr2 .raf .orf .rw2 .rwl .pef .srw .3fr .iiq "
    ".erf .kdc .dcr .mos .mef .mrw .x3f .raw".split()
)

#: dcraw/LibRaw's linear sRGB (D65) to XYZ, to turn ``rgb_xyz_matrix`` into camera -> sRGB.
_SRGB_TO_XYZ = np.array(
    [[0.412453, 0.357580, 0.180423], [0.212671, 0.715160, 0.072169], [0.019334, 0.119193, 0.950227]]
)


_TIFF_MAGIC = (b"II*\0", b"MM\0*")
_PICTURE_MAGIC = {
    b"\xff\xd8\xff": "a JPEG image",
    b"\x89PNG": "a PNG image",
    b"GIF8": "a GIF image",
    b"BM": "a BMP image",
}
_libraw_lock = threading.Lock()


@contextlib.contextmanager
def libraw_quiet() -> Iterator[list[str]]:
    """Keep LibRaw's own messages (it writes to file descriptor 2) out of the terminal.

    Yields a list that gets the lines LibRaw wrote, so that an error can carry them. File
    descriptor 2 is the process's: a line another thread writes to stderr during the decode
    (a 12 MP file: ~140 ms) lands in that list too and is not shown (a known limit).
    """
    lines: list[str] = []
    with _libraw_lock, tempfile.TemporaryFile() as tmp:
        sys.stderr.flush()
        saved = os.dup(2)
        os.dup2(tmp.fileno(), 2)
        try:
            yield lines
        finally:
            sys.stderr.flush()
            os.dup2(saved, 2)
            os.close(saved)
            tmp.seek(0)
            lines += [ln for ln in tmp.read().decode("utf-8", "replace").splitlines() if ln]


def check_raw_path(path: str | Path) -> Path:
    """Refuse, with :class:`SourceError` naming the file and the cause, what is not a readable
    raw file: no such file, a dangling link, not a regular file (a FIFO or a device would
    block), permission denied, an empty file, a picture (JPEG, PNG, a plain TIFF)."""
    if str(path).strip() == "":
        raise SourceError("empty file name: give a RAW file or a folder")
    p = Path(path)
    if p.is_symlink() and not p.exists():
        raise SourceError(f"{p}: dangling link (to {os.readlink(p)}): no such file")
    try:
        st = p.stat()
    except FileNotFoundError:
        raise SourceError(f"{p}: no such file") from None
    except PermissionError:
        raise SourceError(f"{p}: permission denied") from None
    except OSError as exc:
        raise SourceError(f"{p}: cannot read: {exc.strerror or exc}") from None
    if not stat.S_ISREG(st.st_mode):
        raise SourceError(f"{p}: not a regular file (a folder, FIFO or device): not a raw file")
    try:
        with open(p, "rb") as fh:
            head = fh.read(16)
    except PermissionError:
        raise SourceError(f"{p}: permission denied") from None
    except OSError as exc:
        raise SourceError(f"{p}: cannot read: {exc.strerror or exc}") from None
    if not head:
        raise SourceError(f"{p}: empty file: not a raw file")
    for magic, what in _PICTURE_MAGIC.items():
        if head.startswith(magic):
            raise SourceError(f"{p}: not a raw file ({what})")
    if head[:4] in _TIFF_MAGIC and _plain_tiff(p):
        raise SourceError(f"{p}: not a raw file (a plain TIFF image, no DNG or camera tags)")
    return p


def _plain_tiff(p: Path) -> bool:
    """A TIFF with neither DNGVersion nor a camera Make: a picture, not a camera raw (LibRaw
    would play a 16-bit greyscale TIFF as an RGGB mosaic)."""
    try:
        import logging

        import tifffile

        log = logging.getLogger("tifffile")  # a damaged file: LibRaw says so, not a warning
        level, log.level = log.level, logging.CRITICAL
        try:
            with tifffile.TiffFile(p) as tif:
                tags = tif.pages[0].tags
                return 50706 not in tags and 271 not in tags
        finally:
            log.setLevel(level)
    except Exception:  # not parseable by tifffile: let LibRaw decide
        return False


def _libraw_error(path: Path, exc: Exception, said: list[str]) -> SourceError:
    """One line for a LibRaw failure: the file, the cause in words, LibRaw's own note."""
    name = type(exc).__name__
    text = exc.args[0] if exc.args else ""
    text = text.decode("utf-8", "replace") if isinstance(text, bytes) else str(text)
    if name == "LibRawFileUnsupportedError":
        why = "not a raw file (or a camera LibRaw does not know)"
    elif name in ("LibRawIOError", "LibRawDataError", "LibRawUnspecifiedError"):
        why = "damaged or truncated raw file"
    elif isinstance(exc, MemoryError) or name == "LibRawTooBigError":
        why = "too large to decode"
    else:
        why = "cannot decode"
    note = "; ".join(t for t in dict.fromkeys([text, *said[:2]]) if t)
    return SourceError(f"{path}: {why} (LibRaw: {note or name})")


def expand_paths(paths: str | Path | Iterable[str | Path]) -> list[Path]:
    """Files to play: a folder gives its RAW files sorted by name; a list is kept in order."""
    items = [paths] if isinstance(paths, str | Path) else list(paths)
    out: list[Path] = []
    for item in items:
        if str(item).strip() == "":
            raise SourceError("empty file name: give a RAW file or a folder")
        p = Path(item)
        if p.is_dir():
            found = sorted(  # a dangling link too: it is reported, not skipped silently
                f
                for f in p.iterdir()
                if (f.is_file() or f.is_symlink()) and f.suffix.lower() in RAW_EXTENSIONS
            )
            if not found:
                raise SourceError(f"no RAW files ({', '.join(sorted(RAW_EXTENSIONS))}) in {p}")
            out += found
        else:
            out.append(p)
    if not out:
        raise SourceError("no RAW files given")
    return out


def cfa_from_rawpy(raw: Any, path: Path) -> str:
    """Our CFA name of the top-left 2x2 block of ``raw_image_visible``.

    ``raw_colors_visible`` already accounts for the crop origin of the visible area, and
    ``color_desc`` names each colour index (LibRaw calls the second green ``G`` too).
    """
    desc = raw.color_desc.decode("ascii", "replace")
    if getattr(raw.raw_type, "name", "") == "Stack" or raw.raw_pattern is None:
        raise SourceError(
            f"{path}: not a colour-filter-array raw (linear/already demosaiced DNG): "
            "only Bayer mosaics are supported"
        )
    shape = np.asarray(raw.raw_pattern).shape
    if shape == (6, 6):
        raise SourceError(f"{path}: X-Trans (6x6 CFA) is not supported: only 2x2 Bayer mosaics")
    if shape != (2, 2):
        raise SourceError(f"{path}: a {shape[0]}x{shape[1]} CFA is not supported: only 2x2 Bayer")
    if raw.num_colors not in (3, 4) or set(desc) - set("RGB"):
        raise SourceError(f"{path}: not an RGB Bayer raw (its filters are {desc!r}, not R, G, B)")
    block = np.asarray(raw.raw_colors_visible[:2, :2])
    name = "".join(desc[int(i)] for i in block.reshape(-1))
    if name not in CFA_PATTERNS:
        raise SourceError(f"{path}: unsupported CFA layout {name!r}")
    return name


#: Camera -> linear sRGB used when neither the file nor LibRaw's camera table has a matrix:
#: the simulated IMX989's (the inverse of its colour-filter crosstalk, rows summing to 1 so
#: grey stays grey), a typical modern CMOS Bayer sensor's saturation correction. Showing
#: such a file with no matrix at all looks flat and greyish (camera filters overlap).
FALLBACK_COLOR_MATRIX = np.linalg.inv(
    np.array([[0.80, 0.17, 0.03], [0.10, 0.80, 0.10], [0.03, 0.22, 0.75]])
)
MATRIX_FROM_FILE = "file"
MATRIX_FALLBACK = "fallback: no colour matrix in file (generic CMOS sensor)"


def color_matrix_from_rawpy(raw: Any) -> np.ndarray | None:
    """Camera (white-balanced) -> linear sRGB, (3, 3), or ``None`` when the file has none.

    LibRaw's ``color_matrix`` (its ``rgb_cam``) is exactly that; when it is empty the matrix is
    built from ``rgb_xyz_matrix`` (XYZ -> camera) as dcraw does: rows normalised, inverted.
    """
    cm = np.asarray(raw.color_matrix, dtype=np.float64)[:3, :3]
    if np.all(np.isfinite(cm)) and np.any(cm != 0):
        return cm
    xyz_cam = np.asarray(raw.rgb_xyz_matrix, dtype=np.float64)[:3, :3]
    if not np.all(np.isfinite(xyz_cam)) or not np.any(xyz_cam != 0):
        return None
    cam_rgb = xyz_cam @ _SRGB_TO_XYZ
    cam_rgb /= cam_rgb.sum(axis=1, keepdims=True)
    return np.linalg.inv(cam_rgb)


def _gains(wb: Any) -> tuple[float, float, float] | None:
    r, g, b = (float(x) for x in list(wb)[:3])
    if g > 0 and r > 0 and b > 0 and all(map(math.isfinite, (r, g, b))):
        return (r / g, 1.0, b / g)
    return None


def white_balance_from_rawpy(raw: Any) -> tuple[float, float, float] | None:
    """As-shot R, G, B gains normalised to G, or ``None`` when the file records none.

    LibRaw's ``camera_whitebalance`` starts with -1, or is all zeros, or has only G when the
    file has no as-shot white balance (its ``daylight_whitebalance`` is a camera-table guess,
    not what the photographer shot).
    """
    return _gains(raw.camera_whitebalance)


def site_black_levels(raw: Any) -> tuple[float, float, float, float]:
    """Black level of the R, Gr, Gb and B sites (DN) from LibRaw's per-colour values.

    ``black_level_per_channel`` is indexed by LibRaw's colour index (``raw_colors_visible``),
    which keeps the two greens apart where a camera's blacks differ per site.
    """
    per = [float(b) for b in raw.black_level_per_channel]
    block = np.asarray(raw.raw_colors_visible[:2, :2])
    desc = raw.color_desc.decode("ascii", "replace")
    at = {(y, x): per[int(block[y, x])] for y in range(2) for x in range(2)}
    name = "".join(desc[int(i)] for i in block.reshape(-1))
    return tuple(at[o] for o in cfa_site_offsets(name))  # type: ignore[return-value]


def read_raw_file(path: str | Path, seq: int = 0) -> Frame:
    """Decode one RAW file into a :class:`Frame`; :class:`SourceError` names a bad file."""
    import rawpy

    path = check_raw_path(path)
    said: list[str] = []
    try:
        with libraw_quiet() as said, rawpy.imread(str(path)) as raw:
            cfa = cfa_from_rawpy(raw, path)
            data = np.array(raw.raw_image_visible, dtype=np.uint16)  # copy: LibRaw owns it
            blacks = site_black_levels(raw)
            white = float(raw.white_level)
            wb = white_balance_from_rawpy(raw)
            matrix = color_matrix_from_rawpy(raw)
            meta: dict[str, Any] = {
                "source": "file",
                "path": str(path),
                "black_level_per_channel": [float(b) for b in raw.black_level_per_channel],
                # per site R, Gr, Gb, B (frame.black_level is their mean)
                "black_levels": blacks,
                "white_balance": wb,
                "white_balance_source": AS_SHOT if wb is not None else None,
                "color_matrix": FALLBACK_COLOR_MATRIX if matrix is None else matrix,
                "color_matrix_source": MATRIX_FALLBACK if matrix is None else MATRIX_FROM_FILE,
                # how to show it (EXIF 1..8); the mosaic stays in sensor order
                "orientation": FLIP_TO_EXIF.get(int(raw.sizes.flip), 1),
            }
            other, lens = raw.other, raw.lens
            if other.shutter_speed > 0:
                meta["exposure_s"] = float(other.shutter_speed)
            if other.iso_speed > 0:
                meta["iso"] = float(other.iso_speed)
            if other.aperture > 0:
                meta["aperture"] = float(other.aperture)
            if other.focal_length > 0:
                meta["focal_mm"] = float(other.focal_length)
            if lens.model:
                meta["lens_name"] = str(lens.model)
            if other.timestamp is not None:
                meta["wall_time"] = other.timestamp.timestamp()
    except SourceError:
        raise
    except Exception as exc:  # LibRaw's errors (LibRawFileUnsupportedError, IOError, ...)
        raise _libraw_error(path, exc, said) from exc
    h, w = data.shape[0] // 2 * 2, data.shape[1] // 2 * 2
    data = data[:h, :w]  # even sides; cropping bottom/right keeps the CFA origin
    bits = min(16, max(8, math.ceil(math.log2(white + 1))))
    black = float(np.mean(blacks))
    if meta["white_balance"] is None:  # none recorded: estimate it from the picture
        meta["white_balance"] = estimate_white_balance(data, cfa, blacks, white)
        meta["white_balance_source"] = AUTO if meta["white_balance"] is not None else UNITY
    warnings = data_warnings(data, white)  # garbage decoded from a corrupt file is flagged
    if warnings:
        meta["warnings"] = warnings
    try:
        return Frame(
            data, cfa=cfa, black_level=black, white_level=white, bits=bits, seq=seq, meta=meta
        )
    except ValueError as exc:
        raise SourceError(f"{path}: {exc}") from exc


class RawFileSource:
    """Plays RAW files as frames, looping, at ``fps`` frames per second (or flat out).

    Parameters
    ----------
    paths : path, folder, or list of them
        Files to play, in order; a folder gives its RAW files sorted by name.
    fps : float or None
        Pace of ``read()``; ``None`` returns frames as fast as they decode.
    loop : bool
        Start again after the last file; otherwise ``read()`` raises :class:`SourceError`.
    cache : bool
        Keep decoded frames in memory (read-only arrays) so looping does not decode again.
    report : text stream or None
        Where ``close()`` writes a summary of the files skipped (the CLI passes stderr).

    Attributes
    ----------
    errors : dict[str, str]
        Files that could not be read and why; they are skipped.
    """

    def __init__(
        self,
        paths: str | Path | Iterable[str | Path],
        fps: float | None = None,
        loop: bool = True,
        cache: bool = True,
        report: Any = None,
    ) -> None:
        if fps is not None and not (fps > 0 and math.isfinite(fps)):
            raise ValueError(f"fps must be a positive number or None, got {fps!r}")
        self.paths = expand_paths(paths)
        self.fps = fps
        self.loop = loop
        self.cache = cache
        self.report = report
        self.errors: dict[str, str] = {}
        self.name = f"file:{self.paths[0].parent if len(self.paths) > 1 else self.paths[0]}"
        self.status = "playing"
        self._cache: dict[int, Frame] = {}
        self._index = 0
        self._seq = 0
        self._next_due: float | None = None
        self._lock = threading.Lock()
        self._closed = False
        # Parse every header now (cheap, no decode) so that a list with no readable file
        # fails at once, naming them all; decoding errors are found on the first read.
        import rawpy

        for p in self.paths:
            said: list[str] = []
            try:
                check_raw_path(p)
                with libraw_quiet() as said, rawpy.imread(str(p)) as raw:
                    cfa_from_rawpy(raw, p)
            except SourceError as exc:
                self.errors[str(p)] = str(exc)
            except Exception as exc:
                self.errors[str(p)] = str(_libraw_error(p, exc, said))
        if len(self.errors) == len(self.paths):
            raise SourceError("no readable RAW file: " + "; ".join(self.errors.values()))

    @property
    def playable(self) -> list[Path]:
        return [p for p in self.paths if str(p) not in self.errors]

    def _decode(self, i: int) -> Frame:
        if i in self._cache:
            return self._cache[i]
        frame = read_raw_file(self.paths[i])
        if self.cache:
            frame.data.setflags(write=False)  # shared between loops: nobody may modify it
            self._cache[i] = frame
        return frame

    def read(self) -> Frame:
        """The next file's frame, paced to ``fps``; skips unreadable files (see ``errors``)."""
        with self._lock:
            if self._closed:
                raise SourceError(f"{self.name}: source is closed")
            tried = 0
            while True:
                if self._index >= len(self.paths):
                    if not self.loop:
                        self.status = "ended"
                        raise SourceError(f"{self.name}: end of files ({self._seq} frames)")
                    self._index = 0
                i = self._index
                self._index += 1
                tried += 1
                if str(self.paths[i]) in self.errors:
                    frame = None
                else:
                    try:
                        frame = self._decode(i)
                    except SourceError as exc:
                        self.errors[str(self.paths[i])] = str(exc)
                        frame = None
                if frame is not None:
                    break
                if tried > len(self.paths) and not self.playable:
                    self.status = "no readable file"
                    raise SourceError("no readable RAW file: " + "; ".join(self.errors.values()))
            self._pace()
            out = Frame(
                frame.data,
                cfa=frame.cfa,
                black_level=frame.black_level,
                white_level=frame.white_level,
                bits=frame.bits,
                seq=self._seq,
                timestamp_ns=time.monotonic_ns(),
                meta=dict(frame.meta),
            )
            self._seq += 1
            return out

    def _pace(self) -> None:
        if self.fps is None:
            return
        now = time.monotonic()
        if self._next_due is None or now - self._next_due > 1.0:  # first frame, or far behind
            self._next_due = now
        elif self._next_due > now:
            time.sleep(self._next_due - now)
        self._next_due += 1.0 / self.fps

    def skipped_summary(self) -> str | None:
        """One line per skipped file under a count, or None when every file played."""
        if not self.errors:
            return None
        n = len(self.errors)
        head = f"skipped {n} of {len(self.paths)} file{'s' if len(self.paths) > 1 else ''}:"
        return "\n".join([head, *(f"  {why}" for why in self.errors.values())])

    def close(self) -> None:
        with self._lock:
            if self._closed:
                return
            self._closed = True
            self.status = "closed"
            self._cache.clear()
        summary = self.skipped_summary()
        if summary and self.report is not None:
            print(f"viewfinder: {self.name}: {summary}", file=self.report, flush=True)

    def __enter__(self) -> RawFileSource:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
