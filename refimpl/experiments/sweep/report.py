"""A sweep's report: ``report.md`` (tables, plots, a reading of the numbers) and
``summary.json``.

:func:`write_report` takes the plan and the latest record of each run, summarises them
(:mod:`~refimpl.experiments.sweep.summary`), draws the plots (:mod:`~refimpl.experiments.
sweep.plots`; left out with a note when matplotlib is missing) and writes:

- ``summary.json``: ``{"sweep", "target", "seeds", "data", "runs", "sessions", "entries"}``
  with each entry's rows as in :func:`~refimpl.experiments.sweep.summary.summarise`;
- ``report.md``: one table per entry (mean ± standard error over the seeds of the final test
  accuracy and of the time to target, with steps to target, which do not depend on the
  machine's load), its heatmaps and batch-size curves, and the *reading*: sentences generated
  from the numbers (:func:`reading`), stating only what they show.

The sessions (``sessions.jsonl``: start, duration, workers, load average) are listed so that
the times can be judged: they are training seconds of one run on one worker, measured on
whatever else the machine was doing.
"""
from __future__ import annotations

import json
import math
import os
from pathlib import Path

from ..metrics_log import read_records
from . import plots
from .plan import Plan
from .results import SESSIONS
from .summary import summarise


def write_report(plan: Plan, records: dict, out) -> Path:
    """Write ``summary.json``, ``report.md`` and the plots into ``out``; return the report's
    path. ``records`` maps run keys to their latest record."""
    out = Path(out)
    spec = plan.spec
    entries = summarise(plan, records)
    figures = _draw(entries, out, spec.target)
    statuses = {s: sum(1 for k in plan.tasks if (records.get(k) or {}).get("status") == s)
                for s in ("ok", "diverged", "error")}
    statuses["missing"] = sum(1 for k in plan.tasks if k not in records)
    sizes = next((r["data"] for r in records.values() if "n_train_used" in r["data"]), None)
    summary = {"sweep": spec.name, "description": spec.description, "target": spec.target,
               "seeds": list(spec.seeds), "data": sizes or spec.data.to_dict(),
               "shared": spec.shared, "runs": {"total": len(plan.tasks), **statuses},
               "sessions": read_records(out / SESSIONS), "entries": entries,
               "plots": {k: [p.name for p in v] for k, v in figures.items()}}
    _write(out / "summary.json", json.dumps(summary, indent=1, allow_nan=False) + "\n")
    _write(out / "report.md", render(summary))
    return out / "report.md"


def _draw(entries: dict, out: Path, target: float) -> dict:
    try:
        figures = {}
        for name, entry in entries.items():
            paths = plots.heatmaps(name, entry, out, target)
            curve = plots.batch_curves(name, entry, out, target)
            figures[name] = paths + ([curve] if curve else [])
        overview = plots.batch_overview(entries, out, target)
        if overview:
            figures["_overview"] = [overview]
        return figures
    except ModuleNotFoundError as exc:
        if exc.name != "matplotlib":
            raise
        return {}


def render(summary: dict) -> str:
    """The Markdown text of ``report.md`` for ``summary`` (``summary.json``'s dict)."""
    target = 100 * summary["target"]
    runs, data = summary["runs"], summary["data"]
    shared = summary["shared"]
    widths = shared.get("widths")
    lines = [f"# Sweep `{summary['sweep']}`", ""]
    if summary["description"]:
        lines += [summary["description"].strip(), ""]
    n_test = data.get("n_test_used") or data.get("n_test")
    lines += [
        f"Data: {data['name']}" + (f", {data['n_train_used']:,} training / {n_test:,} test "
                                   "images" if data.get("n_train_used") else "")
        + (f"; MLP with hidden widths {'-'.join(map(str, widths))}" if widths else "")
        + (f" ({shared['activation']})" if "activation" in shared else "")
        + ", softmax cross-entropy. Seeds " + ", ".join(map(str, summary["seeds"]))
        + f" (each seed: its own initialisation and batch order). Target: {target:g}% test "
        "accuracy, checked at every evaluation.", "",
        f"Runs: {runs['total']} — {runs['ok']} finished, {runs['diverged']} diverged, "
        f"{runs['error']} failed, {runs['missing']} not run yet.", ""]
    if n_test:
        p = min(max(summary["target"], 0.5), 0.99)
        lines += [f"Noise: the test accuracy of one seed on {n_test:,} images has a binomial "
                  f"standard error of about {100 * math.sqrt(p * (1 - p) / n_test):.1f} points "
                  f"near {100 * p:g}%; the tables give mean ± standard error over the seeds.",
                  ""]
    lines += _sessions(summary["sessions"])
    lines += ["## Reading", ""] + [f"- {s}" for s in reading(summary)] + [""]
    for name, entry in summary["entries"].items():
        lines += _entry_section(name, entry, summary["plots"].get(name, []), target)
    if "_overview" in summary["plots"]:
        lines += ["## Batch size across optimizers", "",
                  "Each optimizer at the setting of its other swept values with the best mean "
                  "accuracy over the batch sizes.", ""]
        lines += [f"![batch size]({p})" for p in summary["plots"]["_overview"]] + [""]
    if not summary["plots"]:
        lines += ["Plots were not drawn: matplotlib is not installed (`pip install -e "
                  ".[plots]`).", ""]
    lines += ["Every run's record (configuration, per-epoch metrics, evaluations, time to "
              "target, versions) is a line of `results.jsonl`; the numbers above are in "
              "`summary.json`.", ""]
    return "\n".join(lines)


