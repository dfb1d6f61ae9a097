"""Every kernel launch of the CuPy glue, checked on the CPU against the kernel's C signature.

No GPU here, so the glue (pipeline, demosaic, histogram, peaking, assists, magnifier) runs
against a stand-in CuPy: NumPy arrays of a subclass that counts as "device" arrays, and a
launcher that checks each call against the ``extern "C"`` parameter list of the ``.cu``
source (preprocessed with g++): argument count, pointer arguments as contiguous device arrays
of the pointee's element type (or None), ``int`` as ``np.int32``, ``float`` as ``np.float32``
(CuPy passes a Python int as int64 and a float as float64), 3-D-or-less int grids and blocks.
The stand-in array also refuses what would wait on the host in a per-frame path
(``bool()``, ``int()``, ``float()``, ``.item()``, a blocking ``.get()``).

The kernels do not run (outputs are whatever the buffers held): these tests check the glue,
the GPU tests (``-m gpu``) check the results.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
import types
from functools import cache

import numpy as np
import pytest

from viewfinder import Frame, Settings
from viewfinder.kernels import KERNEL_DIR, source_files

_POINTEE = {
    "unsigned short": (np.uint16,),
    "float": (np.float32,),
    "int": (np.int32,),
    "unsigned int": (np.uint32,),
    "unsigned char": (np.uint8,),
    "unsigned long long": (np.uint64, np.int64),
}
_SCALAR = {"int": (np.int32,), "float": (np.float32,), "unsigned int": (np.uint32, np.int32)}


@cache
def signatures() -> dict[str, list[tuple[str, bool]]]:
    """``{kernel: [(base C type, is_pointer), ...]}`` of every ``extern "C"`` kernel."""
    gxx = shutil.which("g++")
    if gxx is None:
        pytest.skip("g++ is needed to preprocess the kernel sources")
    out: dict[str, list[tuple[str, bool]]] = {}
    for path in source_files():
        text = subprocess.run(
            [
                gxx,
                "-E",
                "-P",
                "-x",
                "c++",
                "-std=c++17",
                f"-I{KERNEL_DIR}",
                "-D__global__=",
                str(path),
            ],
            capture_output=True,
            text=True,
            check=True,
        ).stdout
        for name, params in re.findall(r'extern "C"\s*void\s+(\w+)\s*\(([^)]*)\)', text):
            sig = []
            for p in params.split(","):
                words = p.replace("*", " * ").split()
                pointer = "*" in words
                base = " ".join(w for w in words[:-1] if w not in ("const", "*", "__restrict__"))
                sig.append((base, pointer))
            out[name] = sig
    return out


class DevArray(np.ndarray):
    """A "device" array: NumPy storage; refuses host syncs."""

    syncs: list[str] = []

    def get(self, stream=None, order="C", out=None, blocking=True):
        if blocking:
            DevArray.syncs.append("blocking get()")
        host = np.asarray(self)
        if out is None:
            return host.copy()
        out[...] = host
        return out

    def set(self, arr, stream=None):
        if not isinstance(arr, np.ndarray) or isinstance(arr, DevArray):
            raise TypeError(f"set() takes a host numpy array, got {type(arr)}")
        if arr.dtype != self.dtype or arr.size != self.size:  # as CuPy: no casting
            raise TypeError(f"{arr.dtype} {arr.shape} cannot be set to {self.dtype} {self.shape}")
        np.asarray(self)[...] = arr.reshape(self.shape)

    def _sync(self, what):
        DevArray.syncs.append(what)
        raise AssertionError(f"{what} of a device array waits on the host")

    def __bool__(self):
        self._sync("bool()")

    def __int__(self):
        self._sync("int()")

    def __float__(self):
        self._sync("float()")

    def item(self, *args):
        self._sync(".item()")

    def tolist(self):
        self._sync(".tolist()")


DevArray.__module__ = "cupy_standin"  # backend.is_device_array looks at the module name


def _dev(a):
    return a.view(DevArray) if isinstance(a, np.ndarray) else a


class _Event:
    def __init__(self, block=False, disable_timing=False, interprocess=False):
        self.timing = not disable_timing
        self.recorded = False

    def record(self, stream=None):
        self.recorded = True

    @property
    def done(self):
        return self.recorded

    def synchronize(self):
        DevArray.syncs.append("Event.synchronize()")


def _elapsed(a, b):
    assert a.timing and b.timing and a.recorded and b.recorded, "events without timing"
    return 0.5


class StandInCupy(types.ModuleType):
    """NumPy behind CuPy's names; array creators give DevArray."""

    ndarray = DevArray

    def __init__(self):
        super().__init__("cupy")
        self.cuda = types.SimpleNamespace(
            Event=_Event,
            get_elapsed_time=_elapsed,
            Stream=types.SimpleNamespace(null=types.SimpleNamespace(synchronize=lambda: None)),
        )

    def __getattr__(self, name):
        attr = getattr(np, "zeros" if name == "empty" else name)  # no NaN garbage in buffers
        if callable(attr) and not isinstance(attr, type):

            def wrapped(*a, **k):
                return _dev(attr(*a, **k))

            return wrapped
        return attr


