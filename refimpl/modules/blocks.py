"""Parameter blocks ``B_s = R_s ∂F/∂w`` of one module (SPEC §4, Remark 4).

A block object stands for the per-sample matrices ``B_s`` (``r × n_l``) of one module that
owns parameters, for ``s = 1..S``, *without* forming them when the module's structure allows.
The layer metric ``G_l = M_l + (1/S) Σ_s B_sᵀ B_s`` (:mod:`refimpl.metric.layer`) needs only:

- ``apply(v)``:   ``v`` (a parameter tree) ``↦ (B_s v)_s``, shape ``(S, r)``;
- ``apply_T(C)``: ``C`` (``(S, r)``) ``↦ Σ_s B_sᵀ C_s``, a parameter tree
  (adjoint of ``apply`` in the Euclidean inner products of both sides);
- ``gram(mass)``: ``[B_s M⁻¹ B_tᵀ]_{(s,j),(t,i)}``, shape ``(S·r, S·r)``;
- ``materialize()``: the dense ``(S, r, n_l)`` stack (tests, the generic path).

:class:`DenseBlock` holds any module's ``B`` explicitly; :class:`LinearBlock` keeps the
factors of a linear module, ``B_s[j] = (R_s[j] ⊗ a_s, R_s[j])`` (SPEC §3, Example 1), so its
Gram matrix factorises (SPEC §4) and ``B̃`` never has to be formed.
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


class LinearBlock(Block):
    """Blocks of ``z = W a + b``: ``B_s[j] = (vec(R_s[j] a_sᵀ), R_s[j])`` (SPEC §3, §4).

    Parameters
    ----------
    R : ndarray, shape (S, r, m)
        The factor at the module's output (rows of ``R_l``).
    A : ndarray, shape (S, n)
        The module's inputs ``a_s``.
    bias : bool
        Whether the module has a bias ``b``.
    """

    def __init__(self, R: np.ndarray, A: np.ndarray, bias: bool):
        self.R, self.A, self.bias = R, A, bias
        self.S, self.r, m = R.shape
        n = A.shape[1]
        self.shapes = {"W": (m, n)} | ({"b": (m,)} if bias else {})

    def materialize(self) -> np.ndarray:
        S, r, m = self.R.shape
        BW = np.einsum("sjp,sq->sjpq", self.R, self.A).reshape(S, r, -1)
        return np.concatenate([BW, self.R], axis=2) if self.bias else BW

    def apply(self, v: dict) -> np.ndarray:
        # B_s v = R_s (W a_s + b)                                      (S, r)
        z = self.A @ v["W"].T
        if self.bias:
            z = z + v["b"]
        return np.einsum("sjp,sp->sj", self.R, z)

    def apply_T(self, C: np.ndarray) -> dict:
        # Σ_s B_sᵀ C_s = (Σ_s u_s a_sᵀ, Σ_s u_s) with u_s = R_sᵀ C_s     (adjoint of apply)
        U = np.einsum("sjp,sj->sp", self.R, C)
        out = {"W": U.T @ self.A}
        if self.bias:
            out["b"] = U.sum(axis=0)
        return out
