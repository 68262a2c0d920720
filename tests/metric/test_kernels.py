"""Each Numba kernel against its plain-NumPy twin (refimpl.metric._reference)."""
import numpy as np
import pytest

from fd import rel_err
from refimpl.metric import _kernels, _reference


@pytest.mark.parametrize("S,r,m", [(1, 1, 1), (3, 2, 4), (7, 10, 5)])
def test_fuse_kron_gram(S, r, m):
    rng = np.random.default_rng(S * 100 + r)
    R2 = rng.standard_normal((S * r, m))
    A = rng.standard_normal((S, 6))
    args = (R2 @ R2.T, A @ A.T + 1.0, r, 0.37)
    assert rel_err(_kernels.fuse_kron_gram(*args), _reference.fuse_kron_gram(*args)) < 1e-15


@pytest.mark.parametrize("S,r,m", [(1, 1, 1), (3, 2, 4), (6, 3, 9)])
def test_pair_weighted_gram(S, r, m):
    rng = np.random.default_rng(S * 100 + r)
    R = rng.standard_normal((S, r, m))
    A = rng.standard_normal((S, 5))
    W = rng.uniform(0.1, 1.0, (m, 5))
    Wst = np.einsum("sq,tq,pq->stp", A, A, W)             # symmetric in (s, t)
    got, want = _kernels.pair_weighted_gram(R, Wst, 0.5), _reference.pair_weighted_gram(R, Wst, 0.5)
    assert rel_err(got, want) < 1e-13                    # fastmath reassociates the sum


@pytest.mark.parametrize("n,k", [(1, 1), (5, 1), (40, 3)])
def test_cholesky_solve(n, k):
    rng = np.random.default_rng(n)
    A = rng.standard_normal((n, n))
    L = np.linalg.cholesky(A @ A.T + n * np.eye(n))
    b = rng.standard_normal((n, k))
    got, want = _kernels.cholesky_solve(L, b), _reference.cholesky_solve(L, b)
    assert rel_err(got, want) < 1e-13
    assert rel_err(L @ (L.T @ got), b) < 1e-13
