"""K-FAC: the block's factors, the two dampings against dense references, the S = 1 identity
with the layerwise metric, running factors and kept inverses, and clear errors."""
import numpy as np
import pytest

from conditioning import cond, metric_condition, solve_tol
from scale_atom import Scale
from refimpl import tree
from refimpl.metric import build_metric
from refimpl.modules import Linear, Sequential, mlp
from refimpl.modules.blocks import Block, DenseBlock
from refimpl.optim import KFAC, make_optimizer


def _problem(S, loss="cross_entropy", sizes=(5, 6, 4, 3), seed=0):
    rng = np.random.default_rng(seed)
    model = mlp(list(sizes), "tanh")
    X = rng.standard_normal((S, sizes[0]))
    t = rng.integers(0, sizes[-1], S) if loss == "cross_entropy" else \
        rng.standard_normal((S, sizes[-1]))
    return model, model.init(rng), X, t


def _blocks(model, params, X, t, loss="cross_entropy", metric="gauss-newton"):
    bm = build_metric(model, params, X, t, loss=loss, output_metric=metric, mass=1.0)
    return {p: bm.layers[p] for p in bm.paths}, bm


def _matrix(g):
    """``[W | b]`` of a linear module's tree."""
    return np.concatenate([g["W"], g["b"][:, None]], axis=1) if "b" in g else g["W"]


@pytest.mark.parametrize("bias", [True, False])
def test_linear_factors_are_the_means_of_the_per_sample_outer_products(bias):
    rng = np.random.default_rng(1)
    S, r, m, n = 7, 3, 4, 5
    R, A = rng.standard_normal((S, r, m)), rng.standard_normal((S, n))
    from refimpl.modules.linear import LinearBlock
    Af, Gf = LinearBlock(R, A, bias).kfac_factors()
    At = np.concatenate([A, np.ones((S, 1))], axis=1) if bias else A
    assert np.allclose(Af, np.mean([np.outer(a, a) for a in At], axis=0), rtol=1e-14, atol=0)
    assert np.allclose(Gf, np.mean([Rs.T @ Rs for Rs in R], axis=0), rtol=1e-14, atol=1e-15)


def test_at_one_sample_the_kronecker_product_is_the_block_metric():
    """``B_sᵀB_s = (R_sᵀR_s) ⊗ (ã ãᵀ)`` on ``vec([W | b])``: K-FAC is exact at S = 1."""
    from refimpl.modules.linear import LinearBlock
    rng = np.random.default_rng(2)
    R, A = rng.standard_normal((1, 3, 4)), rng.standard_normal((1, 5))
    block = LinearBlock(R, A, True)
    Af, Gf = block.kfac_factors()
    B = block.materialize()[0]                                    # (r, n) in W-then-b order
    m, n = 4, 5
    # reorder the columns W (p*n + q), b (m*n + p) into [W | b]: p*(n+1) + q
    perm = np.empty(m * (n + 1), dtype=int)
    for p in range(m):
        perm[p * (n + 1):p * (n + 1) + n] = p * n + np.arange(n)
        perm[p * (n + 1) + n] = m * n + p
    Bk = B[:, perm]
    assert np.allclose(Bk.T @ Bk, np.kron(Gf, Af), rtol=1e-13, atol=1e-14)


def test_a_block_without_kronecker_factors_is_a_clear_error():
    block = DenseBlock(np.ones((2, 1, 3)), {"w": (3,)})
    with pytest.raises(NotImplementedError, match="no Kronecker factors for K-FAC"):
        block.kfac_factors()
    assert Block.kfac_factors is DenseBlock.kfac_factors


def test_kfac_on_a_module_without_factors_fails_at_construction():
    """The test-only Scale atom's block is matrix-free: no Kronecker factors."""
    model = Sequential(Linear(3, 2), Scale(2))
    with pytest.raises(NotImplementedError, match="Scale"):
        KFAC(model, "mse")


@pytest.mark.parametrize("loss,metric", [("cross_entropy", "gauss-newton"),
                                         ("mse", "identity")])
