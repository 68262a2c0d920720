"""float32 training (``dtype="float32"``): the whole step stays in float32, agrees with the
float64 step to float32's rounding times the conditioning, and the float64 oracle path is
unchanged."""
import numpy as np
import pytest

from refimpl import tree
from refimpl.backprop import solve
from refimpl.experiments.checkpoint import fill_tree, load_checkpoint, save_checkpoint
from refimpl.metric import build_metric
from refimpl.modules import mlp
from refimpl.optim import make_optimizer

EPS32 = float(np.finfo(np.float32).eps)

# (optimizer, hyper-parameters, activation, loss): every path a float32 step can take
CASES = {
    "sgd": ("sgd", dict(lr=0.1), "tanh", "cross_entropy"),
    "momentum": ("momentum", dict(lr=0.05), "relu", "mse"),
    "adam": ("adam", dict(lr=0.01), "gelu", "cross_entropy"),
    "riemannian-identity": ("riemannian", dict(mass=0.1), "tanh", "cross_entropy"),
    "riemannian-gn-leaky": ("riemannian", dict(mass=0.1, output_metric="gauss-newton"),
                            "leaky_relu", "cross_entropy"),
    "riemannian-constant-mse": ("riemannian", dict(mass=0.3, output_metric=np.diag(
        [1.0, 2.0, 0.5])), "sigmoid", "mse"),
    "riemannian-primal": ("riemannian", dict(mass=0.1, method="primal"), "softplus", "mse"),
    "riemannian-cg": ("riemannian", dict(mass=0.5, method="cg", cg_rtol=1e-6), "sin",
                      "cross_entropy"),
    "riemannian-materialized": ("riemannian", dict(mass=0.1, blocks="materialized"), "tanh",
                                "cross_entropy"),
    "riemannian-mass-tree": ("riemannian", dict(mass="tree"), "tanh", "cross_entropy"),
    "riemannian-subsampled": ("riemannian", dict(mass=0.3, metric_batch=8,
                                                 damping="adaptive-reject"), "tanh",
                              "cross_entropy"),
    "riemannian-two-threads": ("riemannian", dict(mass=0.1, threads=2), "tanh",
                               "cross_entropy"),
    "gauss-newton-adaptive": ("gauss-newton", dict(mass=0.1, damping="adaptive"), "tanh",
                              "cross_entropy"),
    "kfac": ("kfac", dict(lr=0.1, damping=0.1), "tanh", "cross_entropy"),
    "kfac-exact-adaptive": ("kfac", dict(lr=0.1, damping=0.1, damping_form="exact",
                                         damping_rule="adaptive-reject"), "tanh", "mse"),
}
METRIC = ("riemannian", "gauss-newton")


def _setup(case, dtype, seed=0, S=16):
    name, hyper, act, loss = CASES[case]
    rng = np.random.default_rng(seed)
    model = mlp([5, 7, 3], act)
    params = model.init(rng)
    X = rng.standard_normal((S, 5))
    t = rng.integers(0, 3, S) if loss == "cross_entropy" else rng.standard_normal((S, 3))
    hyper = dict(hyper)
    if hyper.get("mass") == "tree":
        hyper["mass"] = tree.tree_map(lambda a: np.full_like(a, 0.1) + 0.05 * rng.random(a.shape),
                                      params)
    hyper.setdefault("lr", 0.5)
    return model, params, X, t, make_optimizer(name, model, loss, dtype=dtype, **hyper)


def _dtypes(t):
    return {p: a.dtype for p, a in tree.items(t)}


@pytest.mark.parametrize("case", list(CASES))
def test_a_float32_step_keeps_everything_in_float32(case):
    model, params, X, t, opt = _setup(case, "float32")
    state = opt.init(params)
    for _ in range(3):
        state, info = opt.update(state, X, t)
    assert set(_dtypes(state.params).values()) == {np.dtype(np.float32)}
    buffers = {p: d for p, d in _dtypes(state.slots).items() if not p.startswith("damping/")}
    assert set(buffers.values()) <= {np.dtype(np.float32)}, buffers
    if CASES[case][0] in METRIC:              # the factors themselves are float32
        assert set(info["precision"].values()) == {"single"}
    assert opt.hyperparameters()["dtype"] == "float32" and np.isfinite(info["loss"])


