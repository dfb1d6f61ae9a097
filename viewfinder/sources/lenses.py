"""The lens catalogue: the built-in lens and Leica M lenses, read from TOML files.

The catalogue shipped with the package is ``lenses.toml`` beside this module (it documents
every field). Users add lenses with a file of their own in the same format; a malformed file
raises ``ValueError`` naming the file, the line and the field.
"""

from __future__ import annotations

import argparse
import re
import tomllib
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

CATALOGUE = Path(__file__).resolve().parent / "lenses.toml"
MOUNTS: tuple[str, ...] = ("builtin", "m")
_ID_RE = re.compile(r"^[a-z0-9][a-z0-9._-]*$")


@dataclass(frozen=True)
class Lens:
    """One lens of the catalogue (units: mm, m, stops)."""

    id: str
    name: str
    mount: str
    focal_mm: float
    apertures: tuple[float, ...]
    min_focus_m: float
    vignetting_ev: float
    image_circle_mm: float
    autofocus: bool = False
    six_bit: str | None = None

    @property
    def max_aperture(self) -> float:
        """Widest aperture (smallest f-number)."""
        return self.apertures[0]

    @property
    def min_aperture(self) -> float:
        """Smallest aperture (largest f-number)."""
        return self.apertures[-1]

    def check_aperture(self, f_number: float) -> float:
        """``f_number`` as float, or ``ValueError`` giving this lens's range."""
        try:
            n = float(f_number)
        except (TypeError, ValueError):
            n = float("nan")
        if not self.max_aperture - 1e-9 <= n <= self.min_aperture + 1e-9:
            if self.max_aperture == self.min_aperture:
                raise ValueError(
                    f"{self.name} has a fixed aperture f/{self.max_aperture:g}, got f/{f_number!r}"
                )
            raise ValueError(
                f"aperture f/{f_number!r} is outside the range of {self.name}: "
                f"f/{self.max_aperture:g} to f/{self.min_aperture:g}"
            )
        return n

    def check_focus(self, focus_m: float) -> float:
        """``focus_m`` as float (``inf`` allowed), or ``ValueError`` below the minimum."""
        try:
            d = float(focus_m)
        except (TypeError, ValueError):
            d = float("nan")
        if not d >= self.min_focus_m:  # also refuses NaN
            raise ValueError(
                f"focus distance {focus_m!r} m is closer than the minimum focus distance "
                f"of {self.name} ({self.min_focus_m:g} m)"
            )
        return d


class _Locator:
    """Finds the line of the n-th ``[[lens]]`` table and of a key inside it."""

    def __init__(self, text: str) -> None:
        self.lines = text.splitlines()
        self.headers = [
            i for i, line in enumerate(self.lines) if re.match(r"^\s*\[\[\s*lens\s*\]\]", line)
        ]

    def line_of(self, index: int, key: str | None = None) -> int:
        if index >= len(self.headers):
            return 1
        start = self.headers[index]
        end = self.headers[index + 1] if index + 1 < len(self.headers) else len(self.lines)
        if key is not None:
            pattern = re.compile(rf"^\s*{re.escape(key)}\s*=")
            for i in range(start, end):
                if pattern.match(self.lines[i]):
                    return i + 1
        return start + 1


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    return float(value)


REQUIRED_FIELDS = (
    "id",
    "name",
    "mount",
    "focal_mm",
    "apertures",
    "min_focus_m",
    "vignetting_ev",
    "image_circle_mm",
)
OPTIONAL_FIELDS = ("autofocus", "six_bit")


def _parse_entry(entry: Any, where: str, fail: Any) -> Lens:
    if not isinstance(entry, dict):
        fail(None, "each [[lens]] must be a table")
    known = {*REQUIRED_FIELDS, *OPTIONAL_FIELDS}
    for key in entry:
        if key not in known:
            fail(key, f"unknown field (known: {', '.join(sorted(known))})")
    for key in REQUIRED_FIELDS:
        if key not in entry:
            fail(None, f"missing field {key!r}")
    lens_id = entry["id"]
    if not isinstance(lens_id, str) or not _ID_RE.match(lens_id):
        fail("id", f"must be lower-case letters, digits, '.', '_' or '-', got {lens_id!r}")
    if not isinstance(entry["name"], str) or not entry["name"].strip():
        fail("name", f"must be a non-empty string, got {entry['name']!r}")
    if entry["mount"] not in MOUNTS:
        fail("mount", f"must be one of {', '.join(MOUNTS)}, got {entry['mount']!r}")
    values = {}
    for key, lo, hi in (
        ("focal_mm", 1.0, 2000.0),
        ("min_focus_m", 0.01, 100.0),
        ("vignetting_ev", 0.0, 10.0),
        ("image_circle_mm", 1.0, 100.0),
    ):
        v = _number(entry[key])
        if v is None or not lo <= v <= hi:
            fail(key, f"must be a number in [{lo:g}, {hi:g}], got {entry[key]!r}")
        values[key] = v
    stops = entry["apertures"]
    nums = [_number(s) for s in stops] if isinstance(stops, list) else [None]
    if not nums or any(n is None or not 0.5 <= n <= 64 for n in nums):
        fail("apertures", f"must be a list of f-numbers in [0.5, 64], got {stops!r}")
    if any(b <= a for a, b in zip(nums, nums[1:], strict=False)):
        fail("apertures", f"must be increasing (widest first), got {stops!r}")
    autofocus = entry.get("autofocus", False)
    if not isinstance(autofocus, bool):
        fail("autofocus", f"must be true or false, got {autofocus!r}")
    six_bit = entry.get("six_bit")
    if six_bit is not None and not (isinstance(six_bit, str) and re.fullmatch(r"[01]{6}", six_bit)):
        fail("six_bit", f"must be six 0/1 digits, got {six_bit!r}")
    return Lens(
        id=lens_id,
        name=entry["name"].strip(),
        mount=entry["mount"],
        focal_mm=values["focal_mm"],
        apertures=tuple(nums),
        min_focus_m=values["min_focus_m"],
        vignetting_ev=values["vignetting_ev"],
        image_circle_mm=values["image_circle_mm"],
        autofocus=autofocus,
        six_bit=six_bit,
    )


