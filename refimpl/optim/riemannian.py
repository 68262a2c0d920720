"""Riemannian SGD with layerwise metrics (:ref:`math §6 <math-6>`, paper Algorithm 1), and the network-scope
damped Gauss–Newton baseline.

Per mini-batch: forward pass → multipliers ``λ_l`` (``∇R``) → factor pass ``R_l`` → per module
the Woodbury solve → ``Δw_l = −η G_l⁻¹ ∇_{w_l} R`` (eq. 3, computed as 3′). The work is done
by :mod:`refimpl.metric.build` (:func:`~refimpl.metric.build.curvature`, then the metric at
the step's mass); this class validates the configuration once, at construction, the batch
once per step (:meth:`Optimizer.update`), and adds the optimizer contract and the diagnostics
(``grad_norm``, ``update_norm``, ``inner_size``, ``condition``, ``residual``, …). With
``dtype="float32"`` the whole step runs in float32 (:mod:`refimpl.optim.base`): the inner
matrices are formed and Cholesky-factorised in float32 (``precision`` is then not used;
the diagnostics report ``"single"``).
"""
from __future__ import annotations

import numpy as np

from .. import spaces
from .._threads import single_threaded_blas
from .._validation import as_nonnegative_float, as_positive_float, check_choice
from ..linalg import CG_RTOL
from ..linalg.refined import PRECISIONS
from ..losses import DampedOutputMetric, get_output_metric
from ..metric import Mass
from ..metric.batch import SCOPES
from ..metric.build import BLOCKS, check_metric_batch, curvature
from ..metric.parallel import check_threads, resolve_threads
from ..metric.plan import METHODS
from .base import Optimizer
from .damping import adapt, get_damping, quadratic_change


#: ``cg_rtol`` of the float32 path: a float32 residual ``b − K x`` carries a rounding error of
#: about ``ε₃₂·cond(K)`` relative (``ε₃₂ ≈ 6e-8``), so ``1e-4`` is reachable up to ``cond(K)``
#: of about 1e3 (beyond it, a float32 conjugate-gradient solve raises ConvergenceError)
CG_RTOL_FLOAT32 = 1e-4


