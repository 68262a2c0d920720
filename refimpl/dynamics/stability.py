"""Contraction and algorithmic stability: Theorem 3's constants and bounds (paper §3.5; :ref:`math §7 <math-7>`).

Setting (MSE loss ``ℓ_i = ½|y_i − t_i|²``, identity output metric, ``n`` samples):

- flow ``ẇ = −G_D(w)⁻¹ ∇R_D(w)``, ``R_D = (1/n) Σ_i ℓ_i``, ``G_D = M + pull-back over D``
  (:func:`refimpl.metric.build_metric`); ``λ_min(G) ≥ μ := min M`` since the pull-back is PSD;
- stacked outputs over ``D``: ``Ẏ = −(1/n) Θ (Y − T)``, ``Θ = J G⁻¹ Jᵀ``
  (:mod:`refimpl.dynamics.ntk`), contracting at ``ξ := inf_t λ_min(Θ(t))/n``;
- training on ``D'`` (sample ``i*`` replaced), observed through the outputs over ``D``, is the
  same output flow plus a disturbance — the difference of the two right-hand sides at the same
  ``w`` (:func:`disturbance`):

      d(w) = J_D(w) (G_D⁻¹ ∇R_D − G⁻¹ ∇R_{D'})                                (paper eq. 8)

  With ``G = G_D`` in both flows (``metric="shared"``, the paper's proof),
  ``d_i = −(1/n) J_i G_D⁻¹ (J'_{i*}ᵀ ∇ℓ'_{i*} − J_{i*}ᵀ ∇ℓ_{i*})``, so
  ``‖d_i‖ ≤ (1/n) κ (1/μ) 2κL`` and ``‖d‖ ≤ 2κ²L/(μ√n)`` (:func:`disturbance_bound`).
  When each flow uses its own data set's metric (``metric="own"``, what Algorithm 1 does), the
  metric changes too, ``G_{D'} − G_D = (1/n)(J'ᵀJ' − JᵀJ)_{i*}`` (norm ``≤ κ²/n``), adding
  ``J_D G_{D'}⁻¹ (G_{D'} − G_D) G_D⁻¹ ∇R_D`` with ``‖·‖ ≤ κ⁴L/(μ²√n)``
  (:func:`metric_change_bound`), a term the paper's derivation does not contain;
- after transients ``e^{−ξt}``: ``‖Y_D − Y_{D'}‖ ≤ sup‖d‖/ξ ≤ 2κ²L/(ξμ√n)``
  (:func:`stability_bound`). For a model linear in ``w`` (one :class:`~refimpl.modules.Linear`),
  ``J`` and ``Θ`` are constant and ``ė = −(1/n) Θ e − d`` holds exactly, so from the same start
  ``‖Y_D(t) − Y_{D'}(t)‖ ≤ (1 − e^{−ξt}) sup_s‖d(s)‖/ξ`` for *all* ``t``
  (:func:`gap_bound_from_disturbance`).

The a-posteriori bound (Theorem 3′, proved in the docs' section "Theorem 3, a posteriori"):
with ``e = Y_D(w) − Y_D(w')`` (``w`` the flow on ``D``, ``w'`` the flow on ``D'``, the same
start) the output gap obeys ``ė = −(1/n) Θ_D(w') e − q − d(w')``, with the kernel drift
``q = (1/n)(Θ_D(w) − Θ_D(w'))(Y_D(w) − T)`` (zero for a model linear in ``w``), and the
disturbance factorises exactly as ``d = J_D G_D⁻¹ v`` with ``v = ∇R_D − G_D u'``,
``u' = G⁻¹∇R_{D'}`` the other flow's natural gradient. Hence ``‖d‖ ≤ ‖J_D G_D⁻¹‖₂ ‖v‖``
(:func:`disturbance_factors`; ``‖J_D G_D⁻¹‖₂`` through Woodbury,
:func:`jacobian_inverse_metric_norm`, in place of the paper's ``√n κ/μ``), and Grönwall's
inequality gives ``‖e(t)‖ ≤ β(t)``, ``β̇ = −ξ'(t) β + ‖J_D G_D⁻¹‖‖v‖ + ‖q‖``, ``β(0) = 0``,
``ξ' = λ_min(Θ_D(w'))/n`` (:func:`posterior_bound` integrates it on a time grid).

Constants (:class:`StabilityConstants`, measured by :func:`constants_at` at one ``w`` and
combined along a trajectory by :func:`worst_case`): ``κ = max ‖J_i‖₂`` (spectral norm of the
``k × P`` per-sample Jacobian over all parameters) and ``L = max ‖∇_y ℓ_i‖₂ = max ‖y_i − t_i‖``
over the samples of ``D ∪ D'`` (the data seen), ``μ = min M``, ``ξ = min λ_min(Θ_D)/n``.
"""
from __future__ import annotations