def _sessions(sessions: list) -> list:
    if not sessions:
        return []
    out = ["Sessions (times are training seconds of one run on one single-threaded worker, "
           "so they follow the machine's load; steps to target do not):", ""]
    for s in sessions:
        load = lambda v: "/".join(f"{x:.1f}" for x in v) if v else "unknown"  # noqa: E731
        out.append(f"- {s.get('started', '?')}: {s.get('ran', 0)} runs in "
                   f"{_clock(s.get('seconds') or 0)} on {s.get('where', '?')}; load average "
                   f"{load(s.get('load_average_start'))} at the start, "
                   f"{load(s.get('load_average_end'))} at the end"
                   + (" (interrupted)" if s.get("interrupted") else ""))
    return out + [""]


def _entry_section(name: str, entry: dict, figures: list, target: float) -> list:
    varied = entry["varied"]
    fixed = {k: v for k, v in entry["fixed"].items() if k not in varied}
    lines = [f"## {entry['title']} (`{name}`)", "",
             f"Optimizer `{entry['optimizer']}`; fixed: "
             + (", ".join(f"{k}={_fmt(v)}" for k, v in fixed.items()) or "defaults") + ".", ""]
    head = [*varied, "final test accuracy (%)", f"reached {target:g}% (of finished)",
            f"seconds to {target:g}%", f"steps to {target:g}%", "ms / step"]
    lines += ["| " + " | ".join(head) + " |", "|" + "---:|" * len(head)]
    for r in entry["rows"]:
        cells = [_fmt(r["settings"][k]) for k in varied]
        cells += [_accuracy_cell(r), f"{r['reached']}/{r['finished']}" if r["finished"] else "–",
                  _stat_cell(r["seconds_to_target"], "{:.3g}"),
                  _stat_cell(r["steps_to_target"], "{:.0f}"),
                  _stat_cell(r["seconds_per_step"], "{:.3g}", scale=1e3, se=False)]
        lines.append("| " + " | ".join(cells) + " |")
    errors = sorted({e for r in entry["rows"] for e in r["errors"]})
    lines.append("")
    if errors:
        lines += ["Errors: " + "; ".join(f"`{e}`" for e in errors[:3]), ""]
    lines += [f"![{p}]({p})" for p in figures]
    return lines + [""]


def _accuracy_cell(r: dict) -> str:
    text = _stat_cell(r["accuracy"], "{:.1f}", scale=100.0)
    notes = [f"{r[s]} {label}" for s, label in (("diverged", "diverged"), ("error", "failed"),
                                                 ("missing", "not run")) if r[s]]
    if r["ok"] == 0:
        return ", ".join(notes) or "–"
    return text + (f" ({', '.join(notes)})" if notes else "")


def _stat_cell(s: dict, fmt: str, scale: float = 1.0, se: bool = True) -> str:
    """``mean ± se`` of a statistic (``se`` to one more digit for counts)."""
    if s["mean"] is None:
        return "–"
    value = scale * s["mean"]
    text = f"{value:.0f}" if fmt == "{:.3g}" and abs(value) >= 1000 else fmt.format(value)
    if se and s["se"] is not None:
        text += " ± " + ("{:.1f}" if fmt == "{:.0f}" else fmt).format(scale * s["se"])
    return text


def reading(summary: dict) -> list[str]:
    """Sentences about what the numbers of ``summary`` show."""
    out = []
    target = summary["target"]
    for entry in summary["entries"].values():
        out += _entry_reading(entry, target)
    return out or ["No run has finished yet."]


