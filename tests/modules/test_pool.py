"""Pooling: the tie rule of max-pooling, the padding conventions, and bad sizes."""
import numpy as np
import pytest

from refimpl.modules import AvgPool2d, MaxPool2d


def test_max_pool_ties_go_to_the_first_maximum_in_row_major_order():
    """Each 2×2 window holds its maximum twice or more; the gradient goes to the first one in
    the window's row-major order (PyTorch's rule), nowhere else."""
    pool = MaxPool2d(2, channels=1, input_size=(2, 6))
    x = np.array([[[[1., 5., 7., 2., 4., 4.],
                    [5., 5., 7., 7., 4., 4.]]]])
    y, cache = pool.forward({}, x)
    assert np.array_equal(y, [[[[5., 7., 4.]]]])
    grad = pool.vjp_input({}, cache, np.array([[[[10., 20., 30.]]]]))
    want = np.zeros((1, 1, 2, 6))
    want[0, 0, 0, 1], want[0, 0, 0, 2], want[0, 0, 0, 4] = 10., 20., 30.
    assert np.array_equal(grad, want)
    Jx, _ = pool.jacobian({}, x)                  # the definition's argmax agrees
    assert np.array_equal(Jx[0].T @ np.array([10., 20., 30.]), want.ravel())


def test_overlapping_windows_add_their_cotangents():
    pool = MaxPool2d(3, 1, channels=1, input_size=(3, 4))
    x = np.zeros((1, 1, 3, 4))
    x[0, 0, 1, 1] = 1.0                           # the maximum of both windows
    _, cache = pool.forward({}, x)
    grad = pool.vjp_input({}, cache, np.array([[[[2., 3.]]]]))
    assert grad[0, 0, 1, 1] == 5.0 and np.count_nonzero(grad) == 1


def test_max_pool_padding_is_never_selected_and_avg_pool_counts_it_as_zero():
    x = -np.ones((1, 1, 2, 2))
    assert np.array_equal(MaxPool2d(2, 2, 1, channels=1, input_size=(2, 2))({}, x),
                          -np.ones((1, 1, 2, 2)))
    assert np.array_equal(AvgPool2d(2, 2, 1, channels=1, input_size=(2, 2))({}, x),
                          np.full((1, 1, 2, 2), -0.25))


def test_stride_defaults_to_the_kernel():
    pool = AvgPool2d((2, 3), channels=2, input_size=(4, 9))
    assert pool.stride == (2, 3) and pool.out_space.shape == (2, 2, 3)


BAD = [
    (lambda: MaxPool2d(2, 2, 2, channels=1, input_size=(4, 4)), ["padding", "half"]),
    (lambda: AvgPool2d(5, channels=1, input_size=(4, 4)), ["kernel", "larger"]),
    (lambda: MaxPool2d(2, channels=0, input_size=(4, 4)), ["channels"]),
    (lambda: MaxPool2d(2, channels=1, input_size=(4, 4, 4)), ["input_size", "pair"]),
]


@pytest.mark.parametrize("build,words", BAD)
def test_bad_construction_is_a_clear_error(build, words):
    with pytest.raises(ValueError) as info:
        build()
    for w in words:
        assert w in str(info.value), str(info.value)
