"""Output metrics ``g_out(y) = F Fᵀ`` on the network output (:ref:`math §4 <math-4>`).

The metric is only ever used through a factor ``F`` (``k × r`` per sample), so a singular
``g_out`` (the cross-entropy Hessian) is fine and ``g_out⁻¹`` never appears.

- ``"identity"``:      ``F = I_k``;
- ``"gauss-newton"``:  ``F`` = the loss's Hessian factor (:ref:`math §3 <math-3>`);
- a constant SPD ``k × k`` matrix ``G``: ``F = L`` with ``G = L Lᵀ`` (Cholesky), validated.

``coords(y, targets, loss)`` returns ``c`` (``(S, r)``) with ``∇_y ℓ = F c`` for the
push-through form (3′), or ``None`` when it does not exist in floating point. Factors and
coordinates take the float type of ``y`` (float32 on the float32 training path).
"""
from __future__ import annotations

import numpy as np
from scipy.linalg import solve_triangular

from .._validation import check_spd
from .base import Loss


class OutputMetric:
    name: str

    def factor(self, y, targets, loss: Loss) -> np.ndarray:
        raise NotImplementedError

    def coords(self, y, targets, loss: Loss):
        raise NotImplementedError

    def matrix(self, y, targets, loss: Loss) -> np.ndarray:
        """Dense ``(S, k, k)`` ``g_out`` (tests, dense references)."""
        F = self.factor(y, targets, loss)
        return F @ np.swapaxes(F, 1, 2)

    def __repr__(self):
        return f"{type(self).__name__}()"


class IdentityMetric(OutputMetric):
    """``g_out = I``: the Euclidean metric on the outputs."""

    name = "identity"

    def factor(self, y, targets, loss):
        S, k = y.shape
        return np.broadcast_to(np.eye(k, dtype=y.dtype), (S, k, k)).copy()

    def coords(self, y, targets, loss):
        return loss._grad(y, targets)


class GaussNewtonMetric(OutputMetric):
    """``g_out = ∇²_y ℓ``: the loss Hessian (Gauss–Newton); for MSE equal to the identity."""

    name = "gauss-newton"

    def factor(self, y, targets, loss):
        return loss._hessian_factor(y, targets)

    def coords(self, y, targets, loss):
        return loss._grad_coords(y, targets)


class ConstantOutputMetric(OutputMetric):
    """A user-given constant SPD matrix ``G`` (``k × k``), used through ``G = L Lᵀ``."""

    name = "constant"

    def __init__(self, G):
        G = check_spd(G, "output metric matrix", rtol=1e-12)
        self.L = np.linalg.cholesky(0.5 * (G + G.T))
        self.G = G

    def factor(self, y, targets, loss):
        self._check_k(y)
        return np.broadcast_to(self.L.astype(y.dtype, copy=False),
                               (y.shape[0],) + self.L.shape).copy()

    def coords(self, y, targets, loss):
        self._check_k(y)
        return solve_triangular(self.L.astype(y.dtype, copy=False), loss._grad(y, targets).T,
                                lower=True).T

    def _check_k(self, y):
        if y.shape[1] != self.L.shape[0]:
            raise ValueError(f"output metric is {self.L.shape[0]}×{self.L.shape[0]} but the "
                             f"network has {y.shape[1]} outputs")

    def __repr__(self):
        return f"ConstantOutputMetric(k={self.L.shape[0]})"