def parse_lenses(text: str, source: str) -> list[Lens]:
    """Lenses of a TOML text; ``ValueError`` naming ``source``, the line and the field."""
    try:
        doc = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:  # its message carries "(at line L, column C)"
        raise ValueError(f"{source}: malformed TOML: {exc}") from None
    locator = _Locator(text)
    entries = doc.get("lens")
    extra = [k for k in doc if k != "lens"]
    if extra:
        raise ValueError(
            f"{source}: line 1: unknown top-level key {extra[0]!r} "
            "(a lens file holds [[lens]] tables only)"
        )
    if not isinstance(entries, list) or not entries:
        raise ValueError(f"{source}: line 1: no [[lens]] tables found")
    lenses: list[Lens] = []
    seen: dict[str, int] = {}
    for index, entry in enumerate(entries):

        def fail(key: str | None, problem: str, index: int = index) -> None:
            line = locator.line_of(index, key)
            field = f"field {key!r}" if key else f"lens #{index + 1}"
            raise ValueError(f"{source}: line {line}: {field}: {problem}")

        lens = _parse_entry(entry, source, fail)
        if lens.id in seen:
            fail("id", f"duplicate lens id {lens.id!r}")
        seen[lens.id] = index
        lenses.append(lens)
    return lenses


@cache
def builtin_catalogue() -> tuple[Lens, ...]:
    """The lenses shipped with the package."""
    return tuple(parse_lenses(CATALOGUE.read_text(), str(CATALOGUE)))


def load_lenses(extra_file: str | Path | None = None) -> dict[str, Lens]:
    """Catalogue lenses by id, plus those of ``extra_file`` (which may not reuse an id)."""
    lenses = {lens.id: lens for lens in builtin_catalogue()}
    if extra_file is not None:
        path = Path(extra_file)
        try:
            text = path.read_text()
        except OSError as exc:
            raise ValueError(f"{path}: cannot read lens file: {exc.strerror or exc}") from None
        locator = _Locator(text)
        for index, lens in enumerate(parse_lenses(text, str(path))):
            if lens.id in lenses:
                line = locator.line_of(index, "id")
                raise ValueError(
                    f"{path}: line {line}: field 'id': lens id {lens.id!r} "
                    "is already in the catalogue"
                )
            lenses[lens.id] = lens
    return lenses


def _columns(lens: Lens) -> list[str]:
    aperture = (
        f"f/{lens.max_aperture:g}"
        if len(lens.apertures) == 1
        else f"f/{lens.max_aperture:g}-{lens.min_aperture:g}"
    )
    extra = "autofocus" if lens.autofocus else ""
    return [
        lens.id,
        lens.name,
        f"{lens.focal_mm:g} mm",
        aperture,
        f"min focus {lens.min_focus_m:g} m",
        f"mount {lens.mount}",
        extra,
    ]


def format_lenses(lenses: list[Lens]) -> list[str]:
    """One line per lens, id first, every column aligned across the lines."""
    rows = [_columns(lens) for lens in lenses]
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))] if rows else []
    right = {2}  # focal lengths align on their units
    return [
        "  ".join(
            (c.rjust(w) if i in right else c.ljust(w))
            for i, (c, w) in enumerate(zip(r, widths, strict=True))
        ).rstrip()
        for r in rows
    ]


def format_lens(lens: Lens) -> str:
    """One line describing ``lens``, its id first."""
    return format_lenses([lens])[0]


def cli_lenses(args: argparse.Namespace) -> int:
    """``viewfinder lenses [--file F]``: print one line per lens, id first, aligned."""
    for line in format_lenses(list(load_lenses(getattr(args, "file", None)).values())):
        print(line)
    return 0
