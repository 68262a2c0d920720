"""The linear module ``z = W a + b`` (:ref:`math §3 <math-3>`, paper Example 1).

Hand-derived derivatives, per sample (``W`` is ``m × n``, ``a ∈ R^n``, ``z ∈ R^m``):

- forward                ``z = W a + b``
- JVP                    ``δz = W δa + δW a + δb``
- VJP, input             ``ā = Wᵀ z̄``                        (adjoint of ``δa ↦ W δa``)
- VJP, parameters        ``W̄ = Σ_s z̄_s a_sᵀ``, ``b̄ = Σ_s z̄_s``  (adjoint of ``δW ↦ δW a``)
- factor to the input    ``R ↦ R W``            (pulled-back metric ``Wᵀ g W``)
- factor to the weights  ``B[j] = (R[j] ⊗ a, R[j])``, i.e. the metric
  ``G[(p,q),(p',q')] = g[p,p'] a_q a_q'`` (``g ⊗ a aᵀ``), kept factorised in
  :class:`LinearBlock` (below), which owns the structured metric algebra of the layer: its
  inner matrix ``K = I + B̃ M⁻¹ B̃ᵀ`` is formed from ``R`` and the inputs without ever
  forming ``B̃`` (:ref:`math §4 <math-4>`);
- K-FAC factors          ``A = E[ã ãᵀ]`` (``ã = [a; 1]`` with a bias), ``G = E[RᵀR]``, with
  ``(1/S) Σ_s B_sᵀB_s ≈ G ⊗ A`` on ``[W | b]`` (exact for ``S = 1``).
"""
from __future__ import annotations

import numpy as np

