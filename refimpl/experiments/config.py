"""The training configuration: one validated, JSON-able record of everything a run depends on.

A :class:`TrainConfig` names the data set, the model (``model="mlp"``: an MLP given by its
hidden widths and activation, input and output widths from the data; ``"cnn"``, ``"3c3d"`` or
an architecture file: :mod:`refimpl.experiments.models`), the optimizer and its
hyper-parameters, the batch size, the number of epochs and the seed. The loss is always
softmax cross-entropy. It is stored in every checkpoint, so a resumed run continues with
exactly the configuration it was started with.

``lr``, ``mass`` and ``output_metric`` left as ``None`` take the optimizer's default for the
model from :data:`DEFAULT_HYPER_BY_MODEL` (:data:`DEFAULT_HYPER` for the MLP), the settings
chosen by the sweeps recorded in ``benchmarks/README.md``. ``mass`` and ``output_metric`` apply to the metric
optimizers (``riemannian``, ``gauss-newton``) only.
"""
from __future__ import annotations

import dataclasses
import numbers
from dataclasses import dataclass

from ..data import NAMES as DATASETS
from ..losses import OUTPUT_METRICS
from ..modules.pointwise import ACTIVATIONS
from ..optim import OPTIMIZERS
from .models import check_model, takes_images

METRIC_OPTIMIZERS = ("riemannian", "gauss-newton")
"""Optimizers that take a ``mass``, an ``output_metric`` and a ``damping`` rule."""
DAMPING_RULES = ("fixed", "adaptive", "adaptive-reject")
DTYPES = ("float64", "float32")
"""The float types a training step may run in (``float32``: :mod:`refimpl.optim.base`)."""

OMITTED_AT_DEFAULT = ("output_damping",)
"""Fields added after configurations were first stored: :meth:`TrainConfig.to_dict` leaves
them out while ``None``, so that a configuration that does not use them has the dict (and the
sweep run key, a hash of it; :mod:`refimpl.experiments.sweep.plan`) it had before they
existed, and stored results and checkpoints keep matching."""

DEFAULT_HYPER = {
    "sgd": {"lr": 0.2},
    "momentum": {"lr": 0.02},
    "adam": {"lr": 3e-3},
    "riemannian": {"lr": 1.0, "mass": 0.01, "output_metric": "identity"},
    "gauss-newton": {"lr": 1.0, "mass": 1.0, "output_metric": "gauss-newton"},
    "kfac": {"lr": 0.1},
}
"""Per-optimizer defaults, chosen by the sweep on mnist-5k (MLP 784-256-256-10 tanh, batch
128) documented in :mod:`refimpl.experiments.reproduction`. ``momentum`` (``β = 0.9``, the
optimizer's default) was not swept: its ``lr`` is SGD's divided by ``1/(1−β) = 10``, the same
effective step."""

CNN_HYPER = {
    "sgd": {"lr": 0.1},
    "momentum": {"lr": 0.01},
    "adam": {"lr": 1e-3},
    "riemannian": {"lr": 1.0, "mass": 0.1, "output_metric": "identity"},
    "gauss-newton": {"lr": 1.0, "mass": 1.0, "output_metric": "gauss-newton"},
}
"""Defaults for ``model="cnn"`` (and architecture files on images), from the sweep on
mnist-5k recorded in ``benchmarks/README.md``; ``momentum`` is SGD's ``lr`` over 10."""

DEFAULT_HYPER_BY_MODEL = {"mlp": DEFAULT_HYPER, "cnn": CNN_HYPER, "3c3d": CNN_HYPER}
"""The defaults of each built-in model; ``3c3d`` was not swept (a CIFAR-10 epoch takes too
long here) and takes the CNN's."""


def default_hyper(model: str, optimizer: str) -> dict:
    """The defaults of ``optimizer`` for ``model`` (an architecture file on images takes the
    CNN's, one on vectors the MLP's)."""
    key = model if model in DEFAULT_HYPER_BY_MODEL else \
        ("cnn" if takes_images(model) else "mlp")
    return DEFAULT_HYPER_BY_MODEL[key][optimizer]


