"""The SPD solvers (refimpl.linalg): the precision rule of ``factorize`` and the
mixed-precision refined Cholesky solver against dense float64 solves, across conditions,
with its float64 fallback; the mixed-precision path of a layer metric."""
import numpy as np
import pytest

from fd import rel_err
from refimpl.linalg import (ITERMAX, MIXED_MIN, CholeskyInner, RefinedCholeskyInner,
                            factorize)
from refimpl.metric import LayerMetric
from refimpl.modules import LinearBlock


def spd_with_condition(rng, n, cond):
    """A random SPD matrix with eigenvalues spread geometrically over [1, cond]."""
    Q, _ = np.linalg.qr(rng.standard_normal((n, n)))
    return (Q * np.geomspace(1.0, cond, n)) @ Q.T


# (size, dtype, precision) -> the solver factorize picks
FACTORIZE_CASES = [
    (MIXED_MIN - 1, np.float64, "auto", CholeskyInner),
    (MIXED_MIN, np.float64, "auto", RefinedCholeskyInner),
    (MIXED_MIN, np.float64, "double", CholeskyInner),
    (5, np.float64, "mixed", RefinedCholeskyInner),
    (MIXED_MIN, np.float32, "auto", CholeskyInner),     # already float32: factorised directly
    (5, np.float32, "mixed", CholeskyInner),
]


@pytest.mark.parametrize("n,dtype,precision,kind", FACTORIZE_CASES)
def test_factorize_picks_the_solver_by_size_dtype_and_precision(n, dtype, precision, kind):
    K = spd_with_condition(np.random.default_rng(n), n, 10.0).astype(dtype)
    solver = factorize(K, precision=precision)
    assert type(solver) is kind
    b = np.random.default_rng(1).standard_normal(n).astype(dtype)
    tol = 1e-13 if dtype == np.float64 else 1e-4
    assert rel_err(solver.solve(b), np.linalg.solve(K.astype(np.float64), b)) < tol


def test_factorize_rejects_an_unknown_precision():
    with pytest.raises(ValueError, match="unknown precision 'single'.*auto"):
        factorize(np.eye(3), precision="single")


def test_factorize_keeps_or_gives_up_k():
    K = spd_with_condition(np.random.default_rng(0), 20, 10.0)
    for precision in ("double", "mixed"):
        kept = K.copy()
        factorize(kept, precision=precision)
        assert np.array_equal(kept, K)                  # overwrite=False: K untouched


# condition of K -> the refined solve matches a float64 solve to this relative error
# (both are backward stable: the forward errors are of order cond·ε)
CONDITIONS = [(1.0, 1e-14), (1e2, 1e-13), (1e4, 1e-11), (1e6, 1e-9)]


@pytest.mark.parametrize("cond,tol", CONDITIONS)
def test_refined_solve_has_float64_accuracy(cond, tol):
    rng = np.random.default_rng(int(np.log10(cond)))
    n = 120
    K = spd_with_condition(rng, n, cond)
    b = rng.standard_normal((n,))
    solver = RefinedCholeskyInner.from_matrix(K.copy())
    x = solver.solve(b)
    assert solver.precision == "mixed" and 1 <= solver.steps[-1] <= ITERMAX
    assert rel_err(x, np.linalg.solve(K, b)) < tol
    # DSPOSV's stopping test holds at the returned x
    r = b - K @ x
    assert np.abs(r).max() <= np.sqrt(n) * np.abs(x).max() * np.linalg.norm(K, np.inf) * 2.0 ** -53
    # more right-hand shapes: (S, r) in, same shape out
    B = rng.standard_normal((10, 12))
    assert rel_err(solver.solve(B).ravel(), np.linalg.solve(K, B.ravel())) < tol


def test_refined_solve_falls_back_when_float32_cannot_factorise():
    """cond(K) ≈ 1e12 ≫ 1/ε₃₂: the float32 factorisation fails; float64 takes over."""
    rng = np.random.default_rng(3)
    K = spd_with_condition(rng, 60, 1e12)
    K32 = K.astype(np.float32)
    with pytest.raises(np.linalg.LinAlgError):
        np.linalg.cholesky(K32)                         # the premise of this case
    solver = RefinedCholeskyInner.from_matrix(K.copy())
    assert solver.precision == "mixed→double"
    b = rng.standard_normal(60)
    want = CholeskyInner(K).solve(b)
    assert np.array_equal(solver.solve(b), want)         # exactly the float64 solver's answer


def test_refined_solve_falls_back_when_refinement_does_not_converge():
    """A residual operator far from the float32 matrix: the steps diverge, ITERMAX + 1 is
    recorded, and the float64 system from ``double`` is solved instead."""
    rng = np.random.default_rng(4)
    K = spd_with_condition(rng, 30, 10.0)
    far = 3.0 * K                                       # (L Lᵀ)⁻¹ far: error grows 2× a step
    solver = RefinedCholeskyInner(K.astype(np.float32), lambda x: far @ x, lambda: far.copy())
    b = rng.standard_normal(30)
    x = solver.solve(b)
    assert solver.steps == [ITERMAX + 1] and solver.precision == "mixed→double"
    assert rel_err(x, np.linalg.solve(far, b)) < 1e-13
    assert rel_err(solver.solve(b), x) == 0.0           # later solves: float64 directly


