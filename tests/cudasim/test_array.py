"""cudasim's ndarray and namespace: CuPy's strictness, counted syncs and allocations."""

from __future__ import annotations

import ctypes
import gc

import numpy as np
import pytest

import viewfinder.cudasim as cp
from viewfinder import backend
from viewfinder.cudasim import counting, cupyx
from viewfinder.cudasim.cupyx.scipy import ndimage as cndi


@pytest.fixture
def dev() -> cp.ndarray:
    return cp.asarray(np.arange(20, dtype=np.float32).reshape(4, 5))


# -- identity -------------------------------------------------------------------------------
def test_ndarray_is_its_own_type_recognised_by_the_backend(dev: cp.ndarray) -> None:
    assert not isinstance(dev, np.ndarray)
    assert type(dev).__module__ == "viewfinder.cudasim"
    assert backend.is_device_array(dev) and not backend.is_device_array(np.zeros(1))
    assert backend.array_module(dev) is cp
    assert cp.get_array_module(dev, np.zeros(1)) is cp
    assert cp.get_array_module(np.zeros(1), 3) is np
    assert backend.get_xp("cudasim") is cp
    assert backend.cupyx_module(cp) is cupyx


# -- strictness -----------------------------------------------------------------------------
IMPLICIT = "Implicit conversion to a NumPy array is not allowed"


def test_numpy_cannot_convert_a_device_array(dev: cp.ndarray) -> None:
    with pytest.raises(TypeError, match=IMPLICIT):
        np.asarray(dev)
    with pytest.raises(TypeError, match=IMPLICIT):
        np.array(dev)
    with pytest.raises(TypeError, match=IMPLICIT):
        np.ascontiguousarray(dev)
    with pytest.raises(TypeError, match=IMPLICIT):
        np.array([dev, dev])


def test_mixing_host_and_device_arrays_raises(dev: cp.ndarray) -> None:
    host = np.ones((4, 5), np.float32)
    for mixed in (
        lambda: dev + host,
        lambda: host + dev,
        lambda: host * dev,
        lambda: np.add(host, dev),
        lambda: cp.add(dev, host),
        lambda: cp.maximum(host, dev),
        lambda: cp.where(dev > 1, host, dev),
        lambda: cp.concatenate([dev, host]),
        lambda: cp.stack((dev, host)),
        lambda: cp.clip(host, 0, 1),
        lambda: np.concatenate([dev, host]),
    ):
        with pytest.raises(TypeError, match="Unsupported type <class 'numpy.ndarray'>"):
            mixed()


def test_ufuncs_refuse_sequences_as_cupy_does(dev: cp.ndarray) -> None:
    with pytest.raises(TypeError, match="Unsupported type <class 'list'>"):
        cp.add(dev[0], [1, 2, 3, 4, 5])


def test_numpy_functions_on_device_arrays_dispatch_to_the_device_as_in_cupy(
    dev: cp.ndarray,
) -> None:
    total = np.sum(dev)
    assert isinstance(total, cp.ndarray) and total.shape == ()
    assert isinstance(np.add(dev, dev), cp.ndarray)
    assert float(total) == 190.0


def test_ascontiguousarray_takes_device_arrays_only(dev: cp.ndarray) -> None:
    with pytest.raises(TypeError, match="incorrect type"):
        cp.ascontiguousarray(np.zeros(3))
    assert cp.ascontiguousarray(dev) is dev
    with counting() as c:
        t = cp.ascontiguousarray(dev.T)
    assert t.flags.c_contiguous and c.allocations == 1
    np.testing.assert_array_equal(t.get(), dev.get().T)


def test_asarray_and_array_upload_host_data(dev: cp.ndarray) -> None:
    host = np.arange(6, dtype=np.uint16)
    with counting() as c:
        a = cp.asarray(host)
    assert isinstance(a, cp.ndarray) and a.dtype == np.uint16
    assert c.copies == [("h2d", 12, False)] and c.allocations == 1
    # CuPy stages a pageable source through pinned memory: no wait for the device
    assert c.host_syncs == []
    host[0] = 99  # the device copy is its own
    assert int(a[0]) == 0
    with counting() as c:
        assert cp.asarray(dev) is dev
        assert cp.asarray(dev, dtype=np.float32) is dev
    assert c.allocations == 0
    with counting() as c:
        b = cp.array(dev)
    assert b is not dev and c.allocations == 1
    assert cp.array([1, 2, 3]).dtype == np.int64
    with counting() as c:
        cp.asarray(host, blocking=True)
    assert c.host_syncs == ["array(blocking=True)"]
    with pytest.raises(ValueError, match="Unsupported dtype"):
        cp.asarray(np.array([object()]))
    stacked = cp.array([dev, dev])
    assert isinstance(stacked, cp.ndarray) and stacked.shape == (2, 4, 5)


