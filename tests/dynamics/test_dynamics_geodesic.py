"""Remark 1: geodesics of the half-plane, Christoffel symbols, Euler–Lagrange vs Hamilton.

Known unit-speed geodesics of ``g = I/y²`` (parameter s = arc length):
vertical line ``(c, y₀ eˢ)``; semicircle ``(c + r tanh s, r / cosh s)``.

Tolerances (float64): the geodesic equation on the analytic curves holds to 1e-13
relative; the co-geodesic flow (DOP853, rtol 1e-10) reproduces the semicircle to 1e-8;
Euler–Lagrange acceleration equals the time derivative of ``g⁻¹p`` under Hamilton's flow to
1e-12 (1e-7 with finite-difference derivatives).
"""

import numpy as np
import pytest

from dynamics_cases import GEOMETRY_CASES, random_point, rel_err
from refimpl.dynamics import (PoincareHalfPlane, christoffel, euler_lagrange_rhs, geodesic_rhs, hamilton_flow,
                              hamilton_rhs)


def _vertical(s, c=0.4, y0=0.7):
    e = np.exp(s)
    return np.array([c, y0 * e]), np.array([0.0, y0 * e]), np.array([0.0, y0 * e])


def _semicircle(s, c=-0.3, r=1.7):
    sech, tanh = 1.0 / np.cosh(s), np.tanh(s)
    pos = np.array([c + r * tanh, r * sech])
    vel = np.array([r * sech**2, -r * sech * tanh])
    acc = np.array([-2.0 * r * sech**2 * tanh, r * sech * (tanh**2 - sech**2)])
    return pos, vel, acc


HALF_PLANE_GEODESICS = {"vertical line": _vertical, "semicircle": _semicircle}


@pytest.mark.parametrize("name", HALF_PLANE_GEODESICS)
def test_known_half_plane_geodesics_solve_the_geodesic_equation(name):
    metric = PoincareHalfPlane()
    for s in np.linspace(-2.0, 2.0, 9):
        x, v, a = HALF_PLANE_GEODESICS[name](s)
        xdot, vdot = geodesic_rhs(metric, x, v)
        assert rel_err(vdot, a) < 1e-13
        assert v @ metric.matrix(x) @ v == pytest.approx(1.0, rel=1e-14)     # unit speed


def test_cogeodesic_flow_traces_the_semicircle():
    metric = PoincareHalfPlane()
    x0, v0, _ = _semicircle(-1.5)
    flow = hamilton_flow(metric, None, x0, metric.matrix(x0) @ v0, (0.0, 3.0), potential_scale=0.0)
    expected = np.array([_semicircle(s - 1.5)[0] for s in flow.t])
    assert rel_err(flow.x, expected) < 1e-8
    assert flow.energy_drift < 1e-10       # H = ½ |v|² = ½


@pytest.mark.parametrize("name", GEOMETRY_CASES)
def test_christoffel_symbols_are_symmetric_and_vanish_for_constant_metrics(name, rng):
    case = GEOMETRY_CASES[name]
    gamma = christoffel(case.metric, random_point(case, rng))
    np.testing.assert_allclose(gamma, np.swapaxes(gamma, 1, 2), rtol=0, atol=1e-12 * np.max(np.abs(gamma)))
    if name in ("euclidean_quadratic", "constant_logcosh"):
        assert np.all(gamma == 0.0)


@pytest.mark.parametrize("scale", [0.0, 1.0])
@pytest.mark.parametrize("name", GEOMETRY_CASES)
def test_euler_lagrange_agrees_with_hamilton(name, scale, rng):
    """With p = g v: d/dt(g⁻¹p) = Σ_i v_i (∂_i g⁻¹) p + g⁻¹ ṗ equals the Euler–Lagrange ẍ."""
    case = GEOMETRY_CASES[name]
    x, v = random_point(case, rng), rng.standard_normal(case.metric.dim)
    p = case.metric.matrix(x) @ v
    _, pdot = hamilton_rhs(case.metric, case.potential, x, p, potential_scale=scale)
    acc_h = np.einsum("i,iab,b->a", v, case.metric.inverse_derivative(x), p) + case.metric.solve(x, pdot)
    _, acc_el = euler_lagrange_rhs(case.metric, case.potential, x, v, potential_scale=scale)
    assert rel_err(acc_el, acc_h) < (1e-7 if name == "function_metric_quartic" else 1e-12)
