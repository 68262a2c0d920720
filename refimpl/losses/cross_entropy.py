"""Softmax cross-entropy ``ℓ = −log softmax(y)_t`` (:ref:`math §3 <math-3>`).

``∇ℓ = p − e_t`` and ``∇²ℓ = diag(p) − p pᵀ`` (singular: ``1`` is in its kernel), with the
factor ``F = diag(√p) − p √pᵀ = (I − p 1ᵀ) diag(√p)``, ``F Fᵀ = diag(p) − p pᵀ`` since
``Σ p = 1``. Everything goes through the log-softmax ``log p = y − logsumexp(y)``, so large
logits neither overflow nor produce ``0 · ∞``; ``√p = exp(½ log p)`` keeps ``√p`` representable
down to ``p ≈ 1e-600`` (logit gaps up to about 1,490 instead of 745).

Gradient coordinates (:ref:`math §4 <math-4>`, eq. 3′): ``c = √p − e_t / √p_t`` solves ``F c = p − e_t``
(and is the minimum-norm solution, ``c ⊥ √p``). Its entry ``t`` grows like ``1/√p_t``; the
products ``B̃ᵀ c̃`` stay bounded because column ``t`` of ``F`` carries a factor ``√p_t``. If
``√p_t`` underflows to zero no finite ``c`` exists and ``grad_coords`` returns ``None``; the
caller then uses form (3) (guarded in :mod:`refimpl.metric.layer`).
"""
from __future__ import annotations

import numpy as np
from scipy.special import logsumexp

from .._validation import as_labels
from .base import Loss


def log_softmax(y: np.ndarray) -> np.ndarray:
    """Row-wise ``log softmax`` of ``(S, k)`` logits, stable at any magnitude."""
    return y - logsumexp(y, axis=1, keepdims=True)


class CrossEntropy(Loss):
    """Softmax cross-entropy on logits ``(S, k)``; targets are integer labels ``(S,)``."""

    name = "cross_entropy"

    def check_targets(self, targets, n_samples, k):
        return as_labels(targets, "targets", n_samples=n_samples, n_classes=k)

    def _value(self, y, t):
        return -log_softmax(y)[np.arange(y.shape[0]), t]

    def _grad(self, y, t):
        g = np.exp(log_softmax(y))
        g[np.arange(y.shape[0]), t] -= 1.0
        return g

    def _hessian_factor(self, y, t):
        logp = log_softmax(y)
        p, sq = np.exp(logp), np.exp(0.5 * logp)
        # F = diag(√p) − p √pᵀ                                        (S, k, k)
        return np.einsum("sj,ij->sij", sq, np.eye(y.shape[1], dtype=y.dtype)) \
            - p[:, :, None] * sq[:, None, :]

    def _grad_coords(self, y, t):
        sq = np.exp(0.5 * log_softmax(y))
        rows = np.arange(y.shape[0])
        if np.any(sq[rows, t] == 0.0):
            return None
        c = sq.copy()
        c[rows, t] -= 1.0 / sq[rows, t]
        return c

    def predict(self, y) -> np.ndarray:
        """Predicted class per sample (argmax of the logits)."""
        return np.argmax(y, axis=1)
