"""The ImGui panels: lens, exposure, assists, histograms (ImPlot), stats, capture, source.

``draw_panels(viewer)`` lays out one frame of the user interface. It reads the viewer's state
and calls the viewer's methods for every change (which route them to the camera or to the
pipeline between frames); it never touches the camera or the pipeline itself.
"""

from __future__ import annotations

import math
from dataclasses import fields, is_dataclass, replace
from typing import Any

import numpy as np

from .layout import PANEL_WIDTH, PLACEMENTS
from .plots import histogram_window, scopes_window
from .view import GRIDS, GUIDES, PEAK_COLOURS

__all__ = ["PANEL_WIDTH", "draw_panels"]

ISO_STOPS = (
    50,
    64,
    80,
    100,
    125,
    160,
    200,
    250,
    320,
    400,
    500,
    640,
    800,
    1000,
    1250,
    1600,
    2000,
    2500,
    3200,
    4000,
    5000,
    6400,
)
SHUTTER_DENOMS = (8000, 4000, 2000, 1000, 500, 250, 125, 60, 30, 15, 8, 4, 2, 1)


def _vec4(c: tuple[float, ...]) -> Any:
    from imgui_bundle import imgui

    return imgui.ImVec4(*c)


def _record_rect(viewer: Any, name: str) -> None:
    from imgui_bundle import imgui

    pos, size = imgui.get_window_pos(), imgui.get_window_size()
    viewer.panel_rects[name] = (int(pos.x), int(pos.y), int(size.x), int(size.y))


def draw_panels(viewer: Any, fb_size: tuple[int, int]) -> None:
    """One frame of panels (between ``imgui.new_frame()`` and ``imgui.render()``), where
    ``viewer.layout`` puts them: the column on the right (collapsible), the histogram and the
    scopes docked in it or as overlays in a corner; nothing in the clean view."""

    viewer.panel_rects.clear()
    layout = viewer.layout if viewer.layout is not None else viewer.compute_layout(fb_size)
    if not viewer.clean and layout.controls is not None:
        if layout.collapsed:
            _collapsed_strip(viewer, layout.controls)
        else:
            _controls_window(viewer, layout.controls)
    if layout.histogram is not None:
        histogram_window(viewer, layout.histogram, layout.overlay)
    if layout.scopes is not None:
        scopes_window(viewer, layout.scopes, layout.overlay)
    _view_decorations(viewer)
    _toasts(viewer)


def _docked_flags() -> Any:
    from imgui_bundle import imgui

    return (
        imgui.WindowFlags_.no_saved_settings
        | imgui.WindowFlags_.no_move
        | imgui.WindowFlags_.no_resize
        | imgui.WindowFlags_.no_collapse
    )


def _controls_window(viewer: Any, rect: tuple[int, int, int, int]) -> None:
    from imgui_bundle import imgui

    x, y, w, h = rect
    imgui.set_next_window_pos(imgui.ImVec2(x, y), imgui.Cond_.always)
    imgui.set_next_window_size(imgui.ImVec2(w, h), imgui.Cond_.always)
    imgui.begin("Controls", None, _docked_flags())
    _record_rect(viewer, "Controls")
    if imgui.small_button("hide panel (I)"):
        viewer.collapsed = True
    imgui.same_line()
    if imgui.small_button("clean view (C)"):
        viewer.toggle_clean()
    open_ = imgui.TreeNodeFlags_.default_open
    if imgui.collapsing_header("Lens", open_):
        _lens_panel(viewer)
    if imgui.collapsing_header("Exposure", open_):
        _exposure_panel(viewer)
    if imgui.collapsing_header("Assists", open_):
        _assists_panel(viewer)
    if imgui.collapsing_header("Capture & source", open_):
        _capture_panel(viewer)
    if imgui.collapsing_header("Stats"):
        _stats_panel(viewer)
    imgui.end()


def _collapsed_strip(viewer: Any, rect: tuple[int, int, int, int]) -> None:
    """The folded Controls: a thin strip with one button that unfolds it."""
    from imgui_bundle import imgui

    x, y, w, h = rect
    imgui.set_next_window_pos(imgui.ImVec2(x, y), imgui.Cond_.always)
    imgui.set_next_window_size(imgui.ImVec2(w, h), imgui.Cond_.always)
    imgui.begin("##controls_folded", None, _docked_flags() | imgui.WindowFlags_.no_title_bar)
    _record_rect(viewer, "Controls")
    if imgui.button("<" if w < 100 else "show the controls (I)"):
        viewer.collapsed = False
    if imgui.is_item_hovered():
        imgui.set_tooltip("show the controls (I)")
    imgui.end()


