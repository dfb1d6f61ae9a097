"""The simulated dual-sensor camera: frames, optics truth, noise, bad input, autofocus, GPU."""

from __future__ import annotations

import importlib
import math

import numpy as np
import pytest

from viewfinder import optics
from viewfinder.backend import backend_of, cupyx_module
from viewfinder.frame import Frame
from viewfinder.sources.base import FrameSource, SourceError
from viewfinder.sources.simulated import MARGIN, SimulatedCamera

SIZE = (640, 480)  # 4:3, 20.48 um output pixels: small and fast


def camera(**kw) -> SimulatedCamera:
    kw.setdefault("motion", False)
    return SimulatedCamera(SIZE, backend="numpy", **kw)


def green_energy(raw: np.ndarray, mask: np.ndarray) -> float:
    """Mean squared horizontal difference of the Gr sites inside ``mask``."""
    g = raw[0::2, 1::2].astype(np.float64)
    m = mask[0::2, 1::2]
    d = np.diff(g, axis=1) ** 2
    inside = m[:, 1:] & m[:, :-1]
    return float(d[inside].mean())


def interior(mask: np.ndarray, r: int) -> np.ndarray:
    out = mask.copy()
    for _ in range(r):
        out[1:-1, 1:-1] &= out[:-2, 1:-1] & out[2:, 1:-1] & out[1:-1, :-2] & out[1:-1, 2:]
    out[:r] = out[-r:] = False
    out[:, :r] = out[:, -r:] = False
    return out


def test_is_a_frame_source_with_full_meta():
    with camera() as cam:
        assert isinstance(cam, FrameSource)
        frame = cam.read()
        assert isinstance(frame, Frame)
        assert frame.data.shape == (480, 640) and frame.data.dtype == np.uint16
        assert (frame.cfa, frame.black_level, frame.white_level, frame.bits) == (
            "RGGB",
            64,
            1023,
            10,
        )
        assert frame.data.max() <= 1023
        m = frame.meta
        for key in (
            "sensor",
            "lens",
            "lens_name",
            "aperture",
            "focus_m",
            "focal_mm",
            "exposure_s",
            "iso",
            "white_balance",
            "color_matrix",
            "mode",
            "noise",
        ):
            assert key in m, key
        assert (m["sensor"], m["mode"], m["lens"], m["aperture"], m["focal_mm"]) == (
            "IMX989",
            "builtin",
            "builtin",
            1.9,
            8.7,
        )
        assert m["equivalent_focal_mm"] == pytest.approx(23.0, abs=0.05)
        assert {"gain_dn_per_e", "read_noise_dn"} <= set(m["noise"])
        assert np.asarray(m["color_matrix"]).shape == (3, 3)
        assert cam.read().seq == frame.seq + 1
    with pytest.raises(SourceError, match="closed"):
        cam.read()


def test_default_sizes():
    cam = SimulatedCamera(backend="numpy")
    assert (cam.width, cam.height) == (1920, 1440)
    cam.close()


def summilux(cam: SimulatedCamera, f_number: float, focus: float = 1.0) -> np.ndarray:
    cam.set_mode("m")
    cam.attach_lens("summilux-35")
    cam.set_focus(focus)
    cam.set_aperture(f_number)
    cam.set_exposure(1 / 60 * (f_number / 1.4) ** 2 / 64, 100)  # same exposure level
    return cam.read().data


def test_summilux_wide_open_blurs_the_3m_plane_and_f16_much_less():
    cam = camera(noise=False)
    wide = summilux(cam, 1.4)
    truth_wide = cam.truth()
    stopped = summilux(cam, 16.0)
    truth_stopped = cam.truth()
    sharp = summilux(cam, 1.4, focus=3.0)
    plane = interior(truth_wide["depth_m"] == 3.0, 4)
    assert plane.sum() > 2000  # the astronaut panel is in the frame
    e_wide, e_f16, e_sharp = (green_energy(x, plane) for x in (wide, stopped, sharp))
    assert e_wide < 0.1 * e_f16  # visibly blurred wide open
    assert e_f16 > 0.3 * e_sharp  # much less at f/16
    # truth: blur-circle diameters from the thin-lens formula, in output pixels
    px = optics.coc_px(35.0, 1.4, 1.0, 3.0, cam.sensors["m"].pixel_um)
    assert px == pytest.approx(35**2 / (1.4 * 965) * (2 / 3) / (8192 * 1.6e-3 / 640), rel=1e-9)
    assert np.all(truth_wide["coc_px"][plane] == np.float32(px))
    f16 = optics.coc_px(35.0, 16.0, 1.0, 3.0, cam.sensors["m"].pixel_um)
    assert np.all(truth_stopped["coc_px"][plane] == np.float32(f16))
    assert px / f16 == pytest.approx(16 / 1.4)