class Launcher:
    """Stand-in for ``get_kernel``: checks every launch against the C signature."""

    def __init__(self):
        self.launches: list[str] = []

    def get_kernel(self, name, function, defines=None, xp=None):
        sig = signatures()[function]

        def launch(grid, block, args, shared_mem=0, stream=None):
            where = f"{function}"
            for what, dims in (("grid", grid), ("block", block)):
                assert isinstance(dims, tuple) and 1 <= len(dims) <= 3, f"{where}: {what} {dims}"
                assert all(isinstance(d, (int, np.integer)) and d >= 1 for d in dims), (
                    f"{where}: {what} {dims}"
                )
            assert int(np.prod(block)) <= 1024, f"{where}: block {block}"
            assert isinstance(args, tuple), f"{where}: args must be a tuple"
            assert len(args) == len(sig), f"{where}: {len(args)} arguments for {len(sig)}"
            for k, (arg, (base, pointer)) in enumerate(zip(args, sig, strict=True)):
                at = f"{where} argument {k} ({base}{' *' if pointer else ''})"
                if pointer:
                    if arg is None:
                        continue
                    assert isinstance(arg, DevArray), f"{at}: got {type(arg).__name__}"
                    assert arg.flags.c_contiguous, f"{at}: not C-contiguous"
                    assert arg.dtype.type in _POINTEE[base], f"{at}: got {arg.dtype}"
                else:
                    assert type(arg) in _SCALAR[base], f"{at}: got {type(arg).__name__}"
            self.launches.append(function)

        return launch


@pytest.fixture
def standin(monkeypatch):
    """Patch the stand-in CuPy and launcher in; returns (cp, launcher)."""
    cp = StandInCupy()
    launcher = Launcher()
    DevArray.syncs = []
    import viewfinder.backend as be
    import viewfinder.pipeline  # noqa: F401  (imports every stage the glue uses)
    import viewfinder.stages.magnifier  # noqa: F401

    monkeypatch.setattr(be, "get_xp", lambda name=None: cp if name == "cupy" else np)
    monkeypatch.setattr(be, "backend_name", lambda: "cupy")
    monkeypatch.setattr("viewfinder.kernels.get_kernel", launcher.get_kernel)
    original = be.array_module
    modules = [m for n, m in sys.modules.items() if n.startswith("viewfinder")]
    for mod in modules:  # every module that imported array_module by name, backend included
        if getattr(mod, "array_module", None) is original:
            monkeypatch.setattr(mod, "array_module", lambda a: cp if be.is_device_array(a) else np)
    import viewfinder.stages.demosaic as dm

    monkeypatch.setattr(dm, "_KERNELS", {})
    cupyx = types.ModuleType("cupyx")  # a module: backend.cupyx_module's callers use __name__
    cupyx.empty_pinned = lambda shape, dtype: np.empty(shape, dtype)
    monkeypatch.setitem(sys.modules, "cupyx", cupyx)
    return cp, launcher


def test_signatures_are_parsed():
    sig = signatures()
    assert sig["vf_raw_histogram"] == [
        ("unsigned short", True),
        ("int", False),
        ("int", False),
        ("int", False),
        ("unsigned long long", True),
    ]
    assert len(sig["vf_view_pass"]) == 34 and len(sig["vf_preview_raw"]) == 23


def test_launcher_catches_python_scalars(standin):
    cp, launcher = standin
    k = launcher.get_kernel("histogram", "vf_raw_histogram")
    raw, hist = cp.zeros((4, 4), np.uint16), cp.zeros((4, 1024), np.int64)
    with pytest.raises(AssertionError, match="argument 1"):
        k((1,), (256,), (raw, 4, np.int32(4), np.int32(0), hist))
    with pytest.raises(AssertionError, match="argument 0"):
        k((1,), (256,), (cp.zeros((4, 4), np.int32), np.int32(4), np.int32(4), np.int32(0), hist))
    with pytest.raises(AssertionError, match="argument 4"):
        k((1,), (256,), (raw, np.int32(4), np.int32(4), np.int32(0), np.zeros((4, 1024))))


