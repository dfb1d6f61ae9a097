"""Where things go in the window: the image area, the docked column, the overlays.

The window is split once per frame by :func:`compute_layout`, a pure function of the
framebuffer size and the user's layout choices, so that the image is never under a panel:

- the **column** on the right holds the Controls panel (collapsible to a thin strip) and, with
  the ``"strip"`` placement, the histogram and the scopes above it;
- the **image area** is the window minus the column; the image is letterboxed in it with its
  aspect kept;
- with a corner placement the histogram and the scopes are compact, semi-transparent overlays
  in that corner of the image;
- the **magnifier inset** goes in the corner of the image farthest from the point it
  magnifies, avoiding the overlays (:func:`magnifier_rect`);
- the **clean view** has no column and no overlays: the image fills the window;
- the **dual view** (both sensors at once) splits the image area in two slots, side by side
  or one above the other (whichever shows the pictures larger): the built-in lens's wide view
  first (left or top), the M lens's beside it (:func:`split_area`).

Rectangles are (x, y, width, height) in framebuffer pixels, top-left origin.
"""

from __future__ import annotations

from dataclasses import dataclass

from .view import letterbox

Rect = tuple[int, int, int, int]

PANEL_WIDTH = 360
COLLAPSED_WIDTH = 34
#: Heights of the histogram and the scopes docked in the column.
STRIP_HEIGHTS = {"histogram": 205, "scopes": 190}
#: Sizes of the compact overlays (at most this, and at most 45 % of the image's width).
OVERLAY_SIZES = {"histogram": (330, 150), "scopes": (330, 150)}
OVERLAY_ALPHA = 0.55
MARGIN = 8
PLACEMENTS: tuple[str, ...] = ("strip", "top-left", "top-right", "bottom-left", "bottom-right")


@dataclass(frozen=True)
class Layout:
    """One frame's rectangles (None: not shown)."""

    image_area: Rect
    image: Rect | None
    column: Rect | None
    controls: Rect | None
    collapsed: bool
    histogram: Rect | None
    scopes: Rect | None
    #: the histogram and scopes are drawn over the image (a corner), not docked
    overlay: bool
    #: the area the image is letterboxed in: ``image_area``, or its half in the dual view
    slot: Rect | None = None
    #: the dual view's second picture (the other sensor's stream) and its slot
    second: Rect | None = None
    second_slot: Rect | None = None


def check_placement(placement: str) -> str:
    if placement not in PLACEMENTS:
        raise ValueError(
            f"histogram placement must be one of {', '.join(PLACEMENTS)}, got {placement!r}"
        )
    return placement


def intersects(a: Rect, b: Rect) -> bool:
    """True when the rectangles share pixels."""
    return a[0] < b[0] + b[2] and b[0] < a[0] + a[2] and a[1] < b[1] + b[3] and b[1] < a[1] + a[3]


