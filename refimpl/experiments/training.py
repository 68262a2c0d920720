"""``train``: mini-batch training of a classifier with checkpoints, metrics and resume.

One run lives in one output directory ``out``:

====================  ========================================================================
``checkpoint.json``   the last good checkpoint (:mod:`refimpl.experiments.checkpoint`), with
+ two ``.npz``        the configuration, epoch, step, shuffling-RNG state, elapsed time
``steps.jsonl``       per step: ``step``, ``epoch``, ``loss`` (the batch risk before the step),
                      ``time``, ``cpu_time`` and the optimizer's numeric diagnostics
                      (``grad_norm``, ``update_norm``; for the metric optimizers also
                      ``inner_size``, ``condition``, ``residual``)
``evals.jsonl``       test-set evaluations (``step``, ``epoch`` as a fraction, ``time``,
                      ``test_loss``, ``test_accuracy``): at the start, every ``eval_every``
                      steps and at each epoch end
``epochs.jsonl``      per epoch (epoch 0 is the initialisation): ``epoch``, ``step``,
                      ``epoch_loss`` (mean batch loss over the epoch), ``train_loss`` (the whole
                      training set at the epoch's end), ``test_loss``, ``test_accuracy``,
                      ``seconds`` and ``cpu_seconds`` (this epoch's training time, wall and
                      process CPU), ``time`` and ``cpu_time``, ``other_cores`` (the average
                      number of cores other processes kept busy meanwhile,
                      :mod:`~refimpl.experiments.machine`), ``warmup_seconds`` and
                      ``compile_seconds`` (below)
====================  ========================================================================

``time`` is cumulative *training* seconds (optimizer steps and batching, not evaluation or
checkpointing), carried across resumes; ``cpu_time`` the process CPU seconds (all threads)
spent in the same sections. Accuracies are fractions.

Warm-up: before its clock starts, every session (a new run or a resumed one) takes untimed
steps on the first batch (in data order; the shuffling generator is not touched) and
discards them — ``update`` is pure, so the run is unchanged: two of the full batch size and,
when the epoch ends in a shorter batch, one of that size. The first pays the one-off costs
(Numba compiling the metric kernels, or loading them from its cache; BLAS starting its
threads; first-touch memory), so the timed steps do not. The session's first trained epoch
record carries ``warmup_seconds`` (all untimed steps) and ``compile_seconds`` (the first
step's time minus the second's: the one-off part); the other records carry 0.

Determinism: ``SeedSequence(seed).spawn(2)`` gives two generators, one initialising the
parameters, one drawing a permutation of the training set per epoch. A checkpoint is written
at the start and after every epoch; it stores the shuffling generator's state, so
``resume=True`` continues with the same batches and the same optimizer state, and the
parameters after ``E`` epochs are bit-for-bit those of an uninterrupted run. On resume the
metrics files are cut back to the checkpoint's step (:func:`~refimpl.experiments.metrics_log.
truncate_after`) before the run appends to them, so no step appears twice.

Stopping: a non-finite loss or update (``DivergenceError`` from the optimizer) or a batch loss
above ``max_loss_factor`` times the run's first batch loss raises ``DivergenceError``;
``KeyboardInterrupt`` is re-raised. In both cases no checkpoint is written after the last
good one, which stays in ``out`` for ``resume=True``.
"""
from __future__ import annotations

import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .. import __version__
from ..data import Dataset, load_dataset
from ..losses import get_loss
from ..optim import DivergenceError, OptState, make_optimizer
from . import machine, metrics_log
from .checkpoint import fill_tree, has_checkpoint, load_checkpoint, save_checkpoint
from .._outputs import check_output_dir
from .config import TrainConfig
from .metrics_log import MetricsLog
from .models import build_model, model_input
from .progress import ProgressBar

