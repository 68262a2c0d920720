"""The diagonal mass ``M_l`` of each module (SPEC §4): the metric's own part on ``W_l``.

A mass is a positive scalar ``μ`` (``M = μ I`` on every parameter) or a tree of positive
arrays shaped like the parameters (one value per parameter). Zero, negative or non-finite
values are errors.
"""
from __future__ import annotations

import numbers

import numpy as np

from .. import tree
from .._validation import as_float_array


def check_mass(mass, params: dict):
    """Validate ``mass`` against the parameter tree; return a float or a float64 tree."""
    if isinstance(mass, numbers.Real) and not isinstance(mass, bool):
        mu = float(mass)
        if not np.isfinite(mu) or mu <= 0.0:
            raise ValueError(f"mass must be finite and > 0, got {mass!r}")
        return mu
    if not isinstance(mass, dict):
        raise TypeError("mass must be a positive number or a tree of positive arrays shaped "
                        f"like the parameters, got {type(mass).__name__}")
    want = {p: np.shape(v) for p, v in tree.items(params)}
    got = {p: np.shape(v) for p, v in tree.items(mass)}
    if want != got:
        raise ValueError("mass tree must match the parameters: expected "
                         f"{tree.describe(params)}, got {tree.describe(mass)}")

    def check(leaf):
        arr = as_float_array(leaf, "mass")
        if np.any(arr <= 0.0):
            raise ValueError(f"mass values must be > 0, got minimum {arr.min()!r}")
        return arr

    return tree.tree_map(check, mass)


def at_path(t, path: str):
    """The subtree or scalar at ``path`` (``"a/b"``); a scalar mass is the same everywhere."""
    if not isinstance(t, dict):
        return t
    for key in filter(None, path.split("/")):
        t = t[key]
    return t


def min_mass(mass) -> float:
    """``μ = min M`` (SPEC §7)."""
    return mass if not isinstance(mass, dict) else float(min(l.min() for l in tree.leaves(mass)))
