"""The parameter block of a module: ``B_s = R_s ∂F/∂w`` and its metric algebra (:ref:`math §4 <math-4>`,
Remark 4).

A block stands for the per-sample matrices ``B_s`` (``r × n``, ``s = 1..S``) of *one* module
that owns parameters — its share of the layer metric

    G = M + (1/S) Σ_s B_sᵀ B_s = M + B̃ᵀ B̃,        B̃ = S^{−½} [B_1; …; B_S]      (Sr × n)

with a diagonal mass ``M`` (:class:`refimpl.metric.Mass`, used here only through its
attributes, see below). A module returns its block from ``_param_blocks``, and the metric
driver (:mod:`refimpl.metric`) asks the block for everything it needs, so the driver knows no
module type and a new layer type is one file. The protocol, in the manner of SciPy's
``LinearOperator`` (a few operations with materialising defaults):

=============================  ====================================  ========================
method                         value                                 default
=============================  ====================================  ========================
``materialize()``              the dense ``(S, r, n)`` stack         from ``apply_T``
``apply(v)``                   ``(B_s v)_s``, ``(S, r)``             from ``materialize``
``apply_T(C)``                 ``Σ_s B_sᵀ C_s``, a parameter tree    from ``materialize``
``inner_matrix(M, s, dtype)``  ``I + s·[B_s M⁻¹ B_tᵀ]`` (lower tri.)  from ``materialize``
``inner_matvec(M, s)``         ``x ↦ (I + s·B M⁻¹ Bᵀ) x``            ``apply``, ``apply_T``
``inner_kronecker(M)``         ``(E, C)`` if ``B M⁻¹ Bᵀ = E ⊗ C``    ``None``
``sample_gram(M)``             ``B_s M⁻¹ B_sᵀ`` per sample, ``(S,r,r)``  from ``materialize``
``formula(M)``                 the name of the formula used          ``"generic"``
``cost(M)``                    :class:`BlockCost` (flops, bytes)      for the dense defaults
``kfac_factors()``             Kronecker factors for K-FAC           raises
=============================  ====================================  ========================

A subclass implements ``materialize`` or ``apply``/``apply_T`` (the other comes by default);
every default is exact, so :class:`DenseBlock` (an explicit ``B``) makes any module work on
day one, and a module with structure overrides what its structure makes cheap
(e.g. :class:`refimpl.modules.linear.LinearBlock`). Rows of inner matrices are sample-major,
``(s, j) ↦ s·r + j``; ``apply``/``apply_T`` are adjoint in the Euclidean inner products of
``R^{S×r}`` and of the parameter tree.

The mass object passed in has ``scalar`` (``μ`` for ``M = μI``, else ``None``),
``inverse(key)`` (``1/M`` for one leaf: a float or an array shaped like the leaf),
``kron(key)`` (``(u, v)`` when that leaf's mass is ``u vᵀ``, else ``None``) and
``flat_inverse(shapes)`` (``1/M`` in the flat order).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .. import tree
from ..linalg import gram_lower

_BYTES = 8


@dataclass(frozen=True)
class BlockCost:
    """What the metric algebra of one block costs (float64 flops and bytes), for the driver's
    choice of method, its memory check and the thread model.

    Attributes
    ----------
    inner_flops, inner_bytes
        Forming :meth:`Block.inner_matrix` (the ``(S·r)²`` result included in the bytes).
    matvec_flops, matvec_bytes
        One product :meth:`Block.inner_matvec` (bytes: what it keeps and needs besides ``x``).
    dense_flops, dense_bytes
        Forming the explicit ``n × n`` block ``B̃ᵀB̃`` (the primal solve; ``n²`` included).
    """

    inner_flops: float
    inner_bytes: float
    matvec_flops: float
    matvec_bytes: float
    dense_flops: float
    dense_bytes: float


class Block:
    """Per-sample blocks ``B_s`` of one module; see the module docstring for the protocol.

    Attributes
    ----------
    S, r : int
        Samples and factor rows.
    shapes : dict
        ``{leaf name: shape}`` of the module's parameters (the tree's order).
    dtype : numpy.dtype
        The float type of the factors.
    """

    S: int
    r: int
    shapes: dict
    dtype = np.dtype(np.float64)

    @property
    def n(self) -> int:
        """Number of parameters."""
        return int(sum(int(np.prod(s)) for s in self.shapes.values()))

    # -- the blocks ---------------------------------------------------------------------------
    def materialize(self) -> np.ndarray:
        """Dense ``(S, r, n)``, parameters in the tree's flat order (from :meth:`apply_T`)."""
        if type(self).apply_T is Block.apply_T:
            raise NotImplementedError(f"{type(self).__name__} must implement materialize() or "
                                      "apply() and apply_T()")
        S, r = self.S, self.r
        B = np.empty((S, r, self.n), dtype=self.dtype)
        C = np.zeros((S, r), dtype=self.dtype)
        for s in range(S):
            for j in range(r):
                C[s, j] = 1.0
                B[s, j] = tree.flatten(self.apply_T(C))       # row j of B_s = B_sᵀ e_j
                C[s, j] = 0.0
        return B

    def materialize_tree(self) -> dict:
        """Dense blocks as a tree of ``(S, r, *shape)`` arrays."""
        B = self.materialize()
        out, start = {}, 0
        for key, shape in self.shapes.items():
            k = int(np.prod(shape))
            out[key] = B[:, :, start:start + k].reshape((self.S, self.r) + tuple(shape))
            start += k
        return out

    def apply(self, v: dict) -> np.ndarray:
        """``(B_s v)_s`` for a parameter tree ``v``: ``(S, r)``."""
        return np.einsum("srn,n->sr", self.materialize(), tree.flatten(v))

    def apply_T(self, C: np.ndarray) -> dict:
        """``Σ_s B_sᵀ C_s`` for ``C`` of shape ``(S, r)``: a parameter tree (adjoint of
        :meth:`apply`)."""
        flat = np.einsum("srn,sr->n", self.materialize(), C)
        return tree.unflatten(self._zeros(), flat)

    # -- metric algebra under a mass ----------------------------------------------------------
    def inner_matrix(self, mass, scale: float, dtype=np.float64) -> np.ndarray:
        """``K_b = I + scale · [B_s M⁻¹ B_tᵀ]``, ``(S·r, S·r)``; only the lower triangle need
        be meaningful (all a Cholesky factorisation reads). ``dtype`` is the float type of the
        result (float32 for a mixed-precision factorisation)."""
        Bt = self.materialize().reshape(self.S * self.r, self.n)
        if mass.scalar is not None:                      # no scaled copy of B̃
            K = gram_lower(Bt.astype(dtype, copy=False))
            K *= scale / mass.scalar
        else:
            K = ((Bt * mass.flat_inverse(self.shapes)) @ Bt.T).astype(dtype, copy=False)
            K *= scale
        K[np.diag_indices(self.S * self.r)] += 1.0
        return K

    def inner_matvec(self, mass, scale: float):
        """``x ↦ (I + scale · B M⁻¹ Bᵀ) x`` for ``x`` of shape ``(S·r, k)`` (float64, or the
        block's float32), without forming the inner matrix: ``x + scale · B (M⁻¹ (Bᵀ x))``
        column by column."""
        inv = {k: mass.inverse(k) for k in self.shapes}

        def matvec(x):
            out = np.array(x, dtype=np.result_type(x.dtype, self.dtype))
            for c in range(x.shape[1]):
                v = self.apply_T(x[:, c].reshape(self.S, self.r))
                out[:, c] += scale * self.apply(tree.tree_map(np.multiply, inv, v)).ravel()
            return out
        return matvec

    def inner_kronecker(self, mass):
        """``(E, C)`` (``S × S`` and ``r × r``) when ``[B_s M⁻¹ B_tᵀ] = E ⊗ C``, else ``None``
        (then the inner matrix splits into ``r`` systems of size ``S``)."""
        return None

    def sample_gram(self, mass=None) -> np.ndarray:
        """``B_s M⁻¹ B_sᵀ`` for every sample, ``(S, r, r)`` (``M = I`` when ``mass`` is None):
        the diagonal blocks of the inner matrix, and the per-sample Jacobian Grams."""
        B = self.materialize()
        if mass is None:
            return np.einsum("sjn,sin->sji", B, B)
        return np.einsum("sjn,sin->sji", B * mass.flat_inverse(self.shapes), B)

    def formula(self, mass) -> str:
        """The name of the formula :meth:`inner_matrix` uses (reported in diagnostics)."""
        return "generic"

    def cost(self, mass) -> BlockCost:
        """Flops and bytes of this block's metric algebra (the materialising defaults')."""
        m, n = self.S * self.r, self.n
        return BlockCost(inner_flops=m * m * n + 2 * m * n, inner_bytes=(m * m + m * n) * _BYTES,
                         matvec_flops=4 * m * n, matvec_bytes=m * n * _BYTES,
                         dense_flops=n * n * m + 2 * m * n, dense_bytes=(n * n + m * n) * _BYTES)

    def kfac_factors(self) -> tuple[np.ndarray, np.ndarray]:
        """K-FAC's factors ``(A, G)`` with ``(1/S) Σ_s B_sᵀB_s ≈ G ⊗ A`` (Martens & Grosse 2015).

        ``A`` is ``(d_A, d_A)``, ``G`` is ``(d_G, d_G)``, both symmetric PSD. The Kronecker
        product acts on the block's parameters arranged as one ``d_G × d_A`` matrix: every
        leaf reshaped to ``(d_G, -1)``, side by side in the order of ``shapes`` (for a linear
        module ``[W | b]``), flattened in C order (:mod:`refimpl.optim.kfac`).
        """
        raise NotImplementedError(
            f"{type(self).__name__} has no Kronecker factors for K-FAC; K-FAC needs modules "
            "whose blocks provide kfac_factors() (Linear does); use RiemannianSGD or "
            "GaussNewton for this model")

    # -- private -----------------------------------------------------------------------------
    def _zeros(self) -> dict:
        return {k: np.zeros(s, dtype=self.dtype) for k, s in self.shapes.items()}

    def __repr__(self):
        return f"{type(self).__name__}(S={self.S}, r={self.r}, n={self.n})"


class DenseBlock(Block):
    """Explicit blocks ``B`` of shape ``(S, r, n)`` for any module (the materialising default).

    Parameters
    ----------
    B : ndarray, shape (S, r, n)
        Row ``j`` of ``B[s]`` is ``R_s[j] ∂F/∂w`` in the flat order of ``shapes``.
    shapes : dict
        ``{leaf name: shape}`` of the module's parameters.
    """

    def __init__(self, B: np.ndarray, shapes: dict):
        B = np.asarray(B)
        n = int(sum(int(np.prod(s)) for s in shapes.values()))
        if B.ndim != 3 or B.shape[2] != n:
            raise ValueError(f"DenseBlock: B must have shape (S, r, {n}) for parameters "
                             f"{shapes}, got {B.shape}")
        self.B, self.shapes = B, dict(shapes)
        self.S, self.r = B.shape[:2]
        self.dtype = B.dtype

    def materialize(self) -> np.ndarray:
        return self.B
