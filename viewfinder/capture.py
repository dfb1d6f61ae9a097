"""Capture: the raw frame as a DNG, processed frames as PNG or JPEG, every file written atomically.

Every writer goes through :func:`atomic_write`: the bytes go to a temporary name in the target
folder, are flushed and fsynced, then renamed over the final name, so a crash or a full disk
never leaves a half file under the final name. The burst writer thread and ``viewfinder
capture`` live in :mod:`viewfinder.capture_writer` (re-exported here).
"""

from __future__ import annotations

import errno
import os
import re
import shutil
import struct
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, BinaryIO

import numpy as np

from .frame import Frame
from .orientation import orientation_of

#: Capture formats: raw DNG, or the processed view as PNG (8 or 16 bit) or JPEG.
FORMATS: dict[str, str] = {"dng": ".dng", "png": ".png", "png16": ".png", "jpeg": ".jpg"}

#: Linear sRGB (D65) to CIE XYZ, IEC 61966-2-1.
SRGB_TO_XYZ = np.array(
    [
        [0.4124564, 0.3575761, 0.1804375],
        [0.2126729, 0.7151522, 0.0721750],
        [0.0193339, 0.1191920, 0.9503041],
    ]
)
XYZ_TO_SRGB = np.linalg.inv(SRGB_TO_XYZ)
_D65_ILLUMINANT = 21  # EXIF LightSource code of CalibrationIlluminant1


class CaptureError(OSError):
    """A capture could not be written (full disk, bad path...); the message names the file.

    ``CaptureError(errno, message)``; ``str()`` is the message alone (no "[Errno N]").
    """

    def __str__(self) -> str:
        return self.strerror if self.strerror else super().__str__()


# -- atomic file writes -------------------------------------------------------------------


def _open_temp(final: Path) -> tuple[BinaryIO, Path]:
    """Open a new temporary file next to ``final`` (same folder, so the rename is atomic).

    Its name carries this process's id (``.NAME.PID.RANDOM.part``), so that a later burst
    can tell the leftovers of a killed writer (:func:`remove_stale_parts`) from files that a
    live one is still writing.
    """
    fd, name = tempfile.mkstemp(
        dir=final.parent, prefix=f".{final.name}.{os.getpid()}.", suffix=PART_SUFFIX
    )
    os.close(fd)  # reopened by name: tifffile wants a file object with a path-like name
    return open(name, "w+b"), Path(name)  # noqa: SIM115 (closed by atomic_write)


PART_SUFFIX = ".part"
#: A ``.part`` file whose name carries no process id is taken as stale after this many s.
STALE_PART_AGE_S = 600.0
#: How many numbered names (``NAME_1``, ``NAME_2``...) a unique capture tries.
MAX_NAME_TRIES = 100_000


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's process: alive
        return True
    return True


def remove_stale_parts(folder: str | os.PathLike) -> list[Path]:
    """Remove the temporary ``.*.part`` files that writers killed earlier left in ``folder``.

    A part file is stale when the process named in it is gone (or, for a name without a
    process id, when it is older than :data:`STALE_PART_AGE_S`); the files of live writers,
    this process's included, are kept. Returns the files removed.
    """
    removed: list[Path] = []
    try:
        candidates = list(Path(folder).glob(f".*{PART_SUFFIX}"))
    except OSError:
        return removed
    for part in candidates:
        fields = part.name[: -len(PART_SUFFIX)].split(".")
        pid = int(fields[-2]) if len(fields) >= 3 and fields[-2].isdigit() else None
        try:
            if pid is not None:
                stale = pid != os.getpid() and not _pid_alive(pid)
            else:
                stale = time.time() - part.stat().st_mtime > STALE_PART_AGE_S
            if stale:
                part.unlink()
                removed.append(part)
        except OSError:  # gone already, or not ours to remove: leave it
            continue
    return removed


def _read_umask() -> int:
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


# Read once at import: os.umask() can only be read by setting it, which is not thread-safe
# while the burst writer thread creates files.
_UMASK = _read_umask()

#: What NumPy and others say, with no errno, when a write comes up short on a full disk.
_DISK_FULL_WORDS = re.compile(r"free space|no space|disk full|requested and \d+ written", re.I)


