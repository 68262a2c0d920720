"""Optimizers: the shared contract, Riemannian SGD's diagnostics, and divergence handling."""
import numpy as np
import pytest

from conditioning import metric_condition, solve_tol
from fd import rel_err
from refimpl import tree
from refimpl.metric import build_metric
from refimpl.modules import mlp
from refimpl.optim import OPTIMIZERS, DivergenceError, make_optimizer

HYPER = {"sgd": dict(lr=0.05), "momentum": dict(lr=0.02, beta=0.9), "adam": dict(lr=0.01),
         "riemannian": dict(lr=0.1, mass=0.5), "gauss-newton": dict(lr=0.1, mass=0.5),
         "kfac": dict(lr=0.1, damping=0.5)}


def problem(seed=0, S=32):
    rng = np.random.default_rng(seed)
    model = mlp([3, 8, 2], "tanh")
    X = rng.standard_normal((S, 3))
    t = np.stack([np.sin(X[:, 0]), X[:, 1] * X[:, 2]], axis=1)
    return model, model.init(rng), X, t


@pytest.mark.parametrize("name", list(OPTIMIZERS))
def test_full_batch_loss_decreases_monotonically_for_a_small_step(name):
    model, params, X, t = problem()
    opt = make_optimizer(name, model, "mse", **HYPER[name])
    state, losses = opt.init(params), []
    for _ in range(25):
        state, info = opt.update(state, X, t)
        losses.append(info["loss"])
    if name in ("momentum", "adam"):        # not descent methods step by step
        assert losses[-1] < 0.8 * losses[0]
    else:
        assert np.all(np.diff(losses) < 0), losses


def test_update_is_pure_and_init_copies():
    model, params, X, t = problem()
    opt = make_optimizer("riemannian", model, "mse", lr=0.1, mass=1.0)
    s0 = opt.init(params)
    before = tree.flatten(s0.params).copy()
    s1, _ = opt.update(s0, X, t)
    assert np.array_equal(tree.flatten(s0.params), before) and s1.step == 1
    params["0"]["W"][0, 0] += 1.0
    assert np.array_equal(tree.flatten(s0.params), before)


def test_riemannian_diagnostics():
    model, params, X, t = problem()
    opt = make_optimizer("riemannian", model, "mse", lr=1.0, mass=0.1)
    _, info = opt.update(opt.init(params), X, t)
    for key in ("loss", "grad_norm", "update_norm", "inner_size", "condition", "residual"):
        assert np.isfinite(info[key]), key
    assert info["inner_size"] == 32 * 2 or info["inner_size"] < 32 * 2   # S·r or primal n_l
    G = build_metric(model, params, X, t, mass=0.1).dense()
    assert info["residual"] < solve_tol(metric_condition(G, 0.1)) and info["condition"] >= 1.0


@pytest.mark.parametrize("name", ["sgd", "riemannian"])
def test_non_finite_loss_stops_with_a_clear_error_and_leaves_the_state(name):
    model, params, X, t = problem()
    opt = make_optimizer(name, model, "mse", **HYPER[name])
    state = opt.init(params)
    bad = state._replace(params=tree.tree_map(lambda a: a * 1e200, state.params))
    with pytest.raises(DivergenceError, match="parameters left unchanged"):
        opt.update(bad, X * 1e200, t)
    assert np.all(np.isfinite(tree.flatten(state.params)))


def test_exploding_update_is_caught():
    model, params, X, t = problem()
    opt = make_optimizer("sgd", model, "mse", lr=1e308)
    with pytest.raises(DivergenceError, match="not finite"):
        opt.update(opt.init(params), X, 1e3 * t)


@pytest.mark.parametrize("name,kw,words", [
    ("sgd", dict(lr=0.0), "lr must be finite and > 0"),
    ("adam", dict(lr=1e-3, beta1=1.0), "beta1"),
    ("momentum", dict(lr=0.1, beta=-0.1), "beta"),
    ("riemannian", dict(lr=1.0, mass=-1.0), "mass"),
    ("riemannian", dict(lr=1.0, scope="global"), "unknown scope"),
    ("riemannian", dict(lr=1.0, precision="half"), "unknown precision 'half'"),
    ("riemannian", dict(lr=1.0, threads=0), "threads must be a positive int or None"),
    ("gauss-newton", dict(lr=1.0, precision="quad"), "unknown precision"),
    ("lbfgs", dict(lr=1.0), "unknown optimizer 'lbfgs'"),
])
def test_bad_hyperparameters_are_clear_errors(name, kw, words):
    model, *_ = problem()
    with pytest.raises(ValueError, match=words):
        make_optimizer(name, model, "mse", **kw)


def test_riemannian_update_on_two_threads_is_the_one_thread_update_bit_for_bit():
    """Layer-parallel against the same tasks one after the other, both with BLAS on one
    thread: the same bits; against BLAS's own threads: the same to rounding."""
    from refimpl._threads import single_threaded_blas
    model, params, X, t = problem()
    kw = dict(lr=0.5, mass=0.1)
    par = make_optimizer("riemannian", model, "mse", threads=np.int64(2), **kw)
    seq = make_optimizer("riemannian", model, "mse", threads=1, **kw)
    a, ia = par.update(par.init(params), X, t)
    with single_threaded_blas():
        b, ib = seq.update(seq.init(params), X, t)
    c, _ = seq.update(seq.init(params), X, t)
    tol = solve_tol(metric_condition(build_metric(model, params, X, t, mass=0.1).dense(), 0.1))
    for x, y, z, w in zip(tree.leaves(a.params), tree.leaves(b.params), tree.leaves(c.params),
                          tree.leaves(params)):
        assert np.array_equal(x, y)
        assert rel_err(z - w, x - w) < tol                   # the updates, to rounding
    assert par.hyperparameters()["precision"] == "auto"
    assert par.hyperparameters()["threads"] == 2
    assert ia["precision"] == ib["precision"]
