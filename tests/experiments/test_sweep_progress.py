"""The progress line: runs done / total, statuses, and the time left from costs per step."""
import io

import pytest

from refimpl.experiments.sweep import progress as progress_module
from refimpl.experiments.sweep.progress import SweepProgress


def _task(key, optimizer, batch_size, epochs=1):
    return {"key": key, "config": {"optimizer": optimizer, "output_metric": None,
                                   "batch_size": batch_size, "epochs": epochs,
                                   "widths": [16]}}


def _record(task, wall, steps, status="ok"):
    return {"key": task["key"], "status": status, "config": task["config"], "steps": steps,
            "wall_seconds": wall, "data": {"n_train_used": 1000}}


@pytest.fixture
def clock(monkeypatch):
    now = [100.0]
    monkeypatch.setattr(progress_module.time, "perf_counter", lambda: now[0])
    return now


def test_time_left_is_pending_steps_times_cost_per_step_over_parallelism(clock):
    tasks = [_task("a", "sgd", 100), _task("b", "sgd", 100), _task("c", "adam", 50),
             _task("d", "riemannian", 100, epochs=2)]
    stream = io.StringIO()
    p = SweepProgress(tasks, total=5, history=[], workers=2, stream=stream)
    assert p.done == 1 and p.eta() is None and "estimating the time left" in p.line()
    clock[0] += 10.0
    p.finished(_record(tasks[0], wall=10.0, steps=10))       # 1 s per step, parallelism 1
    # pending: b (sgd, 10 steps at 1 s), c and d (another optimizer: all runs' 1 s per step)
    assert p.eta() == pytest.approx(10 + 20 + 20)
    clock[0] += 5.0
    p.finished(_record(tasks[3], wall=40.0, steps=20, status="diverged"))
    # parallelism (10 + 40) / 15 s is more than the 2 workers: capped at 2
    per_step_all = (1.0 + 2.0) / 2
    assert p.eta() == pytest.approx((10 * 1.0 + 20 * per_step_all) / 2)
    assert p.line().startswith("sweep: 3/5 runs (1 diverged, 0 errors), 0:15 elapsed, about")
    p.finished(_record(tasks[1], 1.0, 10))
    p.finished(_record(tasks[2], 1.0, 20, status="error"))
    p.close()
    assert stream.getvalue().splitlines()[-1] == \
        "sweep: 5/5 runs (1 diverged, 1 error), 0:15 elapsed, done"


def test_nothing_is_written_when_disabled(clock):
    stream = io.StringIO()
    p = SweepProgress([_task("a", "sgd", 10)], 1, [], 1, stream=stream, enabled=False)
    p.finished(_record(_task("a", "sgd", 10), 1.0, 1))
    p.close()
    assert stream.getvalue() == ""
