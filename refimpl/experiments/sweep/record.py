"""The record of one run: what a sweep appends to ``results.jsonl`` (one JSON object a line).

====================  ======================================================================
``format``            ``"refimpl-sweep-record/1"``
``key``, ``entry``    the run's key (:func:`~refimpl.experiments.sweep.plan.run_key`) and the
                      first entry that asked for it
``config``            the complete ``TrainConfig.to_dict()`` of the run (``eval_every`` set)
``options``           further optimizer keywords (``{}`` for most runs)
``seed``              the run's seed (also in ``config``)
``data``              the data spec plus the sizes used and ``sha256`` of the arrays
``target``            the test accuracy of "time to target"
``status``            ``"ok"``, ``"diverged"`` (the loss exploded or became non-finite: the
                      curves stop at the last good epoch) or ``"error"`` (an exception, or the
                      run's worker died too often; the run is tried again by a rerun)
``message``           ``null``, the divergence message, or the error
``epochs``            the run's ``epochs.jsonl``: per epoch ``epoch``, ``step``, ``epoch_loss``,
                      ``train_loss``, ``test_loss``, ``test_accuracy``, and its timings
                      (``seconds``, ``time``, CPU seconds, other processes' load, warm-up)
``evals``             the run's ``evals.jsonl`` (``evals_per_epoch`` evaluations per epoch)
``final``             the last epoch's ``epoch``, ``step``, ``train_loss``, ``test_loss``,
                      ``test_accuracy``, and ``best_test_accuracy`` over all evaluations
``to_target``         the first evaluation at or above ``target``: ``step``, ``epoch`` (a
                      fraction) and ``seconds`` of training; ``null`` if none reached it
``steps``             optimizer steps taken
``seconds``           training seconds (steps only, as in ``refimpl train``: its untimed
                      warm-up steps excluded), ``cpu_seconds`` (process CPU seconds of the
                      same steps) and ``seconds_per_step``
``wall_seconds``      the whole run on its worker: loading, warm-up, training, evaluation
``worker``            ``host``, ``pid``, Dask ``address`` (or ``null``), ``blas_threads``
``finished_at``       UTC time, ISO 8601
``versions``          refimpl, Python, NumPy, SciPy, Numba, threadpoolctl, Dask, distributed,
                      and the BLAS library
====================  ======================================================================

Accuracies are fractions; times are seconds. Everything but the timings (:data:`TIMING`) is
the same, bit for bit, whichever worker ran the run and however many there were:
:func:`without_timing` keeps exactly that part.
"""
from __future__ import annotations

import datetime

RECORD_FORMAT = "refimpl-sweep-record/1"
FINISHED = ("ok", "diverged")
"""Statuses of a finished run, which a rerun skips; ``"error"`` runs are tried again."""
TIMING = ("seconds", "cpu_seconds", "seconds_per_step", "wall_seconds", "worker", "finished_at",
          "versions")
"""Top-level fields that depend on the machine, its load, or who ran the run."""
CURVE_TIMING = ("seconds", "time", "cpu_seconds", "cpu_time", "other_cores", "warmup_seconds",
                "compile_seconds")
"""Fields of the per-epoch and per-evaluation records that do (``refimpl train``'s metrics)."""


def make_record(task: dict, config: dict, *, status: str, message, epochs: list, evals: list,
                steps: int, data: dict, wall_seconds: float, worker: dict,
                versions: dict) -> dict:
    """Assemble a record from one run's metrics (the ``*.jsonl`` records of ``train``)."""
    last = epochs[-1] if epochs else {}
    target = task["target"]
    hit = next((r for r in evals if (r.get("test_accuracy") or 0.0) >= target), None)
    seconds = float(last.get("time") or 0.0)
    cpu = last.get("cpu_time")
    accuracies = [r["test_accuracy"] for r in evals if r.get("test_accuracy") is not None]
    return {
        "format": RECORD_FORMAT, "key": task["key"], "entry": task.get("entry"),
        "config": config, "options": task["options"], "seed": config["seed"],
        "data": data, "target": target, "status": status, "message": message,
        "epochs": epochs, "evals": evals,
        "final": {k: last.get(k) for k in ("epoch", "step", "train_loss", "test_loss",
                                           "test_accuracy")}
        | {"best_test_accuracy": max(accuracies, default=None)},
        "to_target": None if hit is None else {"step": hit["step"], "epoch": hit["epoch"],
                                               "seconds": hit["time"]},
        "steps": steps, "seconds": seconds,
        "cpu_seconds": None if cpu is None else float(cpu),
        "seconds_per_step": seconds / last["step"] if last.get("step") else None,
        "wall_seconds": wall_seconds, "worker": worker,
        "finished_at": datetime.datetime.now(datetime.timezone.utc).isoformat(
            timespec="seconds"),
        "versions": versions,
    }


def error_record(task: dict, message: str, *, worker=None, versions=None,
                 wall_seconds: float = 0.0) -> dict:
    """The record of a run that failed before or outside training (``status="error"``)."""
    record = make_record(task, task["config"], status="error", message=message, epochs=[],
                         evals=[], steps=0, data=task["data"], wall_seconds=wall_seconds,
                         worker=worker or {}, versions=versions or {})
    return record


def without_timing(record: dict) -> dict:
    """``record`` without what depends on the machine or the worker (:data:`TIMING`, the
    per-epoch and per-evaluation times, the seconds to target)."""
    out = {k: v for k, v in record.items() if k not in TIMING}
    for curve in ("epochs", "evals"):
        out[curve] = [{k: v for k, v in r.items() if k not in CURVE_TIMING}
                      for r in record.get(curve, [])]
    if out.get("to_target"):
        out["to_target"] = {k: v for k, v in out["to_target"].items() if k != "seconds"}
    return out
