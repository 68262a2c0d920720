"""``reproduce``: the paper's optimizer comparison, end to end, in a few minutes on a CPU.

On the shipped MNIST subset (4,000 train / 1,000 test images) it trains an MLP 784-256-256-10
(tanh, softmax cross-entropy, batch 128) with each optimizer of :data:`PLAN`, every run from
the same initialisation and with the same batch order (one seed); with ``model="cnn"`` (or
``"3c3d"``, or an architecture file on images) the network of
:mod:`refimpl.experiments.models` with the optimizers of :data:`CNN_PLAN` (its sweep is in
``benchmarks/README.md``). It writes into ``out``:

- ``report.md``: table and commentary (:mod:`refimpl.experiments.report`);
- ``summary.json``: ``{"setup": {...}, "optimizers": {key: {...}}}``; per optimizer
  ``train_loss``, ``test_loss``, ``test_accuracy`` (a fraction), ``best_test_accuracy``,
  ``seconds_per_epoch``, ``seconds``, ``seconds_per_step`` and their process-CPU twins
  ``cpu_seconds_per_epoch``, ``cpu_seconds``, ``cpu_seconds_per_step``, ``warmup_seconds``
  and ``compile_seconds`` (the untimed warm-up steps, and their one-off part: Numba
  compilation or cache loading), ``other_cores`` / ``other_cores_max`` (the average number
  of cores other processes kept busy during its epochs: mean and worst epoch), ``epochs``,
  ``steps``, ``test_accuracy_by_epoch`` / ``train_loss_by_epoch`` (lists, index 0 =
  initialisation), ``epochs_to_90`` / ``seconds_to_90`` (first evaluation at ≥ 90%, else
  ``null``), ``optimizer``, ``hyperparameters``, ``title``, ``status`` (``"ok"`` /
  ``"diverged"``) and ``message``; the setup records the cores, the load averages, the
  other processes' load over the whole comparison (``other_cores``, ``loaded``) and the total
  ``compile_seconds``;
- one folder per optimizer (named by its key) with the run files of
  :func:`refimpl.experiments.training.train` (metrics and last checkpoint);
- ``loss_vs_epoch.png``, ``loss_vs_time.png``, ``accuracy_vs_time.png``
  (:mod:`refimpl.experiments.plots`; skipped with a note if matplotlib is missing).

Seconds are training time (optimizer steps, not evaluation), wall and process CPU; each run
warms up before its clock starts (:mod:`refimpl.experiments.training`), so the first metric
run's Numba compilation is reported as its ``compile_seconds``, not inside its training time.

The output folder is written as a whole: everything is built in a staging folder beside
``out`` and renamed into place at the end, so ``out`` never holds a half-written comparison
or run folders of an earlier one. A used ``out`` is refused unless ``overwrite=True``
(``--overwrite``), and then only if it holds an earlier comparison (a ``summary.json``).

How the defaults were chosen
----------------------------
The hyper-parameter sweeps behind :data:`PLAN` (SGD, Adam, Riemannian SGD under both output
metrics, network Gauss–Newton; learning rate, mass, epochs, the short last batch) are in
``benchmarks/README.md`` (section *Sweeps behind the reproduction's defaults*).
"""
from __future__ import annotations

import json
import os
import shutil
import sys
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .._outputs import check_output_dir, make_dirs, remove_empty_dirs, replace_dir, staging_dir
from ..data import Dataset, load_dataset
from ..optim import DivergenceError
from . import machine
from .config import DEFAULT_HYPER, TrainConfig
from .metrics_log import read_records
from .models import build_model, check_model, describe_model, takes_images
from .report import TARGET, render_report
from .training import steps_per_epoch, train


@dataclass(frozen=True)
class Run:
    """One optimizer of the comparison: its settings and its default number of epochs."""

    title: str
    optimizer: str
    hyper: dict = field(default_factory=dict)
    epochs: int = 1


