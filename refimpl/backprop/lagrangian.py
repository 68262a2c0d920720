"""Backpropagation as LeCun's constrained problem (SPEC §2, paper §2.1).

The network is a chain of *stages* ``x_l = f_l(x_{l−1}; w_l)``, ``l = 1..L`` (the children of
a top-level :class:`~refimpl.modules.Sequential`, or the module itself), output ``y = x_L``.
Per sample ``s`` the Lagrangian is

    ℒ_s(x, λ, w) = ℓ(x_L) + Σ_l λ_lᵀ ( f_l(x_{l−1}; w_l) − x_l )

and the batch Lagrangian is the mean ``ℒ = (1/S) Σ_s ℒ_s``. Its stationary point is

- ``∂ℒ/∂λ_l = 0``     ⇒ ``x_l = f_l(x_{l−1}; w_l)``                  (forward pass)
- ``∂ℒ/∂x_L = 0``     ⇒ ``λ_L = ∇ℓ(x_L)``
- ``∂ℒ/∂x_{l−1} = 0`` ⇒ ``λ_{l−1} = (∂f_l/∂x_{l−1})ᵀ λ_l``             (backward pass)
- ``∂ℒ/∂w_l = (1/S) Σ_s (∂f_l/∂w_l)ᵀ λ_{l,s}`` = ``∇_{w_l} R``       (the gradient)

Sign convention: ``λ_{l,s} = ∂ℓ_s/∂x_{l,s}`` (per sample, not divided by ``S``), so the
multipliers are the cotangents of backpropagation and ``ℒ = R`` at the stationary point.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .. import spaces, tree
from ..losses import get_loss
from ..modules import Module, Sequential


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


def solve(model: Module, params, X, targets, loss="mse") -> Stationary:
    """Forward pass, then the multipliers layer by layer, then the gradients (SPEC §2).

    Parameters
    ----------
    model : Module
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
    params = model.check_params(params)
    states, caches = _forward_pass(model, params, X)
    return _backward_pass(model, params, states, caches, targets, loss)


def _forward_pass(model: Module, params, X) -> tuple[list, list]:
    """``∂ℒ/∂λ_l = 0``: the states ``[X, x_1, …, x_L]`` and the stages' caches (checked
    ``params``, as :func:`solve` has them)."""
    X = spaces.check_point(X, model.in_space, "X")
    states, caches = [X], []
    for key, f in stages(model):
        x, c = f._forward(_stage_params(params, key), states[-1])
        states.append(x)
        caches.append(c)
    if not isinstance(states[-1], np.ndarray):
        raise ValueError("the model's output must be a single array R^k for a loss, got the "
                         f"product space {spaces.describe(model.out_space)}")
    return states, caches


def _backward_pass(model: Module, params, states, caches, targets, loss) -> Stationary:
    """``∂ℒ/∂x_l = 0`` from :func:`_forward_pass`'s states and caches: the multipliers layer by
    layer, then the gradients; :func:`solve`'s result."""
    y = states[-1]
    targets = loss.check_targets(targets, y.shape[0], y.shape[1])
    losses = loss._value(y, targets)
    S = y.shape[0]
    lam = loss._grad(y, targets)                             # ∂ℒ/∂x_L = 0
    multipliers, grads, module_mults = [None] * len(caches), {}, {}
    for i in reversed(range(len(caches))):                   # ∂ℒ/∂x_{l−1} = 0
        key, f = stages(model)[i]
        multipliers[i] = lam
        # the cotangent at the data X is not a multiplier: not computed (need_input=False)
        lam, g, mm = f._backward(_stage_params(params, key), caches[i], lam, i > 0)
        grads[key] = tree.tree_map(lambda a: a / S, g) if isinstance(g, dict) else g
        module_mults[key] = mm
    if stages(model)[0][0] == "":
        grads, module_mults = grads[""], module_mults[""]
    else:
        grads = {k: grads[k] for k, _ in stages(model)}
        module_mults = {k: module_mults[k] for k, _ in stages(model)}
    return Stationary(states, multipliers, module_mults, losses, float(losses.mean()), grads,
                      caches)


def lagrangian(model: Module, params, X, targets, states, multipliers, loss="mse") -> float:
    """``ℒ = (1/S) Σ_s [ℓ(x_{L,s}) + Σ_l λ_{l,s}ᵀ (f_l(x_{l−1,s}) − x_{l,s})]`` at any point.

    ``states`` is ``[x_0, …, x_L]`` and ``multipliers`` ``[λ_1, …, λ_L]`` (need not be
    stationary). At :func:`solve`'s output it equals the risk ``R``.
    """
    loss = get_loss(loss)
    params = model.check_params(params)
    chain = stages(model)
    _check_point_lists(chain, states, multipliers)
    y = states[-1]
    S = spaces.batch_size(y, model.out_space)
    value = loss._value(y, loss.check_targets(targets, y.shape[0], y.shape[1])).sum()
    for i, (key, f) in enumerate(chain):
        fx = f._forward(_stage_params(params, key), states[i])[0]
        gap = spaces.flatten(fx, f.out_space) - spaces.flatten(states[i + 1], f.out_space)
        value += np.einsum("sd,sd->", spaces.flatten(multipliers[i], f.out_space), gap)
    return float(value / S)


def kkt_residuals(model: Module, params, X, targets, states, multipliers, loss="mse") -> dict:
    """The partial derivatives of the per-sample Lagrangian at a point ``(x, λ)``.

    Returns a dict of lists (one ``(S, d_l)`` array per stage, flattened product spaces):

    - ``"d_lambda"``: ``∂ℒ/∂λ_l = f_l(x_{l−1}) − x_l``;
    - ``"d_x"``: ``∂ℒ/∂x_l = (∂f_{l+1}/∂x_l)ᵀ λ_{l+1} − λ_l`` for ``l < L`` and
      ``∇ℓ(x_L) − λ_L`` for ``l = L``.

    The Jacobians here are the modules' *dense* Jacobians (:meth:`Module.jacobian`), an
    independent code path from the VJPs that produced the multipliers; so the residuals at
    :func:`solve`'s output are zero to rounding, not by construction. Meant for tests and
    small networks.
    """
    loss = get_loss(loss)
    params = model.check_params(params)
    chain = stages(model)
    _check_point_lists(chain, states, multipliers)
    d_lambda, d_x = [], []
    for i, (key, f) in enumerate(chain):
        fx = f._forward(_stage_params(params, key), states[i])[0]
        d_lambda.append(spaces.flatten(fx, f.out_space)
                        - spaces.flatten(states[i + 1], f.out_space))
    for i, (key, f) in enumerate(chain):
        lam = spaces.flatten(multipliers[i], f.out_space)
        if i + 1 < len(chain):
            nkey, nf = chain[i + 1]
            Jx, _ = nf._jacobian(_stage_params(params, nkey), states[i + 1])
            lam_next = spaces.flatten(multipliers[i + 1], nf.out_space)
            d_x.append(np.einsum("sod,so->sd", Jx, lam_next) - lam)
        else:
            y = states[-1]
            d_x.append(loss._grad(y, loss.check_targets(targets, y.shape[0], y.shape[1])) - lam)
    return {"d_lambda": d_lambda, "d_x": d_x}


def _check_point_lists(chain, states, multipliers):
    if len(states) != len(chain) + 1 or len(multipliers) != len(chain):
        raise ValueError(f"expected {len(chain) + 1} states [x_0..x_L] and {len(chain)} "
                         f"multipliers [λ_1..λ_L] for {len(chain)} stages, got {len(states)} "
                         f"and {len(multipliers)}")