def write_error(exc: BaseException, path: str | os.PathLike) -> CaptureError | None:
    """A :class:`CaptureError` naming ``path`` and the cause of a failed write, or None.

    Disk full (``ENOSPC``/``EDQUOT``, or NumPy's errno-less "Not enough free space" / "N
    requested and M written", or a folder with under 1 MB left), a read-only file system and
    a permission error are recognised whatever errno came with them; any other ``OSError``
    becomes "cannot write PATH: reason". Non-``OSError`` exceptions give None.
    """
    if isinstance(exc, CaptureError):
        return exc
    if not isinstance(exc, OSError):
        return None
    final = Path(path)
    code = exc.errno
    reason = exc.strerror or str(exc) or type(exc).__name__
    free: int | None = None
    try:
        free = shutil.disk_usage(final.parent).free
    except OSError:
        pass
    if code in (errno.ENOSPC, errno.EDQUOT, errno.EFBIG) or _DISK_FULL_WORDS.search(str(exc)):
        full = True
    elif code == errno.EROFS:
        return CaptureError(code, f"cannot write {str(final)!r}: read-only file system")
    elif code in (errno.EACCES, errno.EPERM):
        return CaptureError(code, f"cannot write {str(final)!r}: permission denied")
    else:  # an unusual errno (EIO, None...) on a disk with next to nothing left
        full = free is not None and free < 1_000_000
    if full:
        left = f"{free / 1e6:.1f} MB free" if free is not None else "free space unknown"
        return CaptureError(
            errno.ENOSPC,
            f"disk full while writing {str(final)!r} ({left}); no partial file was left",
        )
    return CaptureError(code or errno.EIO, f"cannot write {str(final)!r}: {reason}")


def numbered_names(path: Path) -> Iterator[Path]:
    """``path``, then ``STEM_1.EXT``, ``STEM_2.EXT``... (at most :data:`MAX_NAME_TRIES`)."""
    yield path
    for n in range(1, MAX_NAME_TRIES):
        yield path.with_name(f"{path.stem}_{n}{path.suffix}")


def _claim(tmp: Path, final: Path, unique: bool) -> Path:
    """Give the finished temporary file its final name; with ``unique``, the first free one.

    The name is claimed atomically when the file gets it: ``link(2)`` fails with EEXIST
    rather than replace another file, so two writers (threads or processes) in one folder
    never overwrite each other. File systems without hard links (FAT, some network shares)
    get an ``O_CREAT | O_EXCL`` claim of the name, then the rename over it.
    """
    if not unique:
        os.replace(tmp, final)
        return final
    for candidate in numbered_names(final):
        try:
            os.link(tmp, candidate)
        except FileExistsError:
            continue
        except OSError as exc:
            if exc.errno not in (errno.EPERM, errno.ENOTSUP, errno.EOPNOTSUPP, errno.ENOSYS):
                raise
            try:  # no hard links here: claim the name with an exclusive create
                os.close(os.open(candidate, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600))
            except FileExistsError:
                continue
            os.replace(tmp, candidate)
            return candidate
        tmp.unlink()
        return candidate
    raise CaptureError(errno.EEXIST, f"no free file name like {str(final)!r} left")


def atomic_write(
    path: str | os.PathLike, write: Callable[[BinaryIO], None], unique: bool = False
) -> Path:
    """Write a file through ``write(fh)`` under a temporary name, fsync, then rename it.

    On any error the temporary file is removed and ``path`` is left as it was (absent, or
    the previous complete file). With ``unique`` an existing file is never replaced: the
    file gets the first free name of ``path``, ``STEM_1.EXT``, ``STEM_2.EXT``..., claimed
    atomically (see :func:`_claim`), and that name is returned. A failed write raises
    :class:`CaptureError` naming the path and the cause (see :func:`write_error`): disk full
    (``ENOSPC``), read-only file system, permission denied.
    """
    final = Path(path)
    if not final.parent.is_dir():
        raise CaptureError(errno.ENOENT, f"output folder {str(final.parent)!r} does not exist")
    tmp: Path | None = None
    try:
        fh, tmp = _open_temp(final)  # can itself fail when the disk is full (no inodes)
        try:
            write(fh)
            fh.flush()
            # mkstemp makes the file 0600; a capture gets the mode any new file would get.
            os.fchmod(fh.fileno(), 0o666 & ~_UMASK)
            os.fsync(fh.fileno())  # data on disk before the name points at it
        finally:
            fh.close()
        final = _claim(tmp, final, unique)
    except BaseException as exc:
        if tmp is not None:
            tmp.unlink(missing_ok=True)
        error = write_error(exc, final)
        if error is None or error is exc:
            raise
        try:
            raise error from exc
        finally:  # no cycle through this frame: a failed frame is freed without the gc
            error = None
    return final


