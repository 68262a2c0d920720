"""Parameter-free wiring modules ("bonds"): copy, add, concatenate, pass through (:ref:`math §5 <math-5>`).

With :class:`~refimpl.modules.composition.Parallel` they express branching networks, e.g. a
residual block ``x ↦ x + f(x)`` is ``Sequential(FanOut(d, 2), Parallel(f, Identity(d)),
Sum(d, 2))``. Each states its adjoint:

- ``FanOut``: ``x ↦ (x, …, x)``; adjoint sums: ``x̄ = Σ_i ȳ_i`` (and ``R_in = Σ_i R_i``).
- ``Sum``:    ``(x_1, …, x_K) ↦ Σ x_i``; adjoint copies: ``x̄_i = ȳ``.
- ``Concat``: ``(x_1, …, x_K) ↦ [x_1, …, x_K]``; adjoint splits ``ȳ`` into its blocks.
- ``Identity``: on any space; adjoint is the identity.
"""
from __future__ import annotations

import numpy as np

from .. import spaces
from .base import Module


def _count(n, who):
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 1:
        raise ValueError(f"{who}: the number of branches must be a positive int, got {n!r}")
    return int(n)


class Identity(Module):
    """``x ↦ x`` on any space."""

    def __init__(self, space):
        self.in_space = self.out_space = spaces.check_space(space)

    def _forward(self, params, x):
        return x, spaces.batch_size(x, self.in_space)

    def _jvp(self, params, S, dx, dparams):
        return dx if dx is not None else spaces.zeros(self.out_space, (S,))

    def _pullback_input(self, params, cache, R):
        return R

    def _vjp_input(self, params, cache, ybar):
        return ybar

    def _jacobian(self, params, x):
        S, d = spaces.batch_size(x, self.in_space), spaces.dim(self.in_space)
        return np.broadcast_to(np.eye(d), (S, d, d)).copy(), np.zeros((S, d, 0))


class FanOut(Module):
    """``x ↦ (x, …, x)`` (``n`` copies) on ``space``."""

    def __init__(self, space, n: int = 2):
        space = spaces.check_space(space)
        self.n = _count(n, "FanOut")
        self.in_space, self.out_space = space, (space,) * self.n

    def _forward(self, params, x):
        return (x,) * self.n, spaces.batch_size(x, self.in_space)

    def _jvp(self, params, S, dx, dparams):
        if dx is None:
            dx = spaces.zeros(self.in_space, (S,))
        return (dx,) * self.n

    def _pullback_input(self, params, S, R):
        total = R[0]
        for Ri in R[1:]:
            total = spaces.map_point(np.add, self.in_space, total, Ri)
        return total

    _vjp_input = _pullback_input


class Sum(Module):
    """``(x_1, …, x_n) ↦ x_1 + … + x_n`` on ``space``."""

    def __init__(self, space, n: int = 2):
        space = spaces.check_space(space)
        self.n = _count(n, "Sum")
        self.in_space, self.out_space = (space,) * self.n, space

    def _forward(self, params, x):
        total = x[0]
        for xi in x[1:]:
            total = spaces.map_point(np.add, self.out_space, total, xi)
        return total, spaces.batch_size(x, self.in_space)

    def _jvp(self, params, S, dx, dparams):
        if dx is None:
            return spaces.zeros(self.out_space, (S,))
        return self._forward(params, dx)[0]

    def _pullback_input(self, params, S, R):
        return (R,) * self.n

    _vjp_input = _pullback_input


class Concat(Module):
    """``(x_1, …, x_n) ↦ [x_1, …, x_n]`` (concatenation along the feature axis)."""

    def __init__(self, *spaces_in):
        if len(spaces_in) < 1:
            raise ValueError("Concat needs the spaces of its inputs, e.g. Concat(3, 5)")
        self.in_space = tuple(spaces.check_space(s) for s in spaces_in)
        self.out_space = spaces.dim(self.in_space)

    def _forward(self, params, x):
        return spaces.flatten(x, self.in_space), spaces.batch_size(x, self.in_space)

    def _jvp(self, params, S, dx, dparams):
        if dx is None:
            return spaces.zeros(self.out_space, (S,))
        return spaces.flatten(dx, self.in_space)

    def _pullback_input(self, params, cache, R):
        return spaces.unflatten(R, self.in_space)

    _vjp_input = _pullback_input

