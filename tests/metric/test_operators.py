"""G and G⁻¹ as scipy.sparse.linalg.LinearOperator (SPEC §4): against the dense matrix, and
with SciPy's iterative tools."""
import numpy as np
import pytest
from scipy.sparse.linalg import cg, eigsh

from fd import rel_err
from metric_cases import problem
from refimpl.metric import build_metric, inverse_metric_operator, metric_operator


def test_linear_operators_agree_with_dense_and_work_with_scipy():
    rng, model, params, X, t = problem("two_branch", "mse")
    metric = build_metric(model, params, X, t, mass=0.4)
    G, Gop, Ginv = metric.dense(), metric_operator(metric), inverse_metric_operator(metric)
    tol = 50 * np.finfo(float).eps * np.linalg.cond(G)
    V = rng.standard_normal((G.shape[0], 3))
    assert rel_err(Gop @ V, G @ V) < 1e-13
    assert rel_err(Ginv @ V, np.linalg.solve(G, V)) < tol
    assert rel_err(Gop.T @ V, G @ V) < 1e-13
    lam_min = eigsh(Gop, k=1, which="SA", return_eigenvectors=False)[0]
    assert lam_min == pytest.approx(np.linalg.eigvalsh(G)[0], rel=1e-8) and lam_min >= 0.4 - 1e-9
    x, info = cg(Gop, V[:, 0], rtol=1e-12, atol=0.0)
    assert info == 0 and rel_err(x, np.linalg.solve(G, V[:, 0])) < 1e-8


def test_an_operator_needs_a_metric():
    with pytest.raises(TypeError, match="expected a BatchMetric"):
        metric_operator(np.eye(3))
