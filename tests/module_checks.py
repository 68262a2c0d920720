"""The derivative checks every module passes, shared by the vector and image module tests:
exact adjointness of JVP and VJP, the JVP against central differences, the factor pull-backs
against ``R·J`` with the dense Jacobians, and a pure forward (math §3, §5)."""
from __future__ import annotations

import numpy as np

from fd import FD_RTOL, central, random_like, rel_err, vdot
from refimpl import spaces, tree

EXACT = 1e-12     # identities between two exact computations, relative to the terms' size


def flat(space, point):
    return spaces.flatten(point, space)


def check_adjoint(rng, m, params, x):
    """``<ȳ, J (v, δw)> = <J_xᵀ ȳ, v> + <J_wᵀ ȳ, δw>`` to rounding, relative to the size of
    the two terms."""
    y, cache = m.forward(params, x)
    v, dw, ybar = random_like(rng, x), random_like(rng, params), random_like(rng, y)
    lhs = vdot(ybar, m.jvp(params, cache, v, dw))
    rhs = vdot(m.vjp_input(params, cache, ybar), v) + vdot(m.vjp_params(params, cache, ybar), dw)
    scale = abs(vdot(ybar, m.jvp(params, cache, v, None))) + \
        abs(vdot(ybar, m.jvp(params, cache, None, dw))) + 1e-300
    assert abs(lhs - rhs) <= 10 * EXACT * scale


def check_jvp_against_central_differences(rng, m, params, x):
    _, cache = m.forward(params, x)
    v, dw = random_like(rng, x), random_like(rng, params)
    fd = central(lambda z: flat(m.out_space, m(z[0], z[1])), (params, x), (dw, v))
    assert rel_err(flat(m.out_space, m.jvp(params, cache, v, dw)), fd) < FD_RTOL


def check_parameter_jacobian_against_central_differences(m, params, x, Jw):
    w = tree.flatten(params)
    for i in range(w.size):
        fd = central(lambda u: flat(m.out_space, m(tree.unflatten(params, u), x)), w,
                     np.eye(w.size)[i])
        assert np.max(np.abs(Jw[:, :, i] - fd)) <= FD_RTOL * max(1.0, np.abs(fd).max())


def check_factor_pullbacks(m, params, x, R):
    """``R ↦ R ∂F/∂x`` and ``B = R ∂F/∂w`` (Remark 4) against ``R·J``; ``R`` is ``(S, r, *out)``."""
    S, r = flat(m.out_space, R).shape[:2]
    _, cache = m.forward(params, x)
    Jx, Jw = m.jacobian(params, x)
    Rf = flat(m.out_space, R)
    R_in = m.pullback_input(params, cache, R)
    assert rel_err(flat(m.in_space, R_in), Rf @ Jx) < 100 * EXACT
    B = m.pullback_params(params, cache, R)
    B_flat = np.concatenate([b.reshape(S, r, -1) for b in tree.leaves(B)], axis=2) \
        if tree.leaves(B) else np.zeros((S, r, 0))
    assert B_flat.shape == (S, r, m.n_params)
    if m.n_params:
        assert rel_err(B_flat, Rf @ Jw) < 100 * EXACT


def check_forward_is_pure(m, params, x, x2):
    """Calling forward twice, or in another order, gives identical results (no hidden state)."""
    y1 = flat(m.out_space, m(params, x))
    m(params, x2)
    assert np.array_equal(y1, flat(m.out_space, m(params, x)))
