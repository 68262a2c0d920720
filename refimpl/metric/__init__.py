"""The layerwise Riemannian metric ``G_l = M_l + pull-back`` and its Woodbury inverse (:ref:`math §4 <math-4>`,
§6): the mass, one driver for blocks side by side, the batch metric of both scopes, Algorithm
1's front half, the dense reference, and ``LinearOperator`` views."""
from .batch import BatchMetric, MetricWarning
from .build import build_metric
from .dense import dense_metric, pullback_metric
from .layer import LayerMetric
from .mass import Mass, check_mass, min_mass
from .network import NetworkMetric
from .operators import inverse_metric_operator, metric_operator
from .plan import InsufficientMemoryError, Plan
from .system import MetricSystem

__all__ = ["LayerMetric", "NetworkMetric", "MetricSystem", "BatchMetric", "build_metric",
           "Mass", "check_mass", "min_mass", "dense_metric", "pullback_metric",
           "metric_operator", "inverse_metric_operator", "InsufficientMemoryError", "Plan",
           "MetricWarning"]
