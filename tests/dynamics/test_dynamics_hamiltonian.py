"""Theorems 1 and 2: the Hamiltonian, Hamilton's equations and their flow.

Tolerances (float64):
- algebraic identities (Legendre transform, H = 0 at p = ∓∇f): 1e-12 relative;
- Hamilton's RHS against central differences of H (relative step ε^(1/3)): 1e-7 relative;
- H along a gradient-flow trajectory with the velocity from central differences of the
  dense output in time (step 1e-4): |H| ≤ 1e-6 · V;
- Hamilton's flow (DOP853, rtol 1e-10, atol 1e-12): energy drift ≤ 1e-8·max(1, |H₀|), and
  from p₀ = −∇f(x₀) it follows the gradient-descent path to 1e-7 over the case's horizon.
"""

import numpy as np
import pytest

from dynamics_cases import GEOMETRY_CASES, random_point, rel_err
from refimpl.dynamics import (central_difference, cogeodesic_rhs, gradient_flow, hamilton_flow, hamilton_rhs,
                              hamiltonian, action_lagrangian, momentum, potential_energy, potential_energy_gradient)

FD_RTOL = 1e-7


@pytest.mark.parametrize("name", GEOMETRY_CASES)
def test_hamiltonian_is_the_legendre_transform_of_the_lagrangian(name, rng):
    case = GEOMETRY_CASES[name]
    x, v = random_point(case, rng), rng.standard_normal(case.metric.dim)
    p = momentum(case.metric, x, v)
    H = hamiltonian(case.metric, case.potential, x, p)
    assert H == pytest.approx(p @ v - action_lagrangian(case.metric, case.potential, x, v), rel=1e-12, abs=1e-14)


@pytest.mark.parametrize("sign", [-1.0, 1.0])
@pytest.mark.parametrize("name", GEOMETRY_CASES)
def test_hamiltonian_vanishes_on_gradient_momenta(name, sign, rng):
    """Theorem 1: on descent/ascent paths p = ∓∇f, hence H = 0."""
    case = GEOMETRY_CASES[name]
    x = random_point(case, rng)
    H = hamiltonian(case.metric, case.potential, x, sign * case.potential.gradient(x))
    assert abs(H) <= 1e-12 * potential_energy(case.metric, case.potential, x)


@pytest.mark.parametrize("name", GEOMETRY_CASES)
def test_hamiltonian_is_zero_along_an_integrated_gradient_flow(name):
    case = GEOMETRY_CASES[name]
    flow = gradient_flow(case.metric, case.potential, case.x0, (0.0, case.T))
    h = 1e-4
    for t in np.linspace(0.1, case.T - 0.1, 7):
        x = flow.sol(t)
        xdot = (flow.sol(t + h) - flow.sol(t - h)) / (2 * h)
        H = hamiltonian(case.metric, case.potential, x, momentum(case.metric, x, xdot))
        assert abs(H) <= 1e-6 * potential_energy(case.metric, case.potential, x)


@pytest.mark.parametrize("name", GEOMETRY_CASES)
def test_hamilton_rhs_is_the_symplectic_gradient_of_h(name, rng):
    """Theorem 2: ẋ = ∂H/∂p, ṗ = −∂H/∂x."""
    case = GEOMETRY_CASES[name]
    x, p = random_point(case, rng), rng.standard_normal(case.metric.dim)
    xdot, pdot = hamilton_rhs(case.metric, case.potential, x, p)
    assert rel_err(xdot, central_difference(lambda q: hamiltonian(case.metric, case.potential, x, q), p)) < FD_RTOL
    assert rel_err(pdot, -central_difference(lambda y: hamiltonian(case.metric, case.potential, y, p), x)) < FD_RTOL


@pytest.mark.parametrize("name", GEOMETRY_CASES)
def test_potential_energy_gradient_matches_central_differences(name, rng):
    case = GEOMETRY_CASES[name]
    x = random_point(case, rng)
    fd = central_difference(lambda y: potential_energy(case.metric, case.potential, y), x)
    assert rel_err(potential_energy_gradient(case.metric, case.potential, x), fd) < FD_RTOL


