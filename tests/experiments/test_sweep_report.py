"""The sweep report from records made here: means and standard errors, diverged runs, the
reading, the plots."""
import json
import math

import numpy as np
import pytest
from sweep_cases import TINY

from refimpl.experiments.sweep import expand, parse_spec
from refimpl.experiments.sweep.record import make_record, without_timing
from refimpl.experiments.sweep.report import write_report
from refimpl.experiments.sweep.summary import stat

SPEC = TINY.replace("lr = [1.0]", "lr = [0.5, 1.0]")
"""Riemannian mass × lr (2 × 2, so heatmaps), momentum beta (2); seeds 0 and 1."""


def _record(task, accuracy, *, diverged=False, reached_at=None):
    """A record with a final accuracy, optionally diverged, reaching the target at a step."""
    epochs = [{"epoch": 0, "step": 0, "test_accuracy": 0.1, "time": 0.0, "seconds": 0.0},
              {"epoch": 1, "step": 6, "test_accuracy": accuracy, "train_loss": 0.5,
               "test_loss": 0.6, "time": 1.2, "seconds": 1.2}]
    evals = [{"step": 0, "epoch": 0.0, "time": 0.0, "test_accuracy": 0.1},
             {"step": 3, "epoch": 0.5, "time": 0.6,
              "test_accuracy": 0.6 if reached_at == 3 else 0.3},
             {"step": 6, "epoch": 1.0, "time": 1.2, "test_accuracy": accuracy}]
    return make_record(task, task["config"], status="diverged" if diverged else "ok",
                       message="the loss exploded" if diverged else None,
                       epochs=epochs[:1] if diverged else epochs,
                       evals=evals[:2] if diverged else evals, steps=6, data=task["data"],
                       wall_seconds=2.0, worker={}, versions={})


@pytest.fixture(scope="module")
def report(tmp_path_factory):
    tmp_path = tmp_path_factory.mktemp("report")
    plan = expand(parse_spec(SPEC))
    rng = np.random.default_rng(0)
    truth, records = {}, {}
    for p in plan.points:
        task = plan.tasks[p.key]
        s = p.settings
        if p.entry == "riem" and s == {"mass": 0.01, "lr": 1.0}:
            records[p.key] = _record(task, 0.0, diverged=True)
            continue
        if p.entry == "riem" and s == {"mass": 0.1, "lr": 1.0} and p.seed == 1:
            records[p.key] = _record(task, 0.0, diverged=True, reached_at=3)
            continue
        acc = round(float(rng.uniform(0.5, 0.9)), 2)       # >= the target 0.5: reached
        records[p.key] = _record(task, acc, reached_at=3 if acc > 0.7 else 6)
        truth.setdefault((p.entry, json.dumps(s)), []).append(acc)
        truth.setdefault(("hit", p.entry, json.dumps(s)), []).append(3 if acc > 0.7 else 6)
    path = write_report(plan, records, tmp_path)
    summary = json.loads((tmp_path / "summary.json").read_text())
    return path.read_text(), summary, truth, tmp_path


def test_stat_is_mean_and_standard_error():
    values = [0.81, 0.84, 0.80]
    s = stat(values)
    assert s["n"] == 3 and math.isclose(s["mean"], np.mean(values), rel_tol=1e-15)
    assert math.isclose(s["se"], np.std(values, ddof=1) / np.sqrt(3), rel_tol=1e-12)
    assert stat([0.5]) == {"mean": 0.5, "se": None, "n": 1}
    assert stat([]) == {"mean": None, "se": None, "n": 0}


def test_tables_show_mean_and_standard_error_over_the_finished_seeds(report):
    text, summary, truth, _ = report
    for entry, rows in summary["entries"].items():
        for row in rows["rows"]:
            accs = truth.get((entry, json.dumps(row["settings"])))
            if not accs:
                continue
            assert math.isclose(row["accuracy"]["mean"], np.mean(accs), rel_tol=1e-12)
            cell = f"{100 * np.mean(accs):.1f}"
            if len(accs) > 1:
                cell += f" ± {100 * np.std(accs, ddof=1) / np.sqrt(len(accs)):.1f}"
            assert f"| {cell} " in text
    riem = {json.dumps(r["settings"]): r for r in summary["entries"]["riem"]["rows"]}
    all_div = riem[json.dumps({"mass": 0.01, "lr": 1.0})]
    assert all_div["diverged"] == 2 and all_div["accuracy"]["n"] == 0
    half = riem[json.dumps({"mass": 0.1, "lr": 1.0})]
    assert half["ok"] == 1 and half["diverged"] == 1 and half["finished"] == 2
    assert "| 0.01 | 1 | 2 diverged |" in text
    assert "(1 diverged)" in text


def test_time_to_target_counts_the_runs_that_reached_it(report):
    _, summary, truth, _ = report
    for entry in ("riem", "momentum"):
        for row in summary["entries"][entry]["rows"]:
            assert row["reached"] == row["seconds_to_target"]["n"] \
                == row["steps_to_target"]["n"]
            steps = truth.get(("hit", entry, json.dumps(row["settings"])), [])
            if row["diverged"]:            # a diverged run that got there first counts
                steps = steps + [3] * (row["diverged"] == 1)
            assert row["reached"] == len(steps)
            if steps:
                assert math.isclose(row["steps_to_target"]["mean"], np.mean(steps))
                assert math.isclose(row["seconds_to_target"]["mean"], 0.2 * np.mean(steps))


def test_reading_names_the_best_setting_and_the_divergences(report):
    text, summary, _, _ = report
    reading = text.split("## Reading")[1].split("## ")[0]
    best = max((r for r in summary["entries"]["riem"]["rows"] if r["accuracy"]["n"]),
               key=lambda r: r["accuracy"]["mean"])
    settings = ", ".join(f"{k}={v:g}" for k, v in best["settings"].items())
    assert f"riem: best final accuracy {100 * best['accuracy']['mean']:.1f}%" in reading
    assert settings in reading
    assert "riem: diverged on every seed at mass=0.01, lr=1, on some seeds at mass=0.1, " \
           "lr=1." in reading
    assert "Sessions" not in text                      # no sessions.jsonl in this folder


def test_heatmaps_are_drawn_for_mass_by_lr(report):
    pytest.importorskip("matplotlib")
    text, summary, _, folder = report
    assert summary["plots"]["riem"] == ["heatmap-riem.png"]
    assert summary["plots"]["momentum"] == []
    assert (folder / "heatmap-riem.png").stat().st_size > 10_000
    assert "![heatmap-riem.png](heatmap-riem.png)" in text


def test_timings_are_all_that_without_timing_drops():
    plan = expand(parse_spec(TINY))
    task = next(iter(plan.tasks.values()))
    a, b = _record(task, 0.8), _record(task, 0.8)
    b["wall_seconds"], b["epochs"][1]["time"], b["evals"][2]["time"] = 9.0, 7.0, 7.0
    assert a != b and without_timing(a) == without_timing(b)
    b["epochs"][1]["test_accuracy"] = 0.81
    assert without_timing(a) != without_timing(b)
