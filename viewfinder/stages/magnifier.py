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

from ..backend import array_module, is_device_array
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
    """Buffers for the magnified crop and its peaking.

    On the device every buffer is made in :meth:`configure` and a frame only launches work:
    the padded raw window (a fixed size, shifted inside the frame at its edges) is copied into
    a dense buffer, normalised and demosaiced into preallocated planes, and one
    ``vf_preview_rgb`` launch (colour matrix, tone, RGBA8) writes the output directly, its
    taps picking the inner window and repeating pixels for 2:1; peaking levels are copied
    (repeated) into a buffer and blended by ``vf_view_pass``. Window taps and the colour
    matrix are uploaded when they change, not per frame. The returned array is the
    magnifier's own buffer, valid until the next ``process``.
    """

    def configure(
        self, xp: Any, frame_shape: tuple[int, int], bits: int, settings: MagnifierSettings
    ) -> None:
        self.xp, self.frame_shape, self.bits = xp, tuple(frame_shape), int(bits)
        self.engine = PeakingEngine()
        self._engine_shape: tuple | None = None
        self._dev: dict[str, Any] | None = None
        if xp is not np:
            self._configure_device(settings)

    def _configure_device(self, m: MagnifierSettings) -> None:
        from .demosaic import hq_scratch_shape

        xp, (H, W) = self.xp, self.frame_shape
        _, _, ch, cw = crop_window(self.frame_shape, m)
        ph, pw = min(H, ch + 2 * MARGIN), min(W, cw + 2 * MARGIN)
        oh, ow = min(m.size[1], ch * m.zoom), min(m.size[0], cw * m.zoom)
        self._dev = {
            "shape": (ph, pw),
            "out_shape": (oh, ow),
            "key": m.buffer_key(),
            "raw": xp.empty((ph, pw), xp.uint16),
            "mosaic": xp.empty((ph, pw), xp.float32),
            "rgb": xp.empty((ph, pw, 3), xp.float32),
            "scratch": xp.empty(hq_scratch_shape((ph, pw)), xp.float32),
            "iy": xp.empty((oh, 1), xp.int32),
            "ix": xp.empty((ow, 1), xp.int32),
            "wy": xp.ones((oh, 1), xp.float32),
            "wx": xp.ones((ow, 1), xp.float32),
            "ccm": xp.empty(9, xp.float32),
            "out": xp.empty((oh, ow, 4), xp.uint8),
            "level": xp.empty((oh, ow), xp.uint8),
            "peak": xp.empty((oh, ow), xp.uint8),
            "taps_key": None,
            "ccm_key": None,
        }
        self.engine.configure(xp, (ph, pw), (ph, pw), self.bits)
        self._engine_shape = (ph, pw)

    def process(
        self, frame: Frame, scaling: Any, settings: Any, view_engine: PeakingEngine | None = None
    ) -> Any:
        """The magnifier image, (mh, mw, 4) uint8 on the frame's backend."""
        m, p = settings.magnifier, settings.peaking
        if scaling.cfa != frame.cfa:
            raise ValueError(f"scaling is for cfa {scaling.cfa}, frame is {frame.cfa}")
        if self.xp is not np and is_device_array(frame.data):
            return self._process_device(frame, scaling, settings, view_engine)
        win = crop_window(frame.shape, m)
        py0, px0, py1, px1 = _padded_window(frame.shape, win)
        y0, x0, ch, cw = win
        raw = frame.data[py0:py1, px0:px1]
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

    def _process_device(
        self, frame: Frame, scaling: Any, settings: Any, view_engine: PeakingEngine | None
    ) -> Any:
        from ..kernels import get_kernel
        from ..pipeline import TONE_CODES
        from .color import color_matrix_for
        from .demosaic import demosaic
        from .normalize import normalize

        m, p = settings.magnifier, settings.peaking
        d = self._dev
        if d is None or d["key"] != m.buffer_key():
            self._configure_device(m)
            d = self._dev
        xp, (H, W), (ph, pw), (oh, ow) = self.xp, frame.shape, d["shape"], d["out_shape"]
        y0, x0, _, _ = crop_window(frame.shape, m)
        # the padded window, of a fixed size: shifted inside the frame at its edges
        py0 = max(0, min(y0 - MARGIN, H - ph))
        px0 = max(0, min(x0 - MARGIN, W - pw))
        oy, ox = y0 - py0, x0 - px0
        if d["taps_key"] != (oy, ox, m.zoom):  # when the window moves, not per frame
            d["iy"].set((oy + np.arange(oh, dtype=np.int32) // m.zoom).reshape(oh, 1))
            d["ix"].set((ox + np.arange(ow, dtype=np.int32) // m.zoom).reshape(ow, 1))
            d["taps_key"] = (oy, ox, m.zoom)
        ccm = color_matrix_for(frame.meta, settings.color_matrix)
        if d["ccm_key"] != ccm.tobytes():
            d["ccm"].set(np.ascontiguousarray(ccm, np.float32).ravel())
            d["ccm_key"] = ccm.tobytes()
        raw = d["raw"]
        raw[...] = frame.data[py0 : py0 + ph, px0 : px0 + pw]
        normalize(raw, scaling, out=d["mosaic"])
        demosaic(d["mosaic"], frame.cfa, settings.demosaic, out=d["rgb"], scratch=d["scratch"])
        i32, f32 = np.int32, np.float32
        block = (32, 8, 1)
        grid = ((ow + 31) // 32, (oh + 7) // 8, 1)
        get_kernel("preview", "vf_preview_rgb", xp=xp)(
            grid,
            block,
            (
                d["rgb"],
                i32(pw),
                i32(ph),
                d["iy"],
                d["wy"],
                i32(1),
                d["ix"],
                d["wx"],
                i32(1),
                d["ccm"],
                i32(TONE_CODES[settings.tone]),
                f32(settings.contrast),
                i32(ow),
                i32(oh),
                None,
                None,
                d["out"],
            ),
        )
        if not (m.peaking and p.enabled):
            return d["out"]
        model = view_engine.model(frame) if view_engine is not None else None
        if view_engine is not None and model is None:  # the view's first estimate is running
            return d["out"]
        pooled = self.engine.run(replace(frame, data=raw), p, model=model)  # (ph, pw) levels
        level, z = d["level"], m.zoom
        for dy in range(z):
            for dx in range(z):
                dst = level[dy::z, dx::z]
                dst[...] = pooled[oy : oy + dst.shape[0], ox : ox + dst.shape[1]]
        colour = PEAKING_COLOURS[p.colour]
        get_kernel("assists", "vf_view_pass", xp=xp)(
            grid,
            block,
            (
                d["out"],
                level,
                i32(ow),
                i32(oh),
                i32(1),
                *(i32(0), None) * 4,  # no histogram, waveform, parade, vectorscope
                i32(1),
                f32(0.0),
                f32(0.0),
                *(i32(0), i32(0), i32(0), i32(-1), i32(0), i32(0), i32(0), i32(1), None),
                i32(0),
                None,
                None,
                i32(1),
                i32(colour[0]),
                i32(colour[1]),
                i32(colour[2]),
                i32(p.mode == "grey"),
                d["peak"],
            ),
        )
        return d["out"]

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
