"""The oracle's Riemannian step reaches every solver of the metric (method=, cg_rtol=):
conjugate gradients agree with the direct step to the conditioning bound."""
import numpy as np
import pytest

from conditioning import metric_condition, solve_tol
from fd import rel_err
from refimpl.oracle import mlp_metric_dense, mlp_riemannian_step


def problem(rng):
    params = [(rng.standard_normal((6, 4)), rng.standard_normal(6)),
              (rng.standard_normal((3, 6)), rng.standard_normal(3))]
    return params, rng.standard_normal((10, 4)), rng.integers(0, 3, 10)


@pytest.mark.parametrize("scope", ["layer", "network"])
def test_cg_matches_the_direct_step(rng, scope):
    params, X, t = problem(rng)
    kw = dict(activation="tanh", loss="cross_entropy", output_metric="gauss-newton",
              mass=0.05, lr=0.5, scope=scope)
    direct = mlp_riemannian_step(params, X, t, method="woodbury", **kw)
    cg = mlp_riemannian_step(params, X, t, method="cg", cg_rtol=1e-13, **kw)
    layers = [None] if scope == "network" else range(len(params))
    kappa = max(metric_condition(mlp_metric_dense(
        params, X, t, layer=layer, activation="tanh", loss="cross_entropy",
        output_metric="gauss-newton", mass=0.05), 0.05) for layer in layers)
    tol = solve_tol(kappa) + kappa * 1e-13              # CG to a relative residual of 1e-13
    flat = lambda ps: np.concatenate([np.concatenate([W.ravel(), b]) for W, b in ps])  # noqa: E731
    assert rel_err(flat(cg), flat(direct)) < tol


def test_an_unknown_method_is_a_clear_error(rng):
    params, X, t = problem(rng)
    with pytest.raises(ValueError, match="unknown method 'qr'"):
        mlp_riemannian_step(params, X, t, loss="cross_entropy", method="qr")
