"""The completing-the-square identity, term by term, on random paths (math §1).

The algebraic identities (kinetic + potential = descent_square − cross = ascent_square + cross)
hold node by node, so to rounding: 1e-12 relative. ``cross = f(x_T) − f(x_0)`` is the
fundamental theorem of calculus, evaluated by quadrature (8 nodes × 16 pieces on analytic
paths): 1e-9 relative to the path's scale.
"""

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from dynamics_cases import GEOMETRY_CASES, coeff_shape, random_path
from refimpl.dynamics import Trajectory, action, action_of_trajectory, complete_the_square

ALGEBRA_RTOL = 1e-12
QUADRATURE_RTOL = 1e-9


@pytest.mark.parametrize("name", GEOMETRY_CASES)
@given(data=st.data())
def test_completing_the_square_term_by_term(name, data):
    case = GEOMETRY_CASES[name]
    coeffs = data.draw(arrays(np.float64, coeff_shape(case), elements=st.floats(-1.0, 1.0)))
    path = random_path(case, coeffs)
    dec = complete_the_square(case.metric, case.potential, path, subdivisions=16)
    scale = dec.kinetic + dec.potential + abs(dec.delta_f) + 1e-300
    assert dec.kinetic >= 0 and dec.potential >= 0 and dec.descent_square >= 0 and dec.ascent_square >= 0
    assert abs(dec.descent_square - dec.cross - dec.action) <= ALGEBRA_RTOL * scale
    assert abs(dec.ascent_square + dec.cross - dec.action) <= ALGEBRA_RTOL * scale
    assert abs(dec.cross - dec.delta_f) <= QUADRATURE_RTOL * scale
    assert abs(dec.descent_form - dec.action) <= QUADRATURE_RTOL * scale
    assert abs(dec.ascent_form - dec.action) <= QUADRATURE_RTOL * scale
    assert dec.action == pytest.approx(action_of_trajectory(case.metric, case.potential, path, subdivisions=16), rel=1e-14)


def test_piecewise_linear_samples_decompose_exactly_like_the_path_through_them(rng):
    case = GEOMETRY_CASES["constant_logcosh"]
    t = np.sort(rng.uniform(0.0, 1.0, 9))
    x = np.cumsum(0.3 * rng.standard_normal((9, 2)), axis=0)     # short segments: 8-node rule converges
    dec = complete_the_square(case.metric, case.potential, Trajectory.from_samples(t, x))
    assert dec.action == pytest.approx(action(case.metric, case.potential, t, x, nodes=8), rel=1e-13)
    assert dec.cross == pytest.approx(dec.delta_f, rel=1e-10)
