"""Finite-difference helpers shared by the tests (central differences, float64)."""
from __future__ import annotations

import numpy as np

H = 1e-6          # step; truncation ~H², rounding ~eps/H ⇒ relative accuracy ~1e-8..1e-9
FD_RTOL = 1e-6    # stated tolerance for comparisons with central differences


def central(fn, x, v, h=H):
    """``(fn(x + h v) − fn(x − h v)) / 2h`` for arrays (or tuples/dicts of arrays)."""
    return _lin(0.5 / h, fn(_axpy(x, h, v)), -0.5 / h, fn(_axpy(x, -h, v)))


def _axpy(x, h, v):
    if isinstance(x, dict):
        return {k: _axpy(x[k], h, v[k]) for k in x}
    if isinstance(x, tuple):
        return tuple(_axpy(a, h, b) for a, b in zip(x, v))
    return x + h * v


def _lin(a, x, b, y):
    if isinstance(x, dict):
        return {k: _lin(a, x[k], b, y[k]) for k in x}
    if isinstance(x, tuple):
        return tuple(_lin(a, p, b, q) for p, q in zip(x, y))
    return a * x + b * y


def rel_err(a, b) -> float:
    """max |a − b| / max(max |b|, 1e-300): a relative error over the whole array."""
    a, b = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    return float(np.max(np.abs(a - b)) / max(np.max(np.abs(b)), 1e-300)) if b.size else 0.0


def random_like(rng, x):
    if isinstance(x, dict):
        return {k: random_like(rng, v) for k, v in x.items()}
    if isinstance(x, tuple):
        return tuple(random_like(rng, v) for v in x)
    return rng.standard_normal(np.shape(x))


def vdot(a, b) -> float:
    if isinstance(a, dict):
        return sum(vdot(a[k], b[k]) for k in a)
    if isinstance(a, tuple):
        return sum(vdot(p, q) for p, q in zip(a, b))
    return float(np.vdot(a, b))
