"""Each Numba kernel against its plain-NumPy twin (refimpl.metric._reference), and the blocked
algorithms built on them (Cholesky, lower-triangle Gram) against dense references."""
import numpy as np
import pytest

from conditioning import metric_condition, solve_tol
from fd import rel_err
from refimpl import tree
from refimpl.linalg import _kernels, _reference, cholesky_lower, gram_lower
from refimpl.linalg.cholesky import SMALL
from refimpl.metric import LayerMetric
from refimpl.modules import LinearBlock


@pytest.mark.parametrize("S,r,m", [(1, 1, 1), (3, 2, 4), (7, 10, 5)])
def test_fuse_kron_gram(S, r, m):
    rng = np.random.default_rng(S * 100 + r)
    R2 = rng.standard_normal((S * r, m))
    A = rng.standard_normal((S, 6))
    RR, E = R2 @ R2.T, A @ A.T + 1.0
    RR[np.triu_indices(S * r, 1)] = np.nan           # the kernel must not read the upper part
    got = _kernels.fuse_kron_gram(RR.copy(), E, r, 0.37)
    want = _reference.fuse_kron_gram(RR.copy(), E, r, 0.37)
    lower = np.tril_indices(S * r)
    assert rel_err(got[lower], want[lower]) < 1e-15
    assert np.isnan(got[np.triu_indices(S * r, 1)]).all()       # in place, upper untouched
    full = np.eye(S * r) + 0.37 * (R2 @ R2.T) * np.kron(E, np.ones((r, r)))
    assert rel_err(got[lower], full[lower]) < 1e-15


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
@pytest.mark.parametrize("dtype,tol", [(np.float64, 1e-13), (np.float32, 1e-5)])
def test_cholesky_solve(n, k, dtype, tol):
    rng = np.random.default_rng(n)
    A = rng.standard_normal((n, n))
    L = np.linalg.cholesky(A @ A.T + n * np.eye(n)).astype(dtype)
    b = rng.standard_normal((n, k)).astype(dtype)
    Lg = L.copy()
    Lg[np.triu_indices(n, 1)] = np.nan                  # only the lower triangle is read
    got, want = _kernels.cholesky_solve(Lg, b), _reference.cholesky_solve(L, b)
    assert got.dtype == dtype and got.flags.c_contiguous
    assert rel_err(got, want) < tol
    assert rel_err(L @ (L.T @ got), b) < tol


def spd(rng, n, dtype=np.float64):
    """cond < 5 at any n (the eigenvalues of AAᵀ lie in [0, ≈ 4n]): well-conditioned, so the
    kernel tests' fixed tolerances near ε (1e-13; float32: 1e-5) are honest bounds."""
    A = rng.standard_normal((n, n))
    return (A @ A.T + n * np.eye(n)).astype(dtype)


@pytest.mark.parametrize("n", [1, 2, 7, 33])
@pytest.mark.parametrize("want_inverse", [True, False])
@pytest.mark.parametrize("dtype,tol", [(np.float64, 1e-13), (np.float32, 1e-5)])
def test_cholesky_block(n, want_inverse, dtype, tol):
    rng = np.random.default_rng(n)
    K = spd(rng, n, dtype)
    K[np.triu_indices(n, 1)] = np.nan                   # only the lower triangle is read
    got_D, want_D = K.copy(), K.copy()
    got_inv, want_inv = np.zeros((n, n), dtype), np.zeros((n, n), dtype)
    assert _kernels.cholesky_block(got_D, got_inv, want_inverse) == 0
    assert _reference.cholesky_block(want_D, want_inv, want_inverse) == 0
    lower = np.tril_indices(n)
    assert rel_err(got_D[lower], want_D[lower]) < tol
    assert np.isnan(got_D[np.triu_indices(n, 1)]).all()         # upper part untouched
    if want_inverse:
        assert rel_err(got_inv, want_inv) < tol
        assert rel_err(np.tril(got_D) @ got_inv, np.eye(n)) < 10 * tol


@pytest.mark.parametrize("bad", [0, 3])
def test_cholesky_block_reports_the_first_nonpositive_minor(bad):
    rng = np.random.default_rng(5)
    K = spd(rng, 6)
    K[bad, bad] = -1.0                                  # leading minor bad + 1 is negative
    inv = np.zeros((6, 6))
    assert _kernels.cholesky_block(K.copy(), inv, True) == bad + 1
    assert _reference.cholesky_block(K.copy(), inv, True) == bad + 1