def test_rendered_edge_blur_matches_the_truth_coc():
    # focused at 3 m, the slanted edge of the chart board at 1 m is a disk-blurred step whose
    # 10-90% rise along a row is set by the blur-circle diameter that truth() reports
    cam = camera(noise=False)
    summilux(cam, 1.4, focus=3.0)
    frame, truth = cam.read(), cam.truth()
    board = cam.scene.plane("charts")
    pitch_mm = cam.sensors["m"].pixel_um / 1000
    y = 2 * round((240 + 35.0 * board.center[1] / board.depth_m / pitch_mm) / 2)  # a Gr row
    x_edge = 320 + 35.0 * (board.center[0] + 0.06) / board.depth_m / pitch_mm
    diameter = float(truth["coc_px"][y, int(x_edge)])
    assert truth["depth_m"][y, int(x_edge)] == 1.0 and 20 < diameter < 40
    xs = np.arange(1, 640, 2)  # Gr sites of the row
    g = frame.data[y, 1::2].astype(np.float64)
    near = np.abs(xs - x_edge) < 2 * diameter
    lo, hi = g[near][0], g[near][-1]
    v = (g[near] - lo) / (hi - lo)
    x10, x90 = np.interp([0.1, 0.9], v, xs[near])  # v rises monotonically across the edge
    # the same for a disk of that diameter, along a row crossing an edge tilted 5 degrees
    r = diameter / 2
    u = np.linspace(-r, r, 20001)
    esf = 1 - (r * r * np.arccos(u / r) - u * np.sqrt(r * r - u * u)) / (math.pi * r * r)
    u10, u90 = np.interp([0.1, 0.9], esf, u)
    expected = (u90 - u10) / math.cos(math.radians(5.0))
    assert x90 - x10 == pytest.approx(expected, rel=0.1)


def test_truth_depth_matches_the_scene_geometry():
    cam = camera()
    summilux(cam, 2.0)
    truth = cam.truth()
    depth, coc = truth["depth_m"], truth["coc_px"]
    assert depth.shape == coc.shape == (480, 640)
    assert depth.dtype == coc.dtype == np.float32
    pitch_mm = cam.sensors["m"].pixel_um / 1000
    for name in ("charts", "astronaut", "color_checker"):
        plane = cam.scene.plane(name)
        l, t, r, b = plane.tan_box()
        # a point 80% across the plane, projected f X / Z / pitch from the centre
        u, v = l + 0.8 * (r - l), (t + b) / 2
        x, y = int(320 + 35.0 * u / pitch_mm), int(240 + 35.0 * v / pitch_mm)
        assert depth[y, x] == plane.depth_m, name
    in_focus = depth == 1.0
    assert np.all(coc[in_focus] == 0)
    near, far = optics.depth_of_field(35, 2.0, 1.0, optics.coc_criterion_mm(13.1072, 9.8304))
    sharp_px = optics.coc_criterion_mm(13.1072, 9.8304) / pitch_mm
    inside = (depth >= near) & (depth <= far)
    assert np.all(coc[inside] <= sharp_px + 1e-4)


def test_flat_field_noise_follows_photon_transfer_at_three_isos():
    # no lens on the M mount: the bare sensor sees a uniform wash of light
    cam = camera()
    cam.set_mode("m")
    for iso in (100, 800, 3200):
        p = cam.sensors["m"].noise_params(iso)
        target = 0.4 * (p.white_level - p.black_level)  # DN above black
        rate = cam._ensure_cache()["rate"][MARGIN:-MARGIN, MARGIN:-MARGIN]
        time_s = target / (p.gain_dn_per_e * float(rate[0::2, 1::2].mean()))
        cam.set_exposure(time_s, iso)
        frame = cam.read()
        assert frame.meta["status"] == "no lens attached" and frame.meta["lens"] is None
        gr = frame.data[0::2, 1::2].astype(np.float64)  # one colour: a flat patch
        signal = gr.mean() - p.black_level
        assert signal == pytest.approx(target, rel=0.02)
        assert gr.var() == pytest.approx(p.variance_dn2(signal), rel=0.05)
        assert frame.meta["noise"]["gain_dn_per_e"] == p.gain_dn_per_e
    truth = cam.truth()
    assert np.isnan(truth["depth_m"]).all() and np.isnan(truth["coc_px"]).all()


