"""Dense symmetric positive-definite linear algebra for the metric (no module types here).

The Woodbury form of the layer metric (docs: the metric, eq. 2–3′) needs one SPD system per
module, the inner matrix ``K = I + B̃ M⁻¹ B̃ᵀ`` (``S·r × S·r``), or the primal ``G`` itself.
This package holds the ways to solve such systems, each with ``solve(C)``, ``size``,
``precision`` and ``condition()``:

=============================  =================================================================
:class:`CholeskyInner`         ``K = L Lᵀ`` (blocked Cholesky on NumPy's BLAS, Numba kernels)
:class:`RefinedCholeskyInner`  float32 factor, every solve refined in float64 (mixed precision)
:class:`KroneckerInner`        ``K = I + s·E ⊗ C``: ``r`` systems of size ``S`` in ``C``'s eigenbasis
:class:`CGInner`               conjugate gradients on ``x ↦ K x``, never forming ``K``
=============================  =================================================================

and :func:`factorize`, which picks between the first two by size and precision, and
:func:`gram_lower`, the lower triangle of ``X Xᵀ``. The Numba kernels
(:mod:`refimpl.linalg._kernels`) are private; each has a NumPy twin in
:mod:`refimpl.linalg._reference`.
"""
from .cg import CG_RTOL, CGInner, ConvergenceError
from .cholesky import CholeskyInner, cholesky_lower, gram_lower
from .kronecker import KroneckerInner
from .refined import EPS, ITERMAX, MIXED_MIN, PRECISIONS, RefinedCholeskyInner, factorize, use_mixed

__all__ = ["CholeskyInner", "RefinedCholeskyInner", "KroneckerInner", "CGInner",
           "ConvergenceError", "factorize", "use_mixed", "cholesky_lower", "gram_lower",
           "PRECISIONS", "MIXED_MIN", "ITERMAX", "EPS", "CG_RTOL"]
