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

Precision: ``dtype="float32"`` (every optimizer; default float64) is a *training* option that
runs the whole step in float32 — forward pass, multipliers, factor pass, blocks, inner matrix,
factorisation and solve for the metric optimizers. ``init`` rounds the parameters to float32
once and ``update`` the batch (float targets included), after the float64 checks; everything
inside then keeps the float type of its inputs, and the state's parameters and buffers are
float32 arrays. The oracle path (:func:`refimpl.backprop.solve`,
:func:`refimpl.metric.build_metric`, :mod:`refimpl.oracle`) is float64 only; scalars the
optimizers report (loss, norms, the adaptive damping's state) are Python floats or float64.
"""
from __future__ import annotations

from typing import NamedTuple

import numpy as np

from .. import tree
from .._validation import as_dtype, as_positive_float, check_training_dtype
from ..backprop import backward_pass, check_batch, forward_pass
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

    def __init__(self, model: Module, loss="mse", *, lr: float, dtype=np.float64):
        self.model, self.loss = check_network(model), get_loss(loss)
        self.lr = as_positive_float(lr, "lr")
        self.dtype = check_training_dtype(dtype)

    def init(self, params) -> OptState:
        """The state at ``params`` (checked, copied, in the optimizer's ``dtype``)."""
        params = self.model.check_params(params)
        if self.dtype == np.float64:
            params = tree.tree_map(np.copy, params)
        else:
            params = tree.from_paths(params, {p: as_dtype(a, self.dtype, f"params[{p!r}]")
                                              for p, a in tree.items(params)})
        return OptState(0, params, self._init_slots(params))

    def params(self, state: OptState) -> dict:
        return state.params

    def update(self, state: OptState, X, targets):
        """One step on the batch ``(X, targets)`` (checked here, once, and rounded to the
        optimizer's ``dtype``)."""
        X, targets = check_batch(self.model, X, targets, self.loss, dtype=self.dtype)
        leaf = next(iter(tree.leaves(state.params)), None)
        if leaf is not None and leaf.dtype != self.dtype:
            raise TypeError(f"{self.name}: the state holds {leaf.dtype} parameters but this "
                            f"optimizer steps in {self.dtype}; make the state with its init()")
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
        """The settings, JSON-able (``dtype`` by name)."""
        return self._hyperparameters() | {"dtype": self.dtype.name}

    # -- for subclasses ---------------------------------------------------------------------
    def _hyperparameters(self) -> dict:
        return {"lr": self.lr}

    def _init_slots(self, params) -> dict:
        return {}

    def _gradient(self, params, X, targets):
        """``(R, ∇R)`` on a batch as :meth:`update` checked it (its computing halves)."""
        states, caches = forward_pass(self.model, params, X)
        st = backward_pass(self.model, params, states, caches, targets, self.loss)
        return st.risk, st.grads

    def _direction(self, state, X, targets):
        """``(update, slots, info)`` for the checked batch ``(X, targets)``."""
        raise NotImplementedError
