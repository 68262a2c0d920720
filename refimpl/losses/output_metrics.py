"""Output metrics ``g_out(y) = F Fᵀ`` on the network output (:ref:`math §4 <math-4>`).

The metric is only ever used through a factor ``F`` (``k × r`` per sample), so a singular
``g_out`` (the cross-entropy Hessian) is fine and ``g_out⁻¹`` never appears.

- ``"identity"``:      ``F = I_k``;
- ``"gauss-newton"``:  ``F`` = the loss's Hessian factor (:ref:`math §3 <math-3>`);
- a constant SPD ``k × k`` matrix ``G``: ``F = L`` with ``G = L Lᵀ`` (Cholesky), validated;
- :class:`DampedOutputMetric` ``(g, τ)``: ``g_out + τ I`` (output damping), ``F`` the
  per-sample Cholesky factor.

``coords(y, targets, loss)`` returns ``c`` (``(S, r)``) with ``∇_y ℓ = F c`` for the
push-through form (3′), or ``None`` when it does not exist in floating point. Factors and
coordinates take the float type of ``y`` (float32 on the float32 training path).
"""
from __future__ import annotations

import numpy as np
from scipy.linalg import solve_triangular

from .._validation import as_positive_float, check_spd
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


class DampedOutputMetric(OutputMetric):
    """Output damping (:ref:`math §4 <math-4-output-damping>`): ``g_τ(y) = g_out(y) + τ I_k``
    for an output metric ``g_out`` and ``τ > 0``.

    Pulled back, ``J_sᵀ (g_out + τ I) J_s = J_sᵀ g_out J_s + τ J_sᵀ J_s``: the layer metric
    gains ``τ`` times the identity output metric's pull-back, a damping of the change of the
    network's *outputs* where the mass ``μ`` damps the change of its parameters (Martens &
    Sutskever 2011 damp the change of the hidden units the same way, "structural damping").
    It matters for cross-entropy: on a sample predicted with confidence ``1 − ε``, the
    Hessian ``diag(p) − ppᵀ`` and the gradient ``p − e_t`` are both of size ``ε``, so the
    Gauss–Newton step moves that sample's logits by ``O(1)`` however sure it already is;
    with ``τ`` the move is at most ``‖p − e_t‖/τ``. Used through the optimizers'
    ``output_damping=τ`` (:class:`~refimpl.optim.RiemannianSGD`).

    ``F_s`` is the Cholesky factor of ``g_out(y_s) + τ I`` (``k × k``, lower triangular) and
    ``c_s = F_s⁻¹ ∇_y ℓ_s`` (it always exists: ``F_s`` is nonsingular).

    Parameters
    ----------
    metric : OutputMetric
        ``g_out`` (e.g. :class:`GaussNewtonMetric`).
    tau : float
        ``τ > 0``.
    """

    name = "damped"

    def __init__(self, metric: OutputMetric, tau: float):
        if not isinstance(metric, OutputMetric):
            raise TypeError(f"DampedOutputMetric damps an OutputMetric, got {metric!r}")
        self.metric = metric
        self.tau = as_positive_float(tau, "output damping tau")

    def factor(self, y, targets, loss):
        G = self.metric.matrix(y, targets, loss)                    # (S, k, k)
        G = 0.5 * (G + np.swapaxes(G, 1, 2))
        G[:, np.arange(y.shape[1]), np.arange(y.shape[1])] += y.dtype.type(self.tau)
        try:
            return np.linalg.cholesky(G)
        except np.linalg.LinAlgError:
            # g_out is singular for cross-entropy: a τ below its rounding leaves G singular
            raise ValueError(f"output damping τ = {self.tau:g} is too small for {y.dtype}: "
                             "g_out + τI is not positive definite in floating point (a τ "
                             f"of at least about {np.finfo(y.dtype).eps:.0e} times the "
                             "largest eigenvalue of g_out is needed; τ = 0 means none)"
                             ) from None

    def coords(self, y, targets, loss):
        # factor() again rather than kept from the caller's call: S Cholesky factorisations
        # of k × k, negligible beside a step, and the output metric stays stateless
        F = self.factor(y, targets, loss)
        return np.linalg.solve(F, loss._grad(y, targets)[:, :, None])[:, :, 0]

    def __repr__(self):
        return f"DampedOutputMetric({self.metric!r}, tau={self.tau!r})"
