"""Plain-array functions that other backends call from their tests: over any architecture
document (``network.py``: MLPs, CNNs, composites) and for MLPs given as ``(W, b)`` lists
(``mlp.py``)."""
from .mlp import mlp_gradients, mlp_metric_dense, mlp_riemannian_step
from .network import gradients, metric_dense, riemannian_step

__all__ = ["gradients", "riemannian_step", "metric_dense",
           "mlp_gradients", "mlp_riemannian_step", "mlp_metric_dense"]