@dataclass(frozen=True)
class TrainConfig:
    """Everything a training run depends on (validated on construction).

    Parameters
    ----------
    dataset : {'mnist-5k', 'mnist', 'fashion-mnist', 'cifar10'}
    data_dir : str, optional
        Folder with the data set's files; default ``refimpl.data.default_directory``.
    model : str
        ``"mlp"`` (default), ``"cnn"``, ``"3c3d"`` or the path of an architecture ``.json``
        file (:mod:`refimpl.experiments.models`).
    widths : tuple of int
        Hidden widths; the MLP is ``n_features → widths… → n_classes`` (``model="mlp"``).
    activation : str
        A name from ``refimpl.modules.pointwise.ACTIVATIONS`` (``model="mlp"``).
    optimizer : {'riemannian', 'gauss-newton', 'sgd', 'momentum', 'adam'}
    lr, mass : float, optional
        Step size ``η`` and mass ``μ``; ``None`` takes :data:`DEFAULT_HYPER`.
    output_metric : {'identity', 'gauss-newton'}, optional
    damping : {'fixed', 'adaptive', 'adaptive-reject'}, optional
        How ``riemannian`` / ``gauss-newton`` treat ``mass``: kept (``None``, ``'fixed'``), or
        the initial ``μ`` of the Levenberg–Marquardt rule (:mod:`refimpl.optim.damping`).
    output_damping : float, optional
        ``riemannian`` / ``gauss-newton``: ``τ ≥ 0``, build the metric with the output metric
        plus ``τ I`` (:class:`~refimpl.losses.DampedOutputMetric`); ``None``: none (``0``).
    metric_batch : int, optional
        ``riemannian`` / ``gauss-newton``: build the metric from this many of each batch's
        samples (subsampled curvature); ``None``: all.
    dtype : {'float64', 'float32'}
        The float type of every optimizer step (``float32``: the whole step, metric
        included, in float32; evaluation stays float64). Default float64.
    batch_size, epochs : int
    drop_last : bool
        Skip each epoch's last batch when it is short (``n_train`` not a multiple of
        ``batch_size``; which samples it would hold changes every epoch). Default ``True``: on
        mnist-5k (4,000 = 31 × 128 + 32) the 32-sample batch gives the Gauss–Newton output
        metric a poor estimate and its step costs 1–4 points of test accuracy (see
        :mod:`refimpl.experiments.reproduction`).
    seed : int
        Seeds two independent generators (``SeedSequence(seed).spawn(2)``): one initialises
        the parameters, the other shuffles the training set each epoch.
    max_loss_factor : float
        A batch loss above ``max_loss_factor`` times the run's first batch loss stops the run
        as diverged (NaN and infinity always do). The default 10 is, for 10-class
        cross-entropy from a fresh initialisation (first loss ≈ ln 10 ≈ 2.3), a loss of about
        23: confidently wrong predictions. Healthy runs stay below their first loss after a
        few steps; a blown-up Riemannian step (Gauss–Newton output metric, μ = 0.3, lr = 1 on
        mnist-5k) jumps to losses of 100–400 and does not recover.
    eval_every : int
        Evaluate on the test set every so many steps (0: at epoch ends only).

    Examples
    --------
    >>> config = TrainConfig(optimizer="adam", epochs=3)
    >>> config.hyper()
    {'lr': 0.003}
    >>> TrainConfig.from_dict(config.to_dict()) == config
    True
    >>> TrainConfig(optimizer="sgd", lr=-1.0)
    Traceback (most recent call last):
    ...
    ValueError: lr must be a finite number > 0, got -1.0
    """

    dataset: str = "mnist-5k"
    data_dir: str | None = None
    model: str = "mlp"
    widths: tuple = (256, 256)
    activation: str = "tanh"
    optimizer: str = "riemannian"
    lr: float | None = None
    mass: float | None = None
    output_metric: str | None = None
    damping: str | None = None
    output_damping: float | None = None
    metric_batch: int | None = None
    dtype: str = "float64"
    batch_size: int = 128
    epochs: int = 1
    drop_last: bool = True
    seed: int = 0
    max_loss_factor: float = 10.0
    eval_every: int = 0

    def __post_init__(self):
        _choice(self.dataset, "dataset", DATASETS)
        _choice(self.optimizer, "optimizer", tuple(OPTIMIZERS))
        _choice(self.activation, "activation", tuple(ACTIVATIONS))
        _choice(self.dtype, "dtype", DTYPES)
        check_model(self.model)
        if self.data_dir is not None and not isinstance(self.data_dir, str):
            object.__setattr__(self, "data_dir", str(self.data_dir))
        widths = self.widths
        if isinstance(widths, (str, bytes)) or not hasattr(widths, "__iter__"):
            raise TypeError(f"widths must be a sequence of positive ints, got {widths!r}")
        widths = tuple(widths)
        for w in widths:
            _positive_int(w, "each hidden width")
        object.__setattr__(self, "widths", tuple(int(w) for w in widths))
        for name in ("batch_size", "epochs"):
            _positive_int(getattr(self, name), name)
        if not isinstance(self.drop_last, bool):
            raise ValueError(f"drop_last must be True or False, got {self.drop_last!r}")
        for name in ("seed", "eval_every"):
            _nonnegative_int(getattr(self, name), name)
        _positive_float(self.max_loss_factor, "max_loss_factor")
        defaults = default_hyper(self.model, self.optimizer)
        if self.optimizer not in METRIC_OPTIMIZERS:
            for name in ("mass", "output_metric", "output_damping", "damping",
                         "metric_batch"):
                if getattr(self, name) is not None:
                    raise ValueError(f"{name} applies to the optimizers "
                                     f"{' and '.join(METRIC_OPTIMIZERS)} only, not to "
                                     f"{self.optimizer!r}; drop it or change the optimizer")
        for name, value in defaults.items():
            if getattr(self, name) is None:
                object.__setattr__(self, name, value)
        _positive_float(self.lr, "lr")
        if self.optimizer in METRIC_OPTIMIZERS:
            _positive_float(self.mass, "mass")
            _choice(self.output_metric, "output_metric", OUTPUT_METRICS)
            if self.damping is not None:
                _choice(self.damping, "damping", DAMPING_RULES)
            if self.output_damping is not None:
                _nonnegative_float(self.output_damping, "output_damping")
            if self.metric_batch is not None:
                _positive_int(self.metric_batch, "metric_batch")

    def hyper(self) -> dict:
        """Keyword arguments for :func:`refimpl.optim.make_optimizer`."""
        precision = {} if self.dtype == "float64" else {"dtype": self.dtype}
        if self.optimizer in METRIC_OPTIMIZERS:
            return {"lr": self.lr, "mass": self.mass, "output_metric": self.output_metric} \
                | ({} if self.output_damping is None
                   else {"output_damping": self.output_damping}) \
                | ({} if self.damping is None else {"damping": self.damping}) \
                | ({} if self.metric_batch is None else {"metric_batch": self.metric_batch}) \
                | precision
        return {"lr": self.lr} | precision  # momentum's beta, Adam's betas: the defaults

    def to_dict(self) -> dict:
        """A JSON-able dict (``widths`` as a list); :meth:`from_dict` inverts it. Fields of
        :data:`OMITTED_AT_DEFAULT` are left out while ``None``."""
        d = dataclasses.asdict(self)
        d["widths"] = list(self.widths)
        for name in OMITTED_AT_DEFAULT:
            if d[name] is None:
                del d[name]
        return d

    @classmethod
    def from_dict(cls, d: dict) -> "TrainConfig":
        """A config from :meth:`to_dict`'s output; unknown keys are an error."""
        if not isinstance(d, dict):
            raise ValueError(f"a training configuration must be a JSON object, got {d!r}")
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(d) - known)
        if unknown:
            raise ValueError(f"unknown configuration keys {unknown}; expected some of "
                             f"{sorted(known)}")
        return cls(**d)

    def replace(self, **changes) -> "TrainConfig":
        return dataclasses.replace(self, **changes)


def _choice(value, name, choices):
    if not isinstance(value, str) or value not in choices:
        raise ValueError(f"unknown {name} {value!r}; expected one of "
                         + ", ".join(repr(c) for c in choices))


def _positive_int(value, name):
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < 1:
        raise ValueError(f"{name} must be a positive integer, got {value!r}")


def _nonnegative_int(value, name):
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < 0:
        raise ValueError(f"{name} must be a non-negative integer, got {value!r}")


def _nonnegative_float(value, name):
    if isinstance(value, bool) or not isinstance(value, numbers.Real) \
            or not value >= 0 or value == float("inf"):
        raise ValueError(f"{name} must be a finite number ≥ 0, got {value!r}")


def _positive_float(value, name):
    if isinstance(value, bool) or not isinstance(value, numbers.Real) \
            or not value > 0 or value == float("inf"):
        raise ValueError(f"{name} must be a finite number > 0, got {value!r}")
