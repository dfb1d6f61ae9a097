"""The planes scene on coarse grids (scene_grid): close to the full-resolution renderer,
deterministic, the mosaic pass consistent with rate_map, memory bounded per pixel."""

from __future__ import annotations

import tracemalloc

import numpy as np
import pytest

from viewfinder import optics
from viewfinder.sources import scene as sc
from viewfinder.sources import scene_grid as sg


def canvas_of(width: int, height: int, focal_mm: float = 35.0) -> sc.Canvas:
    return sc.Canvas(width, height, 13.1072 / width, focal_mm)


LENSES = [
    sc.Optics(35.0, 1.4, 1.0),  # the charts sharp, everything else blurred by 15-35 px
    sc.Optics(35.0, 8.0, 3.0),
    sc.Optics(35.0, 1.4, 3.0),
    sc.Optics(35.0, 1.4, 0.5),
    sc.Optics(35.0, 2.0, float("inf")),
]


@pytest.mark.parametrize("lens", LENSES, ids=str)
def test_grid_render_is_close_to_the_full_resolution_render(lens):
    # about as close as the device renderer's block means are (test_scene's array-module
    # test: mean 1e-3, max 0.03); reflectances, white = 1
    scene, canvas = sc.Scene(0), canvas_of(480, 360)
    exact, depth = sc.render(scene, canvas, lens)
    window = (0, 0, canvas.height, canvas.width)
    grid = sg.render_planes(scene, canvas, lens, window)
    d = np.abs(grid - exact)
    assert d.mean() < 2.5e-3 and d.max() < 0.04
    np.testing.assert_array_equal(sg.depth_window(scene, canvas, window), depth)


def test_edge_mode_with_grain_is_close_to_the_full_resolution_render():
    # 1920 px wide: the sky's texels span 15 px (a grid of 7 px cells, its grain drawn at
    # the sensor's size, its edges from the line spread); focused far at f/8 it is sharp
    scene, canvas = sc.Scene(0), canvas_of(1920, 1440)
    lens = sc.Optics(35.0, 8.0, 20.0)
    window = (0, 0, canvas.height, canvas.width)
    specs = {s["plane"].name: s for s in sg.plane_specs(scene, canvas, lens, window)}
    assert specs["sky"]["mode"] == sg.EDGE and specs["sky"]["g"] >= 4
    assert specs["charts"]["mode"] == sg.PREMULTIPLIED
    exact, depth = sc.render(scene, canvas, lens)
    grid = sg.render_planes(scene, canvas, lens, window)
    d = np.abs(grid - exact)
    assert d.mean() < 3e-3 and np.percentile(d, 99) < 0.03
    # the grain is there: the same fine texture (correlated high-pass), not a smooth wash
    sky = (depth == np.inf)[200:600, 200:1700]

    def high(img: np.ndarray) -> np.ndarray:
        g = img[200:600, 200:1700, 1]
        return (
            g - 0.25 * (np.roll(g, 1, 0) + np.roll(g, -1, 0) + np.roll(g, 1, 1) + np.roll(g, -1, 1))
        )[sky]

    assert np.corrcoef(high(exact), high(grid))[0, 1] > 0.8


def test_grid_render_is_deterministic_and_seeded():
    canvas, lens = canvas_of(480, 360), sc.Optics(35.0, 4.0, 2.0)
    window = (0, 0, 360, 480)
    a = sg.render_planes(sc.Scene(0), canvas, lens, window)
    b = sg.render_planes(sc.Scene(0), canvas, lens, window)
    np.testing.assert_array_equal(a, b)
    scene = sc.Scene(0)
    sg.render_planes(scene, canvas, sc.Optics(35.0, 1.4, 1.0), window)  # a cache in between
    np.testing.assert_array_equal(sg.render_planes(scene, canvas, lens, window), a)
    c = sg.render_planes(sc.Scene(1), canvas, lens, window)
    assert np.abs(a - c).max() > 0.05


