"""Backpropagation as a constrained problem: the stationary point (forward pass, multipliers,
gradients), the Lagrangian and its KKT residuals (:ref:`math §2 <math-2>`)."""
from .lagrangian import kkt_residuals, lagrangian
from .passes import (Stationary, backward_pass, check_batch, forward_pass, model_cache, solve,
                     stages)

__all__ = ["Stationary", "solve", "check_batch", "forward_pass", "backward_pass", "lagrangian",
           "kkt_residuals", "stages", "model_cache"]