import math
import numbers
from dataclasses import asdict, dataclass
from typing import Iterable

import numpy as np
from scipy.linalg import cho_factor, cho_solve

from .. import spaces, tree
from .._validation import as_float_array
from ..backprop import solve as backprop_solve
from ..metric import Mass, build_metric, check_mass, min_mass
from ..modules import Module, check_network
from .ntk import _check as _check_ntk
from .ntk import _gram, _output_blocks, contraction_rate, generalized_ntk, jacobian_norms

__all__ = ["StabilityConstants", "stability_bound", "disturbance_bound", "metric_change_bound",
           "gap_bound_from_disturbance", "loss_gradient_norms", "replace_sample", "disturbance",
           "constants_at", "worst_case", "measure_constants", "METRIC_MODES",
           "jacobian_inverse_metric_norm", "disturbance_factors", "kernel_drift",
           "posterior_bound"]

METRIC_MODES = ("own", "shared")


# -- the bounds -------------------------------------------------------------------------------
def stability_bound(kappa, L, mu, xi, n) -> float:
    """Theorem 3: ``‖Y_D − Y_{D'}‖ ≤ 2κ²L / (ξ μ √n)``; ``inf`` when ``ξ ≤ 0`` (no contraction)."""
    kappa, L, mu, n = _check_constants(kappa, L, mu, n)
    xi = _real(xi, "xi")
    return math.inf if xi <= 0.0 else 2.0 * kappa ** 2 * L / (xi * mu * math.sqrt(n))


def disturbance_bound(kappa, L, mu, n) -> float:
    """``‖d‖ ≤ 2κ²L / (μ√n)`` for the stacked disturbance of the shared-metric flows (eq. 13)."""
    kappa, L, mu, n = _check_constants(kappa, L, mu, n)
    return 2.0 * kappa ** 2 * L / (mu * math.sqrt(n))


def metric_change_bound(kappa, L, mu, n) -> float:
    """``κ⁴L / (μ²√n)``: the extra disturbance when each flow uses its own data set's metric."""
    kappa, L, mu, n = _check_constants(kappa, L, mu, n)
    return kappa ** 4 * L / (mu ** 2 * math.sqrt(n))


def gap_bound_from_disturbance(d_sup, xi, t=math.inf) -> float:
    """``(1 − e^{−ξt}) sup‖d‖ / ξ``: the output gap from the same start, given the disturbance."""
    d_sup, xi, t = _real(d_sup, "d_sup"), _real(xi, "xi"), float(t)
    if d_sup < 0 or t < 0:
        raise ValueError(f"d_sup and t must be >= 0, got d_sup={d_sup!r}, t={t!r}")
    if xi <= 0.0:
        return d_sup * t                      # no contraction: ‖e(t)‖ ≤ t sup‖d‖
    return -math.expm1(-xi * t) * d_sup / xi


@dataclass(frozen=True)
class StabilityConstants:
    """Theorem 3's constants (see the module docstring for their definitions)."""

    kappa: float
    L: float
    mu: float
    xi: float
    n: int

    @property
    def bound(self) -> float:
        """``2κ²L / (ξμ√n)``."""
        return stability_bound(self.kappa, self.L, self.mu, self.xi, self.n)

    @property
    def disturbance_bound(self) -> float:
        """``2κ²L / (μ√n)``."""
        return disturbance_bound(self.kappa, self.L, self.mu, self.n)

    @property
    def metric_change_bound(self) -> float:
        """``κ⁴L / (μ²√n)``."""
        return metric_change_bound(self.kappa, self.L, self.mu, self.n)

    def as_dict(self) -> dict:
        return asdict(self) | {"bound": self.bound, "disturbance_bound": self.disturbance_bound}


