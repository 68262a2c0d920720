"""Where a sweep's runs go: a Dask cluster (``dask.distributed``, the optional extra ``sweep``).

:func:`dask_client` yields a ``distributed.Client``:

- by default on a new ``LocalCluster`` on this machine: ``workers`` worker processes (default:
  one per core this process may use), each with one thread, so one run per core at a time;
- with ``scheduler="tcp://host:8786"`` connected to an existing cluster (started, e.g., with
  ``dask scheduler`` and ``dask worker tcp://host:8786 --nthreads 1`` on each machine; every
  worker needs ``refimpl`` installed and the data set's files where ``[data] dir`` says);
- or the ``client`` given (its cluster is the caller's).

Either way every worker gets the :class:`SingleThreadedBLAS` plugin: the BLAS libraries of
the worker process run on one thread, so runs sharing a machine do not oversubscribe its
cores, and a run gives the same bits on any worker. The local cluster's workers also get
:class:`LeaveInterruptsToTheClient`: a Ctrl-C in the terminal reaches every process of its
process group, and the sweep, not each worker, decides what happens then (it cancels the runs
and closes the cluster). A worker that dies (killed, out of
memory) is replaced by its nanny, and the scheduler gives its unfinished run to another
worker, up to ``distributed.scheduler.allowed-failures`` times (Dask's default 3) before
reporting the run as failed.
"""
from __future__ import annotations

import contextlib
import logging

import distributed
from distributed.diagnostics.plugin import WorkerPlugin

from ..._threads import cores

PLUGIN_NAME = "refimpl-single-threaded-blas"


class SingleThreadedBLAS(WorkerPlugin):
    """Limit the worker process's BLAS libraries to one thread for the worker's lifetime.

    ``setup`` runs in the worker's main thread, the one threadpoolctl's limit is made from.
    """

    idempotent = True

    def setup(self, worker):
        from threadpoolctl import threadpool_limits
        self._limits = threadpool_limits(limits=1, user_api="blas")

    def teardown(self, worker):
        limits = getattr(self, "_limits", None)
        if limits is not None:
            limits.restore_original_limits()


class LeaveInterruptsToTheClient(WorkerPlugin):
    """Ignore SIGINT in a local worker process (the client that started it handles Ctrl-C
    and closes the cluster)."""

    idempotent = True

    def setup(self, worker):
        import signal
        import threading
        if threading.current_thread() is threading.main_thread():
            signal.signal(signal.SIGINT, signal.SIG_IGN)


@contextlib.contextmanager
def dask_client(*, client=None, scheduler: str | None = None, workers: int | None = None,
                timeout: float = 5.0, dashboard: str | None = None):
    """A ``distributed.Client`` for the sweep (see the module docstring); closed on exit
    unless it was given.

    Parameters
    ----------
    client : distributed.Client, optional
    scheduler : str, optional
        Address of a running scheduler.
    workers : int, optional
        Size of the local cluster (default: the cores this process may run on).
    timeout : float
        Seconds to wait for the scheduler.
    dashboard : str, optional
        Address of the local cluster's dashboard (e.g. ``":8787"``; needs ``bokeh``);
        default: none.

    Raises
    ------
    OSError
        The scheduler cannot be reached within ``timeout`` seconds.
    ValueError
        Both ``client`` and ``scheduler``, or a bad ``workers``.
    """
    if client is not None and scheduler is not None:
        raise ValueError("give a client or a scheduler address, not both")
    if client is not None:
        _setup(client)
        yield client
        return
    if scheduler is not None:
        if workers is not None:
            raise ValueError("--workers sizes the local cluster; the cluster at --scheduler "
                             "has its own workers")
        own = _connect(scheduler, timeout)
        try:
            _setup(own)
            yield own
        finally:
            own.close()
        return
    n = cores() if workers is None else workers
    if isinstance(n, bool) or not isinstance(n, int) or n < 1:
        raise ValueError(f"workers must be a positive integer, got {workers!r}")
    cluster = distributed.LocalCluster(
        n_workers=n, threads_per_worker=1, processes=True, dashboard_address=dashboard,
        silence_logs=logging.ERROR)
    try:
        own = distributed.Client(cluster, set_as_default=False)
        try:
            own.register_plugin(LeaveInterruptsToTheClient(), name=f"{PLUGIN_NAME}-sigint")
            _setup(own)
            yield own
        finally:
            own.close()
    finally:
        cluster.close()


def _connect(address: str, timeout: float):
    try:
        return distributed.Client(address, timeout=timeout, set_as_default=False)
    except (OSError, TimeoutError, ValueError) as exc:
        reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise OSError(
            f"cannot reach the Dask scheduler at {address!r} within {timeout:g} s ({reason}); "
            "start one with `dask scheduler` and workers with `dask worker ADDRESS "
            "--nthreads 1`, or leave out --scheduler to run on a local cluster") from None


def _setup(client) -> None:
    client.register_plugin(SingleThreadedBLAS(), name=PLUGIN_NAME)


def describe(client) -> str:
    """``"2 workers, 1 thread each, at tcp://127.0.0.1:40331"`` for the progress header."""
    nthreads = client.nthreads()
    threads = sorted(set(nthreads.values()))
    each = ", " + "/".join(map(str, threads)) + (" thread" if threads == [1] else " threads") \
        + " each" if threads else ""
    plural = "" if len(nthreads) == 1 else "s"
    return f"{len(nthreads)} worker{plural}{each}, at {client.scheduler.address}"
