"""Drawing the live image and its overlays with the GLSL in ``shaders/``.

The image keeps its aspect ratio inside the area it is given (letterboxed); the overlays
(peaking colour, moving zebra stripes, false colour, grid, aspect guide, framelines of other
focal lengths, the magnifier inset) are composited by ``view.frag`` on the GPU.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..orientation import check_orientation, oriented_size, uv_matrix
from ..stages.falsecolor import DEFAULT_IRE_BANDS, false_colour_lut
from ..stages.peaking import PEAKING_COLOURS
from .shaders import compile_program
from .textures import StreamTexture

#: Peaking colours (0..1 RGB): the peaking stage's own table, so the inset it draws matches.
PEAK_COLOURS: dict[str, tuple[float, float, float]] = {
    name: (r / 255, g / 255, b / 255) for name, (r, g, b) in PEAKING_COLOURS.items()
}
#: Aspect guides (width / height), 0 = off.
GUIDES: dict[str, float] = {
    "off": 0.0,
    "1:1": 1.0,
    "4:3": 4 / 3,
    "3:2": 1.5,
    "16:9": 16 / 9,
    "2.39:1": 2.39,
}
GRIDS: tuple[str, ...] = ("off", "thirds", "quarters")


def letterbox(
    image_size: tuple[int, int], area: tuple[int, int, int, int]
) -> tuple[int, int, int, int]:
    """The largest rectangle of the image's aspect that fits ``area``, centred.

    Parameters
    ----------
    image_size : (width, height)
    area : (x, y, width, height), pixels, top-left origin

    Returns
    -------
    (x, y, width, height) in pixels, top-left origin.
    """
    iw, ih = image_size
    ax, ay, aw, ah = area
    if iw <= 0 or ih <= 0 or aw <= 0 or ah <= 0:
        raise ValueError(f"letterbox needs positive sizes, got image {image_size}, area {area}")
    scale = min(aw / iw, ah / ih)
    w, h = max(1, round(iw * scale)), max(1, round(ih * scale))
    return ax + (aw - w) // 2, ay + (ah - h) // 2, w, h


def frameline_rects(
    focal_mm: float, others_mm: list[float], limit: int = 8
) -> list[tuple[float, tuple[float, float, float, float]]]:
    """Framelines of longer focal lengths, as on a Leica M frame selector.

    A lens of focal length ``f2`` on the same sensor sees ``focal_mm / f2`` of the width and
    height (thin lens at infinity), centred. Returns ``[(f2, (u0, v0, u1, v1)), ...]`` in
    image coordinates 0..1 for each distinct ``f2 > focal_mm``, shortest first.
    """
    if not focal_mm or focal_mm <= 0:
        return []
    out = []
    for f2 in sorted({float(f) for f in others_mm if f > focal_mm * 1.05}):
        k = focal_mm / f2
        out.append((f2, (0.5 - k / 2, 0.5 - k / 2, 0.5 + k / 2, 0.5 + k / 2)))
    return out[:limit]


@dataclass
class Overlays:
    """What the view shader draws over the image (the viewer's assist switches)."""

    peaking: bool = True
    peak_colour: str = "red"
    zebra: bool = False
    zebra_period_px: float = 6.0
    zebra_speed_px_s: float = 30.0
    false_colour: bool = False
    false_colour_bands: tuple = DEFAULT_IRE_BANDS
    grid: str = "off"
    guide: str = "off"
    framelines: bool = True
    frames: list[tuple[float, tuple[float, float, float, float]]] = field(default_factory=list)
    magnifier: bool = False
    magnifier_centre: tuple[float, float] = (0.5, 0.5)  # image coordinates 0..1
    magnifier_zoom: float = 4.0


_UNIFORMS = (
    "u_rect",
    "u_uv_window",
    "u_orient",
    "u_image",
    "u_peaking",
    "u_zebra",
    "u_view_px",
    "u_peak_color",
    "u_time",
    "u_zebra_period",
    "u_zebra_speed",
    "u_fc_lut",
    "u_guide_aspect",
    "u_image_aspect",
    "u_frames",
    "u_frame_color",
)


class ViewRenderer:
    """Owns the view program and the image/mask textures; ``draw`` puts them on screen."""

    def __init__(self, interop: bool = True) -> None:
        from OpenGL import GL

        self._programs: dict[tuple, tuple[int, dict[str, int]]] = {}
        self.vao = int(GL.glGenVertexArrays(1))  # core profile: a VAO must be bound to draw
        self.image = StreamTexture(4, interop)
        self.peaking = StreamTexture(1, interop)
        self.zebra = StreamTexture(1, interop)
        self.magnifier = StreamTexture(4, interop)
        for tex in (self.peaking, self.zebra):
            tex.set_filter(nearest=True)
        self._fc_lut = StreamTexture(4, False)
        self._fc_lut.set_filter(nearest=True)
        self._fc_bands: tuple | None = None
        #: Size (width, height) of the picture as shown: the image's, turned by ``orientation``.
        self.image_size: tuple[int, int] | None = None
        #: EXIF orientation of the uploaded image (textures stay in sensor order; the shader
        #: samples them through it, so masks and the magnifier crop turn with the image).
        self.orientation = 1
        self.has_masks = {"peaking": False, "zebra": False}
        self.has_magnifier = False

    def program_for(self, key: tuple[tuple[str, int], ...]) -> tuple[int, dict[str, int]]:
        """The view program with these VF_* defines (compiled on first use) and its uniforms."""
        from OpenGL import GL

        if key not in self._programs:
            program = compile_program("view.vert", "view.frag", key)
            loc = {name: GL.glGetUniformLocation(program, name) for name in _UNIFORMS}
            self._programs[key] = (program, loc)
        return self._programs[key]

    @property
    def path(self) -> str | None:
        """The upload path of the image texture ("cuda-gl-interop", "pbo"...)."""
        return self.image.path

    def upload(self, arrays: dict[str, Any], magnifier: Any = None, orientation: int = 1) -> None:
        """Upload the image (h, w, 4) and the masks (h, w) of one result.

        ``orientation`` (EXIF 1..8) is how the picture is shown; the arrays are in sensor order.
        """
        image = arrays["image"]
        self.orientation = check_orientation(orientation)
        self.image.upload(image)
        self.image_size = oriented_size((int(image.shape[1]), int(image.shape[0])), orientation)
        for name, tex in (("peaking", self.peaking), ("zebra", self.zebra)):
            mask = arrays.get(name)
            self.has_masks[name] = mask is not None
            if mask is not None:
                tex.upload(mask)
        self.has_magnifier = magnifier is not None
        if magnifier is not None:
            self.magnifier.upload(magnifier)  # (mh, mw, 4) uint8, contiguous (a slot copy)

    def draw(
        self,
        rect: tuple[int, int, int, int],
        fb_size: tuple[int, int],
        ov: Overlays,
        time_s: float,
        inset: tuple[int, int, int, int] | None = None,
    ) -> None:
        """Draw the image with its overlays into ``rect`` (x, y, w, h; top-left origin);
        the magnifier into ``inset`` (default: the top-right corner of ``rect``)."""
        if self.image_size is None:
            return
        # Drawn 1:1 (the usual case: the view is developed at the size it is shown), every
        # fragment sits on a texel centre, where linear and nearest sampling give the same
        # colour; nearest costs a software rasteriser a third less (llvmpipe: 4 ms, not 6,
        # for a 920x516 view).
        self.image.set_filter(nearest=(rect[2], rect[3]) == self.image_size)
        self._draw_quad(
            rect, fb_size, ov, time_s, self.image.texture, (0.0, 0.0, 1.0, 1.0), overlays=True
        )
        if ov.magnifier:
            self._draw_magnifier(rect, fb_size, ov, time_s, inset)

    def _draw_magnifier(
        self,
        rect: tuple[int, int, int, int],
        fb_size: tuple[int, int],
        ov: Overlays,
        time_s: float,
        inset: tuple[int, int, int, int] | None = None,
    ) -> None:
        x, y, w, h = rect
        if inset is None:
            side = max(32, int(min(w, h) * 0.38))
            inset = (x + w - side - 12, y + 12, side, side)
        side = inset[2]
        if self.has_magnifier:  # the assists stage's crop at sensor resolution
            self._draw_quad(
                inset,
                fb_size,
                ov,
                time_s,
                self.magnifier.texture,
                (0.0, 0.0, 1.0, 1.0),
                overlays=False,
            )
            return
        # no sensor-resolution crop: enlarge the view texture around the chosen point
        self.image.set_filter(nearest=False)  # enlarged: interpolate
        iw, ih = self.image_size  # type: ignore[misc]
        half_u = 0.5 * side / (w * ov.magnifier_zoom) if w else 0.05
        half_v = half_u * iw / ih
        cu = min(max(ov.magnifier_centre[0], half_u), 1 - half_u)
        cv = min(max(ov.magnifier_centre[1], half_v), 1 - half_v)
        self._draw_quad(
            inset,
            fb_size,
            ov,
            time_s,
            self.image.texture,
            (cu - half_u, cv - half_v, cu + half_u, cv + half_v),
            overlays=False,
        )

    def _draw_quad(
        self,
        rect: tuple[int, int, int, int],
        fb_size: tuple[int, int],
        ov: Overlays,
        time_s: float,
        texture: int,
        uv_window: tuple[float, float, float, float],
        overlays: bool,
    ) -> None:
        from OpenGL import GL

        fw, fh = fb_size
        x, y, w, h = rect
        # pixels (top-left origin) to NDC (bottom-left origin)
        x0, x1 = 2 * x / fw - 1, 2 * (x + w) / fw - 1
        y0, y1 = 1 - 2 * (y + h) / fh, 1 - 2 * y / fh
        on = overlays
        peaking = on and ov.peaking and self.has_masks["peaking"]
        zebra = on and ov.zebra and self.has_masks["zebra"]
        false_colour = on and ov.false_colour
        guide = GUIDES.get(ov.guide, 0.0) if on else 0.0
        frames = ov.frames[:8] if (on and ov.framelines) else []
        key = (
            ("VF_PEAKING", int(peaking)),
            ("VF_ZEBRA", int(zebra)),
            ("VF_FALSE_COLOUR", int(false_colour)),
            ("VF_GRID", GRIDS.index(ov.grid) if on and ov.grid in GRIDS else 0),
            ("VF_GUIDE", int(guide > 0)),
            ("VF_FRAMES", len(frames)),
            ("VF_BORDER", int(not on)),
        )
        program, L = self.program_for(key)
        GL.glUseProgram(program)
        GL.glBindVertexArray(self.vao)
        GL.glUniform4f(L["u_rect"], x0, y0, x1, y1)
        GL.glUniform4f(L["u_uv_window"], *uv_window)
        GL.glUniformMatrix3fv(L["u_orient"], 1, GL.GL_FALSE, uv_matrix(self.orientation))
        GL.glUniform2f(L["u_view_px"], float(w), float(h))
        units = [(texture, "u_image")]
        if peaking:
            units.append((self.peaking.texture, "u_peaking"))
        if zebra:
            units.append((self.zebra.texture, "u_zebra"))
        if false_colour:
            if ov.false_colour_bands != self._fc_bands:
                self._fc_lut.upload(false_colour_lut(ov.false_colour_bands)[None])
                self._fc_bands = ov.false_colour_bands
            units.append((self._fc_lut.texture, "u_fc_lut"))
        for unit, (tex, name) in enumerate(units):
            GL.glActiveTexture(GL.GL_TEXTURE0 + unit)
            GL.glBindTexture(GL.GL_TEXTURE_2D, tex)
            GL.glUniform1i(L[name], unit)
        GL.glUniform3f(L["u_peak_color"], *PEAK_COLOURS.get(ov.peak_colour, (1.0, 0.0, 0.0)))
        GL.glUniform1f(L["u_time"], float(time_s % 1000.0))
        GL.glUniform1f(L["u_zebra_period"], float(ov.zebra_period_px))
        GL.glUniform1f(L["u_zebra_speed"], float(ov.zebra_speed_px_s))
        GL.glUniform1f(L["u_guide_aspect"], guide)
        iw, ih = self.image_size  # type: ignore[misc]
        GL.glUniform1f(L["u_image_aspect"], iw / ih)
        if frames:
            flat = np.zeros((8, 4), np.float32)
            for i, (_, r) in enumerate(frames):
                flat[i] = r
            GL.glUniform4fv(L["u_frames"], 8, flat)
        GL.glUniform3f(L["u_frame_color"], 0.95, 0.95, 0.85)
        GL.glDrawArrays(GL.GL_TRIANGLE_STRIP, 0, 4)
        GL.glBindVertexArray(0)
        GL.glUseProgram(0)

    def delete(self) -> None:
        from OpenGL import GL

        for tex in (
            self.image,
            self.peaking,
            self.zebra,
            self.magnifier,
            self._fc_lut,
        ):
            tex.delete()
        GL.glDeleteVertexArrays(1, [self.vao])
        for program, _ in self._programs.values():
            GL.glDeleteProgram(program)
        self._programs.clear()
