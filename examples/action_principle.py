"""
The action principle on the Poincaré half-plane (§1)
=====================================================

Gradient flow is the least-action path (:ref:`math §1 <math-1>`, paper §2). On the half-plane
with the hyperbolic metric ``g = I/y²`` and a bowl ``f = ½x² + ½log²y``, Riemannian gradient
descent ``ẋ = −g⁻¹∇f = −y²∇f`` from three starting points attains the lower bound
``|f(x_T) − f(x_0)|`` of the action (1); perturbed paths with the *same end points* exceed it.
Then the Hamiltonian ``H = ½ẋᵀgẋ − ½∇fᵀg⁻¹∇f`` along those paths (zero on gradient flow,
Theorem 1; not on the perturbed paths), and the energy error ``|H(t) − H(0)|`` of Hamilton's
flow (Theorem 2) from a kicked momentum, integrated by DOP853 at rtol 1e-10.

Run: ``python examples/action_principle.py [--out DIR]`` (default ``out/action_principle/``;
a few seconds): writes ``paths.png`` and ``hamiltonian.png`` and prints their paths.
"""
import argparse
import os
import tempfile
from pathlib import Path as FilePath

import numpy as np

from refimpl.dynamics import (PoincareHalfPlane, action_of_trajectory, gradient_flow, half_plane_bowl, hamilton_flow,
                              hamiltonian, momentum)

STARTS = [(-2.0, 3.0), (1.8, 0.25), (2.2, 2.5)]
PERTURBATIONS = [(np.array([0.0, 0.35]), 1), (np.array([0.3, 0.0]), 2)]   # (vector, number of half-waves)
HORIZON = 3.0


def hamiltonian_along(metric, f, path, times):
    """``H(x(t), g(x)ẋ(t))`` at the given times."""
    return np.array([hamiltonian(metric, f, path.position(t), momentum(metric, path.position(t), path.velocity(t)))
                     for t in times])


def save_atomically(fig, target: FilePath) -> None:
    """Write ``fig`` to a temporary file next to ``target``, then rename it into place."""
    fd, tmp = tempfile.mkstemp(prefix=target.stem + ".", suffix=".png.tmp", dir=target.parent)
    os.close(fd)
    try:
        fig.savefig(tmp, dpi=120, format="png", bbox_inches="tight")
        os.replace(tmp, target)
    except BaseException:
        os.unlink(tmp)
        raise


