"""The simulated camera's device path, executed on cudasim (the CUDA kernel run on the CPU).

``vf_sim_expose`` runs for real: its launch is checked against the kernel's C signature by the
runtime, its frames are compared with the NumPy sensor, and ``read()`` after the first frame
must neither wait on the host nor allocate device memory (cudasim's counters).
"""

from __future__ import annotations

import numpy as np
import pytest

from viewfinder import cudasim
from viewfinder.sources.sensor import IMX989, GpuExposer, Sensor
from viewfinder.sources.simulated import MARGIN, SimulatedCamera

pytestmark = pytest.mark.cudasim

SIZE = (320, 240)


def test_exposer_frames_are_the_noise_free_mean_of_the_rate_map():
    sensor = Sensor(IMX989, SIZE)
    gpu = GpuExposer(*SIZE, xp="cudasim")
    rate = np.random.default_rng(0).uniform(1e8, 3e9, (SIZE[1] + 2 * MARGIN, SIZE[0] + 2 * MARGIN))
    gpu.set_rate("k", rate.astype(np.float32))
    out = gpu.expose(
        (MARGIN, MARGIN), 1 / 100, sensor.noise_params(100), seed=2**31 + 3, noise=False
    )
    assert isinstance(out, cudasim.ndarray) and out.shape == (SIZE[1], SIZE[0])
    want = sensor.expose(rate.astype(np.float32), 1 / 100, 100, (MARGIN, MARGIN), noise=False)
    assert np.unique(want).size > 500  # the whole range, not a black frame
    assert np.abs(out.get().astype(int) - want.astype(int)).max() <= 1


@pytest.mark.parametrize("order", ["F", "strided"])
def test_exposer_uploads_any_rate_map_layout_contiguous(order):
    sensor = Sensor(IMX989, SIZE)
    gpu = GpuExposer(*SIZE, xp="cudasim")
    shape = (SIZE[1] + 8, SIZE[0] + 8)
    ramp = np.add.outer(np.arange(shape[0]), 10 * np.arange(shape[1])).astype(np.float32) * 1e6
    if order == "F":  # asarray would keep Fortran order: the kernel reads C rows
        rate = np.asfortranarray(ramp)
    else:
        wide = np.zeros((shape[0], 2 * shape[1]), np.float32)
        wide[:, ::2] = ramp
        rate = wide[:, ::2]
    gpu.set_rate(order, rate)
    out = gpu.expose((4, 4), 1 / 100, sensor.noise_params(100), seed=1, noise=False)
    want = sensor.expose(np.ascontiguousarray(ramp), 1 / 100, 100, (4, 4), noise=False)
    assert np.unique(want).size > 200
    assert np.abs(out.get().astype(int) - want.astype(int)).max() <= 1


def test_exposer_refuses_a_window_beyond_the_rate_map():
    sensor = Sensor(IMX989, SIZE)
    gpu = GpuExposer(*SIZE, xp="cudasim")
    gpu.set_rate("small", np.ones((SIZE[1] + 4, SIZE[0] + 4), np.float32))
    with pytest.raises(ValueError, match="read window"):
        gpu.expose((6, 0), 1 / 100, sensor.noise_params(100), seed=1)
    with pytest.raises(ValueError, match="read window"):
        gpu.expose((-2, 0), 1 / 100, sensor.noise_params(100), seed=1)


