"""Training on ``D`` and on ``D'`` side by side, beside Theorem 3's bound (paper §3.5; :ref:`math §7 <math-7>`).

For each ``n``: the same module, from the same start ``w₀``, follows the Riemannian gradient
flow ``ẇ = −G⁻¹∇R`` (full batch, MSE, identity output metric, integrated by
``scipy.integrate.solve_ivp``, DOP853, ``rtol=1e-8``, ``atol=1e-10``) once on ``D`` and once
on ``D'`` (sample ``index`` replaced). On a time grid we record the output gap
``‖Y_D(w(t)) − Y_D(w'(t))‖`` (stacked over ``D``), the parameter gap ``‖w(t) − w'(t)‖``, the
pointwise constants ``κ, L, ξ`` at both ``w(t)`` and ``w'(t)`` (:func:`~refimpl.dynamics.stability.constants_at`),
the disturbance ``‖d(w'(t))‖`` (:func:`~refimpl.dynamics.stability.disturbance`) and the bound with the
constants' running worst case. Beside the paper's bound, the a-posteriori bound of
Theorem 3′ (:func:`~refimpl.dynamics.stability.posterior_bound`): its forcing ``‖J_D G_D⁻¹‖₂ ‖v‖ + ‖q‖``
(:func:`~refimpl.dynamics.stability.disturbance_factors`, :func:`~refimpl.dynamics.stability.kernel_drift`) and its rate
``ξ' = λ_min(Θ_D(w'))/n`` measured at every grid time; ``posterior_bound_d`` is the same
recursion driven by the measured ``‖d‖ + ‖q‖`` (the tightest this argument gives). ``κ``,
``L``, ``ξ`` and the a-posteriori terms are measured on the grid, not on the continuum
between grid points.

Data (:func:`synthetic_regression`), all from ``numpy.random.SeedSequence(seed).spawn(5)``
(children: teacher, inputs, noise, replacement, initial parameters):
``x ~ N(0, s²I/d)`` (``s = input_scale``, so ``|x| ≈ s``), targets ``t = W*x/s + σε`` with
``W* ~ N(0,1)^{k×d}``, ``ε ~ N(0, I_k)``. The data sets are nested in ``n`` (the first ``n``
rows of one stream) and the replacement sample is the same for every ``n``.

Defaults (:func:`default_config`): ``linear`` — one ``Linear(256, 2)`` (514 parameters), where
``J`` and ``Θ`` are constant and the theory is exact; ``Θ`` is positive definite because
``n ≤ d + 1`` (see :mod:`refimpl.dynamics.ntk`), and ``μ = 1e-4`` keeps ``ξ`` near 1 for every ``n`` (the mass
is small against the pull-back, ``μ ≪ λ_min([A,1][A,1]ᵀ)/n``), so the bound's ``n^{−1/2}``
is visible. ``mlp`` — ``16 → 32 → 2`` tanh (610 parameters ≥ ``nk = 256``), inputs with unit
variance per coordinate; there the contraction argument is a statement about measured constants
only, and a gap above the bound is reported as such.
"""
from __future__ import annotations

import contextlib
import csv
import json
import math
import os
import time
from dataclasses import asdict, dataclass, replace

import numpy as np
from scipy.integrate import solve_ivp

from .. import tree
from .._outputs import check_output_dir
from ..metric import build_metric
from ..modules import Linear, mlp
from ..dynamics.stability import (METRIC_MODES, _natural_gradients, constants_at, disturbance,
                                  disturbance_factors, gap_bound_from_disturbance,
                                  kernel_drift, posterior_bound, replace_sample, worst_case)

__all__ = ["StabilityConfig", "default_config", "synthetic_regression", "build_model",
           "riemannian_flow", "run_stability", "write_results", "format_table", "MODELS"]

MODELS = ("linear", "mlp")


