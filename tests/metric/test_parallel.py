"""Modules' metrics side by side on several cores (math §6: the metric is block diagonal):
the same update as one after the other, the default thread rule, and the step prepared in
the same task as each module's metric."""
import numpy as np
import pytest

from cases import MODULE_CASES
from conditioning import metric_condition, solve_tol
from fd import rel_err
from metric_cases import NETS, problem
from refimpl import tree
from refimpl._threads import single_threaded_blas
from refimpl.metric import BatchMetric, build_metric
from refimpl.metric.parallel import parallel_threads


@pytest.mark.parametrize("net", NETS)
@pytest.mark.parametrize("precision", ["double", "mixed"])
def test_threads_do_not_change_the_result(net, precision):
    """Layer-parallel (threads=2, BLAS single-threaded) against one thread: the same update,
    diagnostics and float32/float64 choices; exactly, where the BLAS computes each product
    the same way on one thread as on several (OpenBLAS: observed), else to rounding."""
    rng, model, params, X, t = problem(net, "cross_entropy", S=6)
    got = {}
    for threads in (1, 2):
        metric = build_metric(model, params, X, t, loss="cross_entropy", mass=0.3,
                              precision=precision, threads=threads)
        assert metric.threads == threads
        got[threads] = metric.step(0.5)
    (u1, d1), (u2, d2) = got[1], got[2]
    G = build_metric(model, params, X, t, loss="cross_entropy", mass=0.3).dense()
    tol = solve_tol(metric_condition(G, 0.3))
    for a, b in zip(tree.leaves(u1), tree.leaves(u2)):        # BLAS's threads or not:
        assert rel_err(a, b) < tol                              # the same to rounding
    with single_threaded_blas():                               # the same tasks in order
        u0, _ = build_metric(model, params, X, t, loss="cross_entropy", mass=0.3,
                             precision=precision, threads=1).step(0.5)
    for a, b in zip(tree.leaves(u0), tree.leaves(u2)):
        assert np.array_equal(a, b)
    for key in ("methods", "precision", "refinement_steps", "inner_size", "form"):
        assert d1[key] == d2[key]
    assert d1["residual"] == pytest.approx(d2["residual"], rel=1e-6, abs=1e-15)


# (widths, S) -> threads parallel_threads picks on a machine with two or more cores
PARALLEL_CASES = [
    ((784, 256, 256, 10), 128, 2),       # benchmark config A: two large S·r = 1280 systems
    ((784, 128, 128, 10), 128, 2),
    ((784, 1024, 1024, 10), 64, 1),      # config B: the chain dominates (share 0.03)
    ((784, 256, 10), 128, 1),            # one hidden layer: one large system
    ((2, 4, 1), 8, 1),
]


@pytest.mark.parametrize("widths,S,want", PARALLEL_CASES)
def test_parallel_threads_rule(widths, S, want, monkeypatch):
    from refimpl.modules import mlp
    monkeypatch.setattr("refimpl._threads.cores", lambda: 2)
    assert parallel_threads(mlp(widths, "tanh"), S) == want
    monkeypatch.setattr("refimpl._threads.cores", lambda: 1)
    assert parallel_threads(mlp(widths, "tanh"), S) == 1


@pytest.mark.parametrize("threads", [1, 2])
def test_prepared_step_is_the_step_and_is_used_once(threads, monkeypatch):
    rng, model, params, X, t = problem("mlp_tanh", "cross_entropy", S=5)
    kw = dict(loss="cross_entropy", mass=0.2, threads=threads)
    plain = build_metric(model, params, X, t, **kw)
    prepared = build_metric(model, params, X, t, prepare_step=True, **kw)
    want, want_diag = plain.step(0.7)
    calls = []
    original = BatchMetric._system_step
    counting = lambda self, system: calls.append(system) or original(self, system)  # noqa: E731
    monkeypatch.setattr(BatchMetric, "_system_step", counting)
    for i in range(2):                       # the second call computes it afresh
        calls.clear()
        got, diag = prepared.step(0.7)
        assert len(calls) == (0 if i == 0 else len(prepared.paths))
        for a, b in zip(tree.leaves(got), tree.leaves(want)):
            assert np.array_equal(a, b)
        assert diag["residual"] == want_diag["residual"]


def test_product_space_inputs_with_automatic_threads():
    """A model taking a tuple of inputs: the batch size comes from its first array."""
    from refimpl.modules import Concat, Linear, Parallel, Sequential
    from refimpl.optim import RiemannianSGD
    rng = np.random.default_rng(0)
    model = Sequential(Parallel(Linear(3, 4), Linear(5, 4)), Concat(4, 4), Linear(8, 2))
    params = model.init(rng)
    X = (rng.standard_normal((6, 3)), rng.standard_normal((6, 5)))
    t = rng.integers(0, 2, 6)
    metric = build_metric(model, params, X, t, loss="cross_entropy")
    u, diag = metric.step(1.0)
    assert diag["residual"] < solve_tol(metric_condition(metric.dense(), 1.0))
    opt = RiemannianSGD(model, "cross_entropy", lr=1.0)
    new, info = opt.update(opt.init(params), X, t)
    assert info["residual"] == pytest.approx(diag["residual"], abs=1e-15)
    with pytest.raises(ValueError, match="X"):
        build_metric(model, params, X[0], t, loss="cross_entropy")
