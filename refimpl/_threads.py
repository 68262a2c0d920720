"""Independent per-module work on several cores (private).

The layerwise metric is block diagonal: each module's inner system is formed, factorised and
solved on its own. :func:`run` does such tasks on a pool of threads, one per core, while
:func:`single_threaded_blas` keeps every BLAS call to one thread, so that the tasks — not the
threads inside one BLAS call — share the cores. (NumPy's kernels and the Numba kernels,
``nogil=True``, release the GIL.) A parallel step keeps BLAS single-threaded from its first
product to its last: a multi-threaded BLAS call leaves its worker threads spinning for a
while after it returns, which slows single-threaded work started meanwhile (measured in
``benchmarks/README.md``).

Results: each task computes exactly what it computes alone, so a parallel run gives the same
bits as the same tasks run one after the other under :func:`single_threaded_blas`. Against
BLAS's own threading (``threads=1`` in the metric) they agree to rounding only: a BLAS may sum
a product's terms in another order on several threads.
"""
from __future__ import annotations

import contextlib
import os
import sys
import threading
from concurrent.futures import ThreadPoolExecutor

_lock = threading.Lock()
_pool: ThreadPoolExecutor | None = None
_controller = None
_modules_seen = -1              # len(sys.modules) when _controller was made
_limiter = None                 # the active BLAS limit, shared by overlapping regions
_depth = 0                      # how many single_threaded_blas regions are open
_local = threading.local()      # .in_task: this thread is running a task of run()


def _after_fork_in_child():
    """A forked child has none of the parent's threads: start afresh."""
    global _lock, _pool, _limiter, _depth, _local, _controller
    _lock, _pool, _limiter, _depth = threading.Lock(), None, None, 0
    _local, _controller = threading.local(), None


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork_in_child)


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
    this returns or raises, an interrupt (``KeyboardInterrupt``) included; after a failure
    or an interrupt no further task is started. An interrupt is raised before any ordinary
    exception, else the exception of the first failing task (in task order). Called from
    inside a task, it runs its tasks one after the other (no nested pool use).
    """
    tasks = list(tasks)
    if workers <= 1 or len(tasks) <= 1 or getattr(_local, "in_task", False):
        return [task() for task in tasks]
    results = [None] * len(tasks)
    errors: list[tuple[int, BaseException]] = []
    order = iter(range(len(tasks)))
    taking = threading.Lock()

    def work():
        _local.in_task = True
        try:
            while True:
                with taking:
                    i = None if errors else next(order, None)
                if i is None:
                    return
                try:
                    results[i] = tasks[i]()
                except BaseException as exc:                # noqa: B036 - re-raised below
                    with taking:
                        errors.append((i, exc))
        finally:
            _local.in_task = False

    pool = _executor()
    helpers = [pool.submit(work) for _ in range(min(workers, len(tasks)) - 1)]
    interrupt = None
    try:
        work()
    except BaseException as exc:              # noqa: B036 - an interrupt outside a task body
        interrupt = exc
        with taking:
            errors.append((-1, exc))          # stops the helpers from taking more tasks
    for h in helpers:                         # wait for every started task, even when
        while True:                           # interrupted while waiting
            try:
                h.result()
                break
            except BaseException as exc:      # noqa: B036
                interrupt = interrupt or exc
                with taking:
                    errors.append((-1, exc))
    if interrupt is not None:
        raise interrupt
    if errors:
        fatal = [e for e in errors if not isinstance(e[1], Exception)]
        raise min(fatal or errors, key=lambda e: e[0])[1]
    return results


def can_limit_blas() -> bool:
    """Whether :func:`single_threaded_blas` takes effect in this thread (the main thread)."""
    return threading.current_thread() is threading.main_thread()


@contextlib.contextmanager
def single_threaded_blas(enabled: bool = True):
    """Limit the BLAS libraries loaded in this process to one thread inside the block
    (``threadpoolctl``; process-wide while it lasts); regions may nest, and the previous
    settings come back when the outermost closes. Only the main thread changes the limit:
    threadpoolctl lets a single thread control OpenBLAS's process-wide setting (a change
    asked from another thread is ignored, a restore included), so elsewhere — and when not
    ``enabled`` — this is a no-op."""
    if not enabled or not can_limit_blas():
        yield
        return
    global _controller, _limiter, _depth, _modules_seen
    with _lock:
        if _depth == 0:
            # a BLAS library is loaded by an import: look for libraries again after imports
            if _controller is None or len(sys.modules) != _modules_seen:
                from threadpoolctl import ThreadpoolController
                _controller, _modules_seen = ThreadpoolController(), len(sys.modules)
            _limiter = _controller.limit(limits=1, user_api="blas")
        _depth += 1
    try:
        yield
    finally:
        with _lock:
            _depth -= 1
            if _depth == 0:
                _limiter.restore_original_limits()
                _limiter = None