# -- colour metadata ------------------------------------------------------------------------


def white_balance_gains(meta: dict[str, Any]) -> np.ndarray:
    """R, G, B white-balance gains from ``meta["white_balance"]`` (unity when absent), (3,)."""
    wb = meta.get("white_balance")
    gains = np.ones(3) if wb is None else np.asarray(wb, dtype=np.float64).reshape(-1)
    if gains.shape != (3,) or not np.all(np.isfinite(gains)) or np.any(gains <= 0):
        raise ValueError(f"white_balance must be 3 positive gains (R, G, B), got {wb!r}")
    return gains


def camera_to_srgb(meta: dict[str, Any]) -> np.ndarray:
    """The (3, 3) camera (white-balanced) to linear sRGB matrix; identity when absent."""
    cm = meta.get("color_matrix")
    if cm is None:
        return np.eye(3)
    m = np.asarray(cm, dtype=np.float64)
    if m.shape != (3, 3) or not np.all(np.isfinite(m)) or abs(np.linalg.det(m)) < 1e-9:
        raise ValueError(f"color_matrix must be an invertible 3x3 matrix, got {cm!r}")
    return m


def dng_color_matrix(meta: dict[str, Any]) -> np.ndarray:
    """DNG ColorMatrix1 (CIE XYZ to camera native RGB, D65), (3, 3).

    The frame's matrix maps white-balanced camera RGB to linear sRGB, and white balance
    multiplies native camera RGB by the gains, so XYZ -> camera is
    ``diag(1/gains) @ inv(M) @ XYZ_TO_SRGB``. It is scaled as DNG asks: D65 white maps to a
    camera neutral whose largest component is 1.
    """
    gains = white_balance_gains(meta)
    xyz_to_cam = np.diag(1.0 / gains) @ np.linalg.inv(camera_to_srgb(meta)) @ XYZ_TO_SRGB
    white = xyz_to_cam @ (SRGB_TO_XYZ @ np.ones(3))
    return xyz_to_cam / np.max(white)


def as_shot_neutral(meta: dict[str, Any]) -> np.ndarray:
    """DNG AsShotNeutral: the camera's response to white, ``1/gains`` normalised to G, (3,)."""
    gains = white_balance_gains(meta)
    return gains[1] / gains


# -- DNG ------------------------------------------------------------------------------------


def _rationals(values: Any, signed: bool = False, den: int = 1_000_000) -> tuple[int, ...]:
    out: list[int] = []
    for v in np.asarray(values, dtype=np.float64).reshape(-1):
        num = round(float(v) * den)
        lim = 2**31 - 1 if signed else 2**32 - 1
        d = den
        while abs(num) > lim:  # large values: trade precision for range
            num, d = round(num / 10), d // 10
        out += [int(num), int(d)]
    return tuple(out)


def _meta_first(meta: dict[str, Any], *keys: str) -> Any:
    for k in keys:
        if meta.get(k) is not None:
            return meta[k]
    return None


def _label(value: Any) -> str | None:
    """A lens or sensor label: a string, or the ``name`` of an object or dict."""
    if value is None:
        return None
    if isinstance(value, dict):
        value = value.get("name") or value.get("id")
    else:
        value = getattr(value, "name", value)
    return None if value is None else str(value)


def _exposure_time_s(meta: dict[str, Any]) -> float | None:
    if meta.get("exposure_time_ns") is not None:
        return float(meta["exposure_time_ns"]) * 1e-9
    t = _meta_first(meta, "exposure_s", "exposure_time", "exposure_time_s")
    return None if t is None else float(t)