def test_setitem_with_a_host_array_follows_cupy(dev: cp.ndarray) -> None:
    host = np.ones((4, 5), np.float32)
    # basic indices: CuPy's _scatter_op sends a non-device value to fill(), scalars only
    with pytest.raises(ValueError, match="non-scalar numpy.ndarray cannot be used for fill"):
        dev[...] = host
    with pytest.raises(ValueError, match="non-scalar numpy.ndarray cannot be used for fill"):
        dev[:] = host
    with pytest.raises(TypeError, match="Unsupported type <class 'list'>"):
        dev[0] = [1, 2, 3, 4, 5]
    dev[0, 0] = np.array(7.0)  # a 0-d host array is a scalar
    dev[1] = np.float32(3)
    dev[2, :] = 4
    # integer-array indices: CuPy uploads the host value
    dev[cp.asarray(np.array([3]))] = np.full((1, 5), 9, np.float32)
    got = dev.get()
    assert got[0, 0] == 7 and (got[1] == 3).all() and (got[2] == 4).all() and (got[3] == 9).all()
    src = cp.full((4, 5), 2, cp.float32)
    dev[:] = src
    assert (dev.get() == 2).all()
    with pytest.raises(ValueError, match="non-scalar numpy.ndarray"):
        dev.fill(host)
    with pytest.raises(ValueError, match="non-scalar cupy.ndarray"):
        dev.fill(src)


def test_set_checks_as_cupy(dev: cp.ndarray) -> None:
    with pytest.raises(TypeError, match="Only numpy.ndarray can be set"):
        dev.set([1, 2])
    with pytest.raises(TypeError, match="float64 array cannot be set to float32 array"):
        dev.set(np.zeros((4, 5)))
    with pytest.raises(ValueError, match="Shape mismatch"):
        dev.set(np.zeros((5, 4), np.float32))
    with pytest.raises(RuntimeError, match="non-contiguous"):
        dev[:, ::2].set(np.zeros((4, 3), np.float32))
    dev.set(np.full((4, 5), 3, np.float32))
    assert (dev.get() == 3).all()


def test_get_out_checks_as_cupy(dev: cp.ndarray) -> None:
    with pytest.raises(TypeError, match="Only numpy.ndarray can be obtained"):
        dev.get(out=[0] * 20)
    with pytest.raises(TypeError, match="float64 array cannot be obtained from float32"):
        dev.get(out=np.empty((4, 5)))
    with pytest.raises(ValueError, match="Shape mismatch"):
        dev.get(out=np.empty((5, 4), np.float32))
    with pytest.raises(RuntimeError, match="non-contiguous"):
        dev.get(out=np.empty((4, 10), np.float32)[:, ::2])
    out = np.empty((4, 5), np.float32)
    assert dev.get(out=out) is out
    np.testing.assert_array_equal(out, np.arange(20).reshape(4, 5))


def test_out_must_be_a_device_array_and_is_written_in_place(dev: cp.ndarray) -> None:
    with pytest.raises(TypeError, match="Unsupported type"):
        cp.add(dev, 1, out=np.empty((4, 5), np.float32))
    out = cp.empty((4, 5), cp.float32)
    with counting() as c:
        r = cp.multiply(dev, 2, out=out)
        s = cp.sum(dev, axis=0, out=cp.empty(5, cp.float32))
    assert r is out and c.allocations == 2 - 1  # only the sum's out above
    np.testing.assert_array_equal(out.get(), np.arange(20).reshape(4, 5) * 2)
    np.testing.assert_array_equal(s.get(), np.arange(20).reshape(4, 5).sum(0))


def test_reductions_give_0d_device_arrays(dev: cp.ndarray) -> None:
    with counting() as c:
        results = [dev.sum(), dev.max(), cp.max(dev), cp.mean(dev), dev.any(), cp.all(dev > -1)]
        results.append(cp.array_equal(dev, dev))
        results.append(cp.sqrt(4.0))
    assert all(isinstance(r, cp.ndarray) and r.shape == () for r in results)
    assert c.host_syncs == [] and c.allocations >= len(results)
    assert bool(results[-2]) and float(results[-1]) == 2.0