def _lens_panel(v: Any) -> None:
    from imgui_bundle import imgui

    cam = v.camera
    if not v.is_sim:
        imgui.text_wrapped(f"{v.source_name}: lens controls need the simulated camera")
        return
    _scene_choice(v)
    mode = cam.mode
    if imgui.radio_button("Built-in 23 mm", mode == "builtin"):
        v.set_mode("builtin")
    imgui.same_line()
    if imgui.radio_button("M mount", mode == "m"):
        v.set_mode("m")
    if hasattr(v, "set_dual"):  # both sensors at once (render/dual.py)
        changed, on = imgui.checkbox("dual view (both sensors)", v.dual)
        if changed:
            v.set_dual(on)
    if mode == "m":
        ids = ["(none)", *v.m_lens_ids]
        current = ids.index(cam.lens.id) if cam.lens is not None and cam.lens.id in ids else 0
        changed, idx = imgui.combo(
            "lens", current, ["no lens" if i == "(none)" else cam.lenses[i].name for i in ids]
        )
        if changed:
            v.attach_lens(None if idx == 0 else ids[idx])
    lens = cam.lens
    if lens is None:
        imgui.text_colored(_vec4((1.0, 0.6, 0.2, 1.0)), "no lens attached")
        return
    if mode == "builtin":
        imgui.text(f"{lens.name}")
    # aperture ring: the lens's marked stops
    stops = list(lens.apertures)
    if len(stops) > 1:
        n = cam.aperture or stops[0]
        i = int(np.argmin([abs(math.log2(s / n)) for s in stops]))
        changed, i = imgui.slider_int("aperture", i, 0, len(stops) - 1, f"f/{stops[i]:g}")
        if changed:
            v.set_aperture(stops[i])
    else:
        imgui.text(f"aperture f/{stops[0]:g} (fixed)")
    # focus ring in dioptres (1/m): infinity at 0, the closest focus at the end
    focus = cam.focus_m or math.inf
    d_max = 1.0 / lens.min_focus_m
    dio = 0.0 if math.isinf(focus) else 1.0 / focus
    label = "inf" if dio <= 1e-6 else f"{1.0 / dio:.2f} m"
    changed, dio = imgui.slider_float("focus", dio, 0.0, d_max, label)
    if changed:
        v.set_focus(math.inf if dio <= 1e-6 else 1.0 / dio)
    _dof_scale(v, lens, focus)
    if mode == "builtin":
        af = (v.last_meta or {}).get("af") or {}
        imgui.text(f"AF: {af.get('state', 'idle')} (click the image to focus there)")


def _scene_choice(v: Any) -> None:
    """What the simulated camera sees: the planes or the motorcycle (a depth photograph)."""
    from imgui_bundle import imgui

    from ..sources.simulated import SCENES

    cam = v.camera
    names = list(SCENES)
    current = names.index(cam.scene_name) if cam.scene_name in names else 0
    changed, idx = imgui.combo("scene", current, names)
    if changed:
        v._camera_call("scene", cam.set_scene, names[idx])


