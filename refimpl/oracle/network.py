"""Plain-array oracle functions over any architecture document (MLPs, CNNs, composites).

The network is a JSON architecture (:mod:`refimpl.oracle.architecture`: the document's text
or its parsed ``dict``); everything else is plain arrays keyed by name:

- ``params``: ``{parameter name: array}`` for every parameter of the architecture, names as
  in the format (``"0/W"``, ``"0/b"``, ``"3/W"``, …), shapes as the modules say (``Linear``
  ``W`` ``(n_out, n_in)``; ``Conv2d`` ``W`` ``(C_out, C_in, kh, kw)``, ``b`` ``(C_out,)``);
- ``X``: the batch, sample axis first: ``(S, d)`` for a vector input, ``(S, C, H, W)``
  (NCHW) for an image input;
- ``targets``: ``(S, k)`` floats for ``loss="mse"`` (``ℓ = ½|y − t|²``), ``(S,)`` integer
  labels for ``loss="cross_entropy"``; the network's output must be a vector ``R^k``;
- the loss and all gradients are of the batch *mean* ``R = (1/S) Σ_s ℓ_s``; multipliers are
  per sample, ``λ_{m,s} = ∂ℓ_s/∂z_{m,s}`` at the output ``z_m`` of module ``m`` (not divided
  by ``S``);
- ``mass``: ``μ > 0`` or ``{parameter name: array of positive values shaped like it}``;
- ``output_metric``: ``"identity"``, ``"gauss-newton"`` (the loss Hessian) or a constant SPD
  ``(k, k)`` matrix;
- a *module path* names a module that owns parameters: a parameter name without its last
  component (``"0"``, ``"1/0/0"``; ``""`` for an architecture that is one atom);
- the flat parameter order of dense metrics is the format's: depth-first over the module tree,
  ``W`` then ``b``, each array in C order;
- everything is float64; bad input raises ``ValueError`` (or ``TypeError``) naming it.

The MLP functions of :mod:`refimpl.oracle.mlp` (``params`` as a list of ``(W, b)``) stay for
backends that only have MLPs.

Examples
--------
>>> import numpy as np
>>> from refimpl.oracle import gradients, riemannian_step
>>> arch = {"type": "Sequential", "children": [
...     {"type": "Conv2d", "in_channels": 1, "out_channels": 2, "kernel_size": [3, 3],
...      "stride": [1, 1], "padding": [1, 1], "bias": True, "input_size": [4, 4]},
...     {"type": "Flatten", "shape": [2, 4, 4]},
...     {"type": "Linear", "n_in": 32, "n_out": 3, "bias": True}]}
>>> rng = np.random.default_rng(0)
>>> params = {"0/W": rng.standard_normal((2, 1, 3, 3)), "0/b": np.zeros(2),
...           "2/W": rng.standard_normal((3, 32)) / 6, "2/b": np.zeros(3)}
>>> X, labels = rng.standard_normal((5, 1, 4, 4)), np.array([0, 1, 2, 0, 1])
>>> out = gradients(arch, params, X, labels, loss="cross_entropy")
>>> sorted(out["grads"]), out["multipliers"]["0"].shape
(['0/W', '0/b', '2/W', '2/b'], (5, 2, 4, 4))
>>> step = riemannian_step(arch, params, X, labels, loss="cross_entropy", mass=0.1, lr=1.0)
>>> step["0/W"].shape
(2, 1, 3, 3)
"""
from __future__ import annotations

import numbers

import numpy as np

from .. import spaces, tree
from .._validation import as_float_array, as_positive_float, check_choice
from ..backprop import solve
from ..losses import get_loss, get_output_metric
from ..modules import check_network
from .architecture import from_json, module_paths, parameter_names

LOSS_NAMES = ("mse", "cross_entropy")
SCOPES = ("layer", "network")


def gradients(architecture, params, X, targets, *, loss="mse") -> dict:
    """Loss, gradients and multipliers by constrained backpropagation (:ref:`math §2 <math-2>`).

    Returns
    -------
    dict
        ``"loss"``: float, the batch-mean loss; ``"grads"``: ``{parameter name: ∇R}``;
        ``"multipliers"``: ``{module path: λ}``, ``λ`` of shape ``(S, *output shape)`` for
        every module that owns parameters.
    """
    model, tree_, X, targets, loss_obj = _prepare(architecture, params, X, targets, loss)
    st = solve(model, tree_, X, targets, loss_obj)
    return {"loss": st.risk, "grads": dict(tree.items(st.grads)),
            "multipliers": {m: np.asarray(tree.get(st.module_multipliers, m))
                            for m in module_paths(model)}}


