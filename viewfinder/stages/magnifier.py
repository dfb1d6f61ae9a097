"""Focus magnifier: a 1:1 or 2:1 crop of the full-resolution developed image, with peaking.

The raw crop around the chosen point, plus a margin, goes through the same stage functions the
pipeline's reference uses (normalise, demosaic, colour matrix, tone, RGBA8) at full resolution;
the margin is cut off afterwards, so the crop equals the same window of the whole frame
developed at full resolution. Peaking runs on the same raw crop with the whole frame's noise
model and is blended like the view's. 2:1 repeats each pixel 2x2.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

import numpy as np

from ..backend import array_module
from ..frame import Frame
from ..settings import check_range
from .peaking import PEAKING_COLOURS, PeakingEngine, PeakingSettings

#: Raw pixels developed around the crop and cut off (>= every demosaic's support; even).
MARGIN = 16


@dataclass(frozen=True)
class MagnifierSettings:
    """Magnifier controls.

    Attributes
    ----------
    enabled : bool
    center : (x, y) floats in [0, 1]
        The chosen point as fractions of the frame width and height.
    zoom : {1, 2}
        1:1 (one sensor pixel per screen pixel) or 2:1.
    size : (width, height) ints in [16, 2048]
        Output size in pixels (clamped to what the frame holds).
    peaking : bool
        Draw focus peaking (the view's peaking settings) on the crop.
    """

    enabled: bool = False
    center: tuple[float, float] = (0.5, 0.5)
    zoom: int = 1
    size: tuple[int, int] = (256, 256)
    peaking: bool = True

    def __post_init__(self) -> None:
        c = tuple(self.center)
        if len(c) != 2:
            raise ValueError(f"magnifier center must be (x, y), got {self.center!r}")
        object.__setattr__(
            self,
            "center",
            (
                check_range("magnifier center x", c[0], 0.0, 1.0),
                check_range("magnifier center y", c[1], 0.0, 1.0),
            ),
        )
        if self.zoom not in (1, 2):
            raise ValueError(f"magnifier zoom must be 1 or 2, got {self.zoom!r}")
        sz = tuple(self.size)
        if len(sz) != 2:
            raise ValueError(f"magnifier size must be (width, height), got {self.size!r}")
        for name, v in zip(("width", "height"), sz, strict=True):
            check_range(f"magnifier {name}", v, 16, 2048)
        object.__setattr__(self, "size", (int(sz[0]), int(sz[1])))

    def buffer_key(self) -> tuple:
        return (self.zoom, self.size)


def crop_window(
    frame_shape: tuple[int, int], settings: MagnifierSettings
) -> tuple[int, int, int, int]:
    """Sensor window (y0, x0, height, width) shown: even start, even size, inside the frame."""
    H, W = frame_shape
    out_w, out_h = settings.size
    ch = min(H, (-(-out_h // settings.zoom) + 1) // 2 * 2)  # ceil(out / zoom), made even
    cw = min(W, (-(-out_w // settings.zoom) + 1) // 2 * 2)
    cx, cy = settings.center
    y0 = int(round(cy * H - ch / 2)) // 2 * 2
    x0 = int(round(cx * W - cw / 2)) // 2 * 2
    return max(0, min(y0, H - ch)), max(0, min(x0, W - cw)), ch, cw


def _padded_window(
    frame_shape: tuple[int, int], win: tuple[int, int, int, int]
) -> tuple[int, int, int, int]:
    H, W = frame_shape
    y0, x0, ch, cw = win
    py0, px0 = max(0, y0 - MARGIN), max(0, x0 - MARGIN)
    return py0, px0, min(H, y0 + ch + MARGIN), min(W, x0 + cw + MARGIN)


def develop_crop(raw: Any, scaling: Any, cfa: str, settings: Any, meta: dict) -> Any:
    """Full-resolution RGBA8 of a raw (crop), by the pipeline's stage functions, (h, w, 4)."""
    from .color import apply_matrix, color_matrix_for
    from .demosaic import demosaic
    from .normalize import normalize
    from .output import to_rgba8
    from .tone import tone

    rgb = demosaic(normalize(raw, scaling), cfa, settings.demosaic)
    rgb = apply_matrix(rgb, color_matrix_for(meta, settings.color_matrix), out=rgb)
    return to_rgba8(tone(rgb, settings.tone, settings.contrast))


class Magnifier:
    """Buffers for the magnified crop and its peaking."""

    def configure(
        self, xp: Any, frame_shape: tuple[int, int], bits: int, settings: MagnifierSettings
    ) -> None:
        self.xp, self.frame_shape, self.bits = xp, tuple(frame_shape), int(bits)
        self.engine = PeakingEngine()
        self._engine_shape: tuple | None = None

    def process(
        self, frame: Frame, scaling: Any, settings: Any, view_engine: PeakingEngine | None = None
    ) -> Any:
        """The magnifier image, (mh, mw, 4) uint8 on the frame's backend."""
        m, p = settings.magnifier, settings.peaking
        win = crop_window(frame.shape, m)
        py0, px0, py1, px1 = _padded_window(frame.shape, win)
        y0, x0, ch, cw = win
        raw = frame.data[py0:py1, px0:px1]
        if scaling.cfa != frame.cfa:
            raise ValueError(f"scaling is for cfa {scaling.cfa}, frame is {frame.cfa}")
        rgba = develop_crop(raw, scaling, frame.cfa, settings, frame.meta)
        inner = (slice(y0 - py0, y0 - py0 + ch), slice(x0 - px0, x0 - px0 + cw))
        img = rgba[inner]
        level = self._levels(frame, raw, p, view_engine) if m.peaking and p.enabled else None
        if level is not None:  # None: no noise model yet (the view's estimate is running)
            img = blend_peaking(img, level[inner], p)
        if m.zoom == 2:
            img = img.repeat(2, axis=0).repeat(2, axis=1)
        out_w, out_h = m.size
        return array_module(img).ascontiguousarray(img[:out_h, :out_w])

    def _levels(
        self, frame: Frame, raw: Any, p: PeakingSettings, view_engine: PeakingEngine | None
    ) -> Any | None:
        shape = tuple(raw.shape)
        if self._engine_shape != shape:
            self.engine.configure(self.xp, shape, shape, self.bits)
            self._engine_shape = shape
        model = view_engine.model(frame) if view_engine is not None else None
        if view_engine is not None and model is None:
            return None
        contiguous = raw.flags.c_contiguous
        crop = replace(frame, data=raw if contiguous else array_module(raw).ascontiguousarray(raw))
        if self.xp is np:
            return self.engine.run(crop, p, full_res=True, model=model)
        return self.engine.run(crop, p, model=model) & 3


def blend_peaking(rgba: Any, level: Any, p: PeakingSettings) -> Any:
    """Peaking colour over ``rgba`` (h, w, 4) uint8 by ``level`` (h, w), as the view does."""
    xp = array_module(rgba)
    img = rgba[..., :3].astype(xp.int32)
    if p.mode == "grey":
        lum = (54 * img[..., 0] + 183 * img[..., 1] + 19 * img[..., 2] + 128) >> 8
        img = xp.repeat(lum[..., None], 3, axis=2)
    a = xp.asarray(np.array([0, 128, 192, 256], np.int32))[level.astype(xp.int32)][..., None]
    colour = xp.asarray(np.array(PEAKING_COLOURS[p.colour], np.int32))
    out = rgba.copy()
    out[..., :3] = ((img * (256 - a) + colour * a + 128) >> 8).astype(xp.uint8)
    return out
