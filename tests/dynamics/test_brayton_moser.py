"""Remark 2 (math §8): the Brayton–Moser equations as a gradient flow, checked as §1 is.

Derivatives against central differences; the flow against its two gradient forms; the
indefinite action (stationary, equal to −ΔP on the flow, a saddle); the positive-definite
pair (lower bound, equality, H = 0); the overdamping threshold of a linear loop (a limit with
a known answer).
"""
import math

import numpy as np
import pytest

from fd import rel_err
from refimpl.dynamics import action_of_trajectory, central_difference, gradient_flow, hamiltonian
from refimpl.dynamics.brayton_moser import (RLCCircuit, admissible_lambdas, admissible_pair,
                                            brayton_moser_flow, pseudo_action,
                                            pseudo_hamiltonian, series_rlc)

FD = 1e-8          # central differences at step ε^(1/3): error ≈ 4e-11 relative, O(1) scales
QUAD = 1e-9        # flows at rtol 1e-10: the action equals −ΔP to about that


def two_loop(rng):
    """Two inductors, two capacitors, every cubic term on."""
    A = rng.standard_normal((2, 2))
    B = rng.standard_normal((2, 2))
    return RLCCircuit(A @ A.T + 2 * np.eye(2), B @ B.T + 2 * np.eye(2),
                      rng.standard_normal((2, 2)), [2.0, 3.0], [0.3, 0.1],
                      resistance_cubic=[0.4, 0.2], conductance_cubic=[0.05, 0.1],
                      source=[1.0, -0.5], current_source=[0.2, 0.0])


OVERDAMPED = dict(L=1.0, C=1.0, R=3.0, rho=0.5, G=0.2, sigma=0.05, E=1.0)
Z0 = np.array([-1.0, 1.5])


@pytest.fixture
def flow():
    circuit = series_rlc(**OVERDAMPED)
    t, Z, path = brayton_moser_flow(circuit, Z0, (0.0, 4.0))
    return circuit, Z, path


def test_potential_derivatives_match_central_differences(rng):
    c = two_loop(rng)
    for _ in range(3):
        z = rng.standard_normal(4)
        assert rel_err(c.potential_gradient(z), central_difference(c.potential_value, z)) < FD
        assert rel_err(c.potential_hessian(z), central_difference(c.potential_gradient, z)) < FD
        assert rel_err(c.hessian_derivative(z), central_difference(c.potential_hessian, z)) < FD


def test_vector_field_is_kirchhoff_and_both_gradient_forms(rng):
    # the series loop by hand: L di/dt = E − Ri − ρi³ − v, C dv/dt = i − Gv − σv³
    c = series_rlc(L=2.0, C=0.5, R=3.0, rho=0.5, G=0.2, sigma=0.1, E=1.0)
    i, v = 0.7, -0.4
    np.testing.assert_allclose(c.vector_field([i, v]),
                               [(1.0 - 3 * i - 0.5 * i ** 3 - v) / 2.0,
                                (i - 0.2 * v - 0.1 * v ** 3) / 0.5], rtol=1e-15)
    c = two_loop(rng)
    for lam in (-1.3, 0.0, 0.7):
        metric, P = admissible_pair(c, lam)
        z = rng.standard_normal(4)
        zdot = c.vector_field(z)
        # Q ż = −∇P and Q_λ ż = −∇P_λ for every λ (no definiteness needed for the identity)
        assert rel_err(c.pseudo_metric() @ zdot, -c.potential_gradient(z)) < 1e-14
        assert rel_err(metric._matrix(z) @ zdot, -P.gradient(z)) < 1e-13
        assert rel_err(P.gradient(z), central_difference(P.value, z)) < FD
        assert rel_err(P.hessian(z), central_difference(P.gradient, z)) < FD


def test_indefinite_action_equals_minus_delta_p_on_the_flow_and_h_vanishes(flow):
    circuit, Z, path = flow
    s = pseudo_action(circuit, path)
    drop = circuit.potential_value(Z[0]) - circuit.potential_value(Z[-1])
    assert abs(s.action - drop) < QUAD * (1 + abs(drop))
    assert s.current_square < QUAD and s.voltage_square < QUAD
    Q = circuit.pseudo_metric()
    for z in Z:
        assert abs(pseudo_hamiltonian(circuit, z, Q @ circuit.vector_field(z))) < 1e-14


