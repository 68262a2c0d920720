"""Input validation shared by the public functions (private module).

Public functions validate and convert their inputs here; private ones compute and trust them.
Every error says what was expected, what arrived, and (where useful) how to fix the call.

Input dtypes (one policy for every array and scalar a public function takes):

- float64 is used as is; float16 and float32 are converted to float64 (exactly: every such
  value is a float64, but it carries only its own precision, so results computed from
  float32 data are float64 results *of the rounded data*); integers are converted exactly,
  and an integer array holding values beyond ``2**53`` in magnitude (which float64 cannot
  represent) is a ``ValueError``;
- ``bool`` is a ``TypeError``: a boolean array passed as data is nearly always a mask passed
  by mistake, and silently reading it as 0 and 1 would hide that; convert explicitly
  (``x.astype(np.float64)``) when 0/1 values are meant;
- floating dtypes wider than float64 (``numpy.longdouble`` where it is 80- or 128-bit) are a
  ``TypeError``: refimpl computes in float64, so converting would silently discard the extra
  precision its caller presumably wanted; convert explicitly to accept the rounding. (A
  warning would be lost in a test suite's output, and the oracle's answers must not depend on
  whether someone read it.) Where ``longdouble`` is float64 itself it is accepted;
- complex numbers, strings, objects and anything else are a ``TypeError``.

Scalars follow the same rules (:func:`as_real_scalar`): Python ``int``/``float``, NumPy
integer and floating scalars and 0-d arrays (the way ``.npz`` files store scalars) are
accepted; ``bool`` (Python or NumPy) and extended-precision floats are not.

Training precision: the optimizers take ``dtype="float32"`` (:func:`check_training_dtype`)
to run a whole step in float32. Their boundary then asks :func:`as_float_array` (and
:func:`as_dtype` for trees already checked) for float32: the same checks as above, then every
value rounded to float32 — the rounding that option asks for — and a finite value beyond
float32's range is a ``ValueError`` (it would become infinite). Everything else, the oracle
path included, is float64 as described above.
"""
from __future__ import annotations

import numbers

import numpy as np

_FLOAT64_MANTISSA = np.finfo(np.float64).nmant
_EXACT_INT = 2 ** 53
#: the float types a step may run in (:func:`check_training_dtype`): float64, refimpl's own,
#: and float32 for training only
TRAINING_DTYPES = ("float64", "float32")


def _check_dtype(dtype: np.dtype, name: str) -> None:
    """``TypeError`` for a dtype the policy above refuses (bool, wider than float64, …)."""
    if dtype.kind == "b":
        raise TypeError(f"{name} has dtype bool; refimpl takes real numbers, not masks: if 0 "
                        f"and 1 are meant, convert explicitly ({name}.astype(np.float64))")
    if dtype.kind == "c":
        raise TypeError(f"{name} must be real, got complex dtype {dtype}; pass the real "
                        "part explicitly")
    if dtype == object or dtype.kind not in "iuf":
        raise TypeError(f"{name} must be an array of real numbers, got dtype {dtype}")
    if dtype.kind == "f" and np.finfo(dtype).nmant > _FLOAT64_MANTISSA:
        raise TypeError(f"{name} has dtype {dtype} (extended precision); refimpl computes in "
                        "float64 and would round it silently: convert explicitly "
                        f"({name}.astype(np.float64)) to accept the rounding")


