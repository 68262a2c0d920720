"""Numba kernels of the metric's hot path (private; arrays in, arrays out).

Each kernel has a plain-NumPy twin in :mod:`refimpl.metric._reference` with the same
signature; the tests compare them. ``cache=True`` stores the compiled code beside this file
(``__pycache__``), so only the first process on a machine pays the compilation.

- :func:`fuse_kron_gram`   ``K = I + s · (RRᵀ) ⊙ (E ⊗ 1_{r×r})``   (linear layer, Kronecker mass)
- :func:`pair_weighted_gram`  ``Σ_p R_s[j,p] R_t[i,p] W_st[p]``     (linear layer, any diagonal mass)
- :func:`cholesky_solve`   ``x = (L Lᵀ)⁻¹ b`` by forward and back substitution
"""
from __future__ import annotations

import numba
import numpy as np


@numba.njit(cache=True, fastmath=False)
def fuse_kron_gram(RR, E, r, scale):
    """``K[(s,j),(t,i)] = δ + scale · RR[(s,j),(t,i)] · E[s,t]``, a new ``(S·r, S·r)`` array."""
    n = RR.shape[0]
    K = np.empty_like(RR)
    for a in range(n):
        s = a // r
        for b in range(n):
            K[a, b] = scale * RR[a, b] * E[s, b // r]
        K[a, a] += 1.0
    return K


@numba.njit(cache=True, fastmath=True)
def pair_weighted_gram(R, Wst, scale):
    """``K = I + scale · [Σ_p R[s,j,p] R[t,i,p] Wst[s,t,p]]`` with ``Wst`` of shape (S, S, m).

    Symmetric in ``(s,j) ↔ (t,i)``; only ``t ≥ s`` is computed. ``fastmath`` allows
    reassociating the ``p`` sum (the result is then not bit-identical to the NumPy twin, but
    agrees to rounding).
    """
    S, r, m = R.shape
    K = np.zeros((S * r, S * r), dtype=R.dtype)
    for s in range(S):
        for t in range(s, S):
            w = Wst[s, t]
            for j in range(r):
                for i in range(r):
                    acc = 0.0
                    for p in range(m):
                        acc += R[s, j, p] * R[t, i, p] * w[p]
                    K[s * r + j, t * r + i] = scale * acc
                    K[t * r + i, s * r + j] = scale * acc
    for a in range(S * r):
        K[a, a] += 1.0
    return K


@numba.njit(cache=True)
def cholesky_solve(L, b):
    """Solve ``L Lᵀ x = b`` for lower-triangular ``L`` (``n × n``) and ``b`` of shape (n, k)."""
    n, k = b.shape
    x = b.copy()
    for c in range(k):                 # forward: L y = b
        for i in range(n):
            acc = x[i, c]
            for j in range(i):
                acc -= L[i, j] * x[j, c]
            x[i, c] = acc / L[i, i]
        for i in range(n - 1, -1, -1):  # backward: Lᵀ x = y
            acc = x[i, c]
            for j in range(i + 1, n):
                acc -= L[j, i] * x[j, c]
            x[i, c] = acc / L[i, i]
    return x
