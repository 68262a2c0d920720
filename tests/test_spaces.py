"""Spaces: R^d as an int, arrays of a fixed shape as Shape, products as tuples."""
import numpy as np
import pytest

from refimpl import spaces
from refimpl.spaces import Shape


def test_shape_is_a_distinct_immutable_value_type():
    s = Shape(3, 8, 8)
    assert s == Shape((3, 8, 8)) and hash(s) == hash(Shape([3, 8, 8]))
    assert s != (3, 8, 8) and not isinstance(s, tuple)
    assert (s.shape, s.ndim, s.dim) == ((3, 8, 8), 3, 192)
    with pytest.raises(AttributeError):
        s.foo = 1
    assert repr(s) == "Shape(3, 8, 8)" and spaces.describe(s) == "R^{3×8×8}"
    assert spaces.describe((4, s)) == "(R^4 x R^{3×8×8})"


@pytest.mark.parametrize("bad", [(3,), (3, 0, 2), (2, 2.5), (True, 2)])
def test_bad_shapes_are_errors(bad):
    with pytest.raises(ValueError):
        Shape(*bad)


def test_array_space_gives_an_int_for_vectors():
    assert spaces.array_space([5]) == 5 and spaces.array_space(5) == 5
    assert spaces.array_space((2, 3)) == Shape(2, 3)
    assert spaces.check_space(Shape(2, 3)) == Shape(2, 3)
    assert spaces.is_array(Shape(2, 3)) and spaces.is_array(4) and not spaces.is_array((4, 4))


def test_flatten_is_c_order_and_unflatten_inverts_it(rng):
    space = (3, Shape(2, 2, 3))
    point = (rng.standard_normal((4, 5, 3)), rng.standard_normal((4, 5, 2, 2, 3)))  # factor
    flat = spaces.flatten(point, space)
    assert flat.shape == (4, 5, 15)
    assert np.array_equal(flat[..., 3:], point[1].reshape(4, 5, 12))
    back = spaces.unflatten(flat, space)
    assert all(np.array_equal(a, b) for a, b in zip(back, point))
    assert spaces.dim(space) == 15
    assert spaces.zeros(space, (2,))[1].shape == (2, 2, 2, 3)


def test_check_point_names_the_expected_shape():
    s = Shape(1, 4, 4)
    assert spaces.check_point(np.zeros((2, 1, 4, 4)), s, "x").dtype == np.float64
    assert spaces.check_point(np.zeros((2, 3, 1, 4, 4)), s, "R", lead=2).shape[1] == 3
    with pytest.raises(ValueError, match=r"\(S, r, 1, 4, 4\).*R\^\{1×4×4\}.*\(2, 1, 4, 4\)"):
        spaces.check_point(np.zeros((2, 1, 4, 4)), s, "R", lead=2)
    with pytest.raises(ValueError, match=r"\(S, 1, 4, 4\)"):
        spaces.check_point(np.zeros((2, 16)), s, "x")