# -- counting -------------------------------------------------------------------------------
def test_host_reads_are_counted_syncs(dev: cp.ndarray) -> None:
    one = dev[1, 1]
    with counting() as c:
        dev.get()
        cp.asnumpy(dev)
        one.item()
        dev[0].tolist()
        bool(one)
        int(one)
        float(one)
        list(range(10))[cp.asarray(np.int64(3))]
        repr(one)
        str(one)
        f"{one}"
    assert c.host_syncs == [
        "get()",
        "get()",
        "item()",
        "tolist()",
        "bool()",
        "int()",
        "float()",
        "index()",
        "repr()",
        "str()",
        "format()",
    ]
    assert cp.asnumpy(np.ones(2)).sum() == 2  # host data passes through


def test_iteration_yields_device_views_without_a_sync(dev: cp.ndarray) -> None:
    with counting() as c:
        rows = list(dev)
    assert all(isinstance(r, cp.ndarray) and r.shape == (5,) for r in rows)
    assert c.host_syncs == [] and c.allocations == 0
    with pytest.raises(TypeError, match="0-d"):
        iter(dev[0, 0])
    with pytest.raises(TypeError, match="unsized"):
        len(dev[0, 0])
    assert len(dev) == 4


def test_boolean_masks_sync_as_in_cupy(dev: cp.ndarray) -> None:
    with counting() as c:
        picked = dev[dev > 10]
        dev[dev > 15] = 0
        cp.nonzero(dev)
    assert picked.shape == (9,)
    assert c.host_syncs == ["boolean mask indexing", "boolean mask assignment", "nonzero()"]


def test_allocations_count_new_memory_only(dev: cp.ndarray) -> None:
    with counting() as c:
        cp.empty((8, 8), cp.uint16)
        cp.zeros_like(dev)
        cp.ndarray((3, 3), cp.float32)
    assert c.allocations == 3 and c.allocated_bytes == 128 + 80 + 36
    with counting() as c:
        views = [
            dev[1:3],
            dev[:, ::2],
            dev[None, ..., 0],
            dev[2, 3],
            dev.T,
            dev.reshape(5, 4),
            dev.ravel(),
            dev.view(np.int32),
            dev.transpose(1, 0),
            cp.reshape(dev, (20,)),
            cp.squeeze(dev[None]),
        ]
        same = dev.astype(np.float32, copy=False)
    assert c.allocations == 0
    assert all(v.base is dev for v in views) and same is dev
    with counting() as c:
        dev + 1  # a temporary is a device allocation
        dev.astype(np.float64)
        dev.copy()
        dev[:, ::2].ravel()  # a copy
        dev[cp.asarray(np.array([0, 2]))]  # advanced indexing copies
    assert c.allocations == 5 + 1  # + the uploaded index array


def test_in_place_operators_do_not_allocate(dev: cp.ndarray) -> None:
    before = dev.data.ptr
    other = cp.ones((4, 5), cp.float32)
    with counting() as c:
        dev += 1
        dev *= other
        dev -= 0.5
        dev /= 2
        dev[1:3] += other[1:3]
        dev[...] = other
    assert c.allocations == 0 and c.host_syncs == []
    assert dev.data.ptr == before
    ints = cp.zeros(4, cp.uint8)
    ints |= 3
    ints <<= 1
    assert ints.get().tolist() == [6, 6, 6, 6]


def test_operators_match_numpy() -> None:
    h = np.arange(1, 13, dtype=np.int32).reshape(3, 4)
    d = cp.asarray(h)
    for op in (
        lambda x: x + 2,
        lambda x: 2 - x,
        lambda x: x * x,
        lambda x: x / 3,
        lambda x: 7 // x,
        lambda x: x % 5,
        lambda x: x**2,
        lambda x: 2**x,
        lambda x: -x,
        lambda x: abs(-x),
        lambda x: x & 6,
        lambda x: x | 1,
        lambda x: x ^ 3,
        lambda x: ~x,
        lambda x: x >> 1,
        lambda x: x < 6,
        lambda x: x == 4,
        lambda x: x != 4,
        lambda x: x @ x.T,
    ):
        got, want = op(d), op(h)
        assert isinstance(got, cp.ndarray)
        np.testing.assert_array_equal(got.get(), want)
        assert got.dtype == want.dtype


