"""The plain-array oracle over architecture documents (refimpl.oracle.network): CNN updates
against dense solves with the explicit metric, agreement with the MLP functions, gradients
against central differences, and clear errors."""
import numpy as np
import pytest

from fd import central, rel_err
from refimpl import oracle
from refimpl.oracle.architecture import from_dict, module_paths, parameter_names, to_dict
from refimpl.modules import mlp

EPS = np.finfo(np.float64).eps


def cnn_arch(pool="MaxPool2d", channels=2):
    return {"type": "Sequential", "children": [
        {"type": "Conv2d", "in_channels": channels, "out_channels": 3, "kernel_size": [3, 3],
         "stride": [2, 2], "padding": [1, 1], "bias": True, "input_size": [6, 6]},
        {"type": "Pointwise", "activation": "tanh", "dim": [3, 3, 3]},
        {"type": pool, "channels": 3, "kernel_size": [2, 2], "stride": [1, 1],
         "input_size": [3, 3]},
        {"type": "Conv2d", "in_channels": 3, "out_channels": 2, "kernel_size": [2, 2],
         "stride": [1, 1], "padding": [0, 0], "bias": False, "input_size": [2, 2]},
        {"type": "Flatten", "shape": [2, 1, 1]},
        {"type": "Linear", "n_in": 2, "n_out": 3, "bias": True}]}


def case(rng, loss, arch=None, S=4):
    arch = arch or cnn_arch()
    model = from_dict(arch)
    params = {n: rng.standard_normal(s) / np.sqrt(np.prod(s[1:]) if len(s) > 1 else 1.0)
              for n, s in parameter_names(model)}
    X = rng.standard_normal((S,) + model.in_space.shape)
    t = rng.standard_normal((S, 3)) if loss == "mse" else rng.integers(0, 3, S)
    return arch, model, params, X, t


def per_parameter_mass(rng, model):
    return {n: rng.uniform(0.1, 10.0, s) for n, s in parameter_names(model)}


def flat(named, names):
    return np.concatenate([np.ravel(named[n]) for n in names])


@pytest.mark.parametrize("scope", ["layer", "network"])
@pytest.mark.parametrize("mass_kind", ["scalar", "per-parameter"])
@pytest.mark.parametrize("loss,om", [("mse", "identity"), ("cross_entropy", "identity"),
                                     ("cross_entropy", "gauss-newton")])
def test_cnn_update_is_the_dense_solve_with_the_explicit_metric(rng, loss, om, mass_kind,
                                                                scope):
    arch, model, params, X, t = case(rng, loss)
    mass = 0.3 if mass_kind == "scalar" else per_parameter_mass(rng, model)
    kw = dict(loss=loss, output_metric=om, mass=mass)
    update = oracle.riemannian_step(arch, params, X, t, lr=0.5, scope=scope, **kw)
    grads = oracle.gradients(arch, params, X, t, loss=loss)["grads"]
    names = [n for n, _ in parameter_names(model)]
    blocks = module_paths(model) if scope == "layer" else [None]
    for m in blocks:
        sel = [n for n in names if m is None or n.startswith(m + "/")]
        G = oracle.metric_dense(arch, params, X, t, module=m, **kw)
        want = -0.5 * np.linalg.solve(G, flat(grads, sel))
        assert rel_err(flat(update, sel), want) < 10 * EPS * np.linalg.cond(G), m


def test_the_layer_metric_is_the_diagonal_block_of_the_network_metric(rng):
    arch, model, params, X, t = case(rng, "cross_entropy")
    kw = dict(loss="cross_entropy", output_metric="gauss-newton", mass=0.7)
    G = oracle.metric_dense(arch, params, X, t, **kw)
    start = 0
    for m in module_paths(model):
        Gm = oracle.metric_dense(arch, params, X, t, module=m, **kw)
        # the same sums, possibly in another order (einsum's contraction path)
        assert rel_err(Gm, G[start:start + len(Gm), start:start + len(Gm)]) < 100 * EPS
        start += len(Gm)
    assert start == len(G)


@pytest.mark.parametrize("pool", ["MaxPool2d", "AvgPool2d"])
def test_cnn_gradients_match_central_differences(rng, pool):
    arch, model, params, X, t = case(rng, "cross_entropy", cnn_arch(pool))
    out = oracle.gradients(arch, params, X, t, loss="cross_entropy")
    for name in params:
        d = rng.standard_normal(params[name].shape)
        fd = central(lambda w: np.array(oracle.gradients(
            arch, {**params, name: w}, X, t, loss="cross_entropy")["loss"]), params[name], d)
        assert abs(np.vdot(out["grads"][name], d) - fd) < 1e-7 * max(1.0, abs(fd))
    assert out["multipliers"]["0"].shape == (4, 3, 3, 3)


def test_on_an_mlp_it_agrees_with_the_mlp_functions(rng):
    net = mlp([3, 4, 2], "tanh")
    arch = to_dict(net)
    tree = net.init(rng)
    pairs = [(tree["0"]["W"], tree["0"]["b"] + 0.1), (tree["2"]["W"], tree["2"]["b"])]
    named = {"0/W": pairs[0][0], "0/b": pairs[0][1], "2/W": pairs[1][0], "2/b": pairs[1][1]}
    X, t = rng.standard_normal((5, 3)), rng.standard_normal((5, 2))
    a = oracle.gradients(arch, named, X, t)
    b = oracle.mlp_gradients(pairs, X, t)
    assert a["loss"] == b["loss"] and np.array_equal(a["grads"]["2/W"], b["grads"][1][0])
    step = oracle.riemannian_step(arch, named, X, t, mass=0.2, scope="network")
    want = oracle.mlp_riemannian_step(pairs, X, t, mass=0.2, scope="network")
    assert np.array_equal(step["0/b"], want[0][1])
    assert rel_err(oracle.metric_dense(arch, named, X, t, module="2"),
                   oracle.mlp_metric_dense(pairs, X, t, layer=1)) < 100 * EPS


BAD = [  # (change, error type, words)
    (lambda a: a.update(params={k: v for k, v in a["params"].items() if k != "0/b"}),
     ValueError, ["missing ['0/b']"]),
    (lambda a: a["params"].update({"9/W": np.ones(2)}), ValueError, ["unexpected ['9/W']"]),
    (lambda a: a["params"].update({"0/W": np.ones((3, 2, 3))}), ValueError,
     ["params['0/W']", "(3, 2, 3, 3)"]),
    (lambda a: a.update(X=np.ones((4, 2, 6, 5))), ValueError, ["(S, 2, 6, 6)", "R^{2×6×6}"]),
    (lambda a: a.update(module="1"), ValueError, ["owns no parameters", "'0', '3', '5'"]),
    (lambda a: a.update(mass={"0/W": 1.0}), ValueError, ["mass", "missing"]),
    (lambda a: a.update(mass=-1.0), ValueError, ["mass", "> 0"]),
    (lambda a: a.update(loss="hinge"), ValueError, ["unknown loss", "mse"]),
]


@pytest.mark.parametrize("change,exc,words", BAD)
def test_bad_input_is_a_clear_error(rng, change, exc, words):
    arch, model, params, X, t = case(rng, "mse")
    args = {"params": dict(params), "X": X, "module": "0", "mass": 1.0, "loss": "mse"}
    change(args)
    with pytest.raises(exc) as info:
        oracle.metric_dense(arch, args["params"], args["X"], t, module=args["module"],
                            mass=args["mass"], loss=args["loss"])
    for w in words:
        assert w in str(info.value), str(info.value)