def test_doubling_exposure_doubles_the_signal():
    cam = camera(noise=False)
    cam.set_exposure(1 / 125, 100)
    a = cam.read().data.astype(np.float64) - 64
    cam.set_exposure(2 / 125, 100)
    b = cam.read().data.astype(np.float64) - 64
    ok = (a > 10) & (b < 1023 - 64 - 1)  # above the rounding, below clipping
    assert ok.mean() > 0.5
    assert b[ok].sum() / a[ok].sum() == pytest.approx(2.0, rel=0.003)


def state(cam: SimulatedCamera) -> tuple:
    return (cam.mode, cam.lens.id if cam.lens else None, cam.aperture, cam.focus_m, cam.exposure)


@pytest.mark.parametrize(
    "action, match",
    [
        (
            lambda c: c.attach_lens("summilux-50"),
            r"unknown M lens 'summilux-50': known are "
            r"summilux-35, summicron-50, noctilux-50",
        ),
        (lambda c: c.attach_lens("builtin"), "unknown M lens 'builtin'"),
        (lambda c: c.attach_lens("elmarit-28", six_bit="12"), "6-bit code"),
        (
            lambda c: c.set_aperture(1.2),
            r"outside the range of Summilux-M 35 f/1.4 ASPH: "
            r"f/1.4 to f/16",
        ),
        (lambda c: c.set_aperture(22), r"f/1.4 to f/16"),
        (lambda c: c.set_focus(0.5), r"closer than the minimum focus distance .* \(0.7 m\)"),
        (lambda c: c.set_focus(float("nan")), "minimum focus distance"),
        (lambda c: c.set_exposure(1 / 100, 25600), r"ISO must be in \[50.0, 6400.0\]"),
        (lambda c: c.set_exposure(-1, 100), r"exposure time \(s\) must be in"),
        (lambda c: c.set_mode("tele"), "unknown mode 'tele'"),
        (lambda c: c.focus_at(10, 10), "autofocus needs the built-in lens"),
    ],
)
def test_bad_input_keeps_the_previous_state(action, match):
    cam = camera()
    cam.set_mode("m")
    cam.attach_lens("summilux-35")
    cam.set_aperture(2.8)
    cam.set_focus(2.0)
    cam.set_exposure(1 / 125, 200)
    before = state(cam)
    frame_before = cam.read().meta
    with pytest.raises(ValueError, match=match):
        action(cam)
    assert state(cam) == before
    after = cam.read().meta
    for key in ("lens", "aperture", "focus_m", "exposure_s", "iso", "mode"):
        assert after[key] == frame_before[key]


def test_builtin_lens_and_empty_mount_errors():
    cam = camera()
    with pytest.raises(ValueError, match="fixed aperture f/1.9"):
        cam.set_aperture(2.8)
    cam.set_mode("m")
    with pytest.raises(ValueError, match="no lens attached"):
        cam.set_aperture(2.0)
    with pytest.raises(ValueError, match="no lens attached"):
        cam.set_focus(2.0)
    cam.attach_lens("noctilux-50", six_bit="110011")
    assert cam.read().meta["six_bit"] == "110011"
    cam.detach_lens()
    frame = cam.read()
    assert frame.meta["status"] == "no lens attached"
    # the builtin sensor kept its own state
    cam.set_mode("builtin")
    assert cam.read().meta["lens"] == "builtin"


