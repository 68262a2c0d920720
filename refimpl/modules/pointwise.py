"""Pointwise nonlinearities ``z = σ(a)`` (:ref:`math §3 <math-3>`, paper Example 2), on any array space
(``R^d`` or an image space ``R^{C×H×W}``, :mod:`refimpl.spaces`).

Jacobian ``diag(σ'(a))``; VJP ``ā = σ'(a) ⊙ z̄``; factor ``R ↦ R diag(σ'(a))``, so the
pulled-back metric is ``diag(σ') g diag(σ')``. No parameters.

Each activation is one line of value and one of derivative. At the kinks of ``relu`` and
``leaky_relu`` (``a = 0``) the derivative is taken from the left (``0`` and ``slope``).
``gelu`` is the exact form ``a Φ(a)`` with ``Φ`` the standard normal CDF. Values and
derivatives keep the input's float type (float32 on the float32 training path).
"""
from __future__ import annotations

import numpy as np
from scipy import special

from .. import spaces
from .base import Module

_SQRT_2PI = float(np.sqrt(2.0 * np.pi))   # a Python float keeps float32 arrays float32
LEAKY_SLOPE = 0.01

# name: (σ(a), σ'(a) given a and z = σ(a))
ACTIVATIONS = {
    "identity":   (lambda a: a.copy(),              lambda a, z: np.ones_like(a)),
    "tanh":       (np.tanh,                         lambda a, z: 1.0 - z * z),
    "sigmoid":    (special.expit,                   lambda a, z: z * (1.0 - z)),
    "relu":       (lambda a: np.maximum(a, 0.0),    lambda a, z: (a > 0).astype(a.dtype)),
    "leaky_relu": (lambda a: np.where(a > 0, a, LEAKY_SLOPE * a),
                   lambda a, z: np.where(a > 0, 1.0, LEAKY_SLOPE).astype(a.dtype)),
    "softplus":   (lambda a: np.logaddexp(0.0, a),  lambda a, z: special.expit(a)),
    "gelu":       (lambda a: a * special.ndtr(a),
                   lambda a, z: special.ndtr(a) + a * np.exp(-0.5 * a * a) / _SQRT_2PI),
    "sin":        (np.sin,                          lambda a, z: np.cos(a)),
}


class Pointwise(Module):
    """Elementwise ``z = σ(a)`` on an array space for a named activation.

    Parameters
    ----------
    activation : str
        One of ``identity, tanh, sigmoid, relu, leaky_relu, softplus, gelu, sin``.
    dim : int, sequence of int, or Shape
        The space it acts on: ``d`` for ``R^d``, or the shape of one point, e.g.
        ``(C, H, W)`` for images.
    """

    def __init__(self, activation: str, dim):
        if not isinstance(activation, str) or activation not in ACTIVATIONS:
            raise ValueError(f"unknown activation {activation!r}; expected one of "
                             + ", ".join(ACTIVATIONS))
        try:
            space = dim if isinstance(dim, spaces.Shape) else spaces.array_space(dim)
        except (TypeError, ValueError):
            raise ValueError("Pointwise: dim must be a positive int or a shape (a sequence "
                             f"of positive ints), got {dim!r}") from None
        if not spaces.is_array(space):
            raise ValueError(f"Pointwise: dim must be a positive int or a shape, got {dim!r}")
        self.activation = activation
        self.in_space = self.out_space = space
        self._sigma, self._dsigma = ACTIVATIONS[activation]

    def _forward(self, params, a):
        z = self._sigma(a)
        return z, self._dsigma(a, z)                  # cache: σ'(a), shape (S, d)

    def _jvp(self, params, d, da, dparams):
        return d * da if da is not None else np.zeros_like(d)

    def _pullback_input(self, params, d, R):
        return R * d[:, None]                         # R diag(σ'(a)) per sample

    def _vjp_input(self, params, d, zbar):
        return d * zbar

    def _jacobian(self, params, a):
        _, d = self._forward(params, a)
        d = d.reshape(a.shape[0], -1)
        return np.einsum("sp,pq->spq", d, np.eye(d.shape[1])), np.zeros(d.shape + (0,))

    def __repr__(self):
        dim = self.in_space if isinstance(self.in_space, int) else self.in_space.shape
        return f"Pointwise({self.activation!r}, {dim})"


def activation(name: str, dim: int) -> Pointwise:
    """Shorthand for :class:`Pointwise`: ``activation("tanh", 16)``."""
    return Pointwise(name, dim)
