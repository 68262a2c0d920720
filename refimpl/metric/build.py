"""Algorithm 1 up to the solve, for any module (:ref:`math §6 <math-6>`, paper §3.4):

1. forward pass (keep activations) and the multipliers ``λ_l`` (:ref:`math §2 <math-2>`) → ``∇R``
   (:mod:`refimpl.backprop`);
2. output metric factor ``F_s`` (``g_out = F Fᵀ``) and the factor pass ``R_L = Fᵀ``,
   ``R_{l−1} = R_l ∂f_l/∂x_{l−1}``, giving each module's block ``B_l = R_l ∂f_l/∂w_l``
   (Remark 4; :mod:`refimpl.modules.blocks`) without forming any ``n_l × n_l`` matrix;
3. the metric of every module, or of the whole network (:class:`~refimpl.metric.batch.
   BatchMetric`), whose :meth:`~refimpl.metric.batch.BatchMetric.step` is eq. (3).

:func:`build_metric` validates its arguments once; :func:`build` is the computing half that
an optimizer calls per step with arguments it validated at construction
(:class:`refimpl.optim.RiemannianSGD`).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .. import _threads, spaces
from .._validation import as_positive_float, check_choice
from ..backprop import backward_pass, check_batch, forward_pass, model_cache
from ..linalg import CG_RTOL
from ..linalg.refined import PRECISIONS
from ..losses import get_loss, get_output_metric
from ..modules import DenseBlock, Module, block_items
from .batch import SCOPES, BatchMetric
from .mass import Mass
from .parallel import check_threads, resolve_threads
from .plan import METHODS

BLOCKS = ("structured", "materialized")


def build_metric(model: Module, params, X, targets, *, loss="mse", output_metric="identity",
                 mass=1.0, scope="layer", method="auto", blocks="structured",
                 precision="auto", threads=None, prepare_step=False, cg_rtol=CG_RTOL,
                 memory=None, metric_batch=None) -> BatchMetric:
    """Algorithm 1 up to the solve, for any module (see the module docstring).

    Parameters
    ----------
    model : Module
        A module whose output is a single array ``(S, k)``.
    params : dict
        Its parameter tree.
    X : array_like, shape (S, d_in)
    targets : array_like
        ``(S, k)`` floats (``mse``) or ``(S,)`` labels (``cross_entropy``).
    loss : str or Loss
    output_metric : "identity", "gauss-newton", a ``(k, k)`` SPD matrix, or an OutputMetric
    mass : float, dict or Mass
        ``μ > 0`` or a tree of positive arrays like ``params``.
    scope : {"layer", "network"}
    method : {"auto", "woodbury", "primal", "cg"}
        How each system's ``G⁻¹`` is applied (:mod:`refimpl.metric.system`); ``auto``: by
        cost, and by memory (conjugate gradients when no direct method fits, said in
        :attr:`BatchMetric.notes` and by a :class:`~refimpl.metric.batch.MetricWarning`).
    blocks : {"structured", "materialized"}
        ``materialized`` replaces every module's block by its dense ``B̃``
        (:class:`~refimpl.modules.DenseBlock`: the path any module without structure takes),
        for comparison with the structured formulas.
    precision : {"auto", "double", "mixed"}
        How the Cholesky factorisations are done: ``"double"`` in float64; ``"mixed"`` in
        float32 with every solve refined in float64 to a float64 solve's accuracy;
        ``"auto"`` mixed for systems of size ≥ 1024 (:func:`~refimpl.linalg.factorize`).
    threads : int or None
        ``scope="layer"``: modules whose metrics are built and applied at the same time,
        each on one core, with every BLAS call single-threaded while the metric is built
        and while :meth:`BatchMetric.step` runs. ``None``: :func:`~refimpl.metric.parallel.
        parallel_threads` decides (one thread, BLAS's own threading, when layer parallelism
        would not pay); ``scope="network"`` has one system and always uses one. Any number
        above one gives the same bits; against ``threads=1`` (BLAS threading its own
        products) the results agree to rounding, as BLAS may sum in another order on
        several threads.
    prepare_step : bool
        Compute each system's part of :meth:`BatchMetric.step` (its ``G⁻¹∇R`` and residual)
        right after the system, in the same task — one parallel phase instead of two (what
        :class:`~refimpl.optim.RiemannianSGD` does). The first ``step`` then uses it.
    cg_rtol : float
        Relative residual of each conjugate-gradient solve of an inner system.
    memory : float or None
        Bytes the metric may use (``None``: the memory available now).
    metric_batch : int or None
        Subsampled curvature: build the metric (factor pass, inner matrices, factorisations)
        from the batch's first ``m`` samples, ``G_m = M + (1/m) Σ_{s ≤ m} B_sᵀB_s`` — an
        unbiased estimate of the batch's pull-back when the batch is a random sample — while
        ``∇R`` is the whole batch's. The gradient then has components outside the span of
        ``B̃_mᵀ``, which ``G_m⁻¹`` scales by ``1/M`` (eq. 2 is used, not 3′); pair it with a
        mass large enough for them, or the adaptive damping of
        :class:`~refimpl.optim.RiemannianSGD`. ``None`` or ``m ≥ S`` (a short last batch):
        the whole batch.

    Returns
    -------
    BatchMetric
    """
    check_choice(scope, "scope", SCOPES)
    check_choice(method, "method", METHODS)
    check_choice(blocks, "blocks", BLOCKS)
    check_choice(precision, "precision", PRECISIONS)
    check_threads(threads)
    if not isinstance(prepare_step, (bool, np.bool_)):
        raise TypeError(f"prepare_step must be True or False, got {prepare_step!r}")
    cg_rtol = as_positive_float(cg_rtol, "cg_rtol")
    if memory is not None:
        memory = as_positive_float(memory, "memory")
    check_metric_batch(metric_batch)
    loss = get_loss(loss)
    X, targets = check_batch(model, X, targets, loss)
    params = model.check_params(params)
    mass = Mass.parse(mass, params)
    threads = resolve_threads(model, spaces.batch_size(X, model.in_space), scope, threads)
    with _threads.single_threaded_blas(threads > 1):
        return build(model, params, X, targets, loss, get_output_metric(output_metric), mass,
                     scope=scope, method=method, blocks=blocks, precision=precision,
                     threads=int(threads), prepare_step=bool(prepare_step), cg_rtol=cg_rtol,
                     memory=memory, metric_batch=metric_batch)


def check_metric_batch(metric_batch) -> None:
    """``None`` or a positive int (else a ValueError naming what arrived)."""
    if metric_batch is not None and (isinstance(metric_batch, (bool, np.bool_)) or not
                                     isinstance(metric_batch, (int, np.integer))
                                     or metric_batch < 1):
        raise ValueError("metric_batch must be a positive int (samples the metric is built "
                         f"from) or None, got {metric_batch!r}")


def build(model, params, X, targets, loss, output_metric, mass: Mass, *, scope, method,
          blocks, precision, threads, prepare_step, cg_rtol, memory,
          metric_batch=None) -> BatchMetric:
    """:func:`build_metric`'s computation, on arguments it has validated (``params``, ``X``
    and ``targets`` as :func:`refimpl.backprop.check_batch` returns them, a loss object, an
    output metric object, a :class:`~refimpl.metric.Mass`, valid choices)."""
    return curvature(model, params, X, targets, loss, output_metric, blocks=blocks,
                     threads=threads, metric_batch=metric_batch).metric(
        mass, scope=scope, method=method, precision=precision, threads=threads,
        prepare_step=prepare_step, cg_rtol=cg_rtol, memory=memory)


@dataclass(frozen=True)
class Curvature:
    """Steps 1–2 of the module docstring on one batch: everything of the metric that does not
    depend on the mass (so that :class:`~refimpl.optim.RiemannianSGD` can solve again with
    another ``μ`` without another forward, backward or factor pass).

    Attributes
    ----------
    model, params
        As given to :func:`curvature`.
    risk : float
        ``R`` on the batch.
    grads : dict
        ``∇R``, a tree like the parameters.
    blocks : dict
        ``{path: Block}`` of every module that owns parameters.
    coords : ndarray (S, r) or None
        ``c`` with ``∇_y ℓ_s = F_s c_s`` (``None`` for a subsampled metric, or where none
        exists in floating point).
    """

    model: Module
    params: dict
    risk: float
    grads: dict
    blocks: dict
    coords: object

    def metric(self, mass: Mass, *, scope, method, precision, threads, prepare_step, cg_rtol,
               memory) -> BatchMetric:
        """Step 3: the :class:`~refimpl.metric.batch.BatchMetric` with this ``mass``."""
        return BatchMetric(self.model, self.params, self.risk, self.grads, self.blocks, mass,
                           self.coords, scope, method, precision, threads, prepare_step,
                           cg_rtol, memory)


def curvature(model, params, X, targets, loss, output_metric, *, blocks, threads,
              metric_batch=None) -> Curvature:
    """Steps 1–2 (forward pass, ``∇R``, factor pass) on arguments as :func:`build` takes
    them. Every array keeps the float type of ``params`` and ``X`` (float32 training,
    :class:`~refimpl.optim.RiemannianSGD`'s ``dtype``)."""
    states, caches = forward_pass(model, params, X)
    y = states[-1]
    sub = metric_batch is not None and metric_batch < y.shape[0]
    if sub:            # the curvature from the first m samples: their own forward pass
        Xm = spaces.map_point(lambda a: a[:metric_batch], model.in_space, X)
        tm = targets[:metric_batch]
        m_states, m_caches = forward_pass(model, params, Xm)
        F = output_metric.factor(m_states[-1], tm, loss)
        cache = model_cache(model, m_caches)
    else:
        F = output_metric.factor(y, targets, loss)                     # (S, k, r)
        cache = model_cache(model, caches)
    R = np.ascontiguousarray(np.swapaxes(F, 1, 2))
    # the factor pass (blocks) and the multipliers (∇R) both start from the forward pass's
    # caches: independent, so side by side when there are threads
    (_, found), st = _threads.run(
        [lambda: model._factor_pass(params, cache, R, need_input=False),
         lambda: backward_pass(model, params, states, caches, targets, loss)], threads)
    found = dict(block_items(found))
    if not found:
        raise ValueError(f"{model!r} has no parameters: there is no metric to build")
    if blocks == "materialized":
        found = {p: DenseBlock(b.materialize(), b.shapes) for p, b in found.items()}
    coords = None if sub else output_metric.coords(y, targets, loss)
    return Curvature(model, params, st.risk, st.grads, found, coords)