def signaling_nan(dtype):
    """A signalling NaN: any arithmetic on it raises under ``np.errstate(invalid="raise")``."""
    bits = {np.float64: (np.uint64, 0x7FF4000000000000), np.float32: (np.uint32, 0x7FA00000)}
    utype, pattern = bits[dtype]
    return np.array([pattern], dtype=utype).view(dtype)[0]


@pytest.mark.parametrize("n,nb", [(1, 96), (50, 96), (200, 64), (257, 96), (130, 13)])
@pytest.mark.parametrize("dtype,tol", [(np.float64, 1e-13), (np.float32, 1e-5)])
def test_blocked_cholesky_matches_lapack(n, nb, dtype, tol):
    rng = np.random.default_rng(n + nb)
    K = spd(rng, n, dtype)
    want = np.linalg.cholesky(K.astype(np.float64))
    Kg = K.copy()
    Kg[np.triu_indices(n, 1)] = signaling_nan(dtype)    # the upper triangle is never touched
    with np.errstate(invalid="raise"):
        got = np.tril(cholesky_lower(Kg, nb, small=0))          # the blocked algorithm
    assert np.isnan(Kg[np.triu_indices(n, 1)]).all()
    assert rel_err(got, want) < tol
    Ks = K.copy()
    Ks[np.triu_indices(n, 1)] = np.inf                  # LAPACK below SMALL: lower part only
    assert rel_err(np.tril(cholesky_lower(Ks)), want) < tol


def test_blocked_cholesky_rejects_an_indefinite_matrix():
    K = spd(np.random.default_rng(0), 150)
    K[120, 120] = -5.0
    with pytest.raises(np.linalg.LinAlgError, match="order 121"):
        cholesky_lower(K, 64, small=0)


@pytest.mark.parametrize("n,k,nb", [(10, 3, 256), (50, 7, 16), (97, 5, 32)])
def test_gram_lower_forms_the_lower_triangle(n, k, nb):
    X = np.random.default_rng(n).standard_normal((n, k))
    lower = np.tril_indices(n)
    assert rel_err(gram_lower(X, nb)[lower], (X @ X.T)[lower]) < 1e-14


def test_blocked_paths_end_to_end_match_the_dense_solve():
    """S·r = 300 > SMALL: lower-triangle Gram by block rows, in-place fuse, blocked Cholesky."""
    rng = np.random.default_rng(7)
    S, r, m, n = 30, 10, 6, 40
    block = LinearBlock(rng.standard_normal((S, r, m)), rng.standard_normal((S, n)), True)
    G = LayerMetric(block, 0.3, "woodbury")
    assert (G.formula, G.inner_size) == ("linear-scalar", S * r) and S * r > SMALL
    v = {k: rng.standard_normal(s) for k, s in block.shapes.items()}
    want = np.linalg.solve(G.dense(), tree.flatten(v))
    assert rel_err(tree.flatten(G.solve(v)), want) < solve_tol(metric_condition(G.dense(), 0.3))


@pytest.mark.parametrize("n", [1, 4, 37])
@pytest.mark.parametrize("out_dtype", [np.float64, np.float32])
def test_copy_lower(n, out_dtype):
    rng = np.random.default_rng(n)
    K = spd(rng, n)
    K[np.triu_indices(n, 1)] = np.nan                   # only the lower triangle is read
    got, want = np.full((n, n), 7.0, out_dtype), np.full((n, n), 7.0, out_dtype)
    norm = _kernels.copy_lower(K, got)
    assert norm == pytest.approx(_reference.copy_lower(K, want), rel=1e-15)
    A = np.tril(K) + np.tril(K, -1).T
    assert norm == pytest.approx(np.linalg.norm(np.nan_to_num(A), np.inf), rel=1e-15)
    assert np.array_equal(got, want)                    # rounded the same way
    assert (got[np.triu_indices(n, 1)] == 7.0).all()    # upper part of out untouched
    same = K.copy()
    assert _kernels.copy_lower(same, same) == norm      # in place: a norm, nothing changed
    assert np.array_equal(same, K, equal_nan=True)


@pytest.mark.parametrize("n,k", [(1, 1), (6, 1), (45, 3)])
def test_symv_lower(n, k):
    rng = np.random.default_rng(n + k)
    K = spd(rng, n)
    A = K.copy()
    K[np.triu_indices(n, 1)] = np.nan                   # only the lower triangle is read
    x = rng.standard_normal((n, k))
    got = _kernels.symv_lower(K, x)
    assert got.shape == (n, k)
    assert rel_err(got, _reference.symv_lower(K, x)) < 1e-14
    assert rel_err(got, A @ x) < 1e-14