@dataclass(frozen=True)
class StabilityConfig:
    """One experiment: a model family, the sample sizes, the metric and the time grid."""

    model: str = "linear"
    ns: tuple = (16, 32, 64, 128)
    d_in: int = 256
    k: int = 2
    hidden: int = 32
    activation: str = "tanh"
    input_scale: float = 1.0
    mass: float = 1e-4
    scope: str = "layer"
    metric: str = "own"
    t_final: float = 10.0
    n_times: int = 41
    seed: int = 0
    noise: float = 0.1
    index: int = 0

    def validated(self) -> "StabilityConfig":
        if self.model not in MODELS:
            raise ValueError(f"unknown model {self.model!r}; expected one of {MODELS}")
        if self.metric not in METRIC_MODES:
            raise ValueError(f"unknown metric {self.metric!r}; expected one of {METRIC_MODES}")
        if self.scope not in ("layer", "network"):
            raise ValueError(f"unknown scope {self.scope!r}; expected 'layer' or 'network'")
        ns = tuple(self.ns)
        if not ns or any(isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n <= 0
                         for n in ns):
            raise ValueError(f"ns must be positive ints (sample sizes), got {self.ns!r}")
        if any(n <= self.index for n in ns):
            raise ValueError(f"every n must exceed the replaced index {self.index}, got {ns}")
        for name in ("d_in", "k", "hidden", "n_times"):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, (int, np.integer)) or v <= 0:
                raise ValueError(f"{name} must be a positive int, got {v!r}")
        if self.n_times < 2:
            raise ValueError(f"n_times must be >= 2, got {self.n_times}")
        for name in ("mass", "t_final", "input_scale"):
            v = getattr(self, name)
            if not (isinstance(v, (int, float)) and math.isfinite(v) and v > 0):
                raise ValueError(f"{name} must be a finite positive number, got {v!r}")
        if not (isinstance(self.noise, (int, float)) and math.isfinite(self.noise)
                and self.noise >= 0):
            raise ValueError(f"noise must be a finite number >= 0, got {self.noise!r}")
        return replace(self, ns=tuple(sorted(int(n) for n in ns)))


def default_config(model: str = "linear", **overrides) -> StabilityConfig:
    """The documented defaults for ``"linear"`` or ``"mlp"`` (module docstring), overridden."""
    base = {"linear": StabilityConfig(),
            "mlp": StabilityConfig(model="mlp", d_in=16, hidden=32, input_scale=4.0,
                                   mass=1e-3)}
    if model not in base:
        raise ValueError(f"unknown model {model!r}; expected one of {MODELS}")
    return replace(base[model], **overrides).validated()


def build_model(config: StabilityConfig):
    if config.model == "linear":
        return Linear(config.d_in, config.k)
    return mlp([config.d_in, config.hidden, config.k], config.activation)


def synthetic_regression(n: int, d: int, k: int, *, seed: int = 0, noise: float = 0.1,
                         input_scale: float = 1.0):
    """``(X (n, d), T (n, k), x_new (d,), t_new (k,))`` from an explicit seed (module docstring)."""
    teacher, inputs, eps, new, _ = np.random.SeedSequence(seed).spawn(5)
    W = np.random.default_rng(teacher).standard_normal((k, d))
    X = input_scale * np.random.default_rng(inputs).standard_normal((n, d)) / math.sqrt(d)
    T = X @ W.T / input_scale + noise * np.random.default_rng(eps).standard_normal((n, k))
    rng = np.random.default_rng(new)
    x_new = input_scale * rng.standard_normal(d) / math.sqrt(d)
    t_new = W @ x_new / input_scale + noise * rng.standard_normal(k)
    return X, T, x_new, t_new


def initial_params(model, seed: int) -> dict:
    """``w₀`` from the fifth child of ``SeedSequence(seed)``: the same for every ``n``."""
    return model.init(np.random.default_rng(np.random.SeedSequence(seed).spawn(5)[4]))