def as_float_array(value, name: str, *, ndim: int | None = None, shape=None,
                   finite: bool = True, dtype=np.float64) -> np.ndarray:
    """Return ``value`` as a C-contiguous float64 array, checking dtype, rank, shape and
    finiteness.

    ``shape`` may contain ``None`` for "any size" in that axis. The dtype policy is the
    module docstring's: float16/float32/integers converted, bool, extended precision,
    complex, strings and objects a ``TypeError``. A wrong rank or shape, integers beyond
    ``2**53``, or NaN/inf (with ``finite``) are a ``ValueError``. ``dtype=np.float32`` (the
    float32 training path only) rounds the checked values to float32 (:func:`as_dtype`).
    """
    if isinstance(value, (str, bytes)) or value is None:
        raise TypeError(f"{name} must be an array of real numbers, got {type(value).__name__}")
    try:
        arr = np.asarray(value)
    except Exception as exc:  # ragged nested lists and the like
        raise TypeError(f"{name} must be an array of real numbers; converting it failed: "
                        f"{exc}") from None
    _check_dtype(arr.dtype, name)
    if arr.dtype.kind in "iu" and arr.dtype.itemsize >= 8 and arr.size:
        big = max(-int(arr.min()), int(arr.max()))
        if big > _EXACT_INT:
            raise ValueError(f"{name} holds integers up to {big}, beyond 2**53, which float64 "
                             "cannot represent exactly; convert explicitly if the rounding "
                             "is acceptable")
    if np.dtype(dtype) != np.float64 and arr.dtype == dtype:
        arr = np.ascontiguousarray(arr)               # float32 kept as it is
    else:
        arr = np.ascontiguousarray(arr, dtype=np.float64)
    if ndim is not None and arr.ndim != ndim:
        raise ValueError(f"{name} must have {ndim} dimension(s), got shape {arr.shape}")
    if shape is not None:
        if arr.ndim != len(shape) or any(s is not None and s != a
                                         for s, a in zip(shape, arr.shape)):
            want = "(" + ", ".join("*" if s is None else str(s) for s in shape) + ")"
            raise ValueError(f"{name} must have shape {want}, got {arr.shape}")
    if finite:
        check_finite(arr, name)
    return arr if arr.dtype == dtype else as_dtype(arr, dtype, name)


def check_training_dtype(dtype) -> np.dtype:
    """The float type an optimizer's steps run in: ``np.float64`` (the default, and refimpl's
    precision everywhere else) or ``np.float32`` (training only), given as a NumPy type, a
    ``numpy.dtype`` or its name."""
    try:
        dt = np.dtype(dtype) if dtype is not None else None
    except TypeError:
        dt = None
    if dt is None or dt.name not in TRAINING_DTYPES:
        raise ValueError(f"dtype must be float64 (the default) or float32 (float32 training), "
                         f"got {dtype!r}")
    return dt


def as_dtype(arr: np.ndarray, dtype, name: str) -> np.ndarray:
    """A checked float64 (or float32) array in ``dtype`` (a new array unless it already is):
    rounded to float32 for the float32 training path, where a finite value beyond float32's
    range is a ``ValueError`` rather than an infinity."""
    dtype = np.dtype(dtype)
    if arr.dtype == dtype:
        return arr
    with np.errstate(over="ignore"):
        out = np.ascontiguousarray(arr, dtype=dtype)
    if dtype.itemsize < arr.dtype.itemsize and not np.all(np.isfinite(out)) \
            and np.all(np.isfinite(arr[~np.isfinite(out)])):
        big = float(np.max(np.abs(arr[~np.isfinite(out)])))
        raise ValueError(f"{name} holds {big:.3e}, beyond the range of {dtype} "
                         f"(±{float(np.finfo(dtype).max):.3e}); train in float64 or rescale")
    return out


def is_real_scalar(value) -> bool:
    """Whether ``value`` is scalar-like (a number, a NumPy scalar or a 0-d array), so that
    :func:`as_real_scalar` is the check that applies (it may still refuse its dtype)."""
    if isinstance(value, np.ndarray):
        return value.ndim == 0
    return isinstance(value, (numbers.Number, np.generic))


def as_real_scalar(value, name: str) -> float:
    """A real scalar as a Python float: ``int``, ``float``, a NumPy integer or floating scalar,
    or a 0-d array of one; ``TypeError`` for ``bool``, extended precision, complex and
    anything else (the module docstring's dtype policy)."""
    if isinstance(value, bool):
        raise TypeError(f"{name} must be a real number, got the bool {value!r}")
    if isinstance(value, (np.ndarray, np.generic)):
        if value.ndim != 0:
            raise TypeError(f"{name} must be a real number (a scalar or a 0-d array), got an "
                            f"array of shape {value.shape}")
        kind = "0-d array" if isinstance(value, np.ndarray) else "NumPy scalar"
        if value.dtype.kind == "f" and np.finfo(value.dtype).nmant > _FLOAT64_MANTISSA:
            raise TypeError(f"{name} is a {kind} of dtype {value.dtype} (extended precision); "
                            "refimpl computes in float64 and would round it silently: convert "
                            f"explicitly (float({name})) to accept the rounding")
        if value.dtype.kind not in "iuf":
            raise TypeError(f"{name} must be a real number, got a {kind} of dtype "
                            f"{value.dtype}")
        if value.dtype.kind in "iu" and abs(int(value)) > _EXACT_INT:
            raise ValueError(f"{name} is {int(value)}, beyond 2**53, which float64 cannot "
                             "represent exactly")
        return float(value)
    if isinstance(value, numbers.Integral):
        if abs(int(value)) > _EXACT_INT:
            raise ValueError(f"{name} is {int(value)}, beyond 2**53, which float64 cannot "
                             "represent exactly")
        return float(value)
    if isinstance(value, numbers.Real):
        return float(value)
    raise TypeError(f"{name} must be a real number, got {type(value).__name__} {value!r}")


