"""The metric of a whole module (SPEC §4, §6): against an explicit G built from dense
Jacobians and solved, for both scopes, every output metric, composites, and mass kinds."""
import numpy as np
import pytest
from scipy.sparse.linalg import cg, eigsh

from cases import MODULE_CASES
from fd import rel_err
from refimpl import tree
from refimpl.losses import get_loss, get_output_metric
from refimpl._threads import single_threaded_blas
from refimpl.metric import BatchMetric, build_metric, inverse_metric_operator, metric_operator

EXACT = 1e-10
SPD = np.array([[2.0, 0.3, 0.0], [0.3, 1.0, -0.2], [0.0, -0.2, 0.5]])
OUTPUT_METRICS = {"identity": "identity", "gauss-newton": "gauss-newton", "constant": SPD}
TARGETS = {"mse": lambda rng, S: rng.standard_normal((S, 3)),
           "cross_entropy": lambda rng, S: rng.integers(0, 3, S)}
NETS = ["mlp_tanh", "residual", "two_branch", "linear"]


def problem(net, loss, seed=0, S=4):
    rng = np.random.default_rng(seed)
    model = MODULE_CASES[net](3, 3)
    params = tree.tree_map(lambda a: a + 0.3 * rng.standard_normal(a.shape), model.init(rng))
    return rng, model, params, rng.standard_normal((S, 3)), TARGETS[loss](rng, S)


def random_mass(rng, params):
    return tree.tree_map(lambda a: rng.uniform(0.05, 2.0, a.shape), params)


def dense_reference(model, params, X, t, loss, om, mass, scope):
    """G = M + (1/S) Σ_s J_sᵀ g_out(y_s) J_s from forward-mode Jacobians, restricted to the
    diagonal blocks of the modules with parameters for scope="layer"."""
    loss = get_loss(loss)
    _, Jw = model.jacobian(params, X)
    y = model(params, X)
    g = get_output_metric(om).matrix(y, loss.check_targets(t, *y.shape), loss)
    G = np.einsum("skn,skj,sjm->nm", Jw, g, Jw) / X.shape[0]
    if scope == "layer":
        mask = np.zeros_like(G, dtype=bool)
        start = 0
        sizes = [tree.size(at) for _, at in _param_blocks(params)]
        for n in sizes:
            mask[start:start + n, start:start + n] = True
            start += n
        G = np.where(mask, G, 0.0)
    m = tree.flatten(mass) if isinstance(mass, dict) else np.full(G.shape[0], mass)
    return G + np.diag(m)


def _param_blocks(params, prefix=""):
    """(path, subtree) for every atom that owns parameters (a dict of arrays)."""
    if params and all(not isinstance(v, dict) for v in params.values()):
        return [(prefix, params)]
    out = []
    for k, v in params.items():
        if isinstance(v, dict):
            out += _param_blocks(v, f"{prefix}{k}/")
    return out


CASES = [(net, loss, om, scope) for net in NETS for loss in TARGETS
         for om in OUTPUT_METRICS for scope in ("layer", "network")
         if not (loss == "cross_entropy" and om == "identity" and net == "linear")]


@pytest.mark.parametrize("net,loss,om,scope", CASES)
def test_step_matches_dense_solve(net, loss, om, scope):
    rng, model, params, X, t = problem(net, loss)
    mass = random_mass(rng, params) if scope == "layer" else 0.3
    metric = build_metric(model, params, X, t, loss=loss, output_metric=OUTPUT_METRICS[om],
                          mass=mass, scope=scope)
    G = dense_reference(model, params, X, t, loss, OUTPUT_METRICS[om], mass, scope)
    assert rel_err(metric.dense(), G) < 1e-12
    update, diag = metric.step(0.5)
    want = -0.5 * np.linalg.solve(G, tree.flatten(metric.grads))
    assert rel_err(tree.flatten(update), want) < EXACT
    assert diag["residual"] < 1e-12 and diag["form"] == "push-through (3′)"
    v = tree.tree_map(lambda a: rng.standard_normal(a.shape), params)
    assert rel_err(tree.flatten(metric.solve(v)), np.linalg.solve(G, tree.flatten(v))) < EXACT


@pytest.mark.parametrize("net", ["mlp_tanh", "residual", "two_branch"])
@pytest.mark.parametrize("scope", ["layer", "network"])
def test_step_diagnostics_are_their_definitions(net, scope):
    """The residual accumulated layer by layer, the update scaled in place: the same numbers
    as ‖G u − ∇R‖ / ‖∇R‖ and ‖Δw‖ on whole trees; ∇R and the parameters are not changed."""
    rng, model, params, X, t = problem(net, "cross_entropy", seed=3, S=5)
    metric = build_metric(model, params, X, t, loss="cross_entropy",
                          output_metric="gauss-newton", mass=0.05, scope=scope)
    grads = tree.tree_map(np.copy, metric.grads)
    before = tree.tree_map(np.copy, params)
    u, _ = metric.natural_gradient()
    r = tree.add(metric.matvec(u), grads, -1.0)
    want = np.sqrt(tree.vdot(r, r) / tree.vdot(grads, grads))
    update, diag = metric.step(0.7)
    assert tree.same_structure(update, params)
    assert rel_err(tree.flatten(update), -0.7 * tree.flatten(u)) < 1e-15
    assert abs(diag["residual"] - want) <= 1e-12 * want + 1e-300
    assert diag["update_norm"] == pytest.approx(0.7 * np.sqrt(tree.vdot(u, u)), rel=1e-14)
    assert rel_err(tree.flatten(metric.grads), tree.flatten(grads)) == 0.0
    assert rel_err(tree.flatten(params), tree.flatten(before)) == 0.0


