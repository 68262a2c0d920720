"""Conjugate gradients on an SPD system given only by its product ``x ↦ K x`` (docs: the
metric, problems too big for a direct solve).

For a batch whose inner matrix ``K = I + B̃ M⁻¹ B̃ᵀ`` (``S·r × S·r``) does not fit in memory,
the Woodbury solves (eq. 2, 3′) need only ``K⁻¹ c`` for one or two right-hand sides; the
blocks give the product ``K x`` without forming ``K`` (:meth:`refimpl.modules.Block.
inner_matvec`) and their per-sample diagonal blocks ``K_ss`` (``r × r``), whose inverses are
the preconditioner (block Jacobi). This is a textbook preconditioned CG (Hestenes–Stiefel;
Saad, *Iterative Methods for Sparse Linear Systems*, Alg. 9.1), written out rather than taken
from ``scipy.sparse.linalg.cg`` because the solver needs what SciPy does not return: the
coefficients of each iteration (a Lanczos estimate of the condition number) and the true
residual ``‖b − K x‖`` at the end, checked against the stated tolerance.

Convergence: the iteration stops when the recursively updated residual is below
``rtol·‖b‖``; the true residual is then computed, and the solve is accepted when it is below
``rtol·‖b‖`` too (else the iteration continues from the true residual). Reaching ``maxiter``
raises :class:`ConvergenceError` with the residual reached. In floating point the attainable
relative residual is about ``ε·cond(K)``: a tolerance below that cannot be met.
"""
from __future__ import annotations

import numpy as np

from .._validation import as_positive_float

#: default relative residual ``‖b − K x‖ / ‖b‖`` of a solve
CG_RTOL = 1e-10
#: default iteration limit (beyond ``size`` iterations CG has no guarantee in exact arithmetic
#: either; in floating point it may need more)
CG_MAXITER = 5000


class ConvergenceError(RuntimeError):
    """An iterative solve did not reach its tolerance within its iteration limit."""


class CGInner:
    """``K x = b`` by preconditioned conjugate gradients; ``K`` only as a product.

    Parameters
    ----------
    matvec : callable
        ``x ↦ K x`` for ``x`` of shape ``(size, 1)``, float64 (or float32, for a float32
        right-hand side: the float32 training path); ``K`` symmetric positive definite.
    size : int
        The order of ``K``.
    preconditioner : callable, optional
        ``r ↦ P⁻¹ r`` for an SPD ``P ≈ K``, on ``(size,)`` arrays; the identity if omitted.
    rtol : float, default 1e-10
        Relative residual ``‖b − K x‖₂ / ‖b‖₂`` each solve must reach.
    maxiter : int, default 5000

    Attributes
    ----------
    iterations : list of int
        Iterations of each solve so far.
    residuals : list of float
        The final relative residual of each solve (true, not recursive).
    """

    precision = "double"

    def __init__(self, matvec, size: int, *, preconditioner=None, rtol: float = CG_RTOL,
                 maxiter: int = CG_MAXITER):
        rtol = as_positive_float(rtol, "rtol")
        if rtol >= 1.0:
            raise ValueError(f"rtol must be below 1 (a relative residual), got {rtol!r}")
        if isinstance(maxiter, bool) or not isinstance(maxiter, (int, np.integer)) or maxiter < 1:
            raise ValueError(f"maxiter must be a positive int, got {maxiter!r}")
        self.matvec, self.size = matvec, int(size)
        self.preconditioner = preconditioner if preconditioner is not None else (lambda r: r)
        self.rtol, self.maxiter = float(rtol), int(maxiter)
        self.iterations: list[int] = []
        self.residuals: list[float] = []
        self._coefficients: tuple[list, list] = ([], [])

    def solve(self, C: np.ndarray) -> np.ndarray:
        """``K⁻¹ C`` for ``C`` holding ``size`` numbers (same shape returned), to ``rtol``."""
        b = np.asarray(C)                  # float64, or a float32 system's own float32
        b = (b if b.dtype == np.float32 else b.astype(np.float64)).reshape(-1)
        self.precision = "single" if b.dtype == np.float32 else "double"
        b_norm = float(np.linalg.norm(b))
        if not np.isfinite(b_norm):
            raise ValueError("the right-hand side of the inner system is not finite")
        x = np.zeros_like(b)
        if b_norm == 0.0:
            self._record(0, 0.0, [], [])
            return x.reshape(np.shape(C))
        target = self.rtol * b_norm
        r = b.copy()
        z = self.preconditioner(r)
        p = z.copy()
        rz = float(r @ z)
        alphas, betas = [], []
        for it in range(1, self.maxiter + 1):
            Kp = self._product(p)
            pKp = float(p @ Kp)
            if not pKp > 0.0:
                raise ConvergenceError(
                    f"conjugate gradients broke down at iteration {it} (pᵀKp = {pKp:.3g}): the "
                    "inner matrix is not positive definite in floating point")
            alpha = rz / pKp
            x += alpha * p
            r -= alpha * Kp
            alphas.append(alpha)
            if np.linalg.norm(r) <= target:
                r = b - self._product(x)                   # the true residual decides
                true = float(np.linalg.norm(r))
                if true <= target:
                    self._record(it, true / b_norm, alphas, betas)
                    return x.reshape(np.shape(C))
            z = self.preconditioner(r)
            rz_new = float(r @ z)
            beta = rz_new / rz
            betas.append(beta)
            p *= beta
            p += z
            rz = rz_new
        reached = float(np.linalg.norm(b - self._product(x))) / b_norm
        self._record(self.maxiter, reached, alphas, betas)
        raise ConvergenceError(
            f"conjugate gradients did not reach the relative residual {self.rtol:.1e} in "
            f"{self.maxiter} iterations (reached {reached:.2e}); the inner system is too "
            "ill-conditioned for the tolerance: raise the mass, loosen cg_rtol, or use a "
            "direct method on a smaller batch")

    def condition(self) -> float:
        """Lanczos estimate of the condition of the preconditioned ``K`` from the last solve
        (the extreme eigenvalues of CG's tridiagonal matrix: lower bound, usually close)."""
        alphas, betas = self._coefficients
        if not alphas:
            return 1.0
        k = len(alphas)
        d = np.empty(k)
        e = np.empty(max(k - 1, 0))
        for i, a in enumerate(alphas):
            d[i] = 1.0 / a + (betas[i - 1] / alphas[i - 1] if i else 0.0)
            if i < k - 1:
                e[i] = np.sqrt(betas[i]) / a
        lam = np.linalg.eigvalsh(np.diag(d) + np.diag(e, 1) + np.diag(e, -1))
        return float(lam[-1] / lam[0]) if lam[0] > 0 else float("inf")

    # -- private -----------------------------------------------------------------------------
    def _product(self, v: np.ndarray) -> np.ndarray:
        return self.matvec(v.reshape(-1, 1)).reshape(-1)

    def _record(self, iterations, residual, alphas, betas):
        self.iterations.append(int(iterations))
        self.residuals.append(float(residual))
        self._coefficients = (alphas, betas[:max(len(alphas) - 1, 0)])
