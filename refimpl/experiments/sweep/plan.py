"""From a validated spec to the runs of a sweep: each entry's points, times the seeds.

A *run* is one training run: a ``TrainConfig`` (seed included), the further optimizer
keywords, the data and the evaluation schedule. Its *task* is that description as a plain
JSON-able dict (what a worker receives), and its *key* a hash of the task: two entries that
ask for the same run share its key and it runs once; a rerun of the sweep recognises a
finished run by its key in the results file. Editing a point of the spec makes new keys for
it and leaves the other runs' results valid.

Order: runs are listed seed by seed (all points with the first seed, then the second ...),
so a sweep stopped early has covered the whole grid with its first seeds.
"""
from __future__ import annotations

import hashlib
import itertools
import json
import math
from dataclasses import dataclass

import numpy as np

from .spec import Entry, SweepSpec, train_config

TASK_FORMAT = "refimpl-sweep-task/1"


@dataclass(frozen=True)
class Point:
    """One run as an entry sees it.

    Attributes
    ----------
    entry : str
        The entry's name.
    settings : dict
        The values of the entry's varied settings (:attr:`Entry.varied`) at this point.
    seed : int
    key : str
        The run's key (:func:`run_key`).
    """

    entry: str
    settings: dict
    seed: int
    key: str


@dataclass(frozen=True)
class Plan:
    """The runs of a spec: ``tasks`` by key in run order, and every entry's ``points``."""

    spec: SweepSpec
    tasks: dict
    points: tuple

    def entry_points(self, name: str) -> list:
        return [p for p in self.points if p.entry == name]


def expand(spec: SweepSpec) -> Plan:
    """The :class:`Plan` of ``spec`` (deterministic: the same spec gives the same plan)."""
    per_entry = [(entry, entry_points(entry)) for entry in spec.entries]
    tasks, points, seen = {}, [], set()
    for seed in spec.seeds:
        for entry, entry_pts in per_entry:
            for point in entry_pts:
                task = make_task(spec, entry, point, seed)
                shown = {k: point[k] for k in entry.varied}
                ident = (entry.name, _canonical(shown), seed)
                if ident in seen:              # a random draw repeated within the entry
                    continue
                seen.add(ident)
                tasks.setdefault(task["key"], task)
                points.append(Point(entry.name, shown, seed, task["key"]))
    return Plan(spec, tasks, tuple(points))


def entry_points(entry: Entry) -> list:
    """The entry's points (dicts of grid and random settings): grid × random samples."""
    names = list(entry.grid)
    grid = [dict(zip(names, values, strict=True))
            for values in itertools.product(*entry.grid.values())]
    if entry.random is None:
        return grid
    rng = np.random.default_rng(entry.random.seed)
    drawn = [{name: draw(entry.random.params[name], rng)
              for name in sorted(entry.random.params)} for _ in range(entry.random.samples)]
    return [{**g, **d} for d in drawn for g in grid]


def draw(dist, rng: np.random.Generator):
    """One value of a :class:`~refimpl.experiments.sweep.spec.Distribution`."""
    if dist.kind == "choice":
        value = dist.args[int(rng.integers(len(dist.args)))]
        return list(value) if isinstance(value, list) else value
    lo, hi = dist.args
    if dist.kind == "int_uniform":
        return int(rng.integers(lo, hi + 1))
    if dist.kind == "log_uniform":
        value = math.exp(rng.uniform(math.log(lo), math.log(hi)))
    else:
        value = rng.uniform(lo, hi)
    return min(max(float(f"{value:.4g}"), lo), hi)   # rounded, still within the bounds


def make_task(spec: SweepSpec, entry: Entry, point: dict, seed: int) -> dict:
    """The task of ``point`` of ``entry`` with ``seed``: a JSON-able dict with its key.

    ``config`` is the complete ``TrainConfig.to_dict()`` (defaults filled in, so two ways of
    writing the same run are one run) with ``eval_every`` 0: the worker sets it from
    ``evals_per_epoch`` and the number of batches per epoch of the data it loads.
    """
    config, options = train_config(spec, entry, spec.settings(entry, point), seed=seed)
    task = {"format": TASK_FORMAT, "config": config.to_dict(), "options": options,
            "data": spec.data.to_dict(), "target": spec.target,
            "evals_per_epoch": spec.evals_per_epoch}
    return {"key": run_key(task), "entry": entry.name, **task}


def run_key(task: dict) -> str:
    """16 hex digits of the SHA-256 of the task's canonical JSON (``key`` and ``entry``
    left out)."""
    body = {k: v for k, v in task.items() if k not in ("key", "entry")}
    return hashlib.sha256(_canonical(body).encode()).hexdigest()[:16]


def _canonical(value) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), allow_nan=False)
