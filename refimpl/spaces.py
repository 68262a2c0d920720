"""Spaces that modules map between, and batched points in them.

A *space* is either an ``int`` ``d`` (the vector space ``R^d``) or a ``tuple`` of spaces (their
Cartesian product, SPEC §5 "parallel composition"). A batch of ``S`` points of ``R^d`` is an
array of shape ``(S, d)``; a batch of points of a product is a tuple of such batches. An output
*factor* (SPEC §4, Remark 4) carries an extra axis of ``r`` rows: ``(S, r, d)`` for ``R^d`` and
a tuple for a product. Every helper here acts on the last axis, so it serves points, cotangents
and factors alike.
"""
from __future__ import annotations

import numpy as np

from ._validation import as_float_array

Space = int | tuple


def check_space(space, name: str = "space") -> Space:
    """Validate a space description (a positive int or a non-empty tuple of spaces)."""
    if isinstance(space, bool):
        raise TypeError(f"{name} must be a positive int or a tuple of spaces, got {space!r}")
    if isinstance(space, (int, np.integer)):
        if space <= 0:
            raise ValueError(f"{name} must be a positive dimension, got {space}")
        return int(space)
    if isinstance(space, tuple) and space:
        return tuple(check_space(s, name) for s in space)
    raise TypeError(f"{name} must be a positive int or a non-empty tuple of spaces, "
                    f"got {space!r}")


def dim(space: Space) -> int:
    """Total dimension of a space."""
    return space if isinstance(space, int) else sum(dim(s) for s in space)


def describe(space: Space) -> str:
    """``R^3`` or ``(R^3 x R^2)`` for messages."""
    if isinstance(space, int):
        return f"R^{space}"
    return "(" + " x ".join(describe(s) for s in space) + ")"


def flatten(point, space: Space) -> np.ndarray:
    """Concatenate a (possibly product) point along its last axis."""
    if isinstance(space, int):
        return point
    return np.concatenate([flatten(p, s) for p, s in zip(point, space)], axis=-1)


def unflatten(array: np.ndarray, space: Space):
    """Split the last axis of ``array`` into the blocks of ``space`` (inverse of flatten)."""
    if isinstance(space, int):
        return array
    out, start = [], 0
    for s in space:
        n = dim(s)
        out.append(unflatten(array[..., start:start + n], s))
        start += n
    return tuple(out)


def zeros(space: Space, lead: tuple) -> object:
    """A zero point (or factor) with leading axes ``lead``."""
    if isinstance(space, int):
        return np.zeros(lead + (space,))
    return tuple(zeros(s, lead) for s in space)


def map_point(fn, space: Space, *points):
    """Apply ``fn`` to the array blocks of points of ``space``."""
    if isinstance(space, int):
        return fn(*points)
    return tuple(map_point(fn, s, *ps) for s, ps in zip(space, zip(*points)))


def batch_size(point, space: Space) -> int:
    """Number of samples ``S`` of a batched point."""
    return point.shape[0] if isinstance(space, int) else batch_size(point[0], space[0])


def check_point(point, space: Space, name: str, *, lead: int = 1, n_samples=None,
                dtype=np.float64):
    """Validate a batched point (``lead=1``: ``(S, d)``) or factor (``lead=2``: ``(S, r, d)``).

    Returns the point converted to float64 arrays (``dtype=np.float32``: rounded to float32,
    for the float32 training path; :func:`refimpl._validation.as_float_array`). All blocks
    must share their leading axes.
    """
    if isinstance(space, int):
        arr = as_float_array(point, name, dtype=dtype)
        if arr.ndim != lead + 1 or arr.shape[-1] != space:
            want = ("(S, " if lead == 1 else "(S, r, ") + f"{space})"
            raise ValueError(f"{name} must have shape {want} for the space {describe(space)}, "
                             f"got {arr.shape}")
        if n_samples is not None and arr.shape[:lead] != tuple(n_samples):
            raise ValueError(f"{name} must have leading shape {tuple(n_samples)}, "
                             f"got {arr.shape[:lead]}")
        return arr
    if not isinstance(point, (tuple, list)) or len(point) != len(space):
        raise ValueError(f"{name} must be a tuple of {len(space)} arrays for the product space "
                         f"{describe(space)}, got {type(point).__name__}"
                         + (f" of length {len(point)}" if isinstance(point, (tuple, list))
                            else ""))
    out = []
    for i, (p, s) in enumerate(zip(point, space)):
        arr = check_point(p, s, f"{name}[{i}]", lead=lead, n_samples=n_samples, dtype=dtype)
        if n_samples is None:
            n_samples = _first_leaf(arr).shape[:lead]
        out.append(arr)
    return tuple(out)


def _first_leaf(point) -> np.ndarray:
    while isinstance(point, tuple):
        point = point[0]
    return point
