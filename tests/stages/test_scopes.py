"""Waveform, parade, vectorscope and view histogram against their definitions."""

from __future__ import annotations

import numpy as np
import pytest

from viewfinder.stages.scopes import (
    ScopeSettings,
    parade_reference,
    vectorscope_cells,
    vectorscope_reference,
    view_histogram_reference,
    waveform_reference,
)
from viewfinder.stages.zebra import luma8


def test_waveform_counts_luma_per_column():
    img = np.zeros((10, 4, 3), np.uint8)
    img[:, 0] = 0
    img[:, 1] = 255
    img[:5, 2] = (100, 100, 100)
    img[5:, 2] = (200, 200, 200)
    img[:, 3] = (255, 0, 0)
    wf = waveform_reference(img)
    assert wf.shape == (256, 4) and wf.dtype == np.uint32
    assert wf[0, 0] == 10 and wf[255, 1] == 10 and wf[100, 2] == 5 and wf[200, 2] == 5
    assert wf[luma8(np.array([255, 0, 0], np.uint8)), 3] == 10
    assert (wf.sum(axis=0) == 10).all()


def test_parade_is_a_waveform_per_channel():
    rng = np.random.default_rng(0)
    img = rng.integers(0, 256, (30, 20, 3)).astype(np.uint8)
    p = parade_reference(img)
    assert p.shape == (3, 256, 20)
    for c in range(3):
        for x in range(20):
            np.testing.assert_array_equal(p[c, :, x], np.bincount(img[:, x, c], minlength=256))


def test_vectorscope_geometry():
    n = 128
    grey = np.array([[[v, v, v] for v in (0, 60, 128, 255)]], np.uint8)
    u, v = vectorscope_cells(grey, n)
    assert (u == n // 2).all() and (v == n // 2).all()  # neutrals sit at the centre
    red, blue = (np.array([[[255, 0, 0]]], np.uint8), np.array([[[0, 0, 255]]], np.uint8))
    ur, vr = vectorscope_cells(red, n)
    ub, vb = vectorscope_cells(blue, n)
    assert vr[0, 0] == n - 1 and ur[0, 0] < n // 2  # red: Cr = +0.5, Cb < 0
    assert ub[0, 0] == n - 1 and vb[0, 0] < n // 2  # blue: Cb = +0.5, Cr < 0
    # against the BT.709 float formula
    rng = np.random.default_rng(1)
    img = rng.integers(0, 256, (50, 50, 3)).astype(np.uint8)
    f = img.astype(np.float64) / 255
    y = f @ np.array([54, 183, 19]) / 256
    cb, cr = (f[..., 2] - y) / 1.8556, (f[..., 0] - y) / 1.5748
    u, v = vectorscope_cells(img, n)
    assert np.abs(u - np.clip(np.floor((cb + 0.5) * n), 0, n - 1)).max() <= 1
    assert np.abs(v - np.clip(np.floor((cr + 0.5) * n), 0, n - 1)).max() <= 1
    vs = vectorscope_reference(img, n)
    assert vs.sum() == 2500 and vs.shape == (n, n)


def test_view_histogram_rows():
    rng = np.random.default_rng(2)
    img = rng.integers(0, 256, (20, 30, 4)).astype(np.uint8)
    h = view_histogram_reference(img)
    assert h.shape == (4, 256) and h.dtype == np.int64 and (h.sum(axis=1) == 600).all()
    np.testing.assert_array_equal(h[1], np.bincount(img[..., 1].ravel(), minlength=256))
    np.testing.assert_array_equal(h[3], np.bincount(luma8(img[..., :3]).ravel(), minlength=256))


def test_bad_scope_settings():
    with pytest.raises(ValueError, match=r"vectorscope_size must be in \[16, 512\]"):
        ScopeSettings(vectorscope_size=8)
    with pytest.raises(ValueError, match=r"row_step must be in \[1, 16\]"):
        ScopeSettings(row_step=0)
