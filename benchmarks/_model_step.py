"""An experiment, not a refimpl optimizer: Riemannian SGD whose step length (and momentum)
is chosen in the network's exact Gauss–Newton quadratic model of the batch loss.

kfac-jax's ``use_adaptive_learning_rate`` / ``use_adaptive_momentum`` (Martens & Grosse 2015,
§7): with ``d = −G⁻¹∇R`` the layerwise direction and ``δ`` the previous update, the update is
``Δ = lr·(α d + β δ)`` with ``(α, β)`` minimising

    q(α, β) = ∇Rᵀ(α d + β δ) + ½ (α d + β δ)ᵀ (C + μ I) (α d + β δ),

``C = (1/S) Σ_s J_sᵀ H_s J_s`` the *network's* Gauss–Newton matrix (the loss Hessian ``H_s``
pulled back through the whole Jacobian ``J_s``, not the layerwise blocks), evaluated by one
Jacobian-vector product per vector: ``vᵀ C w = (1/S) Σ_s (F_sᵀ J_s v)·(F_sᵀ J_s w)``. With
``momentum=False``, ``β = 0`` and ``α = −∇Rᵀd / (dᵀ(C + μI)d)``. The Levenberg–Marquardt rule
(``damping=``) then measures ``ρ`` against this model's undamped prediction ``q`` at
``μ = 0``. Used by ``accuracy_floor.py``'s ``model-step`` rows; it reaches into private
helpers (``_jvp``, ``_hessian_factor``) and keeps the previous update in its slots.
"""
from __future__ import annotations

import numpy as np

from refimpl import tree
from refimpl.backprop import forward_pass
from refimpl.backprop.passes import model_cache
from refimpl.metric import Mass
from refimpl.metric.build import curvature
from refimpl.optim import RiemannianSGD
from refimpl.optim.damping import adapt


class ModelStepRiemannianSGD(RiemannianSGD):
    """:class:`~refimpl.optim.RiemannianSGD` (layer scope, float64) with the step length
    (``momentum=True``: and the momentum) from the exact network Gauss–Newton model."""

    def __init__(self, model, loss, *, momentum=False, **hyper):
        super().__init__(model, loss, **hyper)
        self.momentum = bool(momentum)

    def _init_slots(self, params):
        return dict(super()._init_slots(params), previous=tree.zeros_like(params))

    def _direction(self, state, X, targets):
        curv = curvature(self.model, state.params, X, targets, self.loss, self.output_metric,
                         blocks=self.blocks, threads=1, metric_batch=self.metric_batch)
        # a second forward pass, for its caches: Curvature keeps none (an experiment's cost)
        states, caches = forward_pass(self.model, state.params, X)
        y = states[-1]
        F = self.loss._hessian_factor(y, targets)                 # H_s = F_s F_sᵀ
        cache = model_cache(self.model, caches)
        grads, previous = curv.grads, state.slots["previous"]
        S = y.shape[0]

        def gn_rows(v):                                          # F_sᵀ J_s v, (S, r)
            return np.einsum("sk,skr->sr", self.model._jvp(state.params, cache, None, v), F)

        use_previous = self.momentum and tree.vdot(previous, previous) > 0
        previous_rows = gn_rows(previous) if use_previous else None

        def propose(mu):
            metric = curv.metric(Mass(scalar=mu), scope=self.scope, method=self.method,
                                 precision=self.precision, threads=1, prepare_step=True,
                                 cg_rtol=self.cg_rtol, memory=self.memory)
            d, diag = metric.step(1.0)
            diag["loss"] = diag.pop("risk")
            vectors = [d, previous] if use_previous else [d]
            rows = [gn_rows(d)] + ([previous_rows] if use_previous else [])
            n = len(vectors)
            curv_mat = np.array([[np.sum(rows[i] * rows[j]) / S for j in range(n)]
                                 for i in range(n)])
            damped = curv_mat + mu * np.array([[tree.vdot(vectors[i], vectors[j])
                                                for j in range(n)] for i in range(n)])
            linear = np.array([tree.vdot(grads, v) for v in vectors])
            coef = self.lr * -np.linalg.solve(damped, linear)
            update = tree.tree_map(lambda *leaves: sum(c * a for c, a in zip(coef, leaves)),
                                   *vectors)
            predicted = float(coef @ linear + 0.5 * coef @ curv_mat @ coef)
            diag.update(alpha=float(coef[0]), beta=float(coef[1]) if n > 1 else 0.0,
                        update_norm=float(np.sqrt(tree.vdot(update, update))))
            return update, diag, (lambda: predicted)

        if self.damping is None:
            update, diag, _ = propose(self.mass.scalar)
            slots = state.slots
        else:
            update, slots, diag = adapt(self.damping, self, state, X, targets, propose)
        return update, dict(slots, previous=update), diag
