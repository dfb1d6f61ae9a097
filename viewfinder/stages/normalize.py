"""Black level, white level and white balance: raw DN to a clipped linear mosaic.

The white-balance gains are applied on the mosaic and the result is clipped to [0, 1] before
demosaicing and the colour matrix, so a clipped highlight stays neutral instead of turning
magenta (the green channel clips first; unclipped red and blue gains would tint it).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from ..backend import array_module
from ..frame import CFA_CODES, Frame, cfa_colors, check_cfa, check_mosaic


@dataclass(frozen=True)
class RawScaling:
    """Raw DN -> normalised linear value: ``clip((dn - black) * scale[colour], 0, 1)``.

    ``scale`` holds, per colour R, G, B, ``gain * 2**exposure_ev / (white - black)``.
    """

    black: float
    scale: tuple[float, float, float]
    cfa: str

    @property
    def cfa_code(self) -> int:
        return CFA_CODES[self.cfa]

    def site_scales(self) -> np.ndarray:
        """Scale of each site of the 2x2 CFA block, (2, 2) float32."""
        return np.asarray(self.scale, dtype=np.float32)[cfa_colors(self.cfa)]


def raw_scaling(
    frame: Frame,
    white_balance: tuple[float, float, float] | None = None,
    exposure_ev: float = 0.0,
) -> RawScaling:
    """The scaling for ``frame``: gains from ``white_balance``, else the frame's, else unity."""
    wb = white_balance or frame.meta.get("white_balance") or (1.0, 1.0, 1.0)
    if len(wb) != 3 or min(wb) <= 0:
        raise ValueError(f"white balance must be 3 positive gains (R, G, B), got {wb!r}")
    span = float(frame.white_level) - float(frame.black_level)
    k = 2.0 ** float(exposure_ev) / span
    return RawScaling(
        black=float(frame.black_level),
        scale=tuple(float(g) * k for g in wb),  # type: ignore[arg-type]
        cfa=check_cfa(frame.cfa),
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
    xp.subtract(raw, xp.float32(scaling.black), out=out, dtype=xp.float32)
    scales = scaling.site_scales()
    if xp is np:
        blocks = out.reshape(h // 2, 2, w // 2, 2)
        blocks *= scales[None, :, None, :]
    else:  # one scalar per site: no per-frame host-to-device copy of the (2, 2) scales
        for dy in (0, 1):
            for dx in (0, 1):
                out[dy::2, dx::2] *= scales[dy, dx]
    xp.clip(out, 0.0, 1.0, out=out)
    return out
