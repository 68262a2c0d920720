"""The explicit metric from dense Jacobians: the reference every structured path is checked
against (:ref:`math §4 <math-4>`).

    G = M + (1/S) Σ_s J_sᵀ g_out(y_s) J_s,        J_s = ∂y_s/∂w   (k × n, forward mode)

built from :meth:`refimpl.modules.Module.jacobian` (one JVP per parameter, an independent code
path from the factor pass and the blocks) and the dense output metric. Small problems only:
``O(S k n)`` memory for the Jacobians and ``O(n²)`` for ``G``.
"""
from __future__ import annotations

import numpy as np

from .. import tree
from ..losses import get_loss, get_output_metric
from ..modules import check_network
from .mass import Mass


def pullback_metric(J: np.ndarray, g: np.ndarray) -> np.ndarray:
    """``(1/S) Σ_s J_sᵀ g_s J_s`` for Jacobians ``J`` ``(S, k, n)`` and metrics ``g``
    ``(S, k, k)``: the pulled-back output metric, ``(n, n)``."""
    return np.einsum("skn,skj,sjm->nm", J, g, J, optimize=True) / J.shape[0]


def dense_metric(model, params, X, targets, *, loss="mse", output_metric="identity",
                 mass=1.0, modules=None) -> np.ndarray:
    """``G = M + (1/S) Σ_s J_sᵀ g_out(y_s) J_s`` explicitly, in the flat parameter order.

    Parameters
    ----------
    model : Module
        With a single array output ``(S, k)``.
    params : dict
    X : array_like, shape (S, d_in)
    targets : array_like
    loss, output_metric, mass
        As for :func:`refimpl.metric.build_metric`.
    modules : list of str, optional
        Module paths (parameter-tree paths of the modules with parameters): ``G`` restricted
        to their parameters, each module's rows and columns in the flat order. ``None``: all
        parameters (the network-scope metric, coupling every module).

    Returns
    -------
    ndarray, shape (n, n)
    """
    check_network(model)
    params = model.check_params(params)
    loss_obj, om = get_loss(loss), get_output_metric(output_metric)
    mass = Mass.parse(mass, params)
    _, Jw = model.jacobian(params, X)
    y = model(params, X)
    g = om.matrix(y, loss_obj.check_targets(targets, *y.shape), loss_obj)
    index = np.arange(tree.size(params)) if modules is None else _indices(params, modules)
    J = Jw[:, :, index]
    G = pullback_metric(J, g)
    G[np.diag_indices(G.shape[0])] += mass.flat(_leaf_shapes(params))[index]
    return G


def _leaf_shapes(params) -> dict:
    return {p: np.shape(v) for p, v in tree.items(params)}


def _indices(params, modules) -> np.ndarray:
    """Flat positions of the parameters under each path of ``modules``, in their order."""
    spans, start = {}, 0
    for p, leaf in tree.items(params):
        spans[p] = np.arange(start, start + np.size(leaf))
        start += np.size(leaf)
    out = []
    for m in modules:
        prefix = "" if m == "" else m.rstrip("/") + "/"
        hit = [idx for p, idx in spans.items() if p == m or p.startswith(prefix)]
        if not hit:
            raise ValueError(f"no parameters under the module path {m!r}; the parameters are "
                             f"{list(spans)}")
        out.extend(hit)
    return np.concatenate(out)