@pytest.mark.parametrize("lam", [1e-3, 1e-1, 10.0])
def test_at_one_sample_exact_damping_gives_the_layerwise_metric_step(loss, metric, lam):
    model, params, X, t = _problem(1, loss)
    opt = KFAC(model, loss, lr=0.7, damping=lam, output_metric=metric, damping_form="exact")
    state, _ = opt.update(opt.init(params), X, t)
    got = tree.add(state.params, params, -1.0)
    bm = build_metric(model, params, X, t, loss=loss, output_metric=metric, mass=lam,
                      scope="layer")
    want, _ = bm.step(0.7)
    for path in bm.paths:
        tol = solve_tol(metric_condition(bm.layers[path].dense(), lam))
        a, b = tree.flatten(_at(got, path)), tree.flatten(_at(want, path))
        assert np.linalg.norm(a - b) <= tol * np.linalg.norm(b), path


def test_factored_damping_differs_from_exact_and_matches_its_dense_formula():
    model, params, X, t = _problem(9)
    lam = 0.05
    exact = KFAC(model, "cross_entropy", lr=1.0, damping=lam, damping_form="exact")
    fact = KFAC(model, "cross_entropy", lr=1.0, damping=lam)
    se, _ = exact.update(exact.init(params), X, t)
    sf, _ = fact.update(fact.init(params), X, t)
    grads = _grads(model, params, X, t)
    for path in ("0", "2", "4"):
        A, G = sf.slots["A"][path], sf.slots["G"][path]
        g = tree.flatten({"x": _matrix(_at(grads, path))})
        dA, dG = A.shape[0], G.shape[0]
        pi = np.sqrt((np.trace(A) / dA) / (np.trace(G) / dG))
        C_f = np.kron(G + np.sqrt(lam) / pi * np.eye(dG), A + pi * np.sqrt(lam) * np.eye(dA))
        C_e = np.kron(G, A) + lam * np.eye(dA * dG)
        for state, C in ((sf, C_f), (se, C_e)):
            step = _matrix(tree.add(_at(state.params, path), _at(params, path), -1.0)).ravel()
            want = -np.linalg.solve(C, g)
            # κ = cond(C): for the factored form the product of the damped factors' conditions
            assert np.linalg.norm(step - want) <= solve_tol(cond(C)) * np.linalg.norm(want), path
        a = _matrix(tree.add(_at(sf.params, path), _at(params, path), -1.0))
        b = _matrix(tree.add(_at(se.params, path), _at(params, path), -1.0))
        assert not np.allclose(a, b, rtol=1e-3)


def test_running_factors_and_inverse_period():
    model, params, _, _ = _problem(4)
    rng = np.random.default_rng(5)
    batches = [(rng.standard_normal((8, 5)), rng.integers(0, 3, 8)) for _ in range(3)]
    opt = KFAC(model, "cross_entropy", lr=0.1, decay=0.6, inverse_period=2)
    state, factors = opt.init(params), []
    inverses = []
    for X, t in batches:
        factors.append(opt._gradient_and_factors(state.params, X, t)[2])
        state, _ = opt.update(state, X, t)
        inverses.append(tree.tree_map(np.copy, state.slots["inverse"]))
    # ε = min(decay, t/(t+1)): 0, then 0.5 (the mean so far), then the decay 0.6
    A0, A1, A2 = (f["2"][0] for f in factors)
    want = 0.6 * (0.5 * A0 + 0.5 * A1) + 0.4 * A2
    assert np.allclose(state.slots["A"]["2"], want, rtol=1e-14, atol=1e-15)
    same = [np.array_equal(x, y) for x, y in zip(tree.leaves(inverses[0]),
                                                  tree.leaves(inverses[1]))]
    assert all(same)                                     # step 1: the kept inverses
    assert not np.array_equal(inverses[1]["A"]["2"], inverses[2]["A"]["2"])   # step 2: new


def test_adaptive_damping_moves_lambda_by_the_rule_with_the_kronecker_model():
    from refimpl.optim import LevenbergMarquardt
    model, params, X, t = _problem(16)
    rule = LevenbergMarquardt(interval=1)
    opt = KFAC(model, "cross_entropy", lr=1.0, damping=1e-3, damping_rule=rule)
    state, info = opt.update(opt.init(params), X, t)
    A, G = state.slots["A"], state.slots["G"]
    steps = {p: _matrix(tree.add(_at(state.params, p), _at(params, p), -1.0))
             for p in ("0", "2", "4")}
    grads = _grads(model, params, X, t)
    m = sum(float(np.vdot(_matrix(_at(grads, p)), D)) + 0.5 * float(np.vdot(D, G[p] @ D @ A[p]))
            for p, D in steps.items())
    assert info["rho"] == pytest.approx((info["new_loss"] - info["loss"]) / m, rel=1e-10)
    want = rule.review(0, rule.init(1e-3), info["loss"], info["new_loss"], m)[0]["value"]
    assert float(state.slots["damping"]["value"]) == pytest.approx(float(want), rel=1e-14)
    assert info["damping"] == 1e-3