METRICS_FILES = ("steps.jsonl", "evals.jsonl", "epochs.jsonl")
_EVAL_CHUNK = 2000
_EVAL_CHUNK_IMAGES = 256       # the patches of a convolution hold C·kh·kw values per pixel


@dataclass(frozen=True)
class TrainResult:
    """What :func:`train` returns.

    Attributes
    ----------
    config : TrainConfig
    params : dict
        The final parameter tree.
    state : OptState
        The final optimizer state.
    epochs : list of dict
        The records of ``epochs.jsonl`` (epoch 0 first), including earlier sessions of a
        resumed run.
    out : pathlib.Path
    warmup_seconds, compile_seconds : float
        This session's untimed warm-up steps and the one-off part of them (module docstring).
    """

    config: TrainConfig
    params: dict
    state: OptState
    epochs: list
    out: Path
    warmup_seconds: float = 0.0
    compile_seconds: float = 0.0


def train(config: TrainConfig, out, *, dataset: Dataset | None = None, resume: bool = False,
          overwrite: bool = False, progress: bool | None = None, quiet: bool = False,
          label: str | None = None, options: dict | None = None) -> TrainResult:
    """Train ``config.model`` with cross-entropy as ``config`` says; write metrics and
    checkpoints to ``out``.

    Parameters
    ----------
    config : TrainConfig
        With ``resume=True`` it must equal the checkpoint's configuration except for
        ``epochs`` (the target epoch count, which may grow).
    out : str or os.PathLike
        Run directory (created if missing); see the module docstring for its files.
    dataset : Dataset, optional
        Data to use instead of ``load_dataset(config.dataset, config.data_dir)``.
    resume : bool
        Continue from the checkpoint in ``out``.
    overwrite : bool
        Start afresh even if ``out`` holds a checkpoint (its run files are replaced).
    progress : bool, optional
        Draw a progress bar on stderr; default: when stderr is a terminal.
    quiet : bool
        Do not print the per-epoch summary lines on stderr.
    label : str, optional
        Prefix of the progress and summary lines (default: the optimizer's name).
    options : dict, optional
        Further keyword arguments of the optimizer, beside ``config.hyper()`` (e.g.
        momentum's ``beta``). They are not part of ``config``: pass the same ones on resume.

    Returns
    -------
    TrainResult

    Raises
    ------
    ValueError
        ``out`` already holds a run (and neither ``resume`` nor ``overwrite``), there is no
        checkpoint to resume, the configuration differs from the checkpoint's, or the data
        do not fit.
    DivergenceError
        The loss became non-finite or exploded; the last good checkpoint is kept.
    KeyboardInterrupt
        Re-raised after closing the files; the last good checkpoint is kept.
    """
    if not isinstance(config, TrainConfig):
        raise TypeError(f"config must be a TrainConfig, got {type(config).__name__}")
    out = check_output_dir(out, "--out")
    checkpoint = None
    if resume:
        checkpoint = load_checkpoint(out)
        _check_same_run(TrainConfig.from_dict(checkpoint.meta["config"]), config, out)
    elif has_checkpoint(out) and not overwrite:
        raise ValueError(f"{out} already holds a training run; pass --resume to continue it, "
                         "--overwrite to start afresh (its run files are replaced), or "
                         "choose another --out")
    if dataset is None:
        dataset = load_dataset(config.dataset, config.data_dir)
    _check_dataset(dataset)
    model = build_model(config, dataset)
    optimizer = make_optimizer(config.optimizer, model, "cross_entropy",
                               **config.hyper(), **(options or {}))
    init_seq, shuffle_seq = np.random.SeedSequence(config.seed).spawn(2)
    params0 = model.init(np.random.default_rng(init_seq))
    shuffle_rng = np.random.default_rng(shuffle_seq)
    out.mkdir(parents=True, exist_ok=True)
    run = _Run(config, out, dataset, model, optimizer, shuffle_rng,
               progress, quiet, label or config.optimizer)
    return run.run(optimizer.init(params0) if checkpoint is None else checkpoint)


