"""Thin wrapper around `scipy.integrate.solve_ivp` with tight defaults (private).

The flows of this package are integrated with an explicit 8th-order Runge–Kutta method
(DOP853) or the implicit Radau IIA method at ``rtol = 1e-10``, ``atol = 1e-12`` by default,
always with dense output, and a failed integration raises instead of returning a partial
trajectory. Some flows here blow up in finite time (Hamilton's flow has the potential with a
*minus* sign, ``H = ½pᵀg⁻¹p − V``, so trajectories can run away); the number of vector-field
evaluations is capped (``max_nfev``) so that such a run stops with a clear error instead of
taking ever smaller steps.
"""

from __future__ import annotations

import numpy as np
from scipy.integrate import solve_ivp

from .._validation import as_positive_float as check_positive
from ._checks import as_float_array, check_finite, check_t_span

DEFAULT_RTOL = 1e-10
DEFAULT_ATOL = 1e-12
DEFAULT_MAX_NFEV = 200_000
METHODS = ("DOP853", "Radau", "RK45", "LSODA", "BDF")


class _TooManyEvaluations(Exception):
    pass


def integrate(rhs, t_span, z0, *, method, rtol, atol, t_eval, what, max_nfev=DEFAULT_MAX_NFEV):
    """Integrate ``ż = rhs(t, z)``; returns the `OdeResult` (dense output on)."""
    t0, t1 = check_t_span(t_span)
    if method not in METHODS:
        raise ValueError(f"method must be one of {METHODS}, got {method!r}.")
    rtol = check_positive(rtol, "rtol")
    atol = check_positive(atol, "atol")
    if t_eval is not None:
        t_eval = check_finite(as_float_array(t_eval, "t_eval"), "t_eval")
        if t_eval.ndim != 1 or np.any(np.diff(t_eval) <= 0) or t_eval[0] < t0 or t_eval[-1] > t1:
            raise ValueError(f"t_eval must be increasing times inside t_span = ({t0}, {t1}).")
    if isinstance(max_nfev, bool) or not isinstance(max_nfev, (int, np.integer)) or max_nfev < 1:
        raise ValueError(f"max_nfev must be a positive integer, got {max_nfev!r}.")
    count = [0, t0, z0]

    def counted(t, z):
        count[0] += 1
        if count[0] > max_nfev:
            count[1], count[2] = t, z
            raise _TooManyEvaluations
        return rhs(t, z)

    try:
        sol = solve_ivp(counted, (t0, t1), z0, method=method, rtol=rtol, atol=atol, t_eval=t_eval, dense_output=True)
    except _TooManyEvaluations:
        raise RuntimeError(
            f"{what} integration stopped after max_nfev = {max_nfev} vector-field evaluations at t = {count[1]:.6g} "
            f"of ({t0}, {t1}), |z| = {np.max(np.abs(count[2])):.3e}: the solution probably blows up in finite time. "
            "Shorten t_span, or raise max_nfev if the problem is merely stiff (method='Radau')."
        ) from None
    if sol.status != 0:
        raise RuntimeError(f"{what} integration failed at t = {sol.t[-1]}: {sol.message}")
    return sol
