"""Metrics and potentials: analytic derivatives against central differences, and bad input.

Tolerances (float64): analytic ∂g and Hessians agree with central differences at relative
step ε^(1/3) to 1e-8 relative (the expected error is ~1e-10).
"""

import numpy as np
import pytest

from dynamics_cases import GEOMETRY_CASES, _warped_metric, _warped_metric_derivative, random_point, rel_err
from refimpl.dynamics import (ConstantMetric, EuclideanMetric, FunctionMetric, PoincareHalfPlane, Potential,
                              central_difference, half_plane_bowl, quadratic_potential)

FD_RTOL = 1e-8


@pytest.mark.parametrize("name", GEOMETRY_CASES)
def test_metric_derivative_matches_central_differences(name, rng):
    case = GEOMETRY_CASES[name]
    x = random_point(case, rng)
    fd = central_difference(case.metric.matrix, x)
    assert rel_err(case.metric.derivative(x), fd) < FD_RTOL


def test_function_metric_finite_differences_match_the_analytic_derivative(rng):
    x = rng.standard_normal(2)
    assert rel_err(_warped_metric().derivative(x), _warped_metric_derivative(x)) < FD_RTOL


@pytest.mark.parametrize("name", GEOMETRY_CASES)
def test_inverse_derivative_is_minus_ginv_dg_ginv(name, rng):
    case = GEOMETRY_CASES[name]
    x = random_point(case, rng)
    fd = central_difference(case.metric.inverse, x)
    assert rel_err(case.metric.inverse_derivative(x), fd) < FD_RTOL


@pytest.mark.parametrize("name", GEOMETRY_CASES)
def test_solve_inverts_the_metric(name, rng):
    case = GEOMETRY_CASES[name]
    x, v = random_point(case, rng), rng.standard_normal(case.metric.dim)
    assert rel_err(case.metric.matrix(x) @ case.metric.solve(x, v), v) < 1e-13


@pytest.mark.parametrize("name", GEOMETRY_CASES)
def test_hessian_matches_central_differences_of_the_gradient(name, rng):
    f = GEOMETRY_CASES[name].potential
    x = random_point(GEOMETRY_CASES[name], rng)
    assert rel_err(f.hessian(x), central_difference(f.gradient, x)) < FD_RTOL
    assert rel_err(f.gradient(x), central_difference(f.value, x)) < FD_RTOL


def test_halfplane_metric_is_identity_over_y_squared():
    g = PoincareHalfPlane().matrix([0.3, 2.0])
    np.testing.assert_allclose(g, np.eye(2) / 4.0, rtol=0, atol=1e-16)


# -- bad input ----------------------------------------------------------------------------
BAD_MATRICES = {
    "not symmetric": ([[1.0, 0.5], [0.0, 1.0]], ValueError, "symmetric"),
    "indefinite": ([[1.0, 2.0], [2.0, 1.0]], ValueError, "positive definite"),
    "not square": ([[1.0, 0.0, 0.0], [0.0, 1.0, 0.0]], ValueError, "square"),
    "nan": ([[1.0, np.nan], [np.nan, 1.0]], ValueError, "finite"),
    "complex": ([[1.0 + 1j, 0.0], [0.0, 1.0]], TypeError, "real"),
    "strings": ([["a", "b"], ["c", "d"]], TypeError, "real numbers"),
}


@pytest.mark.parametrize("name", BAD_MATRICES)
def test_constant_metric_rejects_bad_matrices(name):
    matrix, err, words = BAD_MATRICES[name]
    with pytest.raises(err, match=words):
        ConstantMetric(matrix)
    if err is ValueError and name != "not square":
        with pytest.raises(err, match=words):
            quadratic_potential(matrix)


BAD_POINTS = {
    "outside the half-plane": (PoincareHalfPlane(), [0.0, -1.0], ValueError, "outside the domain"),
    "on the boundary": (PoincareHalfPlane(), [0.0, 0.0], ValueError, "y > 0"),
    "wrong shape": (EuclideanMetric(3), [1.0, 2.0], ValueError, r"shape \(3,\)"),
    "nan": (EuclideanMetric(2), [np.nan, 1.0], ValueError, "finite"),
    "infinite": (PoincareHalfPlane(), [0.0, np.inf], ValueError, "finite"),
    "complex": (EuclideanMetric(2), [1j, 1.0], TypeError, "complex"),
    "string": (EuclideanMetric(2), "1, 2", TypeError, "real numbers"),
}


@pytest.mark.parametrize("name", BAD_POINTS)
def test_metric_rejects_bad_points(name):
    metric, x, err, words = BAD_POINTS[name]
    for method in (metric.matrix, metric.derivative, metric.inverse):
        with pytest.raises(err, match=words):
            method(x)


def test_function_metric_reports_a_non_spd_value_and_where():
    metric = FunctionMetric(lambda x: np.diag([1.0, x[0]]), dim=2)
    metric.matrix([1.0, 0.0])
    with pytest.raises(ValueError, match=r"positive definite.*at x = \[-1"):
        metric.matrix([-1.0, 0.0])
    with pytest.raises(ValueError, match=r"shape"):
        FunctionMetric(lambda x: np.eye(3), dim=2).matrix([0.0, 0.0])


def test_function_metric_domain_is_enforced():
    metric = FunctionMetric(lambda x: np.eye(2), dim=2, domain=lambda x: x[0] > 0)
    with pytest.raises(ValueError, match="outside the domain"):
        metric.matrix([-1.0, 0.0])


def test_bad_constructor_arguments():
    with pytest.raises(TypeError, match="callable"):
        FunctionMetric(np.eye(2), dim=2)
    with pytest.raises(ValueError, match="at least 1"):
        EuclideanMetric(0)
    with pytest.raises(ValueError, match="half-plane"):
        half_plane_bowl(center=(0.0, -1.0))
    with pytest.raises(ValueError, match=r"gradient\(x\) must have shape"):
        Potential(lambda x: 0.0, lambda x: np.zeros(3), dim=2).gradient([0.0, 0.0])
