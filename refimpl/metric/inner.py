"""Factorised SPD systems (SPEC §4, Lemma 1): the Woodbury inner matrix ``K`` (or the primal
``G``).

Three ways to hold ``K = I + B̃ M⁻¹ B̃ᵀ`` (``S·r × S·r``), each with ``solve(C)`` for a
right-hand side of any shape holding ``size`` numbers (``(S, r)`` for ``K``, sample-major),
``size`` and a ``condition()`` estimate; :func:`factorize` picks between the first two:

- :class:`CholeskyInner`: ``K = L Lᵀ`` by :func:`cholesky_lower`, solved by the Numba
  substitution kernel; cost ``(S·r)³/3``.
- :class:`RefinedCholeskyInner`: the same factorisation done in float32 (twice the speed),
  each solve refined in float64 until its residual meets the test of LAPACK's mixed-precision
  driver DSPOSV — a backward error of order ``ε₆₄``, as a float64 Cholesky solve gives — with
  a float64 factorisation as the fallback. Used for float64 systems of size ``≥ MIXED_MIN``.
- :class:`SharedFactorInner`: when every sample has the *same* factor rows ``R_s = R_0`` (the
  last linear layer under a constant output metric, e.g. the identity: ``R_L = Fᵀ = I``) and
  the mass is scalar, ``K = I + (1/S) E ⊗ C`` with ``C = R_0 R_0ᵀ`` (``r × r``) and
  ``E = (AAᵀ/μ_W + 1/μ_b)`` (``S × S``). With ``C = Q Λ Qᵀ``, ``K`` splits into ``r``
  independent ``S × S`` systems ``(I + λ_j E / S) y_j = z_j`` in the basis ``Q``: cost
  ``r S³/3`` instead of ``(S r)³/3`` (for ``r = 10``, a 100× saving). Equal eigenvalues share
  one factorisation (for ``F = I`` all ``λ_j = 1``: a single ``S × S`` Cholesky).

Only the lower triangle of a matrix handed to these classes is read.
"""
from __future__ import annotations

import numpy as np

from .. import _scratch
from .._validation import check_choice
from . import _kernels