def riemannian_flow(model, params0, data, *, mass, scope="layer", t_eval, metric_data=None,
                    rtol=1e-8, atol=1e-10):
    """Integrate ``ẇ = −G⁻¹∇R_data`` (full batch, MSE); ``G`` on ``metric_data`` (default
    ``data``). Returns ``(t, [params at t])`` on ``t_eval``."""
    like = model.check_params(params0)
    X, T = data

    def rhs(_, w):
        p = tree.unflatten(like, w)
        if metric_data is None:
            u = build_metric(model, p, X, T, loss="mse", mass=mass,
                             scope=scope).natural_gradient()[0]
        else:
            u = _natural_gradients(model, p, metric_data, data, mass, scope, "shared")[1]
        return -tree.flatten(u)

    t_eval = np.asarray(t_eval, dtype=np.float64)
    sol = solve_ivp(rhs, (0.0, float(t_eval[-1])), tree.flatten(like), method="DOP853",
                    rtol=rtol, atol=atol, t_eval=t_eval)
    if sol.status != 0:
        raise RuntimeError(f"gradient flow integration failed at t = {sol.t[-1]}: {sol.message}")
    return sol.t, [tree.unflatten(like, w) for w in sol.y.T], int(sol.nfev)


def run_one(config: StabilityConfig, n: int) -> dict:
    """Both flows for one ``n``; a summary and the time series (module docstring)."""
    model = build_model(config)
    X, T, x_new, t_new = synthetic_regression(n, config.d_in, config.k, seed=config.seed,
                                              noise=config.noise,
                                              input_scale=config.input_scale)
    D = (X, T)
    D2 = replace_sample(X, T, config.index, x_new, t_new)
    w0 = initial_params(model, config.seed)
    t_eval = np.linspace(0.0, config.t_final, config.n_times)
    kw = {"mass": config.mass, "scope": config.scope}
    t, W1, nfev1 = riemannian_flow(model, w0, D, t_eval=t_eval, **kw)
    _, W2, nfev2 = riemannian_flow(model, w0, D2, t_eval=t_eval, **kw,
                                   metric_data=D if config.metric == "shared" else None)
    rows, pointwise, d_sup, post = [], [], 0.0, []
    for ti, w1, w2 in zip(t, W1, W2):
        pointwise += [constants_at(model, w, D, D2, **kw) for w in (w1, w2)]
        c = worst_case(pointwise)
        d_norm = float(np.linalg.norm(disturbance(model, w2, D, D2, **kw, metric=config.metric)))
        d_sup = max(d_sup, d_norm)
        jg, v = disturbance_factors(model, w2, D, D2, **kw, metric=config.metric)
        q = kernel_drift(model, w1, w2, X, T, **kw)
        post.append((pointwise[-1].xi, jg * v + q, d_norm + q))
        Y1, Y2 = model(w1, X), model(w2, X)
        rows.append({
            "t": float(ti),
            "output_gap": float(np.linalg.norm(Y1 - Y2)),
            "param_gap": float(np.linalg.norm(tree.flatten(w1) - tree.flatten(w2))),
            "bound": c.bound, "kappa": c.kappa, "L": c.L, "xi": c.xi,
            "d_norm": d_norm, "d_bound": c.disturbance_bound,
            "gap_bound_from_d": gap_bound_from_disturbance(d_sup, c.xi, ti),
            "jg_norm": jg, "jg_norm_paper": math.sqrt(n) * c.kappa / c.mu, "v_norm": v,
            "q_norm": q, "xi_replaced": pointwise[-1].xi,
            "risk_D": float(0.5 * np.mean(np.sum((Y1 - T) ** 2, axis=1))),
            "risk_D_replaced": float(0.5 * np.mean(np.sum((model(w2, D2[0]) - D2[1]) ** 2,
                                                          axis=1))),
        })
    xi_p, rate, rate_d = (np.array(col) for col in zip(*post))
    for row, b, bd in zip(rows, posterior_bound(t, xi_p, rate), posterior_bound(t, xi_p, rate_d)):
        row["posterior_bound"], row["posterior_bound_d"] = float(b), float(bd)
    c = worst_case(pointwise)
    gaps = np.array([r["output_gap"] for r in rows])
    beta = np.array([r["posterior_bound"] for r in rows])
    summary = {
        "n": n, "nk": n * config.k, "n_params": model.n_params,
        "gap_final": float(gaps[-1]), "gap_max": float(gaps.max()),
        "param_gap_final": rows[-1]["param_gap"],
        "bound": c.bound, "kappa": c.kappa, "L": c.L, "mu": c.mu, "xi": c.xi,
        "lambda_min_theta": c.xi * n,
        "theta_positive_definite": bool(c.xi > 0.0),
        "holds": bool(c.xi > 0.0 and gaps.max() <= c.bound),
        "ratio_gap_to_bound": float(gaps.max() / c.bound) if math.isfinite(c.bound) else 0.0,
        "d_max": d_sup, "d_bound": c.disturbance_bound,
        "d_holds": bool(d_sup <= c.disturbance_bound),
        "metric_change_bound": c.metric_change_bound if config.metric == "own" else 0.0,
        "gap_bound_from_d": gap_bound_from_disturbance(d_sup, c.xi),
        "posterior_bound": rows[-1]["posterior_bound"],
        "posterior_bound_d": rows[-1]["posterior_bound_d"],
        "posterior_holds": bool(np.all(gaps <= beta)),
        "ratio_bound_to_gap": _ratio(c.bound, gaps[-1]),
        "ratio_posterior_to_gap": _ratio(beta[-1], gaps[-1]),
        "ratio_posterior_d_to_gap": _ratio(rows[-1]["posterior_bound_d"], gaps[-1]),
        "jg_norm_max": float(max(r["jg_norm"] for r in rows)),
        "jg_norm_paper": math.sqrt(n) * c.kappa / c.mu,
        "q_max": float(max(r["q_norm"] for r in rows)),
        "risk_D_final": rows[-1]["risk_D"], "risk_D_replaced_final": rows[-1]["risk_D_replaced"],
        "nfev": nfev1 + nfev2,
    }
    return {"summary": summary, "series": rows}


