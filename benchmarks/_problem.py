"""The benchmark problems, the step written with refimpl's private building blocks (any float
dtype), and the analytic FLOP count of the structured step.

The configurations of issue 3: an MLP with tanh, softmax cross-entropy, the identity output
metric (``F = I``, so ``r = k``), a scalar mass ``μ``.
"""
from __future__ import annotations

import os
import time
from collections import OrderedDict

import numpy as np

from refimpl.losses import get_loss
from refimpl.metric import LayerMetric
from refimpl.modules import block_items, mlp

CONFIGS = {
    "A": {"widths": (784, 256, 256, 10), "S": 128},
    "B": {"widths": (784, 1024, 1024, 10), "S": 64},
}
MU = 0.01
LR = 0.1


def make_problem(name: str, seed: int = 0):
    """``(model, params, X, targets)`` for configuration ``name`` (float64)."""
    cfg = CONFIGS[name]
    widths, S = cfg["widths"], cfg["S"]
    rng = np.random.default_rng(seed)
    model = mlp(widths, "tanh")
    params = model.init(rng)
    for node in params.values():                      # small non-zero biases
        if "b" in node:
            node["b"] = 0.1 * rng.standard_normal(node["b"].shape)
    X = rng.standard_normal((S, widths[0]))
    targets = rng.integers(0, widths[-1], S)
    return model, params, X, targets


def linear_paths(model) -> list[str]:
    """Tree paths of the Linear children (``"0"``, ``"2"``, …)."""
    return [k for k, m in model.children.items() if m.param_shapes()]


def as_list(tree: dict, paths) -> list:
    return [(tree[p]["W"], tree[p]["b"]) for p in paths]


def cast(tree: dict, dtype) -> dict:
    return {k: {n: np.ascontiguousarray(v, dtype=dtype) for n, v in node.items()}
            for k, node in tree.items()}


def manual_step(model, params, X, targets, *, mu=MU, lr=LR, form="3'", timer=None):
    """``Δw = −lr G⁻¹ ∇R`` by refimpl's private building blocks, in the dtype of the inputs.

    The same algorithm as ``RiemannianSGD.update`` (forward, multipliers, factor pass,
    :class:`~refimpl.metric.LayerMetric` per module) without the public API's validation and
    diagnostics, so that it runs in float32 too. ``form="3'"``: push-through
    ``−lr M⁻¹ B̃ᵀ K⁻¹ c̃``; ``form="2"``: Woodbury (2) applied to ``∇R``.
    ``timer`` (a dict) collects seconds per phase.
    """
    clock = time.perf_counter
    t0 = clock()
    loss = get_loss("cross_entropy")
    y, caches = model._forward(params, X)
    lam = loss._grad(y, targets)                                 # c_s = ∇ℓ_s (F = I)
    S, k = y.shape
    _, gsum, _ = model._backward(params, caches, lam, need_input=False)
    t1 = clock()
    R_L = np.ascontiguousarray(np.broadcast_to(np.eye(k, dtype=y.dtype), (S, k, k)))
    _, blocks = model._factor_pass(params, caches, R_L, need_input=False)
    t2 = clock()
    update, t_metric, t_solve = {}, 0.0, 0.0
    for path, block in block_items(blocks):
        ta = clock()
        G = LayerMetric(block, mu)
        tb = clock()
        if form == "3'":
            u = G.push_through(lam)
        else:
            u = G.solve({n: g / S for n, g in gsum[path].items()})
        update[path] = {n: -lr * v for n, v in u.items()}
        t_metric += tb - ta
        t_solve += clock() - tb
    if timer is not None:
        for key, val in (("forward+backward", t1 - t0), ("factor pass", t2 - t1),
                         ("metric (Gram + factorisation)", t_metric),
                         ("solve + push-through", t_solve)):
            timer[key] = timer.get(key, 0.0) + val
    return update


