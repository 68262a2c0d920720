"""Command-line front ends: ``refimpl train``, ``refimpl reproduce``, ``refimpl data fetch``,
``refimpl sweep`` (its parser is in :mod:`refimpl.experiments.sweep._cli`).

Registered by :mod:`refimpl.cli` through :func:`register`. Handlers return an exit code and
raise ``ValueError``/``OSError``/``DivergenceError`` for errors the user can fix; the
dispatcher prints those as one line and exits with status 1 (``KeyboardInterrupt``: 130).
Option values are validated by :class:`~refimpl.experiments.config.TrainConfig`.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from ..cli import nonnegative_float, nonnegative_int, positive_float, positive_int
from ..data import NAMES as DATASETS
from ..losses import OUTPUT_METRICS
from ..optim import OPTIMIZERS


def register(subparsers) -> None:
    """Add ``train``, ``reproduce``, ``data`` (with ``fetch``) and ``sweep`` to ``subparsers``."""
    from .sweep._cli import add_parser as _add_sweep

    _add_train(subparsers)
    _add_reproduce(subparsers)
    _add_data(subparsers)
    _add_sweep(subparsers)


# -- refimpl train -------------------------------------------------------------------------
_TRAIN_OPTIONS = ("dataset", "data_dir", "model", "widths", "activation", "optimizer",
                  "output_metric", "output_damping", "mass", "damping", "metric_batch", "dtype",
                  "lr", "batch_size", "epochs", "drop_last", "seed", "max_loss_factor",
                  "eval_every")


def _add_train(subparsers) -> None:
    from ..modules.pointwise import ACTIVATIONS
    from .config import CNN_HYPER, DEFAULT_HYPER, DTYPES, METRIC_OPTIMIZERS, TrainConfig

    d = TrainConfig()
    per_optimizer = {name: "; ".join(f"{k} {h[name]}" for k, h in DEFAULT_HYPER.items()
                                     if name in h) for name in ("lr", "mass", "output_metric")}
    p = subparsers.add_parser(
        "train", help="train a classifier (checkpoints, metrics, --resume)",
        description="Train a network (--model) with softmax cross-entropy. Writes steps.jsonl, "
                    "evals.jsonl, epochs.jsonl and a checkpoint after every epoch into --out. "
                    "Options left out take the defaults below; with --resume they are read "
                    "from the checkpoint (only --epochs may change). Untimed warm-up steps "
                    "before the clock starts keep Numba compilation out of the training time.",
        epilog="Optimizer defaults (lr, mass, output metric) for --model mlp: " + "; ".join(
            f"{k}: " + ", ".join(f"{n}={v}" for n, v in h.items())
            for k, h in DEFAULT_HYPER.items()) + ". For the CNNs: " + "; ".join(
            f"{k}: " + ", ".join(f"{n}={v}" for n, v in h.items())
            for k, h in CNN_HYPER.items()))
    p.add_argument("--dataset", choices=DATASETS, help=f"data set (default {d.dataset})")
    p.add_argument("--data-dir", metavar="DIR", help="folder with the data set's files "
                   "(default: where `refimpl data fetch NAME` puts them)")
    p.add_argument("--model", help=_MODEL_HELP)
    p.add_argument("--widths", type=_widths, help="hidden widths of --model mlp, "
                   f"comma-separated; '' for a linear model (default "
                   f"{','.join(map(str, d.widths))})")
    p.add_argument("--activation", choices=tuple(ACTIVATIONS),
                   help=f"activation of the hidden layers of --model mlp (default "
                        f"{d.activation})")
    p.add_argument("--optimizer", choices=tuple(OPTIMIZERS),
                   help=f"optimizer (default {d.optimizer})")
    p.add_argument("--output-metric", choices=OUTPUT_METRICS,
                   help=f"output metric of {' / '.join(METRIC_OPTIMIZERS)} (default: "
                        f"{per_optimizer['output_metric']})")
    p.add_argument("--output-damping", type=nonnegative_float, metavar="TAU",
                   help=f"{' / '.join(METRIC_OPTIMIZERS)}: add TAU times the identity to the "
                   "output metric (damps the change of the outputs; default 0)")
    p.add_argument("--mass", type=positive_float, help=f"mass mu of "
                   f"{' / '.join(METRIC_OPTIMIZERS)} (default: {per_optimizer['mass']})")
    p.add_argument("--damping", choices=("fixed", "adaptive", "adaptive-reject"),
                   help=f"{' / '.join(METRIC_OPTIMIZERS)}: keep mu (fixed, the default) or "
                   "adapt it from --mass by the Levenberg-Marquardt rule (adaptive; "
                   "adaptive-reject also skips steps that raise the batch loss)")
    p.add_argument("--metric-batch", type=positive_int, help=f"{' / '.join(METRIC_OPTIMIZERS)}: "
                   "build the metric from this many of each batch's samples (default: all)")
    p.add_argument("--dtype", choices=DTYPES, help="float type of every training step: "
                   "float32 runs the whole step (the metric included) in float32 "
                   f"(default {d.dtype})")
    p.add_argument("--lr", type=positive_float,
                   help=f"learning rate (default: {per_optimizer['lr']})")
    p.add_argument("--batch-size", type=positive_int,
                   help=f"mini-batch size (default {d.batch_size})")
    p.add_argument("--epochs", type=positive_int,
                   help=f"epochs to train to (default {d.epochs})")
    p.add_argument("--drop-last", action=argparse.BooleanOptionalAction, default=None,
                   help="skip each epoch's short last batch (default: yes)")
    p.add_argument("--seed", type=nonnegative_int, help=f"seed of the initialisation and the "
                   f"shuffling (default {d.seed})")
    p.add_argument("--max-loss-factor", type=positive_float, help="stop as diverged when a "
                   f"batch loss exceeds this times the first one (default {d.max_loss_factor:g})")
    p.add_argument("--eval-every", type=nonnegative_int, help="test-set evaluation every so "
                   "many steps (default 0: at epoch ends)")
    p.add_argument("--out", default="out/train", metavar="DIR",
                   help="run directory (default out/train)")
    p.add_argument("--resume", action="store_true",
                   help="continue the run whose checkpoint is in --out")
    p.add_argument("--overwrite", action="store_true",
                   help="start afresh even if --out holds a run (its run files are replaced)")
    p.set_defaults(func=_train)


def _train(args) -> int:
    from .._outputs import check_output_dir
    from .checkpoint import load_checkpoint
    from .config import TrainConfig
    from .training import train

    check_output_dir(args.out, "--out")
    given = {k: getattr(args, k) for k in _TRAIN_OPTIONS if getattr(args, k) is not None}
    _check_mlp_options(given.get("model", "mlp"), given)
    if args.resume:
        if args.overwrite:
            raise ValueError("--resume and --overwrite exclude each other")
        saved = TrainConfig.from_dict(load_checkpoint(args.out).meta["config"])
        config = saved.replace(**given)
    else:
        config = TrainConfig(**given)
    result = train(config, args.out, resume=args.resume, overwrite=args.overwrite)
    last = result.epochs[-1]
    print(f"trained {config.optimizer} to epoch {last['epoch']}: train loss "
          f"{last['train_loss']:.4f}, test accuracy {100 * last['test_accuracy']:.1f}%, "
          f"{last['time']:.1f} s training ({last['cpu_time']:.1f} s CPU; warm-up "
          f"{result.warmup_seconds:.2f} s before the clock, {result.compile_seconds:.2f} s of "
          f"it one-off compilation); run files in {Path(args.out)}")
    return 0


# -- refimpl reproduce ---------------------------------------------------------------------
def _add_reproduce(subparsers) -> None:
    from .reproduction import CNN_PLAN, PLAN

    p = subparsers.add_parser(
        "reproduce", help="the paper's optimizer comparison (report, summary, plots)",
        description="Train SGD, Adam, Riemannian SGD (identity and Gauss-Newton output "
                    "metric, the latter also with adaptive damping), network-scope damped "
                    "Gauss-Newton and K-FAC from the same "
                    "initialisation and batch order; write report.md, summary.json, the "
                    "metrics and PNG plots into --out (built beside it, then renamed into "
                    "place).")
    p.add_argument("--dataset", choices=DATASETS, default="mnist-5k",
                   help="data set (default mnist-5k, shipped; the others need their files, "
                   "see `refimpl data fetch`, and take 12-15x longer per epoch: consider "
                   "--epochs 1)")
    p.add_argument("--data-dir", metavar="DIR", help="folder with the data set's files "
                   "(default: where `refimpl data fetch NAME` puts them)")
    p.add_argument("--epochs", type=positive_int, help="epochs for every optimizer (default: "
                   "per optimizer; --model mlp: "
                   + ", ".join(f"{k} {r.epochs}" for k, r in PLAN.items()) + "; a CNN: "
                   + ", ".join(f"{k} {r.epochs}" for k, r in CNN_PLAN.items()) + ")")
    p.add_argument("--optimizers", type=_names, default=None,
                   help="comma-separated subset of the model's comparison (--model mlp: "
                   + ",".join(PLAN) + "; a CNN: " + ",".join(CNN_PLAN)
                   + "; default: all of them)")
    p.add_argument("--seed", type=nonnegative_int, default=0, help="seed (default 0)")
    p.add_argument("--model", default="mlp", help=_MODEL_HELP + " (default mlp)")
    p.add_argument("--widths", type=_widths, help="hidden widths of --model mlp "
                   "(default 256,256)")
    p.add_argument("--batch-size", type=positive_int, default=128,
                   help="mini-batch size (default 128)")
    p.add_argument("--out", default="out/reproduce", metavar="DIR",
                   help="output folder (default out/reproduce)")
    p.add_argument("--overwrite", action="store_true",
                   help="replace an earlier comparison in --out, the whole folder")
    p.set_defaults(func=_reproduce)


def _reproduce(args) -> int:
    from .reproduction import check_reproduce_out, reproduce

    _check_mlp_options(args.model, {"widths": args.widths} if args.widths is not None else {})
    check_reproduce_out(args.out, args.overwrite)
    summary = reproduce(args.out, dataset=args.dataset, data_dir=args.data_dir,
                        epochs=args.epochs, optimizers=args.optimizers, seed=args.seed,
                        model=args.model,
                        widths=(256, 256) if args.widths is None else args.widths,
                        batch_size=args.batch_size, overwrite=args.overwrite)
    print(f"report: {Path(args.out) / 'report.md'}  (summary.json and plots beside it; "
          f"{summary['setup']['total_seconds']:.0f} s in all)")
    return 0


# -- refimpl data fetch --------------------------------------------------------------------
def _add_data(subparsers) -> None:
    from ..data import SOURCES

    p = subparsers.add_parser("data", help="data sets: fetch")
    sub = p.add_subparsers(dest="data_command", metavar="ACTION")
    f = sub.add_parser("fetch", help="download a data set and verify its SHA-256",
                       description="Download the files of a data set into --data-dir "
                                   "(default: NAME in the data home — $REFIMPL_DATA, else "
                                   "$XDG_DATA_HOME/refimpl, else ~/.local/share/refimpl — "
                                   "where `refimpl train --dataset NAME` looks) and verify "
                                   "sizes and SHA-256. A file is renamed into place only once "
                                   "verified; a failed fetch leaves no file and no folder "
                                   "behind.")
    f.add_argument("name", metavar="NAME", help="one of " + ", ".join(SOURCES))
    f.add_argument("--data-dir", "--dir", dest="dir", metavar="DIR",
                   help="target folder (default: NAME in the data home, the folder "
                        "`refimpl train --dataset NAME` reads without --data-dir)")
    f.add_argument("--base-url", metavar="URL", help="a mirror to download from (checksums "
                   "still apply; default: the data set's pinned host)")
    f.set_defaults(func=_fetch)
    p.set_defaults(func=lambda args: _usage(p))


def _fetch(args) -> int:
    from .._outputs import check_output_dir
    from ..data import SOURCES, default_directory, fetch
    from .progress import ProgressBar

    if args.name not in SOURCES:
        raise ValueError(f"unknown data set {args.name!r} to fetch; expected one of "
                         + ", ".join(SOURCES) + " (mnist-5k ships with refimpl)")
    directory = Path(args.dir) if args.dir else default_directory(args.name)
    check_output_dir(directory, "--data-dir")
    bars = {}

    def progress(filename, done, total):
        if filename not in bars:
            for bar in bars.values():
                bar.close()
            bars[filename] = ProgressBar(total, label=filename, unit="B")
        bars[filename].update(done)

    try:
        paths = fetch(args.name, directory, base_url=args.base_url, progress=progress)
    finally:
        for bar in bars.values():
            bar.close()
    print(f"{args.name}: {len(paths)} verified files in {directory}")
    return 0


# -- helpers -------------------------------------------------------------------------------
_MODEL_HELP = ("mlp (default; --widths, --activation), cnn (a small CNN for 28x28 images), "
               "3c3d (DeepOBS cifar10_3c3d, 32x32x3), or the path of an architecture .json "
               "file")


def _check_mlp_options(model, given) -> None:
    """``--widths`` and ``--activation`` describe the MLP; with another model they are an error."""
    extra = [f"--{k}" for k in ("widths", "activation") if k in given]
    if model != "mlp" and extra:
        raise ValueError(f"{' and '.join(extra)} apply to --model mlp only, not to "
                         f"--model {model}; drop {'them' if len(extra) > 1 else 'it'}")


def _usage(parser) -> int:
    parser.print_help(sys.stderr)
    return 2


def _widths(text: str) -> tuple:
    """``"256,256"`` → ``(256, 256)``; ``""`` → ``()``."""
    try:
        widths = tuple(int(w) for w in text.split(",") if w.strip())
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"widths must be comma-separated positive integers like 256,256, got {text!r}"
        ) from None
    if any(w < 1 for w in widths):
        raise argparse.ArgumentTypeError(f"widths must be positive, got {text!r}")
    return widths


def _names(text: str) -> tuple:
    from .reproduction import PLAN

    names = tuple(n.strip() for n in text.split(",") if n.strip())
    unknown = [n for n in names if n not in PLAN]
    if unknown or not names:
        raise argparse.ArgumentTypeError(
            f"unknown optimizer(s) {', '.join(unknown) or repr(text)}; choose from "
            + ",".join(PLAN))
    return names
