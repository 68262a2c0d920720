"""One metric block ``G = M + B̃ᵀB̃`` and its inverse by Woodbury (SPEC §4, eq. 2–3′).

For a module with parameter blocks ``B_s`` (``r × n``, :mod:`refimpl.modules.blocks`) and a
diagonal mass ``M``:

    G = M + (1/S) Σ_s B_sᵀ B_s = M + B̃ᵀ B̃,          B̃ = S^{−½} [B_1; …; B_S]   (Sr × n)
    K = I + B̃ M⁻¹ B̃ᵀ                                                       (Sr × Sr, SPD)
    G⁻¹ v = M⁻¹ v − M⁻¹ B̃ᵀ K⁻¹ B̃ M⁻¹ v                                       (2)
    G⁻¹ B̃ᵀ c̃ = M⁻¹ B̃ᵀ K⁻¹ c̃                                                 (3′)

Two ways to apply ``G⁻¹``, chosen by cost (``method="auto"``) and reported in ``.method``:

- ``"woodbury"``: Cholesky of ``K``; cost ``O((Sr)² n + (Sr)³)``, memory ``O((Sr)²)``
  (``linear-shared-factor``: ``r`` systems of size ``S`` when all samples share their factor
  rows, :class:`~refimpl.metric.inner.SharedFactorInner`).
  For a linear module the Gram matrix ``B̃ M⁻¹ B̃ᵀ`` is formed from the factors ``R`` and
  ``a`` without ever forming ``B̃`` (``.path`` says which formula):
  ``linear-scalar``  ``(R_s[j]·R_t[i]) (a_s·a_t/μ_W + 1/μ_b) / S``;
  ``linear-kron``    ``M_W = u vᵀ``: ``(R_s[j] D_u⁻¹ R_t[i]) (a_s D_v⁻¹ a_t) + R_s[j] D_b⁻¹ R_t[i]``;
  ``linear-diag``    any ``M_W``: ``Σ_p R_s[j,p] R_t[i,p] (Σ_q a_s[q] a_t[q] / M_W[p,q] + 1/M_b[p])``;
  ``generic``        any module: ``B̃`` materialised, ``(B̃ M⁻¹) B̃ᵀ``.
- ``"primal"``: ``G`` built explicitly (``n × n``) and Cholesky-factorised; cost
  ``O(n² Sr + n³)``. Also the dense reference for tests.

Either factorisation is done in float64, or (``precision="auto"`` for systems of size ≥ 1024,
or ``"mixed"``) in float32 with every solve refined in float64 to a float64 solve's accuracy
(:class:`~refimpl.metric.inner.RefinedCholeskyInner`).

Only the lower triangle of ``K`` is formed where that saves work (``linear-scalar``,
``linear-kron``): the Cholesky factorisation (:func:`refimpl.metric.inner.cholesky_lower`)
reads nothing else.
"""
from __future__ import annotations

import numpy as np

from .. import _scratch, tree
from .._validation import check_choice
from . import _kernels
from .inner import PRECISIONS, RefinedCholeskyInner, SharedFactorInner, factorize, use_mixed
from ..modules.blocks import Block
from ..modules.linear import LinearBlock

METHODS = ("auto", "woodbury", "primal")


def _inv_mass_tree(mass, shapes):
    if isinstance(mass, dict):
        return {k: 1.0 / mass[k] for k in shapes}
    return {k: np.full(s, 1.0 / mass) for k, s in shapes.items()}


def _is_rank_one(MW):
    u, v = MW[:, 0], MW[0, :] / MW[0, 0]
    return np.allclose(np.outer(u, v), MW, rtol=1e-13, atol=0.0), u, v


def gram_lower(X: np.ndarray, nb: int = 256) -> np.ndarray:
    """``X Xᵀ`` (``X`` of shape ``(n, k)``) with only its lower triangle formed (by block rows,
    each one matrix product; the strict upper triangle of the result is not meaningful)."""
    n = X.shape[0]
    if n <= nb:
        return X @ X.T
    out = _scratch.empty((n, n), X.dtype)                 # large: reused memory
    for i in range(0, n, nb):
        e = min(i + nb, n)
        np.matmul(X[i:e], X[:e].T, out=out[i:e, :e])
    return out


def _scalar_mass_E(block: LinearBlock, mass: float) -> np.ndarray:
    """``E = A Aᵀ/μ + 1/μ`` (``S × S``; the bias term only with a bias)."""
    A = block.A
    return (A @ A.T) / mass + (1.0 / mass if block.bias else 0.0)


