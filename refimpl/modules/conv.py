"""The 2-D convolution ``y = W ⋆ x + b`` (cross-correlation, zero padding) and its metric block.

Per sample, with input ``x`` of shape ``(C_in, H, W)``, weight ``W`` ``(C_out, C_in, kh, kw)``,
bias ``b`` ``(C_out,)``, stride ``(sh, sw)`` and zero padding ``(ph, pw)``:

    y[o, u, v] = b[o] + Σ_{c,i,j} W[o, c, i, j] · x_pad[c, sh·u + i, sw·v + j]

— numerically the map of ``torch.nn.functional.conv2d(x, W, b, stride, padding)``. With the
patches ``U`` (``P × K``, ``P = H'·W'`` output positions, ``K = C_in·kh·kw``; row ``p`` is the
window read at position ``p`` in the order ``(c, i, j)``, :mod:`refimpl.modules._patches`) and
``W₂ = W.reshape(C_out, K)``, one sample is the matrix product ``Y = W₂ Uᵀ + b 1ᵀ``
(``C_out × P``). Hand-derived derivatives, per sample:

- JVP                    ``δY = W₂ δUᵀ + δW₂ Uᵀ + δb 1ᵀ`` (``δU`` the patches of ``δx``)
- VJP, input             ``x̄ = col2im(W₂ᵀ Ȳ)``: each output cotangent is spread back over its
                         window, overlapping windows add (adjoint of ``δx ↦ W₂ δUᵀ``)
- VJP, parameters        ``W̄₂ = Σ_s Ȳ_s U_s``, ``b̄ = Σ_s Ȳ_s 1``   (adjoint of ``δW ↦ δW₂ Uᵀ``)
- factor to the input    ``R_s[j] ↦ col2im(W₂ᵀ R_s[j])`` for each of the ``r`` rows
                         (``R_s[j]`` is ``C_out × P``), i.e. the transposed convolution
- factor to the weights  ``B_s[j] = (R_s[j] U_s, R_s[j] 1)``: a ``C_out × K`` matrix and a
                         ``C_out`` vector per row, kept factorised in :class:`ConvBlock`.

Every operation is a few large matrix products plus a loop over the ``kh·kw`` kernel offsets
of vectorised strided views; none loops over samples or positions.
"""
from __future__ import annotations

import numpy as np

from ..linalg import gram_lower
from ..spaces import Shape
from . import _patches
from .base import Module
from .blocks import Block, BlockCost

#: the positions path of the Gram is done in chunks of samples whose temporaries stay below
#: this many bytes
CHUNK_BYTES = 64 << 20


