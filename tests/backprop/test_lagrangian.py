"""Backpropagation as a constrained problem (math §2): multipliers, gradients, KKT."""
import numpy as np
import pytest

from cases import MODULE_CASES, NETWORK_CASES
from fd import central
from refimpl import spaces, tree
from refimpl.backprop import kkt_residuals, lagrangian, solve, stages

LOSSES = {"mse": lambda rng, S, k: rng.standard_normal((S, k)),
          "cross_entropy": lambda rng, S, k: rng.integers(0, k, S)}
CASES = [(n, l) for n in NETWORK_CASES for l in LOSSES]


def problem(name, loss, seed=0, S=4, d_in=3, k=3):
    rng = np.random.default_rng(seed)
    model = MODULE_CASES[name](d_in, k)
    params = tree.tree_map(lambda a: a + 0.1 * rng.standard_normal(a.shape), model.init(rng))
    return model, params, rng.standard_normal((S, d_in)), LOSSES[loss](rng, S, k)


def risk_from_stage(model, params, x_l, l, targets, loss):
    """Loss of the network's tail from stage l's output, per sample (for FD of λ_l)."""
    from refimpl.losses import get_loss
    for key, f in stages(model)[l + 1:]:
        x_l = f(params[key] if key else params, x_l)
    return get_loss(loss).value(x_l, targets)


@pytest.mark.parametrize("name,loss", CASES)
def test_multipliers_are_derivatives_of_the_loss_wrt_each_state(name, loss):
    model, params, X, t = problem(name, loss)
    st = solve(model, params, X, t, loss)
    for l, lam in enumerate(st.multipliers):
        x_l, space = st.states[l + 1], stages(model)[l][1].out_space
        lam = spaces.flatten(lam, space)
        for i in range(spaces.dim(space)):
            e = np.zeros((X.shape[0], spaces.dim(space)))
            e[:, i] = 1.0
            fd = central(lambda z: risk_from_stage(model, params, z, l, t, loss), x_l,
                         spaces.unflatten(e, space))
            assert np.max(np.abs(fd - lam[:, i])) < 1e-8


@pytest.mark.parametrize("name,loss", CASES)
def test_gradients_match_finite_differences_of_the_risk(name, loss):
    model, params, X, t = problem(name, loss)
    st = solve(model, params, X, t, loss)
    g, w = tree.flatten(st.grads), tree.flatten(params)
    risk = lambda v: solve(model, tree.unflatten(params, v), X, t, loss).risk  # noqa: E731
    for i in range(w.size):
        fd = central(risk, w, np.eye(w.size)[i])
        assert abs(fd - g[i]) < 1e-8 * max(1.0, abs(g[i]))


@pytest.mark.parametrize("name,loss", CASES)
def test_kkt_residuals_vanish_and_lagrangian_equals_risk(name, loss):
    model, params, X, t = problem(name, loss)
    st = solve(model, params, X, t, loss)
    res = kkt_residuals(model, params, t, st.states, st.multipliers, loss)
    scale = max(np.abs(spaces.flatten(lam, f.out_space)).max()
                for lam, (_, f) in zip(st.multipliers, stages(model)))
    assert max(np.abs(r).max() for r in res["d_lambda"]) == 0.0
    assert max(np.abs(r).max() for r in res["d_x"]) < 1e-14 * max(scale, 1.0)
    assert lagrangian(model, params, t, st.states, st.multipliers, loss) == \
        pytest.approx(st.risk, rel=1e-15)


def test_kkt_residuals_detect_a_point_that_is_not_stationary():
    model, params, X, t = problem("mlp_tanh", "mse")
    st = solve(model, params, X, t, "mse")
    states = list(st.states)
    states[2] = states[2] + 1e-3
    res = kkt_residuals(model, params, t, states, st.multipliers, "mse")
    assert np.abs(res["d_lambda"][1]).max() == pytest.approx(1e-3, rel=1e-9)
    lams = list(st.multipliers)
    lams[0] = lams[0] * 1.01
    res = kkt_residuals(model, params, t, st.states, lams, "mse")
    assert np.abs(res["d_x"][0]).max() > 1e-6


def test_lagrangian_is_linear_in_the_constraint_gap():
    """ℒ = R + mean_s Σ λᵀ(f(x) − x): perturbing a state by δ changes ℒ as predicted."""
    model, params, X, t = problem("mlp_tanh", "mse")
    st = solve(model, params, X, t, "mse")
    states = list(st.states)
    delta = np.random.default_rng(3).standard_normal(states[1].shape) * 1e-4
    states[1] = states[1] + delta
    got = lagrangian(model, params, t, states, st.multipliers, "mse")
    f2 = stages(model)[1]
    x2 = f2[1](params[f2[0]], states[1])
    expected = st.risk + np.mean(np.einsum("sd,sd->s", st.multipliers[0], -delta)
                                 + np.einsum("sd,sd->s", st.multipliers[1], x2 - st.states[2]))
    assert got == pytest.approx(expected, rel=1e-13)


def test_product_space_output_cannot_take_a_loss():
    from refimpl.modules import FanOut
    m = FanOut(2, 2)
    with pytest.raises(ValueError, match="single array"):
        solve(m, {}, np.zeros((3, 2)), np.zeros((3, 2)))
