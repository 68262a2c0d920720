"""Baselines: plain SGD ``Δw = −η ∇R`` and SGD with (heavy-ball) momentum
``v ← β v + ∇R``, ``Δw = −η v``."""
from __future__ import annotations

import numpy as np

from .. import tree
from .base import Optimizer


class SGD(Optimizer):
    name = "sgd"

    def _direction(self, state, X, targets):
        risk, g = self._gradient(state.params, X, targets)
        return tree.tree_map(lambda x: -self.lr * x, g), state.slots, \
            {"loss": risk, "grad_norm": float(np.sqrt(tree.vdot(g, g)))}


class Momentum(Optimizer):
    name = "momentum"

    def __init__(self, model, loss="mse", *, lr: float, beta: float = 0.9, dtype=np.float64):
        super().__init__(model, loss, lr=lr, dtype=dtype)
        if not 0.0 <= beta < 1.0:
            raise ValueError(f"momentum beta must be in [0, 1), got {beta!r}")
        self.beta = float(beta)

    def _hyperparameters(self):
        return {"lr": self.lr, "beta": self.beta}

    def _init_slots(self, params):
        return {"velocity": tree.zeros_like(params)}

    def _direction(self, state, X, targets):
        risk, g = self._gradient(state.params, X, targets)
        v = tree.tree_map(lambda v, x: self.beta * v + x, state.slots["velocity"], g)
        return tree.tree_map(lambda x: -self.lr * x, v), {"velocity": v}, \
            {"loss": risk, "grad_norm": float(np.sqrt(tree.vdot(g, g)))}