def _dof_scale(v: Any, lens: Any, focus: float) -> None:
    """Distance scale with the depth of field drawn as a bar (as engraved on M lenses)."""
    from imgui_bundle import imgui

    from ..optics import coc_criterion_mm, depth_of_field

    meta = v.last_meta or {}
    size = v.sensor_size_mm
    n = v.camera.aperture or lens.max_aperture
    try:
        near, far = depth_of_field(lens.focal_mm, n, focus, coc_criterion_mm(*size))
    except (ValueError, ZeroDivisionError):
        return
    # log-distance scale from the closest focus (left) to infinity (right end), as engraved
    lo, hi = math.log(lens.min_focus_m), math.log(100.0)

    def to_x(d: float) -> float:
        return 1.0 if math.isinf(d) else min(1.0, max(0.0, (math.log(d) - lo) / (hi - lo)))

    dl = imgui.get_window_draw_list()
    p = imgui.get_cursor_screen_pos()
    width = imgui.get_content_region_avail().x - 8
    grey = imgui.get_color_u32(_vec4((0.45, 0.45, 0.45, 1.0)))
    white = imgui.get_color_u32(_vec4((1.0, 1.0, 1.0, 1.0)))
    dl.add_rect_filled(imgui.ImVec2(p.x, p.y + 8), imgui.ImVec2(p.x + width, p.y + 12), grey)
    dl.add_rect_filled(
        imgui.ImVec2(p.x + to_x(near) * width, p.y + 5),
        imgui.ImVec2(p.x + to_x(far) * width, p.y + 15),
        imgui.get_color_u32(_vec4((0.3, 0.8, 1.0, 1.0))),
    )
    fx = p.x + to_x(focus) * width
    dl.add_line(imgui.ImVec2(fx, p.y + 2), imgui.ImVec2(fx, p.y + 18), white, 2.0)
    last_x = -1e9
    for d in (lens.min_focus_m, 0.5, 1.0, 2.0, 5.0, 10.0, math.inf):
        x = p.x + to_x(d) * width
        if d < lens.min_focus_m or x - last_x < 28:  # keep the labels apart
            continue
        last_x = x
        dl.add_line(imgui.ImVec2(x, p.y + 16), imgui.ImVec2(x, p.y + 20), white)
        label = "inf" if math.isinf(d) else f"{d:g}"
        dl.add_text(imgui.ImVec2(x - 6, p.y + 21), grey, label)
    imgui.dummy(imgui.ImVec2(width, 36))
    far_s = "inf" if math.isinf(far) else f"{far:.2f} m"
    imgui.text(f"depth of field {near:.2f} m .. {far_s}")
    if meta.get("diffraction_warning"):
        imgui.text_colored(_vec4((1.0, 0.8, 0.3, 1.0)), str(meta["diffraction_warning"]))


def _exposure_panel(v: Any) -> None:
    from imgui_bundle import imgui

    from ..exposure import METERING

    s = v.settings
    ae = v.auto_exposure
    if v.has_auto_exposure:
        changed, on = imgui.checkbox("auto exposure (A)", ae.enabled)
        if changed:
            v.set_auto_exposure(on)
        if ae.enabled:
            imgui.same_line()
            changed, locked = imgui.checkbox("lock (L)", ae.locked)
            if changed:
                v.toggle_ae_lock()
            changed, i = imgui.combo("metering", METERING.index(ae.metering), list(METERING))
            if changed:
                ae.set_metering(METERING[i])
                v.toast(f"metering: {METERING[i]}")
        t, iso = v.camera.exposure
        i_iso = int(np.argmin([abs(s_ - iso) for s_ in ISO_STOPS]))
        iso_label = [str(x) for x in ISO_STOPS]
        iso_label[i_iso] = f"{iso:.0f}"
        changed_iso, i_iso = imgui.combo("ISO", i_iso, iso_label)
        i_t = int(np.argmin([abs(math.log2(t * d)) for d in SHUTTER_DENOMS]))
        labels = [f"1/{d} s" if d > 1 else "1 s" for d in SHUTTER_DENOMS]
        labels[i_t] = f"1/{1 / t:.0f} s" if t < 1 else f"{t:g} s"
        changed_t, i_t = imgui.combo("shutter", i_t, labels)
        if changed_iso or changed_t:  # a manual setting: auto exposure goes off
            v.set_exposure(1.0 / SHUTTER_DENOMS[i_t], ISO_STOPS[i_iso])
        if ae.enabled:
            state = "locked" if ae.locked else ("settled" if ae.settled else "metering")
            imgui.text(f"AE {state}")
    else:
        # a V4L2 camera exposes itself: its own auto modes, as switches when it has them
        modes = v.camera_auto_modes()
        if not modes:
            imgui.text_wrapped(f"{v.source_name} keeps its own exposure")
        for name, on in modes.items():
            changed, on = imgui.checkbox(f"camera's {name}", on)
            if changed:
                v.set_camera_auto(name, on)
    if ae.enabled and v.has_auto_exposure:
        changed, ev = imgui.slider_float("exposure comp.", ae.compensation_ev, -3, 3, "%+.1f EV")
        if changed:
            ae.set_compensation(round(ev * 3) / 3)
    else:
        changed, ev = imgui.slider_float("digital gain", s.exposure_ev, -4.0, 4.0, "%+.1f EV")
        if changed:
            v.update_settings(exposure_ev=round(ev * 3) / 3)
    auto = s.white_balance is None
    changed, auto = imgui.checkbox("white balance of the frame", auto)
    if changed:
        wb = (v.last_meta or {}).get("white_balance") or (1.0, 1.0, 1.0)
        v.update_settings(white_balance=None if auto else tuple(float(g) for g in wb))
    # which one: as shot, an automatic estimate (and why), or the user's gains
    imgui.text_wrapped(v.white_balance_text())
    matrix = (v.last_meta or {}).get("color_matrix_source")
    if matrix and matrix != "file":
        imgui.text_wrapped(f"colour matrix: {matrix}")
    if not auto:
        r, g, b = s.white_balance
        c1, r = imgui.slider_float("red gain", r, 0.25, 4.0)
        c2, b = imgui.slider_float("blue gain", b, 0.25, 4.0)
        if c1 or c2:
            v.update_settings(white_balance=(r, g, b))


