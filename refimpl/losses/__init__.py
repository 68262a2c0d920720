"""Losses with gradients and Hessian factors (:ref:`math §3 <math-3>`) and output metrics (:ref:`math §4 <math-4>`)."""
from .._validation import check_choice
from .base import Loss
from .cross_entropy import CrossEntropy, log_softmax
from .mse import MSE
from .output_metrics import (ConstantOutputMetric, DampedOutputMetric, GaussNewtonMetric,
                             IdentityMetric, OutputMetric)

LOSSES = {"mse": MSE, "cross_entropy": CrossEntropy}
OUTPUT_METRICS = ("identity", "gauss-newton")


def get_loss(loss) -> Loss:
    """A :class:`Loss` from an instance or a name (``"mse"``, ``"cross_entropy"``)."""
    if isinstance(loss, Loss):
        return loss
    return LOSSES[check_choice(loss, "loss", tuple(LOSSES))]()


def get_output_metric(metric) -> OutputMetric:
    """An :class:`OutputMetric` from an instance, a name, or a constant SPD matrix."""
    if isinstance(metric, OutputMetric):
        return metric
    if isinstance(metric, str):
        name = check_choice(metric, "output metric", OUTPUT_METRICS)
        return IdentityMetric() if name == "identity" else GaussNewtonMetric()
    return ConstantOutputMetric(metric)


__all__ = ["Loss", "MSE", "CrossEntropy", "log_softmax", "OutputMetric", "IdentityMetric",
           "GaussNewtonMetric", "ConstantOutputMetric", "DampedOutputMetric", "get_loss",
           "get_output_metric", "LOSSES"]
