"""The module contract (refimpl.modules.base): a module with parameters that lacks a
derivative fails loudly instead of training with silently frozen weights."""
import numpy as np
import pytest

from refimpl.metric import build_metric
from refimpl.modules import Linear, Module, Sequential
from refimpl.optim import SGD


class HalfDone(Module):
    """Forward and input derivatives only: no _vjp_params, no _param_blocks."""

    in_space = out_space = 3

    def param_shapes(self):
        return {"w": (3,)}

    def _init(self, rng):
        return {"w": np.ones(3)}

    def _forward(self, params, a):
        return a * params["w"], a

    def _jvp(self, params, a, da, dparams):
        return (da if da is not None else 0.0) * params["w"]

    def _pullback_input(self, params, a, R):
        return R * params["w"]


def problem():
    model = Sequential(HalfDone(), Linear(3, 2))
    rng = np.random.default_rng(0)
    return model, model.init(rng), rng.standard_normal((4, 3)), rng.standard_normal((4, 2))


def test_a_missing_parameter_gradient_raises_instead_of_returning_zeros():
    model, params, X, t = problem()
    opt = SGD(model, "mse", lr=0.1)
    with pytest.raises(NotImplementedError, match="HalfDone has parameters but does not "
                                                  "implement _vjp_params"):
        opt.update(opt.init(params), X, t)


def test_a_missing_parameter_block_raises_instead_of_leaving_the_weights_out():
    model, params, X, t = problem()
    with pytest.raises(NotImplementedError, match="HalfDone has parameters but does not "
                                                  "implement _param_blocks"):
        build_metric(model, params, X, t)


def test_a_module_without_parameters_needs_neither():
    from refimpl.modules import Pointwise
    m = Pointwise("tanh", 3)
    y, cache = m.forward({}, np.ones((2, 3)))
    assert m.vjp_params({}, cache, np.ones((2, 3))) == {}
    assert m.param_blocks({}, cache, np.ones((2, 1, 3))) == {}
