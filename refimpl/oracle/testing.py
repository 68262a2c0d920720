"""Conformance checks for other backends' test suites, against the golden vectors.

Write a function that computes one quantity for a :class:`Case` and hand it to a check::

    from refimpl.oracle.testing import check_gradients, check_riemannian_step

    def my_gradients(case):                   # case.mlp_params, case.X, case.targets, …
        return my_backend.grads(case.mlp_params, case.X, case.targets,
                                activation=case.activation, loss=case.loss)

    check_gradients(my_gradients, select={"kind": "mlp"})
    check_riemannian_step(my_step, scope="layer", select={"kind": "mlp"})

Each check loads the cases (verifying the whole set first, as ``refimpl oracle verify`` does:
every file's SHA-256, the manifest against SHA256SUMS, refimpl's case definitions and
tolerance rules, and for the shipped set the digests pinned in the package), calls the
function once per case, and compares every returned array with the reference under the
manifest's per-array rule ``|got − want| ≤ atol + rtol·|want|``. On failure it raises
``AssertionError`` with a report naming, per failing case, the case's parameters and the worst
entry (array, index, got, want, absolute and relative error). On success it returns the
:class:`Report`, whose ``max_rel_error`` is the worst normwise relative error over all cases.

What the function returns, per quantity (arrays may be NumPy, PyTorch or JAX, any float
dtype — but float32 will not meet the tolerances):

==================  ==========================================================================
quantity            return value
==================  ==========================================================================
``loss``            a scalar ``R = (1/S) Σ_s ℓ_s``
``gradients``       per parameter: a dict ``{name: array}`` (``"0/W"``) or a sequence in
``update_layer``    flat order; nested sequences are flattened, so an MLP's
``update_network``  ``[(dW_0, db_0), (dW_1, db_1), …]`` works as is
``multipliers``     per module with parameters: a dict ``{path: (S, out)}`` or a sequence in
``metric``          module order (``case.modules``); ``metric`` blocks are ``(n_m, n_m)``;
``solve``           ``solve`` is ``G_m⁻¹ v_m`` for ``case.v[path]``, flat ``(n_m,)``
``metric_network``  one ``(n, n)`` array
==================  ==========================================================================

``select`` restricts the cases: a callable ``case → bool``, or a dict of required values
(a value or a tuple of values) for the :class:`Case` attributes ``name``, ``kind``, ``loss``,
``output_metric``, ``mass_kind``, ``activation``, ``batch``, ``output_dim``.
"""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path

import numpy as np

from ._compare import Worst, compare_array
from .architecture import from_dict
from .golden import QUANTITIES, _verified, default_directory

PER_PARAMETER = ("gradients", "update_layer", "update_network")
PER_MODULE = ("multipliers", "metric", "solve")


