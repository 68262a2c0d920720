"""The step Δw = −η G⁻¹∇R of a whole module (math §4, §6; eq. 3, 3′) against an explicit G
from dense Jacobians, for both scopes, every output metric, composites and mass kinds; the
limits with known answers; accuracy across masses within the conditioning bound."""
import numpy as np
import pytest

from conditioning import metric_condition, solve_tol
from fd import rel_err
from metric_cases import (NETS, OUTPUT_METRICS, TARGETS, dense_reference, problem,
                          random_mass)
from refimpl import tree
from refimpl.metric import build_metric

CASES = [(net, loss, om, scope) for net in NETS for loss in TARGETS
         for om in OUTPUT_METRICS for scope in ("layer", "network")
         if not (loss == "cross_entropy" and om == "identity" and net == "linear")]


def bound(G, mass):
    """The attainable relative accuracy of a solve with G = M + B̃ᵀB̃ in any form (primal,
    Woodbury, push-through): 50·ε·κ (tests/conditioning.py)."""
    return solve_tol(metric_condition(G, mass))


@pytest.mark.parametrize("net,loss,om,scope", CASES)
def test_step_matches_dense_solve(net, loss, om, scope):
    rng, model, params, X, t = problem(net, loss)
    mass = random_mass(rng, params) if scope == "layer" else 0.3
    metric = build_metric(model, params, X, t, loss=loss, output_metric=OUTPUT_METRICS[om],
                          mass=mass, scope=scope)
    G = dense_reference(model, params, X, t, loss, OUTPUT_METRICS[om], mass, scope)
    assert rel_err(metric.dense(), G) < 1e-12
    update, diag = metric.step(0.5)
    want = -0.5 * np.linalg.solve(G, tree.flatten(metric.grads))
    tol = bound(G, mass)
    assert rel_err(tree.flatten(update), want) < tol
    assert diag["residual"] < tol and diag["form"] == "push-through (3′)"
    v = tree.tree_map(lambda a: rng.standard_normal(a.shape), params)
    assert rel_err(tree.flatten(metric.solve(v)), np.linalg.solve(G, tree.flatten(v))) < tol


@pytest.mark.parametrize("net", ["mlp_tanh", "residual", "two_branch"])
@pytest.mark.parametrize("scope", ["layer", "network"])
def test_step_diagnostics_are_their_definitions(net, scope):
    """The residual accumulated system by system, the update scaled in place: the same
    numbers as ‖G u − ∇R‖ / ‖∇R‖ and ‖Δw‖ on whole trees; ∇R and the parameters unchanged."""
    rng, model, params, X, t = problem(net, "cross_entropy", seed=3, S=5)
    metric = build_metric(model, params, X, t, loss="cross_entropy",
                          output_metric="gauss-newton", mass=0.05, scope=scope)
    grads = tree.tree_map(np.copy, metric.grads)
    before = tree.tree_map(np.copy, params)
    u, _ = metric.natural_gradient()
    r = tree.add(metric.matvec(u), grads, -1.0)
    want = np.sqrt(tree.vdot(r, r) / tree.vdot(grads, grads))
    update, diag = metric.step(0.7)
    assert tree.same_structure(update, params)
    assert rel_err(tree.flatten(update), -0.7 * tree.flatten(u)) < 1e-15
    assert abs(diag["residual"] - want) <= 1e-12 * want + 1e-300
    assert diag["update_norm"] == pytest.approx(0.7 * np.sqrt(tree.vdot(u, u)), rel=1e-14)
    assert rel_err(tree.flatten(metric.grads), tree.flatten(grads)) == 0.0
    assert rel_err(tree.flatten(params), tree.flatten(before)) == 0.0
    assert diag["notes"] == [] and diag["cg_iterations"] == 0


