"""Accuracy of the layer solves across masses μ ∈ [1e-8, 1e4] (math §4).

For a small MLP (6-8-3, tanh, S = 4, MSE, identity output metric) every layer's ``G_l⁻¹ v`` is
computed by Woodbury (eq. 2), by the primal Cholesky solve, and ``G_l⁻¹ ∇R`` by push-through
(eq. 3′), and compared with a 50-digit reference (mpmath LU on the exact float64 ``G_l``).
The last three columns repeat (2) and (3′) with ``precision="mixed"`` (the inner matrix
factorised in float32, each solve refined in float64; ``refimpl.linalg.RefinedCholeskyInner``) and give
the refinement steps of the (3′) solve, or "fallback" where the float64 factorisation took
over.
``v`` is random, with a component outside the span of ``B̃ᵀ`` (here ``n_l > S·r``).

Run: ``python benchmarks/accuracy_across_mass.py`` (needs ``mpmath``, e.g. via ``pip install mpmath``).
"""
from __future__ import annotations

import numpy as np

from refimpl import tree
from refimpl.metric import build_metric
from refimpl.modules import mlp

MASSES = [1e-8, 1e-6, 1e-4, 1e-2, 1.0, 1e2, 1e4]


def reference_solve(G, b, dps=50):
    import mpmath
    mpmath.mp.dps = dps
    x = mpmath.lu_solve(mpmath.matrix(G.tolist()), mpmath.matrix(b.tolist()))
    return np.array([float(v) for v in x])


def rel(a, b):
    return float(np.linalg.norm(a - b) / np.linalg.norm(b))


def main():
    rng = np.random.default_rng(0)
    model = mlp([6, 8, 3], "tanh")
    params = model.init(rng)
    X, T = rng.standard_normal((4, 6)), rng.standard_normal((4, 3))
    print(f"{'mu':>8} {'layer':>5} {'n':>4} {'S·r':>4} {'cond(G)':>9} {'eps·cond':>9} "
          f"{'(2) vs ref':>11} {'primal':>9} {'(3′) vs ref':>11} {'(2) step':>9} "
          f"{'mixed (2)':>10} {'mixed (3′)':>10} {'steps':>8}")
    for mu in MASSES:
        wood = build_metric(model, params, X, T, mass=mu, method="woodbury")
        prim = build_metric(model, params, X, T, mass=mu, method="primal")
        mixed = build_metric(model, params, X, T, mass=mu, method="woodbury",
                             precision="mixed")
        for path in wood.paths:
            Lw, Lp, Lm = wood.layers[path], prim.layers[path], mixed.layers[path]
            G = Lw.dense()
            v = {k: rng.standard_normal(s) for k, s in Lw.block.shapes.items()}
            ref = reference_solve(G, tree.flatten(v))
            g = tree.flatten(wood.grads[path])
            ref_step = reference_solve(G, g)
            c = np.asarray(wood.coords)
            cond = np.linalg.cond(G)
            print(f"{mu:8.0e} {path:>5} {Lw.n:4d} {Lw.inner_size:4d} {cond:9.2e} "
                  f"{cond * np.finfo(float).eps:9.1e} "
                  f"{rel(tree.flatten(Lw.solve(v)), ref):11.1e} "
                  f"{rel(tree.flatten(Lp.solve(v)), ref):9.1e} "
                  f"{rel(tree.flatten(Lw.push_through(c)), ref_step):11.1e} "
                  f"{rel(tree.flatten(Lw.solve(wood.grads[path])), ref_step):9.1e} "
                  f"{rel(tree.flatten(Lm.solve(v)), ref):10.1e} "
                  f"{rel(tree.flatten(Lm.push_through(c)), ref_step):10.1e} "
                  f"{_steps(Lm.inner):>8}")


def _steps(inner) -> str:
    if inner.precision == "mixed→double":
        return "fallback"
    return str(inner.steps[-1]) if getattr(inner, "steps", None) else "-"


if __name__ == "__main__":
    main()
