"""The diagonal mass ``M`` (:ref:`math §4 <math-4>`): the metric's own part on the parameters.

``G_l = M_l + B̃_lᵀB̃_l`` with ``M`` positive and diagonal, given as

- a scalar ``μ > 0``: ``M = μ I`` on every parameter;
- a tree of positive arrays shaped like the parameters: one value per parameter. A matrix
  leaf whose values form an outer product ``u vᵀ`` (Kronecker-structured, e.g. per-row times
  per-column scales of ``W``) is recognised once, when the mass is parsed, and lets a linear
  module use a cheaper formula (:class:`refimpl.modules.linear.LinearBlock`).

:meth:`Mass.parse` validates once; every later use reads the parsed object. Zero, negative,
non-finite or misshapen values are errors naming what arrived. Scalars may be Python or NumPy
numbers or 0-d arrays (the way the golden files store them).
"""
from __future__ import annotations

import numpy as np

from .. import tree
from .._validation import as_dtype, as_float_array, as_real_scalar, is_real_scalar

#: relative tolerance of the rank-one test of a matrix mass leaf (values within rounding of
#: an outer product use the Kronecker formula; the formulas agree to rounding)
RANK_ONE_RTOL = 1e-13


class Mass:
    """A parsed diagonal mass (scalar or per parameter); see the module docstring.

    Use :meth:`parse`; :meth:`at` gives the mass of one module (a subtree), which is what a
    block (:mod:`refimpl.modules.blocks`) reads: :attr:`scalar`, :meth:`inverse`,
    :meth:`kron`, :meth:`flat_inverse`.

    Attributes
    ----------
    scalar : float or None
        ``μ`` for ``M = μ I``; ``None`` for a mass given per parameter.
    values : dict or None
        The per-parameter tree of float64 arrays (``None`` for a scalar mass).
    """

    __slots__ = ("scalar", "values", "_kron")

    def __init__(self, scalar=None, values=None, kron=None):
        self.scalar, self.values, self._kron = scalar, values, kron or {}

    # -- construction -------------------------------------------------------------------------
    @classmethod
    def parse(cls, mass, like) -> "Mass":
        """Validate ``mass`` against ``like`` (a parameter tree or a tree of shapes).

        Raises
        ------
        TypeError
            Neither a number nor a tree (nor a :class:`Mass`).
        ValueError
            Not positive and finite, or a tree that does not match the parameters.
        """
        shapes = _shapes(like)
        if isinstance(mass, Mass):
            if mass.scalar is None and _shapes(mass.values) != shapes:
                raise ValueError("mass tree must match the parameters: expected "
                                 f"{_describe(shapes)}, got {_describe(_shapes(mass.values))}")
            return mass
        mu = _as_scalar(mass)
        if mu is not None:
            if not np.isfinite(mu) or mu <= 0.0:
                raise ValueError(f"mass must be finite and > 0, got {mass!r}")
            return cls(scalar=mu)
        if not isinstance(mass, dict):
            raise TypeError("mass must be a positive number or a tree of positive arrays "
                            f"shaped like the parameters, got {type(mass).__name__}")
        got = {p: np.shape(v) for p, v in tree.items(mass)}
        if got != shapes:
            raise ValueError("mass tree must match the parameters: expected "
                             f"{_describe(shapes)}, got {_describe(got)}")

        def check(path, leaf):
            arr = as_float_array(leaf, f"mass[{path!r}]")
            if np.any(arr <= 0.0):
                raise ValueError(f"mass values must be > 0, got minimum {arr.min()!r} at "
                                 f"{path!r}")
            return arr

        values = tree.from_paths(mass, {p: check(p, v) for p, v in tree.items(mass)})
        kron = {p: uv for p, v in tree.items(values) if (uv := _outer_factors(v)) is not None}
        return cls(values=values, kron=kron)

    def astype(self, dtype) -> "Mass":
        """This mass with its per-parameter arrays in ``dtype`` (float32 for the float32
        training path, so that nothing upcasts the step); a scalar mass is itself."""
        if self.scalar is not None or np.dtype(dtype) == np.float64:
            return self

        def cast(path, a):
            return as_dtype(a, dtype, f"mass[{path!r}]")

        return Mass(values=tree.from_paths(self.values, {p: cast(p, v) for p, v in
                                                         tree.items(self.values)}),
                    kron={p: (cast(p, u), cast(p, v)) for p, (u, v) in self._kron.items()})

    # -- one module ---------------------------------------------------------------------------
    def at(self, path: str) -> "Mass":
        """The mass of the module (subtree) at ``path``."""
        if self.scalar is not None or path == "":
            return self
        prefix = path.rstrip("/") + "/"
        return Mass(values=tree.get(self.values, path),
                    kron={p[len(prefix):]: uv for p, uv in self._kron.items()
                          if p.startswith(prefix)})

    def inverse(self, key: str):
        """``1/M`` of the leaf ``key``: a float (scalar mass) or an array like the leaf."""
        return 1.0 / self.scalar if self.scalar is not None else 1.0 / self.values[key]

    def kron(self, key: str):
        """``(u, v)`` with ``M[key] = u vᵀ`` for a matrix leaf that is an outer product."""
        return self._kron.get(key)

    def flat(self, shapes: dict) -> np.ndarray:
        """``M``'s diagonal in the flat order of ``shapes`` (``{leaf path: shape}``)."""
        if self.scalar is not None:
            return np.full(sum(int(np.prod(s)) for s in shapes.values()), self.scalar)
        return np.concatenate([np.ravel(tree.get(self.values, k)) for k in shapes])

    def flat_inverse(self, shapes: dict) -> np.ndarray:
        """``1/M`` in the flat order of ``shapes``."""
        return 1.0 / self.flat(shapes)

    def minimum(self) -> float:
        """``μ = min M`` (:ref:`math §7 <math-7>`: ``λ_min(G) ≥ μ``)."""
        if self.scalar is not None:
            return self.scalar
        return float(min(leaf.min() for leaf in tree.leaves(self.values)))

    def describe(self):
        """A JSON-friendly summary: ``μ`` or ``"per-parameter"``."""
        return self.scalar if self.scalar is not None else "per-parameter"

    def __repr__(self):
        return f"Mass({self.scalar!r})" if self.scalar is not None else \
            f"Mass({tree.describe(self.values)})"


