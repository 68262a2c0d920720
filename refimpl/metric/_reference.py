"""Plain-NumPy twins of the Numba kernels in :mod:`refimpl.metric._kernels` (same signatures).

They state each kernel's math in array form; the tests compare kernel and twin.
"""
from __future__ import annotations

import numpy as np
from scipy.linalg import solve_triangular


def fuse_kron_gram(RR, E, r, scale):
    return np.eye(RR.shape[0], dtype=RR.dtype) + scale * RR * np.kron(E, np.ones((r, r)))


def pair_weighted_gram(R, Wst, scale):
    # Wst is symmetric in (s, t), as the kernel (which computes t ≥ s only) assumes
    S, r, _ = R.shape
    G = np.einsum("sjp,tip,stp->sjti", R, R, Wst)
    return np.eye(S * r, dtype=R.dtype) + scale * G.reshape(S * r, S * r)


def cholesky_solve(L, b):
    y = solve_triangular(L, b, lower=True)
    return solve_triangular(L.T, y, lower=False)
