"""Riemannian SGD with layerwise metrics (SPEC §6, paper Algorithm 1), and the network-scope
damped Gauss–Newton baseline.

Per mini-batch: forward pass → multipliers ``λ_l`` (``∇R``) → factor pass ``R_l`` → per module
the Woodbury solve → ``Δw_l = −η G_l⁻¹ ∇_{w_l} R`` (eq. 3, computed as 3′). The work is done
by :func:`refimpl.metric.build_metric`; this class adds the optimizer contract and the
diagnostics (``grad_norm``, ``update_norm``, ``inner_size``, ``condition``, ``residual``).
"""
from __future__ import annotations

import numpy as np

from .._threads import single_threaded_blas
from .._validation import check_choice
from ..losses import get_output_metric
from ..metric import build_metric, check_mass
from ..metric.inner import PRECISIONS
from ..metric.layerwise import check_threads, resolve_threads
from .base import Optimizer


class RiemannianSGD(Optimizer):
    """Algorithm 1.

    Parameters
    ----------
    model, loss
        As for every optimizer.
    lr : float
        ``η``.
    mass : float or dict
        ``μ > 0`` or a tree of positive arrays like the parameters (the diagonal ``M_l``).
    output_metric : "identity", "gauss-newton", a ``(k, k)`` SPD matrix, or an OutputMetric
    scope : {"layer", "network"}
        ``"layer"``: the paper's block-diagonal metric; ``"network"``: one metric over all
        parameters (damped Gauss–Newton / Levenberg–Marquardt).
    method : {"auto", "woodbury", "primal"}
    path : {"structured", "generic"}
    precision : {"auto", "double", "mixed"}
        How the Cholesky factorisations are done (see :func:`~refimpl.metric.build_metric`);
        ``"auto"``: in float32 with float64-refined solves for systems of size ≥ 1024.
    threads : int or None
        Modules whose metrics are built and applied at the same time (``scope="layer"``;
        see :func:`~refimpl.metric.build_metric`); ``None`` decides from the model. Any
        number above one gives the same update; against 1 it agrees to rounding.
    """

    name = "riemannian"

    def __init__(self, model, loss="mse", *, lr: float = 1.0, mass=1.0,
                 output_metric="identity", scope: str = "layer", method: str = "auto",
                 path: str = "structured", precision: str = "auto", threads=None):
        super().__init__(model, loss, lr=lr)
        self.output_metric = get_output_metric(output_metric)
        self.mass = check_mass(mass, _zeros(model))
        self.scope, self.method, self.path = scope, method, path
        self.precision, self.threads = precision, threads
        if scope not in ("layer", "network"):
            raise ValueError(f"unknown scope {scope!r}; expected 'layer' or 'network'")
        check_choice(precision, "precision", PRECISIONS)
        check_threads(threads)

    def hyperparameters(self):
        return {"lr": self.lr, "mass": self.mass if not isinstance(self.mass, dict) else "tree",
                "output_metric": self.output_metric.name, "scope": self.scope,
                "precision": self.precision, "threads": self.threads}

    def _direction(self, state, X, targets):
        threads = resolve_threads(self.model, X, self.scope, self.threads)
        # one single-threaded-BLAS region from the first product to the last (_threads)
        with single_threaded_blas(threads > 1):
            metric = build_metric(self.model, state.params, X, targets, loss=self.loss,
                                  output_metric=self.output_metric, mass=self.mass,
                                  scope=self.scope, method=self.method, path=self.path,
                                  precision=self.precision, threads=threads,
                                  prepare_step=True)
            update, diag = metric.step(self.lr)
        diag["loss"] = diag.pop("risk")
        return update, state.slots, diag


class GaussNewton(RiemannianSGD):
    """Network-scope damped Gauss–Newton: :class:`RiemannianSGD` with ``scope="network"``."""

    name = "gauss-newton"

    def __init__(self, model, loss="mse", *, lr: float = 1.0, mass=1.0,
                 output_metric="gauss-newton", method: str = "auto", precision: str = "auto"):
        super().__init__(model, loss, lr=lr, mass=mass, output_metric=output_metric,
                         scope="network", method=method, precision=precision)


def _zeros(model):
    """A zero parameter tree (shapes only) for validating a mass tree at construction."""
    def z(shapes):
        return {k: z(v) if isinstance(v, dict) else np.zeros(v) for k, v in shapes.items()}
    return z(model.param_shapes())
