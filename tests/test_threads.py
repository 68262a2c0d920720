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


def test_tasks_run_side_by_side_and_compute_what_they_compute_alone():
    """Both tasks must be running at once to pass the barrier (it times out otherwise)."""
    rng = np.random.default_rng(0)
    mats = [rng.standard_normal((200, 200)) for _ in range(2)]
    with _threads.single_threaded_blas():
        want = [m @ m for m in mats]
    barrier = threading.Barrier(2, timeout=10)

    def task(m):
        barrier.wait()
        return m @ m

    with _threads.single_threaded_blas():
        got = _threads.run([lambda m=m: task(m) for m in mats], 2)
    assert all(np.array_equal(g, w) for g, w in zip(got, want))


def test_an_interrupt_is_raised_before_an_earlier_tasks_exception():
    def slow_fail():
        time.sleep(0.05)
        raise ValueError("task 0")

    def interrupt():
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        _threads.run([slow_fail, interrupt], 2)


def test_run_inside_a_task_runs_its_tasks_in_order_without_the_pool():
    inner_threads = []

    def inner():
        return _threads.run([threading.get_ident] * 3, 2)

    done = []
    t = threading.Thread(target=lambda: done.append(_threads.run([inner] * 3, 3)), daemon=True)
    t.start()
    t.join(10)
    assert not t.is_alive(), "nested run deadlocked"
    for idents in done[0]:
        inner_threads.append(set(idents))
    assert all(len(s) == 1 for s in inner_threads)      # each nested run: one thread


def test_only_the_main_thread_limits_and_overlapping_regions_restore():
    """threadpoolctl lets one thread control OpenBLAS: a region in another thread is a no-op,
    so regions overlapping across threads leave the limits as they were."""
    blas = lambda: [d["num_threads"] for d in threadpool_info() if d["user_api"] == "blas"]
    before = blas()
    entered, leave = threading.Event(), threading.Event()
    seen = {}

    def other():
        with _threads.single_threaded_blas():
            seen["can limit"] = _threads.can_limit_blas()
            entered.set()
            leave.wait(10)

    t = threading.Thread(target=other)
    with _threads.single_threaded_blas():
        t.start()
        entered.wait(10)
        seen["main inside"] = blas()
    seen["main left, other inside"] = blas()
    leave.set()
    t.join(10)
    assert _threads.can_limit_blas() and seen["can limit"] is False
    assert all(n == 1 for n in seen["main inside"])
    assert seen["main left, other inside"] == before and blas() == before


FORK_SCRIPT = """
import multiprocessing, sys
from refimpl import _threads

def child(queue):
    queue.put(_threads.run([lambda i=i: i + 1 for i in range(4)], 2))

if __name__ == "__main__":
    _threads.run([lambda: 1, lambda: 2], 2)          # the parent's pool exists
    ctx = multiprocessing.get_context("fork")
    queue = ctx.Queue()
    proc = ctx.Process(target=child, args=(queue,))
    proc.start()
    proc.join(30)
    if proc.is_alive():
        proc.kill()
        sys.exit("the forked child hung in run()")
    print(queue.get(timeout=5))
"""


def test_the_pool_works_in_a_forked_child(tmp_path):
    """In a fresh interpreter (this one may hold other libraries' threads, which fork does
    not copy): a child forked after the parent used the pool gets a pool of its own."""
    import multiprocessing
    import subprocess
    import sys
    if "fork" not in multiprocessing.get_all_start_methods():
        pytest.skip("no fork on this platform")
    script = tmp_path / "fork_child.py"
    script.write_text(FORK_SCRIPT)
    proc = subprocess.run([sys.executable, str(script)], capture_output=True, text=True,
                          timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "[1, 2, 3, 4]"
