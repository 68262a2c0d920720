"""A step leaves no reference cycle through refimpl's objects.

Arrays held by a cycle are freed only when the cyclic garbage collector happens to run, which
it schedules by object counts, not bytes: a metric step whose blocks (a convolution's factor
rows run to hundreds of MB) hang in a cycle makes training grow by that much per step until a
collection. The test runs a step with the collector disabled and then asks it what it would
have had to free.
"""
import gc

import numpy as np
import pytest

from refimpl.modules import cnn, mlp
from refimpl.optim import make_optimizer

# (name, model, optimizer, hyperparameters): every inner solver of the metric driver, both
# scopes, dense and convolutional blocks, and the optimizers without a metric
CASES = [
    ("riemannian-woodbury", "mlp", "riemannian", dict(lr=0.1, mass=0.5)),
    ("riemannian-mixed", "mlp", "riemannian", dict(lr=0.1, mass=0.5, precision="mixed",
                                                   method="woodbury")),
    ("riemannian-cg", "mlp", "riemannian", dict(lr=0.1, mass=0.5, method="cg")),
    ("riemannian-primal", "mlp", "riemannian", dict(lr=0.1, mass=0.5, method="primal")),
    ("riemannian-adaptive", "mlp", "riemannian", dict(lr=0.1, mass=0.5,
                                                      damping="adaptive-reject")),
    ("gauss-newton-mixed", "mlp", "gauss-newton", dict(lr=0.1, mass=0.5, precision="mixed",
                                                       method="woodbury")),
    ("riemannian-conv", "cnn", "riemannian", dict(lr=0.1, mass=0.5, precision="mixed")),
    ("gauss-newton-conv", "cnn", "gauss-newton", dict(lr=0.1, mass=0.5, precision="mixed")),
    ("kfac-conv", "cnn", "kfac", dict(lr=0.1, damping=0.5)),
    ("adam", "mlp", "adam", dict(lr=0.01)),
]


def problem(kind, rng):
    if kind == "mlp":
        model = mlp([3, 8, 2], "tanh")
        X = rng.standard_normal((16, 3))
    else:
        model = cnn((1, 8, 8), 2, channels=(2, 3))
        X = rng.standard_normal((16, 1, 8, 8))
    return model, model.init(rng), X, rng.integers(0, 2, size=16)


def refimpl_garbage():
    """What the collector finds unreachable, restricted to refimpl's own objects and
    functions (libraries we call may keep cycles of their own)."""
    gc.set_debug(gc.DEBUG_SAVEALL)
    try:
        gc.collect()
        found = [o for o in gc.garbage
                 if (type(o).__module__ or "").startswith("refimpl")
                 or (callable(o) and (getattr(o, "__module__", None) or "").startswith(
                     "refimpl"))]
        return sorted({getattr(o, "__qualname__", type(o).__qualname__) for o in found})
    finally:
        gc.set_debug(0)
        gc.garbage.clear()


@pytest.mark.parametrize("name, kind, optimizer, hyper", CASES, ids=[c[0] for c in CASES])
def test_a_step_leaves_no_reference_cycle(name, kind, optimizer, hyper):
    model, params, X, y = problem(kind, np.random.default_rng(0))
    opt = make_optimizer(optimizer, model, "cross_entropy", **hyper)
    state = opt.init(params)
    state, _ = opt.update(state, X, y)              # first step: compilation, caches
    gc.collect()
    gc.disable()
    try:
        state, _ = opt.update(state, X, y)
        assert refimpl_garbage() == []
    finally:
        gc.enable()
