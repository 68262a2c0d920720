"""``Flatten``: an array space ``R^{C×H×W}`` as the vector space ``R^{C·H·W}`` (C order).

Per sample ``z = vec(x)`` with the axes flattened in C (row-major) order, like
``torch.flatten(x, 1)`` on a batch. The Jacobian is the identity in that ordering, so the VJP,
the JVP and the factor pull-back are reshapes: ``x̄ = reshape(z̄)``, ``R ↦ reshape(R)``. No
parameters; the metric passes through unchanged (the Frobenius inner product of the arrays is
the Euclidean one of their flattenings).
"""
from __future__ import annotations

import numpy as np

from ..spaces import Shape, describe
from .base import Module


class Flatten(Module):
    """``R^{n_1×…×n_k} → R^{n_1·…·n_k}``, C order.

    Parameters
    ----------
    shape : Shape or sequence of int
        The shape of one input point, e.g. ``(C, H, W)``.

    Examples
    --------
    >>> import numpy as np
    >>> from refimpl.modules import Flatten
    >>> Flatten((2, 3, 3))(dict(), np.arange(36.0).reshape(2, 2, 3, 3))[1, :4]
    array([18., 19., 20., 21.])
    """

    def __init__(self, shape):
        self.in_space = shape if isinstance(shape, Shape) else Shape(*shape)
        self.out_space = self.in_space.dim

    def _forward(self, params, x):
        return x.reshape(x.shape[0], self.out_space), x.shape[0]

    def _jvp(self, params, S, dx, dparams):
        return dx.reshape(S, self.out_space) if dx is not None else np.zeros((S, self.out_space))

    def _vjp_input(self, params, S, zbar):
        return zbar.reshape((zbar.shape[0],) + self.in_space.shape)

    def _pullback_input(self, params, S, R):
        return R.reshape(R.shape[:2] + self.in_space.shape)

    def _jacobian(self, params, x):
        S, d = x.shape[0], self.out_space
        return np.broadcast_to(np.eye(d), (S, d, d)).copy(), np.zeros((S, d, 0))

    def __repr__(self):
        return f"Flatten({describe(self.in_space)} → {describe(self.out_space)})"