def _ratio(bound, gap) -> float:
    """``bound / gap`` (``inf`` for an infinite bound or a zero gap)."""
    return float(bound / gap) if math.isfinite(bound) and gap > 0 else math.inf


def run_stability(config: StabilityConfig, progress=None) -> dict:
    """Run every ``n`` of ``config``; ``progress(msg)`` is called after each (optional)."""
    config = config.validated()
    start = time.perf_counter()
    with _single_thread_blas():
        runs = []
        for n in config.ns:
            t0 = time.perf_counter()
            runs.append(run_one(config, n))
            if progress is not None:
                progress(f"{config.model}: n = {n} done in {time.perf_counter() - t0:.1f} s")
    violations = [r["summary"]["n"] for r in runs if not r["summary"]["holds"]]
    posterior_violations = [r["summary"]["n"] for r in runs
                            if not r["summary"]["posterior_holds"]]
    return {"config": asdict(config), "results": [r["summary"] for r in runs],
            "series": {r["summary"]["n"]: r["series"] for r in runs},
            "all_hold": not violations, "violations_n": violations,
            "posterior_all_hold": not posterior_violations,
            "posterior_violations_n": posterior_violations,
            "seconds": time.perf_counter() - start}


# -- output -----------------------------------------------------------------------------------
NOTES = {
    "bound": "2 kappa^2 L / (xi mu sqrt(n)) (Theorem 3, docs math §7), constants = worst case "
             "over both trajectories on the time grid",
    "posterior_bound": "Theorem 3' (docs math §7): beta' = -xi' beta + ||J_D G_D^-1|| ||v|| + "
                       "||q||, beta(0) = 0, each grid interval at its end points' worst case; "
                       "xi' = lambda_min(Theta_D(w'))/n on the D' trajectory",
    "posterior_bound_d": "the same recursion driven by the measured ||d|| + ||q||",
    "jg_norm": "||J_D G_D^-1||_2 through Woodbury at w' (the paper bounds it by sqrt(n) kappa/mu"
               " = jg_norm_paper)",
    "v_norm": "||v||, v = grad R_D - G_D u', u' the D' flow's natural gradient: d = J_D G_D^-1 v",
    "q_norm": "||(Theta_D(w) - Theta_D(w'))(Y_D(w) - T)|| / n, zero for a model linear in w",
    "ratios": "ratio_bound_to_gap = bound / gap_final; ratio_posterior_to_gap = "
              "posterior_bound / gap_final (both at t_final)",
    "kappa": "max_i ||J_i||_2, spectral norm of the k x P per-sample Jacobian (all parameters), "
             "over the samples of D and D'",
    "L": "max_i ||y_i - t_i||_2 (MSE loss gradient) over the samples of D and D'",
    "mu": "min of the diagonal mass M",
    "xi": "min over the grid of lambda_min(J G^-1 J^T)/n over D, G the metric on D",
    "holds": "max_t output gap <= bound (same start, so no transient to wait for); false "
             "when Theta is singular (xi = 0, no bound)",
    "metric": "own: each flow uses its own data set's metric (Algorithm 1); the paper's "
              "derivation assumes one metric, so d carries an extra term <= "
              "kappa^4 L/(mu^2 sqrt(n)) (metric_change_bound). shared: both use G_D.",
    "d": "d(w) = J_D (G_D^-1 grad R_D - G^-1 grad R_D'), measured along the D' trajectory",
}