@pytest.mark.parametrize("scope", ["layer", "network"])
@pytest.mark.parametrize("method", ["woodbury", "primal"])
@pytest.mark.parametrize("path", ["structured", "generic"])
def test_structured_generic_dense_agree(scope, method, path):
    rng, model, params, X, t = problem("mlp_tanh", "cross_entropy", seed=5, S=6)
    ref = build_metric(model, params, X, t, loss="cross_entropy", output_metric="gauss-newton",
                       mass=0.2, scope=scope, method="primal")
    got = build_metric(model, params, X, t, loss="cross_entropy", output_metric="gauss-newton",
                       mass=0.2, scope=scope, method=method, path=path)
    assert rel_err(tree.flatten(got.step(1.0)[0]), tree.flatten(ref.step(1.0)[0])) < EXACT
    if path == "generic" and method == "woodbury":
        assert all(m.endswith("generic") for m in got.step(1.0)[1]["methods"].values())


def test_large_mass_gives_scaled_gradient_descent():
    """M = μI with μ → ∞: Δ → −(η/μ) ∇R, with relative deviation O(|B|²/μ)."""
    rng, model, params, X, t = problem("mlp_tanh", "mse")
    for mu in (1e4, 1e6, 1e8):
        up, _ = build_metric(model, params, X, t, mass=mu).step(2.0)
        sgd = tree.flatten(build_metric(model, params, X, t, mass=mu).grads) * (-2.0 / mu)
        assert rel_err(tree.flatten(up), sgd) < 100.0 / mu


def test_cross_entropy_extreme_logits_and_the_underflow_guard():
    rng, model, params, X, t = problem("linear", "cross_entropy")
    for scale, form in ((300.0, "push-through (3′)"), (5000.0, "woodbury (2)")):
        p = tree.tree_map(lambda a: scale * a, params)
        t_bad = np.argmin(model(p, X), axis=1)                    # the least likely class
        metric = build_metric(model, p, X, t_bad, loss="cross_entropy",
                              output_metric="gauss-newton", mass=1.0)
        update, diag = metric.step(1.0)
        assert diag["form"] == form and np.all(np.isfinite(tree.flatten(update)))
        G = dense_reference(model, p, X, t_bad, "cross_entropy", "gauss-newton", 1.0, "layer")
        want = -np.linalg.solve(G, tree.flatten(metric.grads))
        assert rel_err(tree.flatten(update), want) < 1e-8


def test_linear_operators_agree_with_dense_and_work_with_scipy():
    rng, model, params, X, t = problem("two_branch", "mse")
    metric = build_metric(model, params, X, t, mass=0.4)
    G, Gop, Ginv = metric.dense(), metric_operator(metric), inverse_metric_operator(metric)
    V = rng.standard_normal((G.shape[0], 3))
    assert rel_err(Gop @ V, G @ V) < 1e-13
    assert rel_err(Ginv @ V, np.linalg.solve(G, V)) < EXACT
    assert rel_err(Gop.T @ V, G @ V) < 1e-13
    lam_min = eigsh(Gop, k=1, which="SA", return_eigenvectors=False)[0]
    assert lam_min == pytest.approx(np.linalg.eigvalsh(G)[0], rel=1e-8) and lam_min >= 0.4 - 1e-9
    x, info = cg(Gop, V[:, 0], rtol=1e-12, atol=0.0)
    assert info == 0 and rel_err(x, np.linalg.solve(G, V[:, 0])) < 1e-8


@pytest.mark.parametrize("mu", [1e-8, 1e-6, 1e-4, 1e-2, 1.0, 1e2, 1e4])
def test_accuracy_across_masses_is_within_the_conditioning_bound(mu):
    """Woodbury (2) on an out-of-span vector vs a dense solve: the difference is bounded by
    the dense solve's own error, about cond(G)·eps (documented in README, 'Accuracy')."""
    rng, model, params, X, t = problem("mlp_tanh", "mse", S=3)
    metric = build_metric(model, params, X, t, mass=mu, method="woodbury")
    G = metric.dense()
    v = tree.tree_map(lambda a: rng.standard_normal(a.shape), params)
    want = np.linalg.solve(G, tree.flatten(v))
    err = rel_err(tree.flatten(metric.solve(v)), want)
    assert err < 50 * np.linalg.cond(G) * np.finfo(float).eps
    step_err = rel_err(tree.flatten(metric.step(1.0)[0]),
                       -np.linalg.solve(G, tree.flatten(metric.grads)))
    assert step_err < 50 * np.linalg.cond(G) * np.finfo(float).eps