def wall_time(frame: Frame) -> float:
    """When ``frame`` was exposed, in seconds since the epoch.

    ``meta["wall_time"]`` when the source knows it (RAW files); else the frame's monotonic
    timestamp moved to the wall clock, so a burst written late still carries its exposure
    times; else now.
    """
    wall = frame.meta.get("wall_time")
    if wall:
        return float(wall)
    age_s = (time.monotonic_ns() - int(frame.timestamp_ns)) / 1e9
    return time.time() - age_s if 0 <= age_s < 86400 else time.time()


def _exif_datetime(wall: float) -> str:
    return time.strftime("%Y:%m:%d %H:%M:%S", time.localtime(wall))


def _exif_entries(meta: dict[str, Any], wall: float) -> list[tuple[int, int, int, bytes]]:
    """EXIF IFD entries (tag, TIFF type, count, little-endian value bytes), sorted by tag."""

    def rational(x: float) -> bytes:
        return struct.pack("<2I", *_rationals([x], den=100_000))

    def ascii_(s: str) -> tuple[int, bytes]:
        b = s.encode("ascii", "replace") + b"\0"
        return len(b), b

    entries: list[tuple[int, int, int, bytes]] = []
    t = _exposure_time_s(meta)
    if t is not None and t > 0:
        num, den = (
            (1, round(1 / t))
            if t < 1 and abs(1 / t - round(1 / t)) < 1e-6
            else (round(t * 1_000_000), 1_000_000)
        )
        entries.append((33434, 5, 1, struct.pack("<2I", num, den)))
    f_number = _meta_first(meta, "f_number", "aperture")
    if f_number is not None:
        entries.append((33437, 5, 1, rational(float(f_number))))
    iso = _meta_first(meta, "iso", "ISO")
    if iso is not None:
        entries.append((34855, 3, 1, struct.pack("<H", min(int(round(float(iso))), 65535))))
    entries.append((36864, 7, 4, b"0231"))  # ExifVersion
    n, b = ascii_(_exif_datetime(wall))
    entries.append((36867, 2, n, b))  # DateTimeOriginal
    n, b = ascii_(f"{int(wall * 1000) % 1000:03d}")
    entries.append((37521, 2, n, b))  # SubSecTimeOriginal: frames of a burst apart
    focal = _meta_first(meta, "focal_mm", "focal_length", "focal_length_mm")
    if focal is not None:
        entries.append((37386, 5, 1, rational(float(focal))))
    lens = _label(_meta_first(meta, "lens_name", "lens"))
    if lens:
        n, b = ascii_(lens)
        entries.append((42036, 2, n, b))  # LensModel
    return sorted(entries)


def _ifd_bytes(entries: list[tuple[int, int, int, bytes]], offset: int) -> bytes:
    """A classic little-endian TIFF IFD placed at file ``offset`` (values after the IFD)."""
    head = struct.pack("<H", len(entries))
    data_at = offset + 2 + 12 * len(entries) + 4
    table, data = b"", b""
    for tag, typ, count, value in entries:
        if len(value) <= 4:
            table += struct.pack("<HHI", tag, typ, count) + value.ljust(4, b"\0")
        else:
            table += struct.pack("<HHII", tag, typ, count, data_at + len(data))
            data += value + b"\0" * (len(value) % 2)  # values start on word boundaries
    return head + table + struct.pack("<I", 0) + data


def _link_exif_ifd(fh: BinaryIO, entries: list[tuple[int, int, int, bytes]]) -> None:
    """Append an EXIF IFD to the TIFF in ``fh`` and link it from IFD0 (tag 34665).

    tifffile will not write the ExifIFD pointer itself, so IFD0's table is copied to the end
    of the file with the pointer added (its out-of-line values stay where they are) and the
    header is pointed at the copy; the old table (a few hundred bytes) is left unused.
    """
    fh.flush()
    fh.seek(0)
    header = fh.read(8)
    if header[:4] != b"II*\0":
        raise ValueError("expected a little-endian classic TIFF from tifffile")
    ifd0 = struct.unpack("<I", header[4:8])[0]
    fh.seek(ifd0)
    (count,) = struct.unpack("<H", fh.read(2))
    table = fh.read(12 * count)
    next_ifd = fh.read(4)
    rows = [table[12 * i : 12 * i + 12] for i in range(count)]
    end = fh.seek(0, os.SEEK_END)
    new_ifd0 = end + end % 2  # IFDs start on a word boundary
    exif_at = new_ifd0 + 2 + 12 * (count + 1) + 4
    rows.append(struct.pack("<HHII", 34665, 4, 1, exif_at))
    rows.sort(key=lambda r: struct.unpack("<H", r[:2])[0])
    fh.write(b"\0" * (end % 2))
    fh.write(struct.pack("<H", count + 1) + b"".join(rows) + next_ifd)
    fh.write(_ifd_bytes(entries, exif_at))
    fh.seek(4)
    fh.write(struct.pack("<I", new_ifd0))
    fh.seek(0, os.SEEK_END)


