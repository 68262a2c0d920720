"""One metric over all parameters at once: the damped Gauss–Newton / Levenberg–Marquardt step
(:ref:`math §4 <math-4>`, last paragraph) — the baseline the layerwise metric approximates block-diagonally.

With ``B̃ = [B̃_1, …, B̃_L]`` (all modules' blocks side by side) and ``M = diag(M_1, …, M_L)``,

    G = M + B̃ᵀB̃,     K = I + B̃ M⁻¹ B̃ᵀ = I + Σ_l B̃_l M_l⁻¹ B̃_lᵀ

so the network-scope inner matrix is the sum of the layers' (same ``S·r`` size), and
``Δ_l = −η M_l⁻¹ B̃_lᵀ K⁻¹ c̃`` for every module ``l`` (eq. 3′ over the whole network). The
dense ``G`` (``method="primal"``) couples all modules and is only for small networks.
"""
from __future__ import annotations

from .system import MetricSystem


class NetworkMetric(MetricSystem):
    """``G = M + B̃ᵀB̃`` over the concatenated parameters of all modules.

    A :class:`~refimpl.metric.system.MetricSystem` over every block; its operations take and
    return ``{module path: parameter tree}``.
    """
