"""Parameter trees: nested ``dict``s of named float64 arrays.

A module's parameters are a *tree*: a ``dict`` whose values are arrays (the leaves) or trees.
Keys are strings; order is insertion order, and that order defines the flat layout used by
dense Jacobians and dense metrics: leaves depth-first in key order, each leaf flattened in C
order. For an MLP this is ``W`` (C order) then ``b``, layer after layer.

These helpers never mutate their arguments.
"""
from __future__ import annotations

from typing import Callable, Iterator

import numpy as np

Tree = dict


def leaves(tree: Tree) -> list[np.ndarray]:
    """The leaves of ``tree`` in the canonical (depth-first, key) order."""
    return [leaf for _, leaf in items(tree)]


def items(tree: Tree, prefix: str = "") -> Iterator[tuple[str, np.ndarray]]:
    """``(path, leaf)`` pairs; a path joins keys with ``/`` (e.g. ``"0/W"``)."""
    for key, value in tree.items():
        path = f"{prefix}{key}"
        if isinstance(value, dict):
            yield from items(value, path + "/")
        else:
            yield path, value


def get(tree: Tree, path: str):
    """The subtree or leaf at ``path`` (keys joined by ``/``; ``""`` is the whole tree)."""
    node = tree
    for key in filter(None, path.split("/")):
        if not isinstance(node, dict) or key not in node:
            raise KeyError(f"no entry {path!r} in the tree {describe(tree)}")
        node = node[key]
    return node


def from_paths(like: Tree, parts: dict) -> Tree:
    """A tree with the structure of ``like`` whose subtrees at the paths of ``parts`` are
    ``parts[path]`` (``""`` replaces the whole tree).

    Every leaf of ``like`` must be covered by exactly one part: a leaf that no part covers is
    a ``ValueError`` (nothing is filled in silently). The parts are placed, not copied.
    """
    if "" in parts:
        if len(parts) > 1:
            raise ValueError(f"the whole tree ('') and other paths {sorted(parts)} overlap")
        return parts[""]

    out = _build_from_parts(like, "", parts)
    placed = {p for p in parts if _has_path(like, p)}
    if placed != set(parts):
        raise ValueError(f"paths {sorted(set(parts) - placed)} are not in the tree "
                         f"{describe(like)}")
    return out


def _build_from_parts(node, prefix, parts):
    # a module-level recursion: a nested function that calls itself is a reference cycle,
    # which would keep ``parts`` (the arrays) alive until the cyclic garbage collector runs
    if not isinstance(node, dict):
        raise ValueError(f"no part covers the leaf {prefix.rstrip('/')!r}")
    out = {}
    for key, child in node.items():
        path = prefix + key
        out[key] = parts[path] if path in parts else _build_from_parts(child, path + "/", parts)
    return out


def _has_path(tree, path):
    try:
        get(tree, path)
        return True
    except KeyError:
        return False


def tree_map(fn: Callable, tree: Tree, *rest: Tree) -> Tree:
    """Apply ``fn`` leafwise to ``tree`` and trees of the same structure."""
    out = {}
    for key, value in tree.items():
        others = [r[key] for r in rest]
        out[key] = tree_map(fn, value, *others) if isinstance(value, dict) else fn(value, *others)
    return out


def size(tree: Tree) -> int:
    """Total number of scalars in the tree."""
    return int(sum(np.size(leaf) for leaf in leaves(tree)))


def flatten(tree: Tree) -> np.ndarray:
    """Concatenate the leaves (C order) into one float64 vector."""
    parts = [np.ravel(leaf) for leaf in leaves(tree)]
    return np.concatenate(parts) if parts else np.zeros(0)


def unflatten(like: Tree, vector: np.ndarray) -> Tree:
    """Inverse of :func:`flatten`: a tree shaped like ``like`` holding ``vector``'s entries
    (float64; a float32 vector keeps its type, for the float32 training path)."""
    vector = np.asarray(vector)
    if vector.dtype != np.float32:
        vector = vector.astype(np.float64, copy=False)
    if vector.shape != (size(like),):
        raise ValueError(f"vector must have shape ({size(like)},) to fill the tree, "
                         f"got {vector.shape}")
    offset = [0]

    def take(leaf):
        n = np.size(leaf)
        part = vector[offset[0]:offset[0] + n].reshape(np.shape(leaf))
        offset[0] += n
        return part.copy()

    return tree_map(take, like)


def vdot(a: Tree, b: Tree) -> float:
    """Euclidean inner product of two trees of the same structure."""
    return float(sum(np.vdot(x, y) for x, y in zip(leaves(a), leaves(b))))


def zeros_like(tree: Tree) -> Tree:
    return tree_map(np.zeros_like, tree)


def add(a: Tree, b: Tree, scale: float = 1.0) -> Tree:
    """``a + scale * b`` leafwise."""
    return tree_map(lambda x, y: x + scale * y, a, b)


def same_structure(a: Tree, b: Tree) -> bool:
    """True when ``a`` and ``b`` have the same keys and leaf shapes."""
    if not (isinstance(a, dict) and isinstance(b, dict)) or list(a) != list(b):
        return False
    for key in a:
        x, y = a[key], b[key]
        if isinstance(x, dict) or isinstance(y, dict):
            if not same_structure(x, y):
                return False
        elif np.shape(x) != np.shape(y):
            return False
    return True


def describe(tree: Tree) -> str:
    """One-line summary ``{path: shape, ...}`` for error messages."""
    return "{" + ", ".join(f"{p}: {tuple(np.shape(v))}" for p, v in items(tree)) + "}"