def test_indefinite_action_is_a_saddle_not_a_minimum(flow):
    # fixed-end variations: in the currents S_Q rises, in the voltages (fast enough) it falls
    # below −ΔP, so with Q = diag(L, −C) there is no lower bound
    circuit, Z, path = flow
    drop = circuit.potential_value(Z[0]) - circuit.potential_value(Z[-1])
    for mode in (1, 4):
        up = pseudo_action(circuit, path.perturbed(np.array([0.1, 0.0]), mode))
        down = pseudo_action(circuit, path.perturbed(np.array([0.0, 0.1]), mode))
        assert up.action > drop + 1e-3
        assert abs(up.identity_residual) < QUAD and abs(down.identity_residual) < QUAD
    assert down.action < drop - 1e-2


def test_positive_definite_pair_gives_the_lower_bound_equality_and_h_zero(flow):
    circuit, Z, path = flow
    interval = admissible_lambdas(circuit, Z)
    assert interval is not None
    lam = 0.5 * sum(interval)
    metric, P = admissible_pair(circuit, lam)
    drop = P.value(Z[0]) - P.value(Z[-1])
    assert drop > 0                                     # P_λ is a Lyapunov function
    assert abs(action_of_trajectory(metric, P, path) - drop) < QUAD * (1 + drop)
    for vec, mode in (([0.1, 0.0], 1), ([0.0, 0.1], 1), ([0.05, -0.05], 3)):
        assert action_of_trajectory(metric, P, path.perturbed(np.array(vec), mode),
                              subdivisions=4) > drop + 1e-4
    for z in Z:
        assert abs(hamiltonian(metric, P, z, metric.matrix(z) @ circuit.vector_field(z))) < 1e-13
    # Riemannian gradient descent of P_λ in Q_λ is the circuit's own flow
    gf = gradient_flow(metric, P, Z[0], (0.0, 4.0))
    assert rel_err(gf.x[-1], Z[-1]) < 1e-8


@pytest.mark.parametrize("factor, expected", [(1.05, True), (0.95, False)])
def test_linear_loop_is_a_gradient_flow_iff_overdamped(factor, expected):
    # λQ + ∇²P ≻ 0 for some λ ⇔ |R/L − G/C| > 2/√(LC) ⇔ real eigenvalues of the Jacobian
    L, C, G = 2.0, 0.5, 0.3
    R = L * (G / C + factor * 2 / math.sqrt(L * C))
    c = series_rlc(L=L, C=C, R=R, G=G)
    interval = admissible_lambdas(c, [0.0, 0.0])
    assert (interval is not None) == expected
    jac = np.array([[-R / L, -1 / L], [1 / C, -G / C]])
    assert bool(np.all(np.isreal(np.linalg.eigvals(jac)))) == expected
    if expected:
        # the ends of the interval are the Jacobian's eigenvalues
        np.testing.assert_allclose(sorted(interval), np.sort(np.linalg.eigvals(jac).real),
                                   rtol=1e-10)


def test_metric_domain_is_where_q_lambda_is_positive_definite(flow):
    circuit, Z, _ = flow
    lo, hi = admissible_lambdas(circuit, Z)
    inside, outside = admissible_pair(circuit, 0.5 * (lo + hi))[0], admissible_pair(circuit, hi + 1)[0]
    assert inside._in_domain(Z[0]) and not outside._in_domain(Z[0])
    with pytest.raises(ValueError, match="outside the domain"):
        outside.matrix(Z[0])


@pytest.mark.parametrize("kwargs, match", [
    (dict(inductance=[[1.0, 2.0], [2.0, 1.0]]), "positive definite"),
    (dict(topology=[[1.0, 2.0]]), "topology"),
    (dict(resistance=[1.0, 2.0, 3.0]), "resistance"),
])
def test_bad_circuits_are_clear_errors(kwargs, match):
    base = dict(inductance=np.eye(2), capacitance=[[1.0]], topology=[[1.0], [1.0]],
                resistance=[1.0, 1.0], conductance=[0.5])
    with pytest.raises(ValueError, match=match):
        RLCCircuit(**(base | kwargs))
    with pytest.raises(ValueError, match="shape"):
        admissible_lambdas(series_rlc(), np.zeros((3, 3)))
