"""The generalized NTK Θ = J G⁻¹ Jᵀ (math §7, paper eq. 4/11) against dense references.

Dense references: ``J`` from :meth:`Module.jacobian` (forward mode, one basis vector at a
time), ``G`` from :meth:`BatchMetric.dense` or the oracle's :func:`mlp_metric_dense` (built
from the dense Jacobians), solved with ``numpy.linalg.solve``.
"""
import doctest

import numpy as np
import pytest

from cases import MODULE_CASES, NETWORK_CASES
from conditioning import metric_condition, solve_tol
from fd import rel_err
from refimpl import tree
from refimpl.dynamics import ntk as ntk_module
from refimpl.dynamics.ntk import (contraction_rate, generalized_ntk, jacobian_grams,
                                  jacobian_norms)
from refimpl.metric import build_metric
from refimpl.modules import Linear, mlp
from refimpl.oracle import mlp_metric_dense
from refimpl.oracle.mlp import from_tree

PRODUCTS_RTOL = 1e-13  # Jacobian Grams and norms: products, no solve


def instance(name, rng, n=5, d_in=3, k=2):
    model = MODULE_CASES[name](d_in, k)
    params = model.init(rng)
    return model, params, rng.standard_normal((n, d_in)), rng.standard_normal((n, k))


def random_mass(kind, rng, params):
    if kind == "tree":
        return tree.tree_map(lambda a: rng.uniform(0.05, 3.0, a.shape), params)
    return float(kind)


def dense_ntk(model, params, X, T, mass, scope):
    _, J = model.jacobian(params, X)
    J = J.reshape(-1, J.shape[2])
    G = build_metric(model, params, X, T, mass=mass, scope=scope, method="primal").dense()
    return J @ np.linalg.solve(G, J.T), G


@pytest.mark.parametrize("scope", ["layer", "network"])
@pytest.mark.parametrize("mass", ["1e-2", "1.0", "1e2", "tree"])
@pytest.mark.parametrize("name", NETWORK_CASES)
def test_woodbury_ntk_equals_dense_product(name, mass, scope, rng):
    model, params, X, T = instance(name, rng)
    mass = random_mass(mass, rng, params)
    theta = generalized_ntk(model, params, X, mass=mass, scope=scope)
    ref, G = dense_ntk(model, params, X, T, mass, scope)
    assert theta.shape == (10, 10)
    assert rel_err(theta, ref) < solve_tol(metric_condition(G, mass))
    assert np.array_equal(theta, theta.T)


@pytest.mark.parametrize("mass", ["1e-3", "1.0", "1e3", "tree"])
@pytest.mark.parametrize("name", NETWORK_CASES)
def test_metric_eigenvalues_at_least_the_smallest_mass(name, mass, rng):
    # math §7: the pull-back is PSD, so λ_min(G) ≥ μ = min M and ‖G⁻¹‖ ≤ 1/μ
    model, params, X, T = instance(name, rng, n=7)
    mass = random_mass(mass, rng, params)
    mu = mass if not isinstance(mass, dict) else min(v.min() for v in tree.leaves(mass))
    for scope in ("layer", "network"):
        G = build_metric(model, params, X, T, mass=mass, scope=scope).dense()
        lam = np.linalg.eigvalsh(G)
        rounding = 10 * G.shape[0] * np.finfo(float).eps * lam[-1]
        assert lam[0] >= mu - rounding
        if scope == "network" and not isinstance(mass, dict) and G.shape[0] > 7 * 2:
            # a pull-back of rank ≤ n·k < P leaves directions where G = μ: the bound is attained
            assert lam[0] <= mu + rounding


@pytest.mark.parametrize("mass", [1e-3, 0.3, 10.0])
def test_metric_eigenvalues_oracle_dense_metric(mass, rng):
    # the same statement through the oracle's dense metric (an independent code path)
    model = mlp([4, 6, 5, 3], "tanh")
    params = model.init(rng)
    X, T = rng.standard_normal((6, 4)), rng.standard_normal((6, 3))
    for layer in range(3):
        G = mlp_metric_dense(from_tree(params, 3), X, T, layer=layer, mass=mass)
        lam = np.linalg.eigvalsh(G)
        assert lam[0] >= mass - 10 * G.shape[0] * np.finfo(float).eps * lam[-1]


@pytest.mark.parametrize("name", NETWORK_CASES)
def test_output_flow_is_minus_theta_times_residual_over_n(name, rng):
    # math §7: Ẏ = J ẇ = −J G⁻¹ ∇R = −(1/n) Θ (Y − T) for MSE with the identity output metric
    model, params, X, T = instance(name, rng, n=6)
    metric = build_metric(model, params, X, T, mass=0.4)
    u, _ = metric.natural_gradient()
    y, cache = model.forward(params, X)
    Ydot = -model.jvp(params, cache, None, u)
    theta = generalized_ntk(model, params, X, mass=0.4)
    tol = solve_tol(metric_condition(metric.dense(), 0.4))
    assert rel_err(Ydot.ravel(), -theta @ (y - T).ravel() / 6) < tol


