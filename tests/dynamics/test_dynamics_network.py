"""The action budget on a real network (SPEC §1 with the layerwise metric of §4).

Tolerances (float64):
- the adapter: ``mlp_riemannian_step`` equals ``−η G(w)⁻¹∇R(w)`` with the assembled
  block-diagonal metric and flattened gradient to 1e-10 relative; ``∇R`` matches central
  differences of ``R`` to 1e-7;
- continuous flow (DOP853, rtol 1e-10): ``|S − (R₀ − R_T)| ≤ 1e-8 (R₀ − R_T)``;
- Riemannian SGD over ``T = 1`` with ``η = 0.1, 0.05, 0.025``: relative gap in
  ``[0, 0.25 η²]`` (measured 1.48e-3, 3.60e-4, 8.90e-5 on 2-4-1) and halving ``η`` divides it
  by 3.5 to 4.5 (second order).
"""

import numpy as np
import pytest

from dynamics_cases import NETWORK_CASES, network_case, rel_err
from refimpl.dynamics import central_difference, complete_the_square, gradient_flow
from refimpl.dynamics import NetworkProblem, action_budget
from refimpl.dynamics.network import flatten_params
from refimpl.oracle import mlp_riemannian_step

STEP_SIZES = (0.1, 0.05, 0.025)
HORIZON = 1.0


def _problem(name, **kw):
    params, X, targets = network_case(NETWORK_CASES[name])
    return NetworkProblem(params, X, targets, **kw), params


@pytest.mark.parametrize("mass", [1.0, 0.1])
@pytest.mark.parametrize("name", NETWORK_CASES)
def test_riemannian_step_is_minus_lr_ginv_grad_with_the_assembled_metric(name, mass):
    problem, params = _problem(name, mass=mass)
    w = problem.flatten(params)
    step = flatten_params(mlp_riemannian_step(params, problem.X, problem.targets, activation="tanh", loss="mse",
                                              output_metric="identity", mass=mass, lr=0.3, scope="layer"))
    expected = -0.3 * problem.metric().solve(w, problem.potential().gradient(w))
    assert rel_err(step, expected) < 1e-10
    assert problem.unflatten(w)[1][0].shape == params[1][0].shape


@pytest.mark.parametrize("name", NETWORK_CASES)
def test_risk_gradient_matches_central_differences(name):
    problem, params = _problem(name)
    w = problem.flatten(params)
    assert rel_err(problem.potential().gradient(w), central_difference(problem.risk, w)) < 1e-7


def test_continuous_flow_action_equals_the_risk_drop():
    problem, params = _problem("2-4-1 tanh mse")
    metric, potential = problem.metric(), problem.potential()
    flow = gradient_flow(metric, potential, problem.flatten(params), (0.0, HORIZON))
    dec = complete_the_square(metric, potential, flow.path())
    assert dec.delta_f < 0
    assert abs(dec.action + dec.delta_f) <= 1e-8 * abs(dec.delta_f)


def test_action_budget_gap_is_second_order_in_the_step():
    problem, params = _problem("2-4-1 tanh mse")
    budgets = [action_budget(problem, params, lr=lr, n_steps=int(round(HORIZON / lr))) for lr in STEP_SIZES]
    for b in budgets:
        assert b.risk_drop > 0
        assert -1e-12 <= b.relative_gap <= 0.25 * b.lr ** 2, b
    ratios = [a.relative_gap / b.relative_gap for a, b in zip(budgets[:-1], budgets[1:])]
    assert all(3.5 <= r <= 4.5 for r in ratios), ratios


def test_network_problem_rejects_bad_input():
    params, X, targets = network_case((2, 4, 1))
    with pytest.raises(TypeError, match="list of"):
        NetworkProblem(np.zeros(3), X, targets)
    with pytest.raises(ValueError):
        NetworkProblem(params, X[:, :1], targets)
    problem = NetworkProblem(params, X, targets)
    with pytest.raises(ValueError, match="shape"):
        problem.unflatten(np.zeros(problem.dim + 1))
    with pytest.raises(ValueError, match="lr"):
        action_budget(problem, params, lr=-0.1, n_steps=3)
