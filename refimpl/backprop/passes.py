"""Backpropagation as LeCun's constrained problem: the stationary point (:ref:`math §2 <math-2>`, paper §2.1).

The network is a chain of *stages* ``x_l = f_l(x_{l−1}; w_l)``, ``l = 1..L`` (the children of
a top-level :class:`~refimpl.modules.Sequential`, or the module itself), output ``y = x_L``.
Per sample ``s`` the Lagrangian (:mod:`refimpl.backprop.lagrangian`) is

    ℒ_s(x, λ, w) = ℓ(x_L) + Σ_l λ_lᵀ ( f_l(x_{l−1}; w_l) − x_l )

and the batch Lagrangian is the mean ``ℒ = (1/S) Σ_s ℒ_s``. Its stationary point is

- ``∂ℒ/∂λ_l = 0``     ⇒ ``x_l = f_l(x_{l−1}; w_l)``                  (forward pass)
- ``∂ℒ/∂x_L = 0``     ⇒ ``λ_L = ∇ℓ(x_L)``
- ``∂ℒ/∂x_{l−1} = 0`` ⇒ ``λ_{l−1} = (∂f_l/∂x_{l−1})ᵀ λ_l``             (backward pass)
- ``∂ℒ/∂w_l = (1/S) Σ_s (∂f_l/∂w_l)ᵀ λ_{l,s}`` = ``∇_{w_l} R``       (the gradient)

Sign convention: ``λ_{l,s} = ∂ℓ_s/∂x_{l,s}`` (per sample, not divided by ``S``), so the
multipliers are the cotangents of backpropagation and ``ℒ = R`` at the stationary point.

:func:`solve` validates its arguments (:func:`check_batch`) and runs the two passes;
:func:`forward_pass` and :func:`backward_pass` are its computing halves, public so that other
algorithms on the same batch (the metric's factor pass, :mod:`refimpl.metric.build`) share
the forward pass — they take a checked parameter tree (:meth:`Module.check_params`) and a
batch as :func:`check_batch` returns it, and compute in their float type (float64; float32 on
the optimizers' float32 training path).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .. import spaces, tree
from .._validation import as_dtype
from ..losses import get_loss
from ..modules import Module, Sequential, check_network


@dataclass(frozen=True)
class Stationary:
    """The stationary point of ℒ for one batch (everything per sample unless said).

    Attributes
    ----------
    states : list
        ``[x_0, x_1, …, x_L]``: the input and every stage's output, ``(S, d_l)``.
    multipliers : list
        ``[λ_1, …, λ_L]``, ``λ_l = ∂ℓ_s/∂x_l`` of shape ``(S, d_l)``.
    module_multipliers : dict
        The multiplier at the output of *every* atomic module, as a tree mirroring the model.
    losses : ndarray, shape (S,)
        ``ℓ(y_s)``.
    risk : float
        ``R = mean_s ℓ(y_s)``.
    grads : dict
        ``∇_w R`` (batch mean), a tree like the parameters.
    caches : list
        Per-stage forward caches (what the derivatives need).
    """

    states: list
    multipliers: list
    module_multipliers: dict
    losses: np.ndarray
    risk: float
    grads: dict
    caches: list


def stages(model: Module) -> list[tuple[str, Module]]:
    """The chain ``f_1, …, f_L`` the Lagrangian constrains: a Sequential's children, else
    the model itself as a single stage (key ``""``)."""
    if isinstance(model, Sequential):
        return list(model.children.items())
    return [("", model)]


def _stage_params(params, key):
    return params if key == "" else params[key]


def model_cache(model: Module, caches: list):
    """The cache ``model._forward`` would return, from :func:`forward_pass`'s per-stage
    caches (for the module's own reverse passes, e.g. its factor pass)."""
    return caches if isinstance(model, Sequential) else caches[0]


def check_batch(model: Module, X, targets, loss, *, dtype=np.float64):
    """Validate a batch once: ``(X, targets)`` checked and converted (float64 arrays, targets
    as the loss needs them), for :func:`forward_pass` / :func:`backward_pass`.

    ``dtype=np.float32`` (the optimizers' float32 training) rounds ``X``, and targets that are
    floats, to float32; labels stay integers.
    """
    check_network(model)
    X = spaces.check_point(X, model.in_space, "X", dtype=dtype)
    S = spaces.batch_size(X, model.in_space)
    targets = get_loss(loss).check_targets(targets, S, model.out_space)
    if targets.dtype.kind == "f":
        targets = as_dtype(targets, dtype, "targets")
    return X, targets


def solve(model: Module, params, X, targets, loss="mse") -> Stationary:
    """Forward pass, then the multipliers layer by layer, then the gradients (:ref:`math §2 <math-2>`).

    Parameters
    ----------
    model : Module
        A module whose output is a single array ``(S, k)``.
    params : dict
        Parameter tree of ``model``.
    X : array_like, shape (S, d_0)
    targets : array_like
        ``(S, k)`` floats for ``"mse"``, ``(S,)`` integer labels for ``"cross_entropy"``.
    loss : str or Loss

    Returns
    -------
    Stationary
    """
    loss = get_loss(loss)
    X, targets = check_batch(model, X, targets, loss)
    params = model.check_params(params)
    states, caches = forward_pass(model, params, X)
    return backward_pass(model, params, states, caches, targets, loss)


def forward_pass(model: Module, params, X) -> tuple[list, list]:
    """``∂ℒ/∂λ_l = 0``: the states ``[X, x_1, …, x_L]`` and the stages' caches (arguments as
    :func:`check_batch` returns them)."""
    states, caches = [X], []
    for key, f in stages(model):
        x, c = f._forward(_stage_params(params, key), states[-1])
        states.append(x)
        caches.append(c)
    return states, caches


def backward_pass(model: Module, params, states, caches, targets, loss) -> Stationary:
    """``∂ℒ/∂x_l = 0`` from :func:`forward_pass`'s states and caches: the multipliers layer by
    layer, then the gradients; :func:`solve`'s result (``targets`` checked, ``loss`` a
    :class:`~refimpl.losses.Loss`)."""
    y = states[-1]
    losses = loss._value(y, targets)
    S = y.shape[0]
    lam = loss._grad(y, targets)                             # ∂ℒ/∂x_L = 0
    chain = stages(model)
    multipliers, grads, module_mults = [None] * len(caches), {}, {}
    for i in reversed(range(len(caches))):                   # ∂ℒ/∂x_{l−1} = 0
        key, f = chain[i]
        multipliers[i] = lam
        # the cotangent at the data X is not a multiplier: not computed (need_input=False)
        lam, g, mm = f._backward(_stage_params(params, key), caches[i], lam, i > 0)
        grads[key] = tree.tree_map(lambda a: a / S, g)
        module_mults[key] = mm
    if chain[0][0] == "":
        grads, module_mults = grads[""], module_mults[""]
    else:
        grads = {k: grads[k] for k, _ in chain}
        module_mults = {k: module_mults[k] for k, _ in chain}
    return Stationary(states, multipliers, module_mults, losses, float(losses.mean()), grads,
                      caches)
