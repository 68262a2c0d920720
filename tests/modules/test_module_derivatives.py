"""Every module's derivatives, three ways: exact adjointness of JVP and VJP, central finite
differences, and the dense Jacobian (math §3, §5)."""
import numpy as np
import pytest
from hypothesis import given, strategies as st

from cases import KINKED, MODULE_CASES
from fd import FD_RTOL, central, rel_err
from module_checks import (check_adjoint, check_factor_pullbacks, check_forward_is_pure,
                           check_jvp_against_central_differences,
                           check_parameter_jacobian_against_central_differences, flat)
from refimpl import spaces, tree

dims = st.tuples(st.integers(1, 4), st.integers(1, 5), st.integers(1, 4), st.integers(1, 3),
                 st.integers(0, 2**31 - 1))


def make_case(name, dims):
    """(rng, module, params, x) for one case; ``dims = (S, d_in, d_out, r, seed)``."""
    S, d_in, d_out, _, seed = dims
    rng = np.random.default_rng(seed)
    module = MODULE_CASES[name](d_in, d_out)
    params = module.init(rng)
    params = tree.tree_map(lambda a: a + 0.1 * rng.standard_normal(a.shape), params)
    x = spaces.map_point(lambda a: rng.standard_normal(a.shape), module.in_space,
                         spaces.zeros(module.in_space, (S,)))
    if any(k in name for k in KINKED):
        x = spaces.map_point(lambda a: a + 0.2 * np.sign(a), module.in_space, x)
    return rng, module, params, x


@pytest.mark.parametrize("name", list(MODULE_CASES))
@given(dims=dims)
def test_adjoint_vjp_jvp(name, dims):
    check_adjoint(*make_case(name, dims))


@pytest.mark.parametrize("name", list(MODULE_CASES))
@given(dims=dims)
def test_jvp_matches_central_differences(name, dims):
    check_jvp_against_central_differences(*make_case(name, dims))


@pytest.mark.parametrize("name", list(MODULE_CASES))
@given(dims=dims)
def test_dense_jacobian_matches_central_differences(name, dims):
    S = dims[0]
    rng, m, params, x = make_case(name, dims)
    Jx, Jw = m.jacobian(params, x)
    n_in = spaces.dim(m.in_space)
    for i in range(n_in):
        e = spaces.unflatten(np.tile(np.eye(n_in)[i], (S, 1)), m.in_space)
        fd = central(lambda z: flat(m.out_space, m(params, z)), x, e)
        assert rel_err(Jx[:, :, i], fd) < FD_RTOL or np.max(np.abs(Jx[:, :, i] - fd)) < 1e-9
    check_parameter_jacobian_against_central_differences(m, params, x, Jw)


@pytest.mark.parametrize("name", list(MODULE_CASES))
@given(dims=dims)
def test_factor_pullbacks_match_dense_jacobian(name, dims):
    S, _, _, r, _ = dims
    rng, m, params, x = make_case(name, dims)
    y, _ = m.forward(params, x)
    R = spaces.map_point(lambda a: rng.standard_normal((S, r, a.shape[1])), m.out_space, y)
    check_factor_pullbacks(m, params, x, R)


@pytest.mark.parametrize("name", list(MODULE_CASES))
def test_forward_is_pure(name):
    _, m, params, x = make_case(name, (3, 3, 2, 1, 7))
    check_forward_is_pure(m, params, x, make_case(name, (3, 3, 2, 1, 8))[3])
