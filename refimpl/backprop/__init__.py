"""Backpropagation as a constrained problem: the Lagrangian, multipliers, KKT residuals."""
from .lagrangian import Stationary, kkt_residuals, lagrangian, solve, stages

__all__ = ["Stationary", "solve", "lagrangian", "kkt_residuals", "stages"]