# -- measured quantities ----------------------------------------------------------------------
def loss_gradient_norms(model: Module, params, X, targets) -> np.ndarray:
    """``‖∇_y ℓ_i‖₂ = ‖f(x_i; w) − t_i‖`` per sample (MSE), shape ``(n,)``."""
    X, T = _check_data(model, X, targets, "")
    y = model(params, X)
    return np.linalg.norm(y - T, axis=1)


def replace_sample(X, targets, index: int, x_new, t_new):
    """``D'``: copies of ``(X, targets)`` with sample ``index`` replaced by ``(x_new, t_new)``."""
    X = as_float_array(X, "X", ndim=2)
    T = as_float_array(targets, "targets", ndim=2)
    if T.shape[0] != X.shape[0]:
        raise ValueError(f"X and targets must hold the same number of samples, got {X.shape[0]} "
                         f"and {T.shape[0]}")
    if isinstance(index, bool) or not isinstance(index, numbers.Integral) \
            or not 0 <= index < X.shape[0]:
        raise ValueError(f"index must be an int in [0, {X.shape[0]}), got {index!r}")
    X2, T2 = X.copy(), T.copy()
    X2[index] = as_float_array(x_new, "x_new", shape=(X.shape[1],))
    T2[index] = as_float_array(t_new, "t_new", shape=(T.shape[1],))
    return X2, T2


def disturbance(model: Module, params, data, data_replaced, *, mass=1.0, scope="layer",
                metric="own") -> np.ndarray:
    """``d(w) = J_D (G_D⁻¹∇R_D − G⁻¹∇R_{D'})``, per sample ``(n, k)`` (paper eq. 8).

    The difference, at the same ``w``, of the output-space right-hand sides over ``D`` of the
    flow on ``D'`` and the flow on ``D``. ``metric="shared"``: ``G = G_D`` (the theorem's
    setting); ``metric="own"``: ``G = G_{D'}``. ``data`` and ``data_replaced`` are ``(X, T)``
    pairs of equal shapes; the loss is MSE with the identity output metric.
    """
    (X, T), (X2, T2) = _check_pair(model, data, data_replaced)
    if metric not in METRIC_MODES:
        raise ValueError(f"unknown metric {metric!r}; expected one of {METRIC_MODES}")
    params = model.check_params(params)
    u_D, u_2 = _natural_gradients(model, params, (X, T), (X2, T2), mass, scope, metric)
    _, cache = model._forward(params, X)
    return model._jvp(params, cache, None, tree.add(u_D, u_2, -1.0))


def constants_at(model: Module, params, data, data_replaced, *, mass=1.0,
                 scope="layer") -> StabilityConstants:
    """``κ``, ``L`` (over ``D ∪ D'``), ``ξ = λ_min(Θ_D)/n`` and ``μ`` at one point ``w``."""
    (X, T), (X2, T2) = _check_pair(model, data, data_replaced)
    params = model.check_params(params)
    mu = min_mass(check_mass(mass, params))
    changed = np.any(X != X2, axis=1) | np.any(T != T2, axis=1)
    Xs, Ts = np.concatenate([X, X2[changed]]), np.concatenate([T, T2[changed]])
    n = X.shape[0]
    theta = generalized_ntk(model, params, X, mass=mass, scope=scope)
    return StabilityConstants(kappa=float(jacobian_norms(model, params, Xs).max()),
                              L=float(loss_gradient_norms(model, params, Xs, Ts).max()),
                              mu=float(mu), xi=contraction_rate(theta, n), n=n)


