"""Every CUDA source compiles with nvcc (no GPU needed), as CI checks."""

from __future__ import annotations

import shutil
import subprocess

import pytest

from viewfinder.kernels import KERNEL_DIR, read_source, source_files


@pytest.mark.parametrize("path", source_files(), ids=lambda p: p.name)
def test_kernel_compiles_with_nvcc(path, tmp_path):
    nvcc = shutil.which("nvcc")
    if nvcc is None:
        pytest.skip("nvcc not installed")
    out = tmp_path / "k.ptx"
    proc = subprocess.run(
        [nvcc, "-ptx", "-arch=sm_75", "--std=c++17", f"-I{KERNEL_DIR}", str(path), "-o", str(out)],
        capture_output=True,
        text=True,
    )
    assert proc.returncode == 0, proc.stderr
    assert out.stat().st_size > 0


def test_unknown_kernel_source_is_named():
    with pytest.raises(ValueError, match="unknown kernel source 'nope'"):
        read_source("nope")
