"""``refimpl stability``: Theorem 3's bound beside training on ``D`` and ``D'`` (:ref:`math §7 <math-7>`).

Registered by :mod:`refimpl.cli`. Runs :func:`~refimpl.experiments.stability.run_stability` for the
linear model (theory exact), the tanh MLP, or both (default), prints the per-``n`` table with
any violation of the bound (the paper's and the a-posteriori Theorem 3′) spelled out, and
writes ``stability.json``, ``stability_timeseries.csv`` and the plots to ``--out`` (checked
before the experiment runs). The exit status is 0 when the experiment ran, whether or not the
bound held (that is reported, not an error).
"""
from __future__ import annotations

import sys

from ..cli import int_at_least, nonnegative_float, nonnegative_int, positive_float, positive_int
from ..dynamics.stability import METRIC_MODES

DEFAULT_OUT = "out/stability"


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "stability", help="algorithmic stability experiment (Theorem 3)",
        description="Train the same module by Riemannian gradient flow on D and on D' (one "
                    "sample replaced) from the same start and compare the output gap with "
                    "Theorem 3's bound 2κ²L/(ξμ√n) and with the a-posteriori bound of "
                    "Theorem 3′ (measured ‖J_D G⁻¹‖ and disturbance). Defaults: linear = Linear(256, 2), μ = 1e-4; "
                    "mlp = 16-32-2 tanh, μ = 1e-3; n = 16,32,64,128; t ∈ [0, 10]; seed 0.")
    p.add_argument("--out", default=DEFAULT_OUT, metavar="DIR",
                   help=f"output directory (default: {DEFAULT_OUT})")
    p.add_argument("--model", choices=("linear", "mlp", "both"), default="both",
                   help="linear (theory exact), mlp (nonlinear), or both (default)")
    p.add_argument("--n", default=None, metavar="N1,N2,...",
                   help="comma-separated training-set sizes (default 16,32,64,128)")
    p.add_argument("--mass", type=positive_float, default=None,
                   help="scalar mass μ (default: 1e-4 for linear, 1e-3 for mlp)")
    p.add_argument("--d", type=positive_int, default=None, dest="d_in", metavar="D",
                   help="input dimension (default: 256 for linear, 16 for mlp)")
    p.add_argument("--k", type=positive_int, default=None,
                   help="output dimension (default 2)")
    p.add_argument("--hidden", type=positive_int, default=None,
                   help="MLP hidden width (default 32)")
    p.add_argument("--t-final", type=positive_float, default=None,
                   help="flow time (default 10)")
    p.add_argument("--n-times", type=int_at_least(2), default=None,
                   help="time-grid points, at least 2 (default 41)")
    p.add_argument("--metric", choices=METRIC_MODES, default=None,
                   help="own: each flow uses its data set's metric (default); shared: both "
                        "use D's")
    p.add_argument("--scope", choices=("layer", "network"), default=None,
                   help="layerwise metric (default) or one metric over all parameters")
    p.add_argument("--seed", type=nonnegative_int, default=None,
                   help="data and initialisation seed (default 0)")
    p.add_argument("--noise", type=nonnegative_float, default=None,
                   help="target noise σ (default 0.1)")
    p.add_argument("--no-plots", action="store_true", help="skip the matplotlib plots")
    p.set_defaults(func=run)


def parse_ns(text: str) -> tuple:
    """``"16,32"`` → ``(16, 32)``; anything else is a ValueError naming the bad entry."""
    out = []
    for part in text.split(","):
        try:
            n = int(part.strip())
        except ValueError:
            raise ValueError(f"--n must be comma-separated positive integers, got {part!r} "
                             f"in {text!r}") from None
        if n <= 0:
            raise ValueError(f"--n must be positive integers (sample sizes), got {n}")
        out.append(n)
    return tuple(out)


def run(args) -> int:
    from .._outputs import check_output_dir
    from .stability import default_config, format_table, run_stability, write_results

    check_output_dir(args.out, "--out")
    overrides = {name: getattr(args, name) for name in
                 ("mass", "d_in", "k", "hidden", "t_final", "n_times", "metric", "scope",
                  "seed", "noise") if getattr(args, name) is not None}
    if args.n is not None:
        overrides["ns"] = parse_ns(args.n)
    models = ("linear", "mlp") if args.model == "both" else (args.model,)
    configs = {m: default_config(m, **overrides) for m in models}     # validate all first
    results = {}
    for m, config in configs.items():
        results[m] = run_stability(config, progress=lambda msg: print(msg, file=sys.stderr))
        print(format_table(m, results[m]))
        print()
    paths = write_results(results, args.out, plots=not args.no_plots)
    verdict = ("the measured gap stayed below the bound in every run"
               if all(r["all_hold"] for r in results.values())
               else "the measured gap EXCEEDED the bound (or Θ was singular) in: "
               + ", ".join(f"{m} n={n}" for m, r in results.items() for n in r["violations_n"]))
    print(verdict)
    print("the a-posteriori bound (Theorem 3′) "
          + ("held at every grid time in every run"
             if all(r["posterior_all_hold"] for r in results.values())
             else "was EXCEEDED in: " + ", ".join(
                 f"{m} n={n}" for m, r in results.items() for n in r["posterior_violations_n"])))
    print("wrote " + ", ".join(paths))
    return 0
