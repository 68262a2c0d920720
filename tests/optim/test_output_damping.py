"""Output damping (``output_damping=τ``: the output metric ``g_out + τI``) in the metric
optimizers: its limits with known answers and its validation. The metric itself is checked
against the Hessian (tests/losses) and against the dense metric (tests/metric/test_step.py,
case ``damped-gauss-newton``)."""
import numpy as np
import pytest

from fd import rel_err
from refimpl import tree
from refimpl.modules import mlp
from refimpl.optim import GaussNewton, RiemannianSGD


def problem(seed=0, S=16):
    rng = np.random.default_rng(seed)
    model = mlp([4, 6, 3], "tanh")
    return model, model.init(rng), rng.standard_normal((S, 4)), rng.integers(0, 3, S)


def step(opt, params, X, t):
    state, info = opt.update(opt.init(params), X, t)
    return tree.flatten(state.params) - tree.flatten(params), info


@pytest.mark.parametrize("cls", [RiemannianSGD, GaussNewton])
def test_zero_output_damping_is_the_undamped_step(cls):
    model, params, X, t = problem()
    kw = dict(lr=1.0, mass=0.1, output_metric="gauss-newton")
    plain, _ = step(cls(model, "cross_entropy", **kw), params, X, t)
    zero, _ = step(cls(model, "cross_entropy", output_damping=0.0, **kw), params, X, t)
    assert np.array_equal(plain, zero)


@pytest.mark.parametrize("cls", [RiemannianSGD, GaussNewton])
def test_large_output_damping_is_the_identity_metric_step(cls):
    """``G = μ + JᵀHJ + τJᵀJ = τ (μ/τ + JᵀJ + JᵀHJ/τ)``: with ``μ = τμ′`` and ``η = τη′`` the
    step tends to the identity metric's at ``(μ′, η′)`` as ``τ → ∞``, the gap relative
    ``≲ cond · ‖H‖/τ`` (``‖H‖ ≤ ½`` for cross-entropy; ``cond`` of ``μ′ + JᵀJ`` is below
    1e3 here), so ``≲ 5e-6`` at ``τ = 1e8``, and it falls as ``1/τ`` (first order in
    ``1/τ``; rounding, ``ε·cond ≈ 1e-13``, is far below either gap)."""
    model, params, X, t = problem()
    mu, lr = 0.05, 0.5
    identity, _ = step(cls(model, "cross_entropy", lr=lr, mass=mu, output_metric="identity"),
                       params, X, t)
    gaps = []
    for tau in (1e6, 1e8):
        damped, _ = step(cls(model, "cross_entropy", lr=tau * lr, mass=tau * mu,
                             output_metric="gauss-newton", output_damping=tau), params, X, t)
        gaps.append(rel_err(damped, identity))
    assert gaps[1] < 5e-6 and 80 < gaps[0] / gaps[1] < 125, gaps
    # and far from it without the damping: the limit is not met trivially
    undamped, _ = step(cls(model, "cross_entropy", lr=lr, mass=mu,
                           output_metric="gauss-newton"), params, X, t)
    assert rel_err(undamped, identity) > 1e-2


def test_hyperparameters_report_the_output_metric_and_its_damping():
    model, *_ = problem()
    hyper = RiemannianSGD(model, "cross_entropy", output_metric="gauss-newton",
                          output_damping=0.3).hyperparameters()
    assert hyper["output_metric"] == "gauss-newton" and hyper["output_damping"] == 0.3
    assert RiemannianSGD(model, "cross_entropy").hyperparameters()["output_damping"] == 0.0


@pytest.mark.parametrize("value, error, words", [
    (-0.1, ValueError, "output_damping must be finite and ≥ 0, got -0.1"),
    (float("inf"), ValueError, "output_damping must be finite and ≥ 0"),
    ("0.3", TypeError, "output_damping must be a non-negative real number, got '0.3'"),
])
def test_bad_output_damping_is_a_clear_error(value, error, words):
    model, *_ = problem()
    with pytest.raises(error, match=words):
        RiemannianSGD(model, "cross_entropy", output_damping=value)
