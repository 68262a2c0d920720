"""G and G⁻¹ as scipy.sparse.linalg.LinearOperator (math §4): against the dense matrix, and
with SciPy's iterative tools."""
import inspect

import numpy as np
import pytest
from scipy.sparse.linalg import cg, eigsh

from conditioning import cond, metric_condition, solve_tol
from fd import rel_err
from metric_cases import problem
from refimpl.metric import build_metric, inverse_metric_operator, metric_operator


def test_linear_operators_agree_with_dense_and_work_with_scipy():
    rng, model, params, X, t = problem("two_branch", "mse")
    metric = build_metric(model, params, X, t, mass=0.4)
    G, Gop, Ginv = metric.dense(), metric_operator(metric), inverse_metric_operator(metric)
    tol = solve_tol(metric_condition(G, 0.4))
    V = rng.standard_normal((G.shape[0], 3))
    assert rel_err(Gop @ V, G @ V) < 1e-13
    assert rel_err(Ginv @ V, np.linalg.solve(G, V)) < tol
    assert rel_err(Gop.T @ V, G @ V) < 1e-13
    # λ_min to ε·‖G‖ absolutely (both eigensolvers), so to ε·cond(G) relatively
    lam_min = eigsh(Gop, k=1, which="SA", return_eigenvectors=False)[0]
    assert lam_min == pytest.approx(np.linalg.eigvalsh(G)[0], rel=solve_tol(cond(G)))
    assert lam_min >= 0.4 * (1 - solve_tol(cond(G)))
    # CG stops at ‖r‖ ≤ 1e-12 ‖b‖: a forward error of at most cond(G)·1e-12 (2-norms)
    rtol = "rtol" if "rtol" in inspect.signature(cg).parameters else "tol"   # SciPy < 1.12
    x, info = cg(Gop, V[:, 0], atol=0.0, **{rtol: 1e-12})
    assert info == 0
    assert rel_err(x, np.linalg.solve(G, V[:, 0])) < np.sqrt(G.shape[0]) * cond(G) * 1e-12


def test_an_operator_needs_a_metric():
    with pytest.raises(TypeError, match="expected a BatchMetric"):
        metric_operator(np.eye(3))
