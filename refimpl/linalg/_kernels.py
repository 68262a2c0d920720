"""Numba kernels of the metric's hot path (:ref:`math §4 <math-4>`, eq. 2–3′; private; arrays in, arrays out).

Each kernel has a plain-NumPy twin in :mod:`refimpl.linalg._reference` with the same
signature; the tests compare them. ``cache=True`` stores the compiled code beside this file
(``__pycache__``), so only the first process on a machine pays the compilation. The kernels
are generic in the float type (float64 for the public API; float32 works too).

No kernel calls BLAS or LAPACK: Numba's ``np.dot`` / ``np.linalg`` would use SciPy's OpenBLAS,
whose thread pool would then compete with NumPy's (the GEMMs around these kernels run on
NumPy's). Matrices the kernels factor or solve with are read from their lower triangle only.

- :func:`fuse_kron_gram`   ``K = I + s · (RRᵀ) ⊙ (E ⊗ 1_{r×r})`` in place, lower triangle
  (linear layer, Kronecker mass)
- :func:`pair_weighted_gram`  ``Σ_p R_s[j,p] R_t[i,p] W_st[p]``     (linear layer, any diagonal mass)
- :func:`cholesky_block`   Cholesky factor of a diagonal block in place, and its inverse
  (the unblocked step of :func:`refimpl.linalg.cholesky_lower`)
- :func:`cholesky_solve`   ``x = (L Lᵀ)⁻¹ b`` by forward and back substitution (``L`` may be
  float32 while ``b`` is float64: the arithmetic is then float64)
- :func:`copy_lower`       a lower triangle copied (and rounded, e.g. to float32), and ``‖K‖∞``
  of the symmetric matrix it stands for (the refined solver's factorisation input and scale)
- :func:`symv_lower`       ``K x`` for the symmetric ``K`` given by its lower triangle (the
  refined solver's residual, in float64)
"""
from __future__ import annotations

import numba
import numpy as np

# Reassociating sums lets LLVM vectorise the dot products; no ``nnan``/``ninf`` so that a NaN
# or an infinity still propagates (the optimizer's divergence check relies on it).
_FAST = {"reassoc", "contract", "nsz"}


@numba.njit(cache=True, nogil=True)
def fuse_kron_gram(RR, E, r, scale):
    """Overwrite the lower triangle of ``RR`` (``n × n``, ``n = S·r``) with
    ``K[(s,j),(t,i)] = δ + scale · RR[(s,j),(t,i)] · E[s,t]`` and return it.

    The strict upper triangle is left as it was (the Cholesky factorisation reads the lower).
    """
    n = RR.shape[0]
    for a in range(n):
        s = a // r
        row = RR[a]
        for t in range(s):                      # whole r-blocks left of the diagonal block
            w = scale * E[s, t]
            for b in range(t * r, t * r + r):
                row[b] = w * row[b]
        w = scale * E[s, s]
        for b in range(s * r, a + 1):           # the diagonal block, up to the diagonal
            row[b] = w * row[b]
        row[a] += 1.0
    return RR


@numba.njit(cache=True, nogil=True, fastmath=True)
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


@numba.njit(cache=True, nogil=True, fastmath=_FAST)
def cholesky_block(D, inv, want_inverse):
    """Factor the SPD block ``D`` (``b × b``, lower triangle read) in place: its lower
    triangle becomes ``L`` with ``D = L Lᵀ``; the strict upper triangle is not touched.

    If ``want_inverse``, ``inv`` (``b × b``) receives ``L⁻¹`` (lower triangular, zeros above).
    Returns 0, or ``j + 1`` if the leading minor of order ``j + 1`` is not positive (LAPACK's
    ``info``); ``D`` is then partly overwritten.
    """
    b = D.shape[0]
    for j in range(b):                          # Cholesky–Crout, row by row
        for i in range(j + 1):
            acc = D[j, i]
            for k in range(i):
                acc -= D[j, k] * D[i, k]
            if i < j:
                D[j, i] = acc / D[i, i]
            elif acc > 0.0:
                D[j, j] = np.sqrt(acc)
            else:
                return j + 1
    if want_inverse:                            # L⁻¹ row by row: X[i, :i] from X[:i, :i]
        for i in range(b):
            for j in range(b):
                inv[i, j] = 0.0
            d = 1.0 / D[i, i]
            inv[i, i] = d
            for k in range(i):                  # X[i, j] = −(Σ_{k<i} L[i,k] X[k,j]) / L[i,i]
                lik = D[i, k] * d
                for j in range(k + 1):
                    inv[i, j] -= lik * inv[k, j]
    return 0


@numba.njit(cache=True, nogil=True, fastmath=_FAST)
def cholesky_solve(L, b):
    """Solve ``L Lᵀ x = b`` for lower-triangular ``L`` (``n × n``, lower triangle read) and
    ``b`` of shape (n, k); returns a new (n, k) array."""
    n, k = b.shape
    x = np.empty((k, n), dtype=b.dtype)
    for c in range(k):
        y = x[c]
        for i in range(n):                      # forward, L y = b (row i of L: a dot product)
            acc = b[i, c]
            for j in range(i):
                acc -= L[i, j] * y[j]
            y[i] = acc / L[i, i]
        for i in range(n - 1, -1, -1):          # backward, Lᵀ x = y (row i of L: an axpy)
            xi = y[i] / L[i, i]
            y[i] = xi
            for j in range(i):
                y[j] -= L[i, j] * xi
    return x.T.copy()


@numba.njit(cache=True, nogil=True)
def copy_lower(K, out):
    """Copy the lower triangle of ``K`` (``n × n``) into ``out`` (same shape, any float type:
    rounded on the way; ``out`` may be ``K`` itself; its strict upper triangle is not touched)
    and return ``max_i Σ_j |K_ij|``, the ∞-norm of the symmetric matrix whose lower triangle
    ``K`` holds."""
    n = K.shape[0]
    rows = np.zeros(n, dtype=np.float64)
    for i in range(n):
        acc = 0.0
        for j in range(i):
            v = K[i, j]
            out[i, j] = v
            acc += abs(v)
            rows[j] += abs(v)
        out[i, i] = K[i, i]
        rows[i] += acc + abs(K[i, i])
    return rows.max()


@numba.njit(cache=True, nogil=True, fastmath=_FAST)
def symv_lower(K, x):
    """``y = K x`` for the symmetric ``K`` (``n × n``) given by its lower triangle and ``x``
    of shape (n, k); returns a new (n, k) array. Each stored entry is read once: row ``i``
    gives ``y_i += K[i, :i] x[:i]`` and ``y[:i] += K[i, :i]ᵀ x_i``."""
    n, k = x.shape
    y = np.zeros((k, n), dtype=x.dtype)
    for c in range(k):
        yc = y[c]
        for i in range(n):
            xi = x[i, c]
            acc = K[i, i] * xi
            for j in range(i):
                kij = K[i, j]
                acc += kij * x[j, c]
                yc[j] += kij * xi
            yc[i] += acc
    return y.T.copy()
