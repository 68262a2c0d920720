"""The optimizer contract (in the spirit of ``jax.example_libraries.optimizers``).

An optimizer is built for a model and a loss, and is a triple of pure operations on an
immutable :class:`OptState`:

- ``state = opt.init(params)``;
- ``state, info = opt.update(state, X, targets)`` — one step on one mini-batch; ``info`` is a
  dict of diagnostics (always ``"loss"``, the batch risk *before* the step);
- ``params = opt.params(state)``.

``update`` never mutates its arguments. If the loss or the update is not finite it raises
:class:`DivergenceError` and returns nothing, so no NaN can reach the parameters: the caller
still holds the last good state.
"""
from __future__ import annotations

from typing import NamedTuple

import numpy as np

from .. import tree
from .._validation import as_positive_float
from ..backprop import solve
from ..losses import get_loss
from ..modules import Module, check_network


class DivergenceError(RuntimeError):
    """The loss or the update became NaN or infinite; the parameters were not changed."""


class OptState(NamedTuple):
    step: int
    params: dict
    slots: dict          # optimizer-specific buffers (momentum, Adam moments), trees


class Optimizer:
    """Base class; subclasses implement ``_direction``. See the module docstring."""

    name = "optimizer"

    def __init__(self, model: Module, loss="mse", *, lr: float):
        self.model, self.loss = check_network(model), get_loss(loss)
        self.lr = as_positive_float(lr, "lr")

    def init(self, params) -> OptState:
        params = tree.tree_map(np.copy, self.model.check_params(params))
        return OptState(0, params, self._init_slots(params))

    def params(self, state: OptState) -> dict:
        return state.params

    def update(self, state: OptState, X, targets):
        with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
            update, slots, info = self._direction(state, X, targets)   # checked just below
        if not np.isfinite(info["loss"]):
            raise DivergenceError(f"{self.name}: the loss is {info['loss']} at step "
                                  f"{state.step}; parameters left unchanged. Lower the learning "
                                  "rate or raise the mass.")
        with np.errstate(over="ignore", invalid="ignore"):
            new = tree.tree_map(np.add, state.params, update)     # one new array per leaf
        if not all(np.all(np.isfinite(u)) for u in tree.leaves(update) + tree.leaves(new)):
            raise DivergenceError(f"{self.name}: the update at step {state.step} is not finite; "
                                  "parameters left unchanged. Lower the learning rate or raise "
                                  "the mass.")
        if "update_norm" not in info:            # RiemannianSGD's step reports it already
            with np.errstate(over="ignore"):
                info["update_norm"] = float(np.sqrt(tree.vdot(update, update)))
        return OptState(state.step + 1, new, slots), info

    def hyperparameters(self) -> dict:
        return {"lr": self.lr}

    # -- for subclasses ---------------------------------------------------------------------
    def _init_slots(self, params) -> dict:
        return {}

    def _gradient(self, params, X, targets):
        st = solve(self.model, params, X, targets, self.loss)
        return st.risk, st.grads

    def _direction(self, state, X, targets):
        raise NotImplementedError
