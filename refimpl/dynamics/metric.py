"""Riemannian metrics on a coordinate patch of R^d (:ref:`math §1 <math-1>`, paper §2).

A metric assigns to every point ``x`` (shape ``(d,)``) a symmetric positive-definite matrix
``g(x)`` (shape ``(d, d)``). Hamilton's equations (Theorem 2) and the geodesic equation
(Remark 1) also need its first derivatives, stored as one array

    dg[i, j, k] = ∂ g_jk / ∂ x_i            shape (d, d, d), derivative index first.

Contract of a metric object (all methods take one point ``x`` of shape ``(d,)``):

- ``matrix(x)``      ``g(x)``, SPD ``(d, d)``;
- ``derivative(x)``  ``∂g/∂x``, ``(d, d, d)`` as above;
- ``solve(x, v)``    ``g(x)⁻¹ v`` for ``v`` of shape ``(d,)`` or ``(d, m)``;
- ``inverse(x)``     ``g(x)⁻¹`` (dense; for tests and small ``d``);
- ``inverse_derivative(x)``  ``∂_i g⁻¹ = −g⁻¹ (∂_i g) g⁻¹``, ``(d, d, d)``.

Public methods validate the point (shape, finiteness, domain); the private ``_matrix``,
``_derivative`` and ``_solve`` compute and are what the integrators call.

Built-ins, each with an analytic derivative: `EuclideanMetric` (``g = I``), `ConstantMetric`
(a fixed SPD matrix, checked symmetric and positive definite), `PoincareHalfPlane`
(``g = I / y²`` on ``y = x[-1] > 0``). `FunctionMetric` wraps any callable; without a
derivative it uses central finite differences (see `central_difference`).
"""

from __future__ import annotations

from typing import Callable

import numpy as np
from scipy.linalg import cho_factor, cho_solve

from .._validation import check_spd
from ._checks import as_float_array, check_finite, check_vector

__all__ = [
    "Metric",
    "EuclideanMetric",
    "ConstantMetric",
    "PoincareHalfPlane",
    "FunctionMetric",
    "central_difference",
    "DEFAULT_FD_STEP",
]

#: Relative step of the central differences: ε^(1/3) ≈ 6.1e-6 balances the truncation error
#: ``h²/6 · |third derivative|`` against the rounding error ``ε |value| / h``; both are then
#: about ε^(2/3) ≈ 4e-11 relative to the size of the differentiated quantity and its
#: derivatives (for O(1) scales). The step along coordinate i is ``DEFAULT_FD_STEP·max(1, |x_i|)``.
DEFAULT_FD_STEP = float(np.finfo(np.float64).eps ** (1.0 / 3.0))


def central_difference(fun: Callable[[np.ndarray], np.ndarray], x: np.ndarray, step: float = DEFAULT_FD_STEP) -> np.ndarray:
    """Central-difference derivative of an array-valued function, derivative index first.

    Parameters
    ----------
    fun : callable
        ``fun(x)`` returns an array of any shape ``s``; ``x`` has shape ``(d,)``.
    x : ndarray, shape (d,)
        Point of evaluation (float64).
    step : float
        Relative step; coordinate ``i`` moves by ``h_i = step · max(1, |x_i|)``.

    Returns
    -------
    ndarray, shape (d, *s)
        ``out[i] ≈ ∂fun/∂x_i = (fun(x + h_i e_i) − fun(x − h_i e_i)) / (2 h_i)``, error
        ``O(h²)`` from truncation plus ``O(ε/h)`` from rounding (about 4e-11 relative at the
        default step for O(1) scales).
    """
    x = np.asarray(x, dtype=np.float64)
    cols = []
    for i in range(x.size):
        h = step * max(1.0, abs(x[i]))
        xp = x.copy()
        xm = x.copy()
        xp[i] += h
        xm[i] -= h
        h_eff = xp[i] - xm[i]  # the step actually representable in float64
        cols.append((np.asarray(fun(xp), dtype=np.float64) - np.asarray(fun(xm), dtype=np.float64)) / h_eff)
    return np.stack(cols, axis=0)


