"""Bad input to build_metric is a clear error naming what was expected and what arrived."""
import numpy as np
import pytest

from metric_cases import problem, random_mass
from refimpl.metric import build_metric

BAD = [  # (kwargs override, error, words)
    (dict(mass=0.0), ValueError, "mass must be finite and > 0"),
    (dict(mass=-1.0), ValueError, "> 0"),
    (dict(mass=np.nan), ValueError, "finite"),
    (dict(mass="big"), TypeError, "positive number"),
    (dict(mass=True), TypeError, "bool"),
    (dict(mass={"0": {"W": 1.0}}), ValueError, "must match the parameters"),
    (dict(scope="global"), ValueError, "unknown scope"),
    (dict(method="lu"), ValueError, "unknown method"),
    (dict(blocks="fast"), ValueError, "unknown blocks"),
    (dict(output_metric=-np.eye(3)), ValueError, "positive definite"),
    (dict(output_metric=np.eye(2)), ValueError, "3 outputs"),
    (dict(output_metric="fisher"), ValueError, "unknown output metric"),
    (dict(precision="single"), ValueError, "unknown precision"),
    (dict(threads=0), ValueError, "positive int or None"),
    (dict(threads=2.0), ValueError, "positive int or None"),
    (dict(threads=True), ValueError, "positive int or None"),
    (dict(prepare_step="yes"), TypeError, "prepare_step must be True or False"),
    (dict(cg_rtol=0.0), ValueError, "cg_rtol must be finite and > 0"),
    (dict(memory=-1.0), ValueError, "memory must be finite and > 0"),
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


def test_a_model_without_parameters_has_no_metric():
    from refimpl.modules import Pointwise
    with pytest.raises(ValueError, match="no parameters"):
        build_metric(Pointwise("tanh", 3), {}, np.ones((2, 3)), np.ones((2, 3)))
