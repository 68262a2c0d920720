"""Squared error ``ℓ = ½|y − t|²`` (:ref:`math §3 <math-3>`): ``∇ℓ = y − t``, Hessian ``I`` (factor ``F = I``)."""
from __future__ import annotations

import numpy as np

from .._validation import as_float_array
from .base import Loss


class MSE(Loss):
    """Half squared error per sample; targets are floats of shape ``(S, k)``."""

    name = "mse"

    def check_targets(self, targets, n_samples, k):
        return as_float_array(targets, "targets", shape=(n_samples, k))

    def _value(self, y, t):
        d = y - t
        return 0.5 * np.einsum("sk,sk->s", d, d)

    def _grad(self, y, t):
        return y - t

    def _hessian_factor(self, y, t):
        k = y.shape[1]
        return np.broadcast_to(np.eye(k, dtype=y.dtype), (y.shape[0], k, k)).copy()

    def _grad_coords(self, y, t):
        return y - t                                  # F = I, so c = ∇ℓ
