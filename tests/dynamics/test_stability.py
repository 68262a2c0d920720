"""Theorem 3 (math §7): the disturbance, its bound, the stability bound, the a-posteriori
bound (Theorem 3′) and its parts. The experiment along training is tested in
tests/experiments/test_stability_experiment.py.

Dense references: ``J`` from :meth:`Module.jacobian`, ``G`` from :meth:`BatchMetric.dense`,
gradients ``∇R = (1/n) Jᵀ (Y − T)``.
"""
import math

import numpy as np
import pytest

from cases import MODULE_CASES
from conditioning import metric_condition, solve_tol
from fd import rel_err
from refimpl import tree
from refimpl.dynamics.ntk import generalized_ntk
from refimpl.dynamics.stability import (StabilityConstants, constants_at, disturbance,
                                        disturbance_bound, disturbance_factors,
                                        gap_bound_from_disturbance, jacobian_inverse_metric_norm,
                                        kernel_drift, metric_change_bound, posterior_bound,
                                        replace_sample, stability_bound)
from refimpl.metric import build_metric
from refimpl.modules import Linear

MODELS = ["linear", "mlp_tanh", "residual", "two_branch"]


def pair(rng, model, n, k=2):
    X, T = rng.standard_normal((n, model.in_space)), rng.standard_normal((n, k))
    X2, T2 = replace_sample(X, T, n - 1, rng.standard_normal(model.in_space),
                            rng.standard_normal(k))
    return (X, T), (X2, T2)


def dense(model, params, X, T, mass, scope):
    _, J = model.jacobian(params, X)
    G = build_metric(model, params, X, T, mass=mass, scope=scope).dense()
    r = model(params, X) - T
    return J, G, r


@pytest.mark.parametrize("scope", ["layer", "network"])
@pytest.mark.parametrize("name", MODELS)
def test_disturbance_equals_paper_eq8_and_rhs_difference(name, scope, rng):
    model = MODULE_CASES[name](3, 2)
    params, n, mass = model.init(rng), 4, 0.3
    D, D2 = pair(rng, model, n)
    J, G, r = dense(model, params, *D, mass, scope)
    J2, G2, r2 = dense(model, params, *D2, mass, scope)
    tol = solve_tol(max(metric_condition(G, mass), metric_condition(G2, mass)))
    Jf = J.reshape(-1, J.shape[2])
    # shared metric, eq. (8): d_i = −(1/n) J_i G_D⁻¹ (J'_{i*}ᵀ ∇ℓ'_{i*} − J_{i*}ᵀ ∇ℓ_{i*})
    i = n - 1
    eq8 = -(Jf @ np.linalg.solve(G, J2[i].T @ r2[i] - J[i].T @ r[i])) / n
    d = disturbance(model, params, D, D2, mass=mass, scope=scope, metric="shared")
    assert rel_err(d.ravel(), eq8) < tol
    # own metrics: J_D (G_D⁻¹∇R_D − G_{D'}⁻¹∇R_{D'})
    g = np.einsum("skn,sk->n", J, r) / n
    g2 = np.einsum("skn,sk->n", J2, r2) / n
    own = Jf @ (np.linalg.solve(G, g) - np.linalg.solve(G2, g2))
    d = disturbance(model, params, D, D2, mass=mass, scope=scope, metric="own")
    assert rel_err(d.ravel(), own) < tol


def test_disturbance_bound_on_random_instances():
    # ‖d‖ ≤ 2κ²L/(μ√n) (shared metric: the theorem); + κ⁴L/(μ²√n) with each flow's own metric
    ratios = []
    for seed in range(40):
        rng = np.random.default_rng(seed)
        model = MODULE_CASES[MODELS[seed % 4]](3, 2)
        params, n = model.init(rng), int(rng.integers(1, 7))
        mass = 10 ** rng.uniform(-3, 2)
        if seed % 5 == 0:
            mass = tree.tree_map(lambda a: rng.uniform(0.5, 2.0, a.shape) * mass, params)
        scope = ("layer", "network")[seed % 2]
        D, D2 = pair(rng, model, n)
        c = constants_at(model, params, D, D2, mass=mass, scope=scope)
        d_shared = np.linalg.norm(disturbance(model, params, D, D2, mass=mass, scope=scope,
                                              metric="shared"))
        d_own = np.linalg.norm(disturbance(model, params, D, D2, mass=mass, scope=scope))
        assert d_shared <= c.disturbance_bound
        assert d_own <= c.disturbance_bound + c.metric_change_bound
        ratios.append(d_shared / c.disturbance_bound)
    assert 0 < max(ratios) < 1


