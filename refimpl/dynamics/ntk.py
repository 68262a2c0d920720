"""The generalized neural tangent kernel ``Θ = J G⁻¹ Jᵀ`` (:ref:`math §7 <math-7>`; paper eq. (4), (11)).

For a module ``y = f(x; w) ∈ R^k`` and a data set ``X`` of ``n`` samples, ``J`` is the stacked
per-sample Jacobian (``nk × P``, rows ``(i, j) ↦ i·k + j``, i.e. the order of ``Y.ravel()``)
with respect to *all* parameters, and ``G`` is the paper's metric built on the same data set
with the identity output metric (for the MSE loss also the Gauss–Newton one):

    G = blockdiag_l (M_l + (1/n) J_lᵀ J_l)          (scope="layer", the paper's metric)
    G = M + (1/n) Jᵀ J                              (scope="network", damped Gauss–Newton)

The factor pass with ``R_L = I`` gives the blocks ``B_{l,i} = J_{l,i}`` (``r = k``), so
``J_l = √n · B̃_l`` and, with the Woodbury inner matrix ``K_l = I + P_l``,
``P_l = B̃_l M_l⁻¹ B̃_lᵀ`` (:ref:`math §4 <math-4>`),

    J_l G_l⁻¹ J_lᵀ = J_l M⁻¹ J_lᵀ − J_l M⁻¹ B̃ᵀ K⁻¹ B̃ M⁻¹ J_lᵀ = n (P_l − P_l K_l⁻¹ P_l)
                   = n K_l⁻¹ P_l                                           (push-through)

— ``nk × nk`` Gram-matrix work only, no ``P × P`` matrix. The last form (``P`` and ``K⁻¹``
commute) avoids the cancellation of the difference, as eq. (3′) does for the step. Then
``Θ = Σ_l n K_l⁻¹ P_l`` (layer scope) or ``n K⁻¹ Σ_l P_l`` with ``K = I + Σ_l P_l`` (network
scope). ``P_l`` comes from the module's block (:meth:`refimpl.modules.Block.inner_matrix`), so
a structured block never forms ``B̃`` (for a linear module with scalar mass
``P[(s,j),(t,i)] = (R_s[j]·R_t[i]) (a_s·a_t + 1)/(n μ)``, bias included).

``Θ`` is positive definite iff ``J`` has full row rank, which needs ``nk ≤ P``; for a single
``Linear(d, k)`` (``J_i = [I_k ⊗ a_iᵀ, I_k]``) it holds iff the ``n × (d+1)`` matrix
``[A, 1]`` has full row rank: generic inputs need ``n ≤ d + 1``, whatever ``k``.
Eigenvalues: for one linear module with scalar mass ``μ``, ``λ(Θ) = e/(μ + e/n)`` with ``e``
the eigenvalues of ``[A, 1][A, 1]ᵀ``, so ``λ(Θ) < n`` and ``ξ = λ_min(Θ)/n < 1``.

:func:`jacobian_grams` gives the per-sample ``J_i J_iᵀ`` (``k × k``) from the same blocks; the
Jacobian constant ``κ`` of Theorem 3 is ``max_i ‖J_i‖₂`` (spectral norm, the largest singular
value of the ``k × P`` matrix), :func:`jacobian_norms`.
"""
from __future__ import annotations

import numbers

import numpy as np
from scipy.linalg import cho_factor, cho_solve

from .. import spaces
from ..metric import Mass
from ..modules import Module, block_items, check_network

__all__ = ["generalized_ntk", "contraction_rate", "jacobian_grams", "jacobian_norms"]

SCOPES = ("layer", "network")


# -- public -----------------------------------------------------------------------------------
def generalized_ntk(model: Module, params, X, *, mass=1.0, scope: str = "layer") -> np.ndarray:
    """``Θ = J G⁻¹ Jᵀ`` over the data set ``X``, through the Woodbury inner matrices.

    Parameters
    ----------
    model : Module
        A module with a single array output ``(n, k)``.
    params : dict
        Its parameter tree.
    X : array_like, shape (n, d_in)
        The data set; the metric ``G`` is built on it (identity output metric).
    mass : float or dict
        ``μ > 0`` or a tree of positive arrays like ``params`` (the diagonal ``M``).
    scope : {"layer", "network"}
        The paper's block-diagonal metric, or one metric over all parameters.

    Returns
    -------
    ndarray, shape (n·k, n·k)
        Symmetric; rows in the order of ``Y.ravel()`` for outputs ``Y`` of shape ``(n, k)``.

    Examples
    --------
    >>> import numpy as np
    >>> from refimpl.modules import Linear
    >>> model = Linear(5, 2)
    >>> params = model.init(np.random.default_rng(0))
    >>> X = np.random.default_rng(1).standard_normal((3, 5))
    >>> generalized_ntk(model, params, X, mass=0.5).shape
    (6, 6)
    """
    params, X, mass = _check(model, params, X, mass)
    if scope not in SCOPES:
        raise ValueError(f"unknown scope {scope!r}; expected one of {SCOPES}")
    y, blocks = _output_blocks(model, params, X)
    n = y.shape[0]
    grams = [_gram(b, mass.at(p), n) for p, b in blocks]
    if scope == "layer":
        theta = sum(_kinv_p(P) for P in grams)
    else:
        theta = _kinv_p(sum(grams))
    return n * theta