def _entry_reading(entry: dict, target: float) -> list[str]:
    rows = entry["rows"]
    title = entry["title"]
    done = [r for r in rows if r["accuracy"]["mean"] is not None]
    if not done:
        if all(r["missing"] == r["seeds"] for r in rows):
            return [f"{title}: not run yet."]
        return [f"{title}: no configuration finished without diverging."]
    out = []
    best = max(done, key=lambda r: r["accuracy"]["mean"])
    worst = min(done, key=lambda r: r["accuracy"]["mean"])
    near = [r for r in done if best["accuracy"]["mean"] - r["accuracy"]["mean"] <= 0.01]
    text = (f"{title}: best final accuracy {_pct(best['accuracy'])} at {_settings(best)}; "
            f"{len(near)} of {len(rows)} configurations are within 1 point of it")
    if len(done) > 1:
        text += f", the lowest is {_pct(worst['accuracy'])} at {_settings(worst)}"
    out.append(text + ".")
    all_div = [r for r in rows if r["ok"] == 0 and r["diverged"]]
    some_div = [r for r in rows if r["ok"] and r["diverged"]]
    if all_div or some_div:
        out.append(f"{title}: diverged on every seed at "
                   + ("; ".join(_settings(r) for r in all_div) or "no configuration")
                   + (f", on some seeds at {'; '.join(_settings(r) for r in some_div)}"
                      if some_div else "") + ".")
    fast = [r for r in rows if r["seconds_to_target"]["mean"] is not None
            and r["reached"] == r["finished"] and not r["diverged"]]
    missing = sum(r["missing"] for r in rows)
    if missing:
        out.append(f"{title}: {missing} of {sum(r['seeds'] for r in rows)} runs not run yet; "
                   "the statements above and below are about the finished ones.")
    if fast:
        quick = min(fast, key=lambda r: r["seconds_to_target"]["mean"])
        few = min(fast, key=lambda r: r["steps_to_target"]["mean"])
        out.append(f"{title}: {len(fast)} of {len(rows)} configurations reach "
                   f"{100 * target:g}% on every finished seed without diverging; the fastest "
                   f"is {_settings(quick)} "
                   f"({quick['seconds_to_target']['mean']:.3g} s, "
                   f"{quick['steps_to_target']['mean']:.0f} steps), the fewest steps "
                   f"{_settings(few)} ({few['steps_to_target']['mean']:.0f}).")
    elif any(r["reached"] for r in rows):
        out.append(f"{title}: no configuration reaches {100 * target:g}% on every finished "
                   "seed without diverging.")
    else:
        out.append(f"{title}: no run reached {100 * target:g}%.")
    for key in entry["varied"]:
        line = _along(entry, best, key)
        if line:
            out.append(f"{title}: {line}")
    return out


def _along(entry: dict, best: dict, key: str) -> str | None:
    """How accuracy changes with ``key`` alone, the other settings held at the best row's."""
    others = {k: v for k, v in best["settings"].items() if k != key}
    line = [r for r in entry["rows"]
            if all(r["settings"].get(k) == v for k, v in others.items())]
    line = sorted(line, key=lambda r: _order(r["settings"][key]))
    if len(line) < 2:
        return None
    parts = [f"{_fmt(r['settings'][key])}: " + _accuracy_word(r) for r in line]
    at = ", ".join(f"{k}={_fmt(v)}" for k, v in others.items())
    text = f"along {key}" + (f" (at {at})" if at else "") + ": " + ", ".join(parts)
    if key == "batch_size" and "lr" in entry["varied"]:
        best_lr = []
        for b in sorted({r["settings"]["batch_size"] for r in entry["rows"]}):
            cands = [r for r in entry["rows"] if r["settings"]["batch_size"] == b
                     and r["accuracy"]["mean"] is not None
                     and all(r["settings"].get(k) == v for k, v in others.items()
                             if k != "lr")]
            if cands:
                top = max(cands, key=lambda r: r["accuracy"]["mean"])
                best_lr.append(f"{b}: lr {_fmt(top['settings']['lr'])} "
                               f"({100 * top['accuracy']['mean']:.1f}%)")
        if best_lr:
            text += "; the best lr per batch size is " + ", ".join(best_lr)
    return text + "."


def _accuracy_word(r: dict) -> str:
    acc = r["accuracy"]["mean"]
    if acc is not None:
        return f"{100 * acc:.1f}%"
    return "diverged" if r["diverged"] else "failed" if r["error"] else "not run"


def _settings(r: dict) -> str:
    return ", ".join(f"{k}={_fmt(v)}" for k, v in r["settings"].items()) or "its settings"


def _pct(s: dict) -> str:
    text = f"{100 * s['mean']:.1f}%"
    return text + (f" ± {100 * s['se']:.1f}" if s["se"] is not None else "")


def _order(v):
    return (0, v, "") if isinstance(v, (int, float)) and not isinstance(v, bool) else (1, 0,
                                                                                        str(v))


def _fmt(v) -> str:
    if isinstance(v, float):
        return f"{v:g}"
    if isinstance(v, list):
        return "-".join(map(str, v))
    return str(v)


def _clock(seconds: float) -> str:
    m, s = divmod(int(round(seconds)), 60)
    return f"{m // 60}:{m % 60:02d}:{s:02d}" if m >= 60 else f"{m}:{s:02d}"


def _write(path: Path, text: str) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)
