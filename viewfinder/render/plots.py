"""ImPlot windows over the view: histograms (RAW on an EV axis, RGB and luma) and scopes."""

from __future__ import annotations

from typing import Any

import numpy as np

HIST_HEIGHT = 230
SITE_COLOURS = (
    (1.0, 0.3, 0.3, 1.0),
    (0.3, 1.0, 0.3, 1.0),
    (0.1, 0.7, 0.1, 1.0),
    (0.35, 0.5, 1.0, 1.0),
)
VIEW_COLOURS = (
    (1.0, 0.3, 0.3, 1.0),
    (0.3, 1.0, 0.3, 1.0),
    (0.35, 0.5, 1.0, 1.0),
    (0.9, 0.9, 0.9, 1.0),
)


def _vec4(c: tuple[float, ...]) -> Any:
    from imgui_bundle import imgui

    return imgui.ImVec4(*c)


def _record_rect(viewer: Any, name: str) -> None:
    from imgui_bundle import imgui

    pos, size = imgui.get_window_pos(), imgui.get_window_size()
    viewer.panel_rects[name] = (int(pos.x), int(pos.y), int(size.x), int(size.y))


def _begin_box(v: Any, name: str, rect: tuple[int, int, int, int], overlay: bool) -> None:
    """A window at ``rect``: docked in the column, or a compact, see-through overlay."""
    from imgui_bundle import imgui

    from .layout import OVERLAY_ALPHA

    x, y, w, h = rect
    imgui.set_next_window_pos(imgui.ImVec2(x, y), imgui.Cond_.always)
    imgui.set_next_window_size(imgui.ImVec2(w, h), imgui.Cond_.always)
    imgui.set_next_window_bg_alpha(OVERLAY_ALPHA if overlay else 0.95)
    flags = (
        imgui.WindowFlags_.no_saved_settings
        | imgui.WindowFlags_.no_collapse
        | imgui.WindowFlags_.no_move
        | imgui.WindowFlags_.no_resize
        | imgui.WindowFlags_.no_scrollbar
    )
    if overlay:
        flags |= imgui.WindowFlags_.no_title_bar | imgui.WindowFlags_.no_focus_on_appearing
    imgui.push_style_var(imgui.StyleVar_.window_padding, imgui.ImVec2(4, 4))
    imgui.begin(name, None, flags)
    imgui.pop_style_var()
    _record_rect(v, name)


def histogram_window(
    v: Any, rect: tuple[int, int, int, int] | tuple[int, int], overlay: bool = False
) -> None:
    """The RAW (EV axis) and RGB/luma histograms in ``rect`` (docked, or an overlay)."""
    from imgui_bundle import imgui, implot

    if len(rect) == 2:  # an old caller's fb_size: the layout's default place
        rect = v.compute_layout(rect).histogram or (10, 10, 640, HIST_HEIGHT)
    _begin_box(v, "Histogram", rect, overlay)
    w, h = rect[2], rect[3]
    raw, view = v.histograms()
    text_h = imgui.get_text_line_height_with_spacing() * (2 if w < 420 else 1)
    title_h = 0 if overlay else imgui.get_frame_height()
    half = imgui.ImVec2(max((w - 14) / 2, 40), max(h - text_h - title_h - 12, 40))
    plot_flags = implot.Flags_.no_menus | implot.Flags_.no_box_select | implot.Flags_.no_mouse_text
    if w < 420:  # compact: the curves and the clip line, no legend or axis labels
        plot_flags |= implot.Flags_.no_legend | implot.Flags_.no_title
    # The plots lie on the window's own background: two more blended layers of fill cost a
    # software rasteriser ~30 % of this window's time (llvmpipe, measured).
    clear = imgui.ImVec4(0.0, 0.0, 0.0, 0.0)
    implot.push_style_color(implot.Col_.frame_bg, clear)
    implot.push_style_color(implot.Col_.plot_bg, clear)
    if raw is not None and implot.begin_plot("RAW (EV below white)", half, plot_flags):
        edges = raw["ev_edges"]
        xs = -np.ascontiguousarray(edges[:-1], np.float64)
        implot.setup_axes("EV", "", 0, implot.AxisFlags_.no_tick_labels)
        implot.setup_axis_limits(implot.ImAxis_.x1, -float(edges[-1]), 0.5, imgui.Cond_.always)
        for k, name in enumerate(("R", "Gr", "Gb", "B")):
            ys = np.log1p(raw["ev_hist"][k].astype(np.float64))
            implot.plot_line(name, xs, ys, implot.Spec(line_color=_vec4(SITE_COLOURS[k])))
        implot.plot_inf_lines(
            "clip", np.array([0.0]), implot.Spec(line_color=_vec4((1, 0.2, 0.2, 1)), line_weight=2)
        )
        implot.end_plot()
    imgui.same_line()
    if view is not None and implot.begin_plot("RGB / luma", half, plot_flags):
        implot.setup_axes("", "", 0, implot.AxisFlags_.no_tick_labels)
        implot.setup_axis_limits(implot.ImAxis_.x1, 0, 255, imgui.Cond_.always)
        for k, name in enumerate(("R", "G", "B", "Y")[: view.shape[0]]):
            implot.plot_line(
                name,
                np.sqrt(view[k].astype(np.float64)),
                spec=implot.Spec(line_color=_vec4(VIEW_COLOURS[k])),
            )
        implot.end_plot()
    implot.pop_style_color(2)
    if raw is not None:
        imgui.text_wrapped(clipping_text(raw))
    imgui.end()