class Metric:
    """Base class: an SPD metric ``g(x)`` on (a domain of) ``R^d``.

    Subclasses implement ``_matrix``; they override ``_derivative`` with an analytic form
    when they have one (the default is `central_difference`) and ``_in_domain`` when the
    chart is not all of ``R^d``.

    Parameters
    ----------
    dim : int
        The dimension ``d`` of the coordinates.
    """

    #: Human-readable description of the domain, used in error messages.
    domain_description = "all of R^d"

    def __init__(self, dim: int):
        if isinstance(dim, bool) or not isinstance(dim, (int, np.integer)):
            raise TypeError(f"dim must be an integer, got {type(dim).__name__}.")
        if dim < 1:
            raise ValueError(f"dim must be at least 1, got {dim}.")
        self.dim = int(dim)

    # -- public: validate, then compute -------------------------------------------------
    def check_point(self, x, name: str = "x") -> np.ndarray:
        """Return ``x`` as a float64 ``(d,)`` array, or raise if it is malformed or off the domain."""
        x = check_vector(x, self.dim, name)
        if not self._in_domain(x):
            raise ValueError(f"{name} = {x} lies outside the domain of {type(self).__name__} ({self.domain_description}).")
        return x

    def matrix(self, x) -> np.ndarray:
        """The metric ``g(x)``, shape ``(d, d)``, symmetric positive definite."""
        return self._matrix(self.check_point(x))

    def derivative(self, x) -> np.ndarray:
        """``dg[i] = ∂g/∂x_i`` at ``x``, shape ``(d, d, d)``."""
        return self._derivative(self.check_point(x))

    def solve(self, x, v) -> np.ndarray:
        """``g(x)⁻¹ v`` for ``v`` of shape ``(d,)`` or ``(d, m)`` (Cholesky solve)."""
        x = self.check_point(x)
        v = check_finite(as_float_array(v, "v"), "v")
        if v.ndim not in (1, 2) or v.shape[0] != self.dim:
            raise ValueError(f"v must have shape ({self.dim},) or ({self.dim}, m), got {v.shape}.")
        return self._solve(x, v)

    def inverse(self, x) -> np.ndarray:
        """The inverse metric ``g(x)⁻¹``, shape ``(d, d)`` (dense; for tests and small d)."""
        x = self.check_point(x)
        return self._solve(x, np.eye(self.dim))

    def inverse_derivative(self, x) -> np.ndarray:
        """``∂_i g⁻¹ = −g⁻¹ (∂_i g) g⁻¹`` at ``x``, shape ``(d, d, d)``, derivative index first."""
        x = self.check_point(x)
        ginv = self._solve(x, np.eye(self.dim))
        return -np.einsum("ab,ibc,cd->iad", ginv, self._derivative(x), ginv)

    # -- private: compute ---------------------------------------------------------------
    def _in_domain(self, x: np.ndarray) -> bool:
        return True

    def _matrix(self, x: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def _derivative(self, x: np.ndarray) -> np.ndarray:
        return central_difference(self._matrix, x)

    def _solve(self, x: np.ndarray, v: np.ndarray) -> np.ndarray:
        return cho_solve(cho_factor(self._matrix(x)), v)

    def __repr__(self) -> str:
        return f"{type(self).__name__}(dim={self.dim})"


class EuclideanMetric(Metric):
    """The flat metric ``g = I_d``; ``∂g = 0``. Gradient flow is ordinary gradient descent."""

    def _matrix(self, x):
        return np.eye(self.dim)

    def _derivative(self, x):
        return np.zeros((self.dim, self.dim, self.dim))

    def _solve(self, x, v):
        return np.array(v, dtype=np.float64, copy=True)


class ConstantMetric(Metric):
    """A constant SPD metric ``g(x) = A``; ``∂g = 0``.

    Parameters
    ----------
    matrix : array_like, shape (d, d)
        Symmetric (to 1e-10 relative) and positive definite; checked on construction.
    """

    def __init__(self, matrix):
        a = check_spd(matrix, "matrix")
        super().__init__(a.shape[0])
        self._a = 0.5 * (a + a.T)
        self._chol = cho_factor(self._a)

    def _matrix(self, x):
        return self._a.copy()

    def _derivative(self, x):
        return np.zeros((self.dim, self.dim, self.dim))

    def _solve(self, x, v):
        return cho_solve(self._chol, v)


class PoincareHalfPlane(Metric):
    """The hyperbolic metric of the upper half-space, ``g(x) = I / y²`` with ``y = x[-1] > 0``.

    For ``dim = 2`` this is the Poincaré half-plane, coordinates ``(x, y)``. Derivative:
    ``∂g/∂y = −2 I / y³``, all other ``∂_i g = 0``. Geodesics are vertical lines and
    semicircles centred on the boundary ``y = 0``; the distance to the boundary is infinite.
    """

    domain_description = "the upper half-space, last coordinate y > 0"

    def __init__(self, dim: int = 2):
        super().__init__(dim)
        if self.dim < 2:
            raise ValueError(f"PoincareHalfPlane needs dim >= 2, got {self.dim}.")

    def _in_domain(self, x):
        return bool(x[-1] > 0)

    def _matrix(self, x):
        return np.eye(self.dim) / x[-1] ** 2

    def _derivative(self, x):
        dg = np.zeros((self.dim, self.dim, self.dim))
        dg[-1] = -2.0 * np.eye(self.dim) / x[-1] ** 3
        return dg

    def _solve(self, x, v):
        return x[-1] ** 2 * np.asarray(v, dtype=np.float64)


class FunctionMetric(Metric):
    """A metric given by a callable ``g(x) -> (d, d)``, optionally with its derivative.

    Parameters
    ----------
    matrix : callable
        ``matrix(x)`` for ``x`` of shape ``(d,)`` returns ``g(x)``, shape ``(d, d)``. Every
        value is checked to be finite, symmetric (1e-10 relative) and positive definite; a
        violation raises ValueError naming the point.
    dim : int
        The dimension ``d``.
    derivative : callable, optional
        ``derivative(x)`` returns ``∂g/∂x``, shape ``(d, d, d)``, derivative index first.
        If omitted, `central_difference` with relative step ``fd_step`` is used
        (``2d`` evaluations of ``matrix``; about 4e-11 relative error at the default step).
    domain : callable, optional
        ``domain(x) -> bool``; points where it is False are rejected.
    fd_step : float
        Relative finite-difference step (default `DEFAULT_FD_STEP` = ε^(1/3)).
    """

    domain_description = "as given by the domain callable"

    def __init__(self, matrix: Callable, dim: int, *, derivative: Callable | None = None,
                 domain: Callable | None = None, fd_step: float = DEFAULT_FD_STEP):
        super().__init__(dim)
        if not callable(matrix):
            raise TypeError(f"matrix must be a callable x -> g(x), got {type(matrix).__name__}.")
        if derivative is not None and not callable(derivative):
            raise TypeError(f"derivative must be callable or None, got {type(derivative).__name__}.")
        if domain is not None and not callable(domain):
            raise TypeError(f"domain must be callable or None, got {type(domain).__name__}.")
        if not (isinstance(fd_step, (int, float)) and 0 < fd_step < 1):
            raise ValueError(f"fd_step must be a float in (0, 1), got {fd_step!r}.")
        self._g = matrix
        self._dg = derivative
        self._domain = domain
        self._fd_step = float(fd_step)

    def _in_domain(self, x):
        return True if self._domain is None else bool(self._domain(x))

    def _matrix(self, x):
        try:
            return check_spd(self._g(x), "the metric value g(x)", dim=self.dim)
        except (ValueError, TypeError) as exc:
            raise type(exc)(f"{exc} (at x = {x})") from None

    def _derivative(self, x):
        if self._dg is None:
            return central_difference(self._matrix, x, self._fd_step)
        dg = check_finite(as_float_array(self._dg(x), "derivative(x)"), "derivative(x)")
        if dg.shape != (self.dim,) * 3:
            raise ValueError(f"derivative(x) must have shape {(self.dim,) * 3}, got {dg.shape}.")
        return dg
