"""Reusable memory for large temporary arrays (private).

Why: writing a freshly allocated large array costs several times as much as writing one
that was written before — the operating system's page faults (and the zeroing of each new
page), paid again at every step because the allocator gives large freed blocks back to the
kernel (measured in ``benchmarks/README.md``). :func:`empty` hands out memory that has been
touched before.

Safety: the pool keeps one reference to each of its buffers, and a buffer is handed out
again only when nothing else refers to it — no array, view, metric or factor made from it is
alive (``sys.getrefcount``; every NumPy view keeps a reference to the array owning its
memory). So reuse is invisible to callers: they get an uninitialised array, exactly as from
``numpy.empty``. On an interpreter without reference counts, :func:`empty` is
``numpy.empty``.
"""
from __future__ import annotations

import sys
import threading

import numpy as np

#: arrays smaller than this come from ``numpy.empty`` (malloc's heap reuses them cheaply)
MIN_BYTES = 1 << 20
#: free buffers beyond this total are released, oldest first
MAX_POOL_BYTES = 256 << 20

_pool: list[np.ndarray] = []            # 1-D uint8 buffers, most recently used last
_lock = threading.Lock()
_FREE = 2                               # refcount of a free buffer: the pool's + the argument's


def empty(shape, dtype=np.float64) -> np.ndarray:
    """An uninitialised C-contiguous array, like ``numpy.empty(shape, dtype)``, in reused
    memory when it is at least ``MIN_BYTES`` large."""
    dtype = np.dtype(dtype)
    shape = tuple(int(s) for s in np.atleast_1d(shape))
    nbytes = int(np.prod(shape, dtype=np.int64)) * dtype.itemsize
    if nbytes < MIN_BYTES or not hasattr(sys, "getrefcount"):
        return np.empty(shape, dtype)
    with _lock:
        for i in range(len(_pool) - 1, -1, -1):
            if _pool[i].nbytes == nbytes and sys.getrefcount(_pool[i]) == _FREE:
                buf = _pool.pop(i)
                break
        else:
            buf = np.empty(nbytes, np.uint8)
        _pool.append(buf)
        _trim()
        return buf.view(dtype).reshape(shape)


def _trim():
    total = sum(b.nbytes for b in _pool)
    i = 0
    while total > MAX_POOL_BYTES and i < len(_pool) - 1:     # never the one just handed out
        if sys.getrefcount(_pool[i]) == _FREE:
            total -= _pool.pop(i).nbytes
        else:
            i += 1


def clear() -> None:
    """Forget every pooled buffer (memory in use elsewhere stays valid)."""
    with _lock:
        _pool.clear()
