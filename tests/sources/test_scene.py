"""The test scene and its defocus renderer."""

from __future__ import annotations

import numpy as np
import pytest

from viewfinder import optics
from viewfinder.sources import scene as sc


def test_colour_checker_values():
    assert sc.COLOR_CHECKER_SRGB8.shape == (24, 3)
    assert tuple(sc.COLOR_CHECKER_SRGB8[18]) == (243, 243, 242)  # white
    # sRGB 128/255 decodes to 0.2158 linear
    assert sc.srgb_to_linear(np.array([128 / 255]))[0] == pytest.approx(0.21586, abs=1e-4)


def test_chart_content():
    px = 1e-4
    x, y = np.meshgrid(np.linspace(-0.05, 0.05, 101), np.linspace(-0.05, 0.05, 101))
    star = sc.siemens_star(x.astype(np.float32), y.astype(np.float32), px, radius=0.04)
    assert star.min() < 0.1 and star.max() > 0.85  # black and white spokes
    assert star[0, 0] == 0.5  # outside the star
    edge = sc.slanted_edge(x, y, px)
    assert edge[50, 0] == pytest.approx(0.2) and edge[50, -1] == pytest.approx(0.8)
    board = sc._color_checker(np.array([[-0.1125]]), np.array([[-0.0675]]), px)
    np.testing.assert_allclose(board[0, 0], sc.COLOR_CHECKER_LINEAR[0])  # dark skin


def small_canvas(focal_mm: float = 35.0) -> sc.Canvas:
    return sc.Canvas(480, 360, 13.1072 / 480, focal_mm)


def test_render_is_deterministic_and_seeded():
    lens = sc.Optics(35.0, 4.0, 2.0)
    a, da = sc.render(sc.Scene(0), small_canvas(), lens)
    b, db = sc.render(sc.Scene(0), small_canvas(), lens)
    np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(da, db)
    c, _ = sc.render(sc.Scene(1), small_canvas(), lens)
    assert np.abs(a - c).max() > 0.05


def test_depth_truth_at_plane_centres():
    scene = sc.Scene(0)
    canvas = small_canvas()
    _, depth = sc.render(scene, canvas, sc.Optics(35.0, 2.0, 3.0))
    for name in ("astronaut", "color_checker", "charts"):
        plane = scene.plane(name)
        bx0, by0, bx1, by1 = canvas.box_px(plane)
        y, x = int((by0 + by1) / 2), int((bx0 + bx1) / 2)
        if name == "astronaut":  # the chart board hides part of it: use its right quarter
            x = int(bx0 + 0.85 * (bx1 - bx0))
        assert depth[y, x] == plane.depth_m, name
    assert set(np.unique(depth)) <= {p.depth_m for p in scene.planes}
    with pytest.raises(ValueError, match="unknown plane 'moon'"):
        scene.plane("moon")


def test_window_render_equals_full_render():
    scene = sc.Scene(0)
    canvas = small_canvas()
    lens = sc.Optics(35.0, 1.4, 1.0)
    full, dfull = sc.render(scene, canvas, lens)
    part, dpart = sc.render(scene, canvas, lens, window=(100, 140, 180, 260))
    np.testing.assert_allclose(part, full[100:180, 140:260], atol=2e-3)
    np.testing.assert_array_equal(dpart, dfull[100:180, 140:260])


def test_plane_blur_follows_its_circle_of_confusion():
    scene = sc.Scene(0)
    canvas = small_canvas()
    focused, depth = sc.render(scene, canvas, sc.Optics(35.0, 1.4, 3.0))
    blurred, _ = sc.render(scene, canvas, sc.Optics(35.0, 1.4, 1.0))
    mask = depth == 3.0
    mask[1:-1, 1:-1] &= mask[:-2, 1:-1] & mask[2:, 1:-1] & mask[1:-1, :-2] & mask[1:-1, 2:]

    def energy(img: np.ndarray) -> float:
        g = img[:, :, 1]
        gx = np.zeros_like(g)
        gx[:, 1:] = np.diff(g, axis=1)
        return float(np.mean(gx[mask] ** 2))

    coc = optics.coc_px(35.0, 1.4, 1.0, 3.0, canvas.pixel_mm * 1000)
    assert coc > 15  # ~22 px on this small canvas
    assert energy(blurred) < 0.1 * energy(focused)


def test_procedural_texture_stands_in_for_missing_photos(monkeypatch):
    import builtins

    real_import = builtins.__import__

    def no_skimage(name, *args, **kwargs):
        if name.startswith("skimage"):
            raise ImportError("no skimage")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_skimage)
    tex = sc._photo("astronaut", 3)
    assert tex.dtype == np.float32 and tex.ndim == 3 and tex.shape[2] == 3
    np.testing.assert_array_equal(tex, sc._procedural_texture(3))
    assert 0.0 < tex.min() and tex.max() < 1.0


@pytest.mark.parametrize(
    "widths, mode",
    [
        (((3, 0), (0, 5)), "reflect"),
        (((25, 1), (0, 0)), "reflect"),  # wider than the array: repeated mirroring
        (((3, 2), (1, 5)), "constant"),
        (((0, 0), (0, 0)), "constant"),
    ],
)
def test_fast_pad_equals_numpy_pad(rng, widths, mode):
    a = rng.random((20, 30, 4), dtype=np.float32)
    np.testing.assert_array_equal(sc._pad(a, widths, mode), np.pad(a, (*widths, (0, 0)), mode=mode))


