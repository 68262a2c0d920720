"""
Training as a differential-algebraic equation (Remark 3)
========================================================

The flow ``ẇ = −G⁻¹∇R`` hides the network's states ``x_l`` and multipliers ``λ_l`` inside
``∇R``. With them as unknowns it is an index-1 DAE (:ref:`math §9 <math-9>`): the parameters
are differential, and the forward pass ``x_l = f_l(x_{l−1}; w_l)`` and the backward pass
``λ_{l−1} = (∂f_l/∂x_{l−1})ᵀλ_l`` are *algebraic constraints*. Here the DAE is integrated as
such — every right-hand side solves the constraints by Newton's method, no forward or
backward pass is run — and compared with the reduced flow that the rest of ``refimpl``
integrates. Run: ``python examples/training_dae.py [--out DIR]`` (a few seconds).
"""
import argparse
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np

from refimpl import tree
from refimpl.backprop import solve
from refimpl.dynamics.dae import TrainingDAE, integrate_dae, reduced_flow
from refimpl.modules import mlp

parser = argparse.ArgumentParser(description="training flow as a DAE")
parser.add_argument("--out", default="out/training_dae", help="directory for the PNG file")
args = parser.parse_args()

rng = np.random.default_rng(0)
model = mlp([2, 5, 1], "tanh")
params = model.init(rng)
X = rng.standard_normal((6, 2))
T = np.sin(2 * X[:, :1]) * np.cos(X[:, 1:])
kw = {"loss": "mse", "mass": 0.1, "scope": "layer"}
t = np.linspace(0.0, 3.0, 13)

# %%
# The DAE: 21 differential unknowns (the parameters) and, for 6 samples, 132 algebraic ones
# (states and multipliers of the three stages ``Linear → tanh → Linear``).
dae = TrainingDAE(model, X, T, **kw)
print(f"{model.n_params} parameters (differential), {dae.n_algebraic} states and "
      f"multipliers (algebraic)")
res = integrate_dae(dae, params, t)
print(f"DAE: {res.nfev} right-hand sides, {res.residual_evaluations} constraint residuals "
      f"in the Newton solves, max |constraint| on the path {res.max_residual:.1e}")

# %%
# The reduced flow, and the difference between the two parameter paths.
_, w_red = reduced_flow(model, params, X, T, t, **kw)
diff = np.linalg.norm(res.w - w_red, axis=1)
print(f"max ‖w_DAE(t) − w_reduced(t)‖ = {diff.max():.2e} (both at rtol 1e-9)")
risk = [solve(model, tree.unflatten(params, w), X, T).risk for w in w_red]
gap = [np.abs(res.a[j] - dae.pack(*(lambda st: (st.states, st.multipliers))(
    solve(model, tree.unflatten(params, w), X, T)))).max() for j, w in enumerate(res.w)]

fig, (a1, a2) = plt.subplots(1, 2, figsize=(10.5, 3.8))
a1.plot(t, risk, "o-")
a1.set(xlabel="t", ylabel="R(w(t))", title="the risk along the flow")
a2.semilogy(t, np.maximum(diff, 1e-17), "o-", label="‖w_DAE − w_reduced‖")
a2.semilogy(t, np.maximum(gap, 1e-17), "s--",
            label="max |(x, λ)_DAE − backprop's (x, λ)|")
a2.set(xlabel="t", title="DAE against the reduced flow and backpropagation")
a2.legend(fontsize=8)
fig.tight_layout()

# %%
# Save the figure (``--out``).
out = Path(args.out)
out.mkdir(parents=True, exist_ok=True)
fig.savefig(out / "dae_vs_reduced.png", dpi=110)
print(f"wrote {out / 'dae_vs_reduced.png'}")