def _black_level_tags(frame: Frame) -> list[tuple]:
    """BlackLevelRepeatDim + BlackLevel: one value, or the four sites of the 2x2 block row
    by row when the frame has per-site black levels (``meta["black_levels"]``)."""
    from .stages.normalize import raw_scaling

    blacks = raw_scaling(frame).blacks  # block order, or None when all sites are equal
    if blacks is None:
        return [
            (50713, "H", 2, (1, 1), True),  # BlackLevelRepeatDim
            (50714, "2I", 1, _rationals([frame.black_level], den=1000), True),  # BlackLevel
        ]
    return [(50713, "H", 2, (2, 2), True), (50714, "2I", 4, _rationals(blacks, den=1000), True)]


def dng_tags(frame: Frame, wall: float | None = None) -> list[tuple]:
    """The tifffile ``extratags`` of a DNG of ``frame`` (IFD0 tags; EXIF goes in its own IFD)."""
    meta = frame.meta
    cfa = [("RGB".index(c)) for c in frame.cfa]
    camera = _label(_meta_first(meta, "camera_model", "sensor", "camera", "card")) or "Viewfinder"
    camera = f"Viewfinder {camera}" if not camera.startswith("Viewfinder") else camera
    stamp = _exif_datetime(wall_time(frame) if wall is None else wall)
    tags: list[tuple] = [
        (271, "s", 0, "Viewfinder", True),  # Make
        (272, "s", 0, camera, True),  # Model
        (305, "s", 0, "viewfinder", True),  # Software
        (306, "s", 0, stamp, True),  # DateTime
        (33421, "H", 2, (2, 2), True),  # CFARepeatPatternDim
        (33422, "B", 4, tuple(cfa), True),  # CFAPattern
        (50706, "B", 4, (1, 4, 0, 0), True),  # DNGVersion
        (50707, "B", 4, (1, 1, 0, 0), True),  # DNGBackwardVersion
        (50708, "s", 0, camera, True),  # UniqueCameraModel
        (50710, "B", 3, (0, 1, 2), True),  # CFAPlaneColor
        (50711, "H", 1, 1, True),  # CFALayout: rectangular
        *_black_level_tags(frame),
        (50717, "I", 1, int(round(frame.white_level)), True),  # WhiteLevel
        (50721, "2i", 9, _rationals(dng_color_matrix(meta), signed=True), True),  # ColorMatrix1
        (50728, "2I", 3, _rationals(as_shot_neutral(meta)), True),  # AsShotNeutral
        (50778, "H", 1, _D65_ILLUMINANT, True),  # CalibrationIlluminant1
    ]
    # The mosaic stays in sensor order; how to show it goes in the Orientation tag.
    tags.append((274, "H", 1, orientation_of(meta), True))
    # The lens name goes in the EXIF IFD (LensModel): DNG has no lens-name tag of its own.
    return tags


