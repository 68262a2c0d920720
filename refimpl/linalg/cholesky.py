"""Blocked Cholesky factorisation of an SPD matrix given by its lower triangle, and the
lower triangle of a Gram matrix ``X Xᵀ`` (the inner matrix ``K`` of docs: the metric, eq. 2).

Only lower triangles are read or written: the Gram product forms only the lower triangle
(half the work for large systems) and the factorisation reads nothing else.
"""
from __future__ import annotations

import numpy as np

from . import _kernels, _scratch

#: block size of :func:`cholesky_lower`: the unblocked Numba kernel factors ``NB × NB``
#: diagonal blocks, NumPy's BLAS does the rest (``O(n³)``) as matrix products
NB = 64
#: up to this size ``numpy.linalg.cholesky`` (LAPACK) is used as it is
SMALL = 256
#: block rows of :func:`gram_lower`
GRAM_NB = 256


def gram_lower(X: np.ndarray, nb: int = GRAM_NB) -> np.ndarray:
    """``X Xᵀ`` (``X`` of shape ``(n, k)``) with only its lower triangle formed, by block rows
    of one matrix product each; the strict upper triangle of the result is not meaningful.

    Large results come from reused memory (:mod:`refimpl.linalg._scratch`).
    """
    n = X.shape[0]
    if n <= nb:
        return X @ X.T
    out = _scratch.empty((n, n), X.dtype)
    for i in range(0, n, nb):
        e = min(i + nb, n)
        np.matmul(X[i:e], X[:e].T, out=out[i:e, :e])
    return out


def cholesky_lower(K: np.ndarray, nb: int = NB, small: int = SMALL) -> np.ndarray:
    """Cholesky factor of the SPD matrix ``K`` *in place*: on return the lower triangle of
    ``K`` holds ``L`` with ``K = L Lᵀ``; the strict upper triangle is not meaningful.

    For ``n ≤ small``, NumPy's LAPACK (``numpy.linalg.cholesky`` of the lower triangle).
    Above, a left-looking blocked algorithm on block columns ``J = [k, k + nb)``:

        K[k:, J] −= L[k:, :k] L[J, :k]ᵀ       (one GEMM: the updates from the columns to the
                                              left; subtracted on the diagonal block's lower
                                              triangle only)
        L[J, J]   = chol(K[J, J])             (Numba kernel, which also returns L[J, J]⁻¹)
        L[k+nb:, J] = K[k+nb:, J] L[J, J]⁻ᵀ    (GEMM: the panel below the diagonal block)

    so that the ``n³/3`` flops are matrix products on NumPy's BLAS — the same thread pool as
    the Gram products around it (SciPy's LAPACK would bring a second OpenBLAS pool, and the
    two compete for the cores). The updated panel is kept in the update product's memory and
    the panel product written straight into ``K``. The strict upper triangle of ``K`` is never
    read or written (it may hold anything, even uninitialised memory). Raises
    ``numpy.linalg.LinAlgError`` if ``K`` is not positive definite.
    """
    n = K.shape[0]
    if n <= small:                              # np.tril: numpy.linalg.cholesky rejects a
        K[...] = np.linalg.cholesky(np.tril(K))     # non-finite upper triangle
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

    Parameters
    ----------
    K : ndarray, shape (n, n)
        Lower triangle read.
    overwrite : bool, default False
        Factorise ``K`` in place (the caller gives up ``K``).
    """

    def __init__(self, K: np.ndarray, overwrite: bool = False):
        self.size = K.shape[0]
        self.L = cholesky_lower(K if overwrite else K.copy())

    @property
    def precision(self) -> str:
        """``"double"`` (float64 factor) or ``"single"`` (a float32 system's own factor)."""
        return "double" if self.L.dtype == np.float64 else "single"

    def solve(self, C: np.ndarray) -> np.ndarray:
        """``K⁻¹ C`` for ``C`` of any shape holding ``size`` numbers."""
        return _kernels.cholesky_solve(self.L, C.reshape(-1, 1)).reshape(C.shape)

    def condition(self) -> float:
        """``(max diag L / min diag L)²``: a cheap lower bound on the 2-norm condition."""
        d = np.abs(np.diag(self.L))
        return float((d.max() / d.min()) ** 2)
