"""PNG plots of a comparison: loss against epochs and against wall time, test accuracy against
wall time.

matplotlib is an optional dependency (``pip install -e .[plots]``); it is imported here, inside
:func:`plot_comparison`, with the non-interactive Agg backend, so nothing else in ``refimpl``
needs it.

Each run is given as a :class:`RunCurves`: the records of its ``steps.jsonl``, ``evals.jsonl``
and ``epochs.jsonl`` (:mod:`refimpl.experiments.training`). Loss curves show the per-step batch
loss smoothed by a running mean over ``smooth`` steps (faint: the raw batch loss) and the
whole-training-set loss at epoch ends (markers); wall time is cumulative training time, on a
log axis (a metric step costs 10–30 SGD steps), so the evaluation at time 0 is left out.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

PLOTS = ("loss_vs_epoch.png", "loss_vs_time.png", "accuracy_vs_time.png")


@dataclass(frozen=True)
class RunCurves:
    """One run's metrics records and its legend title."""

    title: str
    steps: list
    evals: list
    epochs: list
    steps_per_epoch: int


def plot_comparison(runs: dict, out, *, smooth: int = 8, title: str = "") -> list[Path]:
    """Write the three plots of :data:`PLOTS` into ``out``; return their paths.

    Parameters
    ----------
    runs : dict of str to RunCurves
    out : str or os.PathLike
        Existing folder.
    smooth : int
        Window of the running mean over batch losses.
    title : str
        Figure title prefix (e.g. the data set and model).

    Raises
    ------
    ModuleNotFoundError
        matplotlib is not installed.
    """
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    out = Path(out)
    colors = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    paths = []
    for name, (xlabel, ylabel, draw) in {
        "loss_vs_epoch.png": ("epoch", "cross-entropy loss", _loss_vs_epoch),
        "loss_vs_time.png": ("training time (s)", "cross-entropy loss", _loss_vs_time),
        "accuracy_vs_time.png": ("training time (s)", "test accuracy (%)", _accuracy_vs_time),
    }.items():
        fig, ax = plt.subplots(figsize=(7, 4.5), dpi=110)
        for i, curves in enumerate(runs.values()):
            draw(ax, curves, colors[i % len(colors)], smooth)
        ax.set_xlabel(xlabel)
        ax.set_ylabel(ylabel)
        if "time" in name:
            ax.set_xscale("log")              # step costs differ by 10-30x between optimizers
        if name == "accuracy_vs_time.png":
            low = min((100 * r["test_accuracy"] for c in runs.values() for r in c.evals
                       if r.get("test_accuracy") is not None and r["time"] > 0), default=0.0)
            ax.set_ylim(max(0.0, min(low, 88.0) - 1.0), 100.0)
        if "loss" in name:
            ax.set_yscale("log")
            ax.set_xlabel(f"{xlabel}\nline: running mean of batch losses; dots: whole "
                          "training set at epoch ends", fontsize=9)
        ax.grid(True, which="both", alpha=0.3)
        ax.legend(fontsize=8, loc="best")
        ax.set_title(f"{title}: {ylabel} vs {xlabel.split(' (')[0]}" if title else None,
                     fontsize=10)
        fig.tight_layout()
        fig.savefig(out / name)
        plt.close(fig)
        paths.append(out / name)
    return paths


def _running_mean(values: np.ndarray, window: int) -> np.ndarray:
    """Mean of the last ``window`` values at each position (fewer at the start)."""
    c = np.cumsum(np.insert(values, 0, 0.0))
    n = np.arange(1, len(values) + 1)
    lo = np.maximum(n - window, 0)
    return (c[n] - c[lo]) / (n - lo)


def _step_losses(curves: RunCurves):
    steps = [r for r in curves.steps if r.get("loss") is not None]
    step = np.array([r["step"] for r in steps], dtype=float)
    loss = np.array([r["loss"] for r in steps], dtype=float)
    time = np.array([r["time"] for r in steps], dtype=float)
    return step, loss, time


def _loss_vs_epoch(ax, curves: RunCurves, color, smooth):
    step, loss, _ = _step_losses(curves)
    x = (step - 1) / curves.steps_per_epoch      # the batch loss is taken before step `step`
    ax.plot(x, loss, color=color, alpha=0.15, lw=0.8)
    ax.plot(x, _running_mean(loss, smooth), color=color, lw=1.5, label=curves.title)
    ep = [r for r in curves.epochs if r.get("train_loss") is not None]
    ax.plot([r["epoch"] for r in ep], [r["train_loss"] for r in ep], "o", color=color, ms=4)


def _loss_vs_time(ax, curves: RunCurves, color, smooth):
    _, loss, time = _step_losses(curves)         # time after each step: > 0 on the log axis
    ax.plot(time, loss, color=color, alpha=0.15, lw=0.8)
    ax.plot(time, _running_mean(loss, smooth), color=color, lw=1.5, label=curves.title)
    ep = [r for r in curves.epochs if r.get("train_loss") is not None and r["time"] > 0]
    ax.plot([r["time"] for r in ep], [r["train_loss"] for r in ep], "o", color=color, ms=4)


def _accuracy_vs_time(ax, curves: RunCurves, color, smooth):
    ev = [r for r in curves.evals if r.get("test_accuracy") is not None and r["time"] > 0]
    acc = [100 * r["test_accuracy"] for r in ev]
    ax.plot([r["time"] for r in ev], acc, "o-", color=color, ms=3, lw=1.5, label=curves.title)
    ax.axhline(90, color="grey", lw=0.8, ls="--")
