"""Plain-array functions that other backends call from their tests (see ``mlp.py``)."""
from .mlp import mlp_gradients, mlp_metric_dense, mlp_riemannian_step

__all__ = ["mlp_gradients", "mlp_riemannian_step", "mlp_metric_dense"]
