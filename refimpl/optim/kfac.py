"""K-FAC (Martens & Grosse 2015): Kronecker-factored approximate curvature, the
natural-gradient approximation the paper positions the layerwise metric against.

For a module with parameter blocks ``B_s = R_s ∂F/∂w`` (:ref:`math §4 <math-4>`), the layer metric without
mass, ``(1/S) Σ_s B_sᵀ B_s``, is replaced by a Kronecker product ``G ⊗ A`` whose factors the
block supplies (:meth:`refimpl.modules.blocks.Block.kfac_factors`; for a linear module
``A = E[ã ãᵀ]``, ``ã = [a; 1]``, and ``G = E[RᵀR]``). The product acts on the module's
parameters as one ``d_G × d_A`` matrix ``X`` (every leaf reshaped to ``(d_G, −1)``, side by
side: ``[W | b]``), ``(G ⊗ A) vec X = vec(G X A)``, so its inverse is two small inverses.
``R`` comes from the output metric's factor (``g_out = F Fᵀ``, ``R_L = Fᵀ``): with
``"gauss-newton"`` the exact loss Hessian (K-FAC on the generalised Gauss–Newton matrix, not
a sampled Fisher), with ``"identity"`` the Euclidean output metric.

Per step ``t = 0, 1, …`` and module:

- running factors ``Ā ← ε Ā + (1 − ε) A_batch``, ``Ḡ`` likewise, ``ε = min(decay, t/(t+1))``
  (the first step takes the batch's factors);
- every ``inverse_period`` steps (``t = 0`` first) the damped inverses are recomputed from
  ``Ā``, ``Ḡ`` and kept; the steps between use the kept ones;
- ``Δ = −η · (damped curvature)⁻¹ ∇R``, by one of two Tikhonov dampings ``λ``.

``damping_form="factored"`` (Martens & Grosse §6.3): ``(Ā + π√λ I) ⊗ (Ḡ + (√λ/π) I)`` with
``π = √((tr Ā / d_A) / (tr Ḡ / d_G))`` (the trace-norm choice, which keeps the two factors'
shares of the damping in proportion to their scales), so
``Δ_X = −η (Ḡ + (√λ/π) I)⁻¹ X (Ā + π√λ I)⁻¹``.

``damping_form="exact"``: ``Ḡ ⊗ Ā + λ I``, inverted through the eigendecompositions
``Ā = Q_A diag(α) Q_Aᵀ`` and ``Ḡ = Q_G diag(β) Q_Gᵀ``:
``Δ_X = −η Q_G [(Q_Gᵀ X Q_A) / (β αᵀ + λ)] Q_Aᵀ``.

With ``S = 1`` the Kronecker product is exact, so K-FAC with exact damping ``λ = μ`` takes the
step of the layerwise metric ``G_l = μ I + B̃ᵀB̃`` (tested). Everything the step depends on
(running factors and kept inverses) is in the optimizer slots, so a checkpoint resumes
bit for bit.

Examples
--------
>>> import numpy as np
>>> from refimpl.modules import mlp
>>> from refimpl.optim import KFAC
>>> model = mlp([4, 8, 3], "tanh")
>>> opt = KFAC(model, "cross_entropy", lr=0.5, damping=1e-2)
>>> rng = np.random.default_rng(0)
>>> state = opt.init(model.init(rng))
>>> state, info = opt.update(state, rng.standard_normal((16, 4)), rng.integers(0, 3, 16))
>>> sorted(state.slots)
['A', 'G', 'inverse']
"""
from __future__ import annotations

import numbers

import numpy as np
from scipy.linalg import cho_factor, cho_solve

from .. import spaces, tree
from .._validation import as_positive_float, check_choice
from ..backprop import backward_pass, forward_pass, model_cache
from ..losses import get_output_metric
from ..modules import block_items
from .base import Optimizer
from .damping import adapt, get_damping

DAMPING_FORMS = ("factored", "exact")


