"""Mixed-precision iterative refinement of an SPD solve, and the rule :func:`factorize` that
decides between it and a float64 Cholesky factorisation (docs: the metric, solving ``K``).
"""
from __future__ import annotations

import numpy as np

from .._validation import check_choice
from . import _kernels, _scratch
from .cholesky import CholeskyInner, cholesky_lower

#: ``precision="auto"``: float64 systems at least this large get :class:`RefinedCholeskyInner`
#: (the size above which the float32 factorisation saves more than the refinement costs;
#: measured in ``benchmarks/README.md``)
MIXED_MIN = 1024
#: refinement steps before falling back to a float64 factorisation (DSPOSV's ``ITERMAX``)
ITERMAX = 30
#: the unit roundoff of float64, ``2⁻⁵³`` (LAPACK's ``DLAMCH('Epsilon')``)
EPS = 2.0 ** -53
PRECISIONS = ("auto", "double", "mixed")


def use_mixed(size: int, precision: str) -> bool:
    """Whether a float64 system of this size is factorised in float32 and refined."""
    return precision == "mixed" or (precision == "auto" and size >= MIXED_MIN)


def factorize(K: np.ndarray, *, overwrite: bool = False, precision: str = "auto"):
    """The SPD matrix ``K`` (lower triangle read) held for solves.

    ``precision``: ``"double"`` — :class:`~refimpl.linalg.CholeskyInner` (the factorisation
    in ``K``'s own float type); ``"mixed"`` — :class:`RefinedCholeskyInner` for a float64
    ``K`` (a float32 ``K`` is factorised directly); ``"auto"`` — mixed for float64 systems of
    size ``≥ MIXED_MIN``.
    ``overwrite=True``: the caller gives up ``K`` (factorised in place, or kept by the
    refined solver for its residuals).
    """
    check_choice(precision, "precision", PRECISIONS)
    if use_mixed(K.shape[0], precision) and K.dtype == np.float64:
        return RefinedCholeskyInner.from_matrix(K if overwrite else K.copy())
    return CholeskyInner(K, overwrite=overwrite)


class RefinedCholeskyInner:
    """An SPD system ``K x = b`` solved in float64 with a float32 Cholesky factor
    (mixed-precision iterative refinement, as LAPACK's DSPOSV does).

    A float32 approximation of ``K`` is factorised, ``K ≈ L Lᵀ``, at twice the float64 speed.
    A solve starts from ``x = (L Lᵀ)⁻¹ b`` and repeats, in float64,

        r = b − K x,        d = (L Lᵀ)⁻¹ r,        x ← x + d

    as long as the steps shrink. Each step multiplies the error by a rate ``ρ`` of about
    ``cond(K)·ε₃₂`` (measured as the ratio of successive steps), so the error left after a
    step ``d`` is about ``ρ·max|d|``: the iteration stops when that is below ``ε max|x|``
    (``ε = 2⁻⁵³``), when ``ρ > ½`` (the steps stall at rounding level), or after
    ``ITERMAX`` steps — and ends where a float64 solve's rounding does: a forward error of
    order ``cond(K)·ε``. The result is accepted if it passes LAPACK DSPOSV's test
    ``max|r| ≤ √n · max|x| · ‖K‖∞ · ε`` (a normwise backward error of order ``ε``); going on
    until the steps stop shrinking, rather than stopping as soon as the test passes as DSPOSV
    does, gains the factor ``√n`` the test allows. When the float32 factorisation is not
    possible (an entry of ``K`` beyond float32's range, as LAPACK's DLAG2S checks, or ``K``
    not positive definite in float32: ``cond(K) ≳ 1/ε₃₂``) or the result fails the test (a
    non-finite residual included, unless ``b`` itself is not finite), ``K`` is factorised in
    float64 (:class:`~refimpl.linalg.CholeskyInner`) and that factor is used from then on.

    Parameters
    ----------
    K32 : ndarray (n, n), float32
        ``K`` rounded to float32, or computed in float32 (lower triangle read); factorised in
        place.
    matvec : callable
        ``x ↦ K x`` in float64 for ``x`` of shape ``(n, 1)``: the residuals, so it defines the
        system that is solved.
    double : callable
        ``() ↦ K`` in float64 (lower triangle meaningful, may be overwritten): the fallback.

    Attributes
    ----------
    steps : list of int
        Refinement steps of each solve that used the float32 factor (``ITERMAX + 1`` marks
        the solve that fell back; later solves use the float64 factor and add nothing).
    """

    def __init__(self, K32: np.ndarray, matvec, double):
        self.size = K32.shape[0]
        self.matvec, self._make_double = matvec, double
        self.norm = _kernels.copy_lower(K32, K32)       # ‖K‖∞ (float32 rounding: a scale)
        self.steps = []
        self._double = None
        if not np.isfinite(self.norm):                  # beyond float32's range (or NaN):
            self._fall_back()                           # no float32 factor (LAPACK DLAG2S)
            return
        try:
            self.L = cholesky_lower(K32)
        except np.linalg.LinAlgError:
            self._fall_back()

    @classmethod
    def from_matrix(cls, K: np.ndarray) -> "RefinedCholeskyInner":
        """From ``K`` in float64 (lower triangle; kept, and overwritten only by the float64
        fallback's factorisation): its residuals are products with ``K`` itself."""
        K32 = _scratch.empty(K.shape, np.float32)
        _kernels.copy_lower(K, K32)
        return cls(K32, lambda x: _kernels.symv_lower(K, x), lambda: K)

    @property
    def precision(self) -> str:
        """``"mixed"``, or ``"mixed→double"`` once the float64 fallback has been taken."""
        return "mixed" if self._double is None else "mixed→double"

    def solve(self, C: np.ndarray) -> np.ndarray:
        """``K⁻¹ C`` in float64 for ``C`` of any shape holding ``size`` numbers."""
        if self._double is not None:
            return self._double.solve(C)
        b = np.asarray(C, dtype=np.float64).reshape(-1, 1)
        x = _kernels.cholesky_solve(self.L, b)
        r = b - self.matvec(x)
        previous = 0.0
        for step in range(1, ITERMAX + 1):
            d = _kernels.cholesky_solve(self.L, r)
            x += d
            r = b - self.matvec(x)
            d_max, x_max = np.abs(d).max(), np.abs(x).max()
            rate = d_max / previous if step > 1 else 1.0    # the error's contraction a step
            # done when the next step would be below rounding (or this one is), when the
            # steps stall, or on NaN (which then propagates)
            if not rate * d_max > EPS * x_max or (step > 1 and rate > 0.5):
                break
            previous = d_max
        r_max = np.abs(r).max()
        if r_max <= np.sqrt(self.size) * self.norm * EPS * x_max or (
                not np.isfinite(r_max) and not np.isfinite(b).all()):
            self.steps.append(step)             # converged, or a non-finite b propagated
            return x.reshape(C.shape)
        self.steps.append(ITERMAX + 1)
        self._fall_back()
        return self._double.solve(C)

    def condition(self) -> float:
        """``(max diag L / min diag L)²`` of the factor in use (a lower bound, as above)."""
        if self._double is not None:
            return self._double.condition()
        d = np.abs(np.diag(self.L)).astype(np.float64)
        return float((d.max() / d.min()) ** 2)

    def _fall_back(self):
        self._double = CholeskyInner(self._make_double(), overwrite=True)
        self.L = None
