"""Plain-array functions that other backends call from their tests (see ``mlp.py``)."""
from .mlp import mlp_gradients

__all__ = ["mlp_gradients"]
