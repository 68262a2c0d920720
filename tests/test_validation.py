"""The input dtype policy of ``refimpl._validation`` (README, conventions): float32/float16 and
integers converted exactly; bool, extended precision, complex and objects refused; scalars may
be NumPy scalars or 0-d arrays."""
import numpy as np
import pytest

from refimpl._validation import as_float_array, as_positive_float, as_real_scalar
from refimpl.metric import check_mass

EXTENDED = np.finfo(np.longdouble).nmant > np.finfo(np.float64).nmant


@pytest.mark.parametrize("dtype", [np.float16, np.float32, np.float64, np.int8, np.int32,
                                   np.int64, np.uint8, np.uint64])
def test_real_dtypes_are_converted_exactly(dtype):
    values = np.array([[0, 1, 2], [3, 100, 7]], dtype=dtype)
    got = as_float_array(values, "x")
    assert got.dtype == np.float64 and got.flags.c_contiguous
    assert np.array_equal(got, values.astype(np.float64))


@pytest.mark.parametrize("value, error, message", [
    (np.array([True, False]), TypeError, r"x has dtype bool; .*\(x.astype\(np.float64\)\)"),
    ([True, False], TypeError, "x has dtype bool"),
    (np.array([1 + 2j]), TypeError, "x must be real, got complex dtype"),
    (np.array(["a"]), TypeError, "x must be an array of real numbers, got dtype <U1"),
    (np.array([1.0, None]), TypeError, "got dtype object"),
    (np.array([2 ** 53 + 1], dtype=np.int64), ValueError, r"beyond 2\*\*53"),
    (np.array([2 ** 63], dtype=np.uint64), ValueError, r"beyond 2\*\*53"),
    (np.array([-2 ** 63], dtype=np.int64), ValueError, r"beyond 2\*\*53"),
])
def test_refused_arrays_name_the_dtype_and_the_way_out(value, error, message):
    with pytest.raises(error, match=message):
        as_float_array(value, "x")


@pytest.mark.skipif(not EXTENDED, reason="longdouble is float64 on this platform")
def test_extended_precision_is_refused_not_rounded():
    x = np.array([1, 2], dtype=np.longdouble) / 3
    with pytest.raises(TypeError, match=r"x has dtype float(96|128) \(extended precision\); "
                                        r".*convert explicitly \(x.astype\(np.float64\)\)"):
        as_float_array(x, "x")
    with pytest.raises(TypeError, match="extended precision"):
        as_real_scalar(np.longdouble(1) / 3, "mu")
    assert np.array_equal(as_float_array(x.astype(np.float64), "x"), x.astype(np.float64))


@pytest.mark.parametrize("value", [0.5, 2, np.float64(0.5), np.float32(0.5), np.int64(2),
                                   np.array(0.5), np.array(2, dtype=np.int32)])
def test_scalars_may_be_numpy_scalars_or_0d_arrays(value):
    assert as_real_scalar(value, "mu") == float(value)
    assert as_positive_float(value, "mu") == float(value)


@pytest.mark.parametrize("value, error, message", [
    (True, TypeError, "mu must be a positive real number, got True"),
    (np.bool_(True), TypeError, "mu must be a positive real number"),
    (np.array(True), TypeError, "mu must be a real number, got a 0-d array of dtype bool"),
    (np.array("x"), TypeError, "mu must be a real number, got a 0-d array of dtype <U1"),
    (np.complex128(1j), TypeError, "got a NumPy scalar of dtype complex128"),
    (np.array([0.5]), TypeError, "mu must be a positive real number"),
    (1 + 1j, TypeError, "mu must be a real number"),
    ("0.5", TypeError, "mu must be a positive real number"),
    (np.array(-1.0), ValueError, "mu must be finite and > 0, got -1.0"),
    (np.array(np.nan), ValueError, "mu must be finite and > 0"),
])
def test_bad_scalars_are_clear_errors(value, error, message):
    with pytest.raises(error, match=message):
        as_positive_float(value, "mu")


def test_check_mass_takes_a_0d_array_like_a_float():
    params = {"W": np.zeros((2, 3))}
    assert check_mass(np.array(0.3), params) == check_mass(0.3, params) == 0.3
    assert check_mass(np.float32(0.25), params) == 0.25
    with pytest.raises(TypeError, match=r"mass\['W'\] has dtype bool"):
        check_mass({"W": np.ones((2, 3), dtype=bool)}, params)