def worst_case(constants: Iterable[StabilityConstants]) -> StabilityConstants:
    """Combine pointwise constants along a trajectory: ``max κ``, ``max L``, ``min ξ``."""
    cs = list(constants)
    if not cs:
        raise ValueError("worst_case needs at least one StabilityConstants")
    if len({(c.mu, c.n) for c in cs}) != 1:
        raise ValueError("worst_case: all constants must share μ and n")
    return StabilityConstants(kappa=max(c.kappa for c in cs), L=max(c.L for c in cs),
                              mu=cs[0].mu, xi=min(c.xi for c in cs), n=cs[0].n)


def measure_constants(model: Module, params_seq, data, data_replaced, *, mass=1.0,
                      scope="layer") -> StabilityConstants:
    """:func:`worst_case` of :func:`constants_at` over a sequence of parameter trees."""
    return worst_case(constants_at(model, p, data, data_replaced, mass=mass, scope=scope)
                      for p in params_seq)


# -- the a-posteriori bound (Theorem 3′) --------------------------------------------------------
def jacobian_inverse_metric_norm(model: Module, params, X, *, mass=1.0,
                                 scope: str = "layer") -> float:
    """``‖J_D G_D⁻¹‖₂`` over the data set ``X``, through the Woodbury inner matrices.

    With the identity output metric the blocks are ``B̃_l = J_l/√n``, and the push-through
    identity ``B̃ G⁻¹ = K⁻¹ B̃ M⁻¹`` (``K = I + B̃M⁻¹B̃ᵀ``) gives

        (J G⁻¹)(J G⁻¹)ᵀ = n Σ_l K_l⁻¹ Q_l K_l⁻¹,    Q_l = B̃_l M_l⁻² B̃_lᵀ     (scope="layer")
        (J G⁻¹)(J G⁻¹)ᵀ = n K⁻¹ (Σ_l Q_l) K⁻¹,      K = I + Σ_l P_l            (scope="network")

    — ``nk × nk`` matrices only. The paper's proof bounds this norm by ``√n κ/μ``
    (``‖J_D‖ ≤ √n κ``, ``‖G⁻¹‖ ≤ 1/μ``); the measured value is typically smaller by orders
    of magnitude, because ``G⁻¹`` is only as large as ``1/μ`` on directions that ``J_D``
    does not see.

    Parameters
    ----------
    model : Module
        A module with a single array output ``(n, k)``.
    params : dict
        Its parameter tree.
    X : array_like, shape (n, d_in)
        The data set ``D``; ``G_D`` is built on it (identity output metric).
    mass : float or dict
        ``μ > 0`` or a tree of positive arrays like ``params``.
    scope : {"layer", "network"}

    Returns
    -------
    float

    Examples
    --------
    >>> import numpy as np
    >>> from refimpl.modules import Linear
    >>> model = Linear(5, 2)
    >>> params = model.init(np.random.default_rng(0))
    >>> X = np.random.default_rng(1).standard_normal((3, 5))
    >>> J = model.jacobian(params, X)[1].reshape(6, -1)
    >>> G = J.T @ J / 3 + 0.5 * np.eye(12)
    >>> bool(np.isclose(jacobian_inverse_metric_norm(model, params, X, mass=0.5),
    ...                 np.linalg.norm(np.linalg.solve(G, J.T).T, 2)))
    True
    """
    params, X, mass = _check_ntk(model, params, X, mass)
    if scope not in ("layer", "network"):
        raise ValueError(f"unknown scope {scope!r}; expected 'layer' or 'network'")
    y, blocks = _output_blocks(model, params, X)
    n = y.shape[0]
    grams = [(_gram(b, mass.at(p), n), _gram(b, _squared(mass.at(p)), n)) for p, b in blocks]
    if scope == "layer":
        gram = sum(_sandwich(P, Q) for P, Q in grams)
    else:
        gram = _sandwich(sum(P for P, _ in grams), sum(Q for _, Q in grams))
    return float(math.sqrt(max(n * np.linalg.eigvalsh(gram)[-1], 0.0)))


