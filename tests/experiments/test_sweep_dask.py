"""``refimpl sweep`` on a real Dask ``LocalCluster`` of two worker processes: the records are
those of the runs made one by one, a killed worker loses nothing, a rerun runs only what is
missing, Ctrl-C keeps what finished, an unreachable scheduler is a prompt one-line error."""
import json
import logging
import os
import signal
import socket
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

from refimpl.cli import main
from refimpl.experiments import TrainConfig, train
from refimpl.experiments.sweep import (ResultsFile, execute, expand, parse_spec, run_sweep,
                                       without_timing)
from refimpl.experiments.sweep.execute import _dataset, blas_single_thread
from refimpl.experiments.sweep.record import CURVE_TIMING


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
    strip = lambda rs: [{k: v for k, v in r.items() if k not in CURVE_TIMING}  # noqa
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
    epochs = TrainConfig.from_dict(retried["config"]).epochs    # every epoch, from epoch 0
    assert [r["epoch"] for r in retried["epochs"]] == list(range(epochs + 1))
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


def test_ctrl_c_stops_cleanly_and_keeps_the_finished_runs(client, tmp_path, capsys):
    spec = tmp_path / "kill.toml"
    spec.write_text(LONG_AND_SHORT)                  # the long run is still going at SIGINT
    out = tmp_path / "out"

    def press_ctrl_c():                              # SIGINT, as a terminal sends it
        deadline = time.monotonic() + 90
        while not ResultsFile(out / "results.jsonl").records():
            if time.monotonic() > deadline:
                return
            time.sleep(0.02)
        os.kill(os.getpid(), signal.SIGINT)

    # Python's own SIGINT handler for the test: a process started in the background of a
    # non-interactive shell (`nohup sh -c '…' &`) inherits SIGINT ignored, and the sweep
    # would never see the key press
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    helper = threading.Thread(target=press_ctrl_c)
    helper.start()
    try:
        code = main(["sweep", str(spec), "--out", str(out), "--scheduler",
                     client.scheduler.address])
    finally:
        helper.join()
        signal.signal(signal.SIGINT, previous)
    err = capsys.readouterr().err
    assert code == 130 and "Traceback" not in err
    assert "run the same command again to continue" in err
    kept = ResultsFile(out / "results.jsonl").records()
    assert 1 <= len(kept) < 4 and all(r["status"] == "ok" for r in kept)
    summary = run_sweep(parse_spec(LONG_AND_SHORT), out, client=client, progress=False,
                        report=False)
    assert summary["ran"] == 4 - len(kept) and summary["finished"] == 4


def test_an_unreachable_scheduler_is_a_clear_error_within_seconds(tmp_path, capsys):
    with socket.socket() as s:                       # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    spec = tmp_path / "tiny.toml"
    spec.write_text(TINY)
    start = time.monotonic()
    code = main(["sweep", str(spec), "--scheduler", f"tcp://127.0.0.1:{port}", "--out",
                 str(tmp_path / "out")])
    elapsed = time.monotonic() - start
    err = capsys.readouterr().err
    assert code == 1 and "Traceback" not in err
    last = err.strip().splitlines()[-1]
    assert last.startswith("refimpl sweep: error: cannot reach the Dask scheduler at "
                           f"'tcp://127.0.0.1:{port}' within 5 s")
    assert elapsed < 20                              # Dask's own connect timeout is 30 s
    assert not ResultsFile(tmp_path / "out" / "results.jsonl").records()


def test_cli_on_an_existing_cluster_writes_records_and_report(client, tmp_path, capsys):
    spec = tmp_path / "tiny.toml"
    spec.write_text(TINY.replace("seeds = [0, 1]", "seeds = [0]"))
    out = tmp_path / "out"
    assert main(["sweep", str(spec), "--scheduler", client.scheduler.address, "--out",
                 str(out), "--quiet"]) == 0
    assert "4/4 runs finished (4 ok)" in capsys.readouterr().out
    summary = json.loads((out / "summary.json").read_text())
    assert summary["runs"] == {"total": 4, "ok": 4, "diverged": 0, "error": 0, "missing": 0}
    assert "| 0.01 |" in (out / "report.md").read_text()
