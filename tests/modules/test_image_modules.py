"""Image modules (Conv2d, MaxPool2d, AvgPool2d, Flatten, Pointwise on images), three ways:
exact adjointness of JVP and VJP, central finite differences, and dense Jacobians — each
module's hand-written one (from the definition, index by index) against central differences
and against the one assembled from its JVP (math §3, §5)."""
import numpy as np
import pytest
from hypothesis import given, strategies as st

from cases import IMAGE_CASES
from fd import FD_RTOL, central, rel_err
from module_checks import (EXACT, check_adjoint, check_factor_pullbacks, check_forward_is_pure,
                           check_jvp_against_central_differences,
                           check_parameter_jacobian_against_central_differences, flat)
from refimpl import spaces, tree
from refimpl.modules import Module

draws = st.tuples(st.integers(1, 3), st.integers(1, 3), st.integers(0, 2**31 - 1))


def make_case(name, draw):
    """(rng, module, params, x) for one case; ``draw = (S, r, seed)``.

    Inputs are distinct values at least 0.05 apart (a shuffled grid plus small noise), kept
    0.1 away from 0: no max-pool window has a near tie and no ReLU a kink within the
    finite-difference step (1e-6).
    """
    S, _, seed = draw
    rng = np.random.default_rng(seed)
    module = IMAGE_CASES[name]()
    params = tree.tree_map(lambda a: a + 0.3 * rng.standard_normal(a.shape), module.init(rng))
    n = S * spaces.dim(module.in_space)
    grid = 0.1 * (rng.permutation(n) - n / 2 + 0.5)
    x = (grid + 0.01 * rng.uniform(-1, 1, n)).reshape((S,) + module.in_space.shape)
    return rng, module, params, x


@pytest.mark.parametrize("name", list(IMAGE_CASES))
@given(draw=draws)
def test_adjoint_vjp_jvp(name, draw):
    check_adjoint(*make_case(name, draw))


@pytest.mark.parametrize("name", list(IMAGE_CASES))
@given(draw=draws)
def test_jvp_matches_central_differences(name, draw):
    check_jvp_against_central_differences(*make_case(name, draw))


@pytest.mark.parametrize("name", list(IMAGE_CASES))
def test_dense_jacobian_matches_central_differences_and_the_jvp(name):
    rng, m, params, x = make_case(name, (2, 1, 11))
    S, n_in = x.shape[0], spaces.dim(m.in_space)
    Jx, Jw = m.jacobian(params, x)
    Jx_jvp, Jw_jvp = Module._jacobian(m, params, x)       # assembled from the JVP
    assert rel_err(Jx, Jx_jvp) <= EXACT and (Jw.size == 0 or rel_err(Jw, Jw_jvp) <= EXACT)
    for i in range(n_in):
        e = spaces.unflatten(np.tile(np.eye(n_in)[i], (S, 1)), m.in_space)
        fd = central(lambda z: flat(m.out_space, m(params, z)), x, e)
        assert np.max(np.abs(Jx[:, :, i] - fd)) <= FD_RTOL * max(1.0, np.abs(fd).max())
    check_parameter_jacobian_against_central_differences(m, params, x, Jw)


@pytest.mark.parametrize("name", list(IMAGE_CASES))
@given(draw=draws)
def test_factor_pullbacks_match_dense_jacobian(name, draw):
    """R of shape (S, r, C, H, W)."""
    S, r, _ = draw
    rng, m, params, x = make_case(name, draw)
    R = rng.standard_normal((S, r) + spaces.point_shape(m.out_space))
    assert m.pullback_input(params, m.forward(params, x)[1], R).shape == \
        (S, r) + spaces.point_shape(m.in_space)
    check_factor_pullbacks(m, params, x, R)


@pytest.mark.parametrize("name", list(IMAGE_CASES))
def test_forward_is_pure(name):
    _, m, params, x = make_case(name, (2, 1, 3))
    check_forward_is_pure(m, params, x, make_case(name, (2, 1, 4))[3])
