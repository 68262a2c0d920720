"""The Lagrangian of the action (1), its momentum and its potential term (:ref:`math §1 <math-1>`, Theorem 1).

With metric ``g(x)`` and potential ``f`` the action density is

    L(x, ẋ) = ½ ẋᵀ g(x) ẋ + V(x),        V(x) = ½ ∇f(x)ᵀ g(x)⁻¹ ∇f(x),

both terms quadratic forms: the velocity measured by ``g``, the gradient by ``g⁻¹``. Unlike
classical mechanics the potential enters with a *plus* sign. The canonical momentum is

    p = ∂L/∂ẋ = g(x) ẋ,

and Hamilton's equations (Theorem 2) need the derivative of ``V``:

    ∂_i V = (∇²f · g⁻¹∇f)_i − ½ uᵀ (∂_i g) u,      u = g⁻¹ ∇f,

using ``∂_i g⁻¹ = −g⁻¹ (∂_i g) g⁻¹``. All points ``x`` and velocities have shape ``(d,)``.
"""

from __future__ import annotations

import numpy as np

from ._checks import check_vector
from .metric import Metric
from .potential import Potential

__all__ = ["action_lagrangian", "momentum", "potential_energy", "potential_energy_gradient"]


def _check_pair(metric, potential) -> None:
    """Raise TypeError/ValueError unless ``metric`` is a `Metric` and ``potential`` a `Potential` of the same dim."""
    if not isinstance(metric, Metric):
        raise TypeError(f"metric must be a refimpl.dynamics.Metric, got {type(metric).__name__}.")
    if potential is None:
        return
    if not isinstance(potential, Potential):
        raise TypeError(f"potential must be a refimpl.dynamics.Potential, got {type(potential).__name__}.")
    if potential.dim != metric.dim:
        raise ValueError(f"metric and potential must act on the same R^d: metric has d = {metric.dim}, potential d = {potential.dim}.")


# -- public ------------------------------------------------------------------------------
def action_lagrangian(metric: Metric, potential: Potential, x, xdot) -> float:
    """``L = ½ ẋᵀ g(x) ẋ + ½ ∇f(x)ᵀ g(x)⁻¹ ∇f(x)``, the integrand of the action (1).

    Parameters
    ----------
    metric : Metric
    potential : Potential
    x, xdot : array_like, shape (d,)
        Position and velocity.
    """
    _check_pair(metric, potential)
    x = metric.check_point(x)
    v = check_vector(xdot, metric.dim, "xdot")
    return _lagrangian(metric, potential, x, v)


def momentum(metric: Metric, x, xdot) -> np.ndarray:
    """The canonical momentum ``p = ∂L/∂ẋ = g(x) ẋ`` (Theorem 1), shape ``(d,)``."""
    _check_pair(metric, None)
    x = metric.check_point(x)
    v = check_vector(xdot, metric.dim, "xdot")
    return metric._matrix(x) @ v


def potential_energy(metric: Metric, potential: Potential, x) -> float:
    """``V(x) = ½ ∇fᵀ g⁻¹ ∇f``: half the squared Riemannian norm of the gradient."""
    _check_pair(metric, potential)
    return _potential_energy(metric, potential, metric.check_point(x))


def potential_energy_gradient(metric: Metric, potential: Potential, x) -> np.ndarray:
    """``∂V/∂x``, shape ``(d,)``; uses the Hessian of ``f`` and ``∂g`` (see module docstring)."""
    _check_pair(metric, potential)
    return _potential_energy_gradient(metric, potential, metric.check_point(x))


# -- private -----------------------------------------------------------------------------
def _lagrangian(metric, potential, x, v):
    return 0.5 * v @ metric._matrix(x) @ v + _potential_energy(metric, potential, x)


def _potential_energy(metric, potential, x):
    grad = potential._gradient(x)
    return 0.5 * grad @ metric._solve(x, grad)


def _potential_energy_gradient(metric, potential, x):
    grad = potential._gradient(x)
    u = metric._solve(x, grad)                      # u = g⁻¹ ∇f, the Riemannian gradient
    hess = potential._hessian(x)
    dg = metric._derivative(x)                      # dg[i] = ∂_i g
    return hess @ u - 0.5 * np.einsum("j,ijk,k->i", u, dg, u)