def test_indexing_matches_numpy() -> None:
    h = np.arange(60, dtype=np.int16).reshape(3, 4, 5)
    d = cp.asarray(h)
    idx_h = np.array([2, 0, 2])
    idx_d = cp.asarray(idx_h)
    cases = [
        (1, 1),
        ((slice(None), 2), (slice(None), 2)),
        ((Ellipsis, 1), (Ellipsis, 1)),
        ((None, 1, slice(None, None, -1)), (None, 1, slice(None, None, -1))),
        ((idx_d,), (idx_h,)),
        ((slice(None), idx_d, 0), (slice(None), idx_h, 0)),
        ((idx_d, idx_d), (idx_h, idx_h)),
        (([0, 1],), ([0, 1],)),
    ]
    for kd, kh in cases:
        np.testing.assert_array_equal(d[kd].get(), h[kh])
    assert d[1, 2, 3].shape == () and int(d[1, 2, 3]) == h[1, 2, 3]
    with pytest.raises(IndexError):
        d[cp.asarray(np.array([0.5]))]


def test_take_clip_pad_and_friends_match_numpy() -> None:
    h = np.linspace(0, 1, 12, dtype=np.float32).reshape(3, 4)
    d = cp.asarray(h)
    i = np.array([2, 0])
    np.testing.assert_allclose(cp.take(d, cp.asarray(i), axis=0).get(), np.take(h, i, axis=0))
    np.testing.assert_allclose(cp.clip(d, 0.2, 0.8).get(), np.clip(h, 0.2, 0.8))
    np.testing.assert_allclose(cp.pad(d, ((1, 1), (0, 2))).get(), np.pad(h, ((1, 1), (0, 2))))
    np.testing.assert_allclose(cp.cumsum(d, axis=1).get(), np.cumsum(h, axis=1))
    np.testing.assert_allclose(cp.floor(d * 3).get(), np.floor(h * 3))
    np.testing.assert_allclose(cp.matmul(d, d.T).get(), h @ h.T, rtol=1e-6)
    np.testing.assert_allclose(cp.searchsorted(d[0], cp.asarray(np.float32([0.05]))).get(), [1])
    assert cp.arange(5).get().tolist() == [0, 1, 2, 3, 4]
    assert cp.linspace(0, 1, 3).get().tolist() == [0, 0.5, 1]
    assert cp.float32 is np.float32 and cp.dtype is np.dtype and cp.newaxis is None
    with pytest.raises(AttributeError, match="submodule"):
        cp.random  # noqa: B018 - cupy.random is not numpy.random


def test_attributes(dev: cp.ndarray) -> None:
    assert dev.shape == (4, 5) and dev.ndim == 2 and dev.size == 20
    assert dev.nbytes == 80 and dev.itemsize == 4 and dev.strides == (20, 4)
    assert dev.flags.c_contiguous and dev.flags["C_CONTIGUOUS"] and not dev.flags.f_contiguous
    assert dev.flags.owndata and not dev[1:].flags.owndata
    assert not dev[:, 1:].flags["C_CONTIGUOUS"]
    assert dev.T.flags.f_contiguous
    assert dev.device.id == 0


# -- addresses ------------------------------------------------------------------------------
def test_cuda_array_interface_points_at_the_data(dev: cp.ndarray) -> None:
    cai = dev.__cuda_array_interface__
    assert cai["version"] == 3 and cai["shape"] == (4, 5) and cai["typestr"] == "<f4"
    assert cai["strides"] is None and cai["stream"] is None and cai["data"][1] is False
    ptr = cai["data"][0]
    assert ptr == dev.data.ptr
    ctypes.c_float.from_address(ptr + 4 * 7).value = -3.0  # a kernel writing there
    assert float(dev[1, 2]) == -3.0
    sub = dev[1:, 2:]
    scai = sub.__cuda_array_interface__
    assert scai["data"][0] == ptr + 1 * 20 + 2 * 4 == sub.data.ptr
    assert scai["strides"] == (20, 4) and scai["shape"] == (3, 3)
    assert sub.data.mem is dev.data.mem
    assert cp.empty(0, cp.float32).__cuda_array_interface__["data"] == (0, False)


