"""The max-pooling Numba kernels against their NumPy twins (refimpl.modules._pool_reference)."""
import numpy as np
import pytest

from refimpl.modules import _pool_kernels, _pool_reference

#: (kernel, stride, padding, H, W)
WINDOWS = [((2, 2), (2, 2), (0, 0), 4, 6), ((3, 3), (2, 2), (1, 1), 7, 6),
           ((3, 2), (1, 2), (1, 1), 5, 5), ((1, 1), (1, 1), (0, 0), 2, 3)]


@pytest.mark.parametrize("window", WINDOWS)
@pytest.mark.parametrize("ties", [False, True])
def test_max_pool_forward_and_scatter_equal_their_twins(window, ties, rng):
    (kh, kw), (sh, sw), (ph, pw), H, W = window
    Ho, Wo = (H + 2 * ph - kh) // sh + 1, (W + 2 * pw - kw) // sw + 1
    x = rng.integers(0, 3, (3, 2, H, W)).astype(float) if ties else \
        rng.standard_normal((3, 2, H, W))
    args = (x, kh, kw, sh, sw, ph, pw, Ho, Wo)
    (y, arg), (y0, arg0) = _pool_kernels.max_pool_forward(*args), \
        _pool_reference.max_pool_forward(*args)
    assert np.array_equal(y, y0) and np.array_equal(arg, arg0) and arg.dtype == np.int32
    values = rng.standard_normal((3, 4, 2, Ho, Wo))
    got = _pool_kernels.max_pool_scatter(values, arg, H, W)
    want = _pool_reference.max_pool_scatter(values, arg, H, W)
    assert np.max(np.abs(got - want)) <= 4 * np.finfo(float).eps * np.abs(values).sum()
