"""One module's metric ``G_l = M_l + B̃_lᵀ B̃_l`` and its inverse by Woodbury (:ref:`math §4 <math-4>`, eq. 2,
3′; paper Lemma 1): the layerwise metric of Algorithm 1, block by block.

A view of a :class:`~refimpl.metric.system.MetricSystem` over a single block, with vectors as
the module's parameter tree (the system's own operations take ``{path: tree}``).
"""
from __future__ import annotations

import numpy as np

from ..linalg import CG_RTOL
from .system import MetricSystem


class LayerMetric:
    """``G_l = M_l + B̃_lᵀ B̃_l`` for one module.

    Parameters
    ----------
    block : Block
        The module's per-sample blocks ``B_s`` (:mod:`refimpl.modules.blocks`).
    mass : float, dict or Mass
        ``μ`` or a tree ``{name: array}`` of positive values shaped like the parameters.
    method : {"auto", "woodbury", "primal", "cg"}
        How ``G⁻¹`` is applied (:mod:`refimpl.metric.system`); ``"auto"`` by cost and memory.
    precision : {"auto", "double", "mixed"}
        How the Cholesky factorisation is done: ``"double"`` in float64; ``"mixed"`` in
        float32 with float64-refined solves; ``"auto"`` mixed for systems of size
        ``≥ MIXED_MIN`` (1024).
    cg_rtol : float
        Relative residual of the inner solves of ``method="cg"``.
    plan : Plan, optional
        A plan made already (:func:`refimpl.metric.plan.choose`).

    Attributes
    ----------
    system : MetricSystem
        The system it is a view of; ``method``, ``formula``, ``note``, ``inner``,
        ``inner_size``, ``S``, ``r``, ``n`` are its.

    Examples
    --------
    >>> import numpy as np
    >>> from refimpl.modules import LinearBlock
    >>> rng = np.random.default_rng(0)
    >>> block = LinearBlock(rng.standard_normal((4, 2, 3)), rng.standard_normal((4, 5)), True)
    >>> G = LayerMetric(block, 0.5)
    >>> G.method, G.formula, G.inner_size
    ('woodbury', 'linear-scalar', 8)
    >>> v = {"W": rng.standard_normal((3, 5)), "b": rng.standard_normal(3)}
    >>> bool(np.allclose(G.matvec(G.solve(v))["W"], v["W"]))
    True
    """

    def __init__(self, block, mass, method: str = "auto", precision: str = "auto", *,
                 cg_rtol: float = CG_RTOL, plan=None):
        self._of(MetricSystem({"": block}, {"": mass}, method, precision, cg_rtol=cg_rtol,
                              plan=plan))

    @classmethod
    def view(cls, system: MetricSystem) -> "LayerMetric":
        """The layer metric of a one-block system (no copy)."""
        if len(system.blocks) != 1:
            raise ValueError(f"a LayerMetric views a system of one block, got {system!r}")
        out = cls.__new__(cls)
        out._of(system)
        return out

    def _of(self, system):
        self.system = system
        self._path = system.paths[0]
        self.block, self.mass = system.blocks[0], system.masses[0]
        for name in ("method", "formula", "note", "plan", "inner", "inner_size", "S", "r", "n"):
            setattr(self, name, getattr(system, name))

    def matvec(self, v: dict) -> dict:
        """``G v = M v + (1/S) Σ_s B_sᵀ B_s v``."""
        return self.system.matvec({self._path: v})[self._path]

    def solve(self, v: dict) -> dict:
        """``G⁻¹ v`` by eq. (2) (Woodbury), CG on ``K``, or the primal Cholesky solve."""
        return self.system.solve({self._path: v})[self._path]

    def push_through(self, c: np.ndarray) -> dict:
        """``G⁻¹ B̃ᵀ c̃ = M⁻¹ B̃ᵀ K⁻¹ c̃`` for per-sample coordinates ``c`` (``(S, r)``), eq. (3′).

        With ``∇R = B̃ᵀ c̃`` this is ``G⁻¹ ∇R`` without the cancellation of eq. (2).
        """
        return self.system.push_through(c)[self._path]

    def dense(self) -> np.ndarray:
        """``G`` as an explicit ``(n, n)`` matrix (flat parameter order)."""
        return self.system.dense()

    def inner_condition(self) -> float:
        """Cheap estimate of the condition of the factorised matrix (``K`` or ``G``)."""
        return self.system.inner_condition()

    def __repr__(self):
        return (f"LayerMetric(n={self.n}, S·r={self.S * self.r}, method={self.method!r}, "
                f"formula={self.formula!r})")
