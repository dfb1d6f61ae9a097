"""Pipeline settings: one plain, validated params struct (libcamera's soft ISP style).

Every field is checked when the settings are made or replaced (``dataclasses.replace``), and
a value out of range is refused with its range. The pipeline turns settings into kernel
arguments when they change, never per frame.
"""

from __future__ import annotations

from dataclasses import dataclass, field

DEMOSAIC_METHODS: tuple[str, ...] = ("bilinear", "mhc", "hq")
TONE_CURVES: tuple[str, ...] = ("srgb", "linear", "contrast")


def check_range(name: str, value: float, lo: float, hi: float) -> float:
    """Return ``value`` as float, or raise ``ValueError`` that gives the range."""
    try:
        v = float(value)
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be a number in [{lo}, {hi}], got {value!r}") from None
    if not lo <= v <= hi:  # also refuses NaN
        raise ValueError(f"{name} must be in [{lo}, {hi}], got {value!r}")
    return v


def check_choice(name: str, value: str, choices: tuple[str, ...]) -> str:
    if value not in choices:
        raise ValueError(f"unknown {name} {value!r}: expected one of {', '.join(choices)}")
    return value


# Assist settings live in their stage modules, which import check_range/check_choice above:
# imported here, after those helpers, so the import cycle resolves.
from .stages.falsecolor import FalseColourSettings  # noqa: E402
from .stages.histogram import HistogramSettings  # noqa: E402
from .stages.magnifier import MagnifierSettings  # noqa: E402
from .stages.peaking import PeakingSettings  # noqa: E402
from .stages.scopes import ScopeSettings  # noqa: E402
from .stages.zebra import ZebraSettings  # noqa: E402


@dataclass(frozen=True)
class Settings:
    """What the user controls in the processing pipeline.

    Attributes
    ----------
    demosaic : {"bilinear", "mhc", "hq"}
        Demosaicing method; ``"mhc"`` (Malvar-He-Cutler 2004) is the live default.
    white_balance : (3,) float or None
        R, G, B gains (0.1 to 16). ``None`` takes ``frame.meta["white_balance"]`` or unity.
    color_matrix : (3, 3) float or None
        Camera RGB to linear sRGB. ``None`` takes ``frame.meta["color_matrix"]`` or identity.
    exposure_ev : float
        Digital exposure compensation in stops, -8 to 8, applied before clipping.
    tone : {"srgb", "linear", "contrast"}
        Display encoding; ``"contrast"`` is sRGB with an S-curve of strength ``contrast``.
    contrast : float
        S-curve strength 0 to 1 (used by ``tone="contrast"``).
    view_size : (width, height) or None
        Size of the view in pixels; ``None`` keeps the frame size. The aspect ratio of the
        frame is the caller's business (the renderer letterboxes).
    """

    demosaic: str = "mhc"
    white_balance: tuple[float, float, float] | None = None
    color_matrix: tuple[tuple[float, ...], ...] | None = None
    exposure_ev: float = 0.0
    tone: str = "srgb"
    contrast: float = 0.5
    view_size: tuple[int, int] | None = None
    # Assist sub-settings follow; each is a frozen dataclass defined in its stage module so
    # that the stage owns its parameters.
    peaking: PeakingSettings = field(default_factory=PeakingSettings)
    zebra: ZebraSettings = field(default_factory=ZebraSettings)
    histogram: HistogramSettings = field(default_factory=HistogramSettings)
    false_colour: FalseColourSettings = field(default_factory=FalseColourSettings)
    scopes: ScopeSettings = field(default_factory=ScopeSettings)
    magnifier: MagnifierSettings = field(default_factory=MagnifierSettings)

    def __post_init__(self) -> None:
        check_choice("demosaic method", self.demosaic, DEMOSAIC_METHODS)
        check_choice("tone curve", self.tone, TONE_CURVES)
        check_range("exposure_ev", self.exposure_ev, -8.0, 8.0)
        check_range("contrast", self.contrast, 0.0, 1.0)
        if self.white_balance is not None:
            wb = tuple(self.white_balance)
            if len(wb) != 3:
                raise ValueError(f"white_balance must be 3 gains (R, G, B), got {wb!r}")
            for name, g in zip("RGB", wb, strict=True):
                check_range(f"white_balance {name} gain", g, 0.1, 16.0)
            object.__setattr__(self, "white_balance", tuple(float(g) for g in wb))
        if self.color_matrix is not None:
            rows = tuple(tuple(float(v) for v in row) for row in self.color_matrix)
            if len(rows) != 3 or any(len(r) != 3 for r in rows):
                raise ValueError(f"color_matrix must be 3x3, got {self.color_matrix!r}")
            for row in rows:
                for v in row:
                    check_range("color_matrix entry", v, -16.0, 16.0)
            object.__setattr__(self, "color_matrix", rows)
        if self.view_size is not None:
            vs = tuple(self.view_size)
            if len(vs) != 2:
                raise ValueError(f"view_size must be (width, height), got {self.view_size!r}")
            w = int(check_range("view width", vs[0], 2, 16384))
            h = int(check_range("view height", vs[1], 2, 16384))
            object.__setattr__(self, "view_size", (w, h))
