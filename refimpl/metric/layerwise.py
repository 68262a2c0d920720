"""The paper's metric for one batch, built on any module (SPEC §4, §6; Algorithm 1).

:func:`build_metric` runs Algorithm 1 up to the solve:

1. forward pass (keep activations) and the multipliers ``λ_l`` (SPEC §2) → ``∇R``;
2. output metric factor ``F_s`` (``g_out = F Fᵀ``) and the factor pass ``R_L = Fᵀ``,
   ``R_{l−1} = R_l ∂f_l/∂x_{l−1}``, giving each module's blocks ``B_l = R_l ∂f_l/∂w_l``
   (Remark 4) without forming any ``n_l × n_l`` matrix;
3. per module a :class:`~refimpl.metric.layer.LayerMetric` (``scope="layer"``, the paper's
   block-diagonal metric) or one :class:`~refimpl.metric.network.NetworkMetric` over all
   parameters (``scope="network"``, damped Gauss–Newton / Levenberg–Marquardt).

:meth:`BatchMetric.step` then gives ``Δw = −η G⁻¹ ∇R`` (eq. 3), by the push-through form
(3′) ``−η M⁻¹ B̃ᵀ K⁻¹ c̃`` whenever the output metric supplies coordinates ``∇_y ℓ = F c``
(always, except a cross-entropy sample whose true-class ``√p`` underflows, where eq. (2) is
used for the whole batch). Per-step diagnostics come with it.
"""
from __future__ import annotations

from functools import partial

import numpy as np

from .. import _threads, spaces, tree
from .._validation import check_choice
from ..backprop.lagrangian import _backward_pass, _forward_pass
from ..losses import get_loss, get_output_metric
from ..modules import Module, Sequential, block_items
from ..modules.blocks import DenseBlock
from ..modules.linear import LinearBlock
from .inner import PRECISIONS
from .layer import LayerMetric
from .mass import at_path, check_mass
from .network import NetworkMetric

SCOPES = ("layer", "network")
PATHS = ("structured", "generic")