def _assists_panel(v: Any) -> None:
    from imgui_bundle import imgui

    ov = v.overlays
    _, ov.peaking = imgui.checkbox("peaking (P)", ov.peaking)
    imgui.same_line()
    names = list(PEAK_COLOURS)
    changed, i = imgui.combo("##peakcol", names.index(ov.peak_colour), names)
    if changed:
        ov.peak_colour = names[i]
    _, ov.zebra = imgui.checkbox("zebra (Z)", ov.zebra)
    _, ov.false_colour = imgui.checkbox("false colour (F)", ov.false_colour)
    _, ov.magnifier = imgui.checkbox("magnifier (M, click to place)", ov.magnifier)
    if ov.magnifier and not v.renderer.has_magnifier:  # zoom of the view; the sensor crop
        # has its own zoom (1:1 or 2:1) under "magnifier settings"
        _, ov.magnifier_zoom = imgui.slider_float("zoom", ov.magnifier_zoom, 2.0, 8.0, "%.0fx")
    _, v.show_histogram = imgui.checkbox("histograms (H)", v.show_histogram)
    _, v.show_scopes = imgui.checkbox("waveform & vectorscope", v.show_scopes)
    changed, i = imgui.combo("histogram at", PLACEMENTS.index(v.placement), list(PLACEMENTS))
    if changed:
        v.placement = PLACEMENTS[i]
    _, ov.framelines = imgui.checkbox("framelines", ov.framelines)
    changed, i = imgui.combo("grid", GRIDS.index(ov.grid), list(GRIDS))
    if changed:
        ov.grid = GRIDS[i]
    guides = list(GUIDES)
    changed, i = imgui.combo("aspect guide", guides.index(ov.guide), guides)
    if changed:
        ov.guide = guides[i]
    # the assists stage's own parameters: every dataclass field of Settings, generically
    for f in fields(v.settings):
        sub = getattr(v.settings, f.name)
        if is_dataclass(sub) and imgui.tree_node(f"{f.name} settings"):
            _edit_dataclass(v, f.name, sub)
            imgui.tree_pop()


#: Fields the viewer drives from its own switches (keys, checkboxes, clicks).
DRIVEN = {
    "peaking": {"enabled", "colour"},
    "zebra": {"enabled"},
    "false_colour": {"enabled"},
    "histogram": {"raw", "view"},
    "scopes": {"waveform", "vectorscope"},
    "magnifier": {"enabled", "center"},
}


def _edit_dataclass(v: Any, name: str, sub: Any) -> None:
    from imgui_bundle import imgui

    for f in fields(sub):
        if f.name in DRIVEN.get(name, ()):
            continue
        value = getattr(sub, f.name)
        label = f"{f.name}##{name}"
        if isinstance(value, bool):
            changed, new = imgui.checkbox(label, value)
        elif isinstance(value, int):
            changed, new = imgui.drag_int(label, value, 1.0)
        elif isinstance(value, float):
            changed, new = imgui.drag_float(label, value, max(abs(value), 1e-3) * 0.01)
        else:
            imgui.text(f"{f.name}: {value}")
            continue
        if changed:
            try:
                v.update_settings(**{name: replace(sub, **{f.name: new})})
            except ValueError as exc:  # out of range: the message names the range
                v.notify(str(exc))