class KFAC(Optimizer):
    """K-FAC for any model whose parameter blocks have Kronecker factors (see module docs).

    Parameters
    ----------
    model, loss
        As for every optimizer.
    lr : float
        ``η``.
    damping : float
        Tikhonov ``λ > 0``. The defaults (``η = 0.1``, ``λ = 0.03``) reached 90 % fastest
        in a sweep on the shipped MNIST subset (MLP 784-256-256-10, batch 128, Gauss–Newton
        factors); ``η = 0.3`` with ``λ = 0.03``, and ``η = 1`` with ``λ ≤ 0.1``, blew up
        within six steps (``benchmarks/README.md``).
    output_metric : "gauss-newton" (default), "identity", a ``(k, k)`` SPD matrix or an
        OutputMetric: the metric whose factor ``R`` enters ``G = E[RᵀR]``.
    decay : float in [0, 1)
        Weight of the old running factors (``ε`` above; 0 keeps only the batch's).
    inverse_period : int ≥ 1
        Steps between recomputations of the damped inverses.
    damping_form : {"factored", "exact"}
    damping_rule : None, "fixed", "adaptive", "adaptive-reject" or LevenbergMarquardt
        Adapt ``λ`` (started at ``damping``) by the Levenberg–Marquardt rule of
        :mod:`refimpl.optim.damping`, with K-FAC's own curvature in the quadratic model,
        ``m(Δ) = ∇RᵀΔ + ½ Σ_l ⟨Δ_l, Ḡ_l Δ_l Ā_l⟩`` (as kfac-jax's default); the inverses
        take the current ``λ`` when they are recomputed.
    """

    name = "kfac"

    def __init__(self, model, loss="mse", *, lr: float = 0.1, damping: float = 0.03,
                 output_metric="gauss-newton", decay: float = 0.95, inverse_period: int = 5,
                 damping_form: str = "factored", damping_rule=None, dtype=np.float64):
        super().__init__(model, loss, lr=lr, dtype=dtype)
        self.damping = as_positive_float(damping, "damping")
        self.output_metric = get_output_metric(output_metric)
        if isinstance(decay, bool) or not isinstance(decay, numbers.Real) \
                or not 0.0 <= decay < 1.0:
            raise ValueError(f"K-FAC decay must be a number in [0, 1), got {decay!r}")
        self.decay = float(decay)
        if isinstance(inverse_period, bool) or not isinstance(
                inverse_period, (int, np.integer)) or inverse_period < 1:
            raise ValueError("K-FAC inverse_period must be a positive int (steps between "
                             f"inverse updates), got {inverse_period!r}")
        self.inverse_period = int(inverse_period)
        check_choice(damping_form, "damping_form", DAMPING_FORMS)
        self.damping_form = damping_form
        self.damping_rule = get_damping(damping_rule)
        if self.damping_rule is not None:
            self.damping_rule.init(self.damping)        # the initial λ within the bounds
        self._layout = _factor_layout(self.model)

    def _hyperparameters(self):
        return {"lr": self.lr, "damping": self.damping, "output_metric": self.output_metric.name,
                "decay": self.decay, "inverse_period": self.inverse_period,
                "damping_form": self.damping_form,
                "damping_rule": "fixed" if self.damping_rule is None
                else self.damping_rule.describe()}

    # -- slots ------------------------------------------------------------------------------
    def _init_slots(self, params):
        dt = self.dtype
        A = {p: np.zeros((dA, dA), dt) for p, _, dA, _ in self._layout}
        G = {p: np.zeros((dG, dG), dt) for p, _, _, dG in self._layout}
        if self.damping_form == "factored":
            inv = {"A": A, "G": G}
        else:
            inv = {"QA": A, "QG": G, "dA": {p: np.zeros(dA, dt) for p, _, dA, _ in self._layout},
                   "dG": {p: np.zeros(dG, dt) for p, _, _, dG in self._layout}}
        slots = {"A": _nest(A), "G": _nest(G),
                 "inverse": {k: _nest(tree.tree_map(np.copy, v)) for k, v in inv.items()}}
        if self.damping_rule is not None:
            slots["damping"] = self.damping_rule.init(self.damping)
        return slots

    # -- the step ---------------------------------------------------------------------------
    def _direction(self, state, X, targets):
        params, t = state.params, state.step
        lam = self.damping if self.damping_rule is None else \
            float(state.slots["damping"]["value"])
        risk, grads, batch = self._gradient_and_factors(params, X, targets)
        eps = min(self.decay, t / (t + 1.0))
        A_run, G_run = {}, {}
        for path, _, _, _ in self._layout:
            A_b, G_b = batch[path]
            A_run[path] = eps * tree.get(state.slots["A"], path) + (1.0 - eps) * A_b
            G_run[path] = eps * tree.get(state.slots["G"], path) + (1.0 - eps) * G_b
        slots = {"A": _nest(A_run), "G": _nest(G_run)}
        kept = state.slots["inverse"]

        def at(value):
            """The step at damping ``value``: new inverses on the period's steps (and for a
            retry's raised ``λ``), else the kept ones."""
            if t % self.inverse_period == 0 or value != lam:
                inverse = {path: self._inverse(A_run[path], G_run[path], value)
                           for path, _, _, _ in self._layout}
                inverse = {k: _nest({p: inverse[p][k] for p in inverse})
                           for k in next(iter(inverse.values()))}
            else:
                inverse = kept
            update, steps = {}, {}
            for path, shapes, _, dG in self._layout:
                inv = {k: tree.get(v, path) for k, v in inverse.items()}
                Xg = _as_matrix(tree.get(grads, path), shapes, dG)
                steps[path] = -self.lr * self._precondition(inv, Xg, value)
                update[path] = _from_matrix(steps[path], shapes, dG)
            update = _merge(params, update)
            slots["inverse"] = inverse                       # the inverses of the last try
            diag = {"loss": risk, "grad_norm": float(np.sqrt(tree.vdot(grads, grads)))}

            def predicted():
                quad = sum(float(np.vdot(D, G_run[p] @ D @ A_run[p])) for p, D in steps.items())
                if self.damping_rule.include_damping:
                    quad += value * sum(float(np.vdot(D, D)) for D in steps.values())
                return tree.vdot(grads, update) + 0.5 * quad

            return update, diag, predicted

        if self.damping_rule is None:
            update, diag, _ = at(lam)
            return update, slots, diag
        slots["damping"] = state.slots["damping"]
        update, new_slots, diag = adapt(self.damping_rule, self, state._replace(slots=slots),
                                        X, targets, at)
        return update, dict(new_slots, inverse=slots["inverse"]), diag

    def _gradient_and_factors(self, params, X, targets):
        """``(R, ∇R, {path: (A, G)})`` of this batch: one forward pass, the multipliers, and
        the factor pass with the output metric."""
        states, caches = forward_pass(self.model, params, X)
        st = backward_pass(self.model, params, states, caches, targets, self.loss)
        F = self.output_metric.factor(states[-1], targets, self.loss)
        R = np.ascontiguousarray(np.swapaxes(F, 1, 2))
        _, blocks = self.model._factor_pass(params, model_cache(self.model, caches), R,
                                            need_input=False)
        return st.risk, st.grads, {p: b.kfac_factors() for p, b in block_items(blocks)}

    def _inverse(self, A, G, lam):
        """The damped inverses kept until the next recomputation (see the module docs)."""
        if self.damping_form == "factored":
            dA, dG = A.shape[0], G.shape[0]
            tA, tG = np.trace(A) / dA, np.trace(G) / dG
            pi = np.sqrt(tA / tG) if tA > 0 and tG > 0 else 1.0
            return {"A": _spd_inverse(A, pi * np.sqrt(lam)),
                    "G": _spd_inverse(G, np.sqrt(lam) / pi)}
        a, QA = np.linalg.eigh(A)
        g, QG = np.linalg.eigh(G)
        return {"QA": QA, "dA": np.maximum(a, 0.0), "QG": QG, "dG": np.maximum(g, 0.0)}

    def _precondition(self, inv, Xg, lam):
        if self.damping_form == "factored":
            return inv["G"] @ Xg @ inv["A"]
        Y = inv["QG"].T @ Xg @ inv["QA"]
        Y /= np.outer(inv["dG"], inv["dA"]) + lam
        return inv["QG"] @ Y @ inv["QA"].T


