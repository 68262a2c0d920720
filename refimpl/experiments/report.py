"""``report.md`` of a comparison: the table and a short commentary generated from the numbers.

Input is the summary that :func:`refimpl.experiments.reproduction.reproduce` writes to
``summary.json``; nothing here trains or reads metrics. The commentary states only what the
numbers show (who reached the target test accuracy — ``setup["target"]``, 90% for the MLP
comparison, 95% for the CNN one — how soon in epochs and in seconds, what a step
costs relative to SGD in wall and in CPU time, the lowest training loss, divergences, the
compilation time kept out of the clocks) and the machine load measured during the runs: when
other processes kept more than a tenth of the cores busy
(:data:`~refimpl.experiments.machine.LOADED_FRACTION`), the report says so and names the runs,
since contention inflates the wall times of multi-threaded steps far more than their CPU time.
"""
from __future__ import annotations

from .machine import LOADED_FRACTION

TARGET = 0.9
"""The test-accuracy mark the commentary refers to when the summary names none."""


def _target(summary: dict) -> float:
    return summary["setup"].get("target", TARGET)


def _reached(r: dict):
    """``(epochs, seconds)`` to the target accuracy, or ``(None, None)``."""
    if "seconds_to_target" in r:
        return r["epochs_to_target"], r["seconds_to_target"]
    return r["epochs_to_90"], r["seconds_to_90"]


def render_report(summary: dict, plots: list) -> str:
    """Markdown text of the report for ``summary`` (see ``summary.json``) and plot files."""
    setup, runs = summary["setup"], summary["optimizers"]
    target = f"{_target(summary):.0%}"
    lines = [f"# Optimizer comparison on {setup['dataset']}", "",
             f"{setup['model']}, softmax cross-entropy, batch {setup['batch_size']}, "
             f"{setup['n_train']:,} training / {setup['n_test']:,} test images, seed "
             f"{setup['seed']}. Every optimizer starts from the same initialisation and sees "
             "the same batches in the same order. Times are training time (steps only; "
             "evaluation and the untimed warm-up steps excluded), wall clock and process CPU "
             f"time (all threads), on {_cores(setup)}, load average "
             f"{_load(setup['load_average_start'])} at the start and "
             f"{_load(setup['load_average_end'])} at the end; "
             f"{setup['total_seconds']:.0f} s in all.", "", _machine_sentence(summary), "",
             "| optimizer | settings | epochs | final train loss | test accuracy "
             f"| s / epoch | CPU s / epoch | total s | {target} reached |",
             "|---|---|---:|---:|---:|---:|---:|---:|---|"]
    for run in runs.values():
        lines.append(_row(run))
    lines += ["", "Final train loss: mean cross-entropy over the whole training set after the "
              "last epoch. Test accuracy: after the last epoch. CPU s: this process's CPU "
              "time over the same steps (above the wall time when a step keeps several cores "
              f"busy). \"{target} reached\": first evaluation at or above {target} test "
              "accuracy (epoch, training seconds).", "",
              "## Commentary", ""]
    lines += [f"- {sentence}" for sentence in commentary(summary)]
    if plots:
        lines += ["", "## Plots", ""]
        lines += [f"![{p}]({p})" for p in plots]
    else:
        lines += ["", "Plots were not drawn: matplotlib is not installed "
                  "(`pip install -e .[plots]`)."]
    lines += ["", "Per-run metrics (`steps.jsonl`, `evals.jsonl`, `epochs.jsonl`) and the last "
              "checkpoint are in the folder of each run, named by the first column's key in "
              "`summary.json`.", ""]
    return "\n".join(lines)


