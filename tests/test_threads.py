"""refimpl._threads: tasks side by side, results in order, errors after every task ended."""
import threading
import time

import numpy as np
import pytest
from threadpoolctl import threadpool_info

from refimpl import _threads


@pytest.mark.parametrize("workers", [1, 2, 3, 8])
def test_run_returns_the_results_in_task_order(workers):
    tasks = [lambda i=i: i * i for i in range(7)]
    assert _threads.run(tasks, workers) == [i * i for i in range(7)]


def test_run_with_one_worker_stays_in_the_calling_thread():
    me = threading.get_ident()
    assert _threads.run([threading.get_ident] * 3, 1) == [me] * 3


def test_run_uses_at_most_workers_threads_at_a_time():
    live, peak, lock = [0], [0], threading.Lock()

    def task():
        with lock:
            live[0] += 1
            peak[0] = max(peak[0], live[0])
        time.sleep(0.02)
        with lock:
            live[0] -= 1

    _threads.run([task] * 6, 2)
    assert peak[0] == 2


def test_run_raises_the_first_failing_task_after_every_started_task_ended():
    ended = []

    def slow():
        time.sleep(0.05)
        ended.append("slow")

    def fail(msg):
        raise ValueError(msg)

    with pytest.raises(ValueError, match="first"):
        _threads.run([slow, lambda: fail("first"), lambda: fail("second")], 2)
    assert ended == ["slow"]                 # the helper's task had ended before the raise


def test_single_threaded_blas_limits_and_restores():
    before = [d["num_threads"] for d in threadpool_info() if d["user_api"] == "blas"]
    with _threads.single_threaded_blas():
        inside = [d["num_threads"] for d in threadpool_info() if d["user_api"] == "blas"]
    after = [d["num_threads"] for d in threadpool_info() if d["user_api"] == "blas"]
    assert inside and all(n == 1 for n in inside)
    assert after == before
    with _threads.single_threaded_blas(False):
        assert [d["num_threads"] for d in threadpool_info()
                if d["user_api"] == "blas"] == before


def test_cores_is_positive():
    assert _threads.cores() >= 1


def test_numpy_work_runs_side_by_side():
    """NumPy's products release the GIL: two tasks overlap (results are what they are alone)."""
    rng = np.random.default_rng(0)
    mats = [rng.standard_normal((200, 200)) for _ in range(2)]
    want = [m @ m for m in mats]
    with _threads.single_threaded_blas():
        got = _threads.run([lambda m=m: m @ m for m in mats], 2)
    assert all(np.array_equal(g, w) for g, w in zip(got, want))