def kron_gram_matvec(R: np.ndarray, E: np.ndarray, x: np.ndarray, scale: float) -> np.ndarray:
    """``K x`` for ``K = I + scale · (R₂R₂ᵀ) ⊙ (E ⊗ 1_{r×r})`` (the ``linear-scalar`` inner
    matrix ``K = I + B̃M⁻¹B̃ᵀ`` of SPEC §4, eq. 2–3′) without forming ``K``:
    ``(K x)_s = x_s + scale · R_s Σ_t E_st R_tᵀ x_t``, i.e. ``x + B̃ (M⁻¹ B̃ᵀ x)`` with the
    parameter-sized middle replaced by the ``S × S`` Gram ``E`` of the inputs.

    ``R`` (S, r, m), ``E`` (S, S), ``x`` (S·r, 1) sample-major; returns (S·r, 1). Cost
    ``4 S r m + 2 S² m`` against ``2 (S r)²`` for a product with the formed ``K``.
    """
    S, r, _ = R.shape
    X = x.reshape(S, r)
    U = np.matmul(X[:, None, :], R)[:, 0, :]              # u_t = R_tᵀ x_t        (S, m)
    V = E @ U                                             # v_s = Σ_t E_st u_t
    return (X + scale * np.matmul(R, V[:, :, None])[:, :, 0]).reshape(-1, 1)


def inner_gram(block: Block, mass, S: int):
    """``(K, path)`` with ``K = I + B̃ M⁻¹ B̃ᵀ`` for one block, by the cheapest formula that
    applies. For the linear paths with scalar or Kronecker mass only the lower triangle of
    ``K`` is meaningful (all the Cholesky factorisation reads)."""
    if isinstance(block, LinearBlock):
        R2 = block.R.reshape(S * block.r, -1)
        A = block.A
        if not isinstance(mass, dict):
            E = _scalar_mass_E(block, mass)
            K = _kernels.fuse_kron_gram(gram_lower(R2), E, block.r, 1.0 / S)
            return K, "linear-scalar"
        rank1, u, v = _is_rank_one(mass["W"])
        if rank1:
            K = _kernels.fuse_kron_gram((R2 / u) @ R2.T, (A / v) @ A.T, block.r, 1.0 / S)
            if block.bias:
                K += ((R2 / mass["b"]) @ R2.T) / S
            return K, "linear-kron"
        # W_st[p] = Σ_q a_s[q] a_t[q] / M_W[p, q] + 1 / M_b[p]   (S, S, m)
        inv_W = 1.0 / mass["W"]
        Wst = np.einsum("sq,tq,pq->stp", A, A, inv_W, optimize=True)
        if block.bias:
            Wst += 1.0 / mass["b"]
        return _kernels.pair_weighted_gram(block.R, Wst, 1.0 / S), "linear-diag"
    Bt = block.materialize().reshape(S * block.r, -1)
    if isinstance(mass, dict):
        inv_m = tree.flatten(_inv_mass_tree(mass, block.shapes))
        K = (Bt * inv_m) @ Bt.T
        K /= S
    else:                                   # scalar mass: no scaled copy of B̃
        K = gram_lower(Bt)
        K *= 1.0 / (S * mass)
    K[np.diag_indices(S * block.r)] += 1.0
    return K, "generic"


def _shares_factor(block, mass) -> bool:
    """A linear block whose factor rows are the same for every sample, with scalar mass."""
    if not (isinstance(block, LinearBlock) and not isinstance(mass, dict) and block.S > 1):
        return False
    R = block.R
    return np.array_equal(R[1], R[0]) and bool(np.all(R == R[:1]))   # cheap test first


def _mixed_linear_scalar(block: LinearBlock, mass: float, S: int) -> RefinedCholeskyInner:
    """The ``linear-scalar`` inner matrix formed in float32 (its Gram product at float32
    speed; all the factorisation needs) and solved in float64 with refinement, the residuals
    by :func:`kron_gram_matvec` on the float64 factors."""
    R, E, r = block.R, _scalar_mass_E(block, mass), block.r
    with np.errstate(over="ignore"):        # beyond float32's range: the solver falls back
        R32 = R.reshape(S * r, -1).astype(np.float32)
        K32 = _kernels.fuse_kron_gram(gram_lower(R32), E.astype(np.float32), r,
                                      np.float32(1.0 / S))
    return RefinedCholeskyInner(K32, lambda x: kron_gram_matvec(R, E, x, 1.0 / S),
                                lambda: inner_gram(block, mass, S)[0])