PLAN = {
    "sgd": Run("SGD", "sgd", dict(DEFAULT_HYPER["sgd"]), epochs=30),
    "adam": Run("Adam", "adam", dict(DEFAULT_HYPER["adam"]), epochs=4),
    "riemannian-identity": Run("Riemannian SGD, identity output metric", "riemannian",
                               dict(DEFAULT_HYPER["riemannian"]), epochs=2),
    "riemannian-gauss-newton": Run("Riemannian SGD, Gauss-Newton output metric", "riemannian",
                                   {"lr": 1.0, "mass": 1.0, "output_metric": "gauss-newton"},
                                   epochs=8),
    "gauss-newton": Run("Damped Gauss-Newton, network scope", "gauss-newton",
                        dict(DEFAULT_HYPER["gauss-newton"]), epochs=8),
    "riemannian-gauss-newton-adaptive": Run(
        "Riemannian SGD, Gauss-Newton output metric, adaptive damping", "riemannian",
        {"lr": 1.0, "mass": 0.01, "output_metric": "gauss-newton",
         "damping": "adaptive-reject"}, epochs=8),
    "riemannian-gauss-newton-output-damped": Run(
        "Riemannian SGD, Gauss-Newton output metric + I, adaptive damping", "riemannian",
        {"lr": 1.0, "mass": 0.01, "output_metric": "gauss-newton", "output_damping": 1.0,
         "damping": "adaptive-reject"}, epochs=4),
    "riemannian-identity-float32": Run(
        "Riemannian SGD, identity output metric, float32", "riemannian",
        dict(DEFAULT_HYPER["riemannian"], dtype="float32"), epochs=2),
    "riemannian-identity-subsampled": Run(
        "Riemannian SGD, identity output metric, metric from 32 samples, adaptive damping, "
        "float32", "riemannian", {"lr": 1.0, "mass": 0.01, "output_metric": "identity",
                                  "damping": "adaptive-reject", "metric_batch": 32,
                                  "dtype": "float32"}, epochs=2),
    "kfac": Run("K-FAC (Gauss-Newton factors)", "kfac", dict(DEFAULT_HYPER["kfac"]), epochs=4),
}
"""The comparison's optimizers by key, with the settings chosen by the sweep above."""

CNN_PLAN = {
    "sgd": Run("SGD", "sgd", {"lr": 0.1}, epochs=20),
    "adam": Run("Adam", "adam", {"lr": 1e-3}, epochs=10),
    "riemannian-identity": Run("Riemannian SGD, identity output metric", "riemannian",
                               {"lr": 1.0, "mass": 0.1, "output_metric": "identity"},
                               epochs=4),
    "riemannian-gauss-newton": Run("Riemannian SGD, Gauss-Newton output metric", "riemannian",
                                   {"lr": 1.0, "mass": 1.0, "output_metric": "gauss-newton"},
                                   epochs=4),
    "gauss-newton": Run("Damped Gauss-Newton, network scope", "gauss-newton",
                        {"lr": 1.0, "mass": 1.0, "output_metric": "gauss-newton"}, epochs=4),
}
"""The comparison on the CNNs (a subset of :data:`PLAN`'s keys), each optimizer at the setting and
epoch count where the sweep on mnist-5k (``--model cnn``, ``benchmarks/README.md``) found its
best test accuracy."""

CNN_TARGET = 0.95
"""The test-accuracy mark of the CNN comparison (the MLP's is 90%)."""


def plan_for(model: str) -> tuple[dict, float]:
    """``(plan, target)`` for a model: the CNN plan for a model on images, else the MLP's."""
    return (CNN_PLAN, CNN_TARGET) if takes_images(check_model(model)) else (PLAN, TARGET)

EVALS_PER_EPOCH = 4