BAD = [  # (kwargs override, error, words)
    (dict(mass=0.0), ValueError, "mass must be finite and > 0"),
    (dict(mass=-1.0), ValueError, "> 0"),
    (dict(mass=np.nan), ValueError, "finite"),
    (dict(mass="big"), TypeError, "positive number"),
    (dict(mass={"0": {"W": 1.0}}), ValueError, "must match the parameters"),
    (dict(scope="global"), ValueError, "unknown scope"),
    (dict(method="lu"), ValueError, "unknown method"),
    (dict(path="fast"), ValueError, "unknown path"),
    (dict(output_metric=-np.eye(3)), ValueError, "positive definite"),
    (dict(output_metric=np.eye(2)), ValueError, "3 outputs"),
    (dict(output_metric="fisher"), ValueError, "unknown output metric"),
    (dict(precision="single"), ValueError, "unknown precision"),
    (dict(threads=0), ValueError, "positive int or None"),
    (dict(threads=2.0), ValueError, "positive int or None"),
    (dict(threads=True), ValueError, "positive int or None"),
    (dict(prepare_step="yes"), TypeError, "prepare_step must be True or False"),
]


@pytest.mark.parametrize("override,exc,words", BAD)
def test_bad_input_is_a_clear_error(override, exc, words):
    rng, model, params, X, t = problem("mlp_tanh", "mse")
    kw = dict(loss="mse", output_metric="identity", mass=1.0) | override
    with pytest.raises(exc, match=words):
        build_metric(model, params, X, t, **kw)


def test_zero_mass_entry_in_a_tree_is_rejected():
    rng, model, params, X, t = problem("mlp_tanh", "mse")
    mass = random_mass(rng, params)
    mass["0"]["W"][0, 0] = 0.0
    with pytest.raises(ValueError, match="> 0"):
        build_metric(model, params, X, t, mass=mass)


def test_last_layer_under_identity_metric_takes_the_shared_factor_path():
    rng, model, params, X, t = problem("mlp_tanh", "mse", S=5)
    _, diag = build_metric(model, params, X, t, mass=0.5, method="woodbury").step(1.0)
    methods = list(diag["methods"].values())
    assert methods[-1] == "woodbury/linear-shared-factor"
    assert all(m == "woodbury/linear-scalar" for m in methods[:-1])


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
    for a, b in zip(tree.leaves(u1), tree.leaves(u2)):        # BLAS's threads or not:
        assert rel_err(a, b) < 1e-14                            # the same to rounding
    with single_threaded_blas():                               # the same tasks in order
        u0, _ = build_metric(model, params, X, t, loss="cross_entropy", mass=0.3,
                             precision=precision, threads=1).step(0.5)
    for a, b in zip(tree.leaves(u0), tree.leaves(u2)):
        assert np.array_equal(a, b)
    for key in ("methods", "precision", "refinement_steps", "inner_size", "form"):
        assert d1[key] == d2[key]
    assert d1["residual"] == pytest.approx(d2["residual"], rel=1e-6, abs=1e-15)


def test_mixed_precision_diagnostics_at_a_large_inner_system():
    """S·r = 1200 ≥ MIXED_MIN: float32 factorisation with float64 refinement ("auto"), the
    same update as the float64 factorisation to the conditioning bound, reported as such."""
    rng = np.random.default_rng(3)
    model = MODULE_CASES["mlp_tanh"](3, 3)
    params = model.init(rng)
    X, t = rng.standard_normal((400, 3)), rng.integers(0, 3, 400)
    steps = {}
    for precision in ("auto", "double"):
        metric = build_metric(model, params, X, t, loss="cross_entropy", mass=1e-2,
                              method="woodbury", precision=precision)
        steps[precision] = metric.step(1.0)
    (ua, da), (ud, dd) = steps["auto"], steps["double"]
    assert da["inner_size"] == 1200
    assert set(da["precision"].values()) <= {"mixed", "double"}
    assert "mixed" in da["precision"].values() and da["refinement_steps"] >= 1
    assert set(dd["precision"].values()) == {"double"} and dd["refinement_steps"] == 0
    for a, b in zip(tree.leaves(ua), tree.leaves(ud)):       # cond(K) ≤ 230 here:
        assert rel_err(a, b) < 1e-12                          # 10·ε·cond(K) = 5e-13
    assert da["residual"] < 1e-12 and dd["residual"] < 1e-12


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
    from refimpl.metric.layerwise import parallel_threads
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
    original = BatchMetric._module_step
    counting = lambda self, path: calls.append(path) or original(self, path)   # noqa: E731
    monkeypatch.setattr(BatchMetric, "_module_step", counting)
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
    u, diag = build_metric(model, params, X, t, loss="cross_entropy").step(1.0)
    assert diag["residual"] < 1e-12
    opt = RiemannianSGD(model, "cross_entropy", lr=1.0)
    new, info = opt.update(opt.init(params), X, t)
    assert info["residual"] == pytest.approx(diag["residual"], abs=1e-15)
    with pytest.raises(ValueError, match="X"):
        build_metric(model, params, X[0], t, loss="cross_entropy")
