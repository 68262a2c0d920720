"""``K = I + (1/S) E ⊗ C`` solved in the eigenbasis of ``C`` (docs: the metric, solving ``K``).

When every sample has the *same* factor rows ``R_s = R_0`` (the last linear layer under a
constant output metric such as the identity, ``R_L = Fᵀ``) and the mass is scalar, the inner
matrix is a Kronecker product plus the identity (sample-major rows ``(s, j) ↦ s·r + j``):
``E`` is ``S × S`` (the samples' part), ``C`` is ``r × r`` (the factor rows' part). With
``C = Q Λ Qᵀ`` it splits into ``r`` independent ``S × S`` systems ``(I + λ_j E / S) y_j = z_j``:
cost ``r S³/3`` instead of ``(S r)³/3``; equal eigenvalues share one factorisation (for
``F = I`` all ``λ_j = 1``: a single ``S × S`` Cholesky).
"""
from __future__ import annotations

import numpy as np

from . import _kernels
from .cholesky import cholesky_lower


class KroneckerInner:
    """``K = I + (1/S) E ⊗ C`` for positive semi-definite ``E`` (``S × S``) and ``C``
    (``r × r``): the Woodbury inner matrix ``I + B̃ M⁻¹ B̃ᵀ`` with ``B̃ = S^{−½} B``.

    Parameters
    ----------
    E : ndarray, shape (S, S)
    C : ndarray, shape (r, r)
    """

    def __init__(self, E: np.ndarray, C: np.ndarray):
        self.S, self.r = E.shape[0], C.shape[0]
        self.size = self.S * self.r
        lam, self.Q = np.linalg.eigh(C)
        lam = np.clip(lam, 0.0, None)                   # C is PSD; clip rounding below 0
        # one factorisation per distinct eigenvalue; columns[g] are the j with λ_j = lam[g]
        self.lam, group = np.unique(lam, return_inverse=True)
        self.columns = [np.flatnonzero(group == g) for g in range(self.lam.size)]
        self.L = []
        for l in self.lam:
            M = (l / self.S) * E
            M[np.diag_indices(self.S)] += 1.0
            self.L.append(cholesky_lower(M))

    def solve(self, C: np.ndarray) -> np.ndarray:
        """``K⁻¹ C`` for ``C`` holding ``S·r`` numbers, sample-major."""
        Z = C.reshape(self.S, self.r) @ self.Q          # into the eigenbasis of C
        Y = np.empty_like(Z)
        for L, cols in zip(self.L, self.columns):
            Y[:, cols] = _kernels.cholesky_solve(L, np.ascontiguousarray(Z[:, cols]))
        return (Y @ self.Q.T).reshape(C.shape)

    @property
    def precision(self) -> str:
        """``"double"`` (float64 factors) or ``"single"`` (a float32 system's own)."""
        return "double" if self.L[0].dtype == np.float64 else "single"

    def condition(self) -> float:
        """``(max diag L / min diag L)²`` over the factors (a lower bound on cond(K))."""
        d = np.concatenate([np.abs(np.diag(L)) for L in self.L])
        return float((d.max() / d.min()) ** 2)
