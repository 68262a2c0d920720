"""The action along a network's training trajectory: the action budget (SPEC §1–§2, paper §2.1).

The manifold is the parameter space of a small MLP, ``w ∈ R^n`` (``n = Σ_l n_l``), the
potential is the empirical risk ``f = R(w) = (1/S) Σ_s ℓ_s``, and the metric is the paper's
*layerwise* metric: block diagonal, one block per layer,

    G(w) = blockdiag(G_1(w), …, G_L(w)),   G_l = M_l + (1/S) Σ_s J_{l,s}ᵀ g_out J_{l,s}

(SPEC §4), taken from `refimpl.oracle.mlp_metric_dense` (``layer = l``). The flat parameter
order is the oracle's: ``W_l`` flattened in C order, then ``b_l``, layer after layer.

Riemannian SGD with step ``η`` (`refimpl.oracle.mlp_riemannian_step`, ``scope="layer"``)

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
from scipy.linalg import block_diag

from .._validation import as_positive_float as check_positive
from ._checks import as_float_array, check_finite
from .action import action
from .metric import Metric
from .potential import Potential

__all__ = ["NetworkProblem", "LayerwiseNetworkMetric", "ActionBudget", "action_budget", "flatten_params",
           "unflatten_params"]


def flatten_params(params) -> np.ndarray:
    """``[(W_1, b_1), …]`` → flat vector: ``W_l`` in C order, then ``b_l``, layer after layer."""
    return np.concatenate([np.concatenate([np.ravel(W), np.ravel(b)]) for W, b in params]).astype(np.float64)


def unflatten_params(vector, shapes) -> list[tuple[np.ndarray, np.ndarray]]:
    """Inverse of `flatten_params` for layer shapes ``[((out, in), (out,)), …]``."""
    vector = np.asarray(vector, dtype=np.float64)
    sizes = [int(np.prod(ws)) + int(np.prod(bs)) for ws, bs in shapes]
    if vector.shape != (sum(sizes),):
        raise ValueError(f"the parameter vector must have shape ({sum(sizes)},) for layers {shapes}, got {vector.shape}.")
    out = []
    for chunk, (ws, bs) in zip(np.split(vector, np.cumsum(sizes)[:-1]), shapes):
        nw = int(np.prod(ws))
        out.append((chunk[:nw].reshape(ws).copy(), chunk[nw:].reshape(bs).copy()))
    return out


class NetworkProblem:
    """A small MLP regression/classification problem as a (metric, potential) pair on ``R^n``.

    Parameters
    ----------
    params : list of (W, b)
        Any parameters of the network (only their shapes are kept): ``W`` (out, in), ``b`` (out,).
    X : array_like, shape (S, in)
    targets : array_like
        As `refimpl.oracle.mlp_gradients` expects (``(S, k)`` for ``"mse"``).
    activation, loss, output_metric, mass
        Passed to the oracle functions (`refimpl.oracle`).

    Attributes
    ----------
    shapes : list of ((out, in), (out,))
    layer_sizes : list of int
        ``n_l = out·in + out``.
    dim : int
        ``n = Σ n_l``.
    """

    def __init__(self, params, X, targets, *, activation: str = "tanh", loss: str = "mse",
                 output_metric: str = "identity", mass=1.0):
        from ..oracle import mlp_gradients  # the oracle validates params, X, targets and the options

        if not isinstance(params, (list, tuple)) or not params:
            raise TypeError(f"params must be a non-empty list of (W, b) pairs, got {type(params).__name__}.")
        self.shapes = [(np.shape(W), np.shape(b)) for W, b in params]
        self.layer_sizes = [int(np.prod(ws)) + int(np.prod(bs)) for ws, bs in self.shapes]
        self.dim = sum(self.layer_sizes)
        self.X = check_finite(as_float_array(X, "X"), "X")
        self.targets = np.asarray(targets)
        self.options = dict(activation=activation, loss=loss)
        self.metric_options = dict(output_metric=output_metric, mass=mass)
        mlp_gradients(list(params), self.X, self.targets, **self.options)   # fail early on bad input

    def flatten(self, params) -> np.ndarray:
        """Parameters ``[(W, b), …]`` → ``w`` of shape ``(n,)``."""
        w = flatten_params(params)
        if w.shape != (self.dim,):
            raise ValueError(f"params do not match the network's layer shapes {self.shapes}.")
        return w

    def unflatten(self, w) -> list[tuple[np.ndarray, np.ndarray]]:
        """``w`` of shape ``(n,)`` → ``[(W, b), …]``."""
        return unflatten_params(w, self.shapes)

    def risk(self, w) -> float:
        """``R(w)``, the batch-mean loss."""
        from ..oracle import mlp_gradients

        return float(mlp_gradients(self.unflatten(w), self.X, self.targets, **self.options)["loss"])

    def metric(self) -> "LayerwiseNetworkMetric":
        """The block-diagonal layerwise metric ``G(w)`` (derivative by central differences)."""
        return LayerwiseNetworkMetric(self)

    def potential(self) -> Potential:
        """``f = R`` with ``∇R`` from `refimpl.oracle.mlp_gradients` (Hessian by central differences)."""
        from ..oracle import mlp_gradients

        def value(w):
            return mlp_gradients(self.unflatten(w), self.X, self.targets, **self.options)["loss"]

        def gradient(w):
            grads = mlp_gradients(self.unflatten(w), self.X, self.targets, **self.options)["grads"]
            return flatten_params(grads)

        return Potential(value, gradient, self.dim, name="empirical risk R")

    def riemannian_sgd(self, params, *, lr: float, n_steps: int):
        """Run Riemannian SGD (full batch, ``scope="layer"``) with `refimpl.oracle.mlp_riemannian_step`.

        Returns
        -------
        t : ndarray, shape (n_steps + 1,)
            ``t_k = k · lr`` (the step is the time step of the flow it discretises).
        w : ndarray, shape (n_steps + 1, n)
            The flat parameters after each step.
        """
        from ..oracle import mlp_riemannian_step

        lr = check_positive(lr, "lr")
        if isinstance(n_steps, bool) or not isinstance(n_steps, (int, np.integer)) or n_steps < 1:
            raise ValueError(f"n_steps must be a positive integer, got {n_steps!r}.")
        ws = [self.flatten(params)]
        for _ in range(int(n_steps)):
            p = self.unflatten(ws[-1])
            step = mlp_riemannian_step(p, self.X, self.targets, lr=lr, scope="layer",
                                       **self.options, **self.metric_options)
            ws.append(ws[-1] + flatten_params(step))
        return lr * np.arange(n_steps + 1, dtype=np.float64), np.array(ws)


class LayerwiseNetworkMetric(Metric):
    """``G(w) = blockdiag_l G_l(w)``, blocks from `refimpl.oracle.mlp_metric_dense` (``layer=l``).

    ``∂G/∂w`` is by central differences (``2n`` metric evaluations); it is only needed for
    Hamilton's equations, not for the action or the gradient flow.
    """

    domain_description = "all parameter vectors"

    def __init__(self, problem: NetworkProblem):
        super().__init__(problem.dim)
        self.problem = problem

    def _matrix(self, w):
        from ..oracle import mlp_metric_dense

        pb = self.problem
        params = pb.unflatten(w)
        return block_diag(*[mlp_metric_dense(params, pb.X, pb.targets, layer=l, **pb.options, **pb.metric_options)
                            for l in range(len(pb.shapes))])


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
