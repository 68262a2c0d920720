"""Parameter blocks ``B_s = R_s ∂F/∂w`` of one module (SPEC §4, Remark 4).

A block object stands for the per-sample matrices ``B_s`` (``r × n_l``) of one module that
owns parameters, for ``s = 1..S``, *without* forming them when the module's structure allows.
The layer metric ``G_l = M_l + (1/S) Σ_s B_sᵀ B_s`` (:mod:`refimpl.metric.layer`) needs only:

- ``apply(v)``:   ``v`` (a parameter tree) ``↦ (B_s v)_s``, shape ``(S, r)``;
- ``apply_T(C)``: ``C`` (``(S, r)``) ``↦ Σ_s B_sᵀ C_s``, a parameter tree
  (adjoint of ``apply`` in the Euclidean inner products of both sides);
- ``gram(mass)``: ``[B_s M⁻¹ B_tᵀ]_{(s,j),(t,i)}``, shape ``(S·r, S·r)``;
- ``materialize()``: the dense ``(S, r, n_l)`` stack (tests, the generic path).

:class:`DenseBlock` holds any module's ``B`` explicitly. A module with structure keeps its own
block class beside its forward and derivatives, e.g.
:class:`refimpl.modules.linear.LinearBlock`, whose Gram matrix factorises (SPEC §4) so that
``B̃`` never has to be formed.
"""
from __future__ import annotations

import numpy as np

from .. import tree


class Block:
    """Interface; see the module docstring."""

    S: int
    r: int
    shapes: dict

    @property
    def n(self) -> int:
        return int(sum(int(np.prod(s)) for s in self.shapes.values()))

    def materialize(self) -> np.ndarray:
        """Dense ``(S, r, n)``; parameters in the tree's canonical flat order."""
        raise NotImplementedError

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
        return np.einsum("srn,n->sr", self.materialize(), tree.flatten(v))

    def apply_T(self, C: np.ndarray) -> dict:
        flat = np.einsum("srn,sr->n", self.materialize(), C)
        return tree.unflatten({k: np.zeros(s) for k, s in self.shapes.items()}, flat)


class DenseBlock(Block):
    """Explicit blocks ``B`` of shape ``(S, r, n)`` for any module (the generic path)."""

    def __init__(self, B: np.ndarray, shapes: dict):
        self.B = B
        self.S, self.r = B.shape[:2]
        self.shapes = shapes

    def materialize(self) -> np.ndarray:
        return self.B
