"""The action (1): its lower bound, equality on gradient flow, and fixed-end perturbations.

Tolerances (float64):
- random analytic paths, composite 8-point Gauss–Legendre on 16 pieces: the lower bound
  ``S ≥ |Δf|`` holds up to 1e-10·(1 + |Δf|);
- gradient descent/ascent integrated by DOP853 at rtol 1e-10, atol 1e-12, action along the
  dense output: ``|S − |Δf|| ≤ 1e-8·|Δf|`` (measured 1e-13 .. 1e-11);
- the same paths sampled on a uniform grid: the piecewise-linear action converges to
  ``|Δf|`` at second order in the step.
"""

from functools import lru_cache

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from dynamics_cases import BUILTIN_CASES, GEOMETRY_CASES, coeff_shape, random_path
from refimpl.dynamics import Trajectory, action, action_of_trajectory, complete_the_square, gradient_flow

EQUALITY_RTOL = 1e-8


def _coeffs(name):
    return arrays(np.float64, coeff_shape(GEOMETRY_CASES[name]), elements=st.floats(-1.0, 1.0))


@lru_cache(maxsize=None)
def _flow(name, direction):
    case = GEOMETRY_CASES[name]
    if direction == "descent":
        return gradient_flow(case.metric, case.potential, case.x0, (0.0, case.T))
    # ascent: run back up from where descent ends, so the path stays in a well-scaled region
    end = gradient_flow(case.metric, case.potential, case.x0, (0.0, case.T)).x[-1]
    return gradient_flow(case.metric, case.potential, end, (0.0, case.T), direction="ascent")


@pytest.mark.parametrize("name", GEOMETRY_CASES)
@given(data=st.data())
def test_action_is_at_least_the_change_in_f(name, data):
    case = GEOMETRY_CASES[name]
    path = random_path(case, data.draw(_coeffs(name)))
    dec = complete_the_square(case.metric, case.potential, path, subdivisions=16)
    assert dec.action >= dec.lower_bound - 1e-10 * (1.0 + dec.lower_bound)


@pytest.mark.parametrize("direction", ["descent", "ascent"])
@pytest.mark.parametrize("name", GEOMETRY_CASES)
def test_gradient_flow_attains_the_lower_bound(name, direction):
    case = GEOMETRY_CASES[name]
    flow = _flow(name, direction)
    S = action_of_trajectory(case.metric, case.potential, flow.trajectory())
    delta_f = case.potential.value(flow.x[-1]) - case.potential.value(flow.x[0])
    assert np.sign(delta_f) == (-1 if direction == "descent" else 1)
    assert abs(S - abs(delta_f)) <= EQUALITY_RTOL * abs(delta_f)


@pytest.mark.parametrize("name", BUILTIN_CASES)
def test_sampled_action_converges_at_second_order(name):
    case = GEOMETRY_CASES[name]
    flow = _flow(name, "descent")
    bound = case.potential.value(flow.x[0]) - case.potential.value(flow.x[-1])
    gaps = []
    for n in (50, 100, 200):
        t = np.linspace(0.0, case.T, n + 1)
        gaps.append(action(case.metric, case.potential, t, flow.sol(t).T) - bound)
    assert all(g > 0 for g in gaps)
    rates = np.log2(np.array(gaps[:-1]) / np.array(gaps[1:]))
    assert np.all(np.abs(rates - 2.0) < 0.2), rates


@pytest.mark.parametrize("name", GEOMETRY_CASES)
@given(vector=arrays(np.float64, 2, elements=st.floats(-0.3, 0.3)), mode=st.integers(1, 4))
def test_fixed_end_perturbation_of_descent_increases_the_action(name, vector, mode):
    case = GEOMETRY_CASES[name]
    flow = _flow(name, "descent")
    v = np.resize(vector, case.metric.dim)
    v[np.abs(v) < 1e-3] = 1e-3       # a genuine perturbation
    S0 = action_of_trajectory(case.metric, case.potential, flow.trajectory())
    S1 = action_of_trajectory(case.metric, case.potential, flow.trajectory().perturbed(v, mode))
    assert S1 > S0 + 1e-9


def test_action_rejects_bad_samples():
    case = GEOMETRY_CASES["halfplane_bowl"]
    t = np.linspace(0.0, 1.0, 4)
    good = np.column_stack([np.zeros(4), np.linspace(1.0, 2.0, 4)])
    with pytest.raises(ValueError, match=r"shape \(4, 2\)"):
        action(case.metric, case.potential, t, good[:3])
    with pytest.raises(ValueError, match="strictly increasing"):
        action(case.metric, case.potential, t[::-1], good)
    below = good.copy()
    below[2, 1] = -0.5
    with pytest.raises(ValueError, match=r"x\[2\].*outside the domain"):
        action(case.metric, case.potential, t, below)
    with pytest.raises(ValueError, match="finite"):
        action(case.metric, case.potential, t, np.where(good == 2.0, np.nan, good))
    with pytest.raises(TypeError, match="Potential"):
        action(case.metric, "f", t, good)
    with pytest.raises(ValueError, match="same R"):
        action(GEOMETRY_CASES["euclidean_quadratic"].metric, case.potential, t, good)
    with pytest.raises(TypeError, match="Trajectory"):
        action_of_trajectory(case.metric, case.potential, good)
    short = Trajectory(lambda s: np.array([0.0, 1.0]), lambda s: np.zeros(3), (0.0, 1.0), 2)
    with pytest.raises(ValueError, match=r"velocity\(t\) must have shape \(2,\)"):
        action_of_trajectory(case.metric, case.potential, short)
    with pytest.raises(ValueError, match="subdivisions"):
        complete_the_square(case.metric, case.potential, Trajectory.from_samples(t, good), subdivisions=0)