def test_user_lens_file(tmp_path):
    path = tmp_path / "mine.toml"
    path.write_text(
        '[[lens]]\nid = "test-75"\nname = "Test 75"\nmount = "m"\n'
        "focal_mm = 75\napertures = [2.4, 16]\nmin_focus_m = 0.7\n"
        "vignetting_ev = 1\nimage_circle_mm = 43.3\n"
    )
    cam = camera(lens_file=path)
    cam.set_mode("m")
    cam.attach_lens("test-75")
    cam.set_aperture(5.0)
    meta = cam.read().meta
    assert (meta["lens"], meta["focal_mm"], meta["aperture"]) == ("test-75", 75, 5.0)


def test_diffraction_warning_in_meta():
    cam = SimulatedCamera((1920, 1440), backend="numpy", motion=False)  # 4.27 um pixels
    cam.set_mode("m")
    cam.attach_lens("elmarit-28")
    assert cam.read().meta["diffraction_warning"] is None  # f/2.8: 0.9 px
    cam.set_aperture(22)
    meta = cam.read().meta
    assert meta["airy_px"] == pytest.approx(2.44 * 0.55 * 22 / (8192 * 1.6 / 1920))
    assert meta["diffraction_warning"] is not None


def test_motion_moves_the_view_and_its_truth():
    cam = SimulatedCamera(SIZE, backend="numpy", noise=False)
    frames, depths = [], []
    for _ in range(60):
        frames.append(cam.read().data)
        depths.append(cam.truth()["depth_m"])
    moved = [i for i in range(1, 60) if not np.array_equal(frames[i], frames[0])]
    assert moved  # alive
    for i in moved[:3]:  # the frame and the depth truth move together
        shifts = [
            (dy, dx)
            for dy in range(-8, 9, 2)
            for dx in range(-8, 9, 2)
            if np.array_equal(
                np.roll(frames[0], (dy, dx), (0, 1))[10:-10, 10:-10], frames[i][10:-10, 10:-10]
            )
        ]
        assert len(shifts) == 1
        rolled = np.roll(depths[0], shifts[0], (0, 1))[10:-10, 10:-10]
        np.testing.assert_array_equal(rolled, depths[i][10:-10, 10:-10])


@pytest.mark.parametrize("plane_name", ["charts", "cat", "sky"])
def test_contrast_autofocus_locks_on_the_tapped_plane(plane_name):
    cam = camera()
    plane = cam.scene.plane(plane_name)
    l, t, r, b = plane.tan_box()
    pitch_mm = cam.sensors["builtin"].pixel_um / 1000
    u, v = l + 0.75 * (r - l), (t + b) / 2
    x, y = 320 + 8.7 * u / pitch_mm, 240 + 8.7 * v / pitch_mm
    cam.read()
    assert cam.truth()["depth_m"][int(y), int(x)] == plane.depth_m
    focus = cam.focus_at(x, y)
    coc = optics.coc_criterion_mm(13.1072, 9.8304)
    near, far = optics.depth_of_field(8.7, 1.9, plane.depth_m, coc)
    assert near <= focus <= far
    meta = cam.read().meta
    assert meta["af"]["state"] == "locked" and meta["focus_m"] == focus
    with pytest.raises(ValueError, match="outside the 640x480 frame"):
        cam.focus_at(700, 10)


def test_live_view_goes_on_during_the_autofocus_sweep():
    from viewfinder.sources.base import FrameRing, SourceThread

    cam = SimulatedCamera(SIZE, backend="numpy", motion=False, fps=50)
    cam.read()
    thread = SourceThread(cam, FrameRing(capacity=500)).start()
    try:
        focus = cam.focus_at(320, 240)
    finally:
        thread.stop()
    assert thread.error is None
    states = []
    while (frame := thread.ring.get(timeout=0)) is not None:
        states.append(frame.meta["af"]["state"])
    assert "scanning" in states  # frames kept coming while the lens swept
    assert cam.read().meta["af"] == {
        "state": "locked",
        "point": (320.0, 240.0),
        "focus_m": focus,
        "steps": 34,
    }


def test_autofocus_fails_on_a_featureless_scene():
    from viewfinder.sources.scene import Plane, Scene

    scene = Scene(0)
    flat = np.full((1, 1, 3), 0.3, np.float32)
    scene.planes = [
        Plane(
            "grey",
            math.inf,
            (0.0, 0.0),
            (3.0, 3.0),
            content=lambda x, y, px: np.broadcast_to(flat, (*x.shape, 3)),
        )
    ]
    cam = camera(scene=scene)
    cam.set_focus(2.0)
    assert cam.focus_at(320, 240) == 2.0  # kept
    meta = cam.read().meta
    assert meta["af"]["state"] == "failed" and meta["focus_m"] == 2.0


