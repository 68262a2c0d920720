"""Spaces that modules map between, and batched points in them.

A *space* is one of

- an ``int`` ``d``: the vector space ``R^d``; a batch of ``S`` points is an array ``(S, d)``;
- a :class:`Shape` ``(n_1, …, n_k)`` (``k ≥ 2``): the space ``R^{n_1×…×n_k}`` of arrays of that
  shape, e.g. images ``(C, H, W)``; a batch is an array ``(S, n_1, …, n_k)`` (for images: NCHW);
- a ``tuple`` of spaces: their Cartesian product (:ref:`math §5 <math-5>` "parallel composition"); a batch is a
  tuple of batches.

``int`` and :class:`Shape` are the *array* spaces; a ``Shape`` is a distinct type, never a
tuple, so a product of spaces and the shape of an image cannot be confused. Both describe
Euclidean spaces (the metric on an image space is the Frobenius inner product of the arrays,
i.e. that of ``R^{dim}`` after :func:`flatten` in C order).

An output *factor* (:ref:`math §4 <math-4>`, Remark 4) carries an extra axis of ``r`` rows after the sample
axis: ``(S, r, d)`` for ``R^d``, ``(S, r, C, H, W)`` for an image space, a tuple for a product.
Every helper here acts on the trailing axes of the space (the last one for ``R^d``, the last
``k`` for a ``Shape``), so it serves points, cotangents and factors alike.
"""
from __future__ import annotations

import numpy as np

from ._validation import as_float_array


class Shape:
    """The space of real arrays of one fixed shape ``(n_1, …, n_k)``, ``k ≥ 2``.

    ``R^d`` itself is the ``int`` ``d`` (use :func:`array_space` to get either from a shape).
    Immutable and hashable; equal when the shapes are equal.

    Examples
    --------
    >>> from refimpl.spaces import Shape, describe, dim
    >>> image = Shape(3, 8, 8)
    >>> image, dim(image), describe(image)
    (Shape(3, 8, 8), 192, 'R^{3×8×8}')
    >>> Shape((3, 8, 8)) == image
    True
    """

    __slots__ = ("_shape",)

    def __init__(self, *shape):
        if len(shape) == 1 and isinstance(shape[0], (tuple, list)):
            shape = tuple(shape[0])
        if len(shape) < 2:
            raise ValueError(f"Shape needs at least two axes, got {shape!r}; the space R^d of "
                             "vectors is the int d")
        for n in shape:
            if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n <= 0:
                raise ValueError(f"Shape: every axis must be a positive int, got {shape!r}")
        object.__setattr__(self, "_shape", tuple(int(n) for n in shape))

    @property
    def shape(self) -> tuple:
        """The array shape ``(n_1, …, n_k)`` of one point."""
        return self._shape

    @property
    def ndim(self) -> int:
        return len(self._shape)

    @property
    def dim(self) -> int:
        """``n_1 · … · n_k``."""
        return int(np.prod(self._shape))

    def __setattr__(self, name, value):
        raise AttributeError("Shape is immutable")

    def __eq__(self, other):
        return isinstance(other, Shape) and other._shape == self._shape

    def __hash__(self):
        return hash(("Shape", self._shape))

    def __repr__(self):
        return "Shape(" + ", ".join(map(str, self._shape)) + ")"

    def __reduce__(self):
        return (Shape, self._shape)


Space = int | tuple | Shape


def array_space(shape) -> Space:
    """The array space of points of shape ``shape``: ``d`` for ``(d,)`` or an int ``d``,
    else :class:`Shape`. Accepts an int, a tuple or a list of positive ints."""
    if isinstance(shape, (tuple, list)):
        if len(shape) == 1:
            return check_space(shape[0])
        return Shape(*shape)
    return check_space(shape)


def is_array(space) -> bool:
    """True for an array space (``int`` or :class:`Shape`), False for a product."""
    return isinstance(space, (int, Shape))


def point_shape(space) -> tuple:
    """The array shape of one point of an array space: ``(d,)`` or ``Shape.shape``."""
    return (space,) if isinstance(space, int) else space.shape


def check_space(space, name: str = "space") -> Space:
    """Validate a space description (a positive int, a :class:`Shape`, or a non-empty tuple
    of spaces)."""
    if isinstance(space, Shape):
        return space
    if isinstance(space, bool):
        raise TypeError(f"{name} must be a positive int, a Shape or a tuple of spaces, "
                        f"got {space!r}")
    if isinstance(space, (int, np.integer)):
        if space <= 0:
            raise ValueError(f"{name} must be a positive dimension, got {space}")
        return int(space)
    if isinstance(space, tuple) and space:
        return tuple(check_space(s, name) for s in space)
    raise TypeError(f"{name} must be a positive int, a Shape or a non-empty tuple of spaces, "
                    f"got {space!r}")


def dim(space: Space) -> int:
    """Total dimension of a space."""
    if isinstance(space, int):
        return space
    if isinstance(space, Shape):
        return space.dim
    return sum(dim(s) for s in space)


def describe(space: Space) -> str:
    """``R^3``, ``R^{3×8×8}`` or ``(R^3 x R^2)`` for messages."""
    if isinstance(space, int):
        return f"R^{space}"
    if isinstance(space, Shape):
        return "R^{" + "×".join(map(str, space.shape)) + "}"
    return "(" + " x ".join(describe(s) for s in space) + ")"


def flatten(point, space: Space) -> np.ndarray:
    """One array with the space's axes flattened (C order) into the last axis; the blocks of
    a product concatenated along it."""
    if isinstance(space, int):
        return point
    if isinstance(space, Shape):
        return point.reshape(point.shape[:point.ndim - space.ndim] + (space.dim,))
    return np.concatenate([flatten(p, s) for p, s in zip(point, space)], axis=-1)


def unflatten(array: np.ndarray, space: Space):
    """Inverse of :func:`flatten`: split (and reshape) the last axis of ``array`` into the
    blocks of ``space``."""
    if isinstance(space, int):
        return array
    if isinstance(space, Shape):
        return array.reshape(array.shape[:-1] + space.shape)
    out, start = [], 0
    for s in space:
        n = dim(s)
        out.append(unflatten(array[..., start:start + n], s))
        start += n
    return tuple(out)


def zeros(space: Space, lead: tuple) -> object:
    """A zero point (or factor) with leading axes ``lead``."""
    if is_array(space):
        return np.zeros(lead + point_shape(space))
    return tuple(zeros(s, lead) for s in space)


def map_point(fn, space: Space, *points):
    """Apply ``fn`` to the array blocks of points of ``space``."""
    if is_array(space):
        return fn(*points)
    return tuple(map_point(fn, s, *ps) for s, ps in zip(space, zip(*points)))


def batch_size(point, space: Space) -> int:
    """Number of samples ``S`` of a batched point."""
    return point.shape[0] if is_array(space) else batch_size(point[0], space[0])


def check_point(point, space: Space, name: str, *, lead: int = 1, n_samples=None,
                dtype=np.float64):
    """Validate a batched point (``lead=1``: ``(S, *shape)``) or factor (``lead=2``:
    ``(S, r, *shape)``).

    Returns the point converted to float64 arrays (``dtype=np.float32``: rounded to float32,
    for the float32 training path; :func:`refimpl._validation.as_float_array`). All blocks
    must share their leading axes.
    """
    if is_array(space):
        arr = as_float_array(point, name, dtype=dtype)
        shape = point_shape(space)
        if arr.ndim != lead + len(shape) or arr.shape[lead:] != shape:
            want = ("(S, " if lead == 1 else "(S, r, ") + ", ".join(map(str, shape)) + ")"
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
