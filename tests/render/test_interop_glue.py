"""The CUDA-GL interop glue of ``textures._Interop``, checked on the CPU.

``test_interop_gpu.py`` runs it for real on a GPU session. Here: the installed cuda-core
has the API the glue calls (names, keyword-only streams, what ``map()`` returns), and the glue,
run against a stand-in cuda-core and CuPy over host memory, maps on CuPy's current stream,
copies the whole frame into the mapped buffer, and unmaps on the same stream, also on errors.
"""

from __future__ import annotations

import inspect
import sys
import types
from types import SimpleNamespace

import numpy as np
import pytest

from viewfinder.render.textures import InteropUnavailable, _Interop


def _cuda_core():
    try:
        import cuda.core as cc  # needs cuda-bindings; cuda-core alone does not import
    except ImportError as exc:
        pytest.skip(f"cuda-core not importable: {exc}")
    return cc


def test_installed_cuda_core_has_the_api_the_glue_calls():
    cc = _cuda_core()
    gr = cc.GraphicsResource
    for name in ("from_gl_buffer", "map", "unmap", "close"):
        assert callable(getattr(gr, name, None)), name
    for method in (gr.map, gr.unmap):
        params = inspect.signature(method).parameters
        assert params["stream"].kind is inspect.Parameter.KEYWORD_ONLY
    assert "flags" in inspect.signature(gr.from_gl_buffer).parameters
    assert "write_discard" in cc._graphics._REGISTER_FLAGS  # the flag the glue registers with
    # map() returns a Buffer: a device pointer and a size, both as ints
    assert all(hasattr(cc.Buffer, name) for name in ("handle", "size"))
    assert "obj" in inspect.signature(cc.Device.create_stream).parameters


LOG: list[tuple] = []


class _Buffer:
    def __init__(self, nbytes: int) -> None:
        self.host = np.zeros(nbytes, np.uint8)
        self.handle = self.host.ctypes.data
        self.size = nbytes


class _Resource:
    nbytes = 0

    @classmethod
    def from_gl_buffer(cls, pbo: int, *, flags=None, stream=None):
        LOG.append(("register", pbo, flags))
        return cls()

    def map(self, *, stream):
        LOG.append(("map", stream.wraps))
        self.buf = _Buffer(self.nbytes)
        return self.buf

    def unmap(self, *, stream=None):
        LOG.append(("unmap", stream.wraps))

    def close(self):
        LOG.append(("close",))


class _Device:
    def __init__(self, device_id: int) -> None:
        self.id = device_id

    def set_current(self) -> None:
        LOG.append(("set_current", self.id))

    def create_stream(self, obj):
        assert hasattr(obj, "__cuda_stream__")
        return SimpleNamespace(wraps=obj.name)


class _CupyStream:
    def __init__(self, name: str, ptr: int) -> None:
        self.name, self.ptr = name, ptr

    def __cuda_stream__(self):
        return (0, self.ptr)


class _Unowned:
    def __init__(self, ptr: int, size: int, owner, device_id: int = -1) -> None:
        assert isinstance(ptr, int) and isinstance(size, int) and owner is not None
        assert device_id == 0
        self.owner, self.size = owner, size


@pytest.fixture
def standins(monkeypatch):
    LOG.clear()
    current = {"stream": _CupyStream("viewer", 0x1234)}
    cuda_pkg = types.ModuleType("cuda")
    core = types.ModuleType("cuda.core")
    core.Device, core.GraphicsResource = _Device, _Resource
    cuda_pkg.core = core
    cp = types.ModuleType("cupy")
    cp.uint8 = np.uint8
    cp.cuda = SimpleNamespace(
        Device=lambda: SimpleNamespace(id=0),
        get_current_stream=lambda: current["stream"],
        UnownedMemory=_Unowned,
        MemoryPointer=lambda mem, offset: SimpleNamespace(mem=mem, offset=offset),
    )

    def ndarray(shape, dtype, memptr):
        host = memptr.mem.owner.host  # the stand-in buffer's memory
        return np.ndarray(shape, dtype, buffer=host, offset=memptr.offset)

    cp.ndarray = ndarray
    monkeypatch.setitem(sys.modules, "cuda", cuda_pkg)
    monkeypatch.setitem(sys.modules, "cuda.core", core)
    monkeypatch.setitem(sys.modules, "cupy", cp)
    return current


def test_copy_maps_fills_and_unmaps_on_the_current_stream(standins):
    frame = np.random.default_rng(1).integers(0, 256, (6, 10, 4), dtype=np.uint8)
    _Resource.nbytes = frame.nbytes
    interop = _Interop(7)
    assert LOG[:2] == [("set_current", 0), ("register", 7, "write_discard")]
    interop.copy_in(frame)
    assert LOG[2:] == [("map", "viewer"), ("unmap", "viewer")]
    np.testing.assert_array_equal(interop._resource.buf.host.reshape(frame.shape), frame)
    standins["stream"] = _CupyStream("other", 0x5678)  # another CuPy stream made current
    interop.copy_in(frame[::-1].copy())
    assert LOG[4:] == [("map", "other"), ("unmap", "other")]
    interop.close()
    assert LOG[-1] == ("close",)


def test_a_short_buffer_is_refused_and_still_unmapped(standins):
    frame = np.zeros((6, 10, 4), np.uint8)
    _Resource.nbytes = frame.nbytes - 4
    interop = _Interop(3)
    with pytest.raises(InteropUnavailable, match="holds 236 bytes, the view needs 240"):
        interop.copy_in(frame)
    assert LOG[-2:] == [("map", "viewer"), ("unmap", "viewer")]