def check_mass(mass, params) -> float | dict:
    """Validate ``mass`` against the parameter tree: a float or a float64 tree (the plain
    form of :meth:`Mass.parse`)."""
    parsed = Mass.parse(mass, params)
    return parsed.scalar if parsed.scalar is not None else parsed.values


def min_mass(mass) -> float:
    """``μ = min M`` (:ref:`math §7 <math-7>`) of a mass as given (number, tree or :class:`Mass`)."""
    if isinstance(mass, Mass):
        return mass.minimum()
    mu = _as_scalar(mass)
    if mu is not None:
        return mu
    return float(min(np.min(leaf) for leaf in tree.leaves(mass)))


# -- private ----------------------------------------------------------------------------------
def _as_scalar(mass):
    """``float(mass)`` for a real number, a NumPy scalar or a 0-d array; else ``None``. The
    dtype policy of :mod:`refimpl._validation` applies (bool and extended precision are a
    ``TypeError``)."""
    return as_real_scalar(mass, "mass") if is_real_scalar(mass) else None


def _shapes(like) -> dict:
    """``{path: shape}`` of a parameter tree or a tree of shapes."""
    return {p: tuple(v) if isinstance(v, tuple) else np.shape(v) for p, v in tree.items(like)}


def _describe(shapes: dict) -> str:
    return "{" + ", ".join(f"{p}: {s}" for p, s in shapes.items()) + "}"


def _outer_factors(M: np.ndarray):
    """``(u, v)`` with ``M = u vᵀ`` (to ``RANK_ONE_RTOL``) for a positive matrix, else None."""
    if M.ndim != 2:
        return None
    u, v = M[:, 0].copy(), M[0, :] / M[0, 0]
    if np.allclose(np.outer(u, v), M, rtol=RANK_ONE_RTOL, atol=0.0):
        return u, v
    return None