# ----- the device glue on the CPU: cudasim runs sim.cu and the device render ---------------


@pytest.mark.cudasim
def test_device_glue_on_cudasim():
    from viewfinder import cudasim

    dev = SimulatedCamera(SIZE, backend="cudasim", motion=True, noise=False)
    cpu = SimulatedCamera(SIZE, backend="numpy", motion=True, noise=False)
    for cam in (dev, cpu):
        cam.set_mode("m")
        cam.attach_lens("summicron-50")
        cam.set_focus(2.0)
    with cudasim.counting() as counted:
        frames = [dev.read() for _ in range(8)]
    assert [name for name, _ in counted.launches].count("vf_sim_expose") == 8
    # six preallocated frames, and two more: a held frame is never overwritten
    assert len({f.data.data.ptr for f in frames}) == 8 and dev._gpu.grown == 2
    for _ in range(6):
        cpu.read()
    ref = cpu.read()  # the same seq, so the same motion offset
    got = frames[6].data
    assert isinstance(got, cudasim.ndarray)  # stays on the device
    # the mosaic rendered on the host in bounded memory (scene_grid) and uploaded once: the
    # device's frame is the CPU's up to the exposure's rounding (numba's and g++'s float32
    # maths: a DN on a few pixels in a million); no sharp layer was drawn or uploaded
    diff = np.abs(got.get().astype(int) - ref.data.astype(int))
    assert diff.max() <= 1 and np.count_nonzero(diff) <= 1e-5 * diff.size
    assert dev._device_layers == {} and not dev.scene._sharp
    # host=True: copies into host buffers; noise: the photon-transfer model holds
    host = SimulatedCamera(SIZE, backend="cudasim", host=True, motion=False)
    host.set_mode("m")
    p = host.sensors["m"].noise_params(800)
    rate = host._ensure_cache()["rate"]
    rate = rate.get() if isinstance(rate, cudasim.ndarray) else rate
    target = 0.4 * (p.white_level - p.black_level)
    host.set_exposure(target / (p.gain_dn_per_e * float(rate[0::2, 1::2].mean())), 800)
    frame = host.read()
    assert type(frame.data) is np.ndarray
    gr = frame.data[0::2, 1::2].astype(np.float64)
    assert gr.var() == pytest.approx(p.variance_dn2(gr.mean() - p.black_level), rel=0.05)


@pytest.mark.cudasim
def test_device_planes_render_in_bounded_host_memory(monkeypatch):
    """On the device path the planes scene's mosaic is composited on the device from its
    grids (Scene.render_rate_device, kernels/scene_planes.cu): the full-size RGB renderer is
    never called, no map is uploaded, the host's peak while rendering is the planes' grids
    (the route through full-size sharp layers and RGB peaked at 107-164 B/px here), and a
    cached frame uploads nothing."""
    import tracemalloc

    from viewfinder import cudasim
    from viewfinder.sources import simulated

    def refuse(*args, **kwargs):
        raise AssertionError("the full-size RGB route was taken")

    monkeypatch.setattr(simulated, "render", refuse)
    monkeypatch.setattr(simulated, "rate_map", refuse)

    size = (2048, 1536)
    cams = {}
    for backend in ("cudasim", "numpy"):
        cam = SimulatedCamera(size, backend=backend, motion=False, noise=False)
        cam.set_mode("m")
        cam.attach_lens("summilux-35")
        cam.set_aperture(1.4)
        cam.set_focus(3.0)
        cams[backend] = cam
    dev = cams["cudasim"]
    pixels = (size[0] + 2 * MARGIN) * (size[1] + 2 * MARGIN)
    for focus in (3.0, 1.0):  # the first frame, then a focus change that sharpens the charts
        dev.set_focus(focus)
        cams["numpy"].set_focus(focus)
        tracemalloc.start()
        with cudasim.counting() as change:
            dev._ensure_cache()
            copies = list(change.copies)
        _, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
        # cudasim's device arrays are host memory: take out what the render uploads (the
        # grids not kept on the device, three small tables) and the map the kernel writes
        assert all(n != 4 * pixels for _, n, _ in copies)  # no map upload
        host = peak - sum(n for d, n, _ in copies if d == "h2d") - 4 * pixels
        assert host / pixels < 20.0, f"{host / pixels:.1f} B/px at {focus} m"
        got = dev.read().data
        assert isinstance(got, cudasim.ndarray)
        diff = np.abs(got.get().astype(int) - cams["numpy"].read().data.astype(int))
        # the kernel's float32 rounding: a DN on a few pixels in 100 000 (as the motorcycle's)
        assert diff.max() <= 1 and np.count_nonzero(diff) <= 1e-4 * diff.size
        rate, want = dev._caches["m"]["rate"].get(), cams["numpy"]._caches["m"]["rate"]
        np.testing.assert_allclose(rate, want, rtol=1e-5, atol=1e-6 * float(want.max()))
    with cudasim.counting() as counted:
        dev.read()
    assert counted.host_syncs == [] and counted.allocations == 0
    assert dev._device_layers == {} and not dev.scene._sharp