def write_results(results: dict, out_dir, *, plots: bool = True) -> list:
    """Write ``stability.json``, ``stability_timeseries.csv`` and (optionally) the plots.

    ``results`` maps a model name to :func:`run_stability`'s output. Returns the paths written.
    ``ValueError`` if ``out_dir`` is a file or cannot be created (check it with
    :func:`refimpl._outputs.check_output_dir` before running the experiment, as the command
    does).
    """
    check_output_dir(out_dir, "--out")
    os.makedirs(out_dir, exist_ok=True)
    paths = [os.path.join(out_dir, "stability.json"),
             os.path.join(out_dir, "stability_timeseries.csv")]
    doc = {"notes": NOTES, "all_hold": all(r["all_hold"] for r in results.values()),
           "posterior_all_hold": all(r["posterior_all_hold"] for r in results.values()),
           "runs": {m: {k: v for k, v in r.items() if k != "series"}
                    for m, r in results.items()}}
    with open(paths[0], "w") as fh:
        json.dump(_finite(doc), fh, indent=2)
    fields = ["model", "n", "t", "output_gap", "param_gap", "bound", "kappa", "L", "xi",
              "d_norm", "d_bound", "gap_bound_from_d", "posterior_bound", "posterior_bound_d",
              "jg_norm", "jg_norm_paper", "v_norm", "q_norm", "xi_replaced", "risk_D",
              "risk_D_replaced"]
    with open(paths[1], "w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=fields)
        writer.writeheader()
        for m, r in results.items():
            for n, rows in r["series"].items():
                for row in rows:
                    writer.writerow({"model": m, "n": n} | row)
    if plots:
        paths += _plot_results(results, out_dir)
    return paths


def format_table(model: str, result: dict) -> str:
    """The per-``n`` table printed by ``refimpl stability``; violations spelled out."""
    cfg = result["config"]
    lines = [f"{model}: metric={cfg['metric']} scope={cfg['scope']} mass={cfg['mass']:g} "
             f"t_final={cfg['t_final']:g} seed={cfg['seed']} ({result['seconds']:.1f} s)",
             f"{'n':>5} {'gap':>10} {'bound':>10} {'posterior':>10} {'kappa':>8} {'L':>8} "
             f"{'mu':>8} {'xi':>9} {'d_max':>9} {'d_bound':>9}  holds  "
             f"{'bound/gap':>9} {'post/gap':>8}"]
    for s in result["results"]:
        holds = ("yes" if s["holds"] else "NO" if s["theta_positive_definite"] else "n/a")
        holds += "/" + ("yes" if s["posterior_holds"] else "NO")
        lines.append(f"{s['n']:>5} {s['gap_final']:>10.3e} {s['bound']:>10.3e} "
                     f"{s['posterior_bound']:>10.3e} {s['kappa']:>8.3f} {s['L']:>8.3f} "
                     f"{s['mu']:>8.1e} {s['xi']:>9.3e} {s['d_max']:>9.3e} {s['d_bound']:>9.3e}  "
                     f"{holds:<7}{s['ratio_bound_to_gap']:>9.3g} "
                     f"{s['ratio_posterior_to_gap']:>8.3g}")
    for s in result["results"]:
        if s["theta_positive_definite"] and not s["holds"]:
            lines.append(f"  VIOLATION ({model}, n = {s['n']}): measured gap {s['gap_max']:.3e} "
                         f"exceeds the bound {s['bound']:.3e}")
        if not s["posterior_holds"]:
            lines.append(f"  VIOLATION of the a-posteriori bound ({model}, n = {s['n']}): "
                         "the gap exceeded it at some grid time")
        if not s["theta_positive_definite"]:
            lines.append(f"  n = {s['n']}: Θ is singular (ξ = {s['xi']:.3e}); the theorem "
                         "gives no bound")
    return "\n".join(lines)


def _finite(obj):
    """JSON has no inf/nan: write ``null`` for them."""
    if isinstance(obj, dict):
        return {str(k): _finite(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_finite(v) for v in obj]
    if isinstance(obj, float) and not math.isfinite(obj):
        return None
    return obj


def _single_thread_blas():
    """Limit BLAS to one thread while running (small matrices on a shared machine) if
    ``threadpoolctl`` is installed; otherwise a no-op context."""
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:
        return contextlib.nullcontext()
    return threadpool_limits(1)


def _plot_results(results: dict, out_dir) -> list:
    """Per model: gap and bound against time; final gap and bound against ``n`` (log–log)."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    paths = []
    for m, r in results.items():
        fig, ax = plt.subplots(figsize=(6.4, 4.4))
        colors = plt.rcParams["axes.prop_cycle"].by_key()["color"]
        for i, (n, rows) in enumerate(r["series"].items()):
            c = colors[i % len(colors)]
            t = [row["t"] for row in rows]
            ax.plot(t, [row["output_gap"] for row in rows], color=c, label=f"gap, n={n}")
            ax.plot(t, [row["bound"] for row in rows], color=c, ls="--",
                    label=f"bound, n={n}")
            ax.plot(t, [row["posterior_bound"] for row in rows], color=c, ls="-.",
                    label=f"a posteriori, n={n}")
        ax.set_yscale("log")
        ax.set_xlabel("t (gradient-flow time)")
        ax.set_ylabel("‖Y_D − Y_D'‖ over D")
        ax.set_title(f"{m}: output gap (solid), paper's 2κ²L/(ξμ√n) (dashed),\n"
                     "a-posteriori bound of Theorem 3′ (dash-dotted)", fontsize=8)
        ax.legend(fontsize=6, ncol=3)
        paths.append(os.path.join(out_dir, f"stability_time_{m}.png"))
        fig.tight_layout()
        fig.savefig(paths[-1], dpi=120)
        plt.close(fig)

        s = r["results"]
        ns = np.array([x["n"] for x in s], dtype=float)
        bound = np.array([x["bound"] if x["bound"] is not None else np.nan for x in s], float)
        fig, ax = plt.subplots(figsize=(5.2, 4.2))
        ax.loglog(ns, [x["gap_final"] for x in s], "o-", label="measured final gap")
        ax.loglog(ns, bound, "s--", label="bound 2κ²L/(ξμ√n)")
        ax.loglog(ns, [x["posterior_bound"] for x in s], "^-.",
                  label="a posteriori (Theorem 3′)")
        finite = np.isfinite(bound)
        if finite.any():
            i0 = int(np.argmax(finite))
            ax.loglog(ns, bound[i0] * np.sqrt(ns[i0] / ns), "k-", lw=0.8, alpha=0.6,
                      label="n^(-1/2) reference")
        ax.set_xlabel("n (training samples)")
        ax.set_ylabel("output gap at t_final")
        ax.set_title(f"{m}: stability against n", fontsize=9)
        ax.legend(fontsize=7)
        paths.append(os.path.join(out_dir, f"stability_n_{m}.png"))
        fig.tight_layout()
        fig.savefig(paths[-1], dpi=120)
        plt.close(fig)
    return paths
