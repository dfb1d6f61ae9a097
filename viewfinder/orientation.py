"""Image orientation: the EXIF/TIFF ``Orientation`` tag (1..8) and what it does to a picture.

Frames stay in sensor order everywhere (the mosaic, the pipeline, the assists, DNG captures);
``frame.meta["orientation"]`` says how the picture is meant to be shown, and only what reaches
a person follows it: the view on screen (the shader samples the textures through
:func:`display_to_stored`), PNG/JPEG captures (:func:`orient_image`), and the points the user
clicks (mapped back to sensor fractions). A frame without the key is shown as stored (1).

The eight values, as EXIF defines them (row 0 / column 0 of the stored image is shown at...):

== ================================ ============================================
1  as stored                        top / left
2  mirrored left-right              top / right
3  rotated 180 degrees              bottom / right
4  mirrored top-bottom              bottom / left
5  transposed                       left / top
6  rotated 90 degrees clockwise     right / top
7  transverse                       right / bottom
8  rotated 90 degrees anticlockwise left / bottom
== ================================ ============================================

LibRaw reports orientation in ``sizes.flip`` with dcraw's bits (1 mirror horizontally, 2
mirror vertically, 4 transpose); :data:`FLIP_TO_EXIF` converts.
"""

from __future__ import annotations

from typing import Any

ORIENTATIONS: tuple[int, ...] = tuple(range(1, 9))
ORIENTATION_NAMES: dict[int, str] = {
    1: "normal",
    2: "mirrored left-right",
    3: "rotated 180",
    4: "mirrored top-bottom",
    5: "transposed",
    6: "rotated 90 CW",
    7: "transverse",
    8: "rotated 90 CCW",
}
#: LibRaw/dcraw ``sizes.flip`` -> EXIF Orientation.
FLIP_TO_EXIF: dict[int, int] = {0: 1, 1: 2, 2: 4, 3: 3, 4: 5, 5: 8, 6: 6, 7: 7}

# Display (u, v) in [0, 1] (u right, v down) -> stored (s, t) as (a, b, c, d, e, f):
# s = a*u + b*v + c, t = d*u + e*v + f.
_AFFINE: dict[int, tuple[float, float, float, float, float, float]] = {
    1: (1, 0, 0, 0, 1, 0),
    2: (-1, 0, 1, 0, 1, 0),
    3: (-1, 0, 1, 0, -1, 1),
    4: (1, 0, 0, 0, -1, 1),
    5: (0, 1, 0, 1, 0, 0),
    6: (0, 1, 0, -1, 0, 1),
    7: (0, -1, 1, -1, 0, 1),
    8: (0, -1, 1, 1, 0, 0),
}


def check_orientation(value: Any) -> int:
    """The orientation as an int in 1..8; ``ValueError`` names a bad value."""
    try:
        o = int(value)
    except (TypeError, ValueError):
        o = 0
    if o not in ORIENTATIONS or (isinstance(value, float) and value != o):
        raise ValueError(f"orientation must be an EXIF Orientation value 1..8, got {value!r}")
    return o


def orientation_of(meta: dict[str, Any] | None) -> int:
    """``meta["orientation"]`` checked, or 1 when absent."""
    value = (meta or {}).get("orientation")
    return 1 if value is None else check_orientation(value)


def swaps_axes(orientation: int) -> bool:
    """Whether the shown picture is the stored one transposed (5 to 8): width <-> height."""
    return check_orientation(orientation) >= 5


def oriented_size(size: tuple[int, int], orientation: int) -> tuple[int, int]:
    """(width, height) of a stored picture of ``size`` as it is shown."""
    w, h = size
    return (h, w) if swaps_axes(orientation) else (w, h)


def orient_image(image: Any, orientation: int) -> Any:
    """The stored image ``(H, W, ...)`` (NumPy or CuPy) as shown: a view, no copy.

    ``rawpy``'s ``postprocess`` applies the same transform for a file's ``sizes.flip``.
    """
    o = check_orientation(orientation)
    a = image
    if o == 1:
        return a
    if o == 2:
        return a[:, ::-1]
    if o == 3:
        return a[::-1, ::-1]
    if o == 4:
        return a[::-1]
    t = a.swapaxes(0, 1)
    if o == 5:
        return t
    if o == 6:
        return t[:, ::-1]  # shown[i, j] = stored[H - 1 - j, i]
    if o == 7:
        return t[::-1, ::-1]
    return t[::-1]  # 8: shown[i, j] = stored[j, W - 1 - i]


def display_to_stored(u: float, v: float, orientation: int) -> tuple[float, float]:
    """A point of the shown picture (fractions of its width and height) in the stored one."""
    a, b, c, d, e, f = _AFFINE[check_orientation(orientation)]
    return a * u + b * v + c, d * u + e * v + f


def stored_to_display(s: float, t: float, orientation: int) -> tuple[float, float]:
    """Inverse of :func:`display_to_stored`."""
    o = check_orientation(orientation)
    inverse = {6: 8, 8: 6}.get(o, o)  # the other transforms are their own inverses
    return display_to_stored(s, t, inverse)


def uv_matrix(orientation: int) -> tuple[float, ...]:
    """The display -> stored map as a column-major GLSL ``mat3`` (for ``vec3(u, v, 1)``)."""
    a, b, c, d, e, f = _AFFINE[check_orientation(orientation)]
    return (a, d, 0.0, b, e, 0.0, c, f, 1.0)