def _stats_panel(v: Any) -> None:
    from imgui_bundle import imgui

    st = v.stats
    imgui.text(f"view {st.get('fps', 0.0):.1f} fps   processing {st.get('proc_fps', 0.0):.1f} fps")
    imgui.text(f"backend {st.get('backend', '?')}  path {st.get('path', '?')}")
    imgui.text(f"upload {st.get('upload_path', '?')}")
    imgui.text(f"GL {st.get('gl', '?')}")
    imgui.text(f"dropped {st.get('dropped', 0)}   latency {st.get('latency_ms', 0.0):.1f} ms")
    imgui.text(f"GPU memory {st.get('gpu_memory', 'n/a')}")
    for name, ms in sorted((st.get("timings") or {}).items()):
        imgui.text(f"  {name:<12} {ms:7.2f} ms")
    from .dual import draw_dual_stats

    draw_dual_stats(v)
    if st.get("interop_error"):
        imgui.text_wrapped(f"interop off: {st['interop_error']}")


def _capture_panel(v: Any) -> None:
    from imgui_bundle import imgui

    if imgui.button("Capture DNG (Space)"):
        v.capture("dng")
    imgui.same_line()
    if imgui.button("Capture PNG"):
        v.capture("png")
    imgui.text_wrapped(f"to {v.capture_folder}")
    changed, v.source_text = imgui.input_text("source", v.source_text)
    if imgui.button("Open source"):
        v.open_source(v.source_text)
    imgui.same_line()
    imgui.text(v.source_name)
    for note in v.recent_notes():
        imgui.text_wrapped(note)


def _toasts(v: Any) -> None:
    """Short notes at the bottom centre of the image: captures, errors, mode changes."""
    from imgui_bundle import imgui

    toasts = v.active_toasts()
    if not toasts:
        return
    x, y, w, h = v.layout.image_area if v.layout is not None else v.image_rect
    imgui.set_next_window_pos(
        imgui.ImVec2(x + w / 2, y + h - 16), imgui.Cond_.always, imgui.ImVec2(0.5, 1.0)
    )
    imgui.set_next_window_bg_alpha(0.7)
    imgui.begin(
        "##toasts",
        None,
        imgui.WindowFlags_.no_decoration
        | imgui.WindowFlags_.no_saved_settings
        | imgui.WindowFlags_.no_inputs
        | imgui.WindowFlags_.no_focus_on_appearing
        | imgui.WindowFlags_.always_auto_resize,
    )
    _record_rect(v, "Toast")
    for text, error in toasts[-3:]:
        colour = (1.0, 0.55, 0.35, 1.0) if error else (0.95, 0.95, 0.95, 1.0)
        imgui.text_colored(_vec4(colour), text)
    imgui.end()


def _view_decorations(v: Any) -> None:
    """Frameline labels, the first-run note and the in-view message (source or lens errors)."""
    from imgui_bundle import imgui

    dl = imgui.get_background_draw_list()
    x, y, w, h = v.image_rect
    if v.clean:
        pass
    elif v.overlays.framelines and w > 0:
        for f2, (u0, v0, _, _) in v.overlays.frames:
            dl.add_text(
                imgui.ImVec2(x + u0 * w + 4, y + v0 * h + 3),
                imgui.get_color_u32(_vec4((0.95, 0.95, 0.85, 1))),
                f"{f2:g}",
            )
    from .dual import draw_dual_decorations

    draw_dual_decorations(v)
    message = v.message or v.status_text()
    if message:
        imgui.set_next_window_pos(imgui.ImVec2(x + 10, y + 10), imgui.Cond_.always)
        imgui.set_next_window_bg_alpha(0.8)
        imgui.begin(
            "##message",
            None,
            imgui.WindowFlags_.no_decoration
            | imgui.WindowFlags_.no_saved_settings
            | imgui.WindowFlags_.no_inputs
            | imgui.WindowFlags_.always_auto_resize,
        )
        colour = (1.0, 0.5, 0.3, 1.0) if v.message else (0.9, 0.9, 0.9, 1.0)
        imgui.text_colored(_vec4(colour), message)
        imgui.end()
