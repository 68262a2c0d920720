"""Conjugate gradients on x ↦ K x (refimpl.linalg.CGInner): against dense solves across
conditions, with a preconditioner, its Lanczos condition estimate, and clear errors."""
import numpy as np
import pytest

from fd import rel_err
from refimpl.linalg import CGInner, ConvergenceError


def spd_with_condition(rng, n, cond):
    Q, _ = np.linalg.qr(rng.standard_normal((n, n)))
    return (Q * np.geomspace(1.0, cond, n)) @ Q.T


@pytest.mark.parametrize("cond", [1.0, 1e2, 1e4])
def test_solve_reaches_its_residual_and_the_dense_answer(cond):
    rng = np.random.default_rng(int(np.log10(cond)))
    K = spd_with_condition(rng, 80, cond)
    b = rng.standard_normal((8, 10))                       # any shape holding 80 numbers
    solver = CGInner(lambda x: K @ x, 80, rtol=1e-12)
    x = solver.solve(b)
    assert x.shape == b.shape
    residual = np.linalg.norm(b.ravel() - K @ x.ravel()) / np.linalg.norm(b)
    assert residual <= 1e-12 and solver.residuals[-1] == pytest.approx(residual, rel=1e-6)
    # forward error ≤ cond · residual
    assert rel_err(x.ravel(), np.linalg.solve(K, b.ravel())) <= 1.1 * cond * 1e-12 + 1e-15
    # CG's bound: the error falls by 2((√κ − 1)/(√κ + 1))^k, so ½√κ ln(2/rtol) steps suffice
    assert 1 <= solver.iterations[-1] <= np.ceil(0.5 * np.sqrt(cond) * np.log(2 / 1e-12)) + 1


def test_a_preconditioner_cuts_the_iterations_and_the_estimate_follows():
    rng = np.random.default_rng(7)
    d = np.geomspace(1.0, 1e6, 60)
    K = np.diag(d) + 0.01 * spd_with_condition(rng, 60, 10.0)     # badly scaled
    b = rng.standard_normal(60)
    plain = CGInner(lambda x: K @ x, 60, rtol=1e-10)
    jacobi = CGInner(lambda x: K @ x, 60, rtol=1e-10, preconditioner=lambda r: r / np.diag(K))
    x1, x2 = plain.solve(b), jacobi.solve(b)
    assert jacobi.iterations[-1] < plain.iterations[-1] / 3
    assert rel_err(x1, x2) < 1e-6
    # Lanczos: a lower bound on cond of the (preconditioned) operator, close to it
    assert plain.condition() <= np.linalg.cond(K) * (1 + 1e-6)
    assert plain.condition() > 0.1 * np.linalg.cond(K)


def test_a_zero_right_hand_side_needs_no_iteration():
    solver = CGInner(lambda x: 2 * x, 5)
    assert np.array_equal(solver.solve(np.zeros(5)), np.zeros(5))
    assert solver.iterations == [0] and solver.condition() == 1.0


def test_not_converging_is_a_clear_error():
    K = spd_with_condition(np.random.default_rng(1), 50, 1e8)
    solver = CGInner(lambda x: K @ x, 50, rtol=1e-14, maxiter=5)
    with pytest.raises(ConvergenceError, match="did not reach the relative residual 1.0e-14 in "
                                               "5 iterations"):
        solver.solve(np.ones(50))


def test_an_indefinite_operator_breaks_down_clearly():
    K = np.diag([1.0, -1.0, 2.0])
    with pytest.raises(ConvergenceError, match="not positive definite"):
        CGInner(lambda x: K @ x, 3).solve(np.array([0.0, 1.0, 0.0]))


@pytest.mark.parametrize("kw,words", [(dict(rtol=0.0), "rtol"), (dict(rtol=1.5), "below 1"),
                                      (dict(maxiter=0), "maxiter")])
def test_bad_settings_are_clear_errors(kw, words):
    with pytest.raises(ValueError, match=words):
        CGInner(lambda x: x, 3, **kw)


def test_a_non_finite_right_hand_side_is_rejected():
    with pytest.raises(ValueError, match="not finite"):
        CGInner(lambda x: x, 3).solve(np.array([1.0, np.nan, 0.0]))
