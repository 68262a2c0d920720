"""``G = M + B̃ᵀB̃`` over parameter blocks side by side, and its inverse (:ref:`math §4 <math-4>`, eq. 2–3′).

The one driver of the metric. For blocks ``b`` (one module's, or all modules' for the network
scope; :mod:`refimpl.modules.blocks`) with a diagonal mass ``M_b`` each,

    G = M + B̃ᵀB̃,     B̃ = [B̃_1, …, B̃_L],   B̃_b = S^{−½} [B_{b,1}; …; B_{b,S}]
    K = I + B̃ M⁻¹ B̃ᵀ = I + Σ_b B̃_b M_b⁻¹ B̃_bᵀ                           (S·r × S·r, SPD)
    G⁻¹ v     = M⁻¹ v − M⁻¹ B̃ᵀ K⁻¹ B̃ M⁻¹ v                                  (2)
    G⁻¹ B̃ᵀ c̃ = M⁻¹ B̃ᵀ K⁻¹ c̃                                              (3′)

``K`` is held by one of three methods (chosen by :mod:`refimpl.metric.plan`, reported in
``.method``):

- ``"woodbury"``: ``K`` formed (each block's :meth:`~refimpl.modules.Block.inner_matrix`, by
  the formula its structure allows, reported in ``.formula``) and Cholesky-factorised — in
  float64, or (``precision="auto"`` for ``S·r ≥ 1024``, or ``"mixed"``) in float32 with every
  solve refined in float64 to a float64 solve's accuracy
  (:class:`~refimpl.linalg.RefinedCholeskyInner`); a single block whose ``K`` is a Kronecker
  product is solved as ``r`` systems of size ``S`` (:class:`~refimpl.linalg.KroneckerInner`);
- ``"primal"``: ``G`` itself formed (``n × n``) and factorised; also the dense reference;
- ``"cg"``: conjugate gradients on ``K`` through the blocks' products ``K x``, never forming
  ``K``, preconditioned by the inverses of its per-sample ``r × r`` diagonal blocks
  (:class:`~refimpl.linalg.CGInner`), to the relative residual ``cg_rtol``.

Nothing here knows a module type: every structure-dependent step is a block method.
"""
from __future__ import annotations

import numpy as np

from .. import tree
from .._validation import check_choice
from ..linalg import (CG_RTOL, CGInner, CholeskyInner, KroneckerInner, RefinedCholeskyInner,
                      factorize, use_mixed)
from ..linalg.refined import PRECISIONS
from .mass import Mass
from .plan import METHODS, MEMORY_SHARE, available_memory, choose


