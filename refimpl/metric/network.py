"""One metric over all parameters at once: the damped Gauss–Newton / Levenberg–Marquardt step
(SPEC §4, last paragraph) — the baseline the layerwise metric approximates block-diagonally.

With ``B̃ = [B̃_1, …, B̃_L]`` (all modules' blocks side by side) and ``M = diag(M_1, …, M_L)``,

    G = M + B̃ᵀB̃,     K = I + B̃ M⁻¹ B̃ᵀ = I + Σ_l B̃_l M_l⁻¹ B̃_lᵀ

so the network-scope inner matrix is the sum of the layers' Gram matrices (same ``S·r`` size),
and ``Δ_l = −η M_l⁻¹ B̃_lᵀ K⁻¹ c̃`` for every module ``l`` (eq. 3′ over the whole network).
The dense ``G`` (``method="primal"``) couples all modules and is only for small networks.
"""
from __future__ import annotations

import numpy as np

from .. import tree
from .._validation import check_choice
from .inner import PRECISIONS, factorize
from .layer import METHODS, LayerMetric, _inv_mass_tree, inner_gram


class NetworkMetric:
    """``G = M + B̃ᵀB̃`` over the concatenated parameters of all modules.

    Parameters
    ----------
    blocks : list of (path, Block)
    masses : list of (float or dict), one per block
    method : {"auto", "woodbury", "primal"}
    precision : {"auto", "double", "mixed"}
        As for :class:`~refimpl.metric.layer.LayerMetric`.
    """

    def __init__(self, blocks, masses, method: str = "auto", precision: str = "auto"):
        if method not in METHODS:
            raise ValueError(f"unknown method {method!r}; expected one of {METHODS}")
        check_choice(precision, "precision", PRECISIONS)
        self.paths = [p for p, _ in blocks]
        self.blocks = [b for _, b in blocks]
        self.masses = list(masses)
        self.S, self.r = self.blocks[0].S, self.blocks[0].r
        self.inv_mass = [_inv_mass_tree(m, b.shapes) for m, b in zip(self.masses, self.blocks)]
        self.n = sum(b.n for b in self.blocks)
        m = self.S * self.r
        if method == "auto":
            method = "woodbury" if m * m * self.n + m ** 3 / 3 <= \
                self.n * self.n * m + self.n ** 3 / 3 else "primal"
        self.method = method
        if method == "woodbury":
            K = np.eye(m)
            self.path = []
            for b, mass in zip(self.blocks, self.masses):
                Kl, path = inner_gram(b, mass, self.S)
                Kl[np.diag_indices(m)] -= 1.0
                K += Kl
                self.path.append(path)
            self.path = "+".join(self.path)
        else:
            K, self.path = self.dense(), "dense"
        self.inner = factorize(K, overwrite=True, precision=precision)
        self.inner_size = self.inner.size

    def _split(self, flat):
        out, start = [], 0
        for b in self.blocks:
            out.append(tree.unflatten({k: np.zeros(s) for k, s in b.shapes.items()},
                                      flat[start:start + b.n]))
            start += b.n
        return out

    def matvec(self, vs: list) -> list:
        """``G v`` for a list of per-module trees."""
        Bv = sum(b.apply(v) for b, v in zip(self.blocks, vs))
        return [tree.tree_map(lambda mi, x, y: x / mi + y / self.S, im, v, b.apply_T(Bv))
                for b, im, v in zip(self.blocks, self.inv_mass, vs)]

    def solve(self, vs: list) -> list:
        """``G⁻¹ v`` (eq. 2 over the whole network, or the primal solve)."""
        if self.method == "primal":
            flat = np.concatenate([tree.flatten(v) for v in vs])
            return self._split(self.inner.solve(flat))
        Mv = [tree.tree_map(np.multiply, im, v) for im, v in zip(self.inv_mass, vs)]
        C = sum(b.apply(x) for b, x in zip(self.blocks, Mv))
        z = self.inner.solve(C)
        return [tree.tree_map(lambda mv, mi, c: mv - mi * c / self.S, x, im, b.apply_T(z))
                for b, x, im in zip(self.blocks, Mv, self.inv_mass)]

    def push_through(self, c: np.ndarray) -> list:
        """``G⁻¹ B̃ᵀ c̃ = M⁻¹ B̃ᵀ K⁻¹ c̃`` for every module (eq. 3′)."""
        if self.method == "primal":
            return self.solve([tree.tree_map(lambda x: x / self.S, b.apply_T(c))
                               for b in self.blocks])
        z = self.inner.solve(c)
        return [tree.tree_map(lambda mi, x: mi * x / self.S, im, b.apply_T(z))
                for b, im in zip(self.blocks, self.inv_mass)]

    def dense(self) -> np.ndarray:
        """The whole ``G`` (``n × n``), modules in order, each in its flat parameter order."""
        Bt = np.concatenate([b.materialize().reshape(self.S * self.r, b.n)
                             for b in self.blocks], axis=1)
        G = Bt.T @ Bt / self.S
        G[np.diag_indices(self.n)] += 1.0 / np.concatenate([tree.flatten(m)
                                                            for m in self.inv_mass])
        return G

    inner_condition = LayerMetric.inner_condition

    def __repr__(self):
        return (f"NetworkMetric(n={self.n}, S·r={self.S * self.r}, method={self.method!r}, "
                f"path={self.path!r})")
