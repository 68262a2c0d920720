"""A test-only atom in one file: the elementwise scaling ``z = w ⊙ a`` with a parameter vector.

It shows what a new layer type needs — its forward, its derivatives and a block — and nothing
else: no edit to the metric, the dynamics or the oracle. Its block is matrix-free (only
``apply`` and ``apply_T``), so every metric operation comes from the block protocol's
materialising defaults (:mod:`refimpl.modules.blocks`).

Per sample: ``∂z/∂a = diag(w)``, ``∂z/∂w = diag(a)``; so ``R ↦ R diag(w)`` to the input and
``B_s[j] = R_s[j] ⊙ a_s`` (an ``n``-vector) to the parameters.
"""
from __future__ import annotations

import numpy as np

from refimpl.modules import Block, Module


class Scale(Module):
    """``z = w ⊙ a`` on ``R^d``, ``w`` initialised near 1."""

    def __init__(self, dim: int):
        self.in_space = self.out_space = int(dim)

    def param_shapes(self):
        return {"w": (self.in_space,)}

    def _init(self, rng):
        return {"w": 1.0 + 0.1 * rng.standard_normal(self.in_space)}

    def _forward(self, params, a):
        return a * params["w"], a                        # cache: the input

    def _jvp(self, params, a, da, dparams):
        dz = np.zeros_like(a)
        if da is not None:
            dz += da * params["w"]
        if dparams is not None:
            dz += a * dparams["w"]
        return dz

    def _pullback_input(self, params, a, R):
        return R * params["w"]                           # R diag(w)

    def _vjp_params(self, params, a, zbar):
        return {"w": np.einsum("sd,sd->d", zbar, a)}      # Σ_s z̄_s ⊙ a_s

    def _param_blocks(self, params, a, R):
        return ScaleBlock(R, a)


class ScaleBlock(Block):
    """``B_s[j] = R_s[j] ⊙ a_s``, given only by its products."""

    def __init__(self, R, A):
        self.R, self.A = R, A
        self.S, self.r, d = R.shape
        self.shapes = {"w": (d,)}

    def apply(self, v):
        return np.einsum("sjd,sd->sj", self.R, self.A * v["w"])          # (B_s v)_j

    def apply_T(self, C):
        return {"w": np.einsum("sjd,sd,sj->d", self.R, self.A, C)}       # Σ_s B_sᵀ C_s