class LayerMetric:
    """``G_l = M_l + B̃_lᵀ B̃_l`` for one module; see the module docstring.

    Parameters
    ----------
    block : Block
        The module's per-sample blocks ``B_s``.
    mass : float or dict
        ``μ`` or a tree ``{name: array}`` of positive values shaped like the parameters.
    method : {"auto", "woodbury", "primal"}
    precision : {"auto", "double", "mixed"}
        How the Cholesky factorisation is done (:func:`~refimpl.metric.inner.factorize`):
        ``"double"`` in float64; ``"mixed"`` in float32 with float64-refined solves;
        ``"auto"`` mixed for systems of size ``≥ MIXED_MIN`` (1024).
    """

    def __init__(self, block: Block, mass, method: str = "auto", precision: str = "auto"):
        if method not in METHODS:
            raise ValueError(f"unknown method {method!r}; expected one of {METHODS}")
        check_choice(precision, "precision", PRECISIONS)
        self.block, self.mass = block, mass
        self.S, self.r, self.n = block.S, block.r, block.n
        # M⁻¹ per leaf: a Python float for a scalar mass (no parameter-sized arrays, and the
        # blocks' float type is kept), else arrays shaped like the parameters
        self.inv_mass = (_inv_mass_tree(mass, block.shapes) if isinstance(mass, dict)
                         else {k: 1.0 / mass for k in block.shapes})
        m = self.S * self.r
        if method == "auto":
            woodbury_cost = m * m * self.n + m ** 3 / 3
            primal_cost = self.n * self.n * m + self.n ** 3 / 3
            method = "woodbury" if woodbury_cost <= primal_cost else "primal"
        self.method = method
        if method == "primal":
            self.inner = factorize(self.dense(), overwrite=True, precision=precision)
            self.path = "dense"
        elif _shares_factor(block, mass):
            R0 = block.R[0]
            self.inner = SharedFactorInner(_scalar_mass_E(block, mass), R0 @ R0.T, self.S)
            self.path = "linear-shared-factor"
        elif (isinstance(block, LinearBlock) and not isinstance(mass, dict)
              and block.R.dtype == np.float64 and use_mixed(m, precision)):
            self.inner, self.path = _mixed_linear_scalar(block, mass, self.S), "linear-scalar"
        else:
            K, self.path = inner_gram(block, mass, self.S)
            self.inner = factorize(K, overwrite=True, precision=precision)
        self.inner_size = self.inner.size

    # -- the three operations -------------------------------------------------------------
    def matvec(self, v: dict) -> dict:
        """``G v = M v + (1/S) Σ_s B_sᵀ B_s v``."""
        out = self.block.apply_T(self.block.apply(v))     # new arrays, finished in place
        for k, y in out.items():
            y /= self.S
            y += v[k] / self.inv_mass[k]
        return out

    def solve(self, v: dict) -> dict:
        """``G⁻¹ v`` by eq. (2) (Woodbury) or the primal Cholesky solve."""
        if self.method == "primal":
            return self._primal_solve(tree.flatten(v), v)
        Mv = tree.tree_map(np.multiply, self.inv_mass, v)
        z = self._inner_solve(self.block.apply(Mv))
        corr = self.block.apply_T(z)
        return tree.tree_map(lambda mv, mi, c: mv - mi * c / self.S, Mv, self.inv_mass, corr)

    def push_through(self, c: np.ndarray) -> dict:
        """``G⁻¹ B̃ᵀ c̃ = M⁻¹ B̃ᵀ K⁻¹ c̃`` for per-sample coordinates ``c`` (``(S, r)``), eq. (3′).

        With ``∇R = B̃ᵀ c̃`` this is ``G⁻¹ ∇R`` without the cancellation of eq. (2).
        """
        if self.method == "primal":
            g = tree.tree_map(lambda x: x / self.S, self.block.apply_T(c))
            return self._primal_solve(tree.flatten(g), g)
        corr = self.block.apply_T(self._inner_solve(c))   # new arrays, scaled in place
        for k, x in corr.items():
            x *= self.inv_mass[k] / self.S
        return corr

    def dense(self) -> np.ndarray:
        """``G`` as an explicit ``(n, n)`` matrix (flat parameter order)."""
        Bt = self.block.materialize().reshape(self.S * self.r, self.n)
        G = Bt.T @ Bt
        G /= self.S
        mass = self.mass if isinstance(self.mass, dict) else \
            {k: self.mass for k in self.block.shapes}
        G[np.diag_indices(self.n)] += np.concatenate(
            [np.broadcast_to(mass[k], s).ravel() for k, s in self.block.shapes.items()])
        return G

    def inner_condition(self) -> float:
        """Cheap estimate of the condition of the factorised matrix (``K`` or ``G``): the
        squared ratio of the Cholesky diagonal's extremes, a lower bound on the 2-norm one."""
        return self.inner.condition()

    # -- private ----------------------------------------------------------------------------
    def _inner_solve(self, C):
        return self.inner.solve(C)

    def _primal_solve(self, flat, like):
        return tree.unflatten(like, self.inner.solve(flat))

    def __repr__(self):
        return (f"LayerMetric(n={self.n}, S·r={self.S * self.r}, method={self.method!r}, "
                f"path={self.path!r})")
