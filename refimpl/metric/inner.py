"""Factorised SPD systems (SPEC §4, Lemma 1): the Woodbury inner matrix ``K`` (or the primal
``G``).

Two ways to hold ``K = I + B̃ M⁻¹ B̃ᵀ`` (``S·r × S·r``), both with ``solve(C)`` for a right-hand
side of any shape holding ``size`` numbers (``(S, r)`` for ``K``, sample-major), ``size`` and
a ``condition()`` estimate:

- :class:`CholeskyInner`: ``K = L Lᵀ`` by :func:`cholesky_lower`, solved by the Numba
  substitution kernel; cost ``(S·r)³/3``.
- :class:`SharedFactorInner`: when every sample has the *same* factor rows ``R_s = R_0`` (the
  last linear layer under a constant output metric, e.g. the identity: ``R_L = Fᵀ = I``) and
  the mass is scalar, ``K = I + (1/S) E ⊗ C`` with ``C = R_0 R_0ᵀ`` (``r × r``) and
  ``E = (AAᵀ/μ_W + 1/μ_b)`` (``S × S``). With ``C = Q Λ Qᵀ``, ``K`` splits into ``r``
  independent ``S × S`` systems ``(I + λ_j E / S) y_j = z_j`` in the basis ``Q``: cost
  ``r S³/3`` instead of ``(S r)³/3`` (for ``r = 10``, a 100× saving). Equal eigenvalues share
  one factorisation (for ``F = I`` all ``λ_j = 1``: a single ``S × S`` Cholesky).

Only the lower triangle of a matrix handed to these classes is read.
"""
from __future__ import annotations

import numpy as np

from . import _kernels

#: block size of :func:`cholesky_lower`: the unblocked Numba kernel factors ``NB × NB``
#: diagonal blocks, NumPy's BLAS does the rest (``O(n³)``) as matrix products
NB = 96
#: up to this size ``numpy.linalg.cholesky`` (LAPACK) is used as it is
SMALL = 256


def cholesky_lower(K: np.ndarray, nb: int = NB, small: int = SMALL) -> np.ndarray:
    """Cholesky factor of the SPD matrix ``K`` *in place*: on return the lower triangle of
    ``K`` holds ``L`` with ``K = L Lᵀ``; the strict upper triangle is not meaningful.

    For ``n ≤ small``, NumPy's LAPACK (``numpy.linalg.cholesky``). Above, a left-looking
    blocked algorithm on block columns ``J = [k, k + nb)``:

        K[k:, J] −= L[k:, :k] L[J, :k]ᵀ       (one GEMM: the updates from the columns to the
                                              left; subtracted on the diagonal block's lower
                                              triangle only)
        L[J, J]   = chol(K[J, J])             (Numba kernel, which also returns L[J, J]⁻¹)
        L[k+nb:, J] = K[k+nb:, J] L[J, J]⁻ᵀ    (GEMM: the panel below the diagonal block)

    so that the ``n³/3`` flops are matrix products on NumPy's BLAS (the same thread pool as
    the Gram products; SciPy's LAPACK would bring a second one). The updated panel is kept in
    the update product's memory and the panel product written straight into ``K`` (no
    temporaries beyond ``P``, one pass over the panel fewer). Measured on the benchmark
    machine (``n = 1280``, 2 threads; ``benchmarks/README.md``): about 12.7 ms, against 49 ms
    for ``numpy.linalg.cholesky``; SciPy's ``dpotrf`` takes 11.8 ms in a single call on its
    own, but in the step, right after NumPy's products, the two OpenBLAS thread pools compete
    for the cores (20–80 ms). The strict upper triangle of
    ``K`` is never read or written (it may hold anything, even uninitialised memory). Raises
    ``numpy.linalg.LinAlgError`` if ``K`` is not positive definite.
    """
    n = K.shape[0]
    if n <= small:
        K[...] = np.linalg.cholesky(K)
        return K
    inv = np.empty((nb, nb), dtype=K.dtype)
    lower = np.tri(nb, dtype=bool)
    for k in range(0, n, nb):
        e = min(k + nb, n)
        if k:
            P = K[k:, :k] @ K[k:e, :k].T         # the block column's update, one product
            np.subtract(K[k:e, k:e], P[:e - k], out=K[k:e, k:e], where=lower[:e - k, :e - k])
            panel = np.subtract(K[e:, k:e], P[e - k:], out=P[e - k:])   # in P's memory
        else:
            panel = K[e:, k:e]
        Di = inv[:e - k, :e - k]
        info = _kernels.cholesky_block(K[k:e, k:e], Di, e < n)
        if info:
            raise np.linalg.LinAlgError(
                f"matrix is not positive definite (leading minor of order {k + info})")
        if e < n:
            if k:
                np.matmul(panel, Di.T, out=K[e:, k:e])
            else:
                K[e:, k:e] = panel @ Di.T
    return K


class CholeskyInner:
    """A dense SPD matrix held by its Cholesky factor (lower triangle of ``L``).

    ``overwrite=True`` factorises ``K`` in place (the caller gives up ``K``).
    """

    def __init__(self, K: np.ndarray, overwrite: bool = False):
        self.size = K.shape[0]
        self.L = cholesky_lower(K if overwrite else K.copy())

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
        lam = np.clip(lam, 0.0, None)                   # C is PSD; clip rounding below 0
        # one factorisation per distinct eigenvalue; columns[g] are the j with λ_j = lam[g]
        self.lam, group = np.unique(lam, return_inverse=True)
        self.columns = [np.flatnonzero(group == g) for g in range(self.lam.size)]
        self.L = []
        for l in self.lam:
            M = (l / S) * E
            M[np.diag_indices(self.S)] += 1.0
            self.L.append(cholesky_lower(M))

    def solve(self, C: np.ndarray) -> np.ndarray:
        Z = C.reshape(self.S, self.r) @ self.Q          # into the eigenbasis of C
        Y = np.empty_like(Z)
        for L, cols in zip(self.L, self.columns):
            Y[:, cols] = _kernels.cholesky_solve(L, np.ascontiguousarray(Z[:, cols]))
        return (Y @ self.Q.T).reshape(C.shape)

    def condition(self) -> float:
        d = np.concatenate([np.abs(np.diag(L)) for L in self.L])
        return float((d.max() / d.min()) ** 2)