def disturbance_factors(model: Module, params, data, data_replaced, *, mass=1.0,
                        scope="layer", metric="own") -> tuple[float, float]:
    """``(‖J_D G_D⁻¹‖₂, ‖v‖)`` with ``d = J_D G_D⁻¹ v`` exactly, so ``‖d‖ ≤`` their product.

    ``v = G_D (u_D − u') = ∇R_D − G_D u'``, where ``u_D = G_D⁻¹∇R_D`` and ``u'`` is the other
    flow's natural gradient at the same ``w``: ``G_{D'}⁻¹∇R_{D'}`` (``metric="own"``) or
    ``G_D⁻¹∇R_{D'}`` (``metric="shared"``, then ``v = ∇R_D − ∇R_{D'}``). The paper bounds
    the two factors by ``√n κ/μ`` and ``2κL/n`` (plus the metric change with ``"own"``).
    """
    (X, T), (X2, T2) = _check_pair(model, data, data_replaced)
    if metric not in METRIC_MODES:
        raise ValueError(f"unknown metric {metric!r}; expected one of {METRIC_MODES}")
    params = model.check_params(params)
    mD = build_metric(model, params, X, T, loss="mse", mass=mass, scope=scope)
    if metric == "own":
        u2 = build_metric(model, params, X2, T2, loss="mse", mass=mass,
                          scope=scope).natural_gradient()[0]
        v = tree.add(mD.grads, mD.matvec(u2), -1.0)
    else:
        v = tree.add(mD.grads, backprop_solve(model, params, X2, T2, "mse").grads, -1.0)
    return (jacobian_inverse_metric_norm(model, params, X, mass=mass, scope=scope),
            float(np.sqrt(tree.vdot(v, v))))


def kernel_drift(model: Module, params, params_replaced, X, targets, *, mass=1.0,
                 scope="layer") -> float:
    """``‖q‖ = ‖(Θ_D(w) − Θ_D(w'))(Y_D(w) − T)‖ / n``: the two kernels' difference on ``D``.

    Zero when ``Θ`` does not depend on ``w`` (a model linear in ``w``); for a nonlinear model
    it is the term by which the output flows on ``D`` and ``D'`` fail to share one kernel.
    """
    X, T = _check_data(model, X, targets, "")
    p1, p2 = model.check_params(params), model.check_params(params_replaced)
    n = X.shape[0]
    theta1 = generalized_ntk(model, p1, X, mass=mass, scope=scope)
    theta2 = generalized_ntk(model, p2, X, mass=mass, scope=scope)
    return float(np.linalg.norm((theta1 - theta2) @ (model(p1, X) - T).ravel()) / n)


def posterior_bound(t, xi, rate, e0: float = 0.0) -> np.ndarray:
    """``β(t_j)`` for ``β̇ = −ξ(t) β + rate(t)``, ``β(t_0) = e0``, with each interval's worst case.

    On ``[t_j, t_{j+1}]`` the rate of contraction is taken as ``min(ξ_j, ξ_{j+1})`` and the
    forcing as ``max(rate_j, rate_{j+1})``; the recursion is then exact,

        β_{j+1} = e^{−ξΔ} β_j + (1 − e^{−ξΔ})/ξ · rate        (Δ·rate when ξ = 0),

    and bounds the gap whenever the measured quantities stay within their end-point values
    on each interval (the grid is the only approximation; see the docs' proof).

    Parameters
    ----------
    t : array_like, shape (N,)
        Increasing times.
    xi : array_like, shape (N,)
        Contraction rates ``ξ(t_j) ≥ 0`` (a negative value is treated as 0: no contraction).
    rate : array_like, shape (N,)
        Forcing ``≥ 0``, e.g. ``‖J_D G_D⁻¹‖‖v‖ + ‖q‖``.
    e0 : float
        The initial gap (0 from the same start).

    Returns
    -------
    ndarray, shape (N,)

    Examples
    --------
    >>> import numpy as np
    >>> beta = posterior_bound([0.0, 1.0, 50.0], [2.0, 2.0, 2.0], [1.0, 1.0, 1.0])
    >>> bool(np.isclose(beta[-1], 0.5))          # sup rate / ξ after the transient
    True
    """
    t = as_float_array(t, "t", ndim=1)
    xi = np.clip(as_float_array(xi, "xi", shape=t.shape), 0.0, None)
    rate = as_float_array(rate, "rate", shape=t.shape)
    if t.size == 0 or np.any(np.diff(t) <= 0):
        raise ValueError("t must be a non-empty strictly increasing array of times")
    if np.any(rate < 0) or _real(e0, "e0") < 0:
        raise ValueError("rate and e0 must be >= 0 (they bound norms)")
    beta = np.empty_like(t)
    beta[0] = e0
    for j in range(t.size - 1):
        dt = t[j + 1] - t[j]
        x, r = min(xi[j], xi[j + 1]), max(rate[j], rate[j + 1])
        phi = -math.expm1(-x * dt) / x if x > 0 else dt
        beta[j + 1] = math.exp(-x * dt) * beta[j] + phi * r
    return beta


