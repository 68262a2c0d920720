"""The Hamiltonian of the action and Hamilton's equations (:ref:`math §1 <math-1>`, Theorems 1–2, Remark 1).

Legendre transform of ``L = ½ ẋᵀgẋ + V`` with ``p = g ẋ``:

    H(x, p) = pᵀẋ − L = ½ pᵀ g⁻¹ p − V(x),      V = ½ ∇fᵀ g⁻¹ ∇f.          (Theorem 1)

On gradient descent / ascent paths ``ẋ = ∓g⁻¹∇f`` the momentum is ``p = ∓∇f``, so both
terms equal ``½ ∇fᵀg⁻¹∇f`` and ``H = 0``.

Hamilton's equations ``ẋ = ∂H/∂p``, ``ṗ = −∂H/∂x`` read (Theorem 2)

    ẋ   = g⁻¹ p,
    ṗ_i = −½ pᵀ (∂_i g⁻¹) p + ∂_i V  =  ½ ẋᵀ (∂_i g) ẋ + ∂_i V.

``potential_scale = s`` multiplies ``V`` (``H_s = ½pᵀg⁻¹p − s V``); ``s = 0`` is the limit
``V → 0`` of Remark 1, the co-geodesic flow, whose projections to ``x`` are geodesics.
States are ``x, p`` of shape ``(d,)`` each.
"""

from __future__ import annotations

import numpy as np

from ._checks import check_vector
from .lagrangian import _check_pair, _potential_energy, _potential_energy_gradient
from .metric import Metric
from .potential import Potential

__all__ = ["hamiltonian", "hamilton_rhs", "cogeodesic_rhs"]


def _check_scale(potential, potential_scale) -> float:
    if isinstance(potential_scale, bool) or not isinstance(potential_scale, (int, float, np.integer, np.floating)):
        raise TypeError(f"potential_scale must be a real number, got {type(potential_scale).__name__}.")
    s = float(potential_scale)
    if not np.isfinite(s) or s < 0:
        raise ValueError(f"potential_scale must be finite and >= 0, got {s}.")
    if s != 0 and potential is None:
        raise ValueError("a potential is required unless potential_scale = 0 (the co-geodesic limit).")
    return s


def hamiltonian(metric: Metric, potential: Potential | None, x, p, *, potential_scale: float = 1.0) -> float:
    """``H(x, p) = ½ pᵀ g(x)⁻¹ p − s · ½ ∇fᵀ g⁻¹ ∇f`` (Theorem 1).

    Parameters
    ----------
    metric : Metric
    potential : Potential or None
        May be None only when ``potential_scale = 0``.
    x, p : array_like, shape (d,)
        Position and momentum (a covector: ``p = g ẋ``).
    potential_scale : float
        ``s ≥ 0``; ``1`` is the paper's Hamiltonian, ``0`` the co-geodesic limit.
    """
    _check_pair(metric, potential)
    s = _check_scale(potential, potential_scale)
    x = metric.check_point(x)
    p = check_vector(p, metric.dim, "p")
    return _hamiltonian(metric, potential, x, p, s)


def hamilton_rhs(metric: Metric, potential: Potential | None, x, p, *, potential_scale: float = 1.0):
    """The right-hand side of Hamilton's equations (Theorem 2).

    Returns
    -------
    xdot : ndarray, shape (d,)
        ``g⁻¹ p``.
    pdot : ndarray, shape (d,)
        ``−½ pᵀ(∂_i g⁻¹)p + s ∂_i V`` for each ``i``.
    """
    _check_pair(metric, potential)
    s = _check_scale(potential, potential_scale)
    x = metric.check_point(x)
    p = check_vector(p, metric.dim, "p")
    return _hamilton_rhs(metric, potential, x, p, s)


def cogeodesic_rhs(metric: Metric, x, p):
    """Hamilton's equations for ``H = ½ pᵀ g⁻¹ p`` (Remark 1, ``V → 0``): the co-geodesic flow."""
    return hamilton_rhs(metric, None, x, p, potential_scale=0.0)


def _hamiltonian(metric, potential, x, p, s):
    kinetic = 0.5 * p @ metric._solve(x, p)
    return kinetic - (s * _potential_energy(metric, potential, x) if s else 0.0)


def _hamilton_rhs(metric, potential, x, p, s):
    xdot = metric._solve(x, p)                                   # ẋ = g⁻¹ p
    dg = metric._derivative(x)
    pdot = 0.5 * np.einsum("j,ijk,k->i", xdot, dg, xdot)         # −½ pᵀ ∂_i(g⁻¹) p = ½ ẋᵀ ∂_i g ẋ
    if s:
        pdot = pdot + s * _potential_energy_gradient(metric, potential, x)
    return xdot, pdot