class RiemannianSGD(Optimizer):
    """Algorithm 1.

    Parameters
    ----------
    model, loss
        As for every optimizer.
    lr : float
        ``η``.
    mass : float, dict or Mass
        ``μ > 0`` or a tree of positive arrays like the parameters (the diagonal ``M_l``).
    output_metric : "identity", "gauss-newton", a ``(k, k)`` SPD matrix, or an OutputMetric
    output_damping : float
        ``τ ≥ 0``: the metric is built with ``g_out + τ I`` in place of ``g_out``
        (:class:`~refimpl.losses.DampedOutputMetric`, output damping), which adds ``τ`` times
        the identity output metric's pull-back to every ``G_l``. ``0`` (default): none.
    scope : {"layer", "network"}
        ``"layer"``: the paper's block-diagonal metric; ``"network"``: one metric over all
        parameters (damped Gauss–Newton / Levenberg–Marquardt).
    method : {"auto", "woodbury", "primal", "cg"}
    blocks : {"structured", "materialized"}
    precision : {"auto", "double", "mixed"}
        How the Cholesky factorisations are done (see :func:`~refimpl.metric.build_metric`);
        ``"auto"``: in float32 with float64-refined solves for systems of size ≥ 1024.
    threads : int or None
        Modules whose metrics are built and applied at the same time (``scope="layer"``;
        see :func:`~refimpl.metric.build_metric`); ``None`` decides from the model. Any
        number above one gives the same update; against 1 it agrees to rounding.
    cg_rtol : float or None
        Relative residual of the conjugate-gradient inner solves (``method="cg"``);
        ``None``: ``1e-10`` in float64, ``CG_RTOL_FLOAT32`` (``1e-4``) in float32.
    memory : float or None
        Bytes a step's metric may use (``None``: the memory available at each step).
    metric_batch : int or None
        Subsampled curvature: the metric from the first ``m`` samples of each batch, the
        gradient from all (:func:`~refimpl.metric.build_metric`); ``None``: all.
    damping : None, "fixed", "adaptive", "adaptive-reject" or LevenbergMarquardt
        ``"fixed"`` (default): ``μ = mass`` throughout. Otherwise ``mass`` (a scalar) is the
        initial ``μ``, adapted by the Levenberg–Marquardt rule of
        :mod:`refimpl.optim.damping` (state in the slots; diagnostics ``damping`` (the ``μ``
        used), ``rho``, ``new_loss``, ``rejected``, ``retries``).
    dtype : "float64" or "float32"
        The float type the whole step runs in (training only; see :mod:`refimpl.optim.base`).
    """

    name = "riemannian"

    def __init__(self, model, loss="mse", *, lr: float = 1.0, mass=1.0,
                 output_metric="identity", output_damping: float = 0.0, scope: str = "layer",
                 method: str = "auto", blocks: str = "structured", precision: str = "auto",
                 threads=None, cg_rtol=None, memory=None, damping=None, metric_batch=None,
                 dtype=np.float64):
        super().__init__(model, loss, lr=lr, dtype=dtype)
        self.output_metric = get_output_metric(output_metric)
        self.output_damping = as_nonnegative_float(output_damping, "output_damping")
        if self.output_damping > 0:
            self.output_metric = DampedOutputMetric(self.output_metric, self.output_damping)
        self.mass = Mass.parse(mass, model.param_shapes()).astype(self.dtype)
        self.scope = check_choice(scope, "scope", SCOPES)
        self.method = check_choice(method, "method", METHODS)
        self.blocks = check_choice(blocks, "blocks", BLOCKS)
        self.precision = check_choice(precision, "precision", PRECISIONS)
        check_threads(threads)
        self.threads = threads
        if cg_rtol is None:
            cg_rtol = CG_RTOL if self.dtype == np.float64 else CG_RTOL_FLOAT32
        self.cg_rtol = as_positive_float(cg_rtol, "cg_rtol")
        self.memory = None if memory is None else as_positive_float(memory, "memory")
        check_metric_batch(metric_batch)
        self.metric_batch = metric_batch
        self.damping = get_damping(damping)
        if self.damping is not None:
            if self.mass.scalar is None:
                raise ValueError("adaptive damping adapts a scalar mass μ; got a mass tree "
                                 "(pass mass=<initial μ> or damping='fixed')")
            self.damping.init(self.mass.scalar)        # the initial μ within the bounds

    def _hyperparameters(self):
        metric = self.output_metric
        return {"lr": self.lr, "mass": self.mass.describe(),
                "output_metric": (metric.metric if self.output_damping > 0 else metric).name,
                "output_damping": self.output_damping, "scope": self.scope,
                "method": self.method, "precision": self.precision, "threads": self.threads,
                "damping": "fixed" if self.damping is None else self.damping.describe(),
                "metric_batch": self.metric_batch}

    def _init_slots(self, params):
        return {} if self.damping is None else {"damping": self.damping.init(self.mass.scalar)}

    def _direction(self, state, X, targets):
        threads = resolve_threads(self.model, spaces.batch_size(X, self.model.in_space),
                                  self.scope, self.threads)
        # one single-threaded-BLAS region from the first product to the last (_threads)
        with single_threaded_blas(threads > 1):
            curv = curvature(self.model, state.params, X, targets, self.loss,
                             self.output_metric, blocks=self.blocks, threads=threads,
                             metric_batch=self.metric_batch)

            def propose(mass):
                metric = curv.metric(mass, scope=self.scope, method=self.method,
                                     precision=self.precision, threads=threads,
                                     prepare_step=True, cg_rtol=self.cg_rtol,
                                     memory=self.memory)
                update, diag = metric.step(self.lr)
                diag["loss"] = diag.pop("risk")
                return update, diag

            if self.damping is None:
                update, diag = propose(self.mass)
                return update, state.slots, diag

            def at(mu):
                update, diag = propose(Mass(scalar=mu))
                return update, diag, lambda: quadratic_change(
                    curv.grads, update, self.lr, mu, self.damping.include_damping)

            return adapt(self.damping, self, state, X, targets, at)


class GaussNewton(RiemannianSGD):
    """Network-scope damped Gauss–Newton: :class:`RiemannianSGD` with ``scope="network"``."""

    name = "gauss-newton"

    def __init__(self, model, loss="mse", *, lr: float = 1.0, mass=1.0,
                 output_metric="gauss-newton", output_damping: float = 0.0,
                 method: str = "auto", precision: str = "auto", cg_rtol=None, memory=None,
                 damping=None, metric_batch=None, dtype=np.float64):
        super().__init__(model, loss, lr=lr, mass=mass, output_metric=output_metric,
                         output_damping=output_damping, scope="network", method=method,
                         precision=precision, cg_rtol=cg_rtol, memory=memory,
                         damping=damping, metric_batch=metric_batch, dtype=dtype)
