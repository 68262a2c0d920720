"""The layerwise Riemannian metric ``G_l = M_l + pull-back`` and its Woodbury inverse (SPEC §4)."""
from .layer import LayerMetric
from .layerwise import BatchMetric, build_metric
from .mass import check_mass, min_mass
from .network import NetworkMetric
from .operators import inverse_metric_operator, metric_operator

__all__ = ["LayerMetric", "NetworkMetric", "BatchMetric",
           "build_metric", "check_mass", "min_mass",
           "metric_operator", "inverse_metric_operator"]
