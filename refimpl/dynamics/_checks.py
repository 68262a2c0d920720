"""Input checks shared by the public functions of `refimpl.dynamics` (private).

Public functions call these to turn user input into float64 arrays of a known shape and to
raise a `TypeError` (wrong kind of object) or `ValueError` (right kind, wrong value) whose
message says what was expected, what arrived, and how to fix the call. Private functions
assume their inputs already passed through here.
"""

from __future__ import annotations

import numpy as np

__all__: list[str] = []


def as_float_array(value, name: str) -> np.ndarray:
    """Convert `value` to a float64 array; complex, object or string input is a TypeError."""
    if isinstance(value, (str, bytes)):
        raise TypeError(f"{name} must be an array of real numbers, got a {type(value).__name__}.")
    try:
        arr = np.asarray(value)
    except Exception as exc:  # ragged nested lists and the like
        raise TypeError(f"{name} must be an array of real numbers; converting it failed: {exc}") from exc
    if arr.dtype == object or arr.dtype.kind in "USV":
        raise TypeError(
            f"{name} must be an array of real numbers, got dtype {arr.dtype} "
            "(ragged lists or non-numeric entries?)."
        )
    if arr.dtype.kind == "c":
        raise TypeError(f"{name} must be real, got complex dtype {arr.dtype}; pass the real part explicitly.")
    if arr.dtype.kind not in "biuf":
        raise TypeError(f"{name} must be an array of real numbers, got dtype {arr.dtype}.")
    return arr.astype(np.float64, copy=False)


def check_finite(arr: np.ndarray, name: str) -> np.ndarray:
    """Raise ValueError if `arr` holds NaN or infinity."""
    if not np.all(np.isfinite(arr)):
        bad = int(np.size(arr) - np.count_nonzero(np.isfinite(arr)))
        raise ValueError(f"{name} must be finite, but {bad} of its {arr.size} entries are NaN or infinite.")
    return arr


def check_vector(value, dim: int, name: str) -> np.ndarray:
    """A finite float64 vector of shape (dim,)."""
    arr = as_float_array(value, name)
    if arr.shape != (dim,):
        raise ValueError(f"{name} must have shape ({dim},), got shape {arr.shape}.")
    return check_finite(arr, name)


def check_samples(t, x, dim: int) -> tuple[np.ndarray, np.ndarray]:
    """A time grid `t` (N+1,) strictly increasing and samples `x` (N+1, dim), both finite."""
    t = check_finite(as_float_array(t, "t"), "t")
    x = check_finite(as_float_array(x, "x"), "x")
    if t.ndim != 1 or t.size < 2:
        raise ValueError(f"t must be a 1-D time grid with at least 2 points, got shape {t.shape}.")
    if x.shape != (t.size, dim):
        raise ValueError(
            f"x must hold one sample per time point, shape ({t.size}, {dim}) for this t and metric; "
            f"got shape {x.shape}."
        )
    if np.any(np.diff(t) <= 0):
        raise ValueError("t must be strictly increasing; sort it or remove repeated times.")
    return t, x


def check_spd(g: np.ndarray, dim: int, name: str, rtol: float = 1e-10) -> np.ndarray:
    """A finite symmetric positive-definite (dim, dim) matrix (symmetry to `rtol` relative)."""
    g = as_float_array(g, name)
    if g.shape != (dim, dim):
        raise ValueError(f"{name} must be a ({dim}, {dim}) matrix, got shape {g.shape}.")
    check_finite(g, name)
    scale = max(float(np.max(np.abs(g))), np.finfo(np.float64).tiny)
    asym = float(np.max(np.abs(g - g.T)))
    if asym > rtol * scale:
        raise ValueError(
            f"{name} must be symmetric; max |g - g^T| = {asym:.3e} exceeds {rtol:.0e} x max|g| = {rtol * scale:.3e}."
        )
    try:
        np.linalg.cholesky(0.5 * (g + g.T))
    except np.linalg.LinAlgError:
        eig = np.linalg.eigvalsh(0.5 * (g + g.T))
        raise ValueError(
            f"{name} must be positive definite, but its smallest eigenvalue is {eig[0]:.3e}."
        ) from None
    return g


def check_positive(value, name: str) -> float:
    """A finite positive float."""
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)):
        raise TypeError(f"{name} must be a real number, got {type(value).__name__}.")
    value = float(value)
    if not np.isfinite(value) or value <= 0:
        raise ValueError(f"{name} must be finite and positive, got {value!r}.")
    return value


def check_t_span(t_span) -> tuple[float, float]:
    """A pair (t0, t1) with t1 > t0, both finite."""
    arr = as_float_array(t_span, "t_span")
    if arr.shape != (2,):
        raise ValueError(f"t_span must be a pair (t0, t1), got shape {arr.shape}.")
    check_finite(arr, "t_span")
    if not arr[1] > arr[0]:
        raise ValueError(f"t_span must satisfy t1 > t0, got ({arr[0]}, {arr[1]}).")
    return float(arr[0]), float(arr[1])
