"""Subsampled curvature (``metric_batch=m``): the metric from ``m`` samples, the gradient from
all; ``m = S`` is exactly the full step, ``m < S`` the dense solve with the subsample's G."""
import numpy as np
import pytest

from conditioning import metric_condition, solve_tol
from refimpl import tree
from refimpl.backprop import solve
from refimpl.metric import build_metric
from refimpl.metric.dense import dense_metric
from refimpl.modules import mlp
from refimpl.optim import make_optimizer


def _problem(S=12, seed=0):
    rng = np.random.default_rng(seed)
    model = mlp([4, 5, 3], "tanh")
    return model, model.init(rng), rng.standard_normal((S, 4)), rng.integers(0, 3, S)


@pytest.mark.parametrize("name", ["riemannian", "gauss-newton"])
def test_the_whole_batch_as_metric_batch_is_exactly_todays_step(name):
    model, params, X, t = _problem()
    kw = dict(lr=0.7, mass=0.05, output_metric="gauss-newton")
    a = make_optimizer(name, model, "cross_entropy", **kw)
    b = make_optimizer(name, model, "cross_entropy", metric_batch=12, **kw)
    sa, ia = a.update(a.init(params), X, t)
    sb, ib = b.update(b.init(params), X, t)
    assert all(np.array_equal(x, y) for x, y in zip(tree.leaves(sa.params),
                                                     tree.leaves(sb.params)))
    assert ia["form"] == ib["form"] == "push-through (3′)"


@pytest.mark.parametrize("scope", ["layer", "network"])
@pytest.mark.parametrize("m", [1, 5])
def test_a_subsample_gives_the_dense_solve_with_its_metric_and_the_full_gradient(scope, m):
    model, params, X, t = _problem()
    mu = 0.1
    bm = build_metric(model, params, X, t, loss="cross_entropy", output_metric="gauss-newton",
                      mass=mu, scope=scope, metric_batch=m)
    update, diag = bm.step(1.0)
    assert diag["form"] == "woodbury (2)"
    g = tree.flatten(solve(model, params, X, t, "cross_entropy").grads)
    kw = dict(loss="cross_entropy", output_metric="gauss-newton", mass=mu)
    if scope == "network":
        G = dense_metric(model, params, X[:m], t[:m], **kw)
    else:
        blocks = [dense_metric(model, params, X[:m], t[:m], modules=[p], **kw)
                  for p in ("0", "2")]
        G = np.zeros((g.size, g.size))
        start = 0
        for B in blocks:
            G[start:start + len(B), start:start + len(B)] = B
            start += len(B)
    want = -np.linalg.solve(G, g)
    got = tree.flatten(update)
    assert np.linalg.norm(got - want) <= solve_tol(metric_condition(G, mu)) * np.linalg.norm(want)
    assert bm.risk == pytest.approx(solve(model, params, X, t, "cross_entropy").risk, rel=1e-15)


@pytest.mark.parametrize("m", [0, -1, 2.5, True, "4"])
def test_bad_metric_batch_is_a_clear_error(m):
    model, params, X, t = _problem()
    with pytest.raises(ValueError, match="metric_batch must be a positive int"):
        make_optimizer("riemannian", model, "cross_entropy", metric_batch=m)
    with pytest.raises(ValueError, match="metric_batch must be a positive int"):
        build_metric(model, params, X, t, loss="cross_entropy", metric_batch=m)


def test_a_batch_shorter_than_metric_batch_uses_all_its_samples():
    model, params, X, t = _problem()
    a = make_optimizer("riemannian", model, "cross_entropy", metric_batch=13)
    b = make_optimizer("riemannian", model, "cross_entropy")
    sa, _ = a.update(a.init(params), X, t)
    sb, _ = b.update(b.init(params), X, t)
    assert all(np.array_equal(x, y) for x, y in zip(tree.leaves(sa.params),
                                                     tree.leaves(sb.params)))