class MetricSystem:
    """``G`` over the blocks ``{path: Block}`` side by side; see the module docstring.

    Parameters
    ----------
    blocks : dict
        ``{path: Block}`` (all with the same ``S`` and ``r``), in the parameters' order.
    masses : dict
        ``{path: Mass}`` (or anything :meth:`~refimpl.metric.Mass.parse` takes), parallel.
    method : {"auto", "woodbury", "primal", "cg"}
    precision : {"auto", "double", "mixed"}
        How a Cholesky factorisation is done (not used by ``"cg"``).
    cg_rtol : float
        Relative residual of each conjugate-gradient solve of ``K``.
    plan : Plan, optional
        A plan made already (:func:`refimpl.metric.plan.choose`); else made here against the
        available memory.

    Attributes
    ----------
    method, formula : str
        How ``K`` (or ``G``) is held, and by which formula its blocks were formed.
    note : str
        Why the automatic choice left the cheaper direct method, if it did.
    """

    def __init__(self, blocks: dict, masses: dict, method: str = "auto",
                 precision: str = "auto", *, cg_rtol: float = CG_RTOL, plan=None):
        check_choice(method, "method", METHODS)
        check_choice(precision, "precision", PRECISIONS)
        self.paths = list(blocks)
        self.blocks = [blocks[p] for p in self.paths]
        self.masses = [masses[p] if isinstance(masses[p], Mass)
                       else Mass.parse(masses[p], b.shapes) for p, b in zip(self.paths,
                                                                             self.blocks)]
        self.S, self.r = self.blocks[0].S, self.blocks[0].r
        self.n = sum(b.n for b in self.blocks)
        self.inv_mass = [{k: m.inverse(k) for k in b.shapes}
                         for b, m in zip(self.blocks, self.masses)]
        if plan is None:
            plan = choose(self.blocks, self.masses, method, MEMORY_SHARE * available_memory(),
                          precision=precision)
        self.plan, self.method, self.note = plan, plan.method, plan.note
        scale = 1.0 / self.S
        if self.method == "primal":
            self.formula = "dense"
            self.inner = factorize(self.dense(), overwrite=True, precision=precision)
        elif self.method == "cg":
            self.formula = "+".join(b.formula(m) for b, m in zip(self.blocks, self.masses))
            self.inner = CGInner(self._inner_matvec(scale), self.S * self.r,
                                 preconditioner=self._block_jacobi(scale), rtol=cg_rtol)
        else:
            self.formula = "+".join(b.formula(m) for b, m in zip(self.blocks, self.masses))
            self.inner = self._woodbury_inner(scale, precision)
        self.inner_size = self.inner.size

    # -- the operations (on {path: tree} parts) -------------------------------------------------
    def matvec(self, parts: dict) -> dict:
        """``G v = M v + (1/S) B̃ᵀ (B̃ v)`` (the blocks' ``apply_T(apply(v))``)."""
        vs = [parts[p] for p in self.paths]
        Bv = self.blocks[0].apply(vs[0])
        for b, v in zip(self.blocks[1:], vs[1:]):
            Bv = Bv + b.apply(v)
        out = {}
        for p, b, inv, v in zip(self.paths, self.blocks, self.inv_mass, vs):
            y = b.apply_T(Bv)                              # new arrays, finished in place
            for k, x in y.items():
                x /= self.S
                x += v[k] / inv[k]
            out[p] = y
        return out

    def solve(self, parts: dict) -> dict:
        """``G⁻¹ v`` by eq. (2), or the primal Cholesky solve."""
        if self.method == "primal":
            return self._primal_solve(parts)
        Mv = [tree.tree_map(np.multiply, inv, parts[p])
              for p, inv in zip(self.paths, self.inv_mass)]
        C = self.blocks[0].apply(Mv[0])
        for b, x in zip(self.blocks[1:], Mv[1:]):
            C = C + b.apply(x)
        z = self.inner.solve(C)
        return {p: tree.tree_map(lambda mv, mi, c: mv - mi * c / self.S, x, inv, b.apply_T(z))
                for p, b, x, inv in zip(self.paths, self.blocks, Mv, self.inv_mass)}

    def push_through(self, c: np.ndarray) -> dict:
        """``G⁻¹ B̃ᵀ c̃ = M⁻¹ B̃ᵀ K⁻¹ c̃`` for per-sample coordinates ``c`` (``(S, r)``),
        eq. (3′): with ``∇R = B̃ᵀ c̃`` this is ``G⁻¹∇R`` without the cancellation of (2)."""
        if self.method == "primal":
            return self._primal_solve({p: tree.tree_map(lambda x: x / self.S, b.apply_T(c))
                                       for p, b in zip(self.paths, self.blocks)})
        z = self.inner.solve(c)
        out = {}
        for p, b, inv in zip(self.paths, self.blocks, self.inv_mass):
            y = b.apply_T(z)                               # new arrays, scaled in place
            for k, x in y.items():
                x *= inv[k] / self.S
            out[p] = y
        return out

    def dense(self) -> np.ndarray:
        """``G`` as an explicit ``(n, n)`` matrix (blocks in order, each in its flat order)."""
        parts = [b.materialize().reshape(self.S * self.r, b.n) for b in self.blocks]
        Bt = parts[0] if len(parts) == 1 else np.concatenate(parts, axis=1)
        G = Bt.T @ Bt
        G /= self.S
        G[np.diag_indices(self.n)] += np.concatenate(
            [m.flat(b.shapes) for b, m in zip(self.blocks, self.masses)])
        return G

    def inner_condition(self) -> float:
        """Cheap estimate of the condition of the factorised matrix (``K`` or ``G``): the
        squared ratio of the Cholesky diagonal's extremes (a lower bound on the 2-norm one),
        or CG's Lanczos estimate for the preconditioned ``K``."""
        return self.inner.condition()

    # -- private ------------------------------------------------------------------------------
    def _woodbury_inner(self, scale, precision):
        blocks, masses = self.blocks, self.masses
        if len(blocks) == 1:
            kron = blocks[0].inner_kronecker(masses[0])
            if kron is not None:
                return KroneckerInner(*kron)            # scale = 1/S
        q = self.S * self.r
        if use_mixed(q, precision) and all(b.dtype == np.float64 for b in blocks):
            # the callables kept by the inner solver hold the blocks, never ``self``: a cycle
            # through ``self.inner`` would keep the blocks' arrays (hundreds of MB on a CNN)
            # alive after the step until the cyclic garbage collector happens to run
            return RefinedCholeskyInner(_inner_matrix(blocks, masses, scale, np.float32),
                                        self._inner_matvec(scale),
                                        lambda: _inner_matrix(blocks, masses, scale,
                                                              np.float64))
        return CholeskyInner(_inner_matrix(blocks, masses, scale, blocks[0].dtype),
                             overwrite=True)

    def _inner_matvec(self, scale):
        """``x ↦ K x = Σ_b K_b x − (L − 1) x`` without forming ``K``."""
        products = [b.inner_matvec(m, scale) for b, m in zip(self.blocks, self.masses)]
        if len(products) == 1:
            return products[0]
        extra = len(products) - 1
        return lambda x: sum(f(x) for f in products) - extra * x

    def _block_jacobi(self, scale):
        """``r ↦ D⁻¹ r`` with ``D`` the per-sample ``r × r`` diagonal blocks of ``K``."""
        D = sum(b.sample_gram(m) for b, m in zip(self.blocks, self.masses)) * scale
        D[:, np.arange(self.r), np.arange(self.r)] += 1.0
        L = np.linalg.cholesky(D)                          # (S, r, r), SPD: D ⪰ I
        Linv = np.linalg.inv(L)
        P = np.swapaxes(Linv, 1, 2) @ Linv                 # D_s⁻¹ per sample
        shape = (self.S, self.r)                           # not self: see _woodbury_inner
        return lambda res: np.einsum("sij,sj->si", P, res.reshape(shape)).ravel()

    def _primal_solve(self, parts):
        flat = np.concatenate([tree.flatten(parts[p]) for p in self.paths])
        x, out, start = self.inner.solve(flat), {}, 0
        for p, b in zip(self.paths, self.blocks):
            out[p] = tree.unflatten(parts[p], x[start:start + b.n])
            start += b.n
        return out

    def __repr__(self):
        return (f"{type(self).__name__}(n={self.n}, S·r={self.S * self.r}, "
                f"method={self.method!r}, formula={self.formula!r})")


def _inner_matrix(blocks, masses, scale, dtype):
    """``K = Σ_b K_b − (L − 1) I``, lower triangle (what a Cholesky factorisation reads)."""
    K = blocks[0].inner_matrix(masses[0], scale, dtype)
    if len(blocks) > 1:
        lower = np.tri(K.shape[0], dtype=bool)
        for b, m in zip(blocks[1:], masses[1:]):
            Kb = b.inner_matrix(m, scale, dtype)
            Kb[np.diag_indices(K.shape[0])] -= 1.0
            np.add(K, Kb, out=K, where=lower)
    return K
