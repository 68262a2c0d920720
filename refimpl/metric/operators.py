"""``scipy.sparse.linalg.LinearOperator`` views of ``G`` and ``G⁻¹``.

So that SciPy's iterative tools (``cg``, ``eigsh``, ``lsqr``, …) run on the metric without it
ever being formed. Vectors are flat parameter vectors (:func:`refimpl.tree.flatten` order).
Both operators are symmetric, so the adjoint is the operator itself.

Examples
--------
>>> import numpy as np
>>> from scipy.sparse.linalg import eigsh
>>> from refimpl.modules import mlp
>>> from refimpl.metric import build_metric, metric_operator
>>> rng = np.random.default_rng(0)
>>> net = mlp([3, 4, 2]); params = net.init(rng)
>>> G = metric_operator(build_metric(net, params, rng.standard_normal((5, 3)),
...                                  rng.standard_normal((5, 2)), mass=0.5))
>>> bool(eigsh(G, k=1, which="SA", return_eigenvectors=False)[0] >= 0.5 - 1e-10)
True
"""
from __future__ import annotations

import numpy as np
from scipy.sparse.linalg import LinearOperator

from .. import tree
from .batch import BatchMetric
from .layer import LayerMetric


class _MetricOperator(LinearOperator):
    def __init__(self, metric, inverse: bool):
        if not isinstance(metric, (BatchMetric, LayerMetric)):
            raise TypeError("expected a BatchMetric (from build_metric) or a LayerMetric, got "
                            f"{type(metric).__name__}")
        self.metric, self.inverse = metric, inverse
        self._like = metric.params if isinstance(metric, BatchMetric) else \
            {k: np.zeros(s) for k, s in metric.block.shapes.items()}
        n = tree.size(self._like)
        super().__init__(dtype=np.float64, shape=(n, n))

    def _matvec(self, x):
        v = tree.unflatten(self._like, np.asarray(x, dtype=np.float64).reshape(-1))
        out = self.metric.solve(v) if self.inverse else self.metric.matvec(v)
        return tree.flatten(out)

    def _rmatvec(self, x):          # G and G⁻¹ are symmetric
        return self._matvec(x)

    def _adjoint(self):
        return self


def metric_operator(metric) -> LinearOperator:
    """``G`` (block diagonal for ``scope="layer"``) as a LinearOperator."""
    return _MetricOperator(metric, inverse=False)


def inverse_metric_operator(metric) -> LinearOperator:
    """``G⁻¹`` as a LinearOperator (Woodbury or primal solves, never a dense inverse)."""
    return _MetricOperator(metric, inverse=True)