def test_single_linear_module_at_the_root():
    rng = np.random.default_rng(7)
    model = Linear(4, 2)
    opt = KFAC(model, "mse", lr=0.5, damping=0.1)
    X, t = rng.standard_normal((6, 4)), rng.standard_normal((6, 2))
    state = opt.init(model.init(rng))
    losses = []
    for _ in range(5):
        state, info = opt.update(state, X, t)
        losses.append(info["loss"])
    assert state.slots["A"].shape == (5, 5) and np.all(np.diff(losses) < 0)


@pytest.mark.parametrize("kw,words", [
    (dict(damping=0.0), "damping must be finite and > 0"),
    (dict(damping=float("nan")), "damping must be finite and > 0"),
    (dict(decay=1.0), r"decay must be a number in \[0, 1\)"),
    (dict(decay=-0.1), r"decay must be a number in \[0, 1\)"),
    (dict(inverse_period=0), "inverse_period must be a positive int"),
    (dict(inverse_period=2.5), "inverse_period must be a positive int"),
    (dict(damping_form="kronecker"), "unknown damping_form 'kronecker'"),
    (dict(output_metric="fisher"), "fisher"),
    (dict(lr=-1.0), "lr must be finite and > 0"),
])
def test_bad_hyperparameters_are_clear_errors(kw, words):
    model, *_ = _problem(2)
    with pytest.raises(ValueError, match=words):
        make_optimizer("kfac", model, "cross_entropy", **kw)


def _grads(model, params, X, t):
    from refimpl.backprop import solve
    return solve(model, params, X, t, "cross_entropy").grads


def _at(t, path):
    for k in filter(None, path.split("/")):
        t = t[k]
    return t


def _cnn_problem(kernel, seed=0):
    """Conv2d(2→3) on 2×4×4 images (``kernel`` 4: one output position), tanh, Linear → 3."""
    from refimpl.modules import Conv2d, Flatten, Pointwise

    rng = np.random.default_rng(seed)
    side = 4 - kernel + 1
    model = Sequential(Conv2d(2, 3, kernel, input_size=(4, 4)),
                       Pointwise("tanh", (3, side, side)), Flatten((3, side, side)),
                       Linear(3 * side * side, 3))
    X = rng.standard_normal((1, 2, 4, 4))
    return model, model.init(rng), X, rng.integers(0, 3, 1)


def test_kfc_at_one_sample_and_one_position_gives_the_layerwise_metric_step():
    """KFC's factors are exact for one sample at one output position, so K-FAC with exact
    damping takes the layerwise metric's step on a CNN too."""
    model, params, X, t = _cnn_problem(kernel=4)
    lam = 0.1
    opt = KFAC(model, "cross_entropy", lr=0.7, damping=lam, damping_form="exact")
    state, _ = opt.update(opt.init(params), X, t)
    got = tree.add(state.params, params, -1.0)
    bm = build_metric(model, params, X, t, loss="cross_entropy",
                      output_metric="gauss-newton", mass=lam, scope="layer")
    want, _ = bm.step(0.7)
    for path in bm.paths:
        tol = solve_tol(metric_condition(bm.layers[path].dense(), lam))
        a, b = tree.flatten(tree.get(got, path)), tree.flatten(tree.get(want, path))
        assert np.linalg.norm(a - b) <= tol * np.linalg.norm(b), path


def test_kfc_trains_a_cnn_with_several_positions():
    """With 9 output positions the factors approximate; a few steps still lower the loss."""
    model, params, _, _ = _cnn_problem(kernel=2)
    rng = np.random.default_rng(1)
    X, t = rng.standard_normal((16, 2, 4, 4)), rng.integers(0, 3, 16)
    opt = KFAC(model, "cross_entropy", lr=0.3, damping=0.1)
    state = opt.init(params)
    losses = []
    for _ in range(5):
        state, info = opt.update(state, X, t)
        losses.append(info["loss"])
    assert losses[-1] < 0.8 * losses[0], losses