#: block size of :func:`cholesky_lower`: the unblocked Numba kernel factors ``NB × NB``
#: diagonal blocks, NumPy's BLAS does the rest (``O(n³)``) as matrix products
NB = 64
#: up to this size ``numpy.linalg.cholesky`` (LAPACK) is used as it is
SMALL = 256
#: ``precision="auto"``: float64 systems at least this large get :class:`RefinedCholeskyInner`
#: (measured on the benchmark machine: the float32 factorisation's saving equals the cost of
#: the refinement at about 640–900; at 1280 the step takes 30 ms instead of 39)
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

    ``precision``: ``"double"`` — :class:`CholeskyInner` (the factorisation in ``K``'s own
    float type); ``"mixed"`` — :class:`RefinedCholeskyInner` for a float64 ``K`` (a float32
    ``K`` is factorised directly); ``"auto"`` — mixed for float64 systems of size
    ``≥ MIXED_MIN`` (1024), where the float32 factorisation saves more than the refinement
    costs.
    ``overwrite=True``: the caller gives up ``K`` (factorised in place, or kept by the
    refined solver for its residuals).
    """
    check_choice(precision, "precision", PRECISIONS)
    if use_mixed(K.shape[0], precision) and K.dtype == np.float64:
        return RefinedCholeskyInner.from_matrix(K if overwrite else K.copy())
    return CholeskyInner(K, overwrite=overwrite)


def cholesky_lower(K: np.ndarray, nb: int = NB, small: int = SMALL) -> np.ndarray:
    """Cholesky factor of the SPD matrix ``K`` *in place*: on return the lower triangle of
    ``K`` holds ``L`` with ``K = L Lᵀ``; the strict upper triangle is not meaningful.

    For ``n ≤ small``, NumPy's LAPACK (``numpy.linalg.cholesky`` of the lower triangle).
    Above, a left-looking
    blocked algorithm on block columns ``J = [k, k + nb)``:

        K[k:, J] −= L[k:, :k] L[J, :k]ᵀ       (one GEMM: the updates from the columns to the
                                              left; subtracted on the diagonal block's lower
                                              triangle only)
        L[J, J]   = chol(K[J, J])             (Numba kernel, which also returns L[J, J]⁻¹)
        L[k+nb:, J] = K[k+nb:, J] L[J, J]⁻ᵀ    (GEMM: the panel below the diagonal block)

    so that the ``n³/3`` flops are matrix products on NumPy's BLAS (the same thread pool as
    the Gram products; SciPy's LAPACK would bring a second one). The updated panel is kept in
    the update product's memory and the panel product written straight into ``K`` (no
    temporaries beyond ``P``, one pass over the panel fewer). Measured on the benchmark
    machine (``n = 1280``, 2 threads; ``benchmarks/README.md``): about 12.7 ms, against 49 ms
    for ``numpy.linalg.cholesky``; SciPy's ``dpotrf`` takes 11.8 ms in a single call on its
    own, but in the step, right after NumPy's products, the two OpenBLAS thread pools compete
    for the cores (20–80 ms). The strict upper triangle of
    ``K`` is never read or written (it may hold anything, even uninitialised memory). Raises
    ``numpy.linalg.LinAlgError`` if ``K`` is not positive definite.
    """
    n = K.shape[0]
    if n <= small:                              # np.tril: numpy.linalg.cholesky rejects a
        K[...] = np.linalg.cholesky(np.tril(K))     # non-finite upper triangle
        return K
    inv = np.empty((nb, nb), dtype=K.dtype)
    lower = np.tri(nb, dtype=bool)
    for k in range(0, n, nb):
        e = min(k + nb, n)
        if k:
            P = K[k:, :k] @ K[k:e, :k].T         # the block column's update, one product
            np.subtract(K[k:e, k:e], P[:e - k], out=K[k:e, k:e], where=lower[:e - k, :e - k])
            panel = np.subtract(K[e:, k:e], P[e - k:], out=P[e - k:])   # in P's memory
        else:
            panel = K[e:, k:e]
        Di = inv[:e - k, :e - k]
        info = _kernels.cholesky_block(K[k:e, k:e], Di, e < n)
        if info:
            raise np.linalg.LinAlgError(
                f"matrix is not positive definite (leading minor of order {k + info})")
        if e < n:
            if k:
                np.matmul(panel, Di.T, out=K[e:, k:e])
            else:
                K[e:, k:e] = panel @ Di.T
    return K


class CholeskyInner:
    """A dense SPD matrix held by its Cholesky factor (lower triangle of ``L``).

    ``overwrite=True`` factorises ``K`` in place (the caller gives up ``K``).
    """

    def __init__(self, K: np.ndarray, overwrite: bool = False):
        self.size = K.shape[0]
        self.L = cholesky_lower(K if overwrite else K.copy())

    @property
    def precision(self) -> str:
        """``"double"`` (float64 factor) or ``"single"`` (a float32 system's own factor)."""
        return "double" if self.L.dtype == np.float64 else "single"

    def solve(self, C: np.ndarray) -> np.ndarray:
        return _kernels.cholesky_solve(self.L, C.reshape(-1, 1)).reshape(C.shape)

    def condition(self) -> float:
        """``(max diag L / min diag L)²``: a cheap lower bound on the 2-norm condition."""
        d = np.abs(np.diag(self.L))
        return float((d.max() / d.min()) ** 2)


class RefinedCholeskyInner:
    """An SPD system ``K x = b`` solved in float64 with a float32 Cholesky factor
    (mixed-precision iterative refinement, as LAPACK's DSPOSV does) — the inner solve
    ``K⁻¹ c̃`` of Woodbury (SPEC §4, eq. 2) and of the push-through form (3′).

    A float32 approximation of ``K`` is factorised, ``K ≈ L Lᵀ``, at twice the float64 speed.
    A solve starts from ``x = (L Lᵀ)⁻¹ b`` and repeats, in float64,

        r = b − K x,        d = (L Lᵀ)⁻¹ r,        x ← x + d

    as long as the steps shrink. Each step multiplies the error by a rate ``ρ`` of about
    ``cond(K)·ε₃₂`` (measured as the ratio of successive steps), so the error left after a
    step ``d`` is about ``ρ·max|d|``: the iteration stops when that is below ``ε max|x|``
    (``ε = 2⁻⁵³``), when ``ρ > ½`` (the steps stall at rounding level), or after
    ``ITERMAX`` steps — two steps for a well-conditioned ``K`` — and ends where a float64
    solve's rounding does: a forward error of order ``cond(K)·ε``. The result is accepted if
    it passes LAPACK DSPOSV's test ``max|r| ≤ √n · max|x| · ‖K‖∞ · ε`` (a normwise backward error of
    order ``ε``). (DSPOSV stops as soon as that test passes; going on until the steps stop
    shrinking gains the factor ``√n`` the test allows: measured, stopping at the test left
    errors 15× those of a float64 Cholesky solve at ``cond(K) = 6·10⁵``.) When the float32
    factorisation is not possible (an entry of ``K`` beyond float32's range, as LAPACK's
    DLAG2S checks, or ``K`` not positive definite in float32: ``cond(K) ≳ 1/ε₃₂``) or the
    result fails the test (a non-finite residual included, unless ``b`` itself is not
    finite), ``K`` is factorised in float64 (:class:`CholeskyInner`) and that factor is used
    from then on.

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
        fallback's factorisation): its residuals are products with ``K`` itself
        (:func:`~refimpl.metric._kernels.symv_lower`)."""
        K32 = _scratch.empty(K.shape, np.float32)
        _kernels.copy_lower(K, K32)
        return cls(K32, lambda x: _kernels.symv_lower(K, x), lambda: K)

    @property
    def precision(self) -> str:
        """``"mixed"``, or ``"mixed→double"`` once the float64 fallback has been taken."""
        return "mixed" if self._double is None else "mixed→double"

    def solve(self, C: np.ndarray) -> np.ndarray:
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


class SharedFactorInner:
    """``K = I + (1/S) E ⊗ C`` (sample-major), solved in the eigenbasis of ``C``."""

    def __init__(self, E: np.ndarray, C: np.ndarray, S: int):
        self.S, self.r = E.shape[0], C.shape[0]
        self.size = self.S * self.r
        lam, self.Q = np.linalg.eigh(C)
        lam = np.clip(lam, 0.0, None)                   # C is PSD; clip rounding below 0
        # one factorisation per distinct eigenvalue; columns[g] are the j with λ_j = lam[g]
        self.lam, group = np.unique(lam, return_inverse=True)
        self.columns = [np.flatnonzero(group == g) for g in range(self.lam.size)]
        self.L = []
        for l in self.lam:
            M = (l / S) * E
            M[np.diag_indices(self.S)] += 1.0
            self.L.append(cholesky_lower(M))

    def solve(self, C: np.ndarray) -> np.ndarray:
        Z = C.reshape(self.S, self.r) @ self.Q          # into the eigenbasis of C
        Y = np.empty_like(Z)
        for L, cols in zip(self.L, self.columns):
            Y[:, cols] = _kernels.cholesky_solve(L, np.ascontiguousarray(Z[:, cols]))
        return (Y @ self.Q.T).reshape(C.shape)

    @property
    def precision(self) -> str:
        """``"double"`` (float64 factors) or ``"single"`` (a float32 system's own)."""
        return "double" if self.L[0].dtype == np.float64 else "single"

    def condition(self) -> float:
        d = np.concatenate([np.abs(np.diag(L)) for L in self.L])
        return float((d.max() / d.min()) ** 2)