# -- private ----------------------------------------------------------------------------------
def _natural_gradients(model, params, D, D2, mass, scope, metric):
    """``(G_D⁻¹∇R_D, G⁻¹∇R_{D'})`` with ``G = G_{D'}`` (own) or ``G_D`` (shared)."""
    mD = build_metric(model, params, *D, loss="mse", mass=mass, scope=scope)
    u_D = mD.natural_gradient()[0]
    if metric == "own":
        return u_D, build_metric(model, params, *D2, loss="mse", mass=mass,
                                 scope=scope).natural_gradient()[0]
    g2 = backprop_solve(model, params, *D2, "mse").grads
    # G_D⁻¹∇R_{D'} = G_D⁻¹∇R_D + G_D⁻¹(∇R_{D'} − ∇R_D): the small part by eq. (2)
    return u_D, tree.add(u_D, mD.solve(tree.add(g2, mD.grads, -1.0)))


def _squared(mass: Mass) -> Mass:
    """``M²`` (for the Gram ``B̃M⁻²B̃ᵀ``) of a module's :class:`~refimpl.metric.Mass`."""
    if mass.scalar is not None:
        return Mass(scalar=mass.scalar * mass.scalar)
    return Mass(values=tree.tree_map(np.square, mass.values))


def _sandwich(P, Q) -> np.ndarray:
    """``K⁻¹ Q K⁻¹`` with ``K = I + P`` (symmetric positive definite)."""
    K = P.copy()
    K[np.diag_indices_from(K)] += 1.0
    c = cho_factor(K, lower=True)
    Z = cho_solve(c, cho_solve(c, Q).T)
    return 0.5 * (Z + Z.T)


def _real(value, name) -> float:
    if isinstance(value, bool) or not isinstance(value, numbers.Real) \
            or not math.isfinite(float(value)):
        raise ValueError(f"{name} must be a finite real number, got {value!r}")
    return float(value)


def _check_constants(kappa, L, mu, n):
    kappa, L, mu = _real(kappa, "kappa"), _real(L, "L"), _real(mu, "mu")
    if kappa < 0 or L < 0:
        raise ValueError(f"kappa and L are norms and must be >= 0, got {kappa!r}, {L!r}")
    if mu <= 0:
        raise ValueError(f"mu (the smallest mass) must be > 0, got {mu!r}")
    if isinstance(n, bool) or not isinstance(n, numbers.Integral) or n <= 0:
        raise ValueError(f"n (the number of samples) must be a positive int, got {n!r}")
    return kappa, L, mu, int(n)


def _check_data(model, X, T, tag):
    check_network(model)
    X = spaces.check_point(X, model.in_space, f"X{tag}")
    n = spaces.batch_size(X, model.in_space)
    if n == 0:
        raise ValueError(f"X{tag} must hold at least one sample")
    T = as_float_array(T, f"targets{tag}", shape=(n, model.out_space))
    return X, T


def _check_pair(model, data, data_replaced):
    for name, pair in (("data", data), ("data_replaced", data_replaced)):
        if not isinstance(pair, (tuple, list)) or len(pair) != 2:
            raise TypeError(f"{name} must be a pair (X, targets), got {type(pair).__name__}")
    X, T = _check_data(model, *data, "")
    X2, T2 = _check_data(model, *data_replaced, "'")
    if X2.shape != X.shape:
        raise ValueError(f"D and D' must have the same shape (one sample replaced), got X "
                         f"{X.shape} and X' {X2.shape}")
    return (X, T), (X2, T2)