def test_gpu_frames_stay_on_device_and_match_numpy(dxp):
    cp = dxp
    gpu = SimulatedCamera(SIZE, backend=backend_of(cp), motion=False, noise=False)
    cpu = camera(noise=False)
    for cam in (gpu, cpu):
        cam.set_mode("m")
        cam.attach_lens("summicron-50")
        cam.set_focus(2.0)
    g, c = gpu.read(), cpu.read()
    assert isinstance(g.data, cp.ndarray) and g.data.dtype == cp.uint16
    # rendered on the device (CuPy blur) vs OpenCV: equal up to the resampling of big blurs
    diff = np.abs(cp.asnumpy(g.data).astype(int) - c.data.astype(int))
    assert diff.mean() < 0.5 and np.percentile(diff, 99) <= 3
    host = SimulatedCamera(SIZE, backend=backend_of(cp), host=True, motion=False, noise=False)
    assert isinstance(host.read().data, np.ndarray)


def test_gpu_render_equals_the_numpy_render(dxp):
    cp = dxp
    ndi = importlib.import_module(cupyx_module(cp).__name__ + ".scipy.ndimage")
    import scipy.ndimage

    from viewfinder.sources import scene as sc

    scene, canvas = sc.Scene(0), sc.Canvas(960, 720, 13.1072 / 960, 35.0)
    for lens in (sc.Optics(35.0, 1.4, 1.0), sc.Optics(35.0, 8.0, 3.0)):
        a, _ = sc.render(scene, canvas, lens, device=(np, scipy.ndimage, {}))
        b, _ = sc.render(scene, canvas, lens, device=(cp, ndi, {}))
        np.testing.assert_allclose(cp.asnumpy(b), a, atol=1e-4)


def test_gpu_flat_field_noise_follows_photon_transfer(dxp):
    cp = dxp
    cam = SimulatedCamera((2048, 1536), backend=backend_of(cp), motion=False)
    cam.set_mode("m")
    p = cam.sensors["m"].noise_params(800)
    rate = cam._ensure_cache()["rate"]
    target = 0.4 * (p.white_level - p.black_level)
    cam.set_exposure(target / (p.gain_dn_per_e * float(rate[0::2, 1::2].mean())), 800)
    a = cp.asnumpy(cam.read().data)[0::2, 1::2].astype(np.float64)
    b = cp.asnumpy(cam.read().data)[0::2, 1::2].astype(np.float64)
    signal = a.mean() - p.black_level
    assert a.var() == pytest.approx(p.variance_dn2(signal), rel=0.05)
    assert abs(np.corrcoef(a.ravel(), b.ravel())[0, 1]) < 0.01  # fresh noise per frame


def test_gpu_full_resolution_reuses_its_buffers(dxp):
    # CuPy's default is the full 50 MP sensor; on the CPU runtime a smaller frame does
    size = None if backend_of(dxp) == "cupy" else (512, 384)
    cam = SimulatedCamera(size, backend=backend_of(dxp), motion=True)
    assert (cam.width, cam.height) == ((8192, 6144) if size is None else size)
    ptrs = {cam.read().data.data.ptr for _ in range(12)}
    assert len(ptrs) == 6  # a ring of preallocated device frames, no per-frame allocation
    assert not math.isnan(float(cam.read().data[100, 100]))


