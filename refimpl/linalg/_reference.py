"""Plain-NumPy twins of the Numba kernels in :mod:`refimpl.linalg._kernels` (same signatures,
same in-place effects).

They state each kernel's math in array form; the tests compare kernel and twin.
"""
from __future__ import annotations

import numpy as np
from scipy.linalg import solve_triangular


def fuse_kron_gram(RR, E, r, scale):
    K = np.eye(RR.shape[0], dtype=RR.dtype) + scale * RR * np.kron(E, np.ones((r, r)))
    lower = np.tril_indices(RR.shape[0])
    RR[lower] = K[lower]
    return RR


def pair_weighted_gram(R, Wst, scale):
    # Wst is symmetric in (s, t), as the kernel (which computes t ≥ s only) assumes
    S, r, _ = R.shape
    G = np.einsum("sjp,tip,stp->sjti", R, R, Wst)
    return np.eye(S * r, dtype=R.dtype) + scale * G.reshape(S * r, S * r)


def cholesky_block(D, inv, want_inverse):
    A = np.tril(D) + np.tril(D, -1).T
    try:
        L = np.linalg.cholesky(A)
    except np.linalg.LinAlgError:
        # LAPACK's info: the first j whose leading minor of order j is not positive
        return next(j for j in range(1, A.shape[0] + 1)
                    if np.linalg.eigvalsh(A[:j, :j]).min() <= 0.0)
    lower = np.tril_indices(D.shape[0])
    D[lower] = L[lower]
    if want_inverse:
        inv[...] = solve_triangular(L, np.eye(D.shape[0], dtype=D.dtype), lower=True)
    return 0


def cholesky_solve(L, b):
    y = solve_triangular(L, b, lower=True)
    return solve_triangular(L, y, lower=True, trans="T")


def copy_lower(K, out):
    A = np.tril(K) + np.tril(K, -1).T
    lower = np.tril_indices(K.shape[0])
    out[lower] = K[lower]
    return float(np.abs(A).sum(axis=1).max())


def symv_lower(K, x):
    return (np.tril(K) + np.tril(K, -1).T) @ x
