"""The linear module ``z = W a + b`` (SPEC §3, paper Example 1).

Hand-derived derivatives, per sample (``W`` is ``m × n``, ``a ∈ R^n``, ``z ∈ R^m``):

- forward                ``z = W a + b``
- JVP                    ``δz = W δa + δW a + δb``
- VJP, input             ``ā = Wᵀ z̄``                        (adjoint of ``δa ↦ W δa``)
- VJP, parameters        ``W̄ = Σ_s z̄_s a_sᵀ``, ``b̄ = Σ_s z̄_s``  (adjoint of ``δW ↦ δW a``)
- factor to the input    ``R ↦ R W``            (pulled-back metric ``Wᵀ g W``)
- factor to the weights  ``B[j] = (R[j] ⊗ a, R[j])``, i.e. the metric
  ``G[(p,q),(p',q')] = g[p,p'] a_q a_q'`` (``g ⊗ a aᵀ``), kept factorised in
  :class:`LinearBlock` (below).
"""
from __future__ import annotations

import numpy as np

from .base import Module
from .blocks import Block


class Linear(Module):
    """Affine map ``R^n → R^m``, ``z = W a + b`` with ``W`` of shape ``(m, n)``.

    Parameters
    ----------
    n_in, n_out : int
        Input and output dimensions.
    bias : bool, default True
        Whether to include ``b``.
    init_scale : float, default 1.0
        ``W`` is initialised as ``init_scale · N(0, 1/n_in)`` (LeCun normal); ``b`` as zero.

    Examples
    --------
    >>> import numpy as np
    >>> from refimpl.modules import Linear
    >>> layer = Linear(3, 2)
    >>> params = layer.init(np.random.default_rng(0))
    >>> layer(params, np.ones((5, 3))).shape
    (5, 2)
    """

    def __init__(self, n_in: int, n_out: int, *, bias: bool = True, init_scale: float = 1.0):
        for name, v in (("n_in", n_in), ("n_out", n_out)):
            if isinstance(v, bool) or not isinstance(v, (int, np.integer)) or v <= 0:
                raise ValueError(f"Linear: {name} must be a positive int, got {v!r}")
        self.in_space, self.out_space = int(n_in), int(n_out)
        self.bias = bool(bias)
        self.init_scale = float(init_scale)

    def param_shapes(self) -> dict:
        m, n = self.out_space, self.in_space
        return {"W": (m, n)} | ({"b": (m,)} if self.bias else {})

    def _init(self, rng):
        m, n = self.out_space, self.in_space
        params = {"W": self.init_scale * rng.standard_normal((m, n)) / np.sqrt(n)}
        if self.bias:
            params["b"] = np.zeros(m)
        return params

    def _forward(self, params, a):
        z = a @ params["W"].T
        if self.bias:
            z += params["b"]
        return z, a                                   # the cache is the input a

    def _jvp(self, params, a, da, dparams):
        dz = np.zeros((a.shape[0], self.out_space))
        if da is not None:
            dz += da @ params["W"].T
        if dparams is not None:
            dz += a @ dparams["W"].T
            if self.bias:
                dz += dparams["b"]
        return dz

    def _pullback_input(self, params, a, R):
        # (S, r, m) @ (m, n) → (S, r, n), as one (S·r × m)(m × n) product
        S, r, m = R.shape
        return (R.reshape(S * r, m) @ params["W"]).reshape(S, r, -1)

    def _vjp_input(self, params, a, zbar):
        return zbar @ params["W"]

    def _vjp_params(self, params, a, zbar):
        grads = {"W": zbar.T @ a}
        if self.bias:
            grads["b"] = zbar.sum(axis=0)
        return grads

    def _param_blocks(self, params, a, R):
        return LinearBlock(R, a, self.bias)

    def _jacobian(self, params, a):
        S, (m, n) = a.shape[0], params["W"].shape
        Jx = np.broadcast_to(params["W"], (S, m, n)).copy()
        # ∂z_p/∂W_{p'q} = δ_{pp'} a_q ;  ∂z_p/∂b_{p'} = δ_{pp'}
        JW = np.einsum("pr,sq->sprq", np.eye(m), a).reshape(S, m, m * n)
        Jw = np.concatenate([JW, np.broadcast_to(np.eye(m), (S, m, m))], axis=2) \
            if self.bias else JW
        return Jx, Jw

    def __repr__(self):
        return f"Linear({self.in_space} → {self.out_space}{'' if self.bias else ', bias=False'})"


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
        n = self.A.shape[1]
        B = np.empty((S, r, m * n + (m if self.bias else 0)), dtype=self.R.dtype)
        np.multiply(self.R[:, :, :, None], self.A[:, None, None, :],     # R_s[j,p] a_s[q]
                    out=B[:, :, :m * n].reshape(S, r, m, n))
        if self.bias:
            B[:, :, m * n:] = self.R
        return B

    def apply(self, v: dict) -> np.ndarray:
        # B_s v = R_s (W a_s + b)                                      (S, r)
        z = self.A @ v["W"].T
        if self.bias:
            z += v["b"]
        return np.einsum("sjp,sp->sj", self.R, z)

    def apply_T(self, C: np.ndarray) -> dict:
        # Σ_s B_sᵀ C_s = (Σ_s u_s a_sᵀ, Σ_s u_s) with u_s = R_sᵀ C_s     (adjoint of apply)
        U = np.einsum("sjp,sj->sp", self.R, C)
        out = {"W": U.T @ self.A}
        if self.bias:
            out["b"] = U.sum(axis=0)
        return out
