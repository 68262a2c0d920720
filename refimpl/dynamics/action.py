"""The action of a trajectory, eq. (1) of the paper (:ref:`math §1 <math-1>`).

    S[x] = ½ ∫_{t0}^{t1} ( ẋᵀ g(x) ẋ + ∇f(x)ᵀ g(x)⁻¹ ∇f(x) ) dt                  (1)

Two entry points:

- ``action(metric, potential, t, x)`` for samples ``x`` (N+1, d) on a grid ``t`` (N+1,): the
  action of the piecewise-linear path through the samples (velocity = secant
  ``(x_{k+1} − x_k)/(t_{k+1} − t_k)`` on each segment), integrated on each segment with
  ``nodes``-point Gauss–Legendre (``nodes = 1`` is the midpoint rule). Relative to the smooth
  curve the samples come from, the error is ``O(h²)`` in the step ``h``.
- ``action_of_trajectory(metric, potential, path)`` for a `Trajectory` (an analytic curve or an
  integrator's dense output): composite Gauss–Legendre with ``nodes`` points on each piece
  between breakpoints, each piece split into ``subdivisions`` equal parts. The rule is exact
  for polynomials of degree ``2·nodes − 1``; with the defaults (8 nodes) and an integrator's
  step sizes as breakpoints the quadrature error is far below the integration error.

A private helper integrates the vector of *all* terms of the completing-the-square
identity at once (see `refimpl.dynamics.completing_square`), so the action and its
decomposition are computed from the same quadrature nodes.
"""

from __future__ import annotations

import numpy as np

from .lagrangian import _check_pair
from .metric import Metric
from .trajectory import Trajectory
from .potential import Potential

__all__ = ["action", "action_of_trajectory"]

#: Order of the terms returned by `_terms_density`.
TERMS = ("kinetic", "potential", "cross", "descent_square", "ascent_square")


def action(metric: Metric, potential: Potential, t, x, *, nodes: int = 2) -> float:
    """Action (1) of sampled positions, joined by straight segments.

    Parameters
    ----------
    metric : Metric
    potential : Potential
    t : array_like, shape (N+1,)
        Strictly increasing times.
    x : array_like, shape (N+1, d)
        Positions at those times, all in the metric's domain.
    nodes : int
        Gauss–Legendre nodes per segment (1 = midpoint rule; ≥ 2 integrates each straight
        segment to high accuracy).

    Returns
    -------
    float
        ``S ≈ Σ_k ∫_{t_k}^{t_{k+1}} L(x(t), ẋ_k) dt``.

    Examples
    --------
    >>> import numpy as np
    >>> from refimpl.dynamics import EuclideanMetric, quadratic_potential
    >>> t = np.linspace(0.0, 1.0, 3); x = np.zeros((3, 2))        # resting at the minimum
    >>> action(EuclideanMetric(2), quadratic_potential(np.eye(2)), t, x)
    0.0
    """
    _check_pair(metric, potential)
    path = Trajectory.from_samples(t, x)
    if path.dim != metric.dim:
        raise ValueError(f"x must have shape (N+1, {metric.dim}) for this metric, got (N+1, {path.dim}).")
    for k, xk in enumerate(np.asarray(x, dtype=np.float64)):
        metric.check_point(xk, name=f"x[{k}]")
    return float(_integrate_terms(metric, potential, path, _check_nodes(nodes), 1)[:2].sum())


def action_of_trajectory(metric: Metric, potential: Potential, path: Trajectory, *, nodes: int = 8, subdivisions: int = 1) -> float:
    """Action (1) of a `Trajectory` by composite Gauss–Legendre quadrature.

    Parameters
    ----------
    metric : Metric
    potential : Potential
    path : Trajectory
        Position and velocity callables on ``[t0, t1]`` with breakpoints.
    nodes : int
        Gauss–Legendre nodes per piece (default 8: exact for degree-15 polynomials).
    subdivisions : int
        Equal parts each piece between breakpoints is split into (raise it for an analytic
        path with only its two end points as breakpoints).
    """
    _check_pair(metric, potential)
    _check_path(metric, path)
    return float(_integrate_terms(metric, potential, path, _check_nodes(nodes), _check_subdivisions(subdivisions))[:2].sum())


# -- private -----------------------------------------------------------------------------
def _check_nodes(nodes) -> int:
    if isinstance(nodes, bool) or not isinstance(nodes, (int, np.integer)) or not 1 <= nodes <= 64:
        raise ValueError(f"nodes must be an integer between 1 and 64, got {nodes!r}.")
    return int(nodes)


def _check_subdivisions(subdivisions) -> int:
    if isinstance(subdivisions, bool) or not isinstance(subdivisions, (int, np.integer)) or subdivisions < 1:
        raise ValueError(f"subdivisions must be a positive integer, got {subdivisions!r}.")
    return int(subdivisions)


def _check_path(metric, path) -> None:
    """A `Trajectory` of the metric's dimension whose callables return finite (d,) arrays in the domain."""
    if not isinstance(path, Trajectory):
        raise TypeError(
            f"path must be a refimpl.dynamics.Trajectory, got {type(path).__name__}; "
            "use Trajectory.from_samples(t, x) for samples or result.trajectory() for a flow."
        )
    if path.dim != metric.dim:
        raise ValueError(f"path has dimension {path.dim} but the metric acts on R^{metric.dim}.")
    for t in (path.t0, path.t1):
        metric.check_point(path.position(t), name=f"x({t})")
        path.velocity(t)


def _terms_density(metric, potential, x, v):
    """Integrands of the five terms of `TERMS` at one point (shape (5,)).

    kinetic ½ vᵀgv, potential ½ ∇fᵀg⁻¹∇f, cross ∇f·v,
    descent_square ½ |v + g⁻¹∇f|²_g, ascent_square ½ |v − g⁻¹∇f|²_g.
    """
    g = metric._matrix(x)
    grad = potential._gradient(x)
    u = metric._solve(x, grad)                     # Riemannian gradient g⁻¹∇f
    plus, minus = v + u, v - u
    return np.array([0.5 * v @ g @ v, 0.5 * grad @ u, grad @ v, 0.5 * plus @ g @ plus, 0.5 * minus @ g @ minus])


def _integrate_terms(metric, potential, path, nodes, subdivisions):
    """∫ of `_terms_density` along ``path``: composite Gauss–Legendre, shape (5,)."""
    s, w = np.polynomial.legendre.leggauss(nodes)          # on [-1, 1]
    edges = path.breakpoints
    if subdivisions > 1:
        edges = np.concatenate([np.linspace(a, b, subdivisions + 1)[:-1] for a, b in zip(edges[:-1], edges[1:])] + [edges[-1:]])
    total = np.zeros(len(TERMS))
    for a, b in zip(edges[:-1], edges[1:]):
        half, mid = 0.5 * (b - a), 0.5 * (a + b)
        for sk, wk in zip(s, w):
            tk = mid + half * sk
            xk = path._position(tk)
            if not metric._in_domain(xk):
                raise ValueError(f"the path leaves the domain of {type(metric).__name__} at t = {tk}: x = {xk}.")
            total += (wk * half) * _terms_density(metric, potential, xk, path._velocity(tk))
    return total
