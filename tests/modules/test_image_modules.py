"""Image modules (Conv2d, MaxPool2d, AvgPool2d, Flatten, Pointwise on images), three ways:
exact adjointness of JVP and VJP, central finite differences, and dense Jacobians — each
module's hand-written one (from the definition, index by index) against central differences
and against the one assembled from its JVP (math §3, §5)."""
import numpy as np
import pytest
from hypothesis import given, strategies as st

from cases import IMAGE_CASES
from fd import FD_RTOL, central, random_like, rel_err, vdot
from refimpl import spaces, tree
from refimpl.modules import Module

EXACT = 1e-12     # identities between two exact computations, relative to the terms' size

draws = st.tuples(st.integers(1, 3), st.integers(1, 3), st.integers(0, 2**31 - 1))


def setup(name, draw):
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


def flat(space, point):
    return spaces.flatten(point, space)


@pytest.mark.parametrize("name", list(IMAGE_CASES))
@given(draw=draws)
def test_adjoint_vjp_jvp(name, draw):
    """<ȳ, J (v, δw)> = <J_xᵀ ȳ, v> + <J_wᵀ ȳ, δw> to rounding."""
    rng, m, params, x = setup(name, draw)
    y, cache = m.forward(params, x)
    v, dw, ybar = random_like(rng, x), random_like(rng, params), random_like(rng, y)
    lhs = vdot(ybar, m.jvp(params, cache, v, dw))
    rhs = vdot(m.vjp_input(params, cache, ybar), v) + vdot(m.vjp_params(params, cache, ybar), dw)
    scale = abs(vdot(ybar, m.jvp(params, cache, v, None))) + \
        abs(vdot(ybar, m.jvp(params, cache, None, dw))) + 1e-300
    assert abs(lhs - rhs) <= 10 * EXACT * scale


@pytest.mark.parametrize("name", list(IMAGE_CASES))
@given(draw=draws)
def test_jvp_matches_central_differences(name, draw):
    rng, m, params, x = setup(name, draw)
    _, cache = m.forward(params, x)
    v, dw = random_like(rng, x), random_like(rng, params)
    fd = central(lambda z: flat(m.out_space, m(z[0], z[1])), (params, x), (dw, v))
    assert rel_err(flat(m.out_space, m.jvp(params, cache, v, dw)), fd) < FD_RTOL


@pytest.mark.parametrize("name", list(IMAGE_CASES))
def test_dense_jacobian_matches_central_differences_and_the_jvp(name):
    rng, m, params, x = setup(name, (2, 1, 11))
    S, n_in = x.shape[0], spaces.dim(m.in_space)
    Jx, Jw = m.jacobian(params, x)
    Jx_jvp, Jw_jvp = Module._jacobian(m, params, x)       # assembled from the JVP
    assert rel_err(Jx, Jx_jvp) <= EXACT and (Jw.size == 0 or rel_err(Jw, Jw_jvp) <= EXACT)
    for i in range(n_in):
        e = spaces.unflatten(np.tile(np.eye(n_in)[i], (S, 1)), m.in_space)
        fd = central(lambda z: flat(m.out_space, m(params, z)), x, e)
        assert np.max(np.abs(Jx[:, :, i] - fd)) <= FD_RTOL * max(1.0, np.abs(fd).max())
    w = tree.flatten(params)
    for i in range(w.size):
        fd = central(lambda u: flat(m.out_space, m(tree.unflatten(params, u), x)), w,
                     np.eye(w.size)[i])
        assert np.max(np.abs(Jw[:, :, i] - fd)) <= FD_RTOL * max(1.0, np.abs(fd).max())


@pytest.mark.parametrize("name", list(IMAGE_CASES))
@given(draw=draws)
def test_factor_pullbacks_match_dense_jacobian(name, draw):
    """R ↦ R ∂F/∂x (R of shape (S, r, C, H, W)) and B = R ∂F/∂w against R·J."""
    S, r, _ = draw
    rng, m, params, x = setup(name, draw)
    y, cache = m.forward(params, x)
    R = rng.standard_normal((S, r) + spaces.point_shape(m.out_space))
    Jx, Jw = m.jacobian(params, x)
    Rf = flat(m.out_space, R)
    R_in = m.pullback_input(params, cache, R)
    assert R_in.shape == (S, r) + spaces.point_shape(m.in_space)
    assert rel_err(flat(m.in_space, R_in), Rf @ Jx) < 100 * EXACT
    if m.n_params:
        B = np.concatenate([b.reshape(S, r, -1) for b in
                            tree.leaves(m.pullback_params(params, cache, R))], axis=2)
        assert rel_err(B, Rf @ Jw) < 100 * EXACT


@pytest.mark.parametrize("name", list(IMAGE_CASES))
def test_forward_is_pure(name):
    _, m, params, x = setup(name, (2, 1, 3))
    _, _, _, x2 = setup(name, (2, 1, 4))
    y1 = m(params, x).copy()
    m(params, x2)
    assert np.array_equal(y1, m(params, x))
