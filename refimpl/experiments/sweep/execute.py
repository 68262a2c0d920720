"""One run of a sweep, in whichever process runs it (a Dask worker, or this one).

:func:`execute` takes a task (:func:`~refimpl.experiments.sweep.plan.make_task`), trains it
with :func:`refimpl.experiments.training.train` in a temporary directory, and returns its
record (:mod:`~refimpl.experiments.sweep.record`). A run that diverges or raises is a record
too (``status`` ``"diverged"`` or ``"error"``), so one bad point never stops a sweep; only an
interrupt propagates.

Same bits everywhere: the run's outcome depends on its task alone. Every random draw comes
from the config's seed; BLAS runs on one thread during the run (threadpoolctl, if the worker
does not already: the local cluster's workers are limited at start-up), which also makes the
metric's per-module threads give the same bits as one thread (``refimpl._threads``). What
remains is the timing, which the record keeps apart.

Per process, the data set is loaded once (and fingerprinted, SHA-256 of its arrays). Loading
the Numba kernels is not counted as training time: ``train`` takes untimed warm-up steps.
"""
from __future__ import annotations

import contextlib
import functools
import hashlib
import importlib.metadata
import os
import platform
import socket
import tempfile
import time
from pathlib import Path

import numpy as np

from ... import __version__
from ...data import Dataset, load_dataset
from ...optim import DivergenceError
from ..config import TrainConfig
from ..metrics_log import read_records
from ..training import steps_per_epoch, train
from .record import error_record, make_record

def execute(task: dict) -> dict:
    """Train the run ``task`` describes; return its record (never raises but interrupts)."""
    start = time.perf_counter()
    worker = _worker_info()
    try:
        with blas_single_thread() as threads:
            worker["blas_threads"] = threads
            d = task["data"]
            data, digest = _dataset(d["name"], d["dir"], d["n_train"], d["n_test"])
            config = TrainConfig.from_dict(task["config"])
            per_epoch = steps_per_epoch(len(data.y_train), config)
            config = config.replace(eval_every=max(per_epoch // task["evals_per_epoch"], 1))
            options = task["options"]
            status, message = "ok", None
            with tempfile.TemporaryDirectory(prefix="refimpl-sweep-") as tmp:
                try:
                    train(config, tmp, dataset=data, progress=False, quiet=True,
                          options=options)
                except DivergenceError as exc:
                    status, message = "diverged", str(exc)
                metrics = {name: read_records(Path(tmp) / f"{name}.jsonl")
                           for name in ("epochs", "evals", "steps")}
    except Exception as exc:                 # a record of the failure, not a dead sweep
        return error_record(task, f"{type(exc).__name__}: {exc}", worker=worker,
                            versions=versions(), wall_seconds=time.perf_counter() - start)
    steps = metrics["steps"][-1]["step"] if metrics["steps"] else 0
    sizes = {"n_train_used": len(data.y_train), "n_test_used": len(data.y_test),
             "sha256": digest}
    return make_record(task, config.to_dict(), status=status, message=message,
                       epochs=metrics["epochs"], evals=metrics["evals"], steps=steps,
                       data={**task["data"], **sizes},
                       wall_seconds=time.perf_counter() - start, worker=worker,
                       versions=versions())


@contextlib.contextmanager
def blas_single_thread():
    """Keep the BLAS libraries on one thread inside the block; yield the thread count seen.

    A no-op where they already are (the workers of ``refimpl sweep``'s local cluster, and any
    worker with the :class:`~refimpl.experiments.sweep.cluster.SingleThreadedBLAS` plugin).
    """
    from threadpoolctl import threadpool_info, threadpool_limits

    blas = [p["num_threads"] for p in threadpool_info() if p.get("user_api") == "blas"]
    if all(n == 1 for n in blas):
        yield 1
        return
    with threadpool_limits(limits=1, user_api="blas"):
        yield 1


@functools.lru_cache(maxsize=2)
def _dataset(name, directory, n_train, n_test) -> tuple[Dataset, str]:
    """The data set of a task (the first ``n_train`` / ``n_test`` images) and its SHA-256."""
    ds = load_dataset(name, directory)
    for label, n, have in (("n_train", n_train, len(ds.y_train)),
                           ("n_test", n_test, len(ds.y_test))):
        if n is not None and n > have:
            raise ValueError(f"[data] {label} = {n}, but {name} has only {have} images "
                             "in that split")
    ds = Dataset(ds.name, ds.X_train[:n_train], ds.y_train[:n_train], ds.X_test[:n_test],
                 ds.y_test[:n_test], ds.classes)
    h = hashlib.sha256()
    for a in (ds.X_train, ds.y_train, ds.X_test, ds.y_test):
        h.update(np.ascontiguousarray(a).tobytes())
    return ds, h.hexdigest()


def _worker_info() -> dict:
    address = None
    with contextlib.suppress(Exception):     # not inside a Dask worker
        from distributed import get_worker
        address = get_worker().address
    return {"host": socket.gethostname(), "pid": os.getpid(), "address": address,
            "blas_threads": None}


@functools.lru_cache(maxsize=1)
def versions() -> dict:
    """Versions of Python, refimpl, its dependencies, Dask and the BLAS library in use."""
    out = {"refimpl": __version__, "python": platform.python_version()}
    for name in ("numpy", "scipy", "numba", "threadpoolctl", "dask", "distributed"):
        try:
            out[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            out[name] = None
    from threadpoolctl import threadpool_info
    out["blas"] = sorted({f"{p.get('internal_api')} {p.get('version')}"
                          for p in threadpool_info() if p.get("user_api") == "blas"})
    return out
