"""``refimpl sweep``: the command line of :func:`~refimpl.experiments.sweep.runner.run_sweep`.

Registered by :mod:`refimpl.experiments._cli`. Errors the user can fix (a bad spec, an
unreachable scheduler, Dask missing) are raised as ``ValueError``/``OSError`` and printed by
the dispatcher as one line; Ctrl-C exits with status 130 after keeping every finished run.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from .presets import PRESETS


def add_parser(subparsers) -> None:
    """Add ``sweep`` to ``subparsers``."""
    p = subparsers.add_parser(
        "sweep", help="hyperparameter sweep on Dask (grid / random search, seeds, report)",
        description="Run every point of a sweep spec (TOML or JSON; see examples/sweep_*.toml "
                    "and docs/sweep.md) as a training run on Dask: by default on a local "
                    "cluster of one single-threaded worker per core, or on the cluster at "
                    "--scheduler. Each finished run is appended to OUT/results.jsonl; running "
                    "the same command again runs only what is missing. At the end OUT/report.md "
                    "(tables, heatmaps, batch-size curves, a reading) is written.",
        epilog="presets: " + "; ".join(f"{k}: {v.summary}" for k, v in PRESETS.items()))
    p.add_argument("spec", nargs="?", metavar="SPEC", help="the sweep spec file")
    p.add_argument("--preset", choices=tuple(PRESETS), help="a built-in spec instead of SPEC (default: none, SPEC is read)")
    p.add_argument("--show-preset", choices=tuple(PRESETS), metavar="NAME",
                   help="print a preset's spec (TOML) and exit: a start for your own (default: "
                        "run the sweep)")
    p.add_argument("--out", help="output folder (default out/sweep/NAME, NAME from the spec)")
    where = p.add_mutually_exclusive_group()
    where.add_argument("--workers", type=_positive_int,
                       help="workers of the local cluster (default: one per core)")
    where.add_argument("--scheduler", metavar="ADDRESS",
                       help="run on the Dask cluster of this scheduler, tcp://host:8786 (default: "
                            "a local cluster started by the command)")
    p.add_argument("--timeout", type=float, default=5.0,
                   help="seconds to wait for --scheduler (default 5)")
    p.add_argument("--dashboard", metavar="ADDRESS",
                   help="serve the local cluster's Dask dashboard here, e.g. :8787, needs bokeh "
                        "(default: no dashboard)")
    p.add_argument("--dry-run", action="store_true",
                   help="check the spec and list the runs; run nothing")
    p.add_argument("--report-only", action="store_true",
                   help="write the report from the results in --out; run nothing")
    p.add_argument("--quiet", action="store_true", help="no progress lines")
    p.set_defaults(func=_sweep)


def _sweep(args) -> int:
    from .plan import expand
    from .report import write_report
    from .results import RESULTS, ResultsFile
    from .runner import run_sweep
    from .spec import load_spec, parse_spec

    if args.show_preset:
        sys.stdout.write(PRESETS[args.show_preset].text)
        return 0
    if (args.spec is None) == (args.preset is None):
        raise ValueError("give a spec file or --preset NAME (one of "
                         + ", ".join(PRESETS) + ")")
    if args.preset:
        spec = parse_spec(PRESETS[args.preset].text, source=f"preset {args.preset!r}",
                          default_name=args.preset)
    else:
        spec = load_spec(args.spec)
    out = Path(args.out) if args.out else Path("out") / "sweep" / spec.name
    if args.dry_run:
        plan = expand(spec)
        finished = ResultsFile(out / RESULTS).finished() & set(plan.tasks)
        for entry in spec.entries:
            pts = plan.entry_points(entry.name)
            print(f"{entry.name}: {len(pts) // len(spec.seeds)} points x {len(spec.seeds)} "
                  f"seeds ({entry.optimizer}; varies {', '.join(entry.varied) or 'nothing'})")
        print(f"{len(plan.tasks)} runs, {len(finished)} finished in {out}, "
              f"{len(plan.tasks) - len(finished)} to run")
        return 0
    if args.report_only:
        plan = expand(spec)
        latest = {k: r for k, r in ResultsFile(out / RESULTS).latest().items()
                  if k in plan.tasks}
        print(f"report: {write_report(plan, latest, out)} ({len(latest)} of "
              f"{len(plan.tasks)} runs have records)")
        return 0
    summary = run_sweep(spec, out, scheduler=args.scheduler, workers=args.workers,
                        timeout=args.timeout, dashboard=args.dashboard,
                        progress=not args.quiet)
    statuses = ", ".join(f"{n} {s}" for s, n in sorted(summary["statuses"].items()))
    print(f"sweep {spec.name!r}: {summary['finished']}/{summary['runs']} runs finished "
          f"({statuses}); report: {summary['report']}")
    return 0 if summary["finished"] == summary["runs"] else 1


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}")
    return value
