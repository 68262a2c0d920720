"""The action along a network's training trajectory: the action budget (:ref:`math §1 <math-1>`–:ref:`§2 <math-2>`, paper §2.1).

The manifold is the parameter space of a network (any :class:`~refimpl.modules.Module` with
a single array output), ``w ∈ R^n`` in the parameter tree's flat order
(:func:`refimpl.tree.flatten`), the potential is the empirical risk
``f = R(w) = (1/S) Σ_s ℓ_s`` (:func:`refimpl.backprop.solve`), and the metric is the paper's
*layerwise* metric: block diagonal, one block per module that owns parameters,

    G(w) = blockdiag(G_1(w), …, G_L(w)),   G_l = M_l + (1/S) Σ_s J_{l,s}ᵀ g_out J_{l,s}

(:ref:`math §4 <math-4>`; :func:`refimpl.metric.build_metric` with ``scope="layer"``). Riemannian SGD with
step ``η`` (:meth:`refimpl.metric.BatchMetric.step`)

    w_{k+1} = w_k − η G(w_k)⁻¹ ∇R(w_k)

is the explicit Euler discretisation of the gradient flow ``ẇ = −G⁻¹∇R`` with time step
``η`` (``t_k = k η``). Along the exact flow the action (1) equals ``R(w₀) − R(w_T)``; along
the piecewise-linear SGD path the completed square gives

    S − (R(w₀) − R(w_T)) = ½ ∫ |ẇ + G⁻¹∇R|²_G dt  ≥ 0,

and on step ``k`` the integrand is ``|G(w_k)⁻¹∇R(w_k) − G(w)⁻¹∇R(w)|²_G = O(η²)``, so the
*action budget gap* ``(S − (R₀ − R_T)) / (R₀ − R_T)`` is ``O(η²)`` at fixed ``T``: for Riemannian
SGD with small steps, the accumulated action approaches ``R(w₀) − R(w_T)``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .. import tree
from .._validation import as_positive_float as check_positive
from ..backprop import check_batch, solve
from ..losses import get_loss
from ..metric import Mass, build_metric
from ..modules import Module, check_network
from .action import action
from .metric import Metric
from .potential import Potential

__all__ = ["NetworkProblem", "LayerwiseNetworkMetric", "ActionBudget", "action_budget"]


class NetworkProblem:
    """A network's training problem on one batch as a (metric, potential) pair on ``R^n``.

    Parameters
    ----------
    model : Module
        A module with a single array output ``(S, k)``.
    params : dict
        A parameter tree of ``model`` (its structure is kept; the values are a starting point
        for :meth:`riemannian_sgd`).
    X : array_like, shape (S, d_in)
    targets : array_like
        ``(S, k)`` floats for ``"mse"``, ``(S,)`` labels for ``"cross_entropy"``.
    loss, output_metric, mass
        As for :func:`refimpl.metric.build_metric`.

    Attributes
    ----------
    dim : int
        ``n``, the number of parameters.
    """

    def __init__(self, model: Module, params, X, targets, *, loss="mse",
                 output_metric="identity", mass=1.0):
        self.model = check_network(model)
        self.like = model.check_params(params)
        self.loss = get_loss(loss)
        self.X, self.targets = check_batch(model, X, targets, self.loss)
        self.output_metric = output_metric
        self.mass = Mass.parse(mass, self.like)
        self.dim = tree.size(self.like)

    def flatten(self, params) -> np.ndarray:
        """A parameter tree → ``w`` of shape ``(n,)`` (the tree's flat order)."""
        return tree.flatten(self.model.check_params(params))

    def unflatten(self, w) -> dict:
        """``w`` of shape ``(n,)`` → a parameter tree."""
        return tree.unflatten(self.like, w)

    def risk(self, w) -> float:
        """``R(w)``, the batch-mean loss."""
        return solve(self.model, self.unflatten(w), self.X, self.targets, self.loss).risk

    def metric(self) -> "LayerwiseNetworkMetric":
        """The block-diagonal layerwise metric ``G(w)`` (derivative by central differences)."""
        return LayerwiseNetworkMetric(self)

    def potential(self) -> Potential:
        """``f = R`` with ``∇R`` by constrained backpropagation (Hessian by central
        differences)."""
        def value(w):
            return self.risk(w)

        def gradient(w):
            return tree.flatten(solve(self.model, self.unflatten(w), self.X, self.targets,
                                      self.loss).grads)

        return Potential(value, gradient, self.dim, name="empirical risk R")

    def build(self, w):
        """The layerwise :class:`~refimpl.metric.BatchMetric` at ``w``."""
        return build_metric(self.model, self.unflatten(w), self.X, self.targets,
                            loss=self.loss, output_metric=self.output_metric, mass=self.mass,
                            scope="layer")

    def riemannian_sgd(self, params, *, lr: float, n_steps: int):
        """Run Riemannian SGD (full batch, ``scope="layer"``, Algorithm 1).

        Returns
        -------
        t : ndarray, shape (n_steps + 1,)
            ``t_k = k · lr`` (the step is the time step of the flow it discretises).
        w : ndarray, shape (n_steps + 1, n)
            The flat parameters after each step.
        """
        lr = check_positive(lr, "lr")
        if isinstance(n_steps, bool) or not isinstance(n_steps, (int, np.integer)) or n_steps < 1:
            raise ValueError(f"n_steps must be a positive integer, got {n_steps!r}.")
        ws = [self.flatten(params)]
        for _ in range(int(n_steps)):
            update, _ = self.build(ws[-1]).step(lr)
            ws.append(ws[-1] + tree.flatten(update))
        return lr * np.arange(n_steps + 1, dtype=np.float64), np.array(ws)


class LayerwiseNetworkMetric(Metric):
    """``G(w) = blockdiag_l G_l(w)`` (:meth:`refimpl.metric.BatchMetric.dense`).

    ``∂G/∂w`` is by central differences (``2n`` metric evaluations); it is only needed for
    Hamilton's equations, not for the action or the gradient flow.
    """

    domain_description = "all parameter vectors"

    def __init__(self, problem: NetworkProblem):
        super().__init__(problem.dim)
        self.problem = problem

    def _matrix(self, w):
        return self.problem.build(w).dense()


@dataclass(frozen=True)
class ActionBudget:
    """Accumulated action along Riemannian SGD against the drop in risk.

    Attributes
    ----------
    lr : float
        Step size (= time step).
    n_steps : int
    action : float
        ``S`` of the piecewise-linear SGD path (eq. 1, `refimpl.dynamics.action`).
    risk_drop : float
        ``R(w₀) − R(w_T)``.
    relative_gap : float
        ``(S − risk_drop) / risk_drop`` (≥ 0 up to quadrature error; ``O(lr²)``).
    """

    lr: float
    n_steps: int
    action: float
    risk_drop: float
    relative_gap: float


def action_budget(problem: NetworkProblem, params, *, lr: float, n_steps: int, nodes: int = 2) -> ActionBudget:
    """Run Riemannian SGD and compare its accumulated action with ``R(w₀) − R(w_T)``.

    Parameters
    ----------
    problem : NetworkProblem
    params : list of (W, b)
        Initial parameters ``w₀``.
    lr : float
        Step size; the path is sampled at ``t_k = k·lr``, horizon ``T = n_steps·lr``.
    n_steps : int
    nodes : int
        Gauss–Legendre nodes per SGD step for the action (2 by default; each costs one
        metric evaluation).

    Returns
    -------
    ActionBudget
    """
    if not isinstance(problem, NetworkProblem):
        raise TypeError(f"problem must be a NetworkProblem, got {type(problem).__name__}.")
    t, w = problem.riemannian_sgd(params, lr=lr, n_steps=n_steps)
    metric, potential = problem.metric(), problem.potential()
    S = action(metric, potential, t, w, nodes=nodes)
    drop = potential.value(w[0]) - potential.value(w[-1])
    return ActionBudget(float(lr), int(n_steps), float(S), float(drop), float((S - drop) / drop))
