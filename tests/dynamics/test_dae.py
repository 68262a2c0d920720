"""Remark 3 (math §9): the training flow as an index-1 DAE, integrated as one, against the
reduced flow ẇ = −G⁻¹∇R and against backpropagation's states and multipliers."""
import numpy as np
import pytest

from fd import rel_err
from refimpl import tree
from refimpl.backprop import solve
from refimpl.dynamics.dae import TrainingDAE, integrate_dae, reduced_flow
from refimpl.modules import Concat, FanOut, Linear, Sequential, mlp


@pytest.fixture
def problem(rng):
    model = mlp([2, 5, 1], "tanh")
    X = rng.standard_normal((6, 2))
    return model, model.init(rng), X, np.sin(X[:, :1])


def test_algebraic_equations_vanish_exactly_at_backprop(problem, rng):
    model, params, X, T = problem
    dae = TrainingDAE(model, X, T, mass=0.1)
    st = solve(model, params, X, T)
    a = dae.pack(st.states, st.multipliers)
    assert a.size == dae.n_algebraic == 2 * 6 * (5 + 5 + 1)
    states, mults = dae.unpack(a)
    assert all(np.array_equal(x, y) for x, y in zip(states, st.states))
    assert np.abs(dae.residual(params, a)).max() < 1e-14
    assert np.abs(dae.residual(params, a + 1e-3 * rng.standard_normal(a.size))).max() > 1e-5
    # ∂ℒ/∂w at the algebraic point is backpropagation's gradient
    g = dae.lagrangian_gradient(params, a)
    assert rel_err(tree.flatten(g), tree.flatten(st.grads)) < 1e-14
    # the algebraic solve from zeros finds the same point
    found, _ = dae.solve_algebraic(params, np.zeros(a.size))
    assert rel_err(found, a) < 1e-12


@pytest.mark.parametrize("loss, scope", [("mse", "layer"), ("cross_entropy", "network")])
def test_dae_integration_agrees_with_the_reduced_flow(loss, scope, rng):
    model = mlp([2, 3, 2], "tanh")
    params = model.init(rng)
    X = rng.standard_normal((4, 2))
    T = rng.standard_normal((4, 2)) if loss == "mse" else rng.integers(0, 2, 4)
    kw = {"loss": loss, "mass": 0.2, "scope": scope}
    t = np.linspace(0.0, 1.0, 3)
    dae = TrainingDAE(model, X, T, **kw)
    res = integrate_dae(dae, params, t)
    _, w = reduced_flow(model, params, X, T, t, **kw)
    # both at rtol 1e-9: the paths agree to the integration tolerance
    assert rel_err(res.w, w) < 1e-7
    assert rel_err(res.w[-1], res.w[0]) > 1e-2                  # the parameters did move
    assert res.max_residual < 1e-11                             # on the constraint manifold
    st = solve(model, tree.unflatten(params, res.w[-1]), X, T, loss)
    assert rel_err(res.a[-1], dae.pack(st.states, st.multipliers)) < 1e-10
    assert res.nfev > 0 and res.residual_evaluations > res.nfev


def test_product_space_stages_are_refused(rng):
    model = Sequential(FanOut(2), Concat(2, 2), Linear(4, 1))
    with pytest.raises(ValueError, match="product-space"):
        TrainingDAE(model, rng.standard_normal((3, 2)), rng.standard_normal((3, 1)))