@pytest.mark.parametrize("n", [1, 4])
def test_disturbance_bound_is_attained(n, rng):
    # all samples equal, ∇ℓ' = −∇ℓ, and M ≫ JᵀJ: every step of the bound is nearly an equality
    model, mu = Linear(3, 2), 1e4
    params = model.init(rng)
    X = np.repeat(rng.standard_normal((1, 3)), n, axis=0)
    T = np.repeat(rng.standard_normal((1, 2)), n, axis=0)
    y = model(params, X)
    D2 = replace_sample(X, T, 0, X[0], 2 * y[0] - T[0])
    c = constants_at(model, params, (X, T), D2, mass=mu)
    d = disturbance(model, params, (X, T), D2, mass=mu, metric="shared")
    assert 0.99 < np.linalg.norm(d) / c.disturbance_bound <= 1.0






@pytest.mark.parametrize("scope", ["layer", "network"])
@pytest.mark.parametrize("name", MODELS)
def test_jacobian_inverse_metric_norm_matches_dense(name, scope, rng):
    model = MODULE_CASES[name](3, 2)
    params, n = model.init(rng), 5
    for mass in (0.05, tree.tree_map(lambda a: rng.uniform(0.1, 2.0, a.shape), params)):
        X, T = rng.standard_normal((n, 3)), rng.standard_normal((n, 2))
        J, G, _ = dense(model, params, X, T, mass, scope)
        Jf = J.reshape(-1, J.shape[2])
        ref = np.linalg.norm(np.linalg.solve(G, Jf.T).T, 2)
        got = jacobian_inverse_metric_norm(model, params, X, mass=mass, scope=scope)
        assert abs(got - ref) <= solve_tol(metric_condition(G, mass)) * ref
        # the paper's chain ‖J_D G⁻¹‖ ≤ ‖J_D‖ ‖G⁻¹‖ ≤ √n κ / μ
        c = constants_at(model, params, (X, T), (X, T), mass=mass, scope=scope)
        assert got <= math.sqrt(n) * c.kappa / c.mu * (1 + 1e-12)


@pytest.mark.parametrize("metric", ["own", "shared"])
@pytest.mark.parametrize("scope", ["layer", "network"])
@pytest.mark.parametrize("name", MODELS)
def test_disturbance_is_j_g_inverse_times_v(name, scope, metric, rng):
    # d = J_D G_D⁻¹ v with v = ∇R_D − G_D u' exactly, so ‖d‖ ≤ ‖J_D G_D⁻¹‖ ‖v‖
    model = MODULE_CASES[name](3, 2)
    params, n, mass = model.init(rng), 4, 0.2
    D, D2 = pair(rng, model, n)
    J, G, r = dense(model, params, *D, mass, scope)
    J2, G2, r2 = dense(model, params, *D2, mass, scope)
    Jf = J.reshape(-1, J.shape[2])
    g = np.einsum("skn,sk->n", J, r) / n
    g2 = np.einsum("skn,sk->n", J2, r2) / n
    u2 = np.linalg.solve(G2 if metric == "own" else G, g2)
    v = g - G @ u2
    d = disturbance(model, params, D, D2, mass=mass, scope=scope, metric=metric).ravel()
    tol = solve_tol(max(metric_condition(G, mass), metric_condition(G2, mass)))
    assert rel_err(d, Jf @ np.linalg.solve(G, v)) < tol
    jg, v_norm = disturbance_factors(model, params, D, D2, mass=mass, scope=scope,
                                     metric=metric)
    # v = ∇R_D − G u' is a difference: its rounding is relative to the terms, not to v
    assert abs(v_norm - np.linalg.norm(v)) <= tol * (np.linalg.norm(g) + np.linalg.norm(g2))
    assert np.linalg.norm(d) <= jg * v_norm * (1 + 1e-12)