class Case:
    """One golden case: its parameters (from the manifest) and arrays (from its file).

    Attributes hold plain NumPy float64 arrays; names follow the manifest (see the golden
    set's README): ``params`` is ``{name: array}`` in flat order, ``modules`` the module paths,
    ``v`` the vectors for ``solve``.
    """

    def __init__(self, name: str, entry: dict, arrays: dict, directory: Path):
        self.name, self.entry, self.arrays, self.directory = name, entry, arrays, directory
        self.kind = entry["kind"]
        self.loss = entry["loss"]
        self.output_metric = entry["output_metric"]
        self.mass_kind = entry["mass"]["kind"]
        self.activation = entry.get("activation")
        self.widths = entry.get("widths")
        self.batch = entry["batch"]
        self.output_dim = entry["output_dim"]
        self.lr = float(arrays["lr"])
        self.X = arrays["X"]
        self.targets = arrays["targets"]
        self.param_names = [p["name"] for p in entry["parameters"]]
        self.modules = [m["path"] for m in entry["modules"]]
        self.params = {n: arrays[f"params/{n}"] for n in self.param_names}
        self.v = {m: arrays[f"v/{m}" if m else "v"] for m in self.modules}
        self.output_metric_matrix = arrays.get("output_metric_matrix")
        if "mass" in arrays:
            self.mass = float(arrays["mass"])
        else:
            self.mass = {n: arrays[f"mass/{n}"] for n in self.param_names}

    # -- convenient views -------------------------------------------------------------------
    @cached_property
    def module(self):
        """The network as a :class:`refimpl.modules.Module`."""
        return from_dict(self.entry["architecture"])

    @property
    def architecture(self) -> dict:
        return self.entry["architecture"]

    @property
    def params_tree(self) -> dict:
        """The parameters as refimpl's nested tree (``{"0": {"W": …, "b": …}, …}``)."""
        return _nest(self.module, self.params)

    @property
    def mass_tree(self):
        """The mass for refimpl: a float, or a nested tree like :attr:`params_tree`."""
        return self.mass if isinstance(self.mass, float) else _nest(self.module, self.mass)

    @property
    def mlp_params(self) -> list:
        """``[(W_0, b_0), (W_1, b_1), …]`` for an MLP case (``kind == "mlp"``)."""
        return self._mlp_pairs(self.params, "mlp_params")

    @property
    def mlp_mass(self):
        """The mass as :func:`refimpl.oracle.mlp_riemannian_step` takes it."""
        if isinstance(self.mass, float):
            return self.mass
        return self._mlp_pairs(self.mass, "mlp_mass")

    @property
    def metric_argument(self):
        """``output_metric`` as refimpl takes it: the name, or the custom ``(k, k)`` matrix."""
        return self.output_metric_matrix if self.output_metric == "custom" \
            else self.output_metric

    def _mlp_pairs(self, named, what):
        if self.kind != "mlp":
            raise ValueError(f"case {self.name}: {what} exists only for MLP cases (kind "
                             f"'mlp'), this one is {self.kind!r}; use select={{'kind': 'mlp'}}")
        return [(named[f"{m}/W"], named[f"{m}/b"]) for m in self.modules]

    def expected(self, quantity: str) -> dict:
        """``{array name: reference array}`` of a quantity."""
        return {r["name"]: self.arrays[r["name"]] for r in self.rows(quantity)}

    def rows(self, quantity: str) -> list:
        """The manifest rows (name, shape, dtype, rtol, atol) of a quantity's arrays."""
        _check_quantity(quantity)
        return self.entry["quantities"][quantity]

    def describe(self) -> str:
        """The case's parameters in one line, for reports."""
        mass = self.entry["mass"]
        mass = mass["kind"] + (f" ({mass['value']:g})" if mass["value"] is not None else "")
        arch = (f"mlp {'-'.join(map(str, self.widths))} {self.activation}"
                if self.kind == "mlp" else self.name.split("-")[0])
        n = sum(m["size"] for m in self.entry["modules"])
        return (f"{arch}; loss={self.loss}, output_metric={self.output_metric}, mass={mass}, "
                f"S={self.batch}, k={self.output_dim}, n={n}, lr={self.lr:g}")

    def __repr__(self):
        return f"Case({self.name!r})"


def _nest(module, named):
    from .golden_build import unflat_names
    return unflat_names(module, named)


def _check_quantity(quantity):
    if quantity not in QUANTITIES:
        raise ValueError(f"unknown quantity {quantity!r}; expected one of "
                         + ", ".join(QUANTITIES))


# -- loading --------------------------------------------------------------------------------
_SELECTABLE = ("name", "kind", "loss", "output_metric", "mass_kind", "activation", "batch",
               "output_dim")


def _selector(select):
    if select is None:
        return lambda case: True
    if callable(select):
        return select
    if not isinstance(select, Mapping):
        raise TypeError("select must be a callable case → bool or a dict like "
                        f"{{'kind': 'mlp'}}, got {type(select).__name__}")
    bad = [k for k in select if k not in _SELECTABLE]
    if bad:
        raise ValueError(f"select: unknown key(s) {bad}; allowed: " + ", ".join(_SELECTABLE))

    def match(case):
        for key, want in select.items():
            want = want if isinstance(want, (tuple, list, set, frozenset)) else (want,)
            if getattr(case, key) not in want:
                return False
        return True
    return match