@pytest.mark.parametrize("scope", ["layer", "network"])
@pytest.mark.parametrize("method", ["woodbury", "primal", "cg"])
@pytest.mark.parametrize("blocks", ["structured", "materialized"])
def test_structured_materialized_and_dense_agree(scope, method, blocks):
    rng, model, params, X, t = problem("mlp_tanh", "cross_entropy", seed=5, S=6)
    kw = dict(loss="cross_entropy", output_metric="gauss-newton", mass=0.2, scope=scope)
    ref = build_metric(model, params, X, t, method="primal", **kw)
    got = build_metric(model, params, X, t, method=method, blocks=blocks, cg_rtol=1e-13, **kw)
    G = ref.dense()
    # CG stops at a relative residual of 1e-13: a forward error of up to κ·1e-13 on top
    tol = bound(G, 0.2) + (metric_condition(G, 0.2) * 1e-13 if method == "cg" else 0.0)
    assert rel_err(tree.flatten(got.step(1.0)[0]), tree.flatten(ref.step(1.0)[0])) < tol
    if blocks == "materialized" and method == "woodbury":
        assert all(m.endswith("generic") for m in got.step(1.0)[1]["methods"].values())


def test_large_mass_gives_scaled_gradient_descent():
    """M = μI with μ → ∞: Δ → −(η/μ) ∇R, with relative deviation O(|B|²/μ)."""
    rng, model, params, X, t = problem("mlp_tanh", "mse")
    for mu in (1e4, 1e6, 1e8):
        up, _ = build_metric(model, params, X, t, mass=mu).step(2.0)
        sgd = tree.flatten(build_metric(model, params, X, t, mass=mu).grads) * (-2.0 / mu)
        assert rel_err(tree.flatten(up), sgd) < 100.0 / mu


def test_cross_entropy_extreme_logits_and_the_underflow_guard():
    rng, model, params, X, t = problem("linear", "cross_entropy")
    for scale, form in ((300.0, "push-through (3′)"), (5000.0, "woodbury (2)")):
        p = tree.tree_map(lambda a: scale * a, params)
        t_bad = np.argmin(model(p, X), axis=1)                    # the least likely class
        metric = build_metric(model, p, X, t_bad, loss="cross_entropy",
                              output_metric="gauss-newton", mass=1.0)
        update, diag = metric.step(1.0)
        assert diag["form"] == form and np.all(np.isfinite(tree.flatten(update)))
        G = dense_reference(model, p, X, t_bad, "cross_entropy", "gauss-newton", 1.0, "layer")
        want = -np.linalg.solve(G, tree.flatten(metric.grads))
        assert rel_err(tree.flatten(update), want) < bound(G, 1.0)


@pytest.mark.parametrize("mu", [1e-8, 1e-6, 1e-4, 1e-2, 1.0, 1e2, 1e4])
def test_accuracy_across_masses_is_within_the_conditioning_bound(mu):
    """Woodbury (2) on an out-of-span vector vs a dense solve: the difference is bounded by
    the dense solve's own error, about cond(G)·eps (documented in README, 'Accuracy')."""
    rng, model, params, X, t = problem("mlp_tanh", "mse", S=3)
    metric = build_metric(model, params, X, t, mass=mu, method="woodbury")
    G = metric.dense()
    v = tree.tree_map(lambda a: rng.standard_normal(a.shape), params)
    want = np.linalg.solve(G, tree.flatten(v))
    assert rel_err(tree.flatten(metric.solve(v)), want) < bound(G, mu)
    step_err = rel_err(tree.flatten(metric.step(1.0)[0]),
                       -np.linalg.solve(G, tree.flatten(metric.grads)))
    assert step_err < bound(G, mu)


def test_last_layer_under_identity_metric_takes_the_shared_factor_path():
    rng, model, params, X, t = problem("mlp_tanh", "mse", S=5)
    _, diag = build_metric(model, params, X, t, mass=0.5, method="woodbury").step(1.0)
    methods = list(diag["methods"].values())
    assert methods[-1] == "woodbury/linear-shared-factor"
    assert all(m == "woodbury/linear-scalar" for m in methods[:-1])