def test_kernel_drift_against_dense_kernels(rng):
    model = MODULE_CASES["mlp_tanh"](3, 2)
    p1, p2 = model.init(rng), model.init(rng)
    X, T = rng.standard_normal((4, 3)), rng.standard_normal((4, 2))
    _, J1 = model.jacobian(p1, X)
    _, J2 = model.jacobian(p2, X)
    th, kappa = [], []
    for p, J in ((p1, J1), (p2, J2)):
        G = build_metric(model, p, X, T, mass=0.5).dense()
        Jf = J.reshape(-1, J.shape[2])
        th.append(Jf @ np.linalg.solve(G, Jf.T))
        kappa.append(metric_condition(G, 0.5))
    residual = (model(p1, X) - T).ravel()
    ref = np.linalg.norm((th[0] - th[1]) @ residual) / 4
    # a difference of two kernels, each to solve_tol(κ)·‖Θ‖: rounding relative to the terms
    err = solve_tol(max(kappa)) * sum(np.linalg.norm(t, 2) for t in th) * np.linalg.norm(
        residual) / 4
    assert abs(kernel_drift(model, p1, p2, X, T, mass=0.5) - ref) <= err
    assert kernel_drift(model, p1, p1, X, T, mass=0.5) == 0.0
    lin = Linear(3, 2)
    q1, q2 = lin.init(rng), lin.init(rng)       # Θ of a linear module does not depend on w
    theta = generalized_ntk(lin, q1, X, mass=0.5)
    kappa = max(metric_condition(build_metric(lin, q, X, T, mass=0.5).dense(), 0.5)
                for q in (q1, q2))
    assert kernel_drift(lin, q1, q2, X, T, mass=0.5) <= 2 * solve_tol(kappa) * np.linalg.norm(
        theta, 2) * np.linalg.norm(lin(q1, X) - T) / 4


def test_posterior_bound_recursion_closed_forms():
    t = np.linspace(0.0, 3.0, 7)
    beta = posterior_bound(t, np.full(7, 0.5), np.full(7, 2.0))
    np.testing.assert_allclose(beta, 2.0 * (1 - np.exp(-0.5 * t)) / 0.5, rtol=1e-14)
    np.testing.assert_allclose(posterior_bound(t, np.zeros(7), np.full(7, 2.0)), 2.0 * t,
                               rtol=1e-14)
    # a starting gap decays at the rate; the worst end point of each interval is used
    np.testing.assert_allclose(posterior_bound(t, np.full(7, 1.0), np.zeros(7), e0=1.0),
                               np.exp(-t), rtol=1e-14)
    up = posterior_bound([0.0, 1.0], [1.0, 0.0], [0.0, 1.0])
    assert up[1] == pytest.approx(1.0)               # ξ = min(1, 0) = 0, rate = max(0, 1) = 1
    with pytest.raises(ValueError, match="increasing"):
        posterior_bound([0.0, 0.0], [1.0, 1.0], [1.0, 1.0])
    with pytest.raises(ValueError, match=">= 0"):
        posterior_bound([0.0, 1.0], [1.0, 1.0], [1.0, -1.0])




def test_bound_formulas():
    c = StabilityConstants(kappa=2.0, L=3.0, mu=0.5, xi=0.25, n=16)
    assert c.disturbance_bound == pytest.approx(2 * 4 * 3 / (0.5 * 4))
    assert c.bound == pytest.approx(c.disturbance_bound / 0.25)
    assert c.metric_change_bound == pytest.approx(16 * 3 / (0.25 * 4))
    assert stability_bound(2.0, 3.0, 0.5, 0.0, 16) == math.inf       # Θ singular: no bound
    assert gap_bound_from_disturbance(1.0, 0.5) == pytest.approx(2.0)
    assert gap_bound_from_disturbance(1.0, 0.5, 2.0) == pytest.approx(2 * (1 - math.exp(-1)))




@pytest.mark.parametrize("call, match", [
    (lambda: stability_bound(1.0, 1.0, 1.0, 0.5, 0), "positive int"),
    (lambda: stability_bound(1.0, 1.0, 0.0, 0.5, 4), "mu"),
    (lambda: disturbance_bound(-1.0, 1.0, 1.0, 4), ">= 0"),
    (lambda: metric_change_bound(1.0, float("nan"), 1.0, 4), "finite"),
    (lambda: replace_sample(np.ones((3, 2)), np.ones((3, 1)), 3, [0, 0], [0]), "index"),
    (lambda: replace_sample(np.ones((3, 2)), np.ones((2, 1)), 0, [0, 0], [0]), "same number"),
    (lambda: replace_sample(np.ones((3, 2)), np.ones((3, 1)), 0, [0, 0, 0], [0]), "x_new"),
])
def test_bad_inputs_raise_value_error(call, match):
    with pytest.raises(ValueError, match=match):
        call()


def test_disturbance_rejects_mismatched_data(rng):
    model = Linear(3, 2)
    params = model.init(rng)
    D = (rng.standard_normal((4, 3)), rng.standard_normal((4, 2)))
    with pytest.raises(ValueError, match="same shape"):
        disturbance(model, params, D, (D[0][:3], D[1][:3]))
    with pytest.raises(ValueError, match="targets"):
        disturbance(model, params, D, (D[0], D[1][:, :1]))
    with pytest.raises(ValueError, match="metric"):
        disturbance(model, params, D, D, metric="mine")
