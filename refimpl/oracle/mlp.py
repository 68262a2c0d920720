"""Plain-array oracle functions for other backends (MLPs as lists of ``(W, b)``).

Conventions (shared by every function here; also in README.md and ``data/golden``):

- ``params = [(W_1, b_1), …, (W_L, b_L)]``, ``W_l`` of shape ``(out_l, in_l)``, ``b_l`` of
  shape ``(out_l,)``; the network is ``z_l = x_{l−1} W_lᵀ + b_l``, ``x_l = act(z_l)`` for
  ``l < L`` and ``y = z_L`` (the last layer is linear);
- ``X`` is ``(S, in)``; ``targets`` are ``(S, k)`` floats for ``loss="mse"``
  (``ℓ = ½|y − t|²``) or ``(S,)`` integer labels for ``loss="cross_entropy"``;
- the loss and all gradients are of the batch *mean* ``R = (1/S) Σ_s ℓ_s``;
- multipliers are per sample: ``λ_{l,s} = ∂ℓ_s/∂z_{l,s}`` (not divided by ``S``);
- flat parameter order (dense metrics): ``W_l`` flattened in C order, then ``b_l``, layer by
  layer;
- everything is float64; bad input raises ``ValueError`` (or ``TypeError`` for wrong types).
"""
from __future__ import annotations

import numpy as np

from .._validation import as_float_array, check_choice
from ..backprop import solve
from ..losses import get_loss
from ..modules import ACTIVATIONS, mlp

LOSS_NAMES = ("mse", "cross_entropy")


def to_tree(params) -> tuple[list[int], dict]:
    """Validate ``[(W, b), …]`` and convert it to ``(widths, parameter tree of mlp(widths))``."""
    if not isinstance(params, (list, tuple)) or len(params) == 0:
        raise ValueError("params must be a non-empty list of (W, b) pairs, got "
                         f"{type(params).__name__}"
                         + (" of length 0" if isinstance(params, (list, tuple)) else ""))
    widths, tree = [], {}
    for l, pair in enumerate(params):
        if not isinstance(pair, (list, tuple)) or len(pair) != 2:
            raise ValueError(f"params[{l}] must be a pair (W, b)")
        W = as_float_array(pair[0], f"params[{l}] W", ndim=2)
        b = as_float_array(pair[1], f"params[{l}] b", shape=(W.shape[0],))
        if l == 0:
            widths.append(W.shape[1])
        elif W.shape[1] != widths[-1]:
            raise ValueError(f"params[{l}] W has shape {W.shape}: it must take {widths[-1]} "
                             f"inputs (the output size of layer {l - 1})")
        widths.append(W.shape[0])
        tree[str(2 * l)] = {"W": W, "b": b}
        if l < len(params) - 1:
            tree[str(2 * l + 1)] = {}
    return widths, tree


def from_tree(tree: dict, n_layers: int) -> list[tuple[np.ndarray, np.ndarray]]:
    """Inverse of :func:`to_tree`: the ``(W, b)`` list of an MLP tree."""
    return [(tree[str(2 * l)]["W"], tree[str(2 * l)]["b"]) for l in range(n_layers)]


def prepare(params, X, targets, activation, loss):
    """Validate the common arguments; return ``(model, tree, X, targets, loss)``."""
    widths, tree = to_tree(params)
    check_choice(activation, "activation", tuple(ACTIVATIONS))
    check_choice(loss, "loss", LOSS_NAMES)
    X = as_float_array(X, "X", ndim=2)
    if X.shape[1] != widths[0]:
        raise ValueError(f"X must have shape (S, {widths[0]}) to match params[0] W, "
                         f"got {X.shape}")
    if X.shape[0] == 0:
        raise ValueError("X must hold at least one sample")
    loss_obj = get_loss(loss)
    targets = loss_obj.check_targets(targets, X.shape[0], widths[-1])
    return mlp(widths, activation), tree, X, targets, loss_obj


def mlp_gradients(params, X, targets, *, activation="tanh", loss="mse") -> dict:
    """Loss, gradients and multipliers of an MLP by constrained backpropagation (SPEC §2).

    Parameters
    ----------
    params : list of (W, b)
        ``W`` of shape ``(out, in)``, ``b`` of shape ``(out,)``.
    X : array_like, shape (S, in)
    targets : array_like
        ``(S, k)`` floats for ``"mse"``; ``(S,)`` integer labels for ``"cross_entropy"``.
    activation : str
        ``identity, tanh, sigmoid, relu, leaky_relu, softplus, gelu, sin``.
    loss : {"mse", "cross_entropy"}

    Returns
    -------
    dict
        ``"loss"``: float, the batch-mean loss; ``"grads"``: list of ``(dW, db)``;
        ``"multipliers"``: list of ``(S, out_l)`` arrays ``λ_l = ∂ℓ_s/∂z_l``.

    Examples
    --------
    >>> import numpy as np
    >>> from refimpl.oracle import mlp_gradients
    >>> rng = np.random.default_rng(0)
    >>> params = [(rng.standard_normal((4, 3)), np.zeros(4)), (rng.standard_normal((2, 4)), np.zeros(2))]
    >>> out = mlp_gradients(params, rng.standard_normal((5, 3)), rng.standard_normal((5, 2)))
    >>> [g[0].shape for g in out["grads"]], out["multipliers"][0].shape
    ([(4, 3), (2, 4)], (5, 4))
    """
    model, tree, X, targets, loss_obj = prepare(params, X, targets, activation, loss)
    st = solve(model, tree, X, targets, loss_obj)
    L = len(params)
    return {"loss": st.risk,
            "grads": from_tree(st.grads, L),
            "multipliers": [st.module_multipliers[str(2 * l)] for l in range(L)]}