def reproduce(out="out/reproduce", *, dataset: str = "mnist-5k", data_dir=None,
              epochs: int | None = None, optimizers=None, seed: int = 0, model: str = "mlp",
              widths=(256, 256), batch_size: int = 128, data: Dataset | None = None,
              progress: bool | None = None, quiet: bool = False,
              overwrite: bool = False) -> dict:
    """Run the comparison and write report, summary, metrics and plots into ``out``.

    Parameters
    ----------
    out : str or os.PathLike
        Output folder, written as a whole at the end (module docstring).
    dataset, data_dir
        As for :func:`refimpl.data.load_dataset`.
    epochs : int, optional
        Epochs for every optimizer (default: each :class:`Run`'s own).
    optimizers : sequence of str, optional
        Keys of the model's plan (:data:`PLAN`, or :data:`CNN_PLAN` for a model on images) to
        run, in order (default: all of that plan).
    seed : int
        Seed of the shared initialisation and batch order.
    model : str
        ``"mlp"``, ``"cnn"``, ``"3c3d"`` or an architecture file
        (:mod:`refimpl.experiments.models`); a model on images runs :data:`CNN_PLAN`.
    widths : sequence of int
        Hidden widths of the MLP (``model="mlp"``).
    batch_size : int
    data : Dataset, optional
        Use these arrays instead of loading ``dataset`` (tests, notebooks).
    progress, quiet
        Passed to :func:`~refimpl.experiments.training.train`.
    overwrite : bool
        Replace an earlier comparison in ``out`` (the whole folder).

    Returns
    -------
    dict
        The summary written to ``summary.json``.

    Raises
    ------
    ValueError
        Unknown optimizer keys or settings; ``out`` a file, not writable, or already used
        (without ``overwrite``, or holding something other than a comparison). Checked
        before anything is trained.
    """
    plan, target = plan_for(model)
    keys = tuple(plan) if optimizers is None else tuple(optimizers)
    unknown = [k for k in keys if k not in plan]
    if unknown or not keys:
        raise ValueError(f"unknown optimizer key(s) {unknown or keys}; choose from "
                         + ", ".join(plan))
    configs = {k: TrainConfig(dataset=dataset, data_dir=None if data_dir is None
                              else str(data_dir), model=model, widths=tuple(widths),
                              activation="tanh", optimizer=plan[k].optimizer,
                              batch_size=batch_size,
                              epochs=plan[k].epochs if epochs is None else epochs,
                              seed=seed, **plan[k].hyper) for k in keys}
    out = check_reproduce_out(out, overwrite)
    created = make_dirs(out.parent)
    stage = staging_dir(out)
    try:
        summary = _run_all(stage, out, keys, configs, plan, target, dataset, data_dir, data,
                           batch_size, seed, progress, quiet)
        replace_dir(stage, out)
    except BaseException:
        shutil.rmtree(stage, ignore_errors=True)
        remove_empty_dirs(created)
        raise
    return summary


def check_reproduce_out(out, overwrite: bool) -> Path:
    """``out`` as a ``Path`` if the comparison may be written there (nothing is created)."""
    out = check_output_dir(out, "--out")
    if out.is_dir() and any(out.iterdir()):
        if not (out / "summary.json").is_file():
            raise ValueError(f"--out {out} holds files but no summary.json, so it is not the "
                             "output of an earlier `refimpl reproduce`; refusing to replace it: "
                             "choose another --out")
        if not overwrite:
            raise ValueError(f"--out {out} already holds a comparison; pass --overwrite to "
                             "replace the whole folder (the report, the summary and every run "
                             "folder in it), or choose another --out")
    return out


