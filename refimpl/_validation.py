"""Input validation shared by the public functions (private module).

Public functions validate and convert their inputs here; private ones compute and trust them.
Every error says what was expected, what arrived, and (where useful) how to fix the call.
"""
from __future__ import annotations

import numbers

import numpy as np


def as_float_array(value, name: str, *, ndim: int | None = None, shape=None,
                   finite: bool = True) -> np.ndarray:
    """Return ``value`` as a C-contiguous float64 array, checking rank, shape and finiteness.

    ``shape`` may contain ``None`` for "any size" in that axis. Strings, objects and complex
    numbers are a ``TypeError``; a wrong rank or shape, or NaN/inf (with ``finite``), a
    ``ValueError``.
    """
    if isinstance(value, (str, bytes)) or value is None:
        raise TypeError(f"{name} must be an array of real numbers, got {type(value).__name__}")
    try:
        arr = np.asarray(value)
    except Exception as exc:  # ragged nested lists and the like
        raise TypeError(f"{name} must be an array of real numbers; converting it failed: "
                        f"{exc}") from None
    if np.iscomplexobj(arr):
        raise TypeError(f"{name} must be real, got complex dtype {arr.dtype}; pass the real "
                        "part explicitly")
    if arr.dtype == object or arr.dtype.kind not in "biuf":
        raise TypeError(f"{name} must be an array of real numbers, got dtype {arr.dtype}")
    arr = np.ascontiguousarray(arr, dtype=np.float64)
    if ndim is not None and arr.ndim != ndim:
        raise ValueError(f"{name} must have {ndim} dimension(s), got shape {arr.shape}")
    if shape is not None:
        if arr.ndim != len(shape) or any(s is not None and s != a
                                         for s, a in zip(shape, arr.shape)):
            want = "(" + ", ".join("*" if s is None else str(s) for s in shape) + ")"
            raise ValueError(f"{name} must have shape {want}, got {arr.shape}")
    return check_finite(arr, name) if finite else arr


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
    """A finite, strictly positive real scalar."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"{name} must be a positive real number, got {value!r}")
    value = float(value)
    if not np.isfinite(value) or value <= 0.0:
        raise ValueError(f"{name} must be finite and > 0, got {value!r}")
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