def test_mosaic_pass_equals_the_rgb_pass_through_rate_map():
    from viewfinder.sources.lenses import load_lenses
    from viewfinder.sources.rate_map import rate_factors, rate_map
    from viewfinder.sources.sensor import Sensor

    scene, canvas = sc.Scene(0), canvas_of(480, 360)
    lens = load_lenses()["summilux-35"]
    sensor = Sensor(size=(480, 360))
    state = sc.Optics(lens.focal_mm, 2.0, 2.0)
    window = (0, 0, 360, 480)
    rgb = sg.render_planes(scene, canvas, state, window)
    ref = rate_map(rgb, lens, 2.0, canvas, window, sensor, scene.white_luminance)
    matrix, vig = rate_factors(lens, 2.0, canvas, window, sensor, scene.white_luminance)
    got = scene.render_rate(canvas, state, window, matrix, vig)
    assert got.dtype == np.float32 and got.shape == (360, 480)
    np.testing.assert_allclose(got, ref, rtol=1e-4, atol=1e-3 * float(ref.max()))
    with pytest.raises(ValueError, match="even pixels"):
        scene.render_rate(canvas, state, (1, 0, 361, 480), matrix, vig)


def test_a_window_of_the_mosaic_equals_the_whole():
    scene, canvas = sc.Scene(0), canvas_of(640, 480)
    state = sc.Optics(35.0, 1.4, 2.0)
    ones = np.eye(3)
    whole = scene.render_rate(canvas, state, (0, 0, 480, 640), ones, (np.ones(480), np.ones(640)))
    part = scene.render_rate(canvas, state, (100, 200, 180, 330), ones, (np.ones(80), np.ones(130)))
    np.testing.assert_allclose(part, whole[100:180, 200:330], atol=1e-5)


@pytest.mark.parametrize("focus_m", [1.0, 3.0])
def test_large_frame_render_uses_bounded_memory_per_pixel(focus_m):
    # 12.6 MP at f/1.4: render() holds a sharp RGBA layer per plane (16 bytes a pixel each
    # where it covers the frame: the sky and the wall cover it all) and a full-size RGB (12);
    # this holds the 4-byte mosaic and the grids, the largest a sharp plane at full size
    # (focused at 1 m: the charts, 0.27 of the frame, drawn at 16 bytes a pixel)
    scene, canvas = sc.Scene(0), canvas_of(4096, 3072)
    state = sc.Optics(35.0, 1.4, focus_m)
    h, w = 3072, 4096
    tracemalloc.start()
    try:
        rate = scene.render_rate(canvas, state, (0, 0, h, w), np.eye(3), (np.ones(h), np.ones(w)))
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert rate.shape == (h, w)
    assert peak / (h * w) < 20.0, f"{peak / (h * w):.1f} bytes a pixel"