@pytest.mark.parametrize("host", [False, True])
def test_read_launches_without_host_waits_or_allocations(host):
    cam = SimulatedCamera(SIZE, backend="cudasim", host=host, motion=True)
    cam.set_mode("m")
    cam.attach_lens("summicron-50")
    cam.set_focus(2.0)
    first = cam.read()  # renders the rate map (device blur) and builds the exposer
    assert isinstance(first.data, np.ndarray if host else cudasim.ndarray)
    del first  # a consumer that is done with its frame lets the exposer reuse the buffer
    kinds, ptrs = set(), set()
    with cudasim.counting() as counted:
        for _ in range(12):  # frames dropped as they are consumed
            frame = cam.read()
            kinds.add(type(frame.data))
            ptrs.add(frame.data.ctypes.data if host else frame.data.data.ptr)
            del frame
    assert [name for name, _ in counted.launches] == ["vf_sim_expose"] * 12
    assert counted.allocations == 0  # the rate map stays uploaded, frames come from the ring
    assert len(ptrs) <= 6  # the preallocated buffers, reused
    if host:  # the modelled sensor upload: one blocking copy per frame, into pinned buffers
        assert counted.host_syncs == ["get()"] * 12
        assert kinds == {np.ndarray}
    else:
        assert counted.host_syncs == []
    with cudasim.counting() as counted:
        cam.set_focus(3.0)  # a new render: the new rate map is uploaded once
        cam.read()
    assert counted.allocations >= 1


@pytest.mark.parametrize("host", [False, True])
def test_a_held_frame_is_never_overwritten(host):
    """Frames held by consumers (the ring, a result slot, a capture) keep their pixels: the
    exposer rewrites only buffers nothing references, and adds one when all are held."""
    sensor = Sensor(IMX989, SIZE)
    gpu = GpuExposer(*SIZE, host=host, buffers=3, xp="cudasim")
    gpu.set_rate("k", np.full((SIZE[1] + 8, SIZE[0] + 8), 1e5, np.float32))

    def pixels(data):
        return np.array(data) if host else data.get()

    held = []
    for seed in range(5):  # five frames held at once: more than the three buffers made
        data = gpu.expose((4, 4), 1 / 100, sensor.noise_params(100), seed=seed)
        held.append((data, pixels(data)))
    view = held[0][0][8:40]  # a view alone holds its frame too
    copy = pixels(view)
    del held[0]
    for seed in range(5, 12):  # the rest are consumed one by one
        gpu.expose((4, 4), 1 / 100, sensor.noise_params(100), seed=seed)
    for data, was in held:
        np.testing.assert_array_equal(pixels(data), was)
    np.testing.assert_array_equal(pixels(view), copy)
    assert gpu.grown == 3 and len(gpu._out) == 6  # five frames and the view held
    held.clear()
    del view, data
    with cudasim.counting() as counted:
        for seed in range(12, 30):
            gpu.expose((4, 4), 1 / 100, sensor.noise_params(100), seed=seed)
    assert counted.allocations == 0 and gpu.grown == 3  # steady state: no new buffers


def test_frames_cross_streams_through_events(monkeypatch):
    """The source exposes on its own non-blocking stream and hands frames over with events:
    the pipeline's stream waits on a frame's ready event before reading it, and the source's
    stream waits on the pipeline's release event before it rewrites that buffer."""
    from viewfinder import Pipeline, Settings

    log: list[tuple[str, int, int]] = []
    original = cudasim.cuda.Stream.wait_event

    def logged(stream, event):
        log.append(("wait", id(stream), id(event)))
        return original(stream, event)

    monkeypatch.setattr(cudasim.cuda.Stream, "wait_event", logged)
    cam = SimulatedCamera(SIZE, backend="cudasim", motion=False, noise=False)
    pipe = Pipeline(Settings(view_size=(160, 120)), backend="cudasim")
    processing = cudasim.cuda.Stream(non_blocking=True)
    first = cam.read()
    source_stream = cam._stream
    assert source_stream is not None and source_stream.non_blocking and first.sync is not None
    with processing:
        pipe.process(first)
    assert ("wait", id(processing), id(first.sync.ready)) in log
    (released,) = first.sync._released.values()  # the pipeline's event, recorded after reads
    buffer_ptr = first.data.data.ptr
    with processing:
        pipe.process(cam.read())  # the pipeline lets go of the first frame's buffer
    del first
    log.clear()
    frames = [cam.read() for _ in range(6)]  # the ring comes back to the first buffer
    again = next(f for f in frames if f.data.data.ptr == buffer_ptr)
    assert ("wait", id(source_stream), id(released)) in log
    assert again.sync.take_released() == []  # handed over once
