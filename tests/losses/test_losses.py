"""Losses: value, gradient and Hessian factor against finite differences and dense forms."""
import numpy as np
import pytest

from fd import central, rel_err
from refimpl.losses import (MSE, ConstantOutputMetric, CrossEntropy, DampedOutputMetric,
                            GaussNewtonMetric, IdentityMetric, OutputMetric, get_loss,
                            get_output_metric)

LOSS_CASES = {  # name: (loss, targets builder(rng, S, k))
    "mse": (MSE(), lambda rng, S, k: rng.standard_normal((S, k))),
    "cross_entropy": (CrossEntropy(), lambda rng, S, k: rng.integers(0, k, S)),
}


@pytest.mark.parametrize("name", list(LOSS_CASES))
@pytest.mark.parametrize("S,k", [(1, 1), (4, 3), (7, 10)])
def test_gradient_and_hessian_against_finite_differences(rng, name, S, k):
    loss, make_t = LOSS_CASES[name]
    y, t = 2 * rng.standard_normal((S, k)), make_t(rng, S, k)
    g = loss.grad(y, t)
    for i in range(k):
        e = np.zeros((S, k))
        e[:, i] = 1.0
        assert np.max(np.abs(central(lambda z: loss.value(z, t), y, e) - g[:, i])) < 1e-8
        Hi = central(lambda z: loss.grad(z, t), y, e)
        assert np.max(np.abs(loss.hessian(y, t)[:, :, i] - Hi)) < 1e-7


@pytest.mark.parametrize("name", list(LOSS_CASES))
def test_gradient_coordinates_solve_F_c_equals_grad(rng, name):
    loss, make_t = LOSS_CASES[name]
    y, t = 3 * rng.standard_normal((6, 5)), make_t(rng, 6, 5)
    F, c = loss.hessian_factor(y, t), loss.grad_coords(y, t)
    assert rel_err(np.einsum("skr,sr->sk", F, c), loss.grad(y, t)) < 1e-13


def test_cross_entropy_hessian_is_diag_p_minus_ppT(rng):
    y, t = rng.standard_normal((3, 4)), np.array([0, 3, 1])
    p = np.exp(y) / np.exp(y).sum(1, keepdims=True)
    H = np.stack([np.diag(q) - np.outer(q, q) for q in p])
    assert rel_err(CrossEntropy().hessian(y, t), H) < 1e-14


EXTREME = [1e3, 1e5, 1e300]


@pytest.mark.parametrize("scale", EXTREME)
def test_cross_entropy_is_stable_at_large_logits(scale):
    y = np.array([[scale, 0.0, -scale], [0.0, 0.0, 0.0]])
    t = np.array([0, 2])
    loss = CrossEntropy()
    v, g = loss.value(y, t), loss.grad(y, t)
    assert np.all(np.isfinite(v)) and np.all(np.isfinite(g))
    assert v[0] == 0.0 and abs(v[1] - np.log(3)) < 1e-15
    assert np.all(np.isfinite(loss.hessian_factor(y, t)))


def test_cross_entropy_coords_extreme_logits_and_underflow():
    loss = CrossEntropy()
    y, t = np.array([[1000.0, 0.0]]), np.array([1])     # p_t = e^-1000, √p_t = e^-500
    c = loss.grad_coords(y, t)
    assert np.all(np.isfinite(c))
    assert rel_err(np.einsum("skr,sr->sk", loss.hessian_factor(y, t), c), loss.grad(y, t)) < 1e-12
    assert loss.grad_coords(np.array([[2000.0, 0.0]]), t) is None   # √p_t underflows


BAD_TARGETS = [
    ("mse", lambda: np.zeros((3, 2)), "shape"),
    ("mse", lambda: np.full((3, 1), np.nan), "finite"),
    ("cross_entropy", lambda: np.array([0, 1]), "one label per sample"),
    ("cross_entropy", lambda: np.array([0, 1, 5]), "[0, 3)"),
    ("cross_entropy", lambda: np.array([0, -1, 1]), "[0, 3)"),
    ("cross_entropy", lambda: np.array([0.5, 1, 1]), "integer"),
]


@pytest.mark.parametrize("name,targets,words", BAD_TARGETS)
def test_bad_targets_are_clear_errors(name, targets, words):
    y = np.zeros((3, 3)) if name == "cross_entropy" else np.zeros((3, 1))
    with pytest.raises(ValueError, match=words.replace("[", r"\[").replace("(", r"\(")
                       .replace(")", r"\)")):
        get_loss(name).value(y, targets())


def test_unknown_names_are_clear_errors():
    with pytest.raises(ValueError, match="unknown loss 'hinge'"):
        get_loss("hinge")
    with pytest.raises(ValueError, match="unknown output metric"):
        get_output_metric("fisher")


