"""The mass value object (math §4): parsed and validated once, scalar or per parameter, with
the Kronecker structure of matrix leaves recognised at parse time."""
import numpy as np
import pytest

from refimpl.metric import Mass, check_mass, min_mass

SHAPES = {"0": {"W": (3, 4), "b": (3,)}, "1": {}, "2": {"W": (2, 3), "b": (2,)}}


def per_parameter(rng, kron=False):
    W0 = np.outer(rng.uniform(0.5, 2, 3), rng.uniform(0.5, 2, 4)) if kron \
        else rng.uniform(0.5, 2, (3, 4))
    return {"0": {"W": W0, "b": rng.uniform(0.5, 2, 3)}, "1": {},
            "2": {"W": rng.uniform(0.5, 2, (2, 3)), "b": rng.uniform(0.5, 2, 2)}}


@pytest.mark.parametrize("given", [0.5, np.float32(0.5), np.array(0.5), 1, np.int64(2)])
def test_scalars_of_any_kind_parse_to_mu(given):
    mass = Mass.parse(given, SHAPES)
    assert mass.scalar == float(given) and mass.at("0") is mass
    assert mass.inverse("W") == 1.0 / float(given) and mass.kron("W") is None
    assert np.array_equal(mass.flat({"W": (2, 2)}), np.full(4, float(given)))


def test_a_tree_gives_each_module_its_values_and_kronecker_factors(rng):
    values = per_parameter(rng, kron=True)
    mass = Mass.parse(values, SHAPES)
    assert mass.scalar is None and mass.minimum() == min(v.min() for v in
                                                          (values["0"]["W"], values["0"]["b"],
                                                           values["2"]["W"], values["2"]["b"]))
    m0, m2 = mass.at("0"), mass.at("2")
    u, v = m0.kron("W")
    np.testing.assert_allclose(np.outer(u, v), values["0"]["W"], rtol=1e-15)
    assert m2.kron("W") is None                       # a generic matrix is not an outer product
    np.testing.assert_array_equal(m0.inverse("b"), 1.0 / values["0"]["b"])
    np.testing.assert_array_equal(m2.flat({"W": (2, 3), "b": (2,)}),
                                  np.concatenate([values["2"]["W"].ravel(), values["2"]["b"]]))


def test_parse_returns_a_parsed_mass_as_it_is(rng):
    mass = Mass.parse(per_parameter(rng), SHAPES)
    assert Mass.parse(mass, SHAPES) is mass
    with pytest.raises(ValueError, match="must match the parameters"):
        Mass.parse(mass, {"0": {"W": (3, 4)}})


BAD = [(0.0, ValueError, "finite and > 0"), (-1, ValueError, "> 0"), (np.inf, ValueError,
       "finite"), (True, TypeError, "bool"), ("1", TypeError, "positive number"),
       (np.array("x"), TypeError, "0-d array"), ([1.0], TypeError, "positive number"),
       ({"0": {"W": np.ones((3, 4))}}, ValueError, "must match the parameters")]


@pytest.mark.parametrize("given,exc,words", BAD)
def test_bad_masses_are_clear_errors(given, exc, words):
    with pytest.raises(exc, match=words):
        Mass.parse(given, SHAPES)


def test_a_non_positive_entry_names_its_parameter(rng):
    values = per_parameter(rng)
    values["2"]["b"][1] = -0.1
    with pytest.raises(ValueError, match="'2/b'"):
        Mass.parse(values, SHAPES)


def test_plain_helpers(rng):
    values = per_parameter(rng)
    assert check_mass(np.array(2.0), SHAPES) == 2.0
    assert check_mass(values, SHAPES)["0"]["W"].dtype == np.float64
    assert min_mass(values) == Mass.parse(values, SHAPES).minimum() and min_mass(3) == 3.0
