"""Problems for the metric tests, declared as data: networks, losses, output metrics, and the
dense reference every structured path is compared with."""
from __future__ import annotations

import numpy as np
from scipy.linalg import block_diag

from cases import MODULE_CASES
from refimpl import tree
from refimpl.losses import DampedOutputMetric, GaussNewtonMetric
from refimpl.metric import dense_metric

SPD = np.array([[2.0, 0.3, 0.0], [0.3, 1.0, -0.2], [0.0, -0.2, 0.5]])
OUTPUT_METRICS = {"identity": "identity", "gauss-newton": "gauss-newton", "constant": SPD,
                  "damped-gauss-newton": DampedOutputMetric(GaussNewtonMetric(), 0.3)}
TARGETS = {"mse": lambda rng, S: rng.standard_normal((S, 3)),
           "cross_entropy": lambda rng, S: rng.integers(0, 3, S)}
NETS = ["mlp_tanh", "residual", "two_branch", "linear", "scaled_mlp"]   # scaled_mlp: a
# test-only atom (tests/scale_atom.py) that only the block protocol's defaults serve


def problem(net, loss, seed=0, S=4):
    """``(rng, model, params, X, targets)`` for a network of MODULE_CASES on R^3 → R^3."""
    rng = np.random.default_rng(seed)
    model = MODULE_CASES[net](3, 3)
    params = tree.tree_map(lambda a: a + 0.3 * rng.standard_normal(a.shape), model.init(rng))
    return rng, model, params, rng.standard_normal((S, 3)), TARGETS[loss](rng, S)


def random_mass(rng, params):
    return tree.tree_map(lambda a: rng.uniform(0.05, 2.0, a.shape), params)


def module_paths(params, prefix=""):
    """The paths of the atoms that own parameters (nodes holding arrays), in order."""
    if params and all(not isinstance(v, dict) for v in params.values()):
        return [prefix.rstrip("/")]
    return [p for k, v in params.items() if isinstance(v, dict)
            for p in module_paths(v, f"{prefix}{k}/")]


def dense_reference(model, params, X, t, loss, om, mass, scope):
    """``G = M + (1/S) Σ_s J_sᵀ g_out(y_s) J_s`` from forward-mode Jacobians: all of it for
    scope="network", its diagonal blocks (one per module) for scope="layer"."""
    kw = dict(loss=loss, output_metric=om, mass=mass)
    if scope == "network":
        return dense_metric(model, params, X, t, **kw)
    return block_diag(*[dense_metric(model, params, X, t, modules=[p], **kw)
                        for p in module_paths(params)])