@pytest.mark.parametrize("case", [c for c in CASES if not c.endswith("adaptive")])
def test_a_float32_step_agrees_with_the_float64_step_to_the_conditioning(case):
    """From the same (float32-representable) parameters and batch, the two updates differ by
    float32 rounding amplified by the metric's condition number: ``‖Δ₃₂ − Δ₆₄‖ ≤ c·ε₃₂·κ·‖Δ₆₄‖``
    with κ the condition of the dense metric (1 for the first-order methods; for K-FAC the
    layer metric's with ``μ = λ``, a proxy for its damped Kronecker factors'); conjugate
    gradients stop at their ``cg_rtol`` instead of ``ε₃₂``."""
    model, params, X, t, opt32 = _setup(case, "float32")
    *_, opt64 = _setup(case, "float64")
    p32 = opt32.init(params)
    rounded = tree.tree_map(lambda a: a.astype(np.float64), p32.params)
    X = X.astype(np.float32).astype(np.float64)
    s64, _ = opt64.update(opt64.init(rounded), X, t)
    s32, _ = opt32.update(p32, X, t)
    d64 = tree.flatten(s64.params) - tree.flatten(rounded)
    d32 = tree.flatten(s32.params).astype(np.float64) - tree.flatten(rounded)
    kappa = 1.0
    name, hyper, _, loss = CASES[case]
    if name in METRIC or name == "kfac":
        kw = {k: v for k, v in hyper.items() if k in ("mass", "output_metric")}
        if isinstance(kw.get("mass"), str) or name == "kfac":
            kw["mass"] = hyper.get("damping", 0.1) if name == "kfac" else \
                opt64.mass.minimum()
        G = build_metric(model, rounded, X, t, loss=loss, scope=getattr(opt64, "scope",
                                                                        "network"), **kw).dense()
        kappa = np.linalg.cond(G)
    err = np.linalg.norm(d32 - d64) / np.linalg.norm(d64)
    rtol = opt32.cg_rtol if hyper.get("method") == "cg" else 0.0      # CG stops at its rtol
    assert err <= 100 * max(EPS32, rtol) * kappa, (err, kappa)
    assert err > 0.0                             # it did compute in float32


def test_the_float64_oracle_path_stays_float64_for_float32_inputs():
    model, params, X, t, _ = _setup("riemannian-identity", "float64")
    p32 = tree.tree_map(lambda a: a.astype(np.float32), params)
    st = solve(model, p32, X.astype(np.float32), t, "cross_entropy")
    assert set(_dtypes(st.grads).values()) == {np.dtype(np.float64)}
    update, diag = build_metric(model, p32, X.astype(np.float32), t, loss="cross_entropy",
                                mass=0.1).step(1.0)
    assert set(_dtypes(update).values()) == {np.dtype(np.float64)}
    assert set(diag["precision"].values()) == {"double"}


def test_float32_resumes_through_a_checkpoint_bit_for_bit_in_float32(tmp_path):
    for case in ("adam", "riemannian-subsampled"):
        model, params, X, t, opt = _setup(case, "float32")
        straight = opt.init(params)
        for _ in range(4):
            straight, _ = opt.update(straight, X, t)
        state = opt.init(params)
        for _ in range(2):
            state, _ = opt.update(state, X, t)
        (tmp_path / case).mkdir()
        save_checkpoint(tmp_path / case, state.params, state.slots, {"step": state.step})
        ck = load_checkpoint(tmp_path / case)
        template = opt.init(params)
        state = template._replace(step=2, params=fill_tree(template.params, ck.params, "p"),
                                  slots=fill_tree(template.slots, ck.slots, "s"))
        for _ in range(2):
            state, _ = opt.update(state, X, t)
        for a, b in zip(tree.leaves(straight.params) + tree.leaves(straight.slots),
                        tree.leaves(state.params) + tree.leaves(state.slots)):
            assert a.dtype == b.dtype and np.array_equal(a, b)


@pytest.mark.parametrize("what,error,words", [
    ("dtype", ValueError, "dtype must be float64 .* or float32"),
    ("state", TypeError, "holds float64 parameters but this optimizer steps in float32"),
    ("X", ValueError, "X holds 1.000e\\+40, beyond the range of float32"),
])
def test_float32_errors_are_clear(what, error, words):
    model, params, X, t, opt = _setup("riemannian-identity", "float32")
    with pytest.raises(error, match=words):
        if what == "dtype":
            make_optimizer("riemannian", model, "cross_entropy", dtype="float16")
        elif what == "state":
            opt.update(make_optimizer("riemannian", model, "cross_entropy").init(params), X, t)
        else:
            X[0, 0] = 1e40
            opt.update(opt.init(params), X, t)