class _Run:
    """The mutable bookkeeping of one training session (private to :func:`train`)."""

    def __init__(self, config, out, dataset, model, optimizer, shuffle_rng, progress, quiet,
                 label):
        self.config, self.out, self.data = config, out, dataset
        self.model, self.optimizer, self.rng = model, optimizer, shuffle_rng
        self.loss = get_loss("cross_entropy")
        self.progress, self.quiet, self.label = progress, quiet, label
        self.n = len(dataset.y_train)
        self.X_train = model_input(dataset.X_train, model)    # views (S, C, H, W) on images
        self.X_test = model_input(dataset.X_test, model)
        self.steps_per_epoch = steps_per_epoch(self.n, config)
        self.logs, self._saved = {}, None
        self.warmup = (0.0, 0.0)       # this session's (warm-up, compile) seconds
        self._unrecorded = (0.0, 0.0)  # the part not yet written into an epoch record

    # -- starting -------------------------------------------------------------------------
    def start(self, state: OptState) -> None:
        self.state, self.epoch, self.elapsed, self.first_loss = state, 0, 0.0, None
        self.cpu_elapsed = 0.0
        self.logs = {name: MetricsLog(self.out / name, fresh=True) for name in METRICS_FILES}
        test_loss, test_acc = self._evaluate(self.X_test, self.data.y_test)
        self.logs["evals.jsonl"].append(self._eval_record(test_loss, test_acc))
        train_loss, _ = self._evaluate(self.X_train, self.data.y_train)
        self.logs["epochs.jsonl"].append(
            {"epoch": 0, "step": 0, "epoch_loss": None, "train_loss": train_loss,
             "test_loss": test_loss, "test_accuracy": test_acc, "seconds": 0.0,
             "cpu_seconds": 0.0, "time": 0.0, "cpu_time": 0.0, "other_cores": None,
             "warmup_seconds": 0.0, "compile_seconds": 0.0})
        self._save()

    def restore(self, checkpoint) -> None:
        meta = checkpoint.meta
        params = fill_tree(_zeros(self.model.param_shapes()), checkpoint.params, "parameters")
        template = self.optimizer.init(params)
        slots = fill_tree(template.slots, checkpoint.slots, "optimizer slots")
        self.state = OptState(int(meta["step"]), template.params, slots)
        self.rng.bit_generator.state = meta["shuffle_rng"]
        self.epoch, self.elapsed = int(meta["epoch"]), float(meta["elapsed"])
        self.cpu_elapsed = float(meta["cpu_elapsed"])
        self.first_loss = meta["first_loss"]
        self._saved = (self.epoch, self.state.step)
        for name in METRICS_FILES:
            metrics_log.truncate_after(self.out / name, self.state.step)
        self.logs = {name: MetricsLog(self.out / name, fresh=False) for name in METRICS_FILES}

    # -- the loop -------------------------------------------------------------------------
    def run(self, start) -> TrainResult:
        """Start from an ``OptState`` or resume from a ``Checkpoint``; train to the end."""
        try:
            if isinstance(start, OptState):
                self.start(start)
            else:
                self.restore(start)
            if self.epoch < self.config.epochs:
                self.warmup = self._unrecorded = self._warm_up()
            while self.epoch < self.config.epochs:
                self._epoch()
        except KeyboardInterrupt:
            print(f"{self.label}: interrupted; {self._kept()}; continue with --resume",
                  file=sys.stderr)
            raise
        except DivergenceError as exc:
            raise DivergenceError(f"{exc} The run stopped; {self._kept()}.") from exc
        finally:
            for log in self.logs.values():
                log.close()
        epochs = metrics_log.read_records(self.out / "epochs.jsonl")
        return TrainResult(self.config, self.optimizer.params(self.state), self.state, epochs,
                           self.out, *self.warmup)

    def _warm_up(self) -> tuple[float, float]:
        """Untimed, discarded steps on the first batch (module docstring); returns
        ``(seconds of all of them, first step's seconds minus the second's)``."""
        cfg, data = self.config, self.data
        sizes = [min(cfg.batch_size, self.n)] * 2
        last = self.n - (self.steps_per_epoch - 1) * cfg.batch_size
        if 0 < last < sizes[0]:
            sizes.append(last)
        times = []
        for size in sizes:
            t0 = time.perf_counter()
            try:
                self.optimizer.update(self.state, self.X_train[:size], data.y_train[:size])
            except DivergenceError:
                pass                              # the timed step will stop the run
            times.append(time.perf_counter() - t0)
        return sum(times), max(times[0] - times[1], 0.0)

    def _epoch(self) -> None:
        cfg, data = self.config, self.data
        epoch = self.epoch + 1
        order = self.rng.permutation(self.n)
        bar = ProgressBar(self.steps_per_epoch, label=f"{self.label} epoch {epoch}/{cfg.epochs}",
                          enabled=self.progress)
        losses, seconds, cpu_seconds = [], 0.0, 0.0
        started = machine.sample()
        try:
            for i in range(self.steps_per_epoch):
                start = i * cfg.batch_size
                t0, c0 = time.perf_counter(), time.process_time()
                idx = order[start:start + cfg.batch_size]
                step = self.state.step
                self.state, info = self.optimizer.update(self.state, self.X_train[idx],
                                                         data.y_train[idx])
                seconds += time.perf_counter() - t0
                cpu_seconds += time.process_time() - c0
                loss = float(info["loss"])
                self._check_explosion(loss, step)
                losses.append(loss)
                self.logs["steps.jsonl"].append(
                    {"step": step + 1, "epoch": epoch, "loss": loss,
                     "time": self.elapsed + seconds, "cpu_time": self.cpu_elapsed + cpu_seconds,
                     **metrics_log.numeric_items(info)})
                bar.update(i + 1, loss=float(np.mean(losses)))
                last = i + 1 == self.steps_per_epoch
                if cfg.eval_every and self.state.step % cfg.eval_every == 0 and not last:
                    self.logs["evals.jsonl"].append(
                        self._eval_record(*self._evaluate(self.X_test, data.y_test),
                                          time_=self.elapsed + seconds))
        finally:
            bar.close()
        load = machine.between(started, machine.sample())
        self.elapsed += seconds
        self.cpu_elapsed += cpu_seconds
        self.epoch = epoch
        test_loss, test_acc = self._evaluate(self.X_test, data.y_test)
        train_loss, _ = self._evaluate(self.X_train, data.y_train)
        self.logs["evals.jsonl"].append(self._eval_record(test_loss, test_acc))
        (warmup, compile_), self._unrecorded = self._unrecorded, (0.0, 0.0)
        record = {"epoch": epoch, "step": self.state.step, "epoch_loss": float(np.mean(losses)),
                  "train_loss": train_loss, "test_loss": test_loss, "test_accuracy": test_acc,
                  "seconds": seconds, "cpu_seconds": cpu_seconds, "time": self.elapsed,
                  "cpu_time": self.cpu_elapsed, "other_cores": load["other_cores"],
                  "warmup_seconds": warmup, "compile_seconds": compile_}
        self.logs["epochs.jsonl"].append(record)
        self._save()
        if not self.quiet:
            print(f"{self.label} epoch {epoch}/{cfg.epochs}: train loss {train_loss:.4f}, "
                  f"test loss {test_loss:.4f}, test accuracy {100 * test_acc:.1f}%, "
                  f"{seconds:.1f} s", file=sys.stderr)

    def _kept(self) -> str:
        if self._saved is None:
            return f"no checkpoint was written in {self.out}"
        return (f"the last good checkpoint is in {self.out} (epoch {self._saved[0]}, "
                f"step {self._saved[1]})")

    def _check_explosion(self, loss: float, step: int) -> None:
        if self.first_loss is None:
            self.first_loss = loss
        bound = self.config.max_loss_factor * self.first_loss
        if loss > bound:
            raise DivergenceError(
                f"{self.config.optimizer}: the loss exploded to {loss:.4g} at step {step}, "
                f"above {self.config.max_loss_factor:g} x the first loss "
                f"{self.first_loss:.4g}. Lower the learning rate or raise the mass.")

    # -- evaluation and checkpoints -------------------------------------------------------
    def _evaluate(self, X, y) -> tuple[float, float]:
        """Mean cross-entropy and accuracy (a fraction) of the current parameters."""
        params = self.optimizer.params(self.state)
        total, correct = 0.0, 0
        chunk = _EVAL_CHUNK if X.ndim == 2 else _EVAL_CHUNK_IMAGES
        for start in range(0, len(y), chunk):
            logits = self.model(params, X[start:start + chunk])
            target = y[start:start + chunk]
            total += float(np.sum(self.loss.value(logits, target)))
            correct += int(np.sum(self.loss.predict(logits) == target))
        return total / len(y), correct / len(y)

    def _eval_record(self, test_loss, test_acc, time_=None) -> dict:
        return {"step": self.state.step, "epoch": self.state.step / self.steps_per_epoch,
                "time": self.elapsed if time_ is None else time_,
                "test_loss": test_loss, "test_accuracy": test_acc}

    def _save(self) -> None:
        meta = {"config": self.config.to_dict(), "epoch": self.epoch, "step": self.state.step,
                "elapsed": self.elapsed, "cpu_elapsed": self.cpu_elapsed,
                "first_loss": self.first_loss,
                "shuffle_rng": self.rng.bit_generator.state,
                "optimizer": {"name": self.config.optimizer,
                              "hyperparameters": _jsonable(self.optimizer.hyperparameters())},
                "refimpl": __version__}
        save_checkpoint(self.out, self.optimizer.params(self.state), self.state.slots, meta)
        self._saved = (self.epoch, self.state.step)


