"""Parameter trees by path (refimpl.tree): get, from_paths, and the flat order."""
import numpy as np
import pytest

from refimpl import tree

LIKE = {"0": {"W": np.zeros((2, 3)), "b": np.zeros(2)}, "1": {},
        "2": {"0": {"W": np.zeros((1, 2))}}}


def test_get_reaches_leaves_and_subtrees():
    assert tree.get(LIKE, "0/b").shape == (2,)
    assert tree.get(LIKE, "2/0") is LIKE["2"]["0"]
    assert tree.get(LIKE, "") is LIKE
    with pytest.raises(KeyError, match="no entry '0/c'"):
        tree.get(LIKE, "0/c")


def test_from_paths_places_parts_and_keeps_empty_modules():
    parts = {"0": {"W": np.ones((2, 3)), "b": np.ones(2)}, "2/0": {"W": np.ones((1, 2))}}
    out = tree.from_paths(LIKE, parts)
    assert tree.same_structure(out, LIKE) and out["1"] == {}
    assert out["0"] is parts["0"] and np.array_equal(tree.flatten(out), np.ones(10))
    assert tree.from_paths(LIKE, {"": LIKE}) is LIKE


def test_from_paths_never_fills_a_missing_leaf():
    with pytest.raises(ValueError, match="no part covers the leaf '2/0/W'"):
        tree.from_paths(LIKE, {"0": LIKE["0"]})
    with pytest.raises(ValueError, match=r"paths \['9'\] are not in the tree"):
        tree.from_paths(LIKE, {"0": LIKE["0"], "2/0": LIKE["2"]["0"], "9": {}})
    with pytest.raises(ValueError, match="overlap"):
        tree.from_paths(LIKE, {"": LIKE, "0": LIKE["0"]})