def write_dng(frame: Frame, path: str | os.PathLike, unique: bool = False) -> Path:
    """Write ``frame``'s raw mosaic, bit-exact, as an uncompressed DNG 1.4 at ``path``.

    The file carries the CFA pattern, black and white levels, ColorMatrix1 (XYZ to camera,
    from ``meta["color_matrix"]`` and ``meta["white_balance"]``), AsShotNeutral, camera model,
    and in its EXIF IFD the exposure time, ISO, f-number, focal length, lens and time.

    Parameters
    ----------
    frame : Frame
        (H, W) uint16 mosaic (NumPy or CuPy), LSB-aligned, in DN.
    path : path-like
        Final file name; written atomically (see :func:`atomic_write`).
    unique : bool
        Never replace an existing file: take the first free numbered name (returned).
    """
    import tifffile

    data = frame.data
    if hasattr(data, "get"):  # CuPy: the writer runs off the hot path, a copy is fine
        if frame.sync is not None:  # written on the source's stream: wait for it here
            frame.sync.ready.synchronize()
        data = data.get()
    data = np.ascontiguousarray(data, dtype=np.uint16)
    wall = wall_time(frame)
    extratags = dng_tags(frame, wall)
    exif = _exif_entries(frame.meta, wall)

    def write(fh: BinaryIO) -> None:
        with tifffile.TiffWriter(fh, bigtiff=False, byteorder="<") as tif:
            tif.write(
                data,
                photometric="cfa",
                extratags=extratags,
                metadata=None,
                subfiletype=0,
                software=False,
            )
        _link_exif_ifd(fh, exif)

    return atomic_write(path, write, unique)


# -- processed captures ---------------------------------------------------------------------


def develop(frame: Frame, bits: int = 16, method: str = "hq") -> np.ndarray:
    """A full-resolution rendering of ``frame``: sRGB-encoded RGB, (H, W, 3) uint8/16.

    The pipeline's own stage chain (:func:`viewfinder.pipeline.develop_reference`) with the
    high-quality demosaic, so a capture looks like the live view; used for 16-bit PNGs (the
    live view is 8 bit).
    """
    from .pipeline import develop_reference
    from .settings import Settings

    _, display, _ = develop_reference(frame, Settings(demosaic=method))
    display = display.get() if hasattr(display, "get") else np.asarray(display)
    top = (1 << bits) - 1
    return (np.clip(display, 0.0, 1.0) * top + 0.5).astype(np.uint16 if bits > 8 else np.uint8)


def _encode(rgb: np.ndarray, ext: str, params: list[int]) -> bytes:
    import cv2

    img = rgb[..., 2::-1] if rgb.shape[-1] == 3 else rgb[..., [2, 1, 0, 3]]  # OpenCV is BGR
    ok, buf = cv2.imencode(ext, np.ascontiguousarray(img), params)
    if not ok:
        raise CaptureError(errno.EIO, f"OpenCV could not encode a {ext} image")
    return buf.tobytes()


def write_png(rgb: np.ndarray, path: str | os.PathLike, unique: bool = False) -> Path:
    """Write an (H, W, 3|4) uint8 or uint16 RGB(A) image as PNG, atomically (``unique``:
    never over an existing file, see :func:`atomic_write`)."""
    if rgb.ndim != 3 or rgb.shape[2] not in (3, 4) or rgb.dtype not in (np.uint8, np.uint16):
        raise ValueError(f"PNG needs (H, W, 3|4) uint8/uint16, got {rgb.shape} {rgb.dtype}")
    import cv2

    data = _encode(rgb, ".png", [cv2.IMWRITE_PNG_COMPRESSION, 1])
    return atomic_write(path, lambda fh: fh.write(data), unique)


def write_jpeg(
    rgb: np.ndarray, path: str | os.PathLike, quality: int = 95, unique: bool = False
) -> Path:
    """Write an (H, W, 3|4) uint8 RGB(A) image as JPEG (alpha dropped), atomically
    (``unique``: never over an existing file, see :func:`atomic_write`)."""
    if rgb.ndim != 3 or rgb.shape[2] not in (3, 4) or rgb.dtype != np.uint8:
        raise ValueError(f"JPEG needs (H, W, 3|4) uint8, got {rgb.shape} {rgb.dtype}")
    import cv2

    data = _encode(rgb[..., :3], ".jpg", [cv2.IMWRITE_JPEG_QUALITY, int(quality)])
    return atomic_write(path, lambda fh: fh.write(data), unique)


def __getattr__(name: str) -> Any:
    # The burst writer and CLI live in capture_writer (which imports this module).
    if name in ("BurstWriter", "cli_capture", "Renderer"):
        from . import capture_writer

        return getattr(capture_writer, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