@pytest.mark.parametrize("G,words", [
    (np.array([[1.0, 2.0], [0.0, 1.0]]), "symmetric"),
    (np.array([[1.0, 2.0], [2.0, 1.0]]), "positive definite"),
    (np.ones((2, 3)), "square"),
    (np.array([[np.nan, 0], [0, 1.0]]), "finite"),
])
def test_constant_output_metric_is_validated(G, words):
    with pytest.raises(ValueError, match=words):
        ConstantOutputMetric(G)


def test_constant_output_metric_factor_and_coords(rng):
    A = rng.standard_normal((3, 3))
    G = A @ A.T + 3 * np.eye(3)
    m = ConstantOutputMetric(G)
    y, t = rng.standard_normal((4, 3)), rng.standard_normal((4, 3))
    assert rel_err(m.matrix(y, t, MSE()), np.broadcast_to(G, (4, 3, 3))) < 1e-14
    F, c = m.factor(y, t, MSE()), m.coords(y, t, MSE())
    assert rel_err(np.einsum("skr,sr->sk", F, c), y - t) < 1e-13


# -- output damping: g_out + τ I ------------------------------------------------------------------
@pytest.mark.parametrize("name", list(LOSS_CASES))
@pytest.mark.parametrize("tau", [1e-3, 0.3, 10.0])
def test_damped_output_metric_is_hessian_plus_tau_identity(rng, name, tau):
    """``F Fᵀ = ∇²ℓ + τI`` (the Hessian checked against finite differences above) with ``F``
    lower triangular, and ``F c = ∇ℓ``: rounding of a Cholesky factor and a triangular solve,
    ``ε·cond(F)`` with ``cond(F) ≤ √((‖H‖ + τ)/τ) ≤ 32`` here."""
    loss, make_t = LOSS_CASES[name]
    y = 2.0 * rng.standard_normal((6, 4))
    t = make_t(rng, 6, 4)
    m = DampedOutputMetric(GaussNewtonMetric(), tau)
    F = m.factor(y, t, loss)
    assert np.array_equal(F, np.tril(F))
    assert rel_err(F @ np.swapaxes(F, 1, 2), loss.hessian(y, t) + tau * np.eye(4)) < 1e-14
    assert rel_err(np.einsum("skr,sr->sk", F, m.coords(y, t, loss)), loss.grad(y, t)) < 1e-13


def test_damped_identity_is_the_constant_metric_one_plus_tau(rng):
    """A limit with a known answer: ``I + τI = (1 + τ) I``, whose factor is ``√(1 + τ) I``."""
    y, t = rng.standard_normal((3, 5)), rng.standard_normal((3, 5))
    F = DampedOutputMetric(IdentityMetric(), 0.44).factor(y, t, MSE())
    assert rel_err(F, np.broadcast_to(1.2 * np.eye(5), F.shape)) < 1e-15


def test_damped_output_metric_keeps_float32(rng):
    y = rng.standard_normal((4, 3)).astype(np.float32)
    t = rng.integers(0, 3, 4)
    m = DampedOutputMetric(GaussNewtonMetric(), 0.3)
    assert m.factor(y, t, CrossEntropy()).dtype == np.float32
    assert m.coords(y, t, CrossEntropy()).dtype == np.float32


@pytest.mark.parametrize("metric, tau, error, words", [
    (GaussNewtonMetric(), 0.0, ValueError, "finite and > 0, got 0.0"),
    (GaussNewtonMetric(), -1.0, ValueError, "finite and > 0"),
    (GaussNewtonMetric(), float("nan"), ValueError, "finite and > 0"),
    (GaussNewtonMetric(), True, TypeError, "positive real number"),
    ("gauss-newton", 0.3, TypeError, "damps an OutputMetric, got 'gauss-newton'"),
])
def test_damped_output_metric_is_validated(metric, tau, error, words):
    with pytest.raises(error, match=words):
        DampedOutputMetric(metric, tau)


def test_damped_output_metric_below_rounding_is_a_clear_error():
    """``g_out = 11ᵀ`` (singular, PSD) plus ``τ = 1e-30`` rounds to ``11ᵀ`` in float64, whose
    Cholesky factorisation breaks down: a ValueError naming τ, not a LinAlgError."""

    class AllOnes(OutputMetric):
        name = "all-ones"

        def factor(self, y, targets, loss):
            return np.ones(y.shape + (1,), dtype=y.dtype)

    y, t = np.zeros((2, 3)), np.zeros((2, 3))
    assert DampedOutputMetric(AllOnes(), 0.1).factor(y, t, MSE()).shape == (2, 3, 3)
    with pytest.raises(ValueError, match="τ = 1e-30 is too small for float64"):
        DampedOutputMetric(AllOnes(), 1e-30).factor(y, t, MSE())