class Conv2d(Module):
    """2-D convolution (cross-correlation) ``R^{C_in×H×W} → R^{C_out×H'×W'}``.

    Parameters
    ----------
    in_channels, out_channels : int
    kernel_size, stride, padding : int or (int, int)
        ``(kh, kw)``, ``(sh, sw)`` (default 1), zero padding ``(ph, pw)`` added on both sides
        (default 0). ``H' = ⌊(H + 2ph − kh)/sh⌋ + 1``, likewise ``W'``.
    bias : bool, default True
    input_size : (int, int)
        ``(H, W)`` of the input images (keyword; spaces are fixed at construction).
    init_scale : float, default 1.0
        ``W`` is initialised as ``init_scale · N(0, 1/(C_in·kh·kw))`` (LeCun normal; ``√2``
        gives He's initialisation for ReLU networks), ``b`` as zero.

    Examples
    --------
    >>> import numpy as np
    >>> from refimpl.modules import Conv2d
    >>> conv = Conv2d(3, 4, 3, stride=2, padding=1, input_size=(8, 8))
    >>> conv
    Conv2d(3 → 4, kernel (3, 3), stride (2, 2), padding (1, 1); R^{3×8×8} → R^{4×4×4})
    >>> params = conv.init(np.random.default_rng(0))
    >>> conv(params, np.ones((2, 3, 8, 8))).shape
    (2, 4, 4, 4)
    """

    def __init__(self, in_channels: int, out_channels: int, kernel_size, stride=1, padding=0,
                 bias: bool = True, *, input_size, init_scale: float = 1.0):
        who = "Conv2d"
        for name, v in (("in_channels", in_channels), ("out_channels", out_channels)):
            if isinstance(v, bool) or not isinstance(v, (int, np.integer)) or v <= 0:
                raise ValueError(f"{who}: {name} must be a positive int, got {v!r}")
        if not isinstance(bias, (bool, np.bool_)):
            raise ValueError(f"{who}: bias must be True or False, got {bias!r}")
        self.kernel = _patches.pair(kernel_size, "kernel_size", who=who)
        self.stride = _patches.pair(stride, "stride", who=who)
        self.padding = _patches.pair(padding, "padding", minimum=0, who=who)
        self.size = _patches.pair(input_size, "input_size", who=who)
        self.out_size = _patches.output_size(self.size, self.kernel, self.stride, self.padding,
                                             who)
        self.in_channels, self.out_channels = int(in_channels), int(out_channels)
        self.bias = bool(bias)
        self.init_scale = float(init_scale)
        self.in_space = Shape(self.in_channels, *self.size)
        self.out_space = Shape(self.out_channels, *self.out_size)

    # -- sizes ------------------------------------------------------------------------------
    @property
    def weight_shape(self) -> tuple:
        return (self.out_channels, self.in_channels) + self.kernel

    @property
    def patch_size(self) -> int:
        """``K = C_in · kh · kw``."""
        return self.in_channels * self.kernel[0] * self.kernel[1]

    @property
    def positions(self) -> int:
        """``P = H' · W'``."""
        return self.out_size[0] * self.out_size[1]

    def param_shapes(self) -> dict:
        return {"W": self.weight_shape} | ({"b": (self.out_channels,)} if self.bias else {})

    def _init(self, rng):
        params = {"W": self.init_scale * rng.standard_normal(self.weight_shape)
                  / np.sqrt(self.patch_size)}
        if self.bias:
            params["b"] = np.zeros(self.out_channels)
        return params

    # -- the map and its derivatives --------------------------------------------------------
    def _patches(self, x):
        return _patches.im2col(x, self.kernel, self.stride, self.padding, self.out_size)

    def _correlate(self, W, b, cols):
        """``Y_s = W₂ U_sᵀ (+ b)`` for patches ``cols`` ``(K, N, P)`` → ``(N, C_out, H', W')``."""
        K, N, P = cols.shape
        Y = W.reshape(self.out_channels, K) @ cols.reshape(K, N * P)      # (C_out, N·P)
        Y = np.swapaxes(Y.reshape(self.out_channels, N, P), 0, 1)
        Y = Y + b[:, None] if b is not None else np.ascontiguousarray(Y)
        return Y.reshape((N,) + self.out_space.shape)

    def _forward(self, params, x):
        cols = self._patches(x)
        return self._correlate(params["W"], params.get("b"), cols), cols   # cache: patches

    def _jvp(self, params, cols, dx, dparams):
        N = cols.shape[1]
        dy = np.zeros((N,) + self.out_space.shape)
        if dx is not None:
            dy += self._correlate(params["W"], None, self._patches(dx))
        if dparams is not None:
            dy += self._correlate(dparams["W"], dparams.get("b"), cols)
        return dy

    def _transpose(self, W, Y):
        """``col2im(W₂ᵀ Y_n)`` for ``Y`` ``(N, C_out, H', W')`` → ``(N, C_in, H, W)``: the
        adjoint of ``x ↦ W ⋆ x``, one product ``W[:, :, i, j]ᵀ Y`` per kernel offset added
        into the offset's input positions (no ``K × N·P`` temporary)."""
        N, P = Y.shape[0], self.positions
        Yt = np.swapaxes(Y.reshape(N, self.out_channels, P), 0, 1).reshape(
            self.out_channels, N * P)                                     # (C_out, N·P)
        buf = _patches.padded_zeros((self.in_channels, N), self.size, self.padding)
        T = np.empty((self.in_channels, N * P))                          # reused per offset
        T4 = T.reshape((self.in_channels, N) + self.out_size)
        kh, kw = self.kernel
        for i in range(kh):
            for j in range(kw):
                np.matmul(W[:, :, i, j].T, Yt, out=T)
                _patches.scatter_add(buf, T4, i, j, self.stride, self.out_size)
        return np.ascontiguousarray(np.swapaxes(_patches.crop(buf, self.size, self.padding),
                                                0, 1))

    def _vjp_input(self, params, cols, ybar):
        return self._transpose(params["W"], ybar)

    def _pullback_input(self, params, cols, R):
        S, r = R.shape[:2]
        out = self._transpose(params["W"], R.reshape((S * r,) + self.out_space.shape))
        return out.reshape((S, r) + self.in_space.shape)

    def _vjp_params(self, params, cols, ybar):
        K, N, P = cols.shape
        Yt = np.swapaxes(ybar.reshape(N, self.out_channels, P), 0, 1).reshape(
            self.out_channels, N * P)
        grads = {"W": (Yt @ cols.reshape(K, N * P).T).reshape(self.weight_shape)}
        if self.bias:
            grads["b"] = Yt.sum(axis=1)
        return grads

    def _param_blocks(self, params, cols, R):
        S, r = R.shape[:2]
        return ConvBlock(R.reshape(S, r, self.out_channels, self.positions), cols,
                         self.weight_shape, self.bias)

    def _jacobian(self, params, x):
        # written from the definition (index arithmetic on the padded input, one window at a
        # time), independently of im2col and the transposed convolution
        S = x.shape[0]
        (kh, kw), (sh, sw), (ph, pw) = self.kernel, self.stride, self.padding
        (H, Wd), (Ho, Wo) = self.size, self.out_size
        Co, Ci = self.out_channels, self.in_channels
        Jx = np.zeros((Co, Ho, Wo, Ci, H, Wd))
        xp = _patches.pad(x, self.padding)
        U = np.empty((S, Ho, Wo, Ci * kh * kw))
        for u in range(Ho):
            for v in range(Wo):
                U[:, u, v] = xp[:, :, sh * u:sh * u + kh, sw * v:sw * v + kw].reshape(S, -1)
                for i in range(kh):
                    for j in range(kw):
                        h, w = sh * u + i - ph, sw * v + j - pw
                        if 0 <= h < H and 0 <= w < Wd:
                            Jx[:, u, v, :, h, w] = params["W"][:, :, i, j]
        n_out, n_in = Co * Ho * Wo, Ci * H * Wd
        Jx = np.broadcast_to(Jx.reshape(n_out, n_in), (S, n_out, n_in)).copy()
        # ∂y[o,u,v]/∂W[o',c,i,j] = δ_oo' x_pad[c, sh·u+i, sw·v+j];  ∂y[o,u,v]/∂b[o'] = δ_oo'
        JW = np.einsum("oq,suvk->souvqk", np.eye(Co), U).reshape(S, n_out, -1)
        if not self.bias:
            return Jx, JW
        Jb = np.broadcast_to(np.eye(Co)[:, None, None, :], (Co, Ho, Wo, Co)).reshape(n_out, Co)
        return Jx, np.concatenate([JW, np.broadcast_to(Jb, (S, n_out, Co))], axis=2)

    def __repr__(self):
        from ..spaces import describe
        return (f"Conv2d({self.in_channels} → {self.out_channels}, kernel {self.kernel}, "
                f"stride {self.stride}, padding {self.padding}"
                f"{'' if self.bias else ', bias=False'}; {describe(self.in_space)} → "
                f"{describe(self.out_space)})")


