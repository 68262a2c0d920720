"""The loss contract (:ref:`math §3 <math-3>`): per-sample value, gradient in ``y``, Hessian factor.

For outputs ``y`` of shape ``(S, k)`` and targets (loss-specific), a loss provides

- ``value(y, t)``          → ``(S,)``      ``ℓ(y_s)``; the empirical risk is the batch mean;
- ``grad(y, t)``           → ``(S, k)``    ``∇_y ℓ(y_s)`` (the multiplier ``λ_L``, :ref:`math §2 <math-2>`);
- ``hessian_factor(y, t)`` → ``(S, k, r)`` ``F_s`` with ``∇²_y ℓ(y_s) = F_s F_sᵀ``;
- ``grad_coords(y, t)``    → ``(S, r)``    ``c_s`` with ``∇_y ℓ = F_s c_s`` (:ref:`math §4 <math-4>`, push-through
  form (3′)), or ``None`` where no finite ``c`` exists in floating point.

Public methods validate ``y`` and the targets (``check_targets``) and call private ``_``-methods.
"""
from __future__ import annotations

import numpy as np

from .._validation import as_float_array


class Loss:
    name: str

    def check_targets(self, targets, n_samples: int, k: int) -> np.ndarray:
        raise NotImplementedError

    def _checked(self, y, targets):
        y = as_float_array(y, "y", ndim=2)
        return y, self.check_targets(targets, y.shape[0], y.shape[1])

    def value(self, y, targets) -> np.ndarray:
        return self._value(*self._checked(y, targets))

    def grad(self, y, targets) -> np.ndarray:
        return self._grad(*self._checked(y, targets))

    def hessian_factor(self, y, targets) -> np.ndarray:
        return self._hessian_factor(*self._checked(y, targets))

    def grad_coords(self, y, targets):
        return self._grad_coords(*self._checked(y, targets))

    def hessian(self, y, targets) -> np.ndarray:
        """Dense ``(S, k, k)`` Hessian ``F Fᵀ`` (tests, small cases)."""
        F = self.hessian_factor(y, targets)
        return F @ np.swapaxes(F, 1, 2)

    def __repr__(self):
        return f"{type(self).__name__}()"
