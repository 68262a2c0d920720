"""A sweep's numbers per entry and configuration: means and standard errors over the seeds.

For each entry of the plan, the points with the same settings (all seeds) form one *row*:

- ``accuracy``: final test accuracy over the seeds whose run finished ``ok`` (a diverged run
  has no final accuracy; it is counted in ``diverged``);
- ``to_target``: over the finished runs (``ok`` or ``diverged``) that reached the target at
  some evaluation, the training seconds, steps and epochs until then; ``reached`` counts them;
- ``seconds_per_step``: mean over the ``ok`` runs.

Each statistic is ``{"mean", "se", "n"}`` with the standard error ``s / √n`` (sample standard
deviation, ``ddof = 1``; ``None`` for ``n < 2``). Runs without a record yet are ``missing``.
"""
from __future__ import annotations

import math

from .plan import Plan


def stat(values) -> dict:
    """``{"mean", "se", "n"}`` of ``values`` (``mean`` ``None`` when empty)."""
    values = [float(v) for v in values if v is not None]
    n = len(values)
    if n == 0:
        return {"mean": None, "se": None, "n": 0}
    mean = math.fsum(values) / n
    if n < 2:
        return {"mean": mean, "se": None, "n": 1}
    var = math.fsum((v - mean) ** 2 for v in values) / (n - 1)
    return {"mean": mean, "se": math.sqrt(var / n), "n": n}


def summarise(plan: Plan, records: dict) -> dict:
    """``{entry name: {"title", "optimizer", "varied", "fixed", "heatmap", "rows"}}``.

    ``records`` maps run keys to their latest record. Rows keep the entry's point order.
    """
    out = {}
    for entry in plan.spec.entries:
        groups: dict = {}
        for p in plan.entry_points(entry.name):
            ident = tuple((k, repr(p.settings[k])) for k in entry.varied)
            groups.setdefault(ident, {"settings": p.settings, "keys": []})["keys"].append(
                p.key)
        rows = [row(g["settings"], [records.get(k) for k in g["keys"]])
                for g in groups.values()]
        out[entry.name] = {"title": entry.title, "optimizer": entry.optimizer,
                           "varied": list(entry.varied),
                           "fixed": plan.spec.settings(entry, {}),
                           "heatmap": list(entry.heatmap) if entry.heatmap else None,
                           "rows": rows}
    return out


def row(settings: dict, records: list) -> dict:
    """One configuration's statistics over its seeds' ``records`` (``None``: not run yet)."""
    done = [r for r in records if r is not None]
    by = {s: [r for r in done if r.get("status") == s] for s in ("ok", "diverged", "error")}
    finished = by["ok"] + by["diverged"]
    hits = [r["to_target"] for r in finished if r.get("to_target")]
    return {
        "settings": settings, "seeds": len(records), "missing": len(records) - len(done),
        "ok": len(by["ok"]), "diverged": len(by["diverged"]), "error": len(by["error"]),
        "accuracy": stat(r["final"]["test_accuracy"] for r in by["ok"]),
        "best_accuracy": stat(r["final"]["best_test_accuracy"] for r in by["ok"]),
        "reached": len(hits), "finished": len(finished),
        "seconds_to_target": stat(h["seconds"] for h in hits),
        "steps_to_target": stat(h["step"] for h in hits),
        "epochs_to_target": stat(h["epoch"] for h in hits),
        "seconds_per_step": stat(r.get("seconds_per_step") for r in by["ok"]),
        "errors": sorted({(r.get("message") or "")[:300] for r in by["error"]}),
    }
