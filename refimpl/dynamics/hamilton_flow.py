"""Integrating Hamilton's equations and measuring energy conservation (:ref:`math §1 <math-1>`, Theorem 2).

The state is ``z = (x, p)`` (shape ``(2d,)``), the vector field that of
`refimpl.dynamics.hamilton_rhs`. ``H`` is not separable (``g`` depends on ``x``), so the
standard explicit symplectic schemes do not apply; we integrate with `solve_ivp` (DOP853,
``rtol = 1e-10``, ``atol = 1e-12`` by default) and *measure* the energy error: ``H`` is
evaluated at every stored time and ``max_t |H(t) − H(0)|`` is returned as
``energy_drift``. For the test problems it is 1e-10 or below.

Started on the zero-energy manifold ``p₀ = −∇f(x₀)``, the exact solution is the gradient-
descent path (``p(t) = −∇f(x(t))``; Theorem 1). That manifold is unstable in the
``p``-directions, so numerically Hamilton's flow follows gradient descent only for a while;
`refimpl.dynamics` tests that for short times.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ._checks import check_vector
from ._ode import DEFAULT_ATOL, DEFAULT_MAX_NFEV, DEFAULT_RTOL, integrate
from .hamiltonian import _check_scale, _hamilton_rhs, _hamiltonian
from .lagrangian import _check_pair
from .metric import Metric
from .trajectory import Trajectory
from .potential import Potential

__all__ = ["HamiltonFlowResult", "hamilton_flow"]


@dataclass(frozen=True)
class HamiltonFlowResult:
    """Output of `hamilton_flow`.

    Attributes
    ----------
    t : ndarray, shape (n,)
    x, p : ndarray, shape (n, d)
        Position and momentum at ``t``.
    sol : scipy.integrate.OdeSolution
        Dense output of the stacked state, ``sol(t) -> (2d,)``.
    energy : ndarray, shape (n,)
        ``H(x(t), p(t))``.
    energy_drift : float
        ``max |H(t) − H(t0)|`` over the stored times: the measured energy error.
    potential_scale : float
        ``s`` (``0`` = co-geodesic flow).
    nfev : int
    """

    t: np.ndarray
    x: np.ndarray
    p: np.ndarray
    sol: object
    energy: np.ndarray
    energy_drift: float
    potential_scale: float
    nfev: int
    metric: Metric
    potential: Potential | None

    def trajectory(self) -> Trajectory:
        """The position ``x(t)`` as a `Trajectory`, velocity ``g⁻¹ p`` (breakpoints at the solver steps)."""
        d = self.metric.dim
        breaks = self.sol.ts

        def velocity(t):
            z = self.sol(t)
            return self.metric._solve(z[:d], z[d:])

        return Trajectory(lambda t: self.sol(t)[:d], velocity, (breaks[0], breaks[-1]), d, breakpoints=breaks)


def hamilton_flow(metric: Metric, potential: Potential | None, x0, p0, t_span, *, potential_scale: float = 1.0,
                  method: str = "DOP853", rtol: float = DEFAULT_RTOL, atol: float = DEFAULT_ATOL,
                  t_eval=None, max_nfev: int = DEFAULT_MAX_NFEV) -> HamiltonFlowResult:
    """Integrate Hamilton's equations of Theorem 2 from ``(x0, p0)``.

    Parameters
    ----------
    metric : Metric
    potential : Potential or None
        None only with ``potential_scale = 0`` (co-geodesic flow, Remark 1).
    x0, p0 : array_like, shape (d,)
        Initial position and momentum (``p0 = −∇f(x0)`` starts on gradient descent).
    t_span : pair of float
    potential_scale : float
        ``s ≥ 0`` in ``H = ½pᵀg⁻¹p − sV``.
    method, rtol, atol, t_eval, max_nfev
        As in `refimpl.dynamics.gradient_flow`. Hamilton's flow can blow up in finite time
        (``−V`` is unbounded below for most ``f``); then it stops with RuntimeError.

    Returns
    -------
    HamiltonFlowResult
        Includes ``energy`` and the measured ``energy_drift``.
    """
    _check_pair(metric, potential)
    s = _check_scale(potential, potential_scale)
    x0 = metric.check_point(x0, "x0")
    p0 = check_vector(p0, metric.dim, "p0")
    d = metric.dim

    def rhs(t, z):
        x = z[:d]
        if not metric._in_domain(x):
            raise ValueError(f"Hamilton's flow left the domain of {type(metric).__name__} at t = {t}: x = {x}.")
        xdot, pdot = _hamilton_rhs(metric, potential, x, z[d:], s)
        return np.concatenate([xdot, pdot])

    sol = integrate(rhs, t_span, np.concatenate([x0, p0]), method=method, rtol=rtol, atol=atol,
                    t_eval=t_eval, what="Hamilton-flow", max_nfev=max_nfev)
    xs, ps = sol.y[:d].T.copy(), sol.y[d:].T.copy()
    energy = np.array([_hamiltonian(metric, potential, x, p, s) for x, p in zip(xs, ps)])
    h0 = _hamiltonian(metric, potential, x0, p0, s)
    drift = float(np.max(np.abs(energy - h0)))
    return HamiltonFlowResult(sol.t, xs, ps, sol.sol, energy, drift, s, int(sol.nfev), metric, potential)
