"""The paper's metric for one batch, built on any module (SPEC §4, §6; Algorithm 1).

:func:`build_metric` runs Algorithm 1 up to the solve:

1. forward pass (keep activations) and the multipliers ``λ_l`` (SPEC §2) → ``∇R``;
2. output metric factor ``F_s`` (``g_out = F Fᵀ``) and the factor pass ``R_L = Fᵀ``,
   ``R_{l−1} = R_l ∂f_l/∂x_{l−1}``, giving each module's blocks ``B_l = R_l ∂f_l/∂w_l``
   (Remark 4) without forming any ``n_l × n_l`` matrix;
3. per module a :class:`~refimpl.metric.layer.LayerMetric` (``scope="layer"``, the paper's
   block-diagonal metric) or one :class:`~refimpl.metric.network.NetworkMetric` over all
   parameters (``scope="network"``, damped Gauss–Newton / Levenberg–Marquardt).

:meth:`BatchMetric.step` then gives ``Δw = −η G⁻¹ ∇R`` (eq. 3), by the push-through form
(3′) ``−η M⁻¹ B̃ᵀ K⁻¹ c̃`` whenever the output metric supplies coordinates ``∇_y ℓ = F c``
(always, except a cross-entropy sample whose true-class ``√p`` underflows, where eq. (2) is
used for the whole batch). Per-step diagnostics come with it.
"""
from __future__ import annotations

import numpy as np

from .. import tree
from ..backprop import solve as backprop_solve
from ..losses import get_loss, get_output_metric
from ..modules import Module, Sequential, block_items
from ..modules.blocks import DenseBlock
from ..modules.linear import LinearBlock
from .layer import LayerMetric
from .mass import at_path, check_mass
from .network import NetworkMetric

SCOPES = ("layer", "network")
PATHS = ("structured", "generic")


class BatchMetric:
    """``G`` (layerwise or network scope) at the current parameters and batch.

    Attributes
    ----------
    risk : float
        ``R`` on the batch.
    grads : dict
        ``∇R``, a tree like the parameters.
    paths : list of str
        The parameter-tree paths of the modules that own parameters (the metric's blocks).
    layers : dict of LayerMetric
        Per module (``scope="layer"``); ``network`` holds the NetworkMetric otherwise.
    coords : ndarray (S, r) or None
        ``c`` with ``∇_y ℓ_s = F_s c_s``.
    """

    def __init__(self, model, params, risk, grads, blocks, masses, coords, scope, method):
        self.model, self.params, self.risk, self.grads = model, params, risk, grads
        self.paths = [p for p, _ in blocks]
        self.coords, self.scope = coords, scope
        if scope == "layer":
            self.layers = {p: LayerMetric(b, m, method) for (p, b), m in zip(blocks, masses)}
            self.network = None
        else:
            self.layers = {}
            self.network = NetworkMetric(blocks, masses, method)

    # -- tree plumbing ----------------------------------------------------------------------
    def _split(self, v: dict) -> list:
        return [at_path(v, p) for p in self.paths]

    def _join(self, parts: list) -> dict:
        # the parameter tree's structure; every leaf of a module in ``paths`` is replaced by
        # its part below, the rest (none, when every parameter has a metric block) get zeros
        out = _skeleton(self.params)
        for p, part in zip(self.paths, parts):
            node = out
            keys = [k for k in p.split("/") if k]
            for k in keys[:-1]:
                node = node[k]
            if keys:
                node[keys[-1]] = part
            else:
                out = part
        return _fill_zeros(out, self.params)

    def _each(self, method: str, arg):
        if self.network is not None:
            return self._join(getattr(self.network, method)(arg if method == "push_through"
                                                            else self._split(arg)))
        if method == "push_through":
            return self._join([self.layers[p].push_through(arg) for p in self.paths])
        return self._join([getattr(self.layers[p], method)(v)
                           for p, v in zip(self.paths, self._split(arg))])

    # -- public operations --------------------------------------------------------------------
    def matvec(self, v: dict) -> dict:
        """``G v`` for a tree ``v`` like the parameters."""
        return self._each("matvec", v)

    def solve(self, v: dict) -> dict:
        """``G⁻¹ v`` (eq. 2 per block, or the primal solve)."""
        return self._each("solve", v)

    def natural_gradient(self) -> tuple[dict, str]:
        """``G⁻¹ ∇R`` and the form used (``"push-through (3′)"`` or ``"woodbury (2)"``)."""
        if self.coords is not None:
            return self._each("push_through", self.coords), "push-through (3′)"
        return self.solve(self.grads), "woodbury (2)"

    def step(self, lr: float):
        """The update ``Δw = −lr · G⁻¹ ∇R`` (eq. 3) and its diagnostics.

        Diagnostics: ``grad_norm`` ``‖∇R‖``, ``update_norm`` ``‖Δw‖``, ``inner_size`` (the
        largest factorised system), ``condition`` (largest Cholesky-diagonal estimate),
        ``residual`` ``‖G u − ∇R‖ / ‖∇R‖`` for ``u = G⁻¹∇R``, ``form`` and ``methods``.
        """
        u, form = self.natural_gradient()
        r2 = self._residual_sq(u)
        for x in tree.leaves(u):                 # u is ours (new arrays): scaled in place
            x *= -lr
        update = u
        g_norm = np.sqrt(tree.vdot(self.grads, self.grads))
        systems = [self.network] if self.network is not None else list(self.layers.values())
        diag = {
            "risk": self.risk,
            "grad_norm": float(g_norm),
            "update_norm": float(np.sqrt(tree.vdot(update, update))),
            "inner_size": int(max(s.inner_size for s in systems)),
            "condition": float(max(s.inner_condition() for s in systems)),
            "residual": float(np.sqrt(r2) / g_norm) if g_norm > 0 else 0.0,
            "form": form,
            "methods": {p: f"{s.method}/{s.path}" for p, s in
                        (zip(self.paths, systems) if self.network is None
                         else [("network", self.network)])},
        }
        return update, diag

    def _residual_sq(self, u: dict) -> float:
        """``‖G u − ∇R‖²``, with ``G u`` by :meth:`matvec` (per layer for ``scope="layer"``:
        each layer's ``G_l u_l`` is a new array, finished in place, and no parameter-sized
        tree is assembled)."""
        if self.network is not None:
            r = tree.add(self.matvec(u), self.grads, -1.0)
            return tree.vdot(r, r)
        total = 0.0
        for p, ul, gl in zip(self.paths, self._split(u), self._split(self.grads)):
            Gu = self.layers[p].matvec(ul)
            for k, x in Gu.items():
                x -= gl[k]
                total += float(np.vdot(x, x))
        return total

    def dense(self) -> np.ndarray:
        """``G`` explicitly (block diagonal for ``scope="layer"``), flat parameter order."""
        if self.network is not None:
            return self.network.dense()
        blocks = [self.layers[p].dense() for p in self.paths]
        n = sum(b.shape[0] for b in blocks)
        G, start = np.zeros((n, n)), 0
        for b in blocks:
            G[start:start + b.shape[0], start:start + b.shape[0]] = b
            start += b.shape[0]
        return G