from .. import tree
from ..linalg import _kernels, gram_lower
from .base import Module
from .blocks import Block, BlockCost


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
    """Blocks of ``z = W a + b``: ``B_s[j] = (vec(R_s[j] a_sᵀ), R_s[j])`` (:ref:`math §3 <math-3>`, §4).

    The inner matrix ``[B_s M⁻¹ B_tᵀ]_{(s,j),(t,i)}`` never needs ``B̃`` (``R_s[j]`` is the
    ``m``-vector of factor row ``j`` of sample ``s``, ``a_s`` the input, ``·`` a dot product):

    ========================  ===========================================================
    formula                   ``[B_s M⁻¹ B_tᵀ]_{(s,j),(t,i)}``
    ========================  ===========================================================
    ``linear-scalar``         ``(R_s[j]·R_t[i]) E_st``, ``E = (A Aᵀ + 1)/μ`` (``M = μI``)
    ``linear-kron``           ``(R_s[j] D_u⁻¹ R_t[i]) (a_s D_v⁻¹ a_t) + R_s[j] D_b⁻¹ R_t[i]``
                              (``M_W = u vᵀ``, ``M_b`` any)
    ``linear-diag``           ``Σ_p R_s[j,p] R_t[i,p] (Σ_q a_s[q] a_t[q] / M_W[p,q] + 1/M_b[p])``
    ``linear-shared-factor``  ``E ⊗ (R_0 R_0ᵀ)`` when ``R_s = R_0`` for every sample and
                              ``M = μI`` (the last layer under a constant output metric):
                              :meth:`inner_kronecker`
    ========================  ===========================================================

    (the ``1`` and ``D_b``, ``M_b`` terms only with a bias). Only the lower triangle of the
    ``linear-scalar`` and ``linear-kron`` inner matrices is formed.

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
        self.dtype = R.dtype
        self._E_of, self._shared = {}, None

    # -- the blocks ---------------------------------------------------------------------------
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

    # -- metric algebra -----------------------------------------------------------------------
    def formula(self, mass) -> str:
        if mass.scalar is not None:
            return "linear-shared-factor" if self._shares_factor() else "linear-scalar"
        return "linear-kron" if mass.kron("W") is not None else "linear-diag"

    def inner_matrix(self, mass, scale: float, dtype=np.float64) -> np.ndarray:
        S, r, m = self.R.shape
        R2, A = self.R.reshape(S * r, m), self.A
        if mass.scalar is not None:
            E = self._E(mass.scalar)
            if np.dtype(dtype) != R2.dtype:
                with np.errstate(over="ignore"):     # beyond float32's range: the refined
                    R2, E = R2.astype(dtype), E.astype(dtype)      # solver falls back
            return _kernels.fuse_kron_gram(gram_lower(R2), E, r, np.dtype(dtype).type(scale))
        uv = mass.kron("W")
        if uv is not None:
            u, v = uv
            K = _kernels.fuse_kron_gram((R2 / u) @ R2.T, (A / v) @ A.T, r, scale)
            if self.bias:
                K += scale * ((R2 * mass.inverse("b")) @ R2.T)
        else:
            # W_st[p] = Σ_q a_s[q] a_t[q] / M_W[p, q] + 1 / M_b[p]   (S, S, m)
            Wst = np.einsum("sq,tq,pq->stp", A, A, mass.inverse("W"), optimize=True)
            if self.bias:
                Wst += mass.inverse("b")
            K = _kernels.pair_weighted_gram(self.R, Wst, scale)
        return K.astype(dtype, copy=False)

    def inner_matvec(self, mass, scale: float):
        if mass.scalar is not None and self._E_form_is_cheaper():
            E = self._E(mass.scalar)
            return lambda x: _kron_matvec(self.R, E, x, scale)
        return super().inner_matvec(mass, scale)

    def inner_kronecker(self, mass):
        if mass.scalar is None or not self._shares_factor():
            return None
        R0 = self.R[0]
        return self._E(mass.scalar), R0 @ R0.T

    def sample_gram(self, mass=None) -> np.ndarray:
        # B_s M⁻¹ B_sᵀ = Σ_p R_s[j,p] R_s[i,p] w_s[p], w_s[p] = Σ_q a_s[q]² / M_W[p,q] + 1/M_b[p]
        if mass is None or mass.scalar is not None:
            mu = 1.0 if mass is None else mass.scalar
            w = (np.einsum("sq,sq->s", self.A, self.A) + (1.0 if self.bias else 0.0)) / mu
            return np.einsum("sjp,sip->sji", self.R, self.R) * w[:, None, None]
        w = (self.A * self.A) @ np.broadcast_to(mass.inverse("W"), self.shapes["W"]).T
        if self.bias:
            w = w + mass.inverse("b")
        return np.einsum("sjp,sip,sp->sji", self.R, self.R, w)

    def cost(self, mass) -> BlockCost:
        S, r, m = self.R.shape
        d = self.A.shape[1]
        q, n, B = S * r, self.n, 8
        through_E = mass.scalar is not None and self._E_form_is_cheaper()
        if mass.scalar is not None:
            inner = q * q * m + 2 * S * S * d
        elif mass.kron("W") is not None:
            inner = 3 * q * q * m + 2 * S * S * d
        else:
            inner = 2 * S * S * d * m + 1.5 * q * q * m
        matvec = (2 * S * S * m if through_E else 4 * S * d * m) + 4 * q * m
        extra = S * S * m if (mass.scalar is None and mass.kron("W") is None) else S * S
        return BlockCost(inner_flops=inner, inner_bytes=(q * q + extra) * B,
                         matvec_flops=matvec,
                         matvec_bytes=((S * S if through_E else m * d) + 2 * S * m) * B,
                         dense_flops=n * n * q + 2 * q * n, dense_bytes=(n * n + q * n) * B)

    def kfac_factors(self) -> tuple[np.ndarray, np.ndarray]:
        """``A = (1/S) Σ_s ã_s ã_sᵀ`` (``ã = [a; 1]`` with a bias) and
        ``G = (1/S) Σ_s R_sᵀ R_s`` (``m × m``); see :meth:`Block.kfac_factors`.

        ``B_sᵀB_s = (R_sᵀR_s) ⊗ (ã_s ã_sᵀ)`` on ``vec([W | b])``; K-FAC replaces the mean of
        the products by the product of the means.
        """
        S, r, m = self.R.shape
        A = self.A if not self.bias else \
            np.concatenate([self.A, np.ones((S, 1), self.A.dtype)], axis=1)
        R2 = self.R.reshape(S * r, m)
        return (A.T @ A) / S, (R2.T @ R2) / S

    # -- private -----------------------------------------------------------------------------
    def _E(self, mu: float) -> np.ndarray:
        """``E = A Aᵀ/μ + 1/μ`` (``S × S``; the ``1/μ`` only with a bias), kept per ``μ``."""
        if mu not in self._E_of:
            self._E_of[mu] = (self.A @ self.A.T) / mu + (1.0 / mu if self.bias else 0.0)
        return self._E_of[mu]

    def _shares_factor(self) -> bool:
        """Whether every sample has the same factor rows ``R_s = R_0``."""
        if self._shared is None:
            R = self.R
            self._shared = self.S > 1 and bool(np.array_equal(R[1], R[0])
                                               and np.all(R == R[:1]))    # cheap test first
        return self._shared

    def _E_form_is_cheaper(self) -> bool:
        """``K x`` through the ``S × S`` matrix ``E`` (``2 S² m`` flops) rather than through
        the parameters (``4 S d m``)."""
        return self.S <= 2 * self.A.shape[1]


def _kron_matvec(R: np.ndarray, E: np.ndarray, x: np.ndarray, scale: float) -> np.ndarray:
    """``K x`` for the ``linear-scalar`` inner matrix ``K = I + scale · (R₂R₂ᵀ) ⊙ (E ⊗ 1)``
    without forming ``K``: ``(K x)_s = x_s + scale · R_s Σ_t E_st R_tᵀ x_t``, i.e.
    ``x + B̃ (M⁻¹ B̃ᵀ x)`` with the parameter-sized middle replaced by the ``S × S`` matrix
    ``E``. ``R`` (S, r, m), ``x`` (S·r, k) sample-major; returns (S·r, k)."""
    S, r, _ = R.shape
    k = x.shape[1]
    X = x.reshape(S, r, k)
    U = np.matmul(np.swapaxes(R, 1, 2), X)                # u_t = R_tᵀ x_t        (S, m, k)
    V = np.tensordot(E, U, axes=(1, 0))                   # v_s = Σ_t E_st u_t
    return (X + scale * np.matmul(R, V)).reshape(S * r, k)