@pytest.mark.parametrize("dtype", [np.uint16, np.float32, np.int32])
@pytest.mark.parametrize("method", ["bilinear", "mhc", "hq"])
def test_demosaic_launches(standin, method, dtype):
    from viewfinder.stages.demosaic import demosaic, hq_scratch_shape

    cp, launcher = standin
    raw = cp.asarray(np.arange(24 * 40).reshape(24, 40) % 1000, dtype=dtype)
    demosaic(raw, "GBRG", method)
    out = cp.empty((24, 40, 3), np.float32)
    scratch = cp.empty(hq_scratch_shape((24, 40)), np.float32)
    assert demosaic(raw[:, :], "GBRG", method, out=out, scratch=scratch) is out
    assert len(launcher.launches) == (10 if method == "hq" else 2)
    assert not DevArray.syncs


@pytest.mark.parametrize("bits", [8, 10, 12, 16])
def test_histogram_launches(standin, bits):
    from viewfinder.stages.histogram import PinnedReadback, raw_histogram

    cp, launcher = standin
    raw = cp.asarray(np.zeros((32, 48), np.uint16))
    out = cp.zeros((4, 1 << bits), np.int64)
    raw_histogram(raw, "BGGR", bits, out=out)
    raw_histogram(cp.asarray(np.zeros((32, 48), np.int32)), "BGGR", bits)
    assert launcher.launches == ["vf_raw_histogram"] * 2
    rb = PinnedReadback(cp, (4, 1 << bits), np.int64)
    rb.push(out)
    rb.latest()
    assert not DevArray.syncs


def _frame(cp, h=64, w=96, host=False, seq=0):
    rng = np.random.default_rng(seq)
    data = rng.integers(0, 1024, (h, w)).astype(np.uint16)
    meta = {"noise": {"gain_dn_per_e": 0.5, "read_noise_dn": 2.0}}
    return Frame(data if host else cp.asarray(data), "GRBG", 64, 1023, 10, seq, meta=meta)


def _all_on(**kw) -> Settings:
    from viewfinder.stages.falsecolor import FalseColourSettings
    from viewfinder.stages.histogram import HistogramSettings
    from viewfinder.stages.magnifier import MagnifierSettings
    from viewfinder.stages.peaking import PeakingSettings
    from viewfinder.stages.scopes import ScopeSettings
    from viewfinder.stages.zebra import ZebraSettings

    return Settings(
        peaking=PeakingSettings(enabled=True),
        zebra=ZebraSettings(enabled=True, under=True, mode="rgb", raw=True),
        histogram=HistogramSettings(raw=True, view=True),
        false_colour=FalseColourSettings(enabled=True),
        scopes=ScopeSettings(waveform=True, parade=True, vectorscope=True),
        magnifier=MagnifierSettings(enabled=True, size=(32, 32), zoom=2),
        **kw,
    )


@pytest.mark.parametrize("method", ["bilinear", "mhc", "hq"])
@pytest.mark.parametrize("host", [False, True])
def test_pipeline_launches(standin, method, host):
    from viewfinder.pipeline import Pipeline

    cp, launcher = standin
    pipe = Pipeline(_all_on(demosaic=method, view_size=(40, 30)), backend="cupy")
    for seq in range(3):
        out = pipe.process(_frame(cp, host=host, seq=seq))
    assert out.path == ("cuda-hq" if method == "hq" else "cuda-fused")
    assert isinstance(out.view, DevArray) and out.view.shape == (30, 40, 4)
    assert "gpu_total" in out.timings_ms
    want = {
        "vf_preview_rgb" if method == "hq" else "vf_preview_raw",
        "vf_peak_luma",
        "vf_peak_score",
        "vf_peak_pool",
        "vf_view_pass",
        "vf_raw_histogram",
    }
    assert want <= set(launcher.launches)
    assert not DevArray.syncs, DevArray.syncs
    # a device frame that is not C-contiguous (a crop) is copied, not read with a wrong stride
    wide = cp.asarray(np.zeros((64, 100), np.uint16))
    pipe.process(Frame(wide[:, 2:98], "GRBG", 64, 1023, 10, 3, meta=_frame(cp).meta))


def test_normalize_device_branch_equals_host(standin):
    from viewfinder.stages.normalize import normalize, raw_scaling

    cp, _ = standin
    host = _frame(cp, host=True)
    ref = normalize(host.data, raw_scaling(host, (1.5, 1.0, 2.0), 0.5))
    out = cp.empty(host.shape, np.float32)
    got = normalize(cp.asarray(host.data), raw_scaling(host, (1.5, 1.0, 2.0), 0.5), out=out)
    assert got is out and isinstance(got, DevArray)
    np.testing.assert_array_equal(np.asarray(got), ref)