def build_metric(model: Module, params, X, targets, *, loss="mse", output_metric="identity",
                 mass=1.0, scope="layer", method="auto", path="structured") -> BatchMetric:
    """Algorithm 1 up to the solve, for any module (see the module docstring).

    Parameters
    ----------
    model : Module
        A module whose output is a single array ``(S, k)``.
    params : dict
        Its parameter tree.
    X : array_like, shape (S, d_in)
    targets : array_like
        ``(S, k)`` floats (``mse``) or ``(S,)`` labels (``cross_entropy``).
    loss : str or Loss
    output_metric : "identity", "gauss-newton", a ``(k, k)`` SPD matrix, or an OutputMetric
    mass : float or dict
        ``μ > 0`` or a tree of positive arrays like ``params``.
    scope : {"layer", "network"}
    method : {"auto", "woodbury", "primal"}
        How each block's ``G⁻¹`` is applied (``auto``: by cost).
    path : {"structured", "generic"}
        ``generic`` materialises every module's ``B̃`` (the path any module takes), for
        comparison with the structured linear-module formulas.

    Returns
    -------
    BatchMetric
    """
    if scope not in SCOPES:
        raise ValueError(f"unknown scope {scope!r}; expected one of {SCOPES}")
    if path not in PATHS:
        raise ValueError(f"unknown path {path!r}; expected one of {PATHS}")
    loss = get_loss(loss)
    om = get_output_metric(output_metric)
    params = model.check_params(params)
    mass = check_mass(mass, params)
    st = backprop_solve(model, params, X, targets, loss)      # forward + multipliers + ∇R
    y = st.states[-1]
    t = loss.check_targets(targets, y.shape[0], y.shape[1])
    F = om.factor(y, t, loss)                                  # (S, k, r)
    cache = st.caches if isinstance(model, Sequential) else st.caches[0]
    _, blocks = model._factor_pass(params, cache, np.ascontiguousarray(np.swapaxes(F, 1, 2)),
                                   need_input=False)
    blocks = list(block_items(blocks))
    if not blocks:
        raise ValueError(f"{model!r} has no parameters: there is no metric to build")
    if path == "generic":
        blocks = [(p, DenseBlock(b.materialize(), b.shapes) if isinstance(b, LinearBlock)
                   else b) for p, b in blocks]
    masses = [at_path(mass, p) for p, _ in blocks]
    return BatchMetric(model, params, st.risk, st.grads, blocks, masses,
                       om.coords(y, t, loss), scope, method)


def _skeleton(t):
    """The dict structure of ``t`` with ``None`` leaves (nothing allocated)."""
    return {k: _skeleton(v) for k, v in t.items()} if isinstance(t, dict) else None


def _fill_zeros(out, like):
    """``out`` with its ``None`` leaves replaced by zeros shaped like ``like``'s."""
    if out is None:
        return np.zeros_like(like)
    if isinstance(out, dict):
        for k, v in out.items():
            if v is None or isinstance(v, dict):
                out[k] = _fill_zeros(v, like[k])
    return out