def percent_text(fraction: float) -> str:
    """A share as the readout shows it: "0 %" only when nothing, "<0.01 %" when some pixels
    but under a hundredth of a percent, else two decimals (the hint beside it says
    "clipping" whenever any pixel clips: the number must not read 0.00 % then)."""
    pct = 100.0 * float(fraction)
    if pct <= 0.0:
        return "0 %"
    if pct < 0.01:
        return "<0.01 %"
    return f"{pct:.2f} %"


def clipping_text(raw: dict[str, Any]) -> str:
    """The RAW histogram's line: clipped share per site and the exposure hint."""
    clipped = raw["clipped"]
    clip = "  ".join(
        f"{n} {percent_text(c)}" for n, c in zip(("R", "Gr", "Gb", "B"), clipped, strict=False)
    )
    ettr = float(raw["ettr_stops"])
    if np.max(clipped) > 0:
        hint = "clipping: expose less"
    elif ettr > 0.3:
        hint = f"ETTR: {ettr:.1f} EV of headroom, expose more"
    else:
        hint = "ETTR: exposed to the right"
    return f"clipped {clip}   {hint}"


def _block_sum(a: np.ndarray, fy: int, fx: int) -> np.ndarray:
    h, w = a.shape[0] // fy * fy, a.shape[1] // fx * fx
    return a[:h, :w].reshape(h // fy, fy, w // fx, fx).sum(axis=(1, 3))


def scopes_window(
    v: Any, rect: tuple[int, int, int, int] | tuple[int, int], overlay: bool = False
) -> None:
    """Waveform (luma level against image column) and vectorscope, as ImPlot heat maps."""
    from imgui_bundle import imgui, implot

    if len(rect) == 2:
        rect = v.compute_layout(rect).scopes or (10, 10, 520, 210)
    _begin_box(v, "Scopes", rect, overlay)
    w, h = rect[2], rect[3]
    stats = v.scope_stats()
    implot.push_colormap(implot.Colormap_.greys)  # counts as brightness, as on a scope
    side = max(40, min(h - (8 if overlay else 8 + imgui.get_frame_height()), (w - 12) // 2))
    size = imgui.ImVec2(w - side - 14, side)
    wave = stats.get("waveform")
    flags = implot.Flags_.no_legend | implot.Flags_.no_menus | implot.Flags_.no_title
    if wave is not None and implot.begin_plot("waveform", size, flags):
        # (256, w) counts: 4 levels x a few columns a cell keeps the plot cheap to draw
        cells = np.log1p(_block_sum(wave, 4, max(1, wave.shape[1] // 160)))[::-1]
        implot.setup_axes("", "", implot.AxisFlags_.no_tick_labels, 0)
        cells = cells.max() - cells  # the greys map runs white to black: empty is black
        implot.plot_heatmap(
            "w",
            np.ascontiguousarray(cells, np.float64),
            0,
            0,
            "",
            implot.Point(0, 0),
            implot.Point(1, 255),
        )
        implot.end_plot()
    imgui.same_line()
    vs = stats.get("vectorscope")
    if vs is not None and implot.begin_plot(
        "vectorscope", imgui.ImVec2(side, side), flags | implot.Flags_.equal
    ):
        cells = np.log1p(_block_sum(vs, max(1, vs.shape[0] // 64), max(1, vs.shape[1] // 64)))
        implot.setup_axes(
            "", "", implot.AxisFlags_.no_tick_labels, implot.AxisFlags_.no_tick_labels
        )
        cells = cells.max() - cells
        implot.plot_heatmap(
            "v",
            np.ascontiguousarray(cells, np.float64),
            0,
            0,
            "",
            implot.Point(-1, -1),
            implot.Point(1, 1),
        )
        implot.end_plot()
    implot.pop_colormap()
    imgui.end()