@pytest.mark.parametrize("name", GEOMETRY_CASES)
def test_cogeodesic_rhs_is_hamilton_without_potential(name, rng):
    """Remark 1: V → 0."""
    case = GEOMETRY_CASES[name]
    x, p = random_point(case, rng), rng.standard_normal(case.metric.dim)
    xdot, pdot = cogeodesic_rhs(case.metric, x, p)
    fd = -central_difference(lambda y: 0.5 * p @ case.metric.solve(y, p), x)
    assert rel_err(xdot, case.metric.solve(x, p)) < 1e-14
    assert rel_err(pdot, fd) < FD_RTOL


@pytest.mark.parametrize("name", GEOMETRY_CASES)
def test_hamilton_flow_conserves_energy(name, rng):
    """Off the zero-energy manifold: p₀ = −∇f(x₀) + 10 % noise, horizon 0.5 (the flow runs
    away in finite time for larger kicks or horizons, since H = ½pᵀg⁻¹p − V)."""
    case = GEOMETRY_CASES[name]
    x0 = case.x0
    grad = case.potential.gradient(x0)
    p0 = -grad + 0.1 * np.linalg.norm(grad) * rng.standard_normal(case.metric.dim)
    flow = hamilton_flow(case.metric, case.potential, x0, p0, (0.0, 0.5))
    H0 = hamiltonian(case.metric, case.potential, x0, p0)
    assert flow.energy[0] == pytest.approx(H0, rel=1e-14, abs=1e-15)
    assert flow.energy_drift == np.max(np.abs(flow.energy - H0))
    assert flow.energy_drift <= 1e-8 * max(1.0, abs(H0))


@pytest.mark.parametrize("name", GEOMETRY_CASES)
def test_hamilton_flow_from_minus_grad_f_follows_gradient_descent(name):
    case = GEOMETRY_CASES[name]
    p0 = -case.potential.gradient(case.x0)
    ham = hamilton_flow(case.metric, case.potential, case.x0, p0, (0.0, case.T))
    gd = gradient_flow(case.metric, case.potential, case.x0, (0.0, case.T))
    assert rel_err(ham.x, gd.sol(ham.t).T) < 1e-7
    minus_grad = np.array([-case.potential.gradient(x) for x in ham.x])
    assert rel_err(ham.p, minus_grad) < 1e-7
    assert np.max(np.abs(ham.energy)) < 1e-8 * potential_energy(case.metric, case.potential, case.x0)


def test_a_run_away_hamilton_flow_stops_with_a_clear_error():
    case = GEOMETRY_CASES["halfplane_bowl"]
    with pytest.raises(RuntimeError, match="blows up in finite time"):
        hamilton_flow(case.metric, case.potential, case.x0, [0.3, 0.3], (0.0, 5.0), max_nfev=5000)


def test_hamiltonian_rejects_bad_arguments():
    case = GEOMETRY_CASES["halfplane_bowl"]
    with pytest.raises(ValueError, match="potential is required"):
        hamiltonian(case.metric, None, [0.0, 1.0], [1.0, 0.0])
    with pytest.raises(ValueError, match=">= 0"):
        hamilton_rhs(case.metric, case.potential, [0.0, 1.0], [1.0, 0.0], potential_scale=-1.0)
    with pytest.raises(ValueError, match=r"p must have shape \(2,\)"):
        hamilton_rhs(case.metric, case.potential, [0.0, 1.0], [1.0, 0.0, 0.0])
    with pytest.raises(ValueError, match="outside the domain"):
        hamilton_flow(case.metric, case.potential, [0.0, -1.0], [1.0, 0.0], (0.0, 1.0))
    with pytest.raises(ValueError, match="t1 > t0"):
        hamilton_flow(case.metric, case.potential, [0.0, 1.0], [1.0, 0.0], (1.0, 0.0))
    with pytest.raises(ValueError, match="method"):
        gradient_flow(case.metric, case.potential, [0.0, 1.0], (0.0, 1.0), method="Euler")
    with pytest.raises(ValueError, match="direction"):
        gradient_flow(case.metric, case.potential, [0.0, 1.0], (0.0, 1.0), direction="down")
