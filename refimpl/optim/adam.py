"""Adam (Kingma & Ba 2015), baseline: ``m ← β₁m + (1−β₁)g``, ``v ← β₂v + (1−β₂)g²``,
``Δw = −η m̂ / (√v̂ + ε)`` with bias corrections ``m̂ = m/(1−β₁ᵗ)``, ``v̂ = v/(1−β₂ᵗ)``."""
from __future__ import annotations

import numpy as np

from .. import tree
from .base import Optimizer


class Adam(Optimizer):
    name = "adam"

    def __init__(self, model, loss="mse", *, lr: float = 1e-3, beta1: float = 0.9,
                 beta2: float = 0.999, eps: float = 1e-8, dtype=np.float64):
        super().__init__(model, loss, lr=lr, dtype=dtype)
        for n, b in (("beta1", beta1), ("beta2", beta2)):
            if not 0.0 <= b < 1.0:
                raise ValueError(f"Adam {n} must be in [0, 1), got {b!r}")
        if not eps > 0:
            raise ValueError(f"Adam eps must be > 0, got {eps!r}")
        self.beta1, self.beta2, self.eps = float(beta1), float(beta2), float(eps)

    def _hyperparameters(self):
        return {"lr": self.lr, "beta1": self.beta1, "beta2": self.beta2, "eps": self.eps}

    def _init_slots(self, params):
        return {"m": tree.zeros_like(params), "v": tree.zeros_like(params)}

    def _direction(self, state, X, targets):
        risk, g = self._gradient(state.params, X, targets)
        t = state.step + 1
        m = tree.tree_map(lambda m, x: self.beta1 * m + (1 - self.beta1) * x, state.slots["m"], g)
        v = tree.tree_map(lambda v, x: self.beta2 * v + (1 - self.beta2) * x * x,
                          state.slots["v"], g)
        c1, c2 = 1 - self.beta1 ** t, 1 - self.beta2 ** t
        update = tree.tree_map(lambda m, v: -self.lr * (m / c1) / (np.sqrt(v / c2) + self.eps),
                               m, v)
        return update, {"m": m, "v": v}, {"loss": risk, "grad_norm": float(np.sqrt(tree.vdot(g, g)))}
