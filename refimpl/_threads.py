"""Independent per-module work on several cores (private).

The layerwise metric is block diagonal: each module's inner system is formed, factorised and
solved on its own. :func:`run` does such tasks on a pool of threads, one per core, while
:func:`single_threaded_blas` keeps every BLAS call to one thread, so that the tasks — not the
threads inside one BLAS call — share the cores. (NumPy's kernels and the Numba kernels,
``nogil=True``, release the GIL.) On the benchmark machine two single-threaded products run
side by side at 178 GFLOP/s, one two-threaded product at 134–144 GFLOP/s; and a two-threaded
OpenBLAS call leaves its worker thread spinning for about 0.1 s, slowing any single-threaded
work started meanwhile by up to 2× — so a parallel step keeps BLAS single-threaded from its
first product to its last.

The results do not depend on the number of threads: each task computes exactly what it
computes alone.
"""
from __future__ import annotations

import contextlib
import os
import threading
from concurrent.futures import ThreadPoolExecutor

_lock = threading.Lock()
_pool: ThreadPoolExecutor | None = None
_controller = None


def cores() -> int:
    """The number of cores this process may run on."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:                                  # not on Linux
        return os.cpu_count() or 1


def _executor() -> ThreadPoolExecutor:
    global _pool
    with _lock:
        if _pool is None:
            _pool = ThreadPoolExecutor(max_workers=max(cores(), 2),
                                       thread_name_prefix="refimpl")
        return _pool


def run(tasks, workers: int) -> list:
    """``[task() for task in tasks]``, with up to ``workers`` tasks at a time (the calling
    thread is one of them) when ``workers > 1``.

    Tasks are started in order: put the longest first. Every started task has finished when
    this returns or raises; the exception of the first failing task is raised, and after a
    failure or an interrupt no further task is started.
    """
    tasks = list(tasks)
    if workers <= 1 or len(tasks) <= 1:
        return [task() for task in tasks]
    results = [None] * len(tasks)
    errors: list[tuple[int, BaseException]] = []
    order = iter(range(len(tasks)))
    taking = threading.Lock()

    def work():
        while True:
            with taking:
                i = None if errors else next(order, None)
            if i is None:
                return
            try:
                results[i] = tasks[i]()
            except BaseException as exc:                    # noqa: B036 - re-raised below
                with taking:
                    errors.append((i, exc))

    pool = _executor()
    helpers = [pool.submit(work) for _ in range(min(workers, len(tasks)) - 1)]
    try:
        work()
    finally:
        for h in helpers:
            h.result()
    if errors:
        raise min(errors, key=lambda e: e[0])[1]
    return results


@contextlib.contextmanager
def single_threaded_blas(enabled: bool = True):
    """Limit the BLAS libraries loaded in this process to one thread inside the block
    (``threadpoolctl``; process-wide while it lasts). A no-op when not ``enabled``."""
    if not enabled:
        yield
        return
    global _controller
    with _lock:
        if _controller is None:
            from threadpoolctl import ThreadpoolController
            _controller = ThreadpoolController()
        controller = _controller
    with controller.limit(limits=1, user_api="blas"):
        yield
