"""The action budget on a real network (math §1 with the layerwise metric of §4).

Tolerances (float64):
- the adapter: the oracle's ``mlp_riemannian_step`` (an independent entry point) equals
  ``−η G(w)⁻¹∇R(w)`` with the assembled block-diagonal metric and flattened gradient to
  ``50·ε·κ`` (``conditioning``, ``κ`` of the assembled ``G(w)``); ``∇R`` matches central
  differences of ``R`` to 1e-7;
- continuous flow (DOP853, rtol 1e-10): ``|S − (R₀ − R_T)| ≤ 1e-8 (R₀ − R_T)``;
- Riemannian SGD over ``T = 1`` with ``η = 0.1, 0.05, 0.025``: relative gap in
  ``[0, 0.25 η²]`` (measured 1.48e-3, 3.60e-4, 8.90e-5 on 2-4-1) and halving ``η`` divides it
  by 3.5 to 4.5 (second order).
"""

import numpy as np
import pytest

from conditioning import metric_condition, solve_tol
from dynamics_cases import NETWORK_CASES, network_case, rel_err
from refimpl.dynamics import central_difference, complete_the_square, gradient_flow
from refimpl.dynamics import NetworkProblem, action_budget
from refimpl.modules import mlp
from refimpl.oracle import mlp_riemannian_step
from refimpl.oracle.mlp import to_tree

STEP_SIZES = (0.1, 0.05, 0.025)
HORIZON = 1.0


def _problem(name, **kw):
    pairs, X, targets = network_case(NETWORK_CASES[name])
    widths, params = to_tree(pairs)
    return NetworkProblem(mlp(widths, "tanh"), params, X, targets, **kw), params, pairs


@pytest.mark.parametrize("mass", [1.0, 0.1])
@pytest.mark.parametrize("name", NETWORK_CASES)
def test_riemannian_step_is_minus_lr_ginv_grad_with_the_assembled_metric(name, mass):
    problem, params, pairs = _problem(name, mass=mass)
    w = problem.flatten(params)
    step = np.concatenate([np.concatenate([dW.ravel(), db]) for dW, db in mlp_riemannian_step(
        pairs, problem.X, problem.targets, activation="tanh", loss="mse",
        output_metric="identity", mass=mass, lr=0.3, scope="layer")])
    G = problem.metric().matrix(w)
    expected = -0.3 * problem.metric().solve(w, problem.potential().gradient(w))
    assert rel_err(step, expected) < solve_tol(metric_condition(G, mass))
    assert problem.unflatten(w)["2"]["W"].shape == params["2"]["W"].shape


@pytest.mark.parametrize("name", NETWORK_CASES)
def test_risk_gradient_matches_central_differences(name):
    problem, params, _ = _problem(name)
    w = problem.flatten(params)
    assert rel_err(problem.potential().gradient(w), central_difference(problem.risk, w)) < 1e-7


def test_continuous_flow_action_equals_the_risk_drop():
    problem, params, _ = _problem("2-4-1 tanh mse")
    metric, potential = problem.metric(), problem.potential()
    flow = gradient_flow(metric, potential, problem.flatten(params), (0.0, HORIZON))
    dec = complete_the_square(metric, potential, flow.trajectory())
    assert dec.delta_f < 0
    assert abs(dec.action + dec.delta_f) <= 1e-8 * abs(dec.delta_f)


def test_action_budget_gap_is_second_order_in_the_step():
    problem, params, _ = _problem("2-4-1 tanh mse")
    budgets = [action_budget(problem, params, lr=lr, n_steps=int(round(HORIZON / lr))) for lr in STEP_SIZES]
    for b in budgets:
        assert b.risk_drop > 0
        assert -1e-12 <= b.relative_gap <= 0.25 * b.lr ** 2, b
    ratios = [a.relative_gap / b.relative_gap for a, b in zip(budgets[:-1], budgets[1:])]
    assert all(3.5 <= r <= 4.5 for r in ratios), ratios


def test_network_problem_rejects_bad_input():
    pairs, X, targets = network_case((2, 4, 1))
    widths, params = to_tree(pairs)
    model = mlp(widths, "tanh")
    with pytest.raises(TypeError, match="Module"):
        NetworkProblem(np.zeros(3), params, X, targets)
    with pytest.raises(TypeError, match="dict"):
        NetworkProblem(model, pairs, X, targets)
    with pytest.raises(ValueError, match="X"):
        NetworkProblem(model, params, X[:, :1], targets)
    problem = NetworkProblem(model, params, X, targets)
    with pytest.raises(ValueError, match="shape"):
        problem.unflatten(np.zeros(problem.dim + 1))
    with pytest.raises(ValueError, match="lr"):
        action_budget(problem, params, lr=-0.1, n_steps=3)