def riemannian_step(architecture, params, X, targets, *, loss="mse",
                    output_metric="identity", mass=1.0, lr=1.0, scope="layer") -> dict:
    """The Riemannian SGD update ``Δ = −lr · G⁻¹ ∇R`` (:ref:`eq. (3) <math-eq-3>`, Algorithm 1).

    ``G_m = M_m + (1/S) Σ_s J_{m,s}ᵀ g_out(y_s) J_{m,s}`` per module that owns parameters
    (``scope="layer"``, the paper's block-diagonal metric) or one metric over all parameters
    (``scope="network"``, damped Gauss–Newton).

    Returns
    -------
    dict
        ``{parameter name: update}``, shaped like the parameters.
    """
    from ..metric import build_metric

    model, tree_, X, targets, loss_obj = _prepare(architecture, params, X, targets, loss)
    lr = as_positive_float(lr, "lr")
    metric = build_metric(model, tree_, X, targets, loss=loss_obj,
                          output_metric=_output_metric(output_metric),
                          mass=_mass(mass, model), scope=check_choice(scope, "scope", SCOPES))
    update, _ = metric.step(lr)
    return dict(tree.items(update))


def metric_dense(architecture, params, X, targets, *, module=None, loss="mse",
                 output_metric="identity", mass=1.0) -> np.ndarray:
    """The explicit metric ``M + (1/S) Σ_s J_sᵀ g_out(y_s) J_s`` over a set of parameters.

    ``J_s = ∂y_s/∂w`` from dense per-sample Jacobians (forward mode, one direction at a time;
    :func:`refimpl.metric.dense_metric`) and the dense output metric — a code path
    independent of the factor pass and the Woodbury solves, so it serves as their reference.
    ``module=None``: all parameters (the network-scope ``G``); a module path (``"0"``): that
    module's layer metric ``G_m``; any path prefix: the parameters below it.

    Returns
    -------
    ndarray, shape (n, n)
        In the flat parameter order.
    """
    from ..metric import dense_metric

    model, tree_, X, targets, loss_obj = _prepare(architecture, params, X, targets, loss)
    if module is not None and not isinstance(module, str):
        raise TypeError(f"module must be None or a module path (str), got {module!r}")
    names = [n for n, _ in parameter_names(model)]
    if module is not None and not any(module.rstrip("/") == "" or
                                      n.startswith(module.rstrip("/") + "/") for n in names):
        raise ValueError(f"module {module!r} owns no parameters; module paths of this "
                         "architecture: " + ", ".join(repr(p) for p in module_paths(model)))
    return dense_metric(model, tree_, X, targets, loss=loss_obj,
                        output_metric=_output_metric(output_metric), mass=_mass(mass, model),
                        modules=None if module is None else [module.rstrip("/")])


# -- validation ------------------------------------------------------------------------------
def _prepare(architecture, params, X, targets, loss):
    model = check_network(from_json(architecture))
    tree_ = _param_tree(params, model, "params")
    check_choice(loss, "loss", LOSS_NAMES)
    X = spaces.check_point(X, model.in_space, "X")
    if X.shape[0] == 0:
        raise ValueError("X must hold at least one sample")
    loss_obj = get_loss(loss)
    targets = loss_obj.check_targets(targets, X.shape[0], model.out_space)
    return model, tree_, X, targets, loss_obj


def _param_tree(named, model, what: str) -> dict:
    """``{name: array}`` for every parameter of ``model`` → its parameter tree (checked)."""
    want = dict(parameter_names(model))
    if not isinstance(named, dict):
        raise TypeError(f"{what} must be a dict from parameter name to array, e.g. "
                        f"{list(want)[:2]}, got {type(named).__name__}")
    missing, extra = [n for n in want if n not in named], sorted(set(named) - set(want))
    if missing or extra:
        raise ValueError(f"{what} must have exactly the architecture's parameter names "
                         f"{list(want)}" + (f"; missing {missing}" if missing else "")
                         + (f"; unexpected {extra}" if extra else ""))
    return tree.from_paths(model.param_shapes(),
                           {name: as_float_array(named[name], f"{what}[{name!r}]", shape=shape)
                            for name, shape in want.items()})


def _mass(mass, model):
    if isinstance(mass, dict):
        m = _param_tree(mass, model, "mass")
        for name, leaf in tree.items(m):
            if np.any(leaf <= 0.0):
                raise ValueError(f"mass[{name!r}] must be > 0, got minimum {leaf.min()!r}")
        return m
    if isinstance(mass, bool) or not isinstance(mass, numbers.Real):
        raise TypeError("mass must be a positive number or a dict from parameter name to "
                        f"array, got {type(mass).__name__}")
    return as_positive_float(mass, "mass")


def _output_metric(output_metric):
    if isinstance(output_metric, str):
        check_choice(output_metric, "output_metric", ("identity", "gauss-newton"))
    return output_metric