def check_finite(arr: np.ndarray, name: str) -> np.ndarray:
    """``arr`` itself, or a ``ValueError`` saying how many entries are NaN or infinite."""
    if not np.all(np.isfinite(arr)):
        bad = int(np.size(arr) - np.count_nonzero(np.isfinite(arr)))
        raise ValueError(f"{name} must be finite, but {bad} of its {np.size(arr)} entries "
                         f"{'is' if bad == 1 else 'are'} NaN or infinite")
    return arr


def check_spd(matrix, name: str, *, dim: int | None = None, rtol: float = 1e-10) -> np.ndarray:
    """A finite, symmetric (to ``rtol`` relative to its largest entry), positive-definite
    square matrix, as float64; ``dim`` fixes its size."""
    a = as_float_array(matrix, name, ndim=2)
    if a.shape[0] != a.shape[1]:
        raise ValueError(f"{name} must be square (d, d), got shape {a.shape}")
    if dim is not None and a.shape != (dim, dim):
        raise ValueError(f"{name} must be a ({dim}, {dim}) matrix, got shape {a.shape}")
    scale = max(float(np.max(np.abs(a))), np.finfo(np.float64).tiny)
    asym = float(np.max(np.abs(a - a.T)))
    if asym > rtol * scale:
        raise ValueError(f"{name} must be symmetric; max |G - Gᵀ| = {asym:.3e} exceeds "
                         f"{rtol:.0e} × max |G| = {rtol * scale:.3e}")
    try:
        np.linalg.cholesky(0.5 * (a + a.T))
    except np.linalg.LinAlgError:
        low = np.linalg.eigvalsh(0.5 * (a + a.T))[0]
        raise ValueError(f"{name} must be positive definite, but its smallest eigenvalue is "
                         f"{low:.3e}") from None
    return a


def as_positive_float(value, name: str) -> float:
    """A finite, strictly positive real scalar (:func:`as_real_scalar`'s types)."""
    if not is_real_scalar(value) or isinstance(value, (bool, np.bool_)):
        raise TypeError(f"{name} must be a positive real number, got {value!r}")
    value = as_real_scalar(value, name)
    if not np.isfinite(value) or value <= 0.0:
        raise ValueError(f"{name} must be finite and > 0, got {value!r}")
    return value


def as_nonnegative_float(value, name: str) -> float:
    """A finite real scalar ``≥ 0`` (:func:`as_real_scalar`'s types)."""
    if not is_real_scalar(value) or isinstance(value, (bool, np.bool_)):
        raise TypeError(f"{name} must be a non-negative real number, got {value!r}")
    value = as_real_scalar(value, name)
    if not np.isfinite(value) or value < 0.0:
        raise ValueError(f"{name} must be finite and ≥ 0, got {value!r}")
    return value


def as_labels(value, name: str, *, n_samples: int, n_classes: int) -> np.ndarray:
    """Integer class labels of shape ``(n_samples,)`` in ``[0, n_classes)``."""
    arr = np.asarray(value)
    if arr.ndim != 1 or arr.shape[0] != n_samples:
        raise ValueError(f"{name} must have shape ({n_samples},) (one label per sample), "
                         f"got {arr.shape}")
    if arr.dtype.kind == "f":
        if not np.all(np.isfinite(arr)) or np.any(arr != np.round(arr)):
            raise ValueError(f"{name} must hold integer class labels, got non-integral values")
    elif arr.dtype.kind not in "iu":
        raise TypeError(f"{name} must hold integer class labels, got dtype {arr.dtype}")
    labels = arr.astype(np.int64)
    if labels.size and (labels.min() < 0 or labels.max() >= n_classes):
        raise ValueError(f"{name} must lie in [0, {n_classes}) for {n_classes} outputs, got "
                         f"values in [{labels.min()}, {labels.max()}]")
    return labels


def check_choice(value, name: str, choices) -> str:
    """A string out of a fixed set of names."""
    if not isinstance(value, str) or value not in choices:
        raise ValueError(f"unknown {name} {value!r}; expected one of "
                         + ", ".join(repr(c) for c in choices))
    return value
