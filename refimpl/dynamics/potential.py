"""The potential ``f: R^d → R`` of the action, with its gradient and Hessian (:ref:`math §1 <math-1>`).

In the action (1) ``f`` enters only through ``∇f``; Hamilton's equations (Theorem 2) need
``∂_i V`` for ``V = ½ ∇fᵀ g⁻¹ ∇f``, which involves the Hessian ``∇²f``. A `Potential` is a
small container of three functions of one point ``x`` (shape ``(d,)``):

- ``value(x)``    ``f(x)``, a float;
- ``gradient(x)`` ``∇f(x)``, shape ``(d,)``;
- ``hessian(x)``  ``∇²f(x)``, shape ``(d, d)``; if not supplied, the central difference of
  the gradient (relative step ε^(1/3), error about 4e-11 relative for O(1) scales),
  symmetrised.

Built-ins with analytic Hessians: `quadratic_potential` and `half_plane_bowl`.
"""

from __future__ import annotations

from typing import Callable

import numpy as np

from .._validation import check_spd
from ._checks import as_float_array, check_finite, check_vector
from .metric import DEFAULT_FD_STEP, central_difference

__all__ = ["Potential", "quadratic_potential", "half_plane_bowl"]


class Potential:
    """A scalar function ``f`` on ``R^d`` with gradient and (optional) Hessian.

    Parameters
    ----------
    value : callable
        ``value(x) -> float`` for ``x`` of shape ``(d,)``.
    gradient : callable
        ``gradient(x) -> (d,)``.
    dim : int
        The dimension ``d``.
    hessian : callable, optional
        ``hessian(x) -> (d, d)``. Omitted: central differences of ``gradient`` with relative
        step ``fd_step`` (``2d`` gradient evaluations), symmetrised.
    fd_step : float
        Relative finite-difference step, default ε^(1/3) ≈ 6e-6.
    name : str
        Shown in ``repr`` and plots.

    Examples
    --------
    >>> import numpy as np
    >>> f = Potential(lambda x: 0.5 * x @ x, lambda x: x, dim=2)
    >>> np.allclose(f.hessian(np.array([1.0, 2.0])), np.eye(2))
    True
    """

    def __init__(self, value: Callable, gradient: Callable, dim: int, *, hessian: Callable | None = None,
                 fd_step: float = DEFAULT_FD_STEP, name: str = "f"):
        for label, fun in (("value", value), ("gradient", gradient)):
            if not callable(fun):
                raise TypeError(f"{label} must be callable, got {type(fun).__name__}.")
        if hessian is not None and not callable(hessian):
            raise TypeError(f"hessian must be callable or None, got {type(hessian).__name__}.")
        if isinstance(dim, bool) or not isinstance(dim, (int, np.integer)) or dim < 1:
            raise ValueError(f"dim must be a positive integer, got {dim!r}.")
        self.dim = int(dim)
        self.name = str(name)
        self._f = value
        self._grad = gradient
        self._hess = hessian
        self._fd_step = float(fd_step)

    # public: validate the point and the returned shapes
    def value(self, x) -> float:
        """``f(x)``."""
        v = float(self._value(check_vector(x, self.dim, "x")))
        if not np.isfinite(v):
            raise ValueError(f"{self.name}(x) is not finite at x = {x}.")
        return v

    def gradient(self, x) -> np.ndarray:
        """``∇f(x)``, shape ``(d,)``."""
        g = as_float_array(self._gradient(check_vector(x, self.dim, "x")), "gradient(x)")
        if g.shape != (self.dim,):
            raise ValueError(f"gradient(x) must have shape ({self.dim},), got {g.shape}.")
        return check_finite(g, "gradient(x)")

    def hessian(self, x) -> np.ndarray:
        """``∇²f(x)``, shape ``(d, d)`` (analytic if given, else central differences)."""
        h = as_float_array(self._hessian(check_vector(x, self.dim, "x")), "hessian(x)")
        if h.shape != (self.dim, self.dim):
            raise ValueError(f"hessian(x) must have shape ({self.dim}, {self.dim}), got {h.shape}.")
        return check_finite(h, "hessian(x)")

    # private: compute
    def _value(self, x):
        return self._f(x)

    def _gradient(self, x):
        return np.asarray(self._grad(x), dtype=np.float64)

    def _hessian(self, x):
        if self._hess is not None:
            return np.asarray(self._hess(x), dtype=np.float64)
        h = central_difference(self._gradient, x, self._fd_step)  # h[i, j] = ∂_i ∂_j f
        return 0.5 * (h + h.T)

    def __repr__(self) -> str:
        return f"Potential({self.name}, dim={self.dim})"


def quadratic_potential(matrix, center=None, offset: float = 0.0) -> Potential:
    """``f(x) = ½ (x − c)ᵀ A (x − c) + offset`` with ``∇f = A (x − c)``, ``∇²f = A``.

    Parameters
    ----------
    matrix : array_like, shape (d, d)
        Symmetric positive definite ``A`` (so that ``f`` is a bowl with minimum at ``c``).
    center : array_like, shape (d,), optional
        The minimiser ``c`` (default 0).
    offset : float
        The minimum value.
    """
    a = check_spd(matrix, "matrix")
    d = a.shape[0]
    a = 0.5 * (a + a.T)
    c = np.zeros(d) if center is None else check_vector(center, d, "center")
    off = float(offset)
    return Potential(
        value=lambda x: 0.5 * (x - c) @ a @ (x - c) + off,
        gradient=lambda x: a @ (x - c),
        hessian=lambda x: a.copy(),
        dim=d,
        name="quadratic",
    )


def half_plane_bowl(center=(0.0, 1.0), weights=(1.0, 1.0)) -> Potential:
    """A smooth bowl on the half-plane ``y > 0``: ``f = ½ a (x − x*)² + ½ b log²(y / y*)``.

    Its minimum is at ``(x*, y*)``; its level sets stay away from the boundary ``y = 0``
    (``f → ∞`` as ``y → 0``), which makes it a natural test function for
    `PoincareHalfPlane`.

    ``∇f = (a (x − x*), b log(y/y*) / y)``,
    ``∇²f = diag(a, b (1 − log(y/y*)) / y²)``.

    Parameters
    ----------
    center : pair of float
        ``(x*, y*)`` with ``y* > 0``.
    weights : pair of float
        ``(a, b)``, both positive.
    """
    cx, cy = check_vector(center, 2, "center")
    a, b = check_vector(weights, 2, "weights")
    if cy <= 0:
        raise ValueError(f"center must lie in the half-plane y > 0, got y* = {cy}.")
    if a <= 0 or b <= 0:
        raise ValueError(f"weights must be positive, got {(a, b)}.")

    def value(x):
        return 0.5 * a * (x[0] - cx) ** 2 + 0.5 * b * np.log(x[1] / cy) ** 2

    def gradient(x):
        return np.array([a * (x[0] - cx), b * np.log(x[1] / cy) / x[1]])

    def hessian(x):
        return np.diag([a, b * (1.0 - np.log(x[1] / cy)) / x[1] ** 2])

    return Potential(value, gradient, 2, hessian=hessian, name="half-plane bowl")
