import numpy as np
import pytest

from viewfinder import backend


def test_numpy_override(monkeypatch):
    monkeypatch.setenv("VIEWFINDER_BACKEND", "numpy")
    assert backend.backend_name() == "numpy"
    assert backend.get_xp() is np


def test_bad_override_is_named(monkeypatch):
    monkeypatch.setenv("VIEWFINDER_BACKEND", "opencl")
    with pytest.raises(ValueError, match="'opencl'"):
        backend.backend_name()


def test_cupy_override_without_device_is_a_clear_error(monkeypatch):
    if backend.gpu_available():
        pytest.skip("a CUDA device is present")
    monkeypatch.setenv("VIEWFINDER_BACKEND", "cupy")
    with pytest.raises(RuntimeError, match="not usable"):
        backend.backend_name()


def test_default_follows_the_device(monkeypatch):
    monkeypatch.delenv("VIEWFINDER_BACKEND", raising=False)
    assert backend.backend_name() == ("cupy" if backend.gpu_available() else "numpy")


def test_host_helpers():
    a = np.arange(4)
    assert backend.array_module(a) is np and not backend.is_device_array(a)
    assert backend.to_host(a) is a or np.shares_memory(backend.to_host(a), a)


def test_import_does_not_import_cupy():
    import subprocess
    import sys

    code = "import sys, viewfinder, viewfinder.pipeline; print('cupy' in sys.modules)"
    out = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        env={"VIEWFINDER_BACKEND": "numpy", "PATH": ""},
        check=True,
    )
    assert out.stdout.strip() == "False"
