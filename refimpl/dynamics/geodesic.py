"""Euler–Lagrange equations of the action and the geodesic equation (:ref:`math §1 <math-1>`, Remark 1).

The Euler–Lagrange equations ``d/dt ∂L/∂ẋ = ∂L/∂x`` of ``L = ½ ẋᵀgẋ + s V`` are

    ẍ^k = −Γ^k_ij ẋ^i ẋ^j + s · (g⁻¹ ∇V)^k,

with the Christoffel symbols of the second kind

    Γ^k_ij = ½ g^{kl} (∂_i g_lj + ∂_j g_li − ∂_l g_ij).

For ``s = 0`` (Remark 1, ``V → 0``) this is the geodesic equation. The same curves come out of
Hamilton's equations (`refimpl.dynamics.hamiltonian`) with ``p = g ẋ``; the tests check both.

On the Poincaré half-plane the geodesics are vertical lines ``(c, y₀ eˢ)`` and semicircles
``(c + r tanh s, r / cosh s)`` (unit speed, parameter ``s`` = arc length).
"""

from __future__ import annotations

import numpy as np

from ._checks import check_vector
from .hamiltonian import _check_scale
from .lagrangian import _check_pair, _potential_energy_gradient
from .metric import Metric
from .potential import Potential

__all__ = ["christoffel", "euler_lagrange_rhs", "geodesic_rhs"]


def christoffel(metric: Metric, x) -> np.ndarray:
    """Christoffel symbols ``Γ[k, i, j] = Γ^k_ij`` at ``x``, shape ``(d, d, d)``, symmetric in ``i, j``."""
    _check_pair(metric, None)
    return _christoffel(metric, metric.check_point(x))


def euler_lagrange_rhs(metric: Metric, potential: Potential | None, x, v, *, potential_scale: float = 1.0):
    """First-order form of the Euler–Lagrange equations of the action (1).

    Parameters
    ----------
    metric : Metric
    potential : Potential or None
        None only with ``potential_scale = 0``.
    x, v : array_like, shape (d,)
        Position and velocity ``ẋ``.
    potential_scale : float
        ``s ≥ 0`` multiplying ``V``; ``0`` gives the geodesic equation.

    Returns
    -------
    xdot, vdot : ndarray, shape (d,)
        ``v`` and ``−Γ(v, v) + s g⁻¹∇V``.
    """
    _check_pair(metric, potential)
    s = _check_scale(potential, potential_scale)
    x = metric.check_point(x)
    v = check_vector(v, metric.dim, "v")
    return v.copy(), _acceleration(metric, potential, x, v, s)


def geodesic_rhs(metric: Metric, x, v):
    """The geodesic equation ``ẍ = −Γ(ẋ, ẋ)`` in first-order form (Remark 1)."""
    return euler_lagrange_rhs(metric, None, x, v, potential_scale=0.0)


def _christoffel(metric, x):
    dg = metric._derivative(x)                                   # dg[i, l, j] = ∂_i g_lj
    lower = 0.5 * (np.einsum("ilj->lij", dg) + np.einsum("jli->lij", dg) - dg)   # Γ_{l,ij}
    return metric._solve(x, lower.reshape(metric.dim, -1)).reshape(lower.shape)


def _acceleration(metric, potential, x, v, s):
    acc = -np.einsum("kij,i,j->k", _christoffel(metric, x), v, v)
    if s:
        acc = acc + s * metric._solve(x, _potential_energy_gradient(metric, potential, x))
    return acc
