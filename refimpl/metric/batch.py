"""The paper's metric for one batch, at both scopes, and the step it gives (:ref:`math §4 <math-4>`, §6;
eq. 3, 3′).

:class:`BatchMetric` holds one :class:`~refimpl.metric.system.MetricSystem` per module that
owns parameters (``scope="layer"``, the paper's block-diagonal metric) or one over all of them
(``scope="network"``, damped Gauss–Newton / Levenberg–Marquardt), and maps parameter trees to
the systems' blocks and back by tree paths. :meth:`BatchMetric.step` gives
``Δw = −η G⁻¹ ∇R`` (eq. 3) by the push-through form (3′) ``−η M⁻¹ B̃ᵀ K⁻¹ c̃`` whenever the
output metric supplies coordinates ``∇_y ℓ = F c`` (always, except a cross-entropy sample whose
true-class ``√p`` underflows, where eq. (2) is used for the whole batch), with its diagnostics.
"""
from __future__ import annotations

import warnings
from functools import partial

import numpy as np

from .. import _threads, tree
from .plan import MEMORY_SHARE, available_memory, choose
from .layer import LayerMetric
from .system import MetricSystem

SCOPES = ("layer", "network")


class MetricWarning(UserWarning):
    """The metric took another method than asked for by ``method="auto"`` (e.g. for memory)."""