def test_line_spread_is_the_projection_of_the_blur_kernel():
    for diameter, airy in ((0.0, 0.0), (3.0, 1.2), (12.5, 2.0), (40.0, 0.0)):
        lsf = sg.line_spread(diameter, airy)
        assert lsf.sum() == pytest.approx(1.0)
        ref = optics.blur_kernel(diameter, airy).sum(axis=0)
        n = max(lsf.size, ref.size)
        a = np.pad(lsf, (n - lsf.size) // 2)
        b = np.pad(ref, (n - ref.size) // 2)
        assert np.abs(a - b).max() < 0.01


def test_planes_camera_full_frame_takes_the_grid_path_and_keeps_its_truth():
    from viewfinder.sources.simulated import SimulatedCamera

    cam = SimulatedCamera((640, 480), backend="numpy", motion=False, noise=False)
    cam.set_mode("m")
    cam.attach_lens("summilux-35")
    cam.set_focus(3.0)
    frame = cam.read()
    cache = cam._caches["m"]
    assert cache["depth"] is None and cache["depth_fn"] is not None  # no full-size depth kept
    truth = cam.truth()
    assert truth["depth_m"].shape == (480, 640) and "depth_known" not in truth
    assert set(np.unique(truth["depth_m"])) <= {p.depth_m for p in cam.scene.planes}
    astronaut = cam.scene.plane("astronaut")
    assert (truth["depth_m"] == astronaut.depth_m).any()
    np.testing.assert_array_equal(
        truth["coc_px"][truth["depth_m"] == 3.0], np.float32(0.0)
    )  # in focus
    assert frame.data.dtype == np.uint16


def test_numba_chart_board_and_colour_checker_follow_the_numpy_formulas():
    from viewfinder.sources import scene_content as content

    px = 4e-5
    x, y = np.meshgrid(
        np.linspace(-0.15, 0.15, 601, dtype=np.float32),
        np.linspace(-0.1, 0.1, 401, dtype=np.float32),
    )
    star = content.siemens_star(x + 0.06, y, px, radius=0.05)
    edge = content.slanted_edge(x - 0.06, y, px)
    ref = np.where(x < 0, star, edge)
    board = content._chart_board(x, y, px)
    assert board.shape == (401, 601, 3) and board.dtype == np.float32
    # float64 in Numba, float32 in NumPy: only a point exactly on the star's rim may flip
    rim = np.abs(np.hypot(x + 0.06, y) - 0.05) < 1e-6
    np.testing.assert_allclose(board[:, :, 0][~rim], ref[~rim], atol=1e-3)
    np.testing.assert_array_equal(board[:, :, 0], board[:, :, 2])
    # the colour checker: patch colours on a black frame, sampled at the patch centres
    cx = (np.arange(6) - 2.5) * 0.045
    cy = (np.arange(4) - 1.5) * 0.045
    xs, ys = np.meshgrid(cx.astype(np.float32), cy.astype(np.float32))
    np.testing.assert_array_equal(
        content._color_checker(xs, ys, px).reshape(24, 3), content.COLOR_CHECKER_LINEAR
    )
    frame = content._color_checker(np.float32([[0.0225, 0.2]]), np.float32([[0.0, 0.0]]), px)
    np.testing.assert_array_equal(frame, np.float32(0.01))  # between patches, and outside


def test_empty_m_mount_is_a_uniform_grey_without_depth():
    from viewfinder.sources.simulated import SimulatedCamera

    cam = SimulatedCamera((640, 480), backend="numpy", motion=False, noise=False)
    cam.set_mode("m")
    frame = cam.read()
    assert frame.meta["status"] == "no lens attached"
    sites = [frame.data[sy::2, sx::2] for sy in (0, 1) for sx in (0, 1)]
    assert all(s.min() == s.max() for s in sites)  # each CFA site flat
    truth = cam.truth()
    assert np.isnan(truth["depth_m"]).all() and np.isnan(truth["coc_px"]).all()
    assert truth["depth_m"].shape == (480, 640)


def test_procedural_fill_equals_the_content_function_times_coverage():
    # the chart board and the colour checker are drawn straight into a premultiplied RGBA
    # grid (no meshgrid, one pass): bit for bit what the content function and the coverage
    # pass give, rim pixels included
    scene = sc.Scene(0)
    canvas = canvas_of(2048, 1536)
    for name in ("charts", "color_checker"):
        plane = scene.plane(name)
        box = canvas.box_px(plane)
        m_per_px = canvas.pixel_mm / canvas.focal_mm * plane.depth_m
        y0, x0 = int(box[1]) - 3, int(box[0]) - 3
        y1, x1 = int(box[3]) + 4, int(box[2]) + 4
        got = sc._render_box(plane, box, m_per_px, y0, x0, y1, x1)
        xs = (np.arange(x0, x1, dtype=np.float32) + 0.5 - (box[0] + box[2]) / 2) * m_per_px
        ys = (np.arange(y0, y1, dtype=np.float32) + 0.5 - (box[1] + box[3]) / 2) * m_per_px
        rgb = plane.content(*np.meshgrid(xs, ys), m_per_px)
        ax = np.clip(np.minimum(np.arange(x0, x1) + 1 - box[0], box[2] - np.arange(x0, x1)), 0, 1)
        ay = np.clip(np.minimum(np.arange(y0, y1) + 1 - box[1], box[3] - np.arange(y0, y1)), 0, 1)
        a = ay.astype(np.float32)[:, None] * ax.astype(np.float32)[None, :]
        np.testing.assert_array_equal(got[:, :, 3], a)
        np.testing.assert_array_equal(got[:, :, :3], rgb * a[:, :, None])
        assert 0 < a.mean() < 1 and a.max() == 1


def test_separable_psf_runs_as_two_passes_with_the_same_result():
    rng = np.random.default_rng(3)
    grid = rng.random((120, 160, 4), dtype=np.float32)
    # a blur circle within a pixel: the Airy core's Gaussian alone, one row times one column
    for diameter, airy in ((0.0, 6.7), (0.8, 1.2)):
        assert sg._separable(diameter, airy) is not None
        ref = sg.cv2.filter2D(grid, -1, optics.blur_kernel(diameter, airy), borderType=0)
        got = sg.blur(grid, diameter, airy, np.empty_like(grid))
        np.testing.assert_allclose(got, ref, atol=2e-6)
    # a small disc under f/8's Airy core: two or three pairs of 1-D passes, in strips of
    # rows (a grid taller than a strip), the same result
    tall = rng.random((700, 90, 4), dtype=np.float32)
    for diameter, airy, n in ((2.0, 6.7, 2), (4.4, 6.7, 3)):
        assert len(sg._separable(diameter, airy)) == n
        ref = sg.cv2.filter2D(tall, -1, optics.blur_kernel(diameter, airy), borderType=0)
        got = sg.blur(tall, diameter, airy, np.empty_like(tall))
        np.testing.assert_allclose(got, ref, atol=2e-6)
    # a sharp-edged disc is not: the full 2-D kernel
    assert sg._separable(6.0, 1.2) is None
    ref = sg.cv2.filter2D(grid, -1, optics.blur_kernel(6.0, 1.2), borderType=0)
    np.testing.assert_array_equal(sg.blur(grid, 6.0, 1.2, np.empty_like(grid)), ref)


def patches(h: int, w: int, n: int, seed: int) -> np.ndarray:
    """(h, w, 4) float32: ``n`` uniform rectangles over zeros (some on the grid's border,
    some larger than it), an anti-aliased rim row and column as a plane's coverage gives."""
    rng = np.random.default_rng(seed)
    grid = np.zeros((h, w, 4), np.float32)
    for _ in range(n):
        y0, x0 = rng.integers(-h // 4, h), rng.integers(-w // 4, w)
        y1, x1 = y0 + rng.integers(1, h + 2), x0 + rng.integers(1, w + 2)
        grid[max(y0, 0) : y1, max(x0, 0) : x1] = rng.random(4, dtype=np.float32)
    grid[rng.integers(h)] *= np.float32(0.3)
    grid[:, rng.integers(w)] *= np.float32(0.7)
    return grid


#: (diameter, airy) in grid cells: a point, 1 px, the Airy core alone (one pair of 1-D
#: passes), a small disc under it (three pairs), sharp-edged discs of 6, 8.8 and 13 px
PIECEWISE_PSFS = [
    (0.0, 0.0),
    (1.0, 0.0),
    (0.0, 6.7),
    (4.4, 6.7),
    (6.0, 1.2),
    (8.84, 3.35),
    (13.0, 0.0),
]


@pytest.mark.parametrize("diameter, airy", PIECEWISE_PSFS)
@pytest.mark.parametrize("shape", [(1, 1), (5, 41), (37, 53), (61, 19), (130, 171)], ids=str)
def test_piecewise_constant_blur_equals_the_2d_filter(shape, diameter, airy):
    # only what lies near a change is blurred in 2-D; the rest from the line spreads: the
    # same as OpenCV's 2-D filter (zero outside) to float rounding, on grids of odd sizes
    for seed, n in ((0, 3), (1, 8)):
        grid = patches(*shape, n, seed)
        ref = sg.cv2.filter2D(grid, -1, optics.blur_kernel(diameter, airy), borderType=0)
        got = sg.blur(grid, diameter, airy, np.full_like(grid, np.nan))
        assert np.abs(got - ref).max() <= 1e-5 * max(float(np.abs(ref).max()), 1e-30)


def test_piecewise_blur_takes_the_pieces_where_the_grid_is_flat(monkeypatch):
    # a 13 px disc over the sharp colour checker of a 4096 px wide frame: the 2-D kernel
    # runs on boxes around the corners of its patches only, the result the 2-D filter's
    scene, canvas = sc.Scene(0), canvas_of(4096, 3072)
    lens = sc.Optics(35.0, 2.8, 2.2)
    window = (0, 0, canvas.height, canvas.width)
    spec = next(
        s for s in sg.plane_specs(scene, canvas, lens, window) if s["plane"].name == "color_checker"
    )
    assert spec["g"] == 1 and spec["coc"] > 6
    grid = sg.sharp_grid(scene, canvas, spec)
    seen = []
    full = sg.blur_full
    monkeypatch.setattr(sg, "blur_full", lambda g, *a: seen.append(g.size) or full(g, *a))
    # and a small disc under f/8's Airy core (three pairs of 1-D passes)
    for diameter, airy in ((spec["coc"], spec["airy"]), (4.4, 6.7)):
        seen.clear()
        got = sg.blur(grid, diameter, airy, np.full_like(grid, np.nan))
        assert seen and sum(seen) < 0.25 * grid.size
        ref = sg.cv2.filter2D(grid, -1, sg._psf(diameter, airy), borderType=0)
        assert np.abs(got - ref).max() <= 1e-5 * float(ref.max())
    # a photo-like grid (every row and column different) goes whole to the 2-D filter
    seen.clear()
    rng = np.random.default_rng(5)
    noise = rng.random((64, 96, 4), dtype=np.float32)
    sg.blur(noise, 8.84, 3.35, np.empty_like(noise))
    assert seen == [noise.size]


def _pass_reference(y0, x0, pi, pf, m, buf, edges, tiles, vy, vx, mosaic, h, w):
    """The pass's maths pixel by pixel: every plane over its whole reach, taps per pixel."""
    f32, one = np.float32, np.float32(1.0)
    acc = np.zeros((h, w, 1 if mosaic else 3), np.float32)
    cell = sg._cell.py_func
    for yy in range(h):
        yc = y0 + yy
        trans = np.ones(w, np.float32)
        for p in range(pi.shape[0]):
            if not pi[p, sg._Y0] <= yc < pi[p, sg._Y1]:
                continue
            inv_g = 1.0 / pf[p, sg._G]
            gh, gw, off = pi[p, sg._GH], pi[p, sg._GW], pi[p, sg._OFF]
            ch = pi[p, sg._CH]
            grid = buf[off : off + gh * gw * ch].reshape(gh, gw, ch)
            if ch == 2:  # grey: (value, alpha)
                grid = grid[:, :, [0, 0, 0, 1]]
            r0, r1, fy = cell(yc, inv_g, pi[p, sg._JY0], gh)
            rows = (one - fy) * grid[r0] + fy * grid[r1]
            edge = pi[p, sg._MODE] == sg.EDGE
            if edge:
                rows[:, :3] /= np.maximum(rows[:, 3:], f32(1e-12))
            rows[:, :3] = rows[:, :3] @ m.T
            for xx in range(pi[p, sg._X0] - x0, pi[p, sg._X1] - x0):
                t = trans[xx]
                if t < sg.OPAQUE:
                    continue
                c0, c1, fx = cell(x0 + xx, inv_g, pi[p, sg._JX0], gw)
                colour = (one - fx) * rows[c0] + fx * rows[c1]
                if edge:
                    alpha = edges[pi[p, sg._EY] + yc - pi[p, sg._Y0]]
                    alpha *= edges[pi[p, sg._EX] + x0 + xx - pi[p, sg._X0]]
                    scale = t * alpha
                    if pi[p, sg._GRAIN]:
                        u = (x0 + xx - pf[p, sg._GU0]) / pf[p, sg._DSX]
                        v = (yc - pf[p, sg._GV0]) / pf[p, sg._DSX]
                        tile = tiles[pi[p, sg._TILE] :][: 128 * 128].reshape(128, 128)
                        ju, jv = int(np.floor(u)), int(np.floor(v))
                        fu, fv = f32(u - ju), f32(v - jv)
                        t2 = tile[np.ix_([jv % 128, (jv + 1) % 128], [ju % 128, (ju + 1) % 128])]
                        top = (one - fu) * t2[0, 0] + fu * t2[0, 1]
                        bot = (one - fu) * t2[1, 0] + fu * t2[1, 1]
                        scale *= one + f32(pf[p, sg._AMP]) * ((one - fv) * top + fv * bot)
                else:
                    alpha, scale = colour[3], t
                if mosaic:
                    c = (yc & 1) + ((x0 + xx) & 1)
                    acc[yy, xx, 0] += scale * colour[c]
                else:
                    acc[yy, xx] += scale * colour[:3]
                trans[xx] = t * (one - alpha)
    return acc * (vy[:, None, None] * vx[None, :, None])


def pass_case(y0, x0, grey, h=48, w=64, seed=3):
    """Three planes over canvas window (y0, x0, h, w), near to far: an opaque card (rows
    12-32, from the window's left edge to column 44; grey: (value, alpha)), a photo with
    edges and grain behind it (columns 12-34: hidden in the card's rows), a translucent
    backdrop everywhere (from the card's right edge in its rows). The arguments of
    :func:`scene_grid._planes_pass` after ``y0, x0``: (pi, pf, m, buf, edges, tiles, vy, vx)."""
    rng = np.random.default_rng(seed)
    specs = [  # mode, g, (y0, y1, x0, x1) on the canvas, grid cells (jy0, jx0, gh, gw)
        (sg.PREMULTIPLIED, 1, (12, 33, 0, 45), (12, 0, 21, 45)),
        (sg.EDGE, 4, (0, 60, 12, 35), (-1, 2, 17, 8)),
        (sg.PREMULTIPLIED, 8, (0, 60, 0, 80), (-1, -1, 10, 13)),
    ]
    pi = np.zeros((3, sg._NI), np.int64)
    pf = np.zeros((3, sg._NF), np.float64)
    grids, edges, off = [], [], 0
    for p, (mode, g, (ry0, ry1, rx0, rx1), (jy0, jx0, gh, gw)) in enumerate(specs):
        ry0, ry1, rx0, rx1 = max(ry0, y0), min(ry1, y0 + h), max(rx0, x0), min(rx1, x0 + w)
        grid = rng.uniform(0.1, 1.0, (gh, gw, 4)).astype(np.float32)
        if p == 0:
            grid[..., 3] = 1.0  # opaque
            if grey:  # (value, alpha)
                grid = np.ascontiguousarray(grid[..., 2:])
        elif p == 2:
            grid[..., 3] *= 0.6
            grid[..., :3] *= grid[..., 3:]
        ints = (mode, off, gh, gw, grid.shape[2], jy0, jx0)
        pi[p, [sg._MODE, sg._OFF, sg._GH, sg._GW, sg._CH, sg._JY0, sg._JX0]] = ints
        pi[p, [sg._Y0, sg._Y1, sg._X0, sg._X1]] = (ry0, ry1, rx0, rx1)
        pf[p, sg._G] = g
        grids.append(grid.ravel())
        off += grid.size
        if mode == sg.EDGE:
            ey = np.clip(rng.uniform(-0.2, 1.5, ry1 - ry0), 0, 1).astype(np.float32)
            ex = np.clip(rng.uniform(-0.2, 1.5, rx1 - rx0), 0, 1).astype(np.float32)
            pi[p, [sg._EY, sg._EX, sg._GRAIN, sg._TILE]] = (0, ey.size, 1, 0)
            pf[p, [sg._DSX, sg._GU0, sg._GV0, sg._AMP]] = (1.7, -3.2, 5.9, 0.3)
            edges = [ey, ex]
    buf = np.concatenate(grids)
    tiles = rng.normal(0, 1, 128 * 128).astype(np.float32)
    m = rng.uniform(0.0, 2.0, (3, 3)).astype(np.float32)
    vy = rng.uniform(0.5, 1.0, h).astype(np.float32)
    vx = rng.uniform(0.5, 1.0, w).astype(np.float32)
    return pi, pf, m, buf, edges, tiles, vy, vx


@pytest.mark.parametrize("grey", [False, True])
@pytest.mark.parametrize("mosaic", [True, False])
def test_planes_pass_skips_what_nearer_opaque_planes_hide(mosaic, grey):
    """A plane wholly hidden along a row by an opaque nearer one is skipped there, one partly
    hidden composited between its first and last visible pixel: the same as every pixel."""
    y0, x0 = (2, 4) if mosaic else (3, 5)
    h, w = 48, 64
    pi, pf, m, buf, edges, tiles, vy, vx = pass_case(y0, x0, grey, h, w)
    edge_buf = np.concatenate(edges)
    out = np.full((h, w, 1 if mosaic else 3), np.nan, np.float32)
    row_len = int((pi[:, sg._GW] * 4).max())
    sg._planes_pass(y0, x0, pi, pf, m, buf, edge_buf, tiles, row_len, vy, vx, mosaic, out)
    ref = _pass_reference(y0, x0, pi, pf, m, buf, edge_buf, tiles, vy, vx, mosaic, h, w)
    np.testing.assert_allclose(out, ref, rtol=1e-5, atol=1e-6)
    # the photo is hidden along the card's rows: only the card there
    card = out[12 - y0 : 33 - y0, 12 - x0 : 35 - x0]
    assert np.all(card > 0) and np.array_equal(ref > 0, out > 0)


def planes_pass_mosaic(y0, x0, h, w, pi, pf, m, buf, edges, tiles, vy, vx):
    """:func:`scene_grid._planes_pass`'s mosaic (h, w) of window (y0, x0)."""
    out = np.full((h, w, 1), np.nan, np.float32)
    edge_buf = np.concatenate(edges) if edges else np.zeros(1, np.float32)
    tile_buf = np.concatenate(tiles) if len(tiles) else np.zeros(1, np.float32)
    row_len = int(max((pi[:, sg._GW] * 4).max(initial=0), 1))
    sg._planes_pass(y0, x0, pi, pf, m, buf, edge_buf, tile_buf, row_len, vy, vx, True, out)
    return out[:, :, 0]


def split(buf, pi, xp):
    """The planes' grids of the pass's one buffer ``buf``, each on the device ``xp``."""
    return [
        xp.asarray(buf[o : o + gh * gw * ch])
        for o, gh, gw, ch in pi[:, [sg._OFF, sg._GH, sg._GW, sg._CH]]
    ]


@pytest.mark.cudasim
@pytest.mark.parametrize("grey", [False, True])
@pytest.mark.parametrize("origin", [(2, 4), (3, 5), (0, 1), (5, 0)])
def test_planes_kernel_matches_the_planes_pass(origin, grey):
    """kernels/scene_planes.cu (on cudasim) writes _planes_pass's mosaic within float32
    rounding (rtol 1e-5, atol 1e-6 of the largest value): an opaque card (RGBA or grey
    2-channel) in front, a photo in the edge mode with its grain partly behind it, a
    premultiplied translucent backdrop; even and odd window origins (the RGGB sites); a
    window not a whole number of 32 x 8 blocks; and with no plane at all."""
    from viewfinder import cudasim

    y0, x0 = origin
    h, w = 45, 70
    pi, pf, m, buf, edges, tiles, vy, vx = pass_case(y0, x0, grey, h, w)
    tiles = [tiles]
    want = planes_pass_mosaic(y0, x0, h, w, pi, pf, m, buf, edges, tiles, vy, vx)
    window = (y0, x0, y0 + h, x0 + w)
    got = sg.device_pass(cudasim, window, pi, pf, m, split(buf, pi, cudasim), edges, tiles, vy, vx)
    assert isinstance(got, cudasim.ndarray) and got.shape == (h, w)
    assert np.count_nonzero(want) > 0.9 * want.size
    np.testing.assert_allclose(got.get(), want, rtol=1e-5, atol=1e-6 * float(want.max()))
    # the edge mode's grain shows: without it the photo differs
    flat = pi.copy()
    flat[1, sg._GRAIN] = 0
    plain = sg.device_pass(
        cudasim, window, flat, pf, m, split(buf, pi, cudasim), edges, tiles, vy, vx
    )
    assert np.abs(plain.get() - want).max() > 1e-3
    # no plane: black
    none = sg.device_pass(cudasim, window, pi[:0], pf[:0], m, [], [], [], vy, vx)
    np.testing.assert_array_equal(none.get(), np.zeros((h, w), np.float32))


def test_warm_pool_reuses_a_buffer_once_no_array_views_it(monkeypatch):
    monkeypatch.setattr(sg, "WARM_MIN_BYTES", 1 << 10)
    pool = sg.WarmPool(spare_bytes=1 << 20)
    a = pool.empty((64, 64, 4))  # 64 KiB
    a[:] = 1.0
    view = a[:, :, 0]
    del a
    b = pool.empty((64, 64, 4))  # the first is still seen through ``view``: a new buffer
    assert not np.shares_memory(b, view)
    first = view.__array_interface__["data"][0]
    del view
    assert pool.spare() == 64 << 10
    tiny = pool.empty((16, 64, 2))  # 8 KiB: not from a buffer 8 times its size
    assert tiny.__array_interface__["data"][0] != first
    c = pool.empty((64, 64, 2))  # half of it: a prefix of the free one, C-contiguous
    assert c.__array_interface__["data"][0] == first
    assert c.flags.c_contiguous and c.dtype == np.float32
    assert pool.spare() == 0
    del b, c, tiny
    # free buffers beyond the budget go, the smallest first
    pool.spare_bytes = 64 << 10
    d = pool.empty((16, 16, 4))
    assert pool.spare() == 64 << 10 and len(pool._bufs) == 2
    assert max(b.nbytes for b in pool._bufs) == 64 << 10
    big, less = pool.empty((64, 64, 4)), pool.empty((16, 64, 4))  # 64 and 16 KiB
    del big, less
    pool.spare_bytes = 70 << 10
    one = pool.empty((256,))  # 1 KiB, a new buffer: the 16 KiB one goes, the 64 KiB stays
    assert pool.spare() == 64 << 10 and one.size == 256
    small = pool.empty((8,))  # under WARM_MIN_BYTES: plain NumPy
    assert small.base is None and d.shape == (16, 16, 4)


def test_renders_from_the_warm_pool_match_fresh_ones(monkeypatch):
    # the second render draws, blurs and writes into the first one's buffers: same result
    monkeypatch.setattr(sg, "WARM_MIN_BYTES", 1 << 10)
    scene, canvas = sc.Scene(0), canvas_of(1024, 768)
    window, eye = (0, 0, 768, 1024), np.eye(3)
    vig = (np.ones(768), np.ones(1024))
    lenses = (sc.Optics(35.0, 1.4, 1.0), sc.Optics(35.0, 8.0, 2.0))
    first = [scene.render_rate(canvas, lens, window, eye, vig).copy() for lens in lenses]
    scene._grids.clear()
    assert sg.warm_pool(scene).spare() > 0
    for lens, ref in zip(lenses, first, strict=True):
        got = scene.render_rate(canvas, lens, window, eye, vig)
        np.testing.assert_array_equal(got, ref)


@pytest.mark.parametrize("lens", [sc.Optics(35.0, 8.0, 1.0), sc.Optics(35.0, 1.4, 1.0)], ids=str)
def test_grey_charts_grid_matches_the_rgba_one(lens, monkeypatch):
    # the chart board drawn, blurred and composited as (value, alpha): what its RGBA grid
    # gives, to float rounding (the same sums per channel), in half the memory
    from viewfinder.sources import scene_content

    canvas = canvas_of(2048, 1536)
    window, m = (0, 0, 1536, 2048), np.float32([[0.9, 0.2, 0.0], [0.1, 1.0, 0.1], [0.0, 0.3, 0.8]])
    vig = (np.ones(1536), np.ones(2048))
    scene = sc.Scene(0)
    specs = {s["plane"].name: s for s in sg.plane_specs(scene, canvas, lens, window)}
    assert specs["charts"]["ch"] == 2 and specs["charts"]["g"] == 1
    assert specs["color_checker"]["ch"] == 4
    grey = scene.render_rate(canvas, lens, window, m, vig)
    monkeypatch.delattr(scene_content._chart_board, "grey")
    rgba = sc.Scene(0).render_rate(canvas, lens, window, m, vig)
    np.testing.assert_allclose(grey, rgba, rtol=1e-5, atol=1e-6 * float(rgba.max()))


def test_a_render_writes_into_the_output_its_caller_let_go(monkeypatch):
    # the camera holds the last mosaic while it renders the next: the one before is free
    # and of the right size, and the output takes it before the blurred grids can
    monkeypatch.setattr(sg, "WARM_MIN_BYTES", 1 << 10)
    scene, canvas = sc.Scene(0), canvas_of(512, 384)
    window, eye, vig = (0, 0, 384, 512), np.eye(3), (np.ones(384), np.ones(512))
    first = scene.render_rate(canvas, sc.Optics(35.0, 1.4, 3.0), window, eye, vig)
    where = first.__array_interface__["data"][0]
    second = scene.render_rate(canvas, sc.Optics(35.0, 1.4, 1.0), window, eye, vig)
    del first
    third = scene.render_rate(canvas, sc.Optics(35.0, 8.0, 1.0), window, eye, vig)
    assert third.__array_interface__["data"][0] == where
    assert not np.shares_memory(second, third)
