"""Both sensors of the simulated camera at once (the dual view): SensorStream."""

from __future__ import annotations

import threading

import numpy as np
import pytest

from viewfinder.app import mount_lens
from viewfinder.sources.base import SourceError
from viewfinder.sources.simulated import SimulatedCamera


@pytest.fixture
def cam():
    c = SimulatedCamera(size=(320, 240), motion=False, noise=False)
    c.set_mode("m")
    mount_lens(c, "summilux-35")
    yield c
    c.close()


def test_a_stream_reads_its_sensor_beside_the_cameras_own_frames(cam):
    wide = cam.stream("builtin")
    other = cam.stream()  # "other": the sensor the camera is not showing
    assert wide.mode == other.mode == "builtin"
    m = cam.read()
    b = wide.read()
    o = other.read()
    assert m.meta["mode"] == "m" and m.meta["lens"] == "summilux-35"
    assert b.meta["mode"] == o.meta["mode"] == "builtin" and b.meta["lens"] == "builtin"
    assert np.array_equal(b.data, o.data)  # same sensor, same (still, noiseless) state
    assert not np.array_equal(b.data, m.data)
    # each has its own frame counter: the camera's own frames are not shifted by the stream
    assert (m.seq, b.seq, wide.read().seq, cam.read().seq) == (0, 0, 1, 1)
    # each stream's truth is its own sensor's: the 23 mm's blur is not the 35 mm's
    assert not np.allclose(wide.truth()["coc_px"], cam.truth()["coc_px"], equal_nan=True)


def test_other_follows_the_active_sensor(cam):
    other = cam.stream("other")
    assert other.read().meta["mode"] == "builtin"
    cam.set_mode("builtin")
    assert other.mode == "m" and other.read().meta["lens"] == "summilux-35"
    assert cam.read().meta["mode"] == "builtin"


def test_each_sensor_can_keep_its_own_exposure(cam):
    wide = cam.stream("builtin")
    cam.set_exposure(1 / 125, 100)
    wide.set_exposure(1 / 500, 200)  # the built-in sensor alone
    assert cam.exposure == (1 / 125, 100) and wide.exposure == (1 / 500, 200)
    assert (cam.read().meta["exposure_s"], wide.read().meta["exposure_s"]) == (1 / 125, 1 / 500)
    cam.set_exposure(1 / 60, 100)  # both sensors again
    assert wide.read().meta["exposure_s"] == 1 / 60
    with pytest.raises(ValueError, match="unknown sensor 'x'"):
        cam.set_exposure(1 / 60, 100, mode="x")
    with pytest.raises(ValueError, match="ISO must be in"):
        wide.set_exposure(1 / 60, 25600)
    assert wide.exposure == (1 / 60, 100)  # refused: kept
    with pytest.raises(ValueError, match="unknown sensor"):
        cam.stream("tele")


def test_both_sensors_stream_at_once_from_two_threads(cam):
    wide = cam.stream("builtin")
    got: dict[str, list] = {"m": [], "builtin": []}

    def pull(source, key):
        for _ in range(6):
            got[key].append(source.read().meta["mode"])

    threads = [
        threading.Thread(target=pull, args=(cam, "m")),
        threading.Thread(target=pull, args=(wide, "builtin")),
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert got == {"m": ["m"] * 6, "builtin": ["builtin"] * 6}
    wide.close()
    with pytest.raises(SourceError, match="closed"):
        wide.read()
    assert cam.read().meta["mode"] == "m"  # closing a stream leaves the camera running


@pytest.mark.cudasim
def test_cudasim_streams_expose_on_their_own_cuda_streams_with_no_host_sync():
    """Both sensors on the device path: each stream its own CUDA stream and exposer, frames
    with their own Frame.sync, no host sync or allocation per frame, the same pixels as the
    NumPy path."""
    from viewfinder import cudasim

    dev = SimulatedCamera(size=(96, 64), backend="cudasim", motion=True, noise=False)
    cpu = SimulatedCamera(size=(96, 64), backend="numpy", motion=True, noise=False)
    streams = []
    for cam in (dev, cpu):
        cam.set_mode("m")
        mount_lens(cam, "summilux-35")
        streams.append(cam.stream("builtin"))
    wide_dev, wide_cpu = streams
    dev.read(), wide_dev.read()  # renders and uploads each sensor's rate map once
    with cudasim.counting() as counted:
        frames = [(dev.read(), wide_dev.read()) for _ in range(3)]
    assert counted.host_syncs == [] and counted.allocations == 0
    m, b = frames[-1]
    assert m.sync is not None and b.sync is not None and m.sync is not b.sync
    assert wide_dev._stream is not None and wide_dev._stream is not dev._stream
    for _ in range(3):
        cpu.read(), wide_cpu.read()
    ref_m, ref_b = cpu.read(), wide_cpu.read()
    np.testing.assert_array_equal(m.data.get(), ref_m.data)
    np.testing.assert_array_equal(b.data.get(), ref_b.data)
    dev.close()
    cpu.close()


@pytest.mark.cudasim
def test_a_map_rendered_on_another_stream_is_waited_for_on_the_device(monkeypatch):
    """The motorcycle's map is written on the device, on the stream of whoever asks first
    (here the camera's): a stream of the same sensor waits on its ready event before its
    first exposure from it, and when a new map replaces it, the camera's stream (whose pool
    gets its memory back) waits for that stream's reads. Device-side waits only: no host
    sync, and the frames are the camera's."""
    pytest.importorskip("skimage.data")
    from viewfinder import cudasim

    waits = []
    wait_event = cudasim.cuda.Stream.wait_event

    def spy(self, event):
        waits.append((self.ptr, event._stream_ptr))
        wait_event(self, event)

    monkeypatch.setattr(cudasim.cuda.Stream, "wait_event", spy)
    dev = SimulatedCamera(size=(96, 64), backend="cudasim", motion=False, noise=False)
    dev.set_scene("motorcycle")
    dev.set_mode("m")
    mount_lens(dev, "summilux-35")
    same = dev.stream("m")
    with cudasim.counting() as counted:
        first = dev.read()  # renders on the camera's stream
        mine = same.read()  # the stream's exposer takes that map
        cam_ptr, own_ptr = dev._stream.ptr, same._stream.ptr
        assert cam_ptr != own_ptr
        assert waits == [(own_ptr, cam_ptr)]  # the camera's own exposer needs no wait
        waits.clear()
        dev.set_focus(2.0)
        dev.read()  # a new map, on the camera's stream
        same.read()  # drops the old one: the camera's stream waits for this stream's reads
        assert waits == [(cam_ptr, own_ptr), (own_ptr, cam_ptr)]
    assert counted.host_syncs == []
    np.testing.assert_array_equal(mine.data.get(), first.data.get())
    same.close()
    dev.close()