def test_noise_bank_drawn_in_the_background_gives_the_same_frames(monkeypatch):
    """On the NumPy backend a sensor's noise bank is drawn on a background thread while its
    first frame's scene renders (simulated.PREFETCH): once, from the sensor's own seeded
    generator, so the frames (both sensors, and the other sensor's stream) are those of a
    camera that draws it in its first exposure."""
    from viewfinder.sources import simulated

    def frames(prefetch: bool) -> list[np.ndarray]:
        monkeypatch.setattr(simulated, "PREFETCH", prefetch)
        cam = camera(seed=5)
        cam.set_mode("m")
        cam.attach_lens("summilux-35")
        out = [cam.read().data for _ in range(2)]
        with cam.stream() as other:  # the built-in sensor's own stream
            out.append(other.read().data)
        assert not cam._bank_jobs  # every started bank was waited for
        out.append(cam.read().data)
        return out

    with_bank = frames(True)
    for a, b in zip(with_bank, frames(False), strict=True):
        np.testing.assert_array_equal(a, b)
    assert not np.array_equal(with_bank[0], with_bank[1])  # the noise is on


def test_host_frames_reuse_buffers_and_never_rewrite_held_ones():
    """On the NumPy backend frames are exposed into a small ring of host buffers per sensor
    (resident memory: no page faults per frame); a buffer is rewritten only once nothing
    holds its frame or a view of it, so a held frame (the pipeline ring, a capture, a result
    slot) never changes, and the ring grows while consumers hold every buffer."""
    cam = camera(seed=3, motion=True)
    ptrs = set()
    for _ in range(8):  # each frame dropped at once: one buffer serves them all
        ptrs.add(cam.read().data.ctypes.data)
    assert len(ptrs) == 1
    held = [cam.read() for _ in range(3)]  # whole frames
    view = cam.read().data[8:40, 16:64]  # only a view of a frame's data
    sub = np.asarray(cam.read().data)[::2, ::2]  # a strided view of another
    want = [f.data.copy() for f in held] + [view.copy(), sub.copy()]
    ring = cam.sensors[cam.mode]._frames
    assert len(ring) == 5 and ring.unkept == 0  # one per held frame: all are held now
    later = [cam.read().data for _ in range(4)]  # held too: the ring is full, then unkept
    assert len(ring) == cam.sensors[cam.mode].FRAME_BUFFERS and ring.unkept == 3
    for _ in range(6):
        cam.read()
    got = [f.data for f in held] + [view, sub]
    for a, b in zip(got, want, strict=True):
        np.testing.assert_array_equal(a, b)
    for a in later:
        for b in got:
            assert not np.shares_memory(a, b)
    assert len({a.ctypes.data for a in later}) == 4
    del held, view, sub, got, later
    kept = {b.ctypes.data for b in ring._bufs}
    ptrs = {cam.read().data.ctypes.data for _ in range(8)}
    assert ptrs <= kept and len(ring) == 6  # freed buffers are reused, none made


def test_host_frame_ring_gives_the_frames_of_fresh_allocations(monkeypatch):
    """The frames exposed into reused buffers are bit for bit those of a camera that
    allocates every frame (same seed: the noise offsets do not depend on the buffer), on
    both sensors, with focus changes between them."""
    from viewfinder.sources.sensor import Sensor

    def frames(reuse: bool) -> list[np.ndarray]:
        if not reuse:
            monkeypatch.setattr(
                Sensor, "frame_buffer", lambda self: np.empty((self.height, self.width), np.uint16)
            )
        cam = camera(seed=9, motion=True)
        out = []
        for mode in ("builtin", "m", "builtin"):
            cam.set_mode(mode)
            if mode == "m" and cam.lens is None:
                cam.attach_lens("summilux-35")
            for i in range(4):
                if i == 2:
                    cam.set_focus(1.5 + i)
                out.append(cam.read().data.copy())  # the frame itself is dropped
        return out

    reused = frames(True)
    for a, b in zip(reused, frames(False), strict=True):
        np.testing.assert_array_equal(a, b)
    assert not np.array_equal(reused[0], reused[1])  # the noise is on