@pytest.mark.parametrize("mu", [1e-3, 1.0, 50.0])
def test_linear_module_spectrum_closed_form(mu, rng):
    # one Linear(d, k), scalar μ: λ(Θ) = e/(μ + e/n) (each k times), e = eig([A,1][A,1]ᵀ)
    n, d, k = 5, 7, 3
    model = Linear(d, k)
    params = model.init(rng)
    X = rng.standard_normal((n, d))
    A1 = np.hstack([X, np.ones((n, 1))])
    e = np.linalg.eigvalsh(A1 @ A1.T)
    expected = np.sort(np.repeat(e / (mu + e / n), k))
    theta = generalized_ntk(model, params, X, mass=mu)
    G = build_metric(model, params, X, rng.standard_normal((n, k)), mass=mu).dense()
    tol = solve_tol(metric_condition(G, mu))
    assert rel_err(np.linalg.eigvalsh(theta), expected) < tol
    # λ_min(Θ) to tol·λ_max(Θ) absolutely (eigenvalues of a perturbed symmetric matrix)
    assert contraction_rate(theta, n) == pytest.approx(expected[0] / n,
                                                       rel=tol * expected[-1] / expected[0])


def test_theta_positive_definite_iff_n_at_most_d_plus_one(rng):
    # J_i = [I_k ⊗ a_iᵀ, I_k]: full row rank iff [A, 1] (n × (d+1)) has full row rank
    d, k = 4, 2
    model = Linear(d, k)
    params = model.init(rng)
    for n, pd in ((d + 1, True), (d + 2, False), (3 * d, False)):
        X = rng.standard_normal((n, d))
        xi = contraction_rate(generalized_ntk(model, params, X, mass=1.0), n)
        assert (xi > 0) == pd
        assert xi < 1.0                       # λ(Θ) < n for a single module


def test_theta_is_constant_for_a_linear_module(rng):
    model = Linear(6, 2)
    X = rng.standard_normal((5, 6))
    params = [model.init(rng) for _ in range(3)]
    thetas = [generalized_ntk(model, p, X, mass=0.1) for p in params]
    tol = solve_tol(max(metric_condition(build_metric(model, p, X, np.zeros((5, 2)),
                                                      mass=0.1).dense(), 0.1) for p in params))
    assert rel_err(thetas[1], thetas[0]) < tol and rel_err(thetas[2], thetas[0]) < tol


@pytest.mark.parametrize("name", NETWORK_CASES)
def test_jacobian_grams_and_norms_against_dense(name, rng):
    model, params, X, _ = instance(name, rng, n=4)
    _, J = model.jacobian(params, X)
    assert rel_err(jacobian_grams(model, params, X), J @ np.swapaxes(J, 1, 2)) < PRODUCTS_RTOL
    assert rel_err(jacobian_norms(model, params, X), np.linalg.norm(J, ord=2, axis=(1, 2))) \
        < PRODUCTS_RTOL


def test_linear_jacobian_norm_closed_form(rng):
    # ‖J_i‖₂ = sqrt(|a_i|² + 1) (with bias), |a_i| without
    X = rng.standard_normal((6, 5))
    for bias, extra in ((True, 1.0), (False, 0.0)):
        model = Linear(5, 3, bias=bias)
        norms = jacobian_norms(model, model.init(rng), X)
        assert rel_err(norms, np.sqrt((X ** 2).sum(1) + extra)) < PRODUCTS_RTOL


@pytest.mark.parametrize("call, match", [
    (lambda m, p, X: generalized_ntk(m, p, X[:, :2]), "shape"),
    (lambda m, p, X: generalized_ntk(m, p, X, scope="global"), "scope"),
    (lambda m, p, X: generalized_ntk(m, p, X, mass=0.0), "mass"),
    (lambda m, p, X: generalized_ntk(m, p, X[:0]), "at least one sample"),
    (lambda m, p, X: contraction_rate(np.eye(6), 0), "positive int"),
    (lambda m, p, X: contraction_rate(np.eye(6), 4), "dividing"),
    (lambda m, p, X: contraction_rate(np.ones((6, 5)), 3), "square"),
    (lambda m, p, X: contraction_rate(np.triu(np.ones((4, 4))), 2), "symmetric"),
])
def test_bad_inputs_raise_value_error(call, match, rng):
    model = Linear(3, 2)
    with pytest.raises(ValueError, match=match):
        call(model, model.init(rng), rng.standard_normal((3, 3)))


def test_docstring_example():
    result = doctest.testmod(ntk_module, optionflags=doctest.ELLIPSIS)
    assert result.attempted > 0 and result.failed == 0