def test_refined_solve_propagates_nan():
    K = spd_with_condition(np.random.default_rng(5), 20, 10.0)
    solver = RefinedCholeskyInner.from_matrix(K)
    b = np.ones(20)
    b[3] = np.nan
    assert np.isnan(solver.solve(b)).any()
    assert solver.steps == [1] and solver.precision == "mixed"       # stops at once


def test_refined_condition_estimate_is_the_factor_diagonal_ratio():
    K = spd_with_condition(np.random.default_rng(6), 50, 1e3)
    est = RefinedCholeskyInner.from_matrix(K).condition()
    d = np.diag(np.linalg.cholesky(K))
    assert est == pytest.approx((d.max() / d.min()) ** 2, rel=1e-5)   # float32 factor
    assert est <= np.linalg.cond(K) * (1 + 1e-5)


@pytest.mark.parametrize("mass", [1e-4, 1e-2, 1.0, 1e3])
def test_mixed_linear_scalar_path_matches_the_float64_path(mass):
    """S·r = 600, precision "mixed": the inner matrix formed in float32 and refined; the
    update agrees with the float64 factorisation to the accuracy of either."""
    rng = np.random.default_rng(int(np.log10(mass)) + 10)
    S, r, m, n = 60, 10, 12, 30
    block = LinearBlock(rng.standard_normal((S, r, m)), rng.standard_normal((S, n)), True)
    mixed = LayerMetric(block, mass, "woodbury", precision="mixed")
    double = LayerMetric(block, mass, "woodbury", precision="double")
    assert isinstance(mixed.inner, RefinedCholeskyInner)
    assert (mixed.inner.precision, double.inner.precision) == ("mixed", "double")
    c = rng.standard_normal((S, r))
    got, want = mixed.push_through(c), double.push_through(c)
    cond = np.linalg.cond(np.tril(double.inner.L) @ np.tril(double.inner.L).T)
    for k in want:
        assert rel_err(got[k], want[k]) < max(1e-13, 1e-15 * cond)
    v = {k: rng.standard_normal(s) for k, s in block.shapes.items()}
    got, want = mixed.solve(v), double.solve(v)
    for k in want:
        assert rel_err(got[k], want[k]) < max(1e-12, 1e-15 * cond)


def test_layer_metric_rejects_an_unknown_precision():
    block = LinearBlock(np.ones((2, 1, 3)), np.ones((2, 4)), True)
    with pytest.raises(ValueError, match="unknown precision 'half'"):
        LayerMetric(block, 1.0, precision="half")


@pytest.mark.parametrize("n", [5, 300])           # numpy.linalg below SMALL, blocked above
def test_entries_beyond_float32_range_fall_back_to_float64(n):
    """LAPACK's DLAG2S check: no float32 factor of a K that float32 cannot hold."""
    rng = np.random.default_rng(n)
    K = 1e39 * spd_with_condition(rng, n, 10.0)
    b = rng.standard_normal(n)
    solver = RefinedCholeskyInner.from_matrix(K.copy())
    assert solver.precision == "mixed→double" and solver.steps == []
    assert rel_err(solver.solve(b), np.linalg.solve(K, b)) < 1e-13
    K = np.eye(n)
    K[0, 0] = 1e39                                      # a single huge entry
    b = np.ones(n)
    b[0] = 1e39
    x = factorize(K, precision="mixed").solve(b)
    assert rel_err(x, np.ones(n)) < 1e-15


def test_a_non_finite_residual_with_finite_b_falls_back():
    K = spd_with_condition(np.random.default_rng(8), 20, 10.0)
    calls = []

    def matvec(x):                                      # an operator that overflows once
        calls.append(1)
        return np.full_like(x, np.inf) if len(calls) == 2 else K @ x

    solver = RefinedCholeskyInner(K.astype(np.float32), matvec, lambda: K.copy())
    b = np.ones(20)
    x = solver.solve(b)
    assert solver.precision == "mixed→double" and solver.steps == [ITERMAX + 1]
    assert rel_err(x, np.linalg.solve(K, b)) < 1e-13


def test_a_float32_right_hand_side_is_solved_in_float64():
    K = spd_with_condition(np.random.default_rng(9), 40, 100.0)
    b = np.random.default_rng(10).standard_normal(40).astype(np.float32)
    solver = RefinedCholeskyInner.from_matrix(K.copy())
    x = solver.solve(b)
    assert x.dtype == np.float64 and solver.precision == "mixed"
    assert rel_err(x, np.linalg.solve(K, b.astype(np.float64))) < 1e-13


def test_overwrite_hands_k_to_the_solver():
    K = spd_with_condition(np.random.default_rng(11), 30, 10.0)
    given = K.copy()
    double = factorize(given, overwrite=True, precision="double")
    assert double.L is given                            # factorised in place
    assert rel_err(np.tril(given) @ np.tril(given).T, K) < 1e-14
    kept = K.copy()
    mixed = factorize(kept, overwrite=True, precision="mixed")
    mixed.solve(np.ones(30))
    assert np.array_equal(kept, K)                      # kept for the residuals, unchanged


def test_precision_names_the_factor_in_use():
    K = spd_with_condition(np.random.default_rng(12), 10, 10.0)
    assert CholeskyInner(K).precision == "double"
    assert CholeskyInner(K.astype(np.float32)).precision == "single"
    assert factorize(K, precision="mixed").precision == "mixed"
