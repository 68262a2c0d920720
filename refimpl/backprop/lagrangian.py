"""The Lagrangian of backpropagation and its partial derivatives at any point (:ref:`math §2 <math-2>`).

    ℒ = (1/S) Σ_s [ ℓ(x_{L,s}) + Σ_l λ_{l,s}ᵀ ( f_l(x_{l−1,s}; w_l) − x_{l,s} ) ]

:func:`lagrangian` evaluates it and :func:`kkt_residuals` its partial derivatives at a point
``(x, λ)`` that need not be stationary; at :func:`~refimpl.backprop.solve`'s output the value
is the risk ``R`` and the residuals vanish to rounding.
"""
from __future__ import annotations

import numpy as np

from .. import spaces
from ..losses import get_loss
from ..modules import Module
from .passes import _stage_params, stages


def lagrangian(model: Module, params, targets, states, multipliers, loss="mse") -> float:
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


def kkt_residuals(model: Module, params, targets, states, multipliers, loss="mse") -> dict:
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