def load_cases(directory=None, *, select=None, pinned: bool | None = None) -> list[Case]:
    """The golden cases of ``directory`` (default: the shipped set, or ``$REFIMPL_GOLDEN``),
    after :func:`refimpl.oracle.golden.verify` has checked the whole set: every file's
    SHA-256, the manifest against SHA256SUMS and against refimpl's case definitions and
    tolerance rules, and, for the shipped set (``pinned``), the digests pinned in the package.
    ``ValueError`` naming the file or field if anything was modified, truncated or missing,
    or if ``select`` matches no case."""
    directory = Path(directory) if directory is not None else default_directory()
    manifest, arrays = _verified(directory, pinned)
    pick = _selector(select)
    cases = []
    for name, entry in manifest["cases"].items():
        case = Case(name, entry, arrays[name], directory)
        if pick(case):
            cases.append(case)
    if not cases:
        raise ValueError(f"select={select!r} matches none of the {len(manifest['cases'])} "
                         f"cases in {directory}")
    return cases


# -- the report -----------------------------------------------------------------------------
@dataclass
class CaseResult:
    """One case's outcome: ``passed``, the worst entry, the normwise relative error, or the
    ``reason`` a result could not be compared (wrong shape, missing array, …)."""

    case: Case
    passed: bool
    worst: Worst | None = None
    rel_error: float = 0.0
    reason: str = ""

    def __str__(self):
        head = f"{'ok  ' if self.passed else 'FAIL'} {self.case.name}  [{self.case.describe()}]"
        detail = self.reason or (f"worst entry {self.worst}" if self.worst else "")
        return head + ("\n       " + detail if detail else "")


@dataclass
class Report:
    """Outcome of one quantity over the selected cases (``str()`` gives the full report)."""

    quantity: str
    results: list = field(default_factory=list)
    label: str = ""

    @property
    def passed(self) -> bool:
        return all(r.passed for r in self.results)

    @property
    def failures(self) -> list:
        return [r for r in self.results if not r.passed]

    @property
    def worst(self) -> CaseResult | None:
        """The case whose worst entry is furthest outside (or closest to) its tolerance."""
        ranked = [r for r in self.results if r.worst is not None]
        return max(ranked, key=lambda r: r.worst.ratio, default=None)

    @property
    def max_rel_error(self) -> float:
        """The largest normwise relative error ``‖got − want‖_∞ / ‖want‖_∞`` over the cases."""
        return max((r.rel_error for r in self.results), default=0.0)

    def summary(self) -> str:
        n, bad = len(self.results), len(self.failures)
        worst = self.worst
        tail = (f"; worst entry (relative to its tolerance): {worst.case.name}, {worst.worst}"
                if worst is not None else "")
        return (f"{self.label or self.quantity}: {n - bad}/{n} cases pass, max normwise "
                f"relative error {self.max_rel_error:.3g}{tail}")

    def __str__(self):
        lines = [self.summary()]
        failures = self.failures
        for r in failures[:12]:
            lines.append(str(r))
        if len(failures) > 12:
            lines.append(f"… and {len(failures) - 12} more failing cases: "
                         + ", ".join(r.case.name for r in failures[12:]))
        return "\n".join(lines)


# -- comparing one case ---------------------------------------------------------------------
def _to_numpy(x):
    if hasattr(x, "detach"):                                  # torch
        x = x.detach().cpu().numpy()
    return np.asarray(x)


def _leaves(value):
    if isinstance(value, (list, tuple)):
        out = []
        for v in value:
            out.extend(_leaves(v))
        return out
    return [value]


def _returned_arrays(quantity, result, case: Case) -> dict:
    """Map the user's return value onto the quantity's array names (``ValueError`` if the
    structure does not fit)."""
    rows = case.rows(quantity)
    names = [r["name"] for r in rows]
    if quantity in ("loss", "metric_network"):
        keys = [None]
    elif quantity in PER_PARAMETER:
        keys = case.param_names
    else:
        keys = case.modules
    if result is None:
        raise ValueError("the function returned None")
    if isinstance(result, Mapping):
        if keys == [None]:
            if list(result) != names:
                raise ValueError(f"expected one array for {quantity} (or {{{names[0]!r}: "
                                 f"array}}), got a mapping with keys {list(result)}")
            return {names[0]: _to_numpy(result[names[0]])}
        full = {}
        for key, value in result.items():
            name = key if key in names else next(
                (n for n, k in zip(names, keys) if k == key), None)
            if name is None:
                raise ValueError(f"unexpected key {key!r}; expected the keys {keys}")
            full[name] = value
        missing = [k for n, k in zip(names, keys) if n not in full]
        if missing:
            raise ValueError(f"missing {missing}; expected the keys {keys}")
        return {n: _to_numpy(full[n]) for n in names}
    leaves = [result] if quantity in ("loss", "metric_network") else _leaves(result)
    if len(leaves) != len(names):
        raise ValueError(f"got {len(leaves)} arrays, expected {len(names)} ({keys} in order)")
    return {n: _to_numpy(a) for n, a in zip(names, leaves)}