def compute_layout(
    fb_size: tuple[int, int],
    image_size: tuple[int, int] | None = None,
    *,
    collapsed: bool = False,
    histogram: bool = True,
    scopes: bool = False,
    placement: str = "strip",
    clean: bool = False,
    second_size: tuple[int, int] | None = None,
    second_first: bool = True,
) -> Layout:
    """Split a ``fb_size`` (width, height) window; ``image_size`` is the picture as shown.

    ``second_size`` (the dual view): the other stream's picture as shown (``(0, 0)`` before
    its first frame), given a slot beside the image's; ``second_first`` puts it first (left
    or top).
    """
    check_placement(placement)
    fw, fh = int(fb_size[0]), int(fb_size[1])
    if clean:
        area = (0, 0, fw, fh)
        slot, second_slot, second = _dual_slots(area, image_size, second_size, second_first)
        image = letterbox(image_size, slot) if image_size and slot[2] > 0 and fh > 0 else None
        return Layout(
            area, image, None, None, collapsed, None, None, False, slot, second, second_slot
        )
    docked = [n for n, on in (("histogram", histogram), ("scopes", scopes)) if on]
    strip = placement == "strip" and bool(docked)
    # a window too narrow for a column of controls beside a picture: the column folds
    folded = collapsed or fw < 2 * PANEL_WIDTH
    width = PANEL_WIDTH if (strip or not folded) else COLLAPSED_WIDTH
    width = min(width, max(fw - 64, 0))
    column = (fw - width, 0, width, fh)
    area = (0, 0, fw - width, fh)
    rects: dict[str, Rect | None] = {"histogram": None, "scopes": None}
    y = 0
    if strip:
        for name in docked:
            h = min(STRIP_HEIGHTS[name], max(fh // 3, 60))
            rects[name] = (column[0], y, width, h)
            y += h
    controls = (column[0], y, width, max(fh - y, 0))
    slot, second_slot, second = _dual_slots(area, image_size, second_size, second_first)
    image = letterbox(image_size, slot) if image_size and slot[2] > 0 and fh > 0 else None
    if not strip and docked:
        target = image or slot
        rects.update(_corner_overlays(target, docked, placement))
    return Layout(
        area,
        image,
        column,
        controls,
        folded,
        rects["histogram"],
        rects["scopes"],
        not strip,
        slot,
        second,
        second_slot,
    )


def split_area(area: Rect, aspect: float = 4 / 3, gap: int = MARGIN) -> tuple[Rect, Rect]:
    """Two slots of ``area`` for two pictures of ``aspect`` (width / height): side by side or
    one above the other, whichever shows them larger; ``gap`` pixels between them."""
    x, y, w, h = area
    half_w, half_h = max((w - gap) // 2, 1), max((h - gap) // 2, 1)
    side = min(half_w, h * aspect)  # picture width when side by side
    stacked = min(w, half_h * aspect)
    if side >= stacked:
        return (x, y, half_w, h), (x + w - half_w, y, half_w, h)
    return (x, y, w, half_h), (x, y + h - half_h, w, half_h)


def _dual_slots(
    area: Rect,
    image_size: tuple[int, int] | None,
    second_size: tuple[int, int] | None,
    second_first: bool,
) -> tuple[Rect, Rect | None, Rect | None]:
    """(the image's slot, the second picture's slot, the second picture) of ``area``."""
    if second_size is None:
        return area, None, None
    shape = image_size if image_size and image_size[1] > 0 else second_size
    aspect = shape[0] / shape[1] if shape and shape[1] > 0 else 4 / 3
    first, last = split_area(area, aspect)
    slot, second_slot = (last, first) if second_first else (first, last)
    second = None
    if second_size[0] > 0 and second_size[1] > 0 and second_slot[2] > 0 and second_slot[3] > 0:
        second = letterbox(second_size, second_slot)
    return slot, second_slot, second


def _corner_overlays(target: Rect, names: list[str], corner: str) -> dict[str, Rect]:
    """Stack the overlays in ``corner`` of ``target``, the first nearest the corner."""
    x, y, w, h = target
    out: dict[str, Rect] = {}
    top = corner.startswith("top")
    left = corner.endswith("left")
    offset = MARGIN
    for name in names:
        ow, oh = OVERLAY_SIZES[name]
        ow, oh = min(ow, int(w * 0.45)), min(oh, int(h * 0.3))
        ox = x + MARGIN if left else x + w - ow - MARGIN
        oy = y + offset if top else y + h - offset - oh
        out[name] = (ox, oy, max(ow, 1), max(oh, 1))
        offset += oh + MARGIN // 2
    return out


def fit_size(frame_size: tuple[int, int], area: tuple[int, int]) -> tuple[int, int]:
    """Largest even size of the frame's aspect that fits ``area`` (width, height), never larger
    than the frame (the view is shown 1:1)."""
    fw, fh = frame_size
    scale = min(area[0] / fw, area[1] / fh, 1.0)
    return max(2, int(fw * scale) // 2 * 2), max(2, int(fh * scale) // 2 * 2)


def magnifier_rect(
    image: Rect, centre: tuple[float, float], avoid: list[Rect] | tuple = (), share: float = 0.38
) -> Rect:
    """The magnifier inset: a square of ``share`` of the image's shorter side, in the corner of
    ``image`` farthest from ``centre`` (image coordinates 0..1) that overlaps none of
    ``avoid`` (the overlays), else the farthest corner."""
    x, y, w, h = image
    side = max(32, int(min(w, h) * share))
    m = 12
    px, py = x + centre[0] * w, y + centre[1] * h
    corners = [
        (x + m, y + m),
        (x + w - side - m, y + m),
        (x + m, y + h - side - m),
        (x + w - side - m, y + h - side - m),
    ]

    def distance(c: tuple[int, int]) -> float:
        cx, cy = c[0] + side / 2, c[1] + side / 2
        return (cx - px) ** 2 + (cy - py) ** 2

    ranked = sorted(corners, key=distance, reverse=True)
    for cx, cy in ranked:
        rect = (int(cx), int(cy), side, side)
        if not any(intersects(rect, r) for r in avoid if r):
            return rect
    cx, cy = ranked[0]
    return int(cx), int(cy), side, side