class BatchMetric:
    """``G`` (layerwise or network scope) at the current parameters and batch.

    Attributes
    ----------
    risk : float
        ``R`` on the batch.
    grads : dict
        ``∇R``, a tree like the parameters.
    paths : list of str
        The parameter-tree paths of the modules that own parameters (the metric's blocks).
    layers : dict of LayerMetric
        Per module (``scope="layer"``); ``network`` holds the NetworkMetric otherwise.
    coords : ndarray (S, r) or None
        ``c`` with ``∇_y ℓ_s = F_s c_s``.
    """

    def __init__(self, model, params, risk, grads, blocks, masses, coords, scope, method,
                 precision="auto", threads=1, prepare_step=False):
        self.model, self.params, self.risk, self.grads = model, params, risk, grads
        self.paths = [p for p, _ in blocks]
        self.coords, self.scope = coords, scope
        self.threads = threads
        self._prepared = None
        if scope == "layer":
            # one task per module, the largest inner systems first (the pool takes them in
            # order); with prepare_step the task goes on to the module's part of step()
            # (one parallel phase instead of two). Each task computes what it would alone.
            order = sorted(range(len(blocks)), key=lambda i: -_inner_cost(blocks[i][1]))
            self.layers = {}

            def task(i):
                path, block = blocks[i]
                self.layers[path] = LayerMetric(block, masses[i], method, precision)
                return self._module_step(path) if prepare_step else None

            done = _threads.run([partial(task, i) for i in order], threads)
            self.layers = {p: self.layers[p] for p in self.paths}
            self._order = [self.paths[i] for i in order]
            if prepare_step:
                self._prepared = dict(zip(self._order, done))
            self.network = None
        else:
            self.layers = {}
            self.network = NetworkMetric(blocks, masses, method, precision)

    # -- tree plumbing ----------------------------------------------------------------------
    def _split(self, v: dict) -> list:
        return [at_path(v, p) for p in self.paths]

    def _join(self, parts: list) -> dict:
        # the parameter tree's structure; every leaf of a module in ``paths`` is replaced by
        # its part below, the rest (none, when every parameter has a metric block) get zeros
        out = _skeleton(self.params)
        for p, part in zip(self.paths, parts):
            node = out
            keys = [k for k in p.split("/") if k]
            for k in keys[:-1]:
                node = node[k]
            if keys:
                node[keys[-1]] = part
            else:
                out = part
        return _fill_zeros(out, self.params)

    def _each(self, method: str, arg):
        if self.network is not None:
            return self._join(getattr(self.network, method)(arg if method == "push_through"
                                                            else self._split(arg)))
        if method == "push_through":
            return self._join([self.layers[p].push_through(arg) for p in self.paths])
        return self._join([getattr(self.layers[p], method)(v)
                           for p, v in zip(self.paths, self._split(arg))])

    # -- public operations --------------------------------------------------------------------
    def matvec(self, v: dict) -> dict:
        """``G v`` for a tree ``v`` like the parameters."""
        return self._each("matvec", v)

    def solve(self, v: dict) -> dict:
        """``G⁻¹ v`` (eq. 2 per block, or the primal solve)."""
        return self._each("solve", v)

    def natural_gradient(self) -> tuple[dict, str]:
        """``G⁻¹ ∇R`` and the form used (``"push-through (3′)"`` or ``"woodbury (2)"``)."""
        if self.coords is not None:
            return self._each("push_through", self.coords), "push-through (3′)"
        return self.solve(self.grads), "woodbury (2)"

    def step(self, lr: float):
        """The update ``Δw = −lr · G⁻¹ ∇R`` (eq. 3) and its diagnostics.

        Diagnostics: ``grad_norm`` ``‖∇R‖``, ``update_norm`` ``‖Δw‖``, ``inner_size`` (the
        largest factorised system), ``condition`` (largest Cholesky-diagonal estimate),
        ``residual`` ``‖G u − ∇R‖ / ‖∇R‖`` for ``u = G⁻¹∇R``, ``form``, ``methods``,
        ``precision`` (per block: ``"double"``, ``"mixed"`` or ``"mixed→double"``, see
        :func:`~refimpl.metric.inner.factorize`) and ``refinement_steps`` (the most float64
        refinement steps a mixed-precision solve of this step took; 0 if none).
        """
        with _threads.single_threaded_blas(self.threads > 1):
            return self._step(lr)

    def _step(self, lr: float):
        if self.network is not None:
            u, form = self.natural_gradient()
            r2 = self._residual_sq(u)
        else:
            u, r2, form = self._layer_step()
        for x in tree.leaves(u):                 # u is ours (new arrays): scaled in place
            x *= -lr
        update = u
        g_norm = np.sqrt(tree.vdot(self.grads, self.grads))
        systems = [self.network] if self.network is not None else list(self.layers.values())
        named = list(zip(self.paths, systems) if self.network is None
                     else [("network", self.network)])
        diag = {
            "risk": self.risk,
            "grad_norm": float(g_norm),
            "update_norm": float(np.sqrt(tree.vdot(update, update))),
            "inner_size": int(max(s.inner_size for s in systems)),
            "condition": float(max(s.inner_condition() for s in systems)),
            "residual": float(np.sqrt(r2) / g_norm) if g_norm > 0 else 0.0,
            "form": form,
            "methods": {p: f"{s.method}/{s.path}" for p, s in named},
            "precision": {p: s.inner.precision for p, s in named},
            "refinement_steps": max((s.inner.steps[-1] for s in systems
                                     if getattr(s.inner, "steps", None)), default=0),
        }
        return update, diag

    def _residual_sq(self, u: dict) -> float:
        """``‖G u − ∇R‖²`` over the whole network (``scope="network"``)."""
        r = tree.add(self.matvec(u), self.grads, -1.0)
        return tree.vdot(r, r)

    def _module_step(self, path):
        """``(u_l, ‖G_l u_l − ∇_l R‖²)`` with ``u_l = G_l⁻¹∇_l R`` by (3′) or (2); the
        residual by :meth:`LayerMetric.matvec` (a new array, finished in place)."""
        G, g = self.layers[path], at_path(self.grads, path)
        u = G.push_through(self.coords) if self.coords is not None else G.solve(g)
        total = 0.0
        for k, x in G.matvec(u).items():
            x -= g[k]
            total += float(np.vdot(x, x))
        return u, total

    def _layer_step(self):
        """``(u, ‖G u − ∇R‖², form)`` with ``u = G⁻¹∇R``, module by module (one task each,
        or as prepared while building); no parameter-sized tree is assembled."""
        push = self.coords is not None
        done, self._prepared = self._prepared, None          # prepared parts are used once
        if done is None:
            done = dict(zip(self._order, _threads.run(
                [partial(self._module_step, p) for p in self._order], self.threads)))
        u = self._join([done[p][0] for p in self.paths])
        r2 = sum(done[p][1] for p in self.paths)          # summed in the modules' order
        return u, r2, "push-through (3′)" if push else "woodbury (2)"

    def dense(self) -> np.ndarray:
        """``G`` explicitly (block diagonal for ``scope="layer"``), flat parameter order."""
        if self.network is not None:
            return self.network.dense()
        blocks = [self.layers[p].dense() for p in self.paths]
        n = sum(b.shape[0] for b in blocks)
        G, start = np.zeros((n, n)), 0
        for b in blocks:
            G[start:start + b.shape[0], start:start + b.shape[0]] = b
            start += b.shape[0]
        return G