def commentary(summary: dict) -> list[str]:
    """Sentences about the numbers in ``summary``."""
    runs, target = summary["optimizers"], _target(summary)
    ok = {k: r for k, r in runs.items() if r["status"] == "ok"}
    out = []
    for r in runs.values():
        if r["status"] != "ok":
            out.append(f"{r['title']} diverged: {r['message']}")
    reached = {k: r for k, r in ok.items() if _reached(r)[1] is not None}
    missed = [r["title"] for k, r in ok.items() if k not in reached]
    if ok and not missed:
        out.append(f"Every optimizer that ran to the end reached {target:.0%} test accuracy.")
    if missed:
        out.append(f"Below {target:.0%} test accuracy at every evaluation: "
                   + "; ".join(missed) + ".")
    if reached:
        by_epoch = min(reached.values(), key=_reached)
        by_time = min(reached.values(), key=lambda r: _reached(r)[1])
        out.append(f"Fewest epochs to {target:.0%}: {by_epoch['title']} "
                   f"({_reached(by_epoch)[0]:.3g} epochs). Least training time to "
                   f"{target:.0%}: {by_time['title']} ({_secs(_reached(by_time)[1])} s).")
    after_one = sorted(((r["test_accuracy_by_epoch"][1], r["title"]) for r in ok.values()
                        if len(r.get("test_accuracy_by_epoch") or []) > 1), reverse=True)
    if len(after_one) > 1:
        out.append("Test accuracy after one epoch (the same batches for all): "
                   + "; ".join(f"{t} {100 * a:.1f}%" for a, t in after_one) + ".")
    if "sgd" in ok and ok["sgd"]["seconds_per_step"] > 0:
        base = ok["sgd"]["seconds_per_step"]
        cpu_base = ok["sgd"].get("cpu_seconds_per_step") or 0.0
        costs = [f"{r['title']} {r['seconds_per_step'] / base:.0f}x"
                 + (f" ({r['cpu_seconds_per_step'] / cpu_base:.0f}x in CPU time)"
                    if cpu_base > 0 and r.get("cpu_seconds_per_step") else "")
                 for k, r in ok.items() if k != "sgd" and r["seconds_per_step"] / base >= 2]
        if costs:
            out.append(f"A step costs, relative to an SGD step ({1e3 * base:.3g} ms wall"
                       + (f", {1e3 * cpu_base:.3g} ms CPU" if cpu_base > 0 else "") + "): "
                       + "; ".join(costs) + ".")
    if ok:
        best = min(ok.values(), key=lambda r: r["train_loss"])
        top = max(ok.values(), key=lambda r: r["test_accuracy"])
        out.append(f"Lowest final training loss: {best['title']} ({best['train_loss']:.3f}); "
                   f"highest final test accuracy: {top['title']} "
                   f"({100 * top['test_accuracy']:.1f}%).")
        few = [r["title"] for r in ok.values() if r["epochs"] < max(s["epochs"] for s in
                                                                     ok.values())]
        if few:
            out.append("The epoch counts differ by optimizer (chosen so the whole comparison "
                       "fits in a few minutes); compare the runs at equal time in the plots, "
                       "not only at their last epoch.")
    compiled = {k: r for k, r in runs.items() if (r.get("compile_seconds") or 0) >= 0.05}
    if compiled:
        out.append("Kept out of the training times: one-off costs of the first steps (Numba "
                   "compiling the metric kernels or loading its cache, BLAS start-up), "
                   + "; ".join(f"{r['title']} {r['compile_seconds']:.2g} s"
                               for r in compiled.values())
                   + " (each run's first untimed step minus its second).")
    return out


def _cores(setup: dict) -> str:
    cores = setup.get("cores") or setup["cpu_count"]
    return f"{cores} core{'s' if cores != 1 else ''}"


def _machine_sentence(summary: dict) -> str:
    """Whether other processes loaded the machine while the runs were timed."""
    setup, runs = summary["setup"], summary["optimizers"]
    cores = setup.get("cores") or setup["cpu_count"] or 1
    limit = LOADED_FRACTION * cores
    if setup.get("other_cores") is None:
        return ("Machine load during the runs: unknown (no /proc/stat on this system); wall "
                "times may include contention with other processes.")
    busy = {r["title"]: r["other_cores_max"] for r in runs.values()
            if r.get("other_cores_max") is not None and r["other_cores_max"] > limit}
    head = (f"Machine load: other processes kept {setup['other_cores']:.2f} of the {cores} "
            "cores busy on average during the comparison")
    if not busy and setup["other_cores"] <= limit:
        return head + ", so the wall times are those of a quiet machine."
    worst = "; ".join(f"{t} up to {v:.2f}" for t, v in busy.items())
    return (f"**The machine was loaded while the runs were timed.** {head}"
            + (f" (per epoch: {worst})" if worst else "") + ". Contention inflates wall "
            "times, the most for steps that use several cores (BLAS threads), so wall-time "
            "ratios between optimizers are off; compare the CPU-time column, or rerun on a "
            "quiet machine.")


def _row(r: dict) -> str:
    settings = ", ".join(f"{k}={_num(v)}" for k, v in r["hyperparameters"].items())
    if r["status"] != "ok":
        return f"| {r['title']} | {settings} | {r['epochs']} | diverged |" + " – |" * 5
    epochs, seconds = _reached(r)
    hit = "no" if seconds is None else f"epoch {epochs:.3g}, {_secs(seconds)} s"
    cpu = r.get("cpu_seconds_per_epoch")
    return (f"| {r['title']} | {settings} | {r['epochs']} | {r['train_loss']:.4f} | "
            f"{100 * r['test_accuracy']:.1f}% | {_secs(r['seconds_per_epoch'])} | "
            f"{'–' if cpu is None else _secs(cpu)} | {_secs(r['seconds'])} | {hit} |")


def _secs(v) -> str:
    return f"{v:.3g}" if v < 100 else f"{v:.0f}"


def _num(v) -> str:
    return f"{v:g}" if isinstance(v, float) else str(v)


def _load(values) -> str:
    return "/".join(f"{v:.1f}" for v in values) if values else "unknown"
