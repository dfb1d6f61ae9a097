"""The simulated camera's CuPy path against the launch checker of tests/kernels/test_launch_args.

Every launch of ``vf_sim_expose`` is checked against its C signature in ``sim.cu`` (argument
count, ``int``/``float``/``unsigned int`` scalars as np.int32/np.float32/np.uint32, contiguous
device arrays of the pointee's type, grid and block shapes), and ``read()`` after the first
frame must neither wait on the host nor allocate device memory. The device render (blur and
compositing with the array module) runs on the stand-in too, with SciPy as its ndimage.
"""

from __future__ import annotations

import sys
import types

import numpy as np
import pytest
import scipy.ndimage

import viewfinder.optics  # noqa: F401  (imported before the fixture patches array_module)
import viewfinder.sources.rate_map  # noqa: F401
from tests.kernels.test_launch_args import DevArray, signatures, standin  # noqa: F401
from viewfinder.sources.sensor import IMX989, GpuExposer, Sensor
from viewfinder.sources.simulated import MARGIN, SimulatedCamera

SIZE = (320, 240)


def test_sim_signature_is_parsed():
    sig = signatures()["vf_sim_expose"]
    assert [base for base, _ in sig] == ["float", "int", "int", "int", "unsigned short"] + [
        "int",
        "int",
        "float",
        "float",
        "float",
        "float",
        "float",
        "float",
        "unsigned int",
        "int",
    ]
    assert [k for k, (_, pointer) in enumerate(sig) if pointer] == [0, 4]


@pytest.fixture
def device(request, monkeypatch):
    """The stand-in CuPy with an allocation counter and cupyx.scipy.ndimage as SciPy's."""
    cp, launcher = request.getfixturevalue("standin")
    allocations: list[str] = []
    for name in ("empty", "zeros", "asarray", "ascontiguousarray", "array", "full"):
        make = getattr(cp, name)

        def counted(*a, _make=make, _name=name, **k):
            allocations.append(_name)
            return _make(*a, **k)

        monkeypatch.setattr(cp, name, counted, raising=False)
    cupyx = sys.modules["cupyx"]
    cupyx.__path__ = []  # a package, so that cupyx.scipy.ndimage imports
    scipy_pkg = types.ModuleType("cupyx.scipy")
    scipy_pkg.__path__ = []
    scipy_pkg.ndimage = scipy.ndimage
    monkeypatch.setitem(sys.modules, "cupyx.scipy", scipy_pkg)
    monkeypatch.setitem(sys.modules, "cupyx.scipy.ndimage", scipy.ndimage)
    return cp, launcher, allocations


def test_exposer_launch_matches_the_kernel_signature(device):
    cp, launcher, _ = device
    sensor = Sensor(IMX989, SIZE)
    gpu = GpuExposer(*SIZE)
    rate = np.full((SIZE[1] + 2 * MARGIN, SIZE[0] + 2 * MARGIN), 1e5, np.float32)
    gpu.set_rate("k", rate[:, : SIZE[0] + 2 * MARGIN])
    out = gpu.expose((MARGIN, MARGIN), 1 / 100, sensor.noise_params(100), seed=2**40 + 3)
    assert isinstance(out, DevArray) and out.shape == (SIZE[1], SIZE[0])
    assert launcher.launches == ["vf_sim_expose"]
    assert not DevArray.syncs


@pytest.mark.parametrize("order", ["F", "strided"])
def test_exposer_uploads_any_rate_map_layout_contiguous(device, order):
    cp, launcher, _ = device
    sensor = Sensor(IMX989, SIZE)
    gpu = GpuExposer(*SIZE)
    shape = (SIZE[1] + 8, SIZE[0] + 8)
    if order == "F":  # asarray would keep Fortran order: the kernel reads C rows
        rate = np.asfortranarray(np.ones(shape, np.float32))
    else:
        rate = np.ones((shape[0], 2 * shape[1]), np.float32)[:, ::2]
    gpu.set_rate(order, rate)
    gpu.expose((4, 4), 1 / 100, sensor.noise_params(100), seed=1, noise=False)
    assert launcher.launches == ["vf_sim_expose"]


def test_exposer_refuses_a_window_beyond_the_rate_map(device):
    sensor = Sensor(IMX989, SIZE)
    gpu = GpuExposer(*SIZE)
    gpu.set_rate("small", np.ones((SIZE[1] + 4, SIZE[0] + 4), np.float32))
    with pytest.raises(ValueError, match="read window"):
        gpu.expose((6, 0), 1 / 100, sensor.noise_params(100), seed=1)
    with pytest.raises(ValueError, match="read window"):
        gpu.expose((-2, 0), 1 / 100, sensor.noise_params(100), seed=1)


@pytest.mark.parametrize("host", [False, True])
def test_read_launches_without_host_waits_or_allocations(device, host):
    cp, launcher, allocations = device
    cam = SimulatedCamera(SIZE, backend="cupy", host=host, motion=True)
    cam.set_mode("m")
    cam.attach_lens("summicron-50")
    cam.set_focus(2.0)
    first = cam.read()  # renders the rate map (device blur) and builds the exposer
    assert isinstance(first.data, np.ndarray if host else DevArray)
    DevArray.syncs.clear()
    allocations.clear()
    frames = [cam.read() for _ in range(12)]
    assert launcher.launches == ["vf_sim_expose"] * 13
    assert allocations == []  # the rate map stays uploaded, frames come from the ring
    if host:  # the modelled sensor upload: one blocking copy per frame, into pinned buffers
        assert DevArray.syncs == ["blocking get()"] * 12
        assert all(type(f.data) is np.ndarray for f in frames)
    else:
        assert DevArray.syncs == []
        assert len({id(f.data) for f in frames}) == 6
    cam.set_focus(3.0)  # a new render: one upload of the new rate map
    cam.read()
    assert allocations.count("asarray") >= 1
