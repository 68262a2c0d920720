"""Test cases for `refimpl.dynamics`, declared as data.

``GEOMETRY_CASES`` maps a name to a `Case`: a metric, a potential on the same space, a start
point for gradient flow and a time horizon. Together they cover every built-in metric, the
finite-difference derivative of a `FunctionMetric`, analytic and finite-difference Hessians.

``random_path(case, coeffs)`` turns an array of coefficients (drawn by hypothesis) into a
smooth analytic `Trajectory` inside the metric's domain with exact velocity.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from refimpl.dynamics import (ConstantMetric, EuclideanMetric, FunctionMetric, Metric, Trajectory,
                              PoincareHalfPlane, Potential, half_plane_bowl, quadratic_potential)

#: number of sine modes in a random path
N_MODES = 3


@dataclass(frozen=True)
class Case:
    metric: Metric
    potential: Potential
    x0: np.ndarray
    T: float
    half_plane: bool = False   # last coordinate parametrised through exp() in random paths


def _log_cosh_bowl(a):
    """f = Σ log cosh(x_i) + ½ xᵀAx: non-quadratic, analytic Hessian.

    ``log cosh x = log1p(2 sinh²(x/2))`` keeps f's relative accuracy near 0, where
    ``log(cosh x)`` has an absolute error of ε (it loses all digits of f ≈ x²/2 < ε).
    """
    a = np.asarray(a, dtype=float)
    return Potential(
        value=lambda x: float(np.sum(np.log1p(2.0 * np.sinh(0.5 * x) ** 2)) + 0.5 * x @ a @ x),
        gradient=lambda x: np.tanh(x) + a @ x,
        hessian=lambda x: np.diag(1.0 / np.cosh(x) ** 2) + a,
        dim=a.shape[0], name="log-cosh bowl")


def _warped_metric():
    """g(x) = (1 + |x|²) I + x xᵀ given as a bare callable (finite-difference ∂g)."""
    return FunctionMetric(lambda x: (1.0 + x @ x) * np.eye(x.size) + np.outer(x, x), dim=2)


def _warped_metric_derivative(x):
    """Analytic ∂g of `_warped_metric`, to test its finite differences against."""
    d = x.size
    dg = np.zeros((d, d, d))
    for i in range(d):
        e = np.zeros(d)
        e[i] = 1.0
        dg[i] = 2.0 * x[i] * np.eye(d) + np.outer(e, x) + np.outer(x, e)
    return dg


def _quartic_no_hessian():
    """f = ¼|x − c|⁴ + ½|x|², gradient only (Hessian by finite differences)."""
    c = np.array([0.3, -0.2])
    return Potential(lambda x: 0.25 * ((x - c) @ (x - c)) ** 2 + 0.5 * x @ x,
                     lambda x: ((x - c) @ (x - c)) * (x - c) + x, dim=2, name="quartic")


_A3 = np.array([[2.0, 0.3, 0.0], [0.3, 1.0, 0.2], [0.0, 0.2, 0.5]])

GEOMETRY_CASES = {
    "euclidean_quadratic": Case(EuclideanMetric(3), quadratic_potential(_A3, center=[0.5, -0.5, 1.0]),
                                np.array([1.5, 0.5, -1.0]), 2.0),
    "constant_logcosh": Case(ConstantMetric([[2.0, 0.5], [0.5, 1.0]]), _log_cosh_bowl([[0.5, 0.1], [0.1, 0.3]]),
                             np.array([1.2, -0.8]), 2.0),
    "halfplane_bowl": Case(PoincareHalfPlane(), half_plane_bowl(center=(0.5, 1.0), weights=(1.0, 2.0)),
                           np.array([-1.0, 3.0]), 1.5, half_plane=True),
    "function_metric_quartic": Case(_warped_metric(), _quartic_no_hessian(), np.array([0.8, 0.6]), 1.0),
}

#: the cases whose metric is one of the built-ins with an analytic derivative
BUILTIN_CASES = ["euclidean_quadratic", "constant_logcosh", "halfplane_bowl"]


def coeff_shape(case: Case) -> tuple[int, int]:
    """Shape of the coefficient array that `random_path` needs: (2 + N_MODES, d)."""
    return (2 + N_MODES, case.metric.dim)


def random_path(case: Case, coeffs: np.ndarray, T: float = 1.0) -> Trajectory:
    """A smooth path ``z(t) = a + b t/T + Σ_k c_k sin(kπ t/T)`` (rows of ``coeffs``: a, b, c_1..c_K).

    On the half-plane the last coordinate is ``y = exp(z_last)`` (always inside the domain).
    """
    a, b, c = coeffs[0], coeffs[1], coeffs[2:]
    k = np.pi * np.arange(1, c.shape[0] + 1)

    def z(t):
        return a + b * t / T + np.sin(k * t / T) @ c

    def zdot(t):
        return b / T + ((k / T) * np.cos(k * t / T)) @ c

    if not case.half_plane:
        return Trajectory(z, zdot, (0.0, T), case.metric.dim)

    def position(t):
        out = z(t)
        out[-1] = np.exp(out[-1])
        return out

    def velocity(t):
        out = zdot(t)
        out[-1] = out[-1] * np.exp(z(t)[-1])
        return out

    return Trajectory(position, velocity, (0.0, T), case.metric.dim)


def random_point(case: Case, rng: np.random.Generator) -> np.ndarray:
    """A random point of the domain near the case's start point."""
    x = case.x0 + 0.3 * rng.standard_normal(case.metric.dim)
    if case.half_plane:
        x[-1] = abs(x[-1]) + 0.2
    return x


def rel_err(a, b) -> float:
    """max |a − b| / max(max |b|, 1e-300)."""
    a, b = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    return float(np.max(np.abs(a - b)) / max(float(np.max(np.abs(b))), 1e-300))


# -- networks (refimpl.oracle conventions: params = [(W (out, in), b (out,)), ...]) ---------------
def network_case(widths, n_samples=20, seed=0):
    """A small tanh MLP with MSE targets from a smooth function: ``(params, X, targets)``."""
    rng = np.random.default_rng(seed)
    params = [(rng.standard_normal((o, i)) / np.sqrt(i), 0.1 * rng.standard_normal(o))
              for i, o in zip(widths[:-1], widths[1:])]
    X = rng.standard_normal((n_samples, widths[0]))
    targets = np.sin(2.0 * X[:, :1]) + 0.5 * X[:, -1:] + np.zeros((1, widths[-1]))
    return params, X, targets


NETWORK_CASES = {"2-4-1 tanh mse": (2, 4, 1), "3-5-2 tanh mse": (3, 5, 2)}
