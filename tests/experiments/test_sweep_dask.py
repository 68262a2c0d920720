"""Sweeps on a real Dask ``LocalCluster`` of two worker processes: the records are those of
the runs made one by one, a killed worker loses nothing, a rerun runs only what is missing."""
import logging
import os
import signal
import threading
import time
from pathlib import Path

import pytest
from sweep_cases import LONG_AND_SHORT, TINY

try:
    import distributed
except ModuleNotFoundError:
    if os.environ.get("CI"):
        raise              # CI installs the test extra, which has dask[distributed]: no skip
    pytest.skip("dask.distributed is not installed (pip install -e '.[test]')",
                allow_module_level=True)

from refimpl.experiments import TrainConfig, train
from refimpl.experiments.sweep import (ResultsFile, execute, expand, parse_spec, run_sweep,
                                       without_timing)
from refimpl.experiments.sweep.execute import _dataset, blas_single_thread


@pytest.fixture(scope="module")
def client():
    cluster = distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                       dashboard_address=None, silence_logs=logging.ERROR)
    client = distributed.Client(cluster, set_as_default=False)
    yield client
    client.close()
    cluster.close()


@pytest.fixture(scope="module")
def one_by_one():
    """The record of a task run in this process, without its timings (memoised)."""
    done = {}

    def run(task):
        if task["key"] not in done:
            done[task["key"]] = without_timing(execute(task))
        return done[task["key"]]
    return run


def _records(folder) -> dict:
    records = ResultsFile(Path(folder) / "results.jsonl").records()
    keys = [r["key"] for r in records]
    assert len(keys) == len(set(keys)), "a run was recorded twice"
    return {r["key"]: r for r in records}


def test_sweep_gives_the_records_of_its_runs_one_by_one(client, one_by_one, tmp_path):
    spec = parse_spec(TINY)
    plan = expand(spec)
    summary = run_sweep(spec, tmp_path, client=client, progress=False, report=False)
    records = _records(tmp_path)
    assert summary["ran"] == summary["finished"] == len(plan.tasks) == len(records) == 8
    assert {r["status"] for r in records.values()} == {"ok"}
    assert len({r["worker"]["address"] for r in records.values()}) == 2   # both took runs
    assert {r["worker"]["blas_threads"] for r in records.values()} == {1}
    for key, task in plan.tasks.items():
        assert without_timing(records[key]) == one_by_one(task)
    # and a run's curves are those of an ordinary `train` call
    task = next(iter(plan.tasks.values()))
    data, _ = _dataset("mnist-5k", None, 300, 100)
    config = TrainConfig.from_dict(records[task["key"]]["config"])
    with blas_single_thread():                       # as on the workers; else to rounding
        result = train(config, tmp_path / "direct", dataset=data, quiet=True, progress=False)
    strip = lambda rs: [{k: v for k, v in r.items() if k not in ("seconds", "time")}  # noqa
                        for r in rs]
    assert strip(result.epochs) == strip(records[task["key"]]["epochs"])


def test_a_killed_worker_loses_no_record_and_its_run_is_retried(client, one_by_one, tmp_path):
    spec = parse_spec(LONG_AND_SHORT)
    plan = expand(spec)
    long_key = plan.entry_points("long")[0].key
    sweep = threading.Thread(target=run_sweep, args=(spec, tmp_path),
                             kwargs=dict(client=client, progress=False, report=False))
    sweep.start()
    deadline = time.monotonic() + 60
    while not (where := [w for w, keys in client.processing().items()
                         if f"refimpl-sweep-{long_key}" in keys]):
        assert time.monotonic() < deadline, "the long run never started"
        time.sleep(0.02)
    pid = client.run(os.getpid, workers=where)[where[0]]
    time.sleep(0.05)                                 # inside the run (a second or more)
    os.kill(pid, signal.SIGKILL)
    sweep.join(120)
    assert not sweep.is_alive()
    records = _records(tmp_path)
    assert sorted(records) == sorted(plan.tasks)
    assert {r["status"] for r in records.values()} == {"ok"}
    retried = records[long_key]
    assert retried["worker"]["pid"] != pid                     # run again, from the start
    assert [r["epoch"] for r in retried["epochs"]] == list(range(61))
    for key, task in plan.tasks.items():
        if key != long_key:                                    # (the long one: seconds)
            assert without_timing(records[key]) == one_by_one(task)


def test_a_rerun_runs_only_what_is_missing(client, tmp_path):
    first = parse_spec(TINY.replace("seeds = [0, 1]", "seeds = [0]"))
    assert run_sweep(first, tmp_path, client=client, progress=False, report=False)["ran"] == 4
    before = (tmp_path / "results.jsonl").read_text()
    full = parse_spec(TINY)
    failed = next(k for k in expand(full).tasks if f'"{k}"' not in before)
    with ResultsFile(tmp_path / "results.jsonl") as results:   # a failed run is tried again
        results.append({"key": failed, "status": "error", "message": "worker lost"})
    summary = run_sweep(full, tmp_path, client=client, progress=False, report=False)
    assert summary["ran"] == 4 and summary["finished"] == 8
    assert (tmp_path / "results.jsonl").read_text().startswith(before)  # kept as it was
    latest = ResultsFile(tmp_path / "results.jsonl").latest()
    assert len(latest) == 8 and latest[failed]["status"] == "ok"
    assert run_sweep(full, tmp_path, client=None, progress=False, report=False)["ran"] == 0
