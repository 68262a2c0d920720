"""Mixed precision in a whole step (math §4, solving K): inner systems of size ≥ MIXED_MIN
factorised in float32 and refined in float64, reported as such, with the float64 step's
accuracy. The threshold is lowered for the test (no 1024² matrices needed)."""
import numpy as np
import pytest

from cases import MODULE_CASES
from conditioning import metric_condition, solve_tol
from fd import rel_err
from refimpl import tree
from refimpl.metric import build_metric

MIXED_MIN = 60       # the threshold for these tests: S·r = 90 systems are "large"


@pytest.fixture
def low_threshold(monkeypatch):
    monkeypatch.setattr("refimpl.linalg.refined.MIXED_MIN", MIXED_MIN)


@pytest.mark.parametrize("mass", [1e-2, "per-parameter"])
def test_auto_precision_refines_large_systems_to_the_float64_step(low_threshold, mass):
    rng = np.random.default_rng(3)
    model = MODULE_CASES["mlp_tanh"](3, 3)
    params = model.init(rng)
    if mass == "per-parameter":
        mass = tree.tree_map(lambda a: rng.uniform(0.005, 0.02, a.shape), params)
    X, t = rng.standard_normal((30, 3)), rng.integers(0, 3, 30)
    steps = {}
    for precision in ("auto", "double"):
        metric = build_metric(model, params, X, t, loss="cross_entropy", mass=mass,
                              method="woodbury", precision=precision)
        steps[precision] = metric.step(1.0)
    (ua, da), (ud, dd) = steps["auto"], steps["double"]
    assert da["inner_size"] == 90 >= MIXED_MIN
    assert set(da["precision"].values()) <= {"mixed", "double"}
    assert "mixed" in da["precision"].values() and da["refinement_steps"] >= 1
    assert set(dd["precision"].values()) == {"double"} and dd["refinement_steps"] == 0
    G = build_metric(model, params, X, t, loss="cross_entropy", mass=mass, method="primal",
                     precision="double").dense()
    tol = solve_tol(metric_condition(G, mass))
    for a, b in zip(tree.leaves(ua), tree.leaves(ud)):
        assert rel_err(a, b) < tol
    assert da["residual"] < tol and dd["residual"] < tol


def test_below_the_threshold_auto_is_double(low_threshold):
    rng = np.random.default_rng(4)
    model = MODULE_CASES["mlp_tanh"](3, 3)
    X, t = rng.standard_normal((10, 3)), rng.integers(0, 3, 10)      # S·r = 30 < 60
    _, diag = build_metric(model, model.init(rng), X, t, loss="cross_entropy",
                           method="woodbury").step(1.0)
    assert set(diag["precision"].values()) == {"double"}
