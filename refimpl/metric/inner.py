"""Factorised SPD systems: the Woodbury inner matrix ``K`` (or the primal ``G``).

Two ways to hold ``K = I + B̃ M⁻¹ B̃ᵀ`` (``S·r × S·r``), both with ``solve(C)`` for a right-hand
side of any shape holding ``size`` numbers (``(S, r)`` for ``K``, sample-major), ``size`` and
a ``condition()`` estimate:

- :class:`CholeskyInner`: ``K = L Lᵀ`` (NumPy's LAPACK), solved by the Numba substitution
  kernel; cost ``(S·r)³/3``.
- :class:`SharedFactorInner`: when every sample has the *same* factor rows ``R_s = R_0`` (the
  last linear layer under a constant output metric, e.g. the identity: ``R_L = Fᵀ = I``) and
  the mass is scalar, ``K = I + (1/S) E ⊗ C`` with ``C = R_0 R_0ᵀ`` (``r × r``) and
  ``E = (AAᵀ/μ_W + 1/μ_b)`` (``S × S``). With ``C = Q Λ Qᵀ``, ``K`` splits into ``r``
  independent ``S × S`` systems ``(I + λ_j E / S) y_j = z_j`` in the basis ``Q``: cost
  ``r S³/3`` instead of ``(S r)³/3`` (for ``r = 10``, a 100× saving).
"""
from __future__ import annotations

import numpy as np

from . import _kernels


class CholeskyInner:
    """A dense SPD matrix held by its Cholesky factor."""

    def __init__(self, K: np.ndarray):
        self.size = K.shape[0]
        self.L = np.linalg.cholesky(K)

    def solve(self, C: np.ndarray) -> np.ndarray:
        return _kernels.cholesky_solve(self.L, C.reshape(-1, 1)).reshape(C.shape)

    def condition(self) -> float:
        """``(max diag L / min diag L)²``: a cheap lower bound on the 2-norm condition."""
        d = np.abs(np.diag(self.L))
        return float((d.max() / d.min()) ** 2)


class SharedFactorInner:
    """``K = I + (1/S) E ⊗ C`` (sample-major), solved in the eigenbasis of ``C``."""

    def __init__(self, E: np.ndarray, C: np.ndarray, S: int):
        self.S, self.r = E.shape[0], C.shape[0]
        self.size = self.S * self.r
        lam, self.Q = np.linalg.eigh(C)
        self.lam = np.clip(lam, 0.0, None)             # C is PSD; clip rounding below 0
        eye = np.eye(self.S)
        self.L = [np.linalg.cholesky(eye + (l / S) * E) for l in self.lam]

    def solve(self, C: np.ndarray) -> np.ndarray:
        Z = C.reshape(self.S, self.r) @ self.Q          # into the eigenbasis of C
        Y = np.empty_like(Z)
        for j, L in enumerate(self.L):
            Y[:, j] = _kernels.cholesky_solve(L, Z[:, j:j + 1])[:, 0]
        return (Y @ self.Q.T).reshape(C.shape)

    def condition(self) -> float:
        d = np.concatenate([np.abs(np.diag(L)) for L in self.L])
        return float((d.max() / d.min()) ** 2)
