"""Black level, white level and white balance: raw DN to a clipped linear mosaic.

Black levels are per CFA site when the frame has them (``frame.meta["black_levels"]``: R, Gr,
Gb, B in DN, as some cameras record), else ``frame.black_level`` everywhere; each site is then
scaled over its own range ``white - black[site]``, so the white level maps to 1 on every site.

The white-balance gains are applied on the mosaic and the result is clipped to [0, 1] before
demosaicing and the colour matrix, so a clipped highlight stays neutral instead of turning
magenta (the green channel clips first; unclipped red and blue gains would tint it).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from ..backend import array_module
from ..frame import CFA_CODES, Frame, cfa_colors, cfa_site_offsets, check_cfa, check_mosaic


@dataclass(frozen=True)
class RawScaling:
    """Raw DN -> normalised linear value, per site of the 2x2 CFA block:
    ``clip((dn - site_black) * site_scale, 0, 1)``.

    ``black`` is the mean black level; ``scale`` holds, per colour R, G, B,
    ``gain * 2**exposure_ev / (white - black)``. ``blacks`` (optional) are the black levels of
    the four sites of the block row by row ((0, 0), (0, 1), (1, 0), (1, 1)); each site's scale
    is then ``gain * 2**exposure_ev / (white - its black)`` (``white`` needed).
    """

    black: float
    scale: tuple[float, float, float]
    cfa: str
    blacks: tuple[float, float, float, float] | None = None
    white: float | None = None

    @property
    def cfa_code(self) -> int:
        return CFA_CODES[self.cfa]

    def site_blacks(self) -> np.ndarray:
        """Black level of each site of the 2x2 CFA block, (2, 2) float32."""
        if self.blacks is None:
            return np.full((2, 2), self.black, np.float32)
        return np.asarray(self.blacks, np.float32).reshape(2, 2)

    def site_scales(self) -> np.ndarray:
        """Scale of each site of the 2x2 CFA block, (2, 2) float32."""
        per_colour = np.asarray(self.scale, dtype=np.float64)[cfa_colors(self.cfa)]
        if self.blacks is None or self.white is None:
            return per_colour.astype(np.float32)
        span = float(self.white) - float(self.black)
        site_span = float(self.white) - np.asarray(self.blacks, np.float64).reshape(2, 2)
        return (per_colour * span / site_span).astype(np.float32)


def site_black_levels(frame: Frame) -> tuple[float, float, float, float] | None:
    """The frame's per-site black levels in block order ((0, 0), (0, 1), (1, 0), (1, 1)), from
    ``meta["black_levels"]`` (R, Gr, Gb, B); ``None`` when it has none or all are equal."""
    values = frame.meta.get("black_levels")
    if values is None:
        return None
    v = [float(b) for b in np.asarray(values, dtype=np.float64).reshape(-1)]
    if len(v) != 4 or not all(0 <= b < float(frame.white_level) for b in v):
        raise ValueError(
            f"black_levels must be 4 values (R, Gr, Gb, B) in [0, white_level="
            f"{frame.white_level}), got {values!r}"
        )
    if len(set(v)) == 1:
        return None
    at = dict(zip(cfa_site_offsets(frame.cfa), v, strict=True))
    return tuple(at[(y, x)] for y in (0, 1) for x in (0, 1))  # type: ignore[return-value]


def raw_scaling(
    frame: Frame,
    white_balance: tuple[float, float, float] | None = None,
    exposure_ev: float = 0.0,
) -> RawScaling:
    """The scaling for ``frame``: gains from ``white_balance``, else the frame's, else unity."""
    wb = white_balance or frame.meta.get("white_balance") or (1.0, 1.0, 1.0)
    if len(wb) != 3 or min(wb) <= 0:
        raise ValueError(f"white balance must be 3 positive gains (R, G, B), got {wb!r}")
    blacks = site_black_levels(frame)
    black = float(frame.black_level) if blacks is None else float(np.mean(blacks))
    span = float(frame.white_level) - black
    k = 2.0 ** float(exposure_ev) / span
    return RawScaling(
        black=black,
        scale=tuple(float(g) * k for g in wb),  # type: ignore[arg-type]
        cfa=check_cfa(frame.cfa),
        blacks=blacks,
        white=float(frame.white_level),
    )


def normalize(raw: Any, scaling: RawScaling, out: Any = None) -> Any:
    """Normalise a raw mosaic.

    Parameters
    ----------
    raw : (H, W) integer or float array, NumPy or CuPy
        Raw values in DN.
    scaling : RawScaling
    out : (H, W) float32 array, optional
        Buffer to write into.

    Returns
    -------
    (H, W) float32 array of the same module as ``raw``, in [0, 1].
    """
    check_mosaic(raw)
    xp = array_module(raw)
    h, w = raw.shape
    if out is None:
        out = xp.empty((h, w), dtype=xp.float32)
    blacks, scales = scaling.site_blacks(), scaling.site_scales()
    if xp is np:
        blocks = out.reshape(h // 2, 2, w // 2, 2)
        np.subtract(raw.reshape(h // 2, 2, w // 2, 2), blacks[None, :, None, :], out=blocks)
        blocks *= scales[None, :, None, :]
    else:  # one scalar per site: no per-frame host-to-device copy of the (2, 2) values
        for dy in (0, 1):
            for dx in (0, 1):
                site = out[dy::2, dx::2]
                xp.subtract(raw[dy::2, dx::2], blacks[dy, dx], out=site, dtype=xp.float32)
                site *= scales[dy, dx]
    xp.clip(out, 0.0, 1.0, out=out)
    return out
