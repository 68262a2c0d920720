"""refimpl.linalg._scratch: large temporaries in reused memory, never while something still uses it."""
import threading

import numpy as np
import pytest

from refimpl.linalg import _scratch

BIG = (512, 512)                 # 2 MiB in float64: pooled (≥ MIN_BYTES)


@pytest.fixture(autouse=True)
def fresh_pool():
    _scratch.clear()
    yield
    _scratch.clear()


def test_small_arrays_are_plain_numpy_empty():
    a = _scratch.empty((10, 10))
    assert a.shape == (10, 10) and a.dtype == np.float64 and a.base is None


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_an_array_no_longer_referenced_is_reused(dtype):
    a = _scratch.empty(BIG, dtype)
    assert a.shape == BIG and a.dtype == dtype and a.flags.c_contiguous
    address = a.__array_interface__["data"][0]
    del a
    b = _scratch.empty(BIG, dtype)
    assert b.__array_interface__["data"][0] == address


def test_memory_in_use_is_never_handed_out_again():
    a = _scratch.empty(BIG)
    a.fill(1.0)
    view = a[10:20]                                      # a view keeps the buffer in use
    del a
    b = _scratch.empty(BIG)
    b.fill(2.0)
    assert (view == 1.0).all()
    c = _scratch.empty(BIG)                              # b and the view are both alive
    c.fill(3.0)
    assert (view == 1.0).all() and (b == 2.0).all()
    assert len({x.__array_interface__["data"][0] for x in (view, b, c)}) == 3


def test_a_buffer_is_reused_only_for_the_same_size():
    a = _scratch.empty(BIG)
    address = a.__array_interface__["data"][0]
    del a
    b = _scratch.empty((512, 513))
    assert b.__array_interface__["data"][0] != address


def test_the_pool_is_bounded(monkeypatch):
    monkeypatch.setattr(_scratch, "MAX_POOL_BYTES", 3 * 512 * 512 * 8)
    sizes = [(512, 512 + i) for i in range(6)]           # six different sizes, all freed
    for s in sizes:
        _scratch.empty(s)
    assert sum(b.nbytes for b in _scratch._pool) <= 3 * 512 * 512 * 8 + 6 * 512 * 8


def test_threads_never_share_a_buffer():
    seen, errors = [], []
    barrier = threading.Barrier(4)

    def work(value):
        barrier.wait()
        for _ in range(50):
            a = _scratch.empty(BIG)
            a.fill(value)
            if not (a == value).all():
                errors.append(value)
        seen.append(value)

    threads = [threading.Thread(target=work, args=(float(v),)) for v in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors and len(seen) == 4
