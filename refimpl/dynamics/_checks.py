"""Input checks shared by the public functions of `refimpl.dynamics` (private).

Public functions call these to turn user input into float64 arrays of a known shape and to
raise a `TypeError` (wrong kind of object) or `ValueError` (right kind, wrong value) whose
message says what was expected, what arrived, and how to fix the call. Private functions
assume their inputs already passed through here.
"""

from __future__ import annotations

import numpy as np

from .._validation import as_float_array as _as_float_array
from .._validation import check_finite  # noqa: F401 (the dynamics modules import it from here)

__all__: list[str] = []


def as_float_array(value, name: str) -> np.ndarray:
    """``value`` as float64, any shape, finiteness not checked (callers check it when needed)."""
    return _as_float_array(value, name, finite=False)


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


def check_t_span(t_span) -> tuple[float, float]:
    """A pair (t0, t1) with t1 > t0, both finite."""
    arr = as_float_array(t_span, "t_span")
    if arr.shape != (2,):
        raise ValueError(f"t_span must be a pair (t0, t1), got shape {arr.shape}.")
    check_finite(arr, "t_span")
    if not arr[1] > arr[0]:
        raise ValueError(f"t_span must satisfy t1 > t0, got ({arr[0]}, {arr[1]}).")
    return float(arr[0]), float(arr[1])
