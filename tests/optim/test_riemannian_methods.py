"""RiemannianSGD's configuration is validated once, at construction, and every solver path of
the metric is reachable from it (math §6): conjugate gradients give the direct step to the
conditioning bound, with their iterations in the diagnostics."""
import numpy as np
import pytest

from conditioning import metric_condition, solve_tol
from fd import rel_err
from refimpl import tree
from refimpl.modules import mlp
from refimpl.optim import GaussNewton, RiemannianSGD


def problem():
    rng = np.random.default_rng(0)
    model = mlp([5, 7, 3], "tanh")
    return model, model.init(rng), rng.standard_normal((16, 5)), rng.integers(0, 3, 16)


@pytest.mark.parametrize("cls", [RiemannianSGD, GaussNewton])
def test_cg_step_equals_the_direct_step(cls):
    model, params, X, t = problem()
    direct = cls(model, "cross_entropy", lr=0.5, mass=0.1, method="woodbury")
    iterative = cls(model, "cross_entropy", lr=0.5, mass=0.1, method="cg", cg_rtol=1e-13)
    (a, da), (b, db) = (opt.update(opt.init(params), X, t) for opt in (direct, iterative))
    from refimpl.metric import build_metric
    G = build_metric(model, params, X, t, loss="cross_entropy",
                     output_metric=direct.output_metric, mass=0.1, scope=direct.scope).dense()
    kappa = metric_condition(G, 0.1)
    tol = solve_tol(kappa) + kappa * 1e-13           # CG to a relative residual of 1e-13
    w = tree.flatten(params)                                 # the updates, not the parameters
    assert rel_err(tree.flatten(b.params) - w, tree.flatten(a.params) - w) < tol
    assert db["cg_iterations"] >= 1 and da["cg_iterations"] == 0
    assert all(m.startswith("cg/") for m in db["methods"].values())


BAD = [(dict(method="lu"), ValueError, "unknown method"), (dict(scope="x"), ValueError,
       "unknown scope"), (dict(precision="half"), ValueError, "unknown precision"),
       (dict(blocks="x"), ValueError, "unknown blocks"), (dict(mass=-1.0), ValueError, "> 0"),
       (dict(cg_rtol=-1.0), ValueError, "cg_rtol"), (dict(threads=0), ValueError, "threads"),
       (dict(memory=0.0), ValueError, "memory")]


@pytest.mark.parametrize("kw,exc,words", BAD)
def test_bad_configuration_fails_at_construction(kw, exc, words):
    model, _, _, _ = problem()
    with pytest.raises(exc, match=words):
        RiemannianSGD(model, "cross_entropy", **kw)