def contraction_rate(theta, n: int) -> float:
    """``ξ = λ_min(Θ) / n`` for a kernel over ``n`` samples (:ref:`math §7 <math-7>`).

    The output flow ``Ẏ = −(1/n) Θ (Y − T)`` contracts at this rate. ``Θ`` must be a finite
    symmetric ``(n·k, n·k)`` matrix. A numerically singular ``Θ`` (``J`` without full row rank:
    ``|λ_min| ≤ 10·nk·ε·λ_max``, within rounding of zero) gives ``0.0``, and then Theorem 3
    gives no bound.
    """
    n = _check_n(n)
    theta = np.asarray(theta, dtype=np.float64)
    if theta.ndim != 2 or theta.shape[0] != theta.shape[1] or theta.shape[0] % n:
        raise ValueError(f"theta must be a square (n·k, n·k) matrix with n = {n} dividing its "
                         f"size, got shape {theta.shape}")
    if not np.all(np.isfinite(theta)):
        raise ValueError("theta must be finite")
    asym = np.abs(theta - theta.T).max(initial=0.0)
    if asym > 1e-8 * max(np.abs(theta).max(initial=0.0), 1e-300):
        raise ValueError(f"theta must be symmetric; max |Θ − Θᵀ| = {asym:.3g}")
    lam = np.linalg.eigvalsh(0.5 * (theta + theta.T))
    if lam[0] <= 10 * lam.size * np.finfo(np.float64).eps * max(lam[-1], 0.0):
        return 0.0
    return float(lam[0] / n)


def jacobian_grams(model: Module, params, X) -> np.ndarray:
    """``J_i J_iᵀ`` (``k × k``) for every sample, ``J_i = ∂f(x_i; w)/∂w`` over all parameters.

    Sums the modules' ``B_{l,i} B_{l,i}ᵀ`` from the factor pass with ``R_L = I``
    (:meth:`refimpl.modules.Block.sample_gram`; for a linear module
    ``R_i R_iᵀ (a_i·a_i + 1)``, bias included, without forming ``B``).

    Returns
    -------
    ndarray, shape (n, k, k)
    """
    params, X, _ = _check(model, params, X, 1.0)
    _, blocks = _output_blocks(model, params, X)
    return sum(b.sample_gram() for _, b in blocks)


def jacobian_norms(model: Module, params, X) -> np.ndarray:
    """``‖J_i‖₂`` (largest singular value of the ``k × P`` Jacobian) per sample, ``(n,)``.

    ``κ = max_i ‖J_i‖₂`` over the data seen is Theorem 3's Lipschitz constant of ``f`` in ``w``.
    """
    lam = np.linalg.eigvalsh(jacobian_grams(model, params, X))[:, -1]
    return np.sqrt(np.clip(lam, 0.0, None))


# -- private ----------------------------------------------------------------------------------
def _check(model, params, X, mass):
    check_network(model)
    params = model.check_params(params)
    if model.n_params == 0:
        raise ValueError(f"{model!r} has no parameters: there is no tangent kernel")
    X = spaces.check_point(X, model.in_space, "X")
    if spaces.batch_size(X, model.in_space) == 0:
        raise ValueError("X must hold at least one sample")
    return params, X, Mass.parse(mass, params)


def _check_n(n) -> int:
    if isinstance(n, bool) or not isinstance(n, numbers.Integral) or n <= 0:
        raise ValueError(f"n (the number of samples) must be a positive int, got {n!r}")
    return int(n)


def _output_blocks(model, params, X):
    """Forward pass and the factor pass with ``R_L = I``: ``(y, [(path, block)])``."""
    y, cache = model.forward(params, X)
    n, k = y.shape
    eye = np.ascontiguousarray(np.broadcast_to(np.eye(k), (n, k, k)))
    _, blocks = model.factor_pass(params, cache, eye, need_input=False)
    return y, list(block_items(blocks))


def _gram(block, mass, n) -> np.ndarray:
    """``P = B̃ M⁻¹ B̃ᵀ = (1/n) [B_s M⁻¹ B_tᵀ]``, shape ``(n·r, n·r)``, sample-major: the
    block's inner matrix below the diagonal, made symmetric, and its diagonal from the
    per-sample Grams — not ``diag(K) − 1``, which cancels where ``P ≪ I`` (large mass)."""
    K = block.inner_matrix(mass, 1.0 / n)
    P = np.tril(K, -1)
    d = np.einsum("sjj->sj", block.sample_gram(mass)).ravel() / n
    return P + P.T + np.diag(d)


def _kinv_p(P) -> np.ndarray:
    """``K⁻¹ P`` with ``K = I + P`` (symmetric: ``P`` and ``K⁻¹`` commute)."""
    K = P.copy()
    K[np.diag_indices_from(K)] += 1.0
    X = cho_solve(cho_factor(K, lower=True), P)
    return 0.5 * (X + X.T)