@pytest.mark.parametrize("lens", [sc.Optics(35.0, 1.4, 1.0), sc.Optics(35.0, 8.0, 3.0)])
def test_array_module_render_equals_the_opencv_render(lens):
    # the GPU render's maths with NumPy and SciPy standing in for CuPy
    import scipy.ndimage

    scene, canvas = sc.Scene(0), small_canvas()
    a, depth_a = sc.render(scene, canvas, lens)
    layers: dict = {}
    b, depth_b = sc.render(scene, canvas, lens, device=(np, scipy.ndimage, layers))
    np.testing.assert_array_equal(depth_a, depth_b)
    assert len(layers) == len(scene.planes)  # every sharp layer uploaded once
    d = np.abs(a - b)
    assert d.mean() < 1e-3 and d.max() < 0.03
    with pytest.raises(ValueError, match="full frames only"):
        sc.render(scene, canvas, lens, window=(0, 0, 8, 8), device=(np, scipy.ndimage, {}))


@pytest.mark.cudasim
def test_planes_on_cudasim_match_numpy_with_no_sync_per_frame(monkeypatch):
    """On a device the planes' mosaic is composited there (kernels/scene_planes.cu) from
    their grids, uploaded and kept on the device per grid and blur: a scene change costs no
    host sync, uploads the grids whose blur changed and three small tables (never a
    map-sized array), allocates those and the map; a focus back to a recent setting uploads
    the tables only and blurs nothing; cached frames sync and allocate nothing; the frames
    are the CPU's up to float32 rounding."""
    from viewfinder import cudasim
    from viewfinder.sources import scene_grid as sg
    from viewfinder.sources.simulated import MARGIN, SimulatedCamera

    size = (256, 192)
    pixels = (size[0] + 2 * MARGIN) * (size[1] + 2 * MARGIN)
    dev = SimulatedCamera(size, backend="cudasim", motion=False, noise=False)
    cpu = SimulatedCamera(size, motion=False, noise=False)
    for cam in (dev, cpu):
        cam.set_mode("m")
        cam.attach_lens("summilux-35")
        cam.set_aperture(1.4)
        cam.set_focus(3.0)
    kept = dev.scene._device_grids
    with cudasim.counting() as first:
        dev.read()
    assert first.host_syncs == []
    assert [name for name, _ in first.launches] == ["vf_scene_planes", "vf_sim_expose"]
    assert all(n != 4 * pixels for _, n, _ in first.copies)  # no map upload
    n_planes = len(kept)
    assert n_planes == 7  # every plane reaches the frame
    for focus, aperture in ((2.2, 1.4), (2.2, 2.8), (3.0, 1.4)):
        for cam in (dev, cpu):
            cam.set_focus(focus)
            cam.set_aperture(aperture)
        before = set(kept)
        with cudasim.counting() as change:
            dev.read()
        new = len(set(kept) - before)  # grids blurred and uploaded
        assert change.host_syncs == []
        assert [name for name, _ in change.launches] == ["vf_scene_planes", "vf_sim_expose"]
        assert len(change.copies) == new + 3 and change.allocations == new + 4
        assert all(n != 4 * pixels for _, n, _ in change.copies)
        with cudasim.counting() as counted:
            frames = [dev.read() for _ in range(2)]
        assert counted.host_syncs == [] and counted.allocations == 0 and not counted.copies
        for _ in range(2):
            cpu.read()
        ref = cpu.read()
        diff = np.abs(frames[0].data.get().astype(int) - ref.data.astype(int))
        assert diff.max() <= 1 and np.count_nonzero(diff) <= 1e-4 * diff.size
        rate, want = dev._caches["m"]["rate"].get(), cpu._caches["m"]["rate"]
        np.testing.assert_allclose(rate, want, rtol=1e-5, atol=1e-6 * float(want.max()))
        if (focus, aperture) == (2.2, 1.4):
            assert new == n_planes  # every plane's blur changed
        if (focus, aperture) == (3.0, 1.4):
            assert new == 0  # the first frame's grids, kept on the device
    # and nothing was blurred for it: a render of that setting again blurs nothing
    monkeypatch.setattr(sg, "blur", lambda *a: pytest.fail("blurred a kept grid"))
    dev.set_focus(2.2)
    dev.read()


@pytest.mark.cudasim
def test_planes_device_render_reports_progress_and_checks_its_window():
    from viewfinder import cudasim

    scene, canvas = sc.Scene(0), sc.Canvas(128, 96, 13.1072 / 128, 35.0)
    lens, window = sc.Optics(35.0, 2.0, 2.0), (0, 0, 96, 128)
    vig = (np.ones(96, np.float32), np.ones(128, np.float32))
    seen = []
    rate = scene.render_rate_device(
        canvas, lens, window, np.eye(3), vig, cudasim, lambda f, s: seen.append((f, s))
    )
    want = scene.render_rate(canvas, lens, window, np.eye(3), vig)
    np.testing.assert_allclose(rate.get(), want, rtol=1e-5, atol=1e-6 * float(want.max()))
    fractions = [f for f, _ in seen]
    assert len(seen) == len(scene.planes) - 1 and fractions == sorted(fractions)
    assert 0 < fractions[0] and fractions[-1] < 1 and seen[0][1].startswith("plane 1 of 7")
    with pytest.raises(ValueError, match="even pixels"):
        scene.render_rate_device(canvas, lens, (1, 0, 96, 128), np.eye(3), vig, cudasim)
