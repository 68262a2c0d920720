"""Plain-array oracle functions for other backends (MLPs as lists of ``(W, b)``).

Conventions (shared by every function here; also in README.md and the golden set's README):

- ``params = [(W_1, b_1), …, (W_L, b_L)]``, ``W_l`` of shape ``(out_l, in_l)``, ``b_l`` of
  shape ``(out_l,)``; the network is ``z_l = x_{l−1} W_lᵀ + b_l``, ``x_l = act(z_l)`` for
  ``l < L`` and ``y = z_L`` (the last layer is linear);
- ``X`` is ``(S, in)``; ``targets`` are ``(S, k)`` floats for ``loss="mse"``
  (``ℓ = ½|y − t|²``) or ``(S,)`` integer labels for ``loss="cross_entropy"``;
- the loss and all gradients are of the batch *mean* ``R = (1/S) Σ_s ℓ_s``;
- multipliers are per sample: ``λ_{l,s} = ∂ℓ_s/∂z_{l,s}`` (not divided by ``S``);
- flat parameter order (dense metrics): ``W_l`` flattened in C order, then ``b_l``, layer by
  layer;
- everything is float64: float32, float16 and integer inputs are converted (exactly), ``bool``
  and extended-precision (``longdouble``) arrays are a ``TypeError`` (convert explicitly);
  scalars (``mass``, ``lr``) may be numbers, NumPy scalars or 0-d arrays, as the golden
  files store them; bad input raises ``ValueError`` (or ``TypeError`` for wrong types).
"""
from __future__ import annotations

import numpy as np

from .._validation import as_float_array, as_positive_float, check_choice, is_real_scalar
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
    """Loss, gradients and multipliers of an MLP by constrained backpropagation (:ref:`math §2 <math-2>`).

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


def _mass_tree(mass, params, tree_):
    """A positive scalar (a number, a NumPy scalar or a 0-d array, as the golden files store
    it), or a list of ``(MW, Mb)`` shaped like ``params`` → mass for build_metric."""
    if is_real_scalar(mass):
        return as_positive_float(mass, "mass")
    if isinstance(mass, (list, tuple)):
        if len(mass) != len(params):
            raise ValueError(f"mass must have one (MW, Mb) pair per layer ({len(params)}), "
                             f"got {len(mass)}")
        out = {}
        for l, pair in enumerate(mass):
            if not isinstance(pair, (list, tuple)) or len(pair) != 2:
                raise ValueError(f"mass[{l}] must be a pair (MW, Mb)")
            W, b = tree_[str(2 * l)]["W"], tree_[str(2 * l)]["b"]
            out[str(2 * l)] = {"W": as_float_array(pair[0], f"mass[{l}] MW", shape=W.shape),
                               "b": as_float_array(pair[1], f"mass[{l}] Mb", shape=b.shape)}
        return out
    raise TypeError("mass must be a positive number (or a NumPy scalar or 0-d array) or a list "
                    "of (MW, Mb) arrays shaped like params, got "
                    + (f"an array of shape {mass.shape}" if isinstance(mass, np.ndarray)
                       else type(mass).__name__))


def _metric_args(output_metric):
    if isinstance(output_metric, str):
        check_choice(output_metric, "output_metric", ("identity", "gauss-newton"))
    return output_metric


def mlp_riemannian_step(params, X, targets, *, activation="tanh", loss="mse",
                        output_metric="identity", mass=1.0, lr=1.0, scope="layer",
                        method="auto", cg_rtol=1e-10):
    """The Riemannian SGD update ``Δ = −lr · G⁻¹ ∇R`` (:ref:`eq. (3) <math-eq-3>`, Algorithm 1).

    ``G_l = M_l + (1/S) Σ_s J_{l,s}ᵀ g_out(y_s) J_{l,s}`` per layer (``scope="layer"``, the
    paper's block-diagonal metric) or one metric over all parameters (``scope="network"``,
    damped Gauss–Newton). ``output_metric`` is ``"identity"`` or ``"gauss-newton"`` (the loss
    Hessian; for ``mse`` the two coincide); ``mass`` is ``μ > 0`` (a number, a NumPy scalar or
    a 0-d array) or a list of ``(MW, Mb)`` arrays of positive values shaped like the
    parameters. ``method`` (``"auto"``, ``"woodbury"``, ``"primal"``, ``"cg"``) and
    ``cg_rtol`` choose the solver (:func:`refimpl.metric.build_metric`): ``"cg"`` solves the
    inner systems by conjugate gradients to the relative residual ``cg_rtol``, for batches
    whose inner matrix does not fit in memory (``"auto"`` takes it then).

    Returns
    -------
    list of (dW, db)
    """
    from ..metric import build_metric

    model, tree_, X, targets, loss_obj = prepare(params, X, targets, activation, loss)
    lr = as_positive_float(lr, "lr")
    metric = build_metric(model, tree_, X, targets, loss=loss_obj,
                          output_metric=_metric_args(output_metric),
                          mass=_mass_tree(mass, params, tree_),
                          scope=check_choice(scope, "scope", ("layer", "network")),
                          method=method, cg_rtol=cg_rtol)
    update, _ = metric.step(lr)
    return from_tree(update, len(params))


def mlp_metric_dense(params, X, targets, *, layer, activation="tanh", loss="mse",
                     output_metric="identity", mass=1.0) -> np.ndarray:
    """The explicit metric ``G_l = M_l + (1/S) Σ_s J_{l,s}ᵀ g_out(y_s) J_{l,s}``.

    Built from the dense per-sample Jacobians (:meth:`Module.jacobian`, forward-mode) and the
    dense output metric — a code path independent of the factor pass and Woodbury solves, so
    it serves as their reference. ``layer`` is the layer index (0-based) or ``None`` for the
    whole network. Parameter order: ``W`` flattened in C order, then ``b``, layer after layer.

    Returns
    -------
    ndarray, shape (n_l, n_l)
    """
    from ..metric import dense_metric

    model, tree_, X, targets, loss_obj = prepare(params, X, targets, activation, loss)
    L = len(params)
    if layer is not None and (isinstance(layer, bool) or not isinstance(layer, (int, np.integer))
                              or not 0 <= layer < L):
        raise ValueError(f"layer must be None or an int in [0, {L}), got {layer!r}")
    return dense_metric(model, tree_, X, targets, loss=loss_obj,
                        output_metric=_metric_args(output_metric),
                        mass=_mass_tree(mass, params, tree_),
                        modules=None if layer is None else [str(2 * layer)])
