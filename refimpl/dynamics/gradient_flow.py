"""Riemannian gradient flow, the minimisers of the action (:ref:`math §1 <math-1>`, paper §2).

    ẋ = −g(x)⁻¹ ∇f(x)   (descent)        ẋ = +g(x)⁻¹ ∇f(x)   (ascent)

These are exactly the paths on which one of the squares of the completed action vanishes,
so their action equals ``|f(x_T) − f(x_0)|`` (the lower bound), and their Hamiltonian is
zero (Theorem 1). Integrated with `scipy.integrate.solve_ivp` (DOP853 by default) at
``rtol = 1e-10``, ``atol = 1e-12``; the result keeps the dense output so the action can be
integrated along the continuous path (`GradientFlowResult.path`).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ._ode import DEFAULT_ATOL, DEFAULT_MAX_NFEV, DEFAULT_RTOL, integrate
from .lagrangian import _check_pair
from .metric import Metric
from .trajectory import Trajectory
from .potential import Potential

__all__ = ["GradientFlowResult", "gradient_flow", "riemannian_gradient"]

_SIGN = {"descent": -1.0, "ascent": 1.0}


@dataclass(frozen=True)
class GradientFlowResult:
    """Output of `gradient_flow`.

    Attributes
    ----------
    t : ndarray, shape (n,)
        Solver steps (or ``t_eval``).
    x : ndarray, shape (n, d)
        States at ``t``.
    sol : scipy.integrate.OdeSolution
        Dense output, ``sol(t) -> (d,)``.
    direction : str
        ``"descent"`` or ``"ascent"``.
    nfev : int
        Number of vector-field evaluations.
    metric, potential
        The geometry and function that were used.
    """

    t: np.ndarray
    x: np.ndarray
    sol: object
    direction: str
    nfev: int
    metric: Metric
    potential: Potential

    def velocity(self, t) -> np.ndarray:
        """``ẋ(t) = ∓g⁻¹∇f`` at the dense-output position, shape ``(d,)``."""
        x = self.metric.check_point(self.sol(float(t)))
        return _rhs(self.metric, self.potential, x, _SIGN[self.direction])

    def trajectory(self) -> Trajectory:
        """The trajectory as a `Trajectory` (dense output; breakpoints at the solver steps)."""
        sign = _SIGN[self.direction]
        breaks = self.sol.ts
        return Trajectory(lambda t: self.sol(t), lambda t: _rhs(self.metric, self.potential, self.sol(t), sign),
                    (breaks[0], breaks[-1]), self.metric.dim, breakpoints=breaks)


def riemannian_gradient(metric: Metric, potential: Potential, x) -> np.ndarray:
    """``g(x)⁻¹ ∇f(x)``, shape ``(d,)``: the gradient as a tangent vector."""
    _check_pair(metric, potential)
    x = metric.check_point(x)
    return metric._solve(x, potential._gradient(x))


def gradient_flow(metric: Metric, potential: Potential, x0, t_span, *, direction: str = "descent",
                  method: str = "DOP853", rtol: float = DEFAULT_RTOL, atol: float = DEFAULT_ATOL,
                  t_eval=None, max_nfev: int = DEFAULT_MAX_NFEV) -> GradientFlowResult:
    """Integrate Riemannian gradient descent (or ascent) from ``x0``.

    Parameters
    ----------
    metric : Metric
    potential : Potential
    x0 : array_like, shape (d,)
        Start point (in the metric's domain).
    t_span : pair of float
        ``(t0, t1)``.
    direction : {"descent", "ascent"}
        ``ẋ = −g⁻¹∇f`` or ``ẋ = +g⁻¹∇f``.
    method : str
        A `solve_ivp` method; ``"DOP853"`` (explicit, 8th order) or ``"Radau"`` (implicit,
        for stiff metrics) are the sensible choices.
    rtol, atol : float
        Tolerances (defaults 1e-10, 1e-12).
    t_eval : array_like, optional
        Times at which to store the solution (the dense output is kept regardless).
    max_nfev : int
        Cap on vector-field evaluations (default 200 000); exceeding it raises RuntimeError
        (a trajectory that blows up in finite time would otherwise never finish).

    Returns
    -------
    GradientFlowResult

    Raises
    ------
    ValueError
        If the trajectory leaves the metric's domain (e.g. crosses ``y = 0`` on the half-plane).
    """
    _check_pair(metric, potential)
    if direction not in _SIGN:
        raise ValueError(f"direction must be 'descent' or 'ascent', got {direction!r}.")
    x0 = metric.check_point(x0, "x0")
    sign = _SIGN[direction]

    def rhs(t, x):
        if not metric._in_domain(x):
            raise ValueError(f"the gradient flow left the domain of {type(metric).__name__} at t = {t}: x = {x}.")
        return _rhs(metric, potential, x, sign)

    sol = integrate(rhs, t_span, x0, method=method, rtol=rtol, atol=atol, t_eval=t_eval, what="gradient-flow", max_nfev=max_nfev)
    return GradientFlowResult(sol.t, sol.y.T.copy(), sol.sol, direction, int(sol.nfev), metric, potential)


def _rhs(metric, potential, x, sign):
    return sign * metric._solve(x, potential._gradient(x))
