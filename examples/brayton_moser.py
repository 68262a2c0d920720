"""
Brayton–Moser: a nonlinear circuit as a gradient flow (Remark 2)
=================================================================

A source ``E`` drives a current ``i`` through a nonlinear resistor (voltage ``R i + ρ i³``)
and an inductor ``L`` into a capacitor ``C`` (voltage ``v``) loaded by a nonlinear
conductance (current ``G v + σ v³``). Kirchhoff's laws,

    L di/dt = E − R i − ρ i³ − v,        C dv/dt = i − G v − σ v³,

are the Brayton–Moser equations ``L di/dt = −∂P/∂i``, ``C dv/dt = +∂P/∂v`` of the mixed
potential ``P(i, v) = ½Ri² + ¼ρi⁴ − Ei + iv − ½Gv² − ¼σv⁴`` (:ref:`math §8 <math-8>`):
descent in the currents with the metric ``L``, ascent in the voltages with the metric ``C``.

The script checks, as §1 does for gradient flow: the action of eq. (1) with the indefinite
metric ``Q = diag(L, −C)`` equals ``P(z₀) − P(z_T)`` on the flow but is a saddle there;
after the transformation ``P_λ = λP + ½∇PᵀQ⁻¹∇P``, ``Q_λ = λQ + ∇²P`` (positive definite for
this overdamped circuit) the flow is Riemannian gradient descent and its action is the
minimum ``|ΔP_λ|``. Run: ``python examples/brayton_moser.py [--out DIR]`` (a few seconds;
default ``out/brayton_moser``).
"""
import argparse
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np

from refimpl.dynamics import action_of_trajectory, hamiltonian
from refimpl.dynamics.brayton_moser import (admissible_lambdas, admissible_pair,
                                            brayton_moser_flow, pseudo_action, series_rlc)

parser = argparse.ArgumentParser(description="Brayton–Moser equations as a gradient flow")
parser.add_argument("--out", default="out/brayton_moser", help="directory for the PNG files")
args = parser.parse_args()

circuit = series_rlc(L=1.0, C=1.0, R=3.0, rho=0.5, G=0.2, sigma=0.05, E=1.0)
starts = [np.array(z) for z in ([-1.0, 1.5], [1.5, -1.0], [-0.5, -1.2])]
T = 4.0
flows = [brayton_moser_flow(circuit, z0, (0.0, T)) for z0 in starts]

# %%
# A positive-definite metric for this circuit
# -------------------------------------------
# ``Q_λ = λQ + ∇²P`` is positive definite for ``λ`` in an interval whose ends are real
# eigenvalues of the flow's Jacobian; intersected over every state the flows visit:
states = np.concatenate([Z for _, Z, _ in flows])
lo, hi = admissible_lambdas(circuit, states)
lam = 0.5 * (lo + hi)
metric, P_lam = admissible_pair(circuit, lam)
print(f"Q_λ ≻ 0 along all three flows for λ ∈ ({lo:.4f}, {hi:.4f}); using λ = {lam:.4f}")

# %%
# The phase plane: level sets of ``P_λ`` (the flow descends them) and the trajectories.
ii, vv = np.meshgrid(np.linspace(-1.6, 1.8, 60), np.linspace(-1.6, 1.8, 60))
PP = np.array([[P_lam.value(np.array([a, b])) for a, b in zip(ra, rb)] for ra, rb in zip(ii, vv)])
fig1, ax = plt.subplots(figsize=(6.2, 5.2))
ax.contour(ii, vv, PP, levels=np.quantile(PP, np.linspace(0.01, 0.6, 16)), colors="0.7",
           linewidths=0.8)
for (t, Z, _), c in zip(flows, ["C0", "C1", "C2"]):
    ax.plot(Z[:, 0], Z[:, 1], color=c, lw=2)
    ax.plot(*Z[0], "o", color=c)
ax.plot(*flows[0][1][-1], "k*", ms=10, label="equilibrium")
ax.set(xlabel="inductor current i", ylabel="capacitor voltage v",
       title=f"Brayton–Moser flow and level sets of P_λ (λ = {lam:.3f})")
ax.legend()
fig1.tight_layout()

# %%
# The action on the flow and on fixed-end variations
# --------------------------------------------------
# For the first trajectory, add ``a·sin(mπs)`` to the current or to the voltage (zero at both
# ends) and compare both actions with their values on the flow. With ``Q = diag(L, −C)`` the
# flow is a saddle (voltage variations *lower* the action); with ``Q_λ`` it is the minimum.
_, Z, path = flows[0]
drop_P = circuit.potential_value(Z[0]) - circuit.potential_value(Z[-1])
drop_lam = P_lam.value(Z[0]) - P_lam.value(Z[-1])
S_Q = pseudo_action(circuit, path).action
S_lam = action_of_trajectory(metric, P_lam, path)
print(f"on the flow: S_Q = {S_Q:.10f}, P(z0) − P(zT) = {drop_P:.10f}")
print(f"on the flow: S_λ = {S_lam:.10f}, P_λ(z0) − P_λ(zT) = {drop_lam:.10f}")
amps = np.linspace(-0.15, 0.15, 7)
fig2, axes = plt.subplots(1, 2, figsize=(10.5, 4.0))
for ax, (name, direction) in zip(axes, [("current", [1.0, 0.0]), ("voltage", [0.0, 1.0])]):
    for mode, style in ((1, "-"), (4, "--")):
        SQ = [pseudo_action(circuit, path.perturbed(a * np.array(direction), mode)).action
              for a in amps]
        SL = [action_of_trajectory(metric, P_lam, path.perturbed(a * np.array(direction), mode),
                             ) for a in amps]
        ax.plot(amps, np.array(SQ) - drop_P, "C3" + style, label=f"S_Q − (−ΔP), mode {mode}")
        ax.plot(amps, np.array(SL) - drop_lam, "C0" + style, label=f"S_λ − |ΔP_λ|, mode {mode}")
    ax.axhline(0.0, color="k", lw=0.6)
    ax.set(xlabel=f"amplitude of the {name} variation", ylabel="action minus its value on the flow",
           title=f"variations of the {name}")
    ax.legend(fontsize=7)
fig2.tight_layout()

# %%
# The Hamiltonian ``H_λ = ½pᵀQ_λ⁻¹p − ½∇P_λᵀQ_λ⁻¹∇P_λ`` with ``p = Q_λż`` vanishes along the
# flow (Theorem 1), and ``P_λ`` decreases: it is a Lyapunov function (Brayton–Moser).
t = np.linspace(0.0, T, 200)
H = [hamiltonian(metric, P_lam, path.position(s), metric.matrix(path.position(s)) @
                 path.velocity(s)) for s in t]
print(f"max |H_λ| along the flow: {np.max(np.abs(H)):.2e}")
fig3, (a1, a2) = plt.subplots(1, 2, figsize=(10.0, 3.6))
a1.plot(t, [P_lam.value(path.position(s)) for s in t])
a1.set(xlabel="t", ylabel="P_λ(z(t))", title="P_λ decreases along the flow")
a2.semilogy(t, np.maximum(np.abs(H), 1e-18))
a2.set(xlabel="t", ylabel="|H_λ|", title="the Hamiltonian vanishes (to rounding)")
fig3.tight_layout()

# %%
# Save the figures (``--out``).
out = Path(args.out)
out.mkdir(parents=True, exist_ok=True)
for name, fig in (("phase_plane", fig1), ("variations", fig2), ("hamiltonian", fig3)):
    fig.savefig(out / f"{name}.png", dpi=110)
    print(f"wrote {out / (name + '.png')}")
