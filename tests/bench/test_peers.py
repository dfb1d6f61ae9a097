"""viewfinder.bench.peers: the GPU peers' code, checked without a GPU.

The CuPy bilinear's CUDA source runs on cudasim against NumPy (and against viewfinder's own
bilinear demosaic) and compiles with NVRTC; NPP's ctypes binding is checked against the real
library when the nvidia-npp wheel is installed (with bad arguments NPP answers with its
argument errors before it touches a device, which pins the argument order and the by-value
structs); the flat-colour check that runs before NPP is timed is checked with stand-ins.
"""

from __future__ import annotations

import ctypes

import numpy as np
import pytest

from viewfinder.bench import peers
from viewfinder.stages.demosaic import demosaic


@pytest.mark.cudasim
@pytest.mark.parametrize("cfa", ["RGGB", "BGGR", "GRBG", "GBRG"])
def test_device_bilinear_on_cudasim_matches_numpy(cfa):
    import viewfinder.cudasim as cs

    raw = np.random.default_rng(3).integers(0, 1024, (30, 44)).astype(np.uint16)
    out = cs.empty((30, 44, 3), cs.float32)
    peers.DeviceBilinear(cs, cfa)(cs.asarray(raw), out)
    got = out.get()
    np.testing.assert_array_equal(got, peers.bilinear_reference(raw, cfa))
    np.testing.assert_allclose(got, demosaic(raw, cfa, "bilinear"), atol=1e-3)


def test_bilinear_reference_gives_a_flat_colour_back():
    raw = peers.flat_cfa(16, 20, (100, 500, 900))
    assert raw[0, 0] == 100 and raw[0, 1] == 500 and raw[1, 0] == 500 and raw[1, 1] == 900
    assert (peers.bilinear_reference(raw) == np.array([100, 500, 900], np.float32)).all()


def test_device_bilinear_checks_its_arrays():
    import viewfinder.cudasim as cs

    with pytest.raises(ValueError, match="cfa must be one of"):
        peers.DeviceBilinear(cs, "RGBG")
    bil = peers.DeviceBilinear(cs)
    with pytest.raises(ValueError, match=r"out \(H, W, 3\) float32"):
        bil(cs.zeros((8, 8), cs.uint16), cs.zeros((8, 8, 3), cs.uint16))


def test_bilinear_source_compiles_with_nvrtc():
    compiler = pytest.importorskip("cupy.cuda.compiler")
    try:
        from cupy_backends.cuda.libs import nvrtc

        nvrtc.getVersion()
    except Exception as exc:
        pytest.skip(f"libnvrtc not loadable: {exc}")
    prog = compiler._NVRTCProgram(peers.BILINEAR_SOURCE, "", method="cubin")
    cubin, _ = prog.compile(("-arch=sm_90", "--std=c++17"))
    assert len(cubin) > 1000


def test_npp_structs_have_the_header_layout():
    ctx = peers.NppStreamContext
    assert ctypes.sizeof(ctx) == 48
    assert ctx.nSharedMemPerBlock.offset == 24
    assert ctx.nCudaDevAttrComputeCapabilityMajor.offset == 32
    assert ctx.nStreamFlags.offset == 40 and ctx.hWorkspace.offset == 44
    assert ctypes.sizeof(peers.NppiSize) == 8 and ctypes.sizeof(peers.NppiRect) == 16
    assert peers.NPPI_BAYER["RGGB"] == 1


def test_find_npp_library_prefers_the_cuda_major(tmp_path, monkeypatch):
    for name in ("libnppicc.so.12", "libnppicc.so.13", "libnppc.so.13"):
        (tmp_path / name).write_bytes(b"")
    monkeypatch.setenv(peers.NPP_LIB_ENV, str(tmp_path))
    assert peers.find_npp_library("nppicc", 13).name == "libnppicc.so.13"
    assert peers.find_npp_library("nppicc", 12).name == "libnppicc.so.12"


class _FakeCupyRuntime:
    @staticmethod
    def runtimeGetVersion():  # noqa: N802
        return 13000


class _FakeCupy:
    class cuda:  # noqa: N801
        runtime = _FakeCupyRuntime


def _real_npp():
    path = peers.find_npp_library("nppicc", 13)
    if path is None:
        pytest.skip("nvidia-npp is not installed")
    return peers.NppCfaToRgb(_FakeCupy, path=path)


def test_npp_binding_answers_argument_errors_without_a_device():
    npp = _real_npp()
    ctx = peers.NppStreamContext()
    size, roi = peers.NppiSize(32, 32), peers.NppiRect(0, 0, 32, 32)
    f = npp.fn
    assert f(None, 64, size, roi, None, 192, 1, 0, ctx) == -8  # NULL pointers
    assert f(4096, 64, peers.NppiSize(0, 32), roi, 8192, 192, 1, 0, ctx) == -6  # size
    assert f(4096, 64, size, peers.NppiRect(0, 0, 64, 32), 8192, 192, 1, 0, ctx) == -11  # ROI
    assert f(4096, 64, size, roi, 8192, 192, 7, 0, ctx) == -5  # grid position
    assert peers.npp_status_text(-8) == "-8 (NPP_NULL_POINTER_ERROR)"


def test_npp_not_found_is_one_clear_error(tmp_path, monkeypatch):
    monkeypatch.setattr(peers, "find_npp_library", lambda *a, **k: None)
    with pytest.raises(RuntimeError, match="NPP not found: pip install nvidia-npp"):
        peers.NppCfaToRgb(_FakeCupy)


@pytest.mark.cudasim
def test_flat_colour_check_catches_a_swapped_grid():
    import viewfinder.cudasim as cs

    class Stand_in:  # noqa: N801 - the NPP call, done by the NumPy bilinear
        FUNCTION, path = "stand-in", type("P", (), {"name": "none"})()

        def __init__(self, swap):
            self.swap = swap

        def __call__(self, raw, out):
            rgb = peers.bilinear_reference(raw.get()).astype(np.uint16)
            out.set(rgb[..., ::-1].copy() if self.swap else rgb)

    assert "flat-colour check passed" in peers.check_npp(Stand_in(False), cs)
    with pytest.raises(RuntimeError, match=r"came back as \(900, 500, 100\)"):
        peers.check_npp(Stand_in(True), cs)