class BatchMetric:
    """``G`` (layerwise or network scope) at the current parameters and batch.

    Built by :func:`refimpl.metric.build_metric`.

    Attributes
    ----------
    risk : float
        ``R`` on the batch.
    grads : dict
        ``∇R``, a tree like the parameters.
    paths : list of str
        The parameter-tree paths of the modules that own parameters (the metric's blocks).
    systems : list of MetricSystem
        One per module (``scope="layer"``) or one for all (``scope="network"``).
    layers : dict
        ``{path: LayerMetric}`` (views of the systems) for ``scope="layer"``, else empty.
    network : MetricSystem or None
        The one system of ``scope="network"``.
    coords : ndarray (S, r) or None
        ``c`` with ``∇_y ℓ_s = F_s c_s``.
    notes : list of str
        Why ``method="auto"`` left the cheaper direct method for some system, if it did.
    """

    def __init__(self, model, params, risk, grads, blocks: dict, mass, coords, scope, method,
                 precision, threads, prepare_step, cg_rtol, memory):
        self.model, self.params, self.risk, self.grads = model, params, risk, grads
        self.paths = list(blocks)
        self.coords, self.scope, self.threads = coords, scope, threads
        masses = {p: mass.at(p) for p in self.paths}
        groups = [[p] for p in self.paths] if scope == "layer" else [self.paths]
        budget = MEMORY_SHARE * (available_memory() if memory is None else float(memory))
        plans = []
        for g in groups:                  # every system lives at once: their memory adds up
            what = f"module {g[0]!r}" if scope == "layer" else "the network metric"
            plan = choose([blocks[p] for p in g], [masses[p] for p in g], method, budget, what,
                          precision)
            budget -= plan.bytes
            plans.append(plan)
        self.notes = [p.note for p in plans if p.note]
        for note in self.notes:
            warnings.warn(note, MetricWarning, stacklevel=3)

        def task(i):
            g = groups[i]
            system = MetricSystem({p: blocks[p] for p in g}, {p: masses[p] for p in g},
                                  plans[i].method, precision, cg_rtol=cg_rtol, plan=plans[i])
            return system, (self._system_step(system) if prepare_step else None)

        # one task per system, the most expensive first (the pool takes them in order); with
        # prepare_step a task goes on to its part of step() (one parallel phase, not two)
        order = sorted(range(len(groups)), key=lambda i: -plans[i].flops)
        done = dict(zip(order, _threads.run([partial(task, i) for i in order], threads)))
        self.systems = [done[i][0] for i in range(len(groups))]
        self._order = order
        self._prepared = {i: done[i][1] for i in order} if prepare_step else None
        self.layers = ({s.paths[0]: LayerMetric.view(s) for s in self.systems}
                       if scope == "layer" else {})
        self.network = self.systems[0] if scope == "network" else None

    # -- public operations --------------------------------------------------------------------
    def matvec(self, v: dict) -> dict:
        """``G v`` for a tree ``v`` like the parameters."""
        return self._apply(lambda s, parts: s.matvec(parts), v)

    def solve(self, v: dict) -> dict:
        """``G⁻¹ v`` (eq. 2 per system, CG on ``K``, or the primal solve)."""
        return self._apply(lambda s, parts: s.solve(parts), v)

    def natural_gradient(self) -> tuple[dict, str]:
        """``G⁻¹ ∇R`` and the form used (``"push-through (3′)"`` or ``"woodbury (2)"``)."""
        if self.coords is not None:
            out = {}
            for s in self.systems:
                out.update(s.push_through(self.coords))
            return tree.from_paths(self.params, out), "push-through (3′)"
        return self.solve(self.grads), "woodbury (2)"

    def step(self, lr: float):
        """The update ``Δw = −lr · G⁻¹ ∇R`` (eq. 3) and its diagnostics.

        Diagnostics: ``risk``; ``grad_norm`` ``‖∇R‖``; ``update_norm`` ``‖Δw‖``;
        ``inner_size`` (the largest system); ``condition`` (the largest estimate of a system's
        condition); ``residual`` ``‖G u − ∇R‖ / ‖∇R‖`` for ``u = G⁻¹∇R``; ``form``;
        ``methods`` (per system ``"method/formula"``); ``precision`` (per system:
        ``"double"``, ``"mixed"`` or ``"mixed→double"``, see :func:`~refimpl.linalg.
        factorize`); ``refinement_steps`` (the most float64 refinement steps a
        mixed-precision solve took; 0 if none); ``cg_iterations`` (the most conjugate-gradient
        iterations a solve took; 0 if none); ``notes`` (see :attr:`notes`).
        """
        with _threads.single_threaded_blas(self.threads > 1):
            return self._step(lr)

    def dense(self) -> np.ndarray:
        """``G`` explicitly (block diagonal for ``scope="layer"``), flat parameter order."""
        blocks = [s.dense() for s in self.systems]
        n = sum(b.shape[0] for b in blocks)
        G, start = np.zeros((n, n)), 0
        for b in blocks:
            G[start:start + b.shape[0], start:start + b.shape[0]] = b
            start += b.shape[0]
        return G

    # -- private -------------------------------------------------------------------------------
    def _apply(self, op, v):
        out = {}
        for s in self.systems:
            out.update(op(s, {p: tree.get(v, p) for p in s.paths}))
        return tree.from_paths(self.params, out)

    def _system_step(self, system):
        """``(u, ‖G u − ∇R‖²)`` on one system, ``u = G⁻¹∇R`` by (3′) or (2); the residual from
        :meth:`MetricSystem.matvec` (new arrays, finished in place)."""
        g = {p: tree.get(self.grads, p) for p in system.paths}
        u = system.push_through(self.coords) if self.coords is not None else system.solve(g)
        total = 0.0
        for p, Gu in system.matvec(u).items():
            for k, x in Gu.items():
                x -= g[p][k]
                total += float(np.vdot(x, x))
        return u, total

    def _step(self, lr: float):
        done, self._prepared = self._prepared, None          # prepared parts are used once
        if done is None:
            done = dict(zip(self._order, _threads.run(
                [partial(self._system_step, self.systems[i]) for i in self._order],
                self.threads)))
        parts = {}
        for i in range(len(self.systems)):
            parts.update(done[i][0])
        update = tree.from_paths(self.params, parts)
        r2 = sum(done[i][1] for i in range(len(self.systems)))   # in the systems' order
        for x in tree.leaves(update):                 # u is ours (new arrays): scaled in place
            x *= -lr
        g_norm = np.sqrt(tree.vdot(self.grads, self.grads))
        named = list(zip(self.paths, self.systems) if self.network is None
                     else [("network", self.network)])
        diag = {
            "risk": self.risk,
            "grad_norm": float(g_norm),
            "update_norm": float(np.sqrt(tree.vdot(update, update))),
            "inner_size": int(max(s.inner_size for s in self.systems)),
            "condition": float(max(s.inner_condition() for s in self.systems)),
            "residual": float(np.sqrt(r2) / g_norm) if g_norm > 0 else 0.0,
            "form": "push-through (3′)" if self.coords is not None else "woodbury (2)",
            "methods": {p: f"{s.method}/{s.formula}" for p, s in named},
            "precision": {p: s.inner.precision for p, s in named},
            "refinement_steps": max((s.inner.steps[-1] for s in self.systems
                                     if getattr(s.inner, "steps", None)), default=0),
            "cg_iterations": max((max(s.inner.iterations) for s in self.systems
                                  if getattr(s.inner, "iterations", None)), default=0),
            "notes": list(self.notes),
        }
        return update, diag
