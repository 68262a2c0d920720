"""Composition algebra: shape checks, parameter trees, and bad-input errors."""
import numpy as np
import pytest

from refimpl.modules import (Concat, FanOut, Linear, Parallel, Pointwise, Sequential, Sum, mlp,
                             residual)

BAD_BUILDS = [  # (builder, error type, words the message must contain)
    (lambda: Sequential(Linear(3, 4), Linear(5, 2)), ValueError, ["R^4", "R^5", "module 0"]),
    (lambda: Sequential(Linear(3, 4), Parallel(Linear(4, 1), Linear(4, 1))), ValueError,
     ["R^4", "(R^4 x R^4)"]),
    (lambda: Sequential(), ValueError, ["at least one"]),
    (lambda: Sequential(Linear(2, 2), "tanh"), TypeError, ["Module", "str"]),
    (lambda: Linear(0, 3), ValueError, ["n_in", "positive"]),
    (lambda: Linear(2.5, 3), ValueError, ["n_in"]),
    (lambda: Pointwise("swish", 3), ValueError, ["unknown activation", "tanh"]),
    (lambda: FanOut(3, 0), ValueError, ["branches"]),
    (lambda: Sum(-1), ValueError, ["positive"]),
    (lambda: residual(Linear(3, 2)), ValueError, ["itself"]),
    (lambda: mlp([3]), ValueError, ["two widths"]),
]


@pytest.mark.parametrize("build,exc,words", BAD_BUILDS)
def test_bad_composition_is_a_clear_error(build, exc, words):
    with pytest.raises(exc) as info:
        build()
    for w in words:
        assert w in str(info.value)


def test_composite_is_a_module_with_named_parameter_tree(rng):
    net = Sequential(mlp([3, 4, 2]), Linear(2, 1))
    params = net.init(rng)
    assert list(params) == ["0", "1"]
    assert list(params["0"]) == ["0", "1", "2"]
    assert params["0"]["0"]["W"].shape == (4, 3) and params["0"]["1"] == {}
    assert net.n_params == 4 * 3 + 4 + 2 * 4 + 2 + 2 + 1


def test_parallel_spaces_and_two_branch_network(rng):
    two = Sequential(FanOut(3, 2), Parallel(Linear(3, 4), Linear(3, 2)), Concat(4, 2))
    assert two.in_space == 3 and two.out_space == 6
    y = two(two.init(rng), rng.standard_normal((5, 3)))
    assert y.shape == (5, 6)


def test_init_requires_a_generator():
    with pytest.raises(TypeError, match="numpy.random.Generator"):
        Linear(2, 2).init(0)


def test_init_is_deterministic_given_the_seed():
    a = mlp([3, 4, 2]).init(np.random.default_rng(5))
    b = mlp([3, 4, 2]).init(np.random.default_rng(5))
    assert all(np.array_equal(a[k]["W"], b[k]["W"]) for k in ("0", "2"))


BAD_CALLS = [  # (x or params problem, words)
    ("x_shape", ["x", "(S, 3)", "(5, 4)"]),
    ("x_nan", ["finite"]),
    ("params_keys", ["keys"]),
    ("params_shape", ["W", "(4, 3)"]),
    ("params_nan", ["finite"]),
    ("tuple_x", ["tuple of 2 arrays"]),
]


@pytest.mark.parametrize("what,words", BAD_CALLS)
def test_bad_call_is_a_clear_error(rng, what, words):
    net = mlp([3, 4, 2])
    params = net.init(rng)
    x = rng.standard_normal((5, 3))
    if what == "x_shape":
        x = rng.standard_normal((5, 4))
    elif what == "x_nan":
        x[1, 1] = np.nan
    elif what == "params_keys":
        params = {"0": params["0"]}
    elif what == "params_shape":
        params["0"]["W"] = np.zeros((3, 4))
    elif what == "params_nan":
        params["2"]["b"][0] = np.inf
    elif what == "tuple_x":
        net = Parallel(Linear(3, 1), Linear(3, 1))
        params = net.init(rng)
    with pytest.raises(ValueError) as info:
        net.forward(params, x)
    for w in words:
        assert w in str(info.value)