def rel_diff(a: dict, b: dict, paths) -> float:
    """``max_l ‖a_l − b_l‖ / ‖b_l‖`` over the layers (``W`` and ``b`` together)."""
    out = 0.0
    for p in paths:
        num = sum(np.sum((np.asarray(a[p][n], np.float64) - b[p][n]) ** 2) for n in b[p])
        den = sum(np.sum(np.asarray(b[p][n], np.float64) ** 2) for n in b[p])
        out = max(out, float(np.sqrt(num / den)))
    return out


# ---------------------------------------------------------------------------------------------
# FLOP count of the structured step (what RiemannianSGD.update executes), per operation
# ---------------------------------------------------------------------------------------------
#: rows of structured_flops done in float32 by the mixed-precision factorisation
FLOAT32_ROWS = ("Gram R₂R₂ᵀ", "Hadamard", "Cholesky")


def structured_flops(widths, S: int, r: int | None = None,
                     refinement_steps: int = 0) -> OrderedDict:
    """Floating-point operations of one structured Riemannian step, by operation.

    Counting rules: a product ``(m×k)(k×n)`` is ``2mnk``; a symmetric Gram ``X Xᵀ``
    (``n×k``) is ``n²k`` (only one triangle is needed: SYRK); Cholesky ``n³/3``; a pair of
    triangular solves ``2n²`` per right-hand side; elementwise passes are counted one
    operation per entry and per arithmetic operation. The last layer (its factor rows are the
    same for every sample under the identity output metric) uses the shared-factor form:
    an ``r × r`` eigendecomposition and one ``S × S`` Cholesky per distinct eigenvalue (one
    for ``F = I``). With ``refinement_steps`` (mixed precision), each ``S·r`` solve costs
    ``steps + 1`` products with ``K`` in its structured form (``4 S r m + 2 S² m``) and
    ``steps + 1`` pairs of triangular solves instead of one.
    """
    widths = list(widths)
    L = len(widths) - 1
    k = widths[-1]
    r = k if r is None else r
    f = OrderedDict()

    def add(key, val):
        f[key] = f.get(key, 0.0) + float(val)

    for l in range(L):
        n, m = widths[l], widths[l + 1]
        add("forward GEMMs (a Wᵀ)", 2 * S * n * m)
        add("backward GEMMs (λᵀa, λW)", 2 * S * n * m * 2)
        add("elementwise (tanh, σ', softmax, bias)", 4 * S * m)
    for l in range(L - 1, 0, -1):                   # factor pass R_{l-1} = R_l W_l diag(σ')
        n, m = widths[l], widths[l + 1]
        add("factor pass GEMMs (R W)", 2 * S * r * m * n)
        add("elementwise (tanh, σ', softmax, bias)", S * r * n)
    for l in range(L):
        n, m = widths[l], widths[l + 1]
        add("Gram E = AAᵀ (SYRK)", S * S * n)
        if l == L - 1:
            add("shared factor: eigh(C) + S×S Cholesky", 9 * r ** 3 + S ** 3 / 3)
            add("triangular solves", 2 * S * S * r + 4 * S * r * r)
        else:
            Sr = S * r
            add("Gram R₂R₂ᵀ (SYRK, S·r × S·r)", Sr * Sr * m)
            add("Hadamard K = I + (R₂R₂ᵀ)⊙(E⊗1)/S", 2 * Sr * (Sr + 1) / 2)
            add("Cholesky of K (n³/3)", Sr ** 3 / 3)
            add("triangular solves", 2 * Sr * Sr * (refinement_steps + 1))
            if refinement_steps:
                add("refinement: structured K x", (refinement_steps + 1)
                    * (4 * S * r * m + 2 * S * S * m))
            add("push-through Rᵀz", 2 * S * r * m)
        add("push-through Uᵀ A", 2 * S * m * (n + 1))
        # diagnostics: residual ‖G u − ∇R‖ needs B u and Bᵀ(B u)
        add("diagnostic residual (B u, Bᵀ B u)", 2 * (2 * S * m * n)
            + (4 * S * r * m if l < L - 1 else 0))
    return f


def load_average():
    """The 1, 5 and 15 minute load averages, rounded (``None`` where the OS has none)."""
    try:
        return [round(v, 2) for v in os.getloadavg()]
    except OSError:
        return None
