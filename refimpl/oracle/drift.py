"""Drift: regenerate a golden set with this refimpl and compare it with the files on disk.

Used by the tests (the committed set must be what the code produces) and by
``refimpl oracle verify --regenerate``.
"""
from __future__ import annotations

import numpy as np

from ._compare import compare_array
from .golden_build import build_case, spec_from_entry
from .testing import CaseResult, Report, load_cases

DRIFT_RTOL = 1e-12
DRIFT_C = 50.0
EPS = float(np.finfo(np.float64).eps)


def drift_rtol(name: str, entry: dict) -> float:
    """The relative drift allowed for array ``name`` of a case (manifest ``entry``).

    Inputs: ``1e-14`` (they come from the seeds). Solves and updates: ``50·ε·κ``, ``κ`` the
    recorded condition number of the ``G`` they are solved with, or ``1e-12`` if that is
    larger — rounding differences between machines and BLAS builds move a solve by about
    ``0.1·ε·κ``, while a real change moves it by far more. Other outputs: ``1e-12``.
    """
    quantity, _, rest = name.partition("/")
    cond = {m["path"]: m["condition_number"] for m in entry["modules"]}
    if quantity == "solve":
        kappa = cond[rest]
    elif quantity == "update_layer":
        kappa = cond[rest.rsplit("/", 1)[0] if "/" in rest else ""]
    elif quantity == "update_network":
        kappa = entry["condition_number_network"]
    elif any(r["name"] == name for q in entry["quantities"].values() for r in q):
        return DRIFT_RTOL
    else:
        return 1e-14
    return max(DRIFT_RTOL, DRIFT_C * EPS * kappa)


def compare_with_regenerated(directory=None, *, select=None) -> Report:
    """Recompute every case of a golden set with this refimpl and compare every array.

    Every array must agree to :func:`drift_rtol` relative (to its largest entry), so that the
    ill-conditioned tiny-mass solves may move by their rounding across machines but a real
    change is caught. The manifest entries (parameters, array lists, tolerances) must match
    too. Returns a :class:`Report` (quantity ``"regenerated"``); does not raise.
    """
    cases = load_cases(directory, select=select)
    report = Report("regenerated", label="regenerated vs committed")
    for case in cases:
        arrays, entry = build_case(spec_from_entry(case.name, case.entry))
        reason = _entry_difference(case.entry, entry)
        if set(arrays) != set(case.arrays):
            reason = reason or (f"arrays differ: regenerated has "
                                f"{sorted(set(arrays) ^ set(case.arrays))} on one side only")
        worst, rel = None, 0.0
        for name, want in case.arrays.items():
            got = arrays.get(name)
            if got is None or got.shape != want.shape:
                reason = reason or f"{name}: regenerated shape differs"
                continue
            rtol = drift_rtol(name, case.entry)
            scale = float(np.max(np.abs(want))) if want.size else 0.0
            w, r = compare_array(name, got, want, rtol, rtol * scale)
            rel = max(rel, r)
            if worst is None or w.ratio > worst.ratio:
                worst = w
        ok = not reason and (worst is None or worst.ratio <= 1.0)
        report.results.append(CaseResult(case, ok, worst, rel, reason))
    return report


def _entry_difference(old: dict, new: dict) -> str:
    """'' if two manifest entries agree (tolerances' atol and condition numbers to 5 %)."""
    def strip(e):
        e = {k: v for k, v in e.items() if k not in ("quantities", "modules",
                                                      "condition_number_network")}
        return e
    if strip(old) != strip(new):
        keys = sorted(k for k in set(strip(old)) | set(strip(new))
                      if strip(old).get(k) != strip(new).get(k))
        return f"manifest entry differs in {keys}"
    for q in old["quantities"]:
        a, b = old["quantities"][q], new["quantities"].get(q, [])
        if [(r["name"], r["shape"], r["dtype"], r["rtol"]) for r in a] != \
                [(r["name"], r["shape"], r["dtype"], r["rtol"]) for r in b]:
            return f"manifest entry of {q} differs (names, shapes, dtypes or rtol)"
        if any(abs(x["atol"] - y["atol"]) > 0.05 * max(x["atol"], y["atol"])
               for x, y in zip(a, b)):
            return f"manifest atol of {q} differs by more than 5 %"
    return ""
