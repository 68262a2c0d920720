"""``refimpl.experiments.machine``: CPU time of this process and the load of others; the report
says when the machine was loaded."""
import subprocess
import sys
import threading
import time

import pytest

from refimpl.experiments import machine
from refimpl.experiments.report import render_report


def test_this_process_cpu_time_counts_every_thread():
    def work():
        total = 0
        for i in range(2_000_000):
            total += i * i
        return total

    def cpu_of(run):
        start = machine.sample()
        run()
        return machine.between(start, machine.sample())

    here = cpu_of(work)

    def in_a_thread():
        t = threading.Thread(target=work)
        t.start()
        t.join()

    there = cpu_of(in_a_thread)
    assert here["cpu_seconds"] > 0 and there["cpu_seconds"] > 0.5 * here["cpu_seconds"]
    assert here["seconds"] > 0 and here["cores"] == machine.cores() >= 1


@pytest.mark.skipif(machine.sample().busy is None, reason="no /proc/stat on this system")
def test_another_process_busy_on_a_core_is_seen_as_load():
    child = subprocess.Popen([sys.executable, "-c", "import time\nend = time.time() + 3\n"
                              "while time.time() < end: pass"])
    try:
        time.sleep(0.5)                                  # let it start spinning
        start = machine.sample()
        time.sleep(1.5)
        usage = machine.between(start, machine.sample())
    finally:
        child.kill()
        child.wait()
    assert usage["cpu_seconds"] < 0.2                    # we slept
    assert usage["other_cores"] > 0.5                    # the child kept (about) a core busy
    assert machine.is_loaded(usage["other_cores"], 2)
    assert not machine.is_loaded(0.1, 2) and not machine.is_loaded(None, 2)


def _summary(other_cores, per_run):
    run = {"title": "SGD", "optimizer": "sgd", "hyperparameters": {"lr": 0.2}, "epochs": 1,
           "steps": 3, "train_loss": 0.5, "test_loss": 0.6, "test_accuracy": 0.8,
           "best_test_accuracy": 0.8, "seconds": 1.0, "seconds_per_epoch": 1.0,
           "seconds_per_step": 0.3, "cpu_seconds": 1.8, "cpu_seconds_per_epoch": 1.8,
           "cpu_seconds_per_step": 0.6, "warmup_seconds": 2.0, "compile_seconds": 1.7,
           "other_cores": per_run, "other_cores_max": per_run, "test_accuracy_by_epoch": [0.1, 0.8],
           "train_loss_by_epoch": [2.3, 0.5], "epochs_to_90": None, "seconds_to_90": None,
           "status": "ok", "message": None}
    setup = {"dataset": "mnist-5k", "n_train": 48, "n_test": 24, "model": "6-4-3 tanh",
             "batch_size": 16, "seed": 0, "cpu_count": 2, "cores": 2,
             "load_average_start": [0.5, 0.5, 0.5], "load_average_end": [0.6, 0.5, 0.5],
             "total_seconds": 5.0, "cpu_seconds": 6.0, "other_cores": other_cores,
             "loaded": False, "compile_seconds": 1.7}
    return {"setup": setup, "optimizers": {"sgd": run}}


def test_the_report_says_when_the_machine_was_loaded():
    quiet = render_report(_summary(0.05, 0.02), [])
    assert "the wall times are those of a quiet machine" in quiet
    assert "| SGD | lr=0.2 | 1 | 0.5000 | 80.0% | 1 | 1.8 | 1 |" in quiet
    assert "Kept out of the training times" in quiet and "SGD 1.7 s" in quiet
    loaded = render_report(_summary(0.9, 1.2), [])
    assert "**The machine was loaded while the runs were timed.**" in loaded
    assert "0.90 of the 2 cores" in loaded and "SGD up to 1.20" in loaded
    assert "compare the CPU-time column" in loaded
    unknown = render_report(_summary(None, None), [])
    assert "Machine load during the runs: unknown" in unknown