class ConvBlock(Block):
    """Blocks of :class:`Conv2d`: ``B_s[j] = (R_s[j] U_s, R_s[j] 1)`` (:ref:`math §4 <math-4>`, Remark 4).

    ``R_s[j]`` (``C_out × P``) is row ``j`` of the factor at the layer's output and ``U_s``
    (``P × K``) the sample's patches, so the weight part of row ``j`` is the ``C_out × K``
    matrix ``R_s[j] U_s`` (flattened in C order it is ``vec W``'s row of ``B_s``) and the bias
    part ``R_s[j] 1`` (``C_out``).

    The inner matrix (:ref:`math §4 <math-4>`) ``[B_s M⁻¹ B_tᵀ]_{(s,j),(t,i)}`` is, for a mass that is one
    scalar on each leaf (``μ_W``, ``μ_b``),

        ⟨R_s[j] U_s, R_t[i] U_t⟩_F / μ_W + (R_s[j] 1)·(R_t[i] 1) / μ_b
          = Σ_o Σ_{p,q} R_s[j][o,p] (U_s U_tᵀ)[p,q] R_t[i][o,q] / μ_W + …

    and :meth:`inner_matrix` forms it (lower triangle) by the cheaper of two exact formulas,
    whose flops (``q = S·r``, ``n = C_out·K``) :meth:`formula_flops` counts:

    - ``"conv-materialise"``: the rows ``B_s[j]`` formed (``2 q C_out P K`` flops), then their
      Gram ``B̃ B̃ᵀ`` (``q² n``); any diagonal mass;
    - ``"conv-positions"``: the Gram of all patches ``Z = [U_s U_tᵀ]`` (``(S P)² K``)
      contracted with the factor rows on both sides (``S² P² r C_out`` and
      ``S² r² C_out P``), never forming ``B̃``; it wins with few output positions ``P`` and
      many weights (late layers after pooling); a scalar mass on each leaf.

    The bias term is always the Gram of the ``(S r) × C_out`` row sums ``R_s[j] 1``. The
    products ``K x`` of refinement and conjugate gradients go through :meth:`apply_T` and
    :meth:`apply` (the protocol's default, about ``4 S C_out P K`` flops per column).

    Parameters
    ----------
    R : ndarray, shape (S, r, C_out, P)
        The factor at the layer's output, positions flattened.
    cols : ndarray, shape (K, S, P)
        The patches (:func:`refimpl.modules._patches.im2col`).
    weight_shape : tuple
        ``(C_out, C_in, kh, kw)``.
    bias : bool
    """

    def __init__(self, R: np.ndarray, cols: np.ndarray, weight_shape: tuple, bias: bool):
        self.R, self.cols, self.bias = R, cols, bias
        self.S, self.r, self.C_out, self.P = R.shape
        self.K = cols.shape[0]
        self.weight_shape = tuple(weight_shape)
        self.shapes = {"W": self.weight_shape} | ({"b": (self.C_out,)} if bias else {})
        self.dtype = R.dtype

    # -- B̃ and its adjoint --------------------------------------------------------------------
    def _rows_W(self, dtype=None) -> np.ndarray:
        """``R_s[j] U_s`` for all ``(s, j)``: ``(S, r·C_out, K)``."""
        R, cols = self.R, self.cols
        if dtype is not None and dtype != R.dtype:
            R, cols = R.astype(dtype), cols.astype(dtype)
        return np.matmul(R.reshape(self.S, self.r * self.C_out, self.P),
                         cols.transpose(1, 2, 0))

    def materialize(self, dtype=None) -> np.ndarray:
        """Dense ``(S, r, n)``: ``vec(R_s[j] U_s)`` then ``R_s[j] 1``."""
        BW = self._rows_W(dtype).reshape(self.S, self.r, self.C_out * self.K)
        if not self.bias:
            return BW
        Bb = self.R.sum(axis=3)
        return np.concatenate([BW, Bb.astype(BW.dtype, copy=False)], axis=2)

    def apply(self, v: dict) -> np.ndarray:
        # B_s v = ⟨R_s[j], V₂ U_sᵀ + v_b 1ᵀ⟩: the convolution with weights v, then one
        # (r × C_out·P)(C_out·P) product per sample on R as it is laid out
        S, P, Co = self.S, self.P, self.C_out
        Yv = (v["W"].reshape(Co, self.K) @ self.cols.reshape(self.K, S * P)).reshape(Co, S, P)
        if self.bias:
            Yv += v["b"][:, None, None]
        Ys = np.ascontiguousarray(np.swapaxes(Yv, 0, 1)).reshape(S, Co * P, 1)
        return np.matmul(self.R.reshape(S, self.r, Co * P), Ys)[:, :, 0]

    def apply_T(self, C: np.ndarray) -> dict:
        # Σ_s B_sᵀ C_s = (Σ_s Ȳ_s U_s, Σ_s Ȳ_s 1) with Ȳ_s = Σ_j C_sj R_s[j]   (adjoint of apply)
        S, P, Co = self.S, self.P, self.C_out
        Ys = np.matmul(C[:, None, :], self.R.reshape(S, self.r, Co * P)).reshape(S, Co, P)
        Ybar = np.ascontiguousarray(np.swapaxes(Ys, 0, 1)).reshape(Co, S * P)
        out = {"W": (Ybar @ self.cols.reshape(self.K, -1).T).reshape(self.weight_shape)}
        if self.bias:
            out["b"] = Ybar.sum(axis=1)
        return out

    # -- metric algebra under a mass --------------------------------------------------------------
    def _scalar_inverse(self, mass):
        """``(1/μ_W, 1/μ_b)`` if the mass is one scalar on each leaf, else ``None``."""
        if mass.scalar is not None:
            return 1.0 / mass.scalar, 1.0 / mass.scalar
        inv = {k: np.ravel(mass.inverse(k)) for k in self.shapes}
        if all(np.all(v == v[0]) for v in inv.values()):
            return float(inv["W"][0]), float(inv["b"][0]) if self.bias else 0.0
        return None

    def formula_flops(self) -> dict:
        """Flops of the two formulas of :meth:`inner_matrix` (lower triangle)."""
        S, r, Co, P, K = self.S, self.r, self.C_out, self.P, self.K
        return {"conv-materialise": 2.0 * S * r * Co * P * K + (S * r) ** 2 * Co * K,
                "conv-positions": (S * P) ** 2 * K + S * S * P * P * r * Co
                                  + S * S * r * r * Co * P}

    def formula(self, mass) -> str:
        if self._scalar_inverse(mass) is None:
            return "conv-materialise"
        flops = self.formula_flops()
        return min(flops, key=flops.get)

    def inner_matrix(self, mass, scale: float, dtype=np.float64) -> np.ndarray:
        """``K_b = I + scale · [B_s M⁻¹ B_tᵀ]``, ``(S·r, S·r)``, sample-major rows ``s·r + j``;
        only the lower triangle is meaningful. ``dtype=float32`` forms it in single precision
        (the mixed-precision path; its residuals come from :meth:`inner_matvec`)."""
        dtype = np.dtype(dtype)
        q = self.S * self.r
        scalar = self._scalar_inverse(mass)
        if self.formula(mass) == "conv-positions":
            K, w = self._gram_positions(dtype), scalar[0]
        else:
            with np.errstate(over="ignore"):     # beyond float32: the refined solver falls back
                B = self._rows_W(dtype).reshape(q, self.C_out * self.K)
            if scalar is not None:               # lower triangle only; the rest is not set
                K, w = gram_lower(B), scalar[0]
            else:
                d = np.broadcast_to(mass.inverse("W"), self.weight_shape).reshape(1, -1)
                K, w = (B * d.astype(dtype)) @ B.T, 1.0
        lower = np.tri(q, dtype=bool)
        if self.bias:                            # (R_s[j] 1)ᵀ M_b⁻¹ (R_t[i] 1), over w
            Rb = self.R.sum(axis=3).reshape(q, self.C_out).astype(dtype)
            inv_b = np.broadcast_to(scalar[1] if scalar is not None else mass.inverse("b"),
                                    (self.C_out,)) / w
            np.add(K, (Rb * inv_b.astype(dtype)) @ Rb.T, out=K, where=lower)
        np.multiply(K, dtype.type(scale * w), out=K, where=lower)
        K[np.diag_indices(q)] += 1.0
        return K

    def _gram_positions(self, dtype) -> np.ndarray:
        """``[⟨R_s[j] U_s, R_t[i] U_t⟩_F]`` (lower triangle; zeros above) through the patch
        Gram ``Z = [U_s U_tᵀ]``, in chunks of columns ``t`` (temporaries ≤ ``CHUNK_BYTES``)."""
        S, r, Co, P, Kp = self.S, self.r, self.C_out, self.P, self.K
        U = self.cols.reshape(Kp, S * P).astype(dtype, copy=False)
        R = self.R.astype(dtype, copy=False)
        Rq = np.ascontiguousarray(R.transpose(0, 3, 1, 2)).reshape(S, P, r * Co)  # [t,q,(i,o)]
        Rs = R.reshape(S, r, Co * P)                                             # [s,j,(o,p)]
        out = np.zeros((S * r, S * r), dtype=dtype)
        tc = self._positions_chunk(dtype.itemsize)
        for t0 in range(0, S, tc):
            t1 = min(S, t0 + tc)
            n_s, n_t = S - t0, t1 - t0
            Z = U[:, t0 * P:].T @ U[:, t0 * P:t1 * P]                # [(s,p), (t,q)], s ≥ t0
            Z3 = Z.reshape(n_s * P, n_t, P).transpose(1, 0, 2)         # [t, (s,p), q]
            T = np.matmul(Z3, Rq[t0:t1])                               # [t, (s,p), (i,o)]
            T = T.reshape(n_t, n_s, P, r, Co).transpose(1, 4, 2, 0, 3).reshape(
                n_s, Co * P, n_t * r)                                  # [s, (o,p), (t,i)]
            Kc = np.matmul(Rs[t0:], T)                                 # [s, j, (t,i)]
            out[t0 * r:, t0 * r:t1 * r] = Kc.reshape(n_s * r, n_t * r)
        return out

    def _positions_chunk(self, itemsize: int) -> int:
        """Columns ``t`` per chunk of :meth:`_gram_positions` (``Z`` and two copies of ``T``)."""
        per_t = self.S * self.P * (self.P + 2 * self.r * self.C_out) * itemsize
        return max(1, min(self.S, CHUNK_BYTES // max(per_t, 1)))

    def sample_gram(self, mass=None) -> np.ndarray:
        """``B_s M⁻¹ B_sᵀ`` per sample, ``(S, r, r)`` (``M = I`` when ``mass`` is None)."""
        BW = self._rows_W().reshape(self.S, self.r, -1)
        Rb = self.R.sum(axis=3)
        if mass is None:
            inv_W, inv_b = 1.0, 1.0
        else:
            inv_W = np.broadcast_to(mass.inverse("W"), self.weight_shape).reshape(-1)
            inv_b = mass.inverse("b") if self.bias else 0.0
        G = np.matmul(BW * inv_W, np.swapaxes(BW, 1, 2))
        if self.bias:
            G += np.matmul(Rb * inv_b, np.swapaxes(Rb, 1, 2))
        return G

    def kfac_factors(self):
        """KFC's Kronecker factors (Grosse & Martens 2016) with ``(1/S) Σ_s B_sᵀ B_s ≈ G ⊗ A``
        on ``[W₂ | b]`` (``C_out × (K+1)``, row-major; :meth:`Block.kfac_factors`):
        ``A = (1/(S·P)) Σ_{s,p} ã_{s,p} ã_{s,p}ᵀ`` over samples *and* output positions, with
        ``ã = (u, 1)`` the patch and the bias's homogeneous coordinate (``K × K`` without a
        bias), and ``G = (1/S) Σ_{s,j,p} R_s[j][:,p] R_s[j][:,p]ᵀ`` (``C_out × C_out``), which
        carries the sum over the ``P`` positions. KFC's two assumptions (activations and
        derivatives independent, derivatives uncorrelated across positions) make the product
        exact; with one sample, one row and one position it is."""
        S, P = self.S, self.P
        U = self.cols.reshape(self.K, S * P)
        if self.bias:
            U = np.vstack([U, np.ones((1, S * P))])
        A = (U @ U.T) / (S * P)
        Rt = np.moveaxis(self.R, 2, 0).reshape(self.C_out, -1)
        return A, (Rt @ Rt.T) / S

    def cost(self, mass) -> BlockCost:
        S, r, Co, P, K = self.S, self.r, self.C_out, self.P, self.K
        q, n, B = S * r, self.n, 8
        materialise = 2.0 * q * Co * P * K
        flops = self.formula_flops()[self.formula(mass)] + (2.0 * q * q * Co if self.bias
                                                           else 0.0)
        if self.formula(mass) == "conv-positions":
            work = self._positions_chunk(B) * S * P * (P + 2 * r * Co) * B
        else:
            work = q * Co * K * B
        return BlockCost(inner_flops=flops, inner_bytes=q * q * B + work,
                         matvec_flops=4.0 * S * Co * P * K + 4.0 * q * Co * P,
                         matvec_bytes=(S * Co * P + n) * B,
                         dense_flops=materialise + n * n * q, dense_bytes=(n * n + q * n) * B)