def main(out="out/action_principle", close=True):
    """Draw both figures, write them to ``out``; return the paths (and keep the figures open
    with ``close=False``, for the gallery)."""
    import matplotlib.pyplot as plt

    out = FilePath(out)
    out.mkdir(parents=True, exist_ok=True)
    metric, f = PoincareHalfPlane(), half_plane_bowl(center=(0.0, 1.0), weights=(1.0, 1.0))

    # -- the paths and their actions --------------------------------------------------------
    runs = []
    for start in STARTS:
        flow = gradient_flow(metric, f, start, (0.0, HORIZON))
        path = flow.trajectory()
        bound = f.value(flow.x[0]) - f.value(flow.x[-1])
        entry = {"start": start, "path": path, "S": action_of_trajectory(metric, f, path), "bound": bound, "perturbed": []}
        for vector, mode in PERTURBATIONS:
            p = path.perturbed(vector, mode)
            entry["perturbed"].append((mode, p, action_of_trajectory(metric, f, p)))
        runs.append(entry)
        print(f"start {start}: |Δf| = {bound:.6f}, S(descent) = {entry['S']:.6f} "
              f"(gap {entry['S'] - bound:.1e}), S(perturbed) = "
              + ", ".join(f"{S:.4f}" for _, _, S in entry["perturbed"]))

    fig, ax = plt.subplots(figsize=(9.5, 6.0))
    xs, ys = np.linspace(-2.8, 2.8, 300), np.linspace(0.05, 3.6, 300)
    XX, YY = np.meshgrid(xs, ys)
    FF = 0.5 * XX**2 + 0.5 * np.log(YY) ** 2
    levels = np.quantile(FF, np.linspace(0.02, 0.9, 14))
    ax.contour(XX, YY, FF, levels=levels, colors="0.75", linewidths=0.8)
    ts = np.linspace(0.0, HORIZON, 400)
    colors = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    for run, c in zip(runs, colors):
        P = np.array([run["path"].position(t) for t in ts])
        ax.plot(P[:, 0], P[:, 1], color=c, lw=2.2,
                label=f"descent from {run['start']}: S = {run['S']:.4f} = |Δf| = {run['bound']:.4f}")
        for (mode, p, S), style in zip(run["perturbed"], ["--", ":"]):
            Q = np.array([p.position(t) for t in ts])
            ax.plot(Q[:, 0], Q[:, 1], color=c, lw=1.4, ls=style, label=f"   perturbed ({mode} half-wave{'s' * (mode > 1)}): S = {S:.4f}")
        ax.plot(*P[0], "o", color=c)
        ax.plot(*P[-1], "s", color=c, ms=4)
    ax.plot(0.0, 1.0, "k*", ms=10, label="minimum of f")
    ax.set(xlabel="x", ylabel="y", xlim=(-2.8, 2.8), ylim=(0.0, 3.6),
           title="Gradient descent on the half-plane g = I/y² is the least-action path\n"
                 "f = ½x² + ½log²y; paths with the same end points have larger action")
    ax.legend(fontsize=7.5, loc="upper left", bbox_to_anchor=(1.01, 1.0))
    fig.tight_layout()
    written = [out / "paths.png"]
    save_atomically(fig, written[-1])
    if close:
        plt.close(fig)

    # -- the Hamiltonian along the paths, and Hamilton's flow ------------------------------
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(11.0, 4.2))
    tt = np.linspace(0.0, HORIZON, 121)
    for run, c in zip(runs, colors):
        ax1.plot(tt, hamiltonian_along(metric, f, run["path"], tt), color=c, lw=2.2, label=f"descent from {run['start']}")
        for (mode, p, _), style in zip(run["perturbed"], ["--", ":"]):
            ax1.plot(tt, hamiltonian_along(metric, f, p, tt), color=c, lw=1.2, ls=style)
    ax1.axhline(0.0, color="k", lw=0.6)
    ax1.set(xlabel="t", ylabel="H(x, gẋ)", title="H = 0 on gradient flow (Theorem 1);\n"
            "dashed/dotted: perturbed paths")
    ax1.legend(fontsize=8)

    x0 = np.array(STARTS[0])
    for kick, c in zip([0.0, 0.05, 0.1], colors):
        p0 = -f.gradient(x0) + kick * np.array([1.0, -1.0])
        ham = hamilton_flow(metric, f, x0, p0, (0.0, 1.0))
        err = np.abs(ham.energy - ham.energy[0])
        ax2.semilogy(ham.t[1:], np.maximum(err[1:], 1e-17), ".-", color=c, ms=3,
                     label=f"p₀ = −∇f + {kick}·(1, −1): H₀ = {ham.energy[0]:+.3f}, drift {ham.energy_drift:.1e}")
        print(f"Hamilton's flow, kick {kick}: H0 = {ham.energy[0]:+.6f}, energy drift {ham.energy_drift:.2e} "
              f"over {ham.t.size} steps")
    ax2.set(xlabel="t", ylabel="|H(t) − H(0)|", title="Energy error of Hamilton's flow (Theorem 2)\nDOP853, rtol 1e-10")
    ax2.legend(fontsize=7.5)
    fig.tight_layout()
    written.append(out / "hamiltonian.png")
    save_atomically(fig, written[-1])
    if close:
        plt.close(fig)
    for w in written:
        print(f"wrote {w}")
    return written


# %%
# Both figures, drawn by :func:`main` (the legend gives every path's action).
if __name__ == "__main__":
    parser = argparse.ArgumentParser(description="gradient flow as the least-action path")
    parser.add_argument("--out", default="out/action_principle", help="output directory (default: %(default)s)")
    main(parser.parse_args().out, close=False)