def build_metric(model: Module, params, X, targets, *, loss="mse", output_metric="identity",
                 mass=1.0, scope="layer", method="auto", path="structured",
                 precision="auto", threads=None, prepare_step=False) -> BatchMetric:
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
    mass : float or dict
        ``μ > 0`` or a tree of positive arrays like ``params``.
    scope : {"layer", "network"}
    method : {"auto", "woodbury", "primal"}
        How each block's ``G⁻¹`` is applied (``auto``: by cost).
    path : {"structured", "generic"}
        ``generic`` materialises every module's ``B̃`` (the path any module takes), for
        comparison with the structured linear-module formulas.
    precision : {"auto", "double", "mixed"}
        How the Cholesky factorisations are done: ``"double"`` in float64; ``"mixed"`` in
        float32 with every solve refined in float64 to a float64 solve's accuracy;
        ``"auto"`` mixed for systems of size ≥ 1024 (:func:`~refimpl.metric.inner.factorize`).
    threads : int or None
        ``scope="layer"``: modules whose metrics are built and applied at the same time,
        each on one core, with every BLAS call single-threaded while the metric is built
        and while :meth:`BatchMetric.step` runs. ``None``: :func:`parallel_threads` decides
        from the model (one thread, BLAS's own threading, when layer parallelism would not
        pay); ``scope="network"`` has one system and always uses one. Any number above one
        gives the same bits; against ``threads=1`` (BLAS threading its own products) the
        results agree to rounding (5e-15 relative measured), as BLAS may sum in another
        order on several threads.
    prepare_step : bool
        ``scope="layer"``: compute each module's part of :meth:`BatchMetric.step` (its
        ``G_l⁻¹∇_l R`` and residual) right after its metric, in the same task — one parallel
        phase instead of two (what :class:`~refimpl.optim.RiemannianSGD` does). The first
        ``step`` then uses it.

    Returns
    -------
    BatchMetric
    """
    if scope not in SCOPES:
        raise ValueError(f"unknown scope {scope!r}; expected one of {SCOPES}")
    if path not in PATHS:
        raise ValueError(f"unknown path {path!r}; expected one of {PATHS}")
    check_choice(precision, "precision", PRECISIONS)
    check_threads(threads)
    if not isinstance(prepare_step, (bool, np.bool_)):
        raise TypeError(f"prepare_step must be True or False, got {prepare_step!r}")
    loss = get_loss(loss)
    om = get_output_metric(output_metric)
    params = model.check_params(params)
    mass = check_mass(mass, params)
    X = spaces.check_point(X, model.in_space, "X")
    threads = resolve_threads(model, X, scope, threads)
    with _threads.single_threaded_blas(threads > 1):
        return _build(model, params, X, targets, loss, om, mass, scope, method, path,
                      precision, int(threads), bool(prepare_step))


def _build(model, params, X, targets, loss, om, mass, scope, method, path, precision,
           threads, prepare_step):
    states, caches = _forward_pass(model, params, X)
    y = states[-1]
    t = loss.check_targets(targets, y.shape[0], y.shape[1])
    F = om.factor(y, t, loss)                                  # (S, k, r)
    cache = caches if isinstance(model, Sequential) else caches[0]
    R = np.ascontiguousarray(np.swapaxes(F, 1, 2))
    # the factor pass (blocks) and the multipliers (∇R) both start from the forward pass's
    # caches: independent, so side by side when there are threads
    (_, blocks), st = _threads.run(
        [lambda: model._factor_pass(params, cache, R, need_input=False),
         lambda: _backward_pass(model, params, states, caches, t, loss)], threads)
    blocks = list(block_items(blocks))
    if not blocks:
        raise ValueError(f"{model!r} has no parameters: there is no metric to build")
    if path == "generic":
        blocks = [(p, DenseBlock(b.materialize(), b.shapes) if isinstance(b, LinearBlock)
                   else b) for p, b in blocks]
    masses = [at_path(mass, p) for p, _ in blocks]
    return BatchMetric(model, params, st.risk, st.grads, blocks, masses,
                       om.coords(y, t, loss), scope, method, precision, threads,
                       prepare_step)


#: layer parallelism when one ``S·r`` Cholesky costs at least this share of the chain
#: (forward, backward and factor pass: about ``S (6 + 2r)`` flops per parameter)
PARALLEL_SHARE = 0.25


def check_threads(threads) -> None:
    """``threads`` is ``None`` or a positive int (else a ValueError naming what arrived)."""
    if threads is not None and (isinstance(threads, (bool, np.bool_)) or not isinstance(
            threads, (int, np.integer)) or threads < 1):
        raise ValueError(f"threads must be a positive int or None, got {threads!r}")


def resolve_threads(model: Module, X, scope: str, threads) -> int:
    """The threads a step uses: 1 for ``scope="network"``, ``threads`` if given, else
    :func:`parallel_threads` for the batch ``X`` (checked against the model's input)."""
    if scope != "layer":
        return 1
    if threads is not None:
        return int(threads)
    X = spaces.check_point(X, model.in_space, "X")
    return parallel_threads(model, spaces.batch_size(X, model.in_space))


def parallel_threads(model: Module, S: int) -> int:
    """How many threads :func:`build_metric` uses by default (``threads=None``).

    In parallel, every product runs on one core: the chain of forward, backward and factor
    passes (one module after the other) gets slower, each module's metric work overlaps with
    the others'. That pays when two or more modules have inner systems whose factorisation
    (``(S·r)³/3``, ``r`` the output dimension) is at least ``PARALLEL_SHARE`` of the chain's
    ``S (6 + 2r) n_params`` flops. The last module is not counted (under a constant output
    metric its system has the cheap shared-factor form). Then one thread per core, at most
    one per counted module; otherwise 1, and BLAS keeps its own threads. Measured on the
    benchmark machine (2 cores): configuration A (784-256-256-10, ``S = 128``; share 0.8)
    38 ms in parallel against 46 ms; B (784-1024-1024-10, ``S = 64``; share 0.03) 94 ms
    against 80 ms. Only in the main thread, where BLAS can be limited to one thread
    (:func:`refimpl._threads.single_threaded_blas`).
    """
    cores = _threads.cores()
    if cores < 2 or not isinstance(model.out_space, int) or not _threads.can_limit_blas():
        return 1
    counts = _module_param_counts(model.param_shapes())
    heavy = len(counts) - 1
    if heavy < 2:
        return 1
    r = model.out_space
    chain = S * (6 + 2 * r) * sum(counts)
    return min(cores, heavy) if (S * r) ** 3 / 3 >= PARALLEL_SHARE * chain else 1


def _module_param_counts(shapes: dict) -> list:
    """Parameter count of each module that has parameters (a node whose leaves are shapes)."""
    leaves = [v for v in shapes.values() if not isinstance(v, dict)]
    out = [sum(int(np.prod(v)) for v in leaves)] if leaves else []
    for v in shapes.values():
        if isinstance(v, dict):
            out += _module_param_counts(v)
    return out


def _inner_cost(block) -> float:
    """A rough size of a module's metric work, to start the largest first."""
    m = block.S * block.r
    return m ** 3 / 3 + m * m * min(block.n, m)


def _skeleton(t):
    """The dict structure of ``t`` with ``None`` leaves (nothing allocated)."""
    return {k: _skeleton(v) for k, v in t.items()} if isinstance(t, dict) else None


def _fill_zeros(out, like):
    """``out`` with its ``None`` leaves replaced by zeros shaped like ``like``'s."""
    if out is None:
        return np.zeros_like(like)
    if isinstance(out, dict):
        for k, v in out.items():
            if v is None or isinstance(v, dict):
                out[k] = _fill_zeros(v, like[k])
    return out
