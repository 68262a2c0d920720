"""Every module's derivatives, three ways: exact adjointness of JVP and VJP, central finite
differences, and the dense Jacobian (math §3, §5)."""
import numpy as np
import pytest
from hypothesis import given, strategies as st

from cases import KINKED, MODULE_CASES
from fd import FD_RTOL, central, random_like, rel_err, vdot
from refimpl import spaces, tree

EXACT = 1e-12     # identities between two exact computations, relative to the terms' size

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


def flat(module_space, point):
    return spaces.flatten(point, module_space)


@pytest.mark.parametrize("name", list(MODULE_CASES))
@given(dims=dims)
def test_adjoint_vjp_jvp(name, dims):
    """<R, J v> = <Jᵀ R, v> for the input and parameter directions, to rounding."""
    rng, m, params, x = make_case(name, dims)
    y, cache = m.forward(params, x)
    v, dw, ybar = random_like(rng, x), random_like(rng, params), random_like(rng, y)
    lhs = vdot(ybar, m.jvp(params, cache, v, dw))
    rhs = vdot(m.vjp_input(params, cache, ybar), v) + vdot(m.vjp_params(params, cache, ybar), dw)
    scale = abs(vdot(ybar, m.jvp(params, cache, v, None))) + \
        abs(vdot(ybar, m.jvp(params, cache, None, dw))) + 1e-300
    assert abs(lhs - rhs) <= EXACT * scale * 10


@pytest.mark.parametrize("name", list(MODULE_CASES))
@given(dims=dims)
def test_jvp_matches_central_differences(name, dims):
    rng, m, params, x = make_case(name, dims)
    y, cache = m.forward(params, x)
    v, dw = random_like(rng, x), random_like(rng, params)
    fd = central(lambda z: flat(m.out_space, m(z[0], z[1])), (params, x), (dw, v))
    assert rel_err(flat(m.out_space, m.jvp(params, cache, v, dw)), fd) < FD_RTOL


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
    flat_w = tree.flatten(params)
    for i in range(flat_w.size):
        e = np.eye(flat_w.size)[i]
        fd = central(lambda w: flat(m.out_space, m(tree.unflatten(params, w), x)), flat_w, e)
        assert np.max(np.abs(Jw[:, :, i] - fd)) < FD_RTOL * max(1.0, np.abs(fd).max())


@pytest.mark.parametrize("name", list(MODULE_CASES))
@given(dims=dims)
def test_factor_pullbacks_match_dense_jacobian(name, dims):
    """R ↦ R ∂F/∂x and B = R ∂F/∂w (Remark 4) against R·J with the dense Jacobians."""
    S, _, _, r, _ = dims
    rng, m, params, x = make_case(name, dims)
    y, cache = m.forward(params, x)
    R = spaces.map_point(lambda a: rng.standard_normal((S, r, a.shape[1])), m.out_space, y)
    Jx, Jw = m.jacobian(params, x)
    Rf = flat(m.out_space, R)
    R_in = flat(m.in_space, m.pullback_input(params, cache, R))
    assert rel_err(R_in, Rf @ Jx) < EXACT * 100
    B = m.pullback_params(params, cache, R)
    B_flat = np.concatenate([b.reshape(S, r, -1) for b in tree.leaves(B)], axis=2) \
        if tree.leaves(B) else np.zeros((S, r, 0))
    assert B_flat.shape == (S, r, m.n_params)
    if m.n_params:
        assert rel_err(B_flat, Rf @ Jw) < EXACT * 100


@pytest.mark.parametrize("name", list(MODULE_CASES))
def test_forward_is_pure(name):
    """Calling forward twice, or in another order, gives identical results (no hidden state)."""
    rng, m, params, x = make_case(name, (3, 3, 2, 1, 7))
    _, _, _, x2 = make_case(name, (3, 3, 2, 1, 8))
    y1 = flat(m.out_space, m(params, x))
    m(params, x2)
    assert np.array_equal(y1, flat(m.out_space, m(params, x)))
