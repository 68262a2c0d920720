"""The JSON architecture format: round trips for every module case, and clear errors."""
import json

import numpy as np
import pytest

from cases import ARCHITECTURE_CASES, MODULE_CASES
from refimpl import spaces, tree
from refimpl.modules import Linear, Sequential
from refimpl.oracle.architecture import (from_dict, from_json, module_paths, parameter_names,
                                         to_dict, to_json)


@pytest.mark.parametrize("name", sorted(ARCHITECTURE_CASES))
def test_round_trip_gives_the_same_network(name, rng):
    module = MODULE_CASES[name](3, 2)
    again = from_json(to_json(module))
    assert repr(again) == repr(module)
    assert again.param_shapes() == module.param_shapes()
    params = module.init(rng)
    x = spaces.map_point(lambda a: rng.standard_normal(a.shape), module.in_space,
                         spaces.zeros(module.in_space, (4,)))
    y0 = spaces.flatten(module(params, x), module.out_space)
    y1 = spaces.flatten(again(params, x), again.out_space)
    np.testing.assert_array_equal(y0, y1)


def test_the_document_is_plain_json_with_format_and_version():
    doc = json.loads(to_json(Sequential(Linear(3, 4), Linear(4, 1, bias=False))))
    assert doc["format"] == "refimpl-architecture" and doc["version"] == 1
    assert doc["module"]["children"][1] == {"type": "Linear", "n_in": 4, "n_out": 1,
                                            "bias": False}
    assert repr(from_json(doc["module"])) == repr(from_json(doc))


def test_parameter_names_and_module_paths_follow_the_flat_order():
    module = MODULE_CASES["residual"](3, 2)
    names = [n for n, _ in parameter_names(module)]
    assert names == [p for p, _ in tree.items(module.init(np.random.default_rng(0)))]
    assert names == ["0/1/0/0/W", "0/1/0/0/b", "1/W", "1/b"]
    assert module_paths(module) == ["0/1/0/0", "1"]


BAD = [
    ('{"type": "Lin"}', "module: unknown type 'Lin'"),
    ('{"type": "Linear", "n_in": 3}', "missing field(s) n_out"),
    ('{"type": "Linear", "n_in": 3, "n_out": 2, "bias": true, "act": 1}',
     "unknown field(s) act"),
    ('{"type": "Linear", "n_in": 3, "n_out": 0}', "n_out must be a positive integer"),
    ('{"type": "Linear", "n_in": true, "n_out": 2}', "n_in must be a positive integer"),
    ('{"type": "Linear", "n_in": 3, "n_out": 2, "bias": 1}', "bias must be true or false"),
    ('{"type": "Sequential", "children": []}', "children must be a non-empty list"),
    ('{"type": "Sequential", "children": [{"type": "Pointwise", "activation": "swish", '
     '"dim": 3}]}', "module/0 (Pointwise): unknown activation 'swish'"),
    ('{"type": "Sequential", "children": [{"type": "Linear", "n_in": 3, "n_out": 2}, '
     '{"type": "Linear", "n_in": 3, "n_out": 2}]}', "outputs R^2 but module 1"),
    ('{"type": "Concat", "spaces": []}', "spaces must be a non-empty list"),
    ('{"type": "FanOut", "space": [3, []], "n": 2}', "space[1] must be a positive integer"),
    ('[1, 2', "not valid JSON"),
    ('[1, 2]', "expected an object"),
    ('{"format": "other", "module": {}}', "format is 'other'"),
    ('{"format": "refimpl-architecture", "version": 9, "module": {}}', "version 9"),
]


@pytest.mark.parametrize("text, message", BAD)
def test_malformed_descriptions_are_clear_errors(text, message):
    with pytest.raises(ValueError) as err:
        from_json(text)
    assert message in str(err.value)


def test_to_dict_rejects_a_module_outside_the_format():
    from refimpl.modules import Module

    class Custom(Module):
        in_space = out_space = 2

    with pytest.raises(TypeError, match="Custom has no JSON description"):
        to_dict(Custom())


def test_from_dict_names_the_path_of_a_nested_error():
    desc = {"type": "Parallel", "children": [
        {"type": "Identity", "space": 2},
        {"type": "Sequential", "children": [{"type": "Sum", "space": 2, "n": "two"}]}]}
    with pytest.raises(ValueError, match=r"module/1/0 \(Sum\): n must be a positive integer"):
        from_dict(desc)