def test_ndarray_over_unowned_memory_is_interop_without_allocation() -> None:
    host = np.zeros(32, np.uint8)  # stands for a mapped GL buffer
    mem = cp.cuda.UnownedMemory(host.ctypes.data, host.nbytes, host, 0)
    with counting() as c:
        dst = cp.ndarray((2, 4), cp.uint8, cp.cuda.MemoryPointer(mem, 8))
        dst[...] = cp.full((2, 4), 7, cp.uint8)
    assert c.allocations == 1  # the full() source, not the interop array
    assert dst.data.ptr == host.ctypes.data + 8
    assert host[8:16].tolist() == [7] * 8 and host[:8].sum() == 0 and host[16:].sum() == 0
    with pytest.raises(ValueError, match="memptr is required"):
        cp.ndarray((2,), cp.uint8, strides=(1,))
    too_big = cp.cuda.MemoryPointer(mem, 30)
    with pytest.raises(TypeError):
        cp.ndarray((4,), cp.uint8, too_big)


def test_memory_pool_tracks_live_bytes() -> None:
    pool = cp.get_default_memory_pool()
    gc.collect()
    before = pool.used_bytes()
    a = cp.empty(1 << 20, cp.uint8)
    assert pool.used_bytes() - before == 1 << 20
    assert pool.total_bytes() >= pool.used_bytes()
    del a
    gc.collect()
    assert pool.used_bytes() == before
    pool.free_all_blocks()
    assert pool.total_bytes() == pool.used_bytes()


# -- cupyx ----------------------------------------------------------------------------------
def test_pinned_arrays_are_registered_numpy_arrays() -> None:
    p = cupyx.empty_pinned((3, 4), np.uint16)
    z = cupyx.zeros_pinned(5)
    assert type(p) is np.ndarray and p.shape == (3, 4) and p.dtype == np.uint16
    assert z.dtype == np.float64 and not z.any()
    assert cp.cuda.is_array_pinned(p) and cp.cuda.is_array_pinned(z[1:])
    assert not cp.cuda.is_array_pinned(np.empty((3, 4)))
    like = cupyx.empty_like_pinned(cp.zeros((2, 3), cp.float32))
    assert like.shape == (2, 3) and like.dtype == np.float32 and cp.cuda.is_array_pinned(like)
    assert cupyx.zeros_like_pinned(np.ones(4, np.int8)).tolist() == [0, 0, 0, 0]
    mem = cp.cuda.alloc_pinned_memory(64)
    view = np.frombuffer(mem, np.float32, 16)
    assert view.ctypes.data == mem.ptr and cp.cuda.is_array_pinned(view)
    address = mem.ptr
    del mem, view, p
    gc.collect()
    assert not cp.cuda.is_memory_pinned(address)


def test_pinned_upload_is_async_and_pageable_upload_syncs() -> None:
    d = cp.empty((3, 4), cp.uint16)
    src = cupyx.empty_pinned((3, 4), np.uint16)
    src[...] = 5
    with counting() as c:
        d.set(src)
        d.set(np.full((3, 4), 6, np.uint16))
    assert c.host_syncs == ["upload from pageable memory"]
    assert c.copies == [("h2d", 24, True), ("h2d", 24, False)]
    assert (d.get() == 6).all()


def test_ndimage_runs_scipy_on_device_arrays_and_refuses_host_ones() -> None:
    import scipy.ndimage as sndi

    h = np.random.default_rng(1).random((6, 7, 3)).astype(np.float32)
    k = np.ones((3, 3, 1), np.float32) / 9
    d = cndi.convolve(cp.asarray(h), cp.asarray(k), mode="constant")
    assert isinstance(d, cp.ndarray)
    np.testing.assert_allclose(d.get(), sndi.convolve(h, k, mode="constant"), rtol=1e-6)
    g = cndi.gaussian_filter(cp.asarray(h), 1.0)
    np.testing.assert_allclose(g.get(), sndi.gaussian_filter(h, 1.0), rtol=1e-6)
    with pytest.raises(TypeError, match="Unsupported type"):
        cndi.convolve(h, cp.asarray(k))
    with pytest.raises(TypeError, match="Unsupported type"):
        cndi.convolve(cp.asarray(h), k)
    with pytest.raises(AttributeError):
        cndi.no_such_filter  # noqa: B018