def _run_all(stage: Path, out: Path, keys, configs, plan, target, dataset, data_dir, data,
             batch_size, seed, progress, quiet) -> dict:
    """Train every run into ``stage`` and write the summary, report and plots there."""
    load_start = _loadavg()
    began = machine.sample()
    ds = load_dataset(dataset, data_dir) if data is None else data
    n_steps = steps_per_epoch(len(ds.y_train), next(iter(configs.values())))
    eval_every = max(n_steps // EVALS_PER_EPOCH, 1)
    results = {}
    for k in keys:
        config = configs[k].replace(eval_every=eval_every)
        if not quiet:
            print(f"[{k}] {plan[k].title}: {config.epochs} epoch(s), "
                  + ", ".join(f"{n}={v}" for n, v in config.hyper().items()), file=sys.stderr)
        try:
            train(config, stage / k, dataset=ds, progress=progress, quiet=quiet, label=k)
            results[k] = _summarise(plan[k], config, stage / k, target)
        except DivergenceError as exc:
            message = str(exc).replace(str(stage), str(out))
            results[k] = _summarise(plan[k], config, stage / k, target, failure=message)
            if not quiet:
                print(f"[{k}] diverged: {message}", file=sys.stderr)
    first = next(iter(configs.values()))
    label = describe_model(first, ds, build_model(first, ds))
    summary = {"setup": {"dataset": ds.name, "n_train": len(ds.y_train),
                         "n_test": len(ds.y_test), "model": label, "target": target,
                         "batch_size": batch_size,
                         "seed": seed, "loss": "cross_entropy", "cpu_count": os.cpu_count(),
                         "cores": machine.cores(),
                         "load_average_start": load_start, "load_average_end": _loadavg(),
                         "compile_seconds": sum(r["compile_seconds"] for r in results.values()),
                         "total_seconds": 0.0, "cpu_seconds": 0.0, "other_cores": None,
                         "loaded": False, "numpy": np.__version__},
               "optimizers": results}
    plots = _plots(results, stage, n_steps, f"{ds.name}, {label}", plan)
    usage = machine.between(began, machine.sample())
    summary["setup"].update(
        total_seconds=usage["seconds"], cpu_seconds=usage["cpu_seconds"],
        other_cores=usage["other_cores"],
        loaded=any(machine.is_loaded(v, usage["cores"]) for v in
                   [usage["other_cores"]] + [r["other_cores_max"] for r in results.values()]))
    (stage / "summary.json").write_text(json.dumps(summary, indent=1, allow_nan=False) + "\n")
    (stage / "report.md").write_text(render_report(summary, plots))
    return summary


def _summarise(run: Run, config: TrainConfig, run_dir: Path, target: float,
               failure: str | None = None) -> dict:
    """One optimizer's entry of ``summary.json``, from its metrics files."""
    epochs = read_records(run_dir / "epochs.jsonl")
    evals = read_records(run_dir / "evals.jsonl")
    steps = read_records(run_dir / "steps.jsonl")
    last = epochs[-1] if epochs else {}
    trained = [r for r in epochs if r["epoch"] > 0]
    seconds = float(last.get("time") or 0.0)
    cpu_seconds = float(last.get("cpu_time") or 0.0)
    total_steps = int(last.get("step") or 0)
    loads = [(r["other_cores"], r["seconds"]) for r in trained
             if r.get("other_cores") is not None]
    weight = sum(w for _, w in loads)
    hit = next((r for r in evals if (r.get("test_accuracy") or 0) >= TARGET), None)
    hit_target = next((r for r in evals if (r.get("test_accuracy") or 0) >= target), None)
    hyper = dict(config.hyper(), batch_size=config.batch_size)
    entry = {"title": run.title, "optimizer": config.optimizer, "hyperparameters": hyper,
             "epochs": len(trained), "steps": total_steps,
             "train_loss": last.get("train_loss"), "test_loss": last.get("test_loss"),
             "test_accuracy": last.get("test_accuracy"),
             "best_test_accuracy": max((r["test_accuracy"] for r in evals
                                        if r.get("test_accuracy") is not None), default=None),
             "seconds": seconds,
             "seconds_per_epoch": seconds / len(trained) if trained else None,
             "seconds_per_step": seconds / total_steps if total_steps else None,
             "cpu_seconds": cpu_seconds,
             "cpu_seconds_per_epoch": cpu_seconds / len(trained) if trained else None,
             "cpu_seconds_per_step": cpu_seconds / total_steps if total_steps else None,
             "warmup_seconds": sum(r.get("warmup_seconds") or 0.0 for r in epochs),
             "compile_seconds": sum(r.get("compile_seconds") or 0.0 for r in epochs),
             "other_cores": (sum(v * w for v, w in loads) / weight if weight > 0 else
                             (loads[0][0] if loads else None)),
             "other_cores_max": max((v for v, _ in loads), default=None),
             "test_accuracy_by_epoch": [r["test_accuracy"] for r in epochs],
             "train_loss_by_epoch": [r["train_loss"] for r in epochs],
             "epochs_to_90": None if hit is None else hit["epoch"],
             "seconds_to_90": None if hit is None else hit["time"],
             "epochs_to_target": None if hit_target is None else hit_target["epoch"],
             "seconds_to_target": None if hit_target is None else hit_target["time"],
             "status": "ok" if failure is None else "diverged", "message": failure}
    if failure is not None:
        entry["diverged_at_step"] = steps[-1]["step"] + 1 if steps else 1
    return entry


def _plots(results: dict, out: Path, steps_per_epoch: int, title: str, plan: dict) -> list:
    """Draw the plots; ``[]`` if matplotlib is not installed."""
    try:
        from .plots import RunCurves, plot_comparison
        runs = {k: RunCurves(plan[k].title, read_records(out / k / "steps.jsonl"),
                             read_records(out / k / "evals.jsonl"),
                             read_records(out / k / "epochs.jsonl"), steps_per_epoch)
                for k in results}
        return [p.name for p in plot_comparison(runs, out, title=title)]
    except ModuleNotFoundError as exc:
        if exc.name != "matplotlib":
            raise
        return []


def _loadavg() -> list | None:
    try:
        return [round(v, 2) for v in os.getloadavg()]
    except OSError:
        return None