def compare_case(quantity: str, got, case: Case) -> CaseResult:
    """Compare one returned value with the case's reference; never raises for a mismatch."""
    try:
        arrays = _returned_arrays(quantity, got, case)
    except ValueError as exc:
        return CaseResult(case, False, reason=f"{quantity}: {exc}")
    worst, rel = None, 0.0
    for row in case.rows(quantity):
        want = case.arrays[row["name"]]
        arr = arrays[row["name"]]
        if arr.dtype.kind not in "fiu":
            return CaseResult(case, False, reason=f"{row['name']}: got dtype {arr.dtype}, "
                                                  "expected real numbers")
        if arr.shape != want.shape and not (want.ndim == 0 and arr.size == 1):
            return CaseResult(case, False, reason=f"{row['name']}: got shape {arr.shape}, "
                                                  f"expected {want.shape}")
        w, r = compare_array(row["name"], arr.reshape(want.shape), want, row["rtol"],
                             row["atol"])
        rel = max(rel, r)
        if worst is None or w.ratio > worst.ratio:
            worst = w
    return CaseResult(case, worst is None or worst.ratio <= 1.0, worst, rel)


# -- the checks -----------------------------------------------------------------------------
def compare(quantity: str, fn, *, directory=None, select=None, cases=None,
            label: str = "") -> Report:
    """Call ``fn(case)`` on every selected case and compare; returns the :class:`Report`
    without raising on a mismatch (see :func:`check`)."""
    _check_quantity(quantity)
    if not callable(fn):
        raise TypeError(f"fn must be a function case → {quantity}, got {type(fn).__name__}")
    if cases is None:
        cases = load_cases(directory, select=select)
    elif select is not None:
        cases = [c for c in cases if _selector(select)(c)]
    report = Report(quantity, label=label)
    for case in cases:
        report.results.append(compare_case(quantity, fn(case), case))
    return report


def check(quantity: str, fn, *, directory=None, select=None, cases=None,
          label: str = "") -> Report:
    """Like :func:`compare`, but raise ``AssertionError`` with the report on any failure."""
    report = compare(quantity, fn, directory=directory, select=select, cases=cases,
                     label=label)
    if not report.passed:
        raise AssertionError(str(report))
    return report


def check_loss(fn, **kw) -> Report:
    """``fn(case) → R``, the batch-mean loss."""
    return check("loss", fn, **kw)


def check_gradients(fn, **kw) -> Report:
    """``fn(case) → ∇R`` per parameter (dict by name, or flat-order sequence)."""
    return check("gradients", fn, **kw)


def check_multipliers(fn, **kw) -> Report:
    """``fn(case) → λ`` per module with parameters, each ``(S, out)``, not divided by ``S``."""
    return check("multipliers", fn, **kw)


def check_metric(fn, *, scope: str = "layer", **kw) -> Report:
    """``fn(case) →`` the dense metric: per-module blocks (``scope="layer"``) or the whole
    ``(n, n)`` matrix (``scope="network"``)."""
    return check(_scoped("metric", scope), fn, **kw)


def check_solve(fn, **kw) -> Report:
    """``fn(case) → G_m⁻¹ v_m`` per module, for the vectors ``case.v``."""
    return check("solve", fn, **kw)


def check_riemannian_step(fn, *, scope: str = "layer", **kw) -> Report:
    """``fn(case) → Δw = −lr G⁻¹ ∇R`` per parameter, with the layerwise (``scope="layer"``)
    or whole-network (``scope="network"``) metric."""
    return check(_scoped("update", scope), fn, **kw)


def _scoped(base, scope):
    if scope not in ("layer", "network"):
        raise ValueError(f"unknown scope {scope!r}; expected 'layer' or 'network'")
    if base == "metric":
        return "metric" if scope == "layer" else "metric_network"
    return f"update_{scope}"
