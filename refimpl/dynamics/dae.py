"""Remark 3: the training flow as a differential-algebraic equation (DAE), integrated as one.

The flow ``ẇ = −G(w)⁻¹ ∇R(w)`` hides the network's states and multipliers inside ``∇R``.
Written with them as unknowns (:ref:`math §9 <math-9>`), it is a semi-explicit DAE:

    ẇ = −G(w)⁻¹ ∂ℒ/∂w (w, x, λ)                                  (differential: parameters)
    0 = f_l(x_{l−1}; w_l) − x_l,                    l = 1..L       (∂ℒ/∂λ_l = 0: forward)
    0 = (∂f_{l+1}/∂x_l)ᵀ λ_{l+1} − λ_l,  0 = ∇ℓ(x_L) − λ_L         (∂ℒ/∂x_l = 0: backward)

with ``∂ℒ/∂w_l = (1/S) Σ_s (∂f_l/∂w_l)ᵀ λ_{l,s}`` at the algebraic point (the stage's
:meth:`~refimpl.modules.Module.vjp_params` at the *unknown* input ``x_{l−1}``, not at a forward
pass). The Jacobian of the algebraic equations with respect to ``(x, λ)`` is block
triangular with ``−I`` on its diagonal, so it is invertible and the DAE has index 1.

:func:`integrate_dae` integrates it as such: ``scipy.integrate.solve_ivp`` advances ``w``, and
every evaluation of the right-hand side first solves the algebraic equations for ``(x, λ)``
at that ``w`` by Newton's method on the KKT residuals of :func:`refimpl.backprop.kkt_residuals`
(:meth:`TrainingDAE.solve_algebraic`: simplified Newton, the residuals' Jacobian by forward
differences, LU-factorised with ``scipy.linalg`` and kept while it converges — consecutive
right-hand sides are close — warm-started from the previous solution). No forward or backward pass is run; the constraints
are *solved*. The metric ``G(w)`` is :func:`refimpl.metric.build_metric`'s. :func:`reduced_flow`
integrates the reduced ODE the rest of the package uses (``∇R`` from
:func:`refimpl.backprop.solve`), and the two agree to the tolerances of the integrator and
of the algebraic solve. The stages are the children of a top-level
:class:`~refimpl.modules.Sequential` with array inputs and outputs (an MLP); sizes are small
(a fresh finite-difference Jacobian costs one residual per algebraic unknown).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.integrate import solve_ivp
from scipy.linalg import lu_factor, lu_solve

from .. import tree
from ..backprop import kkt_residuals, solve, stages
from ..metric import build_metric
from ..modules import Module

__all__ = ["TrainingDAE", "DAEResult", "integrate_dae", "reduced_flow"]


class TrainingDAE:
    """The algebraic and differential parts of the training flow for one batch.

    Parameters
    ----------
    model : Module
        A :class:`~refimpl.modules.Sequential` whose stages map arrays to arrays.
    X : array_like, shape (S, d_0)
    targets : array_like
        ``(S, k)`` for ``"mse"``, ``(S,)`` labels for ``"cross_entropy"``.
    loss : str
    mass, scope, output_metric
        As in :func:`refimpl.metric.build_metric`.
    tol : float
        The algebraic solve stops when ``max |residual| ≤ tol · (1 + max |a|)``.
    """

    def __init__(self, model: Module, X, targets, *, loss="mse", mass=1.0, scope="layer",
                 output_metric="identity", tol=1e-14):
        self.model, self.X, self.targets, self.loss = model, np.asarray(X, float), targets, loss
        self.metric_kw = {"loss": loss, "mass": mass, "scope": scope,
                          "output_metric": output_metric}
        self.tol = float(tol)
        self._lu = None
        st = solve(model, model.init(np.random.default_rng(0)), self.X, targets, loss)
        shapes = [np.shape(x) for x in st.states[1:]] + [np.shape(m) for m in st.multipliers]
        if any(len(s) != 2 for s in shapes):
            raise ValueError("TrainingDAE needs stages with array outputs (S, d_l); this model "
                             "has a product-space stage")
        self._shapes = shapes
        self._sizes = [int(np.prod(s)) for s in shapes]
        self.n_stages = len(st.multipliers)

    @property
    def n_algebraic(self) -> int:
        """Number of algebraic unknowns: every state and multiplier of every sample."""
        return int(sum(self._sizes))

    def unpack(self, a) -> tuple[list, list]:
        """``(states [x_0, …, x_L], multipliers [λ_1, …, λ_L])`` from the flat vector ``a``."""
        parts = np.split(np.asarray(a, float), np.cumsum(self._sizes)[:-1])
        arrays = [p.reshape(s) for p, s in zip(parts, self._shapes)]
        return [self.X] + arrays[:self.n_stages], arrays[self.n_stages:]

    @staticmethod
    def pack(states, multipliers) -> np.ndarray:
        """The flat vector ``a`` of ``states[1:]`` and ``multipliers``."""
        return np.concatenate([np.ravel(x) for x in list(states[1:]) + list(multipliers)])

    def residual(self, params, a) -> np.ndarray:
        """The algebraic equations: ``∂ℒ/∂λ_l`` and ``∂ℒ/∂x_l`` stacked, shape ``(n_algebraic,)``."""
        states, mults = self.unpack(a)
        r = kkt_residuals(self.model, params, self.targets, states, mults, self.loss)
        return np.concatenate([np.ravel(v) for v in r["d_lambda"] + r["d_x"]])

    def solve_algebraic(self, params, guess, *, max_iter: int = 30) -> tuple[np.ndarray, int]:
        """``(a, residual evaluations)`` with ``residual(params, a) ≈ 0`` (within ``tol``).

        Simplified Newton: ``a ← a − J⁻¹ F(a)`` with ``J`` the forward-difference Jacobian
        of ``F = residual(params, ·)``, recomputed at the current iterate whenever the residual
        fails to shrink by half (and at the first call); a RuntimeError after ``max_iter``
        iterations.
        """
        a = np.array(guess, dtype=float)
        F = self.residual(params, a)
        count, fresh = 1, False
        for _ in range(max_iter):
            if np.abs(F).max() <= self.tol * (1.0 + np.abs(a).max()):
                return a, count
            if self._lu is None:
                self._lu, fresh = self._jacobian(params, a, F), True
                count += a.size
            step = lu_solve(self._lu, F)
            a_new = a - step
            F_new = self.residual(params, a_new)
            count += 1
            if np.abs(F_new).max() > 0.5 * np.abs(F).max() and not fresh:
                self._lu = None                     # stale Jacobian: refresh at a, retry
                continue
            a, F, fresh = a_new, F_new, False
        raise RuntimeError(f"the algebraic equations (forward and backward constraints) were not "
                           f"solved in {max_iter} Newton iterations: max |residual| = "
                           f"{np.abs(F).max():.3e}")

    def _jacobian(self, params, a, F):
        """LU factors of ``∂F/∂a`` by forward differences (step ``√ε · max(1, |a_j|)``)."""
        J = np.empty((F.size, a.size))
        for j in range(a.size):
            h = np.sqrt(np.finfo(float).eps) * max(1.0, abs(a[j]))
            e = a.copy()
            e[j] += h
            J[:, j] = (self.residual(params, e) - F) / (e[j] - a[j])
        return lu_factor(J)

    def lagrangian_gradient(self, params, a) -> dict:
        """``∂ℒ/∂w_l = (1/S) Σ_s (∂f_l/∂w_l)ᵀ λ_l`` at the algebraic point ``a``."""
        states, mults = self.unpack(a)
        S = self.X.shape[0]
        grads = {}
        for i, (key, f) in enumerate(stages(self.model)):
            p = params[key]
            _, cache = f.forward(p, states[i])
            grads[key] = tree.tree_map(lambda g: g / S, f.vjp_params(p, cache, mults[i]))
        return grads

    def velocity(self, params, a) -> dict:
        """``ẇ = −G(w)⁻¹ ∂ℒ/∂w(w, x, λ)``."""
        m = build_metric(self.model, params, self.X, self.targets, **self.metric_kw)
        return tree.tree_map(np.negative, m.solve(self.lagrangian_gradient(params, a)))


@dataclass(frozen=True)
class DAEResult:
    """Output of :func:`integrate_dae`.

    Attributes
    ----------
    t : ndarray, shape (N,)
    w : ndarray, shape (N, n_params)
        Flat parameters (:func:`refimpl.tree.flatten` order).
    a : ndarray, shape (N, n_algebraic)
        States and multipliers at ``t`` (:meth:`TrainingDAE.unpack`).
    max_residual : float
        Largest ``|residual|`` of the algebraic equations over the accepted points.
    nfev : int
        Right-hand-side evaluations (each one algebraic solve).
    residual_evaluations : int
        Evaluations of the algebraic residual by the Newton solves in all.
    """

    t: np.ndarray
    w: np.ndarray
    a: np.ndarray
    max_residual: float
    nfev: int
    residual_evaluations: int


def integrate_dae(dae: TrainingDAE, params0, t_eval, *, rtol=1e-9, atol=1e-11) -> DAEResult:
    """Integrate the index-1 DAE from ``params0`` (consistent ``(x, λ)`` solved at ``t = 0``).

    ``solve_ivp`` (DOP853) on the parameters; each right-hand side solves the constraints
    from the last solution (the first from zeros), so the algebraic variables are never
    computed by a forward or backward pass.
    """
    like = dae.model.check_params(params0)
    t_eval = np.asarray(t_eval, float)
    state = {"a": np.zeros(dae.n_algebraic), "count": 0}

    def algebraic(w):
        a, nfev = dae.solve_algebraic(tree.unflatten(like, w), state["a"])
        state["a"], state["count"] = a, state["count"] + nfev
        return a

    def rhs(_, w):
        p = tree.unflatten(like, w)
        return tree.flatten(dae.velocity(p, algebraic(w)))

    sol = solve_ivp(rhs, (float(t_eval[0]), float(t_eval[-1])), tree.flatten(like),
                    method="DOP853", rtol=rtol, atol=atol, t_eval=t_eval)
    if sol.status != 0:
        raise RuntimeError(f"DAE integration failed at t = {sol.t[-1]}: {sol.message}")
    A, worst = [], 0.0
    for w in sol.y.T:
        a = algebraic(w)
        worst = max(worst, float(np.abs(dae.residual(tree.unflatten(like, w), a)).max()))
        A.append(a)
    return DAEResult(sol.t, sol.y.T.copy(), np.array(A), worst, int(sol.nfev), state["count"])


def reduced_flow(model: Module, params0, X, targets, t_eval, *, loss="mse", mass=1.0,
                 scope="layer", output_metric="identity", rtol=1e-9, atol=1e-11):
    """The reduced ODE ``ẇ = −G(w)⁻¹∇R(w)`` (Algorithm 1's direction), ``(t, w (N, n))``."""
    like = model.check_params(params0)
    kw = {"loss": loss, "mass": mass, "scope": scope, "output_metric": output_metric}

    def rhs(_, w):
        m = build_metric(model, tree.unflatten(like, w), X, targets, **kw)
        return -tree.flatten(m.natural_gradient()[0])

    t_eval = np.asarray(t_eval, float)
    sol = solve_ivp(rhs, (float(t_eval[0]), float(t_eval[-1])), tree.flatten(like),
                    method="DOP853", rtol=rtol, atol=atol, t_eval=t_eval)
    if sol.status != 0:
        raise RuntimeError(f"reduced flow integration failed at t = {sol.t[-1]}: {sol.message}")
    return sol.t, sol.y.T.copy()
