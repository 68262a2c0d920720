"""Experiments: the training command, the default reproduction, their reports and plots.

    train(config, out, *, resume=False, ...) -> TrainResult   refimpl.experiments.training
    TrainConfig (validated, JSON-able run configuration)      refimpl.experiments.config
    reproduce(out, *, dataset="mnist-5k", ...) -> summary     refimpl.experiments.reproduction
    save_checkpoint / load_checkpoint (atomic, no pickle)     refimpl.experiments.checkpoint
    MetricsLog, read_records, truncate_after (JSON lines)     refimpl.experiments.metrics_log
    ProgressBar (one \\r-redrawn line on stderr)               refimpl.experiments.progress
    plot_comparison (matplotlib, imported lazily)             refimpl.experiments.plots
    render_report (report.md from summary.json's dict)        refimpl.experiments.report

The command-line front ends (``refimpl train``, ``refimpl reproduce``, ``refimpl data fetch``)
are in ``_cli.py``. Importing this package trains, reads and downloads nothing.
"""
from .checkpoint import Checkpoint, load_checkpoint, save_checkpoint
from .config import DEFAULT_HYPER, TrainConfig
from .reproduction import PLAN, reproduce
from .training import TrainResult, train

__all__ = ["Checkpoint", "DEFAULT_HYPER", "PLAN", "TrainConfig", "TrainResult",
           "load_checkpoint", "reproduce", "save_checkpoint", "train"]