def steps_per_epoch(n_train: int, config: TrainConfig) -> int:
    """Batches per epoch: ``⌈n/b⌉``, or ``⌊n/b⌋`` with ``drop_last`` (at least one)."""
    full, short = divmod(n_train, config.batch_size)
    return full + (1 if short and not (config.drop_last and full) else 0)


def _check_same_run(saved: TrainConfig, given: TrainConfig, out: Path) -> None:
    """A resumed run must keep its configuration; only ``epochs`` may change."""
    a, b = saved.to_dict(), given.to_dict()
    diff = [k for k in a if k != "epochs" and a[k] != b[k]]
    if diff:
        pairs = ", ".join(f"{k}: {b[k]!r} given, {a[k]!r} saved" for k in diff)
        raise ValueError(f"the checkpoint in {out} was made with another configuration "
                         f"({pairs}); resume continues the saved run, so drop these options "
                         "or choose another --out")


def _check_dataset(ds) -> None:
    if not isinstance(ds, Dataset):
        raise TypeError(f"dataset must be a refimpl.data.Dataset, got {type(ds).__name__}")
    if len(ds.y_train) == 0 or len(ds.y_test) == 0:
        raise ValueError(f"data set {ds.name!r} needs training and test samples, got "
                         f"{len(ds.y_train)} and {len(ds.y_test)}")


def _zeros(shapes: dict) -> dict:
    return {k: _zeros(v) if isinstance(v, dict) else np.zeros(v) for k, v in shapes.items()}


def _jsonable(d: dict) -> dict:
    return {k: v if isinstance(v, (int, float, str, type(None))) else str(v)
            for k, v in d.items()}


__all__ = ["train", "TrainResult", "METRICS_FILES", "steps_per_epoch"]
