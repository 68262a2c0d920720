"""Optimizers with one contract (``init`` / ``update`` / ``params``; see ``base.py``)."""
from .adam import Adam
from .base import DivergenceError, Optimizer, OptState
from .damping import LevenbergMarquardt
from .kfac import KFAC
from .riemannian import GaussNewton, RiemannianSGD
from .sgd import SGD, Momentum

OPTIMIZERS = {"sgd": SGD, "momentum": Momentum, "adam": Adam, "riemannian": RiemannianSGD,
              "gauss-newton": GaussNewton, "kfac": KFAC}


def make_optimizer(name: str, model, loss="mse", **hyper) -> Optimizer:
    """An optimizer by name: ``sgd``, ``momentum``, ``adam``, ``riemannian``, ``gauss-newton``,
    ``kfac``."""
    if name not in OPTIMIZERS:
        raise ValueError(f"unknown optimizer {name!r}; expected one of {', '.join(OPTIMIZERS)}")
    return OPTIMIZERS[name](model, loss, **hyper)


__all__ = ["Optimizer", "OptState", "DivergenceError", "SGD", "Momentum", "Adam",
           "RiemannianSGD", "GaussNewton", "KFAC", "LevenbergMarquardt", "make_optimizer", "OPTIMIZERS"]