# -- helpers ---------------------------------------------------------------------------------
def _factor_layout(model):
    """``[(path, shapes, d_A, d_G)]`` of every module with parameters, from a one-sample
    factor pass at zero parameters (the factors' sizes do not depend on the values).
    Raises the block's NotImplementedError for a module without Kronecker factors."""
    params = tree.tree_map(np.zeros, model.param_shapes())
    x = spaces.zeros(model.in_space, (1,))
    _, cache = model.forward(params, x)
    R = np.ones((1, 1, model.out_space))
    _, blocks = model.factor_pass(params, cache, R, need_input=False)
    layout = []
    for path, block in block_items(blocks):
        A, G = block.kfac_factors()
        dA, dG = A.shape[0], G.shape[0]
        sizes = [int(np.prod(s)) for s in block.shapes.values()]
        if any(n % dG for n in sizes) or sum(sizes) != dA * dG:
            raise ValueError(f"the Kronecker factors of module {path or '(root)'!r} are "
                             f"{dA}×{dA} and {dG}×{dG}, which do not fit its parameters "
                             f"{block.shapes} as one {dG}×{dA} matrix")
        layout.append((path, dict(block.shapes), dA, dG))
    if not layout:
        raise ValueError(f"{model!r} has no parameters: K-FAC has nothing to train")
    return layout


def _as_matrix(g: dict, shapes: dict, dG: int) -> np.ndarray:
    """The module's leaves as one ``d_G × d_A`` matrix, side by side (``[W | b]``)."""
    return np.concatenate([g[k].reshape(dG, -1) for k in shapes], axis=1)


def _from_matrix(Xm: np.ndarray, shapes: dict, dG: int) -> dict:
    out, start = {}, 0
    for k, s in shapes.items():
        n = int(np.prod(s)) // dG
        out[k] = np.ascontiguousarray(Xm[:, start:start + n]).reshape(s)
        start += n
    return out


def _spd_inverse(M: np.ndarray, shift: float) -> np.ndarray:
    """``(M + shift·I)⁻¹`` for symmetric PSD ``M`` and ``shift > 0`` (Cholesky), symmetric."""
    eye = np.eye(M.shape[0], dtype=M.dtype)
    D = M + float(shift) * eye                  # a Python float keeps a float32 M float32
    inv = cho_solve(cho_factor(D, lower=True), eye)
    return 0.5 * (inv + inv.T)


def _nest(flat: dict):
    """``{module path: value}`` as a tree by path (a single module at the root: the value)."""
    if list(flat) == [""]:
        return flat[""]
    out = {}
    for path, value in flat.items():
        node, keys = out, path.split("/")
        for k in keys[:-1]:
            node = node.setdefault(k, {})
        node[keys[-1]] = value
    return out


def _merge(params: dict, parts: dict) -> dict:
    """The per-module parts as one tree like ``params`` (every parameter must have a part)."""
    return tree.from_paths(params, parts)
