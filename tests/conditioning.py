"""Error bounds that follow the case's conditioning (float64), shared by the tests.

A backward-stable solve of ``A x = b`` has a forward error of order ``ε·cond(A)`` (``ε`` =
2.2e-16), whatever the BLAS: README "Accuracy of the metric solves" measures about
``0.1·ε·cond(G)`` for every solve form refimpl has (Woodbury (2), push-through (3′), primal
Cholesky, mixed precision). Two such solves differ by at most the sum of their errors. So
every quantity that passes through a metric inverse — a solve, a step, an update, the NTK
``J G⁻¹ Jᵀ``, a disturbance — is compared, relative to its size (``fd.rel_err``), with

    solve_tol(κ) = SOLVE_C · ε · κ,        SOLVE_C = 50,

``κ`` the 2-norm condition number computed in the test for the case at hand, never a number
that one machine's rounding happens to meet. Measured over the suite, ``error / (ε·κ)`` is
0.1–0.2 at large ``κ`` and at most 6.4 where ``κ`` is small (a golden update at ``κ = 8.3``:
there the rounding of the products around the solve, a few tens of ε, dominates), so
``SOLVE_C = 50`` leaves ≥ 7× margin for other BLAS builds. A wrong formula (a dropped mass
term, a missing sample, a sign) errs by O(1) and fails at any ``κ`` here.

The Woodbury form moves the conditioning into its inner matrix ``K = I + B̃ M⁻¹ B̃ᵀ``, which
can be far worse conditioned than ``G`` when ``S·r > n`` (README: ``cond(G) = 330`` against
``cond(K) = 5.6e5``). The eigenvalues of ``K`` are 1 and those of ``M^{-½} G M^{-½}``
(both are ``1 + σᵢ²``, ``σᵢ`` the singular values of ``B̃ M^{-½}``), so ``λ_max`` of that
matrix bounds ``cond(K)``: :func:`metric_condition` takes the larger of the two, which covers
every form of the solve.
"""
from __future__ import annotations

import numpy as np

from refimpl import tree

EPS = float(np.finfo(np.float64).eps)
SOLVE_C = 50.0


def cond(A) -> float:
    """2-norm condition number; from the eigenvalues when ``A`` is symmetric."""
    A = np.asarray(A, dtype=float)
    if A.ndim == 2 and A.shape[0] == A.shape[1] and np.array_equal(A, A.T):
        w = np.abs(np.linalg.eigvalsh(A))
        return float(w.max() / w.min()) if w.min() > 0 else np.inf
    return float(np.linalg.cond(A))


def metric_condition(G, mass) -> float:
    """``max(cond₂(G), λ_max(M^{-½} G M^{-½}))`` for ``G = M + B̃ᵀB̃``: the conditioning of
    a solve with ``G`` in the primal form and, through the bound on ``cond₂(K)``, in the
    Woodbury and push-through forms. ``mass``: a scalar, a flat array or a parameter tree."""
    G = np.asarray(G, dtype=float)
    m = tree.flatten(mass) if isinstance(mass, dict) else np.broadcast_to(
        np.asarray(mass, dtype=float), G.shape[:1])
    s = 1.0 / np.sqrt(m)
    scaled = s[:, None] * G * s[None, :]
    return max(cond(G), float(np.linalg.eigvalsh(0.5 * (scaled + scaled.T))[-1]))


def solve_tol(kappa: float, c: float = SOLVE_C) -> float:
    """``c · ε · κ``: the bound on the relative error of a quantity solved with a matrix of
    condition ``κ`` (see the module docstring)."""
    return c * EPS * float(kappa)


def golden_conditions(case) -> dict:
    """:func:`metric_condition` of each ``G`` of a golden case (``refimpl.oracle.testing.Case``),
    from its stored metric and mass: ``{module path: κ_m, ..., "network": κ}``."""
    masses = {}
    for m in case.modules:
        n = case.arrays["metric/" + m if m else "metric"].shape[0]
        masses[m] = (np.full(n, case.mass) if isinstance(case.mass, float) else
                     np.concatenate([case.mass[p].ravel() for p in case.param_names
                                     if (p.rsplit("/", 1)[0] if "/" in p else "") == m]))
    out = {m: metric_condition(case.arrays["metric/" + m if m else "metric"], masses[m])
           for m in case.modules}
    out["network"] = metric_condition(case.arrays["metric_network"],
                                      np.concatenate([masses[m] for m in case.modules]))
    return out
