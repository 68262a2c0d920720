"""The JSON architecture format: round trips for every module case, and clear errors."""
import json

import numpy as np
import pytest

from cases import ARCHITECTURE_CASES, IMAGE_CASES, MODULE_CASES
from refimpl import spaces, tree
from refimpl.modules import Identity, Linear, Sequential
from refimpl.spaces import Shape
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


@pytest.mark.parametrize("name", sorted(IMAGE_CASES))
def test_round_trip_of_image_modules(name, rng):
    module = IMAGE_CASES[name]()
    again = from_json(to_json(module))
    assert repr(again) == repr(module) and again.in_space == module.in_space
    params = module.init(rng)
    x = rng.standard_normal((2,) + module.in_space.shape)
    np.testing.assert_array_equal(module(params, x), again(params, x))


def test_image_spaces_are_shape_objects():
    doc = to_dict(Identity((3, Shape(2, 4, 4))))
    assert doc == {"type": "Identity", "space": [3, {"shape": [2, 4, 4]}]}
    assert from_dict(doc).in_space == (3, Shape(2, 4, 4))


def test_the_conv_description_is_the_documented_one():
    text = ('{"format": "refimpl-architecture", "version": 2, "module": {"type": "Sequential", '
            '"children": [{"type": "Conv2d", "in_channels": 1, "out_channels": 2, '
            '"kernel_size": [3, 3], "stride": [2, 2], "padding": [1, 1], "bias": true, '
            '"input_size": [8, 8]}, {"type": "Pointwise", "activation": "relu", '
            '"dim": [2, 4, 4]}, {"type": "MaxPool2d", "channels": 2, "kernel_size": [2, 2], '
            '"stride": [2, 2], "input_size": [4, 4]}, {"type": "Flatten", "shape": [2, 2, 2]}, '
            '{"type": "Linear", "n_in": 8, "n_out": 3, "bias": true}]}}')
    net = from_json(text)
    assert net.in_space == Shape(1, 8, 8) and net.out_space == 3
    assert [n for n, _ in parameter_names(net)] == ["0/W", "0/b", "4/W", "4/b"]
    assert json.loads(to_json(net)) == json.loads(text)


def test_version_1_documents_are_still_read():
    v1 = {"format": "refimpl-architecture", "version": 1,
          "module": {"type": "Linear", "n_in": 3, "n_out": 2, "bias": True}}
    assert repr(from_json(v1)) == "Linear(3 → 2)"
    v1["module"] = {"type": "Flatten", "shape": [1, 2, 2]}
    with pytest.raises(ValueError, match="needs format version 2"):
        from_json(v1)


def test_the_document_is_plain_json_with_format_and_version():
    doc = json.loads(to_json(Sequential(Linear(3, 4), Linear(4, 1, bias=False))))
    assert doc["format"] == "refimpl-architecture" and doc["version"] == 2
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
    ('{"type": "Conv2d", "in_channels": 1, "out_channels": 2, "kernel_size": [3], '
     '"stride": [1, 1], "padding": [0, 0], "bias": true, "input_size": [5, 5]}',
     "kernel_size must be a list of two integers"),
    ('{"type": "Conv2d", "in_channels": 1, "out_channels": 2, "kernel_size": [7, 7], '
     '"stride": [1, 1], "padding": [0, 0], "bias": true, "input_size": [5, 5]}',
     "module (Conv2d): Conv2d: the kernel (7) is larger"),
    ('{"type": "Conv2d", "in_channels": 1, "out_channels": 2, "kernel_size": [3, 3], '
     '"stride": [1, 1], "padding": [0, 0], "input_size": [5, 5]}', "missing field(s) bias"),
    ('{"type": "MaxPool2d", "channels": 1, "kernel_size": [2, 2], "stride": [2, 2], '
     '"input_size": [4, 4], "padding": [2, 2]}', "at most half the kernel"),
    ('{"type": "Sequential", "children": [{"type": "Flatten", "shape": [2, 3, 3]}, '
     '{"type": "Linear", "n_in": 17, "n_out": 2}]}', "outputs R^18 but module 1"),
    ('{"type": "Flatten", "shape": [4]}', "at least two positive integers"),
    ('{"type": "Identity", "space": {"shape": [2, 2], "x": 1}}', "array space"),
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
