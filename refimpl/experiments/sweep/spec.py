"""The sweep specification: the file ``refimpl sweep SPEC`` reads, parsed and validated once.

A spec is a TOML file (read with :mod:`tomllib`) or a JSON file (a ``.json`` suffix) holding
one table. Example (``examples/sweep_quick.toml`` is a complete one)::

    name = "quick"                      # default: the file's stem
    description = "What this sweep asks"
    seeds = [0, 1, 2]                   # every point is run once per seed (default [0])
    target = 0.9                        # test accuracy for "time to target" (default 0.9)
    evals_per_epoch = 4                 # test evaluations per epoch (default 4)

    [data]                              # default: the shipped MNIST subset, all of it
    name = "mnist-5k"                   # mnist-5k, mnist, fashion-mnist, cifar10
    # dir = "/data/mnist"               # its files' folder, on every worker (a relative one
    #                                   # is taken relative to the spec file)
    # n_train = 1000                    # only the first n_train / n_test images of each split
    # n_test = 500

    [model]                             # settings shared by every run; entries may override
    widths = [256, 256]
    activation = "tanh"

    [defaults]                          # more shared settings
    batch_size = 128
    epochs = 2

    [[optimizers]]                      # one table per optimizer study
    name = "riemannian-identity"        # unique label (report sections, plots)
    optimizer = "riemannian"            # a name of refimpl.optim.OPTIMIZERS
    title = "Riemannian SGD, identity output metric"   # optional
    output_metric = "identity"          # fixed settings: any key not listed below
    [optimizers.grid]                   # the cross product of these lists
    mass = [1e-3, 1e-2, 1e-1]
    lr = [0.3, 1.0]

    [[optimizers]]
    name = "adam-random"
    optimizer = "adam"
    epochs = 4
    [optimizers.random]                 # random search: `samples` points
    samples = 8
    seed = 0                            # of the sampling generator (default 0)
    lr = { log_uniform = [1e-4, 1e-2] }
    batch_size = { choice = [32, 64, 128] }

**Settings.** A *setting* is a field of :class:`~refimpl.experiments.config.TrainConfig`
(``lr``, ``mass``, ``output_metric``, ``batch_size``, ``epochs``, ``drop_last``,
``max_loss_factor``, ``widths``, ``activation``) or any other keyword the entry's optimizer
accepts (momentum's ``beta``, the Riemannian optimizer's ``precision`` ...), passed to
:func:`refimpl.optim.make_optimizer`; so an optimizer or option added later is swept
without changes here. ``seed``, ``dataset``, ``data_dir``, ``optimizer`` and ``eval_every``
are set by the sweep itself (``seeds``, ``[data]``, the entry's ``optimizer``,
``evals_per_epoch``). Values are numbers, strings, booleans, or lists of those (``widths``,
Adam's ``betas``). Later tables override earlier ones: ``[model]``, ``[defaults]``, the
entry's fixed keys, then the grid or random point. A setting left out everywhere takes
``TrainConfig``'s default.

**Points.** ``grid``: every combination of its lists (each non-empty, without repeats).
``random``: ``samples`` draws from ``numpy.random.default_rng(seed)``; for each sample the
settings are drawn in sorted name order, from ``{uniform = [lo, hi]}``, ``{log_uniform =
[lo, hi]}`` (``0 < lo``), ``{int_uniform = [lo, hi]}`` (both ends included) or ``{choice =
[...]}``; drawn floats are rounded to 4 significant digits. With both, every random sample
is combined with every grid point; with neither, the entry is its fixed settings alone. An
entry whose grid varies both ``mass`` and ``lr`` gets heatmaps over them in the report;
``heatmap = ["damping", "lr"]`` names another pair (rows, columns), ``heatmap = false``
asks for none. Runs that two entries share (the same configuration and seed) are run once
and reported in both.

Errors name the field, as ``sweep.toml: optimizers[1] ('adam').grid.lr[2]: lr must be a
finite number > 0, got -1.0``; every point is checked (its ``TrainConfig`` built, its
optimizer constructed on a tiny model) before anything runs.
"""
from __future__ import annotations

import dataclasses
import inspect
import json
import math
import numbers
import re
import tomllib
from dataclasses import dataclass
from pathlib import Path

from ...data import NAMES as DATASETS
from ...modules import mlp
from ...optim import OPTIMIZERS, make_optimizer
from ..config import TrainConfig

SWEPT_BY_THE_SWEEP = ("seed", "dataset", "data_dir", "optimizer", "eval_every")
"""TrainConfig fields that the spec sets through its own keys, never as settings."""
TRAIN_FIELDS = tuple(f.name for f in dataclasses.fields(TrainConfig)
                     if f.name not in SWEPT_BY_THE_SWEEP)
"""Settings that go to :class:`TrainConfig`; any other setting is an optimizer keyword."""
DISTRIBUTIONS = ("uniform", "log_uniform", "int_uniform", "choice")
_TOP_KEYS = ("name", "description", "seeds", "target", "evals_per_epoch", "data", "model",
             "defaults", "optimizers")
_ENTRY_KEYS = ("name", "optimizer", "title", "grid", "random", "heatmap")
_DATA_KEYS = ("name", "dir", "n_train", "n_test")


class SpecError(ValueError):
    """A spec that cannot be used; the message names the file and the field."""


@dataclass(frozen=True)
class DataSpec:
    """The data set every run trains on (``[data]``)."""

    name: str = "mnist-5k"
    dir: str | None = None
    n_train: int | None = None
    n_test: int | None = None

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)


@dataclass(frozen=True)
class Distribution:
    """One setting's distribution in a ``random`` table: ``kind`` with its two bounds or its
    choices as ``args``."""

    kind: str
    args: tuple


@dataclass(frozen=True)
class RandomSpec:
    """An entry's ``random`` table."""

    samples: int
    seed: int
    params: dict          # setting name -> Distribution


@dataclass(frozen=True)
class Entry:
    """One ``[[optimizers]]`` table: an optimizer and the points to run it at."""

    name: str
    optimizer: str
    title: str
    fixed: dict           # the entry's own settings (without model and defaults)
    grid: dict            # setting name -> tuple of values
    random: RandomSpec | None
    heatmap: tuple | None  # (row setting, column setting)

    @property
    def varied(self) -> tuple:
        """The settings that differ between this entry's points (grid first)."""
        grid = [k for k, v in self.grid.items() if len(v) > 1]
        drawn = sorted(self.random.params) if self.random else []
        return tuple(grid + [k for k in drawn if k not in grid])


@dataclass(frozen=True)
class SweepSpec:
    """A validated spec; :func:`refimpl.experiments.sweep.plan.expand` turns it into runs."""

    name: str
    description: str
    seeds: tuple
    target: float
    evals_per_epoch: int
    data: DataSpec
    shared: dict          # [model] then [defaults]
    entries: tuple
    source: str

    def settings(self, entry: Entry, point: dict) -> dict:
        """All settings of ``point`` of ``entry``: shared < fixed < point."""
        return {**self.shared, **entry.fixed, **point}


def load_spec(path) -> SweepSpec:
    """Read and validate a spec file (TOML, or JSON for a ``.json`` suffix).

    Raises
    ------
    SpecError
        The file is missing or unreadable, not valid TOML/JSON, or a field is wrong; the
        one-line message names the file and the field.
    """
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise SpecError(f"cannot read the sweep spec {path}: {exc.strerror or exc}") from None
    except UnicodeDecodeError:
        raise SpecError(f"{path}: not a text file (expected TOML or JSON)") from None
    return parse_spec(text, source=str(path), json_format=path.suffix.lower() == ".json",
                      default_name=path.stem, base=path.parent)


def parse_spec(text: str, *, source: str = "spec", json_format: bool = False,
               default_name: str = "sweep", base=None) -> SweepSpec:
    """Parse and validate spec ``text`` (TOML, or JSON with ``json_format``).

    ``source`` prefixes error messages; ``default_name`` is the sweep's name when the spec
    has none; a relative ``[data] dir`` is taken relative to ``base`` (the spec file's folder;
    default: the current directory) and made absolute, since workers run elsewhere.
    """
    try:
        raw = json.loads(text) if json_format else tomllib.loads(text)
    except json.JSONDecodeError as exc:
        raise SpecError(f"{source}: not valid JSON: {exc}") from None
    except tomllib.TOMLDecodeError as exc:
        raise SpecError(f"{source}: not valid TOML: {exc}") from None
    return _Parser(source, Path.cwd() if base is None else Path(base)).spec(raw, default_name)


class _Parser:
    """Validation of the raw table, one field at a time, errors prefixed by the field."""

    def __init__(self, source: str, base: Path):
        self.source, self.base = source, base
        self.origins = {}         # shared setting -> the table it came from

    def fail(self, where: str, message: str):
        raise SpecError(f"{self.source}: {where}: {message}" if where
                        else f"{self.source}: {message}")

    def table(self, value, where: str, known=None) -> dict:
        if not isinstance(value, dict):
            self.fail(where, f"expected a table, got {_show(value)}")
        if known is not None:
            unknown = sorted(set(value) - set(known))
            if unknown:
                self.fail(f"{where}.{unknown[0]}" if where else unknown[0],
                          "unknown key; expected one of " + ", ".join(known))
        return value

    # -- the whole spec -------------------------------------------------------------------
    def spec(self, raw, default_name: str) -> SweepSpec:
        raw = self.table(raw, "", _TOP_KEYS)
        name = self.text(raw.get("name", default_name), "name")
        if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9._-]*", name):
            self.fail("name", f"expected letters, digits, '.', '_' or '-' (it names the "
                      f"output folder), got {_show(name)}")
        description = self.text(raw.get("description", ""), "description", empty=True)
        seeds = self.seeds(raw.get("seeds", [0]))
        target = self.number(raw.get("target", 0.9), "target")
        if not 0 < target <= 1:
            self.fail("target", f"expected a test accuracy in (0, 1], got {target!r}")
        evals = self.count(raw.get("evals_per_epoch", 4), "evals_per_epoch")
        data = self.data(raw.get("data", {}))
        shared = {}
        for table in ("model", "defaults"):
            values = self.settings(raw.get(table, {}), table)
            shared.update(values)
            self.origins.update(dict.fromkeys(values, table))
        if "optimizers" not in raw:
            self.fail("optimizers", "missing; add at least one [[optimizers]] table")
        items = raw["optimizers"]
        if not isinstance(items, list) or not items:
            self.fail("optimizers", f"expected a non-empty list of tables, got {_show(items)}")
        entries = [self.entry(item, i) for i, item in enumerate(items)]
        names = [e.name for e in entries]
        for i, n in enumerate(names):
            if n in names[:i]:
                self.fail(f"optimizers[{i}].name", f"{n!r} is used twice; names are unique")
        spec = SweepSpec(name, description, seeds, target, evals, data, shared,
                         tuple(entries), self.source)
        for i, entry in enumerate(entries):
            _PointChecker(self, spec, entry, i).check()
        return spec

    def data(self, raw) -> DataSpec:
        raw = self.table(raw, "data", _DATA_KEYS)
        name = raw.get("name", "mnist-5k")
        if name not in DATASETS:
            self.fail("data.name", f"unknown data set {_show(name)}; expected one of "
                      + ", ".join(DATASETS))
        folder = raw.get("dir")
        if folder is not None:
            folder = str((self.base / self.text(folder, "data.dir")).resolve())
        sizes = {k: None if raw.get(k) is None else self.count(raw[k], f"data.{k}")
                 for k in ("n_train", "n_test")}
        return DataSpec(name, folder, **sizes)

    def seeds(self, value) -> tuple:
        if not isinstance(value, list) or not value:
            self.fail("seeds", f"expected a non-empty list of integers, got {_show(value)}")
        for j, s in enumerate(value):
            if not _is_int(s) or s < 0:
                self.fail(f"seeds[{j}]", f"expected a non-negative integer, got {_show(s)}")
        if len(set(value)) != len(value):
            self.fail("seeds", f"repeats a seed: {value}")
        return tuple(int(s) for s in value)

    def entry(self, raw, i: int) -> Entry:
        where = f"optimizers[{i}]"
        raw = self.table(raw, where)
        name = self.text(raw.get("name"), f"{where}.name")
        where = f"{where} ({name!r})"
        optimizer = raw.get("optimizer")
        if not isinstance(optimizer, str) or optimizer not in OPTIMIZERS:
            self.fail(f"{where}.optimizer", f"expected one of {', '.join(OPTIMIZERS)}, "
                      f"got {_show(optimizer)}")
        title = self.text(raw.get("title", name), f"{where}.title")
        fixed = self.settings({k: v for k, v in raw.items() if k not in _ENTRY_KEYS}, where)
        grid = self.grid(raw.get("grid", {}), f"{where}.grid")
        rand = None if raw.get("random") is None else self.random(raw["random"],
                                                                   f"{where}.random")
        both = sorted(set(grid) & set(rand.params if rand else {}))
        if both:
            self.fail(f"{where}.random.{both[0]}", "also in the grid; keep one")
        for k in sorted(set(fixed) & (set(grid) | set(rand.params if rand else {}))):
            self.fail(f"{where}.{k}", "set as a fixed value and swept too; keep one")
        heatmap = self.heatmap(raw.get("heatmap"), grid, f"{where}.heatmap")
        return Entry(name, optimizer, title, fixed, grid, rand, heatmap)

    def settings(self, raw, where: str) -> dict:
        raw = self.table(raw, where)
        out = {}
        for key, value in raw.items():
            field = f"{where}.{key}"
            if key in SWEPT_BY_THE_SWEEP:
                self.fail(field, _RESERVED[key])
            out[key] = self.value(value, field)
        return out

    def grid(self, raw, where: str) -> dict:
        out = {}
        for key, values in self.table(raw, where).items():
            field = f"{where}.{key}"
            if key in SWEPT_BY_THE_SWEEP:
                self.fail(field, _RESERVED[key])
            if not isinstance(values, list) or not values:
                self.fail(field, f"expected a non-empty list of values, got {_show(values)}")
            values = [self.value(v, f"{field}[{j}]") for j, v in enumerate(values)]
            for j, v in enumerate(values):
                if v in values[:j]:
                    self.fail(f"{field}[{j}]", f"repeats the value {_show(v)}")
            out[key] = tuple(values)
        return out

    def random(self, raw, where: str) -> RandomSpec:
        raw = self.table(raw, where)
        if "samples" not in raw:
            self.fail(f"{where}.samples", "missing: how many points to draw")
        samples = self.count(raw["samples"], f"{where}.samples")
        seed = raw.get("seed", 0)
        if not _is_int(seed) or seed < 0:
            self.fail(f"{where}.seed", f"expected a non-negative integer, got {_show(seed)}")
        params = {}
        for key, dist in raw.items():
            if key in ("samples", "seed"):
                continue
            field = f"{where}.{key}"
            if key in SWEPT_BY_THE_SWEEP:
                self.fail(field, _RESERVED[key])
            params[key] = self.distribution(dist, field)
        if not params:
            self.fail(where, "names no setting to draw (e.g. lr = { log_uniform = [1e-3, 1] })")
        return RandomSpec(samples, int(seed), params)

    def distribution(self, raw, field: str) -> Distribution:
        if not isinstance(raw, dict) or len(raw) != 1 or next(iter(raw)) not in DISTRIBUTIONS:
            self.fail(field, "expected one of { uniform = [lo, hi] }, { log_uniform = [lo, hi] "
                      "}, { int_uniform = [lo, hi] }, { choice = [...] }; got " + _show(raw))
        (kind, args), = raw.items()
        if not isinstance(args, list) or not args:
            self.fail(f"{field}.{kind}", f"expected a non-empty list, got {_show(args)}")
        if kind == "choice":
            return Distribution(kind, tuple(self.value(v, f"{field}.choice[{j}]")
                                            for j, v in enumerate(args)))
        if len(args) != 2:
            self.fail(f"{field}.{kind}", f"expected [lo, hi], got {_show(args)}")
        check = (lambda v, w: self.integer(v, w)) if kind == "int_uniform" else self.number
        lo, hi = (check(v, f"{field}.{kind}[{j}]") for j, v in enumerate(args))
        if not lo <= hi or (kind == "log_uniform" and lo <= 0):
            self.fail(f"{field}.{kind}", f"expected {'0 < ' if kind == 'log_uniform' else ''}"
                      f"lo <= hi, got {_show(args)}")
        return Distribution(kind, (lo, hi))

    def heatmap(self, raw, grid: dict, where: str):
        if raw is False:
            return None
        if raw is None:
            pair = ("mass", "lr")
            return pair if all(len(grid.get(k, ())) > 1 for k in pair) else None
        if not (isinstance(raw, list) and len(raw) == 2 and all(isinstance(k, str) for k in raw)):
            self.fail(where, "expected two setting names [rows, columns] or false, got "
                      + _show(raw))
        for k in raw:
            if len(grid.get(k, ())) < 2:
                self.fail(where, f"{k!r} must be swept in the grid with two or more values")
        if raw[0] == raw[1]:
            self.fail(where, f"names {raw[0]!r} twice")
        return tuple(raw)

    # -- scalars --------------------------------------------------------------------------
    def value(self, value, field: str):
        if _is_scalar(value):
            return value
        if isinstance(value, list) and value and all(_is_scalar(v) for v in value):
            return list(value)
        self.fail(field, "expected a number, string, boolean or a list of those, got "
                  + _show(value))

    def text(self, value, field: str, empty: bool = False) -> str:
        if not isinstance(value, str) or (not empty and not value.strip()):
            self.fail(field, f"expected a non-empty string, got {_show(value)}")
        return value

    def number(self, value, field: str) -> float:
        if isinstance(value, bool) or not isinstance(value, numbers.Real) \
                or not math.isfinite(value):
            self.fail(field, f"expected a finite number, got {_show(value)}")
        return float(value)

    def integer(self, value, field: str) -> int:
        if not _is_int(value):
            self.fail(field, f"expected an integer, got {_show(value)}")
        return int(value)

    def count(self, value, field: str) -> int:
        if not _is_int(value) or value < 1:
            self.fail(field, f"expected a positive integer, got {_show(value)}")
        return int(value)


class _PointChecker:
    """Builds the ``TrainConfig`` and the optimizer of an entry's settings, one swept value
    at a time, so that an error names the field that caused it."""

    def __init__(self, parser: _Parser, spec: SweepSpec, entry: Entry, index: int):
        self.parser, self.spec, self.entry = parser, spec, entry
        self.where = f"optimizers[{index}] ({entry.name!r})"
        self.accepted = _keywords(OPTIMIZERS[entry.optimizer])

    def check(self) -> None:
        e = self.entry
        for key in self.spec.shared:
            self.keyword(key, f"{self.parser.origins[key]}.{key}")
        for key in e.fixed:
            self.keyword(key, f"{self.where}.{key}")
        base = self.spec.settings(e, {})
        self.build(base, self.where)
        for key, values in e.grid.items():
            self.keyword(key, f"{self.where}.grid.{key}")
            for j, v in enumerate(values):
                self.build({**base, key: v}, f"{self.where}.grid.{key}[{j}]")
        for key, dist in (e.random.params.items() if e.random else ()):
            self.keyword(key, f"{self.where}.random.{key}")
            for v in dist.args:                 # both bounds, or every choice
                self.build({**base, key: v}, f"{self.where}.random.{key}")

    def keyword(self, key: str, field: str) -> None:
        if key in TRAIN_FIELDS or self.accepted is None or key in self.accepted:
            return
        self.parser.fail(field, f"{self.entry.optimizer!r} takes no setting {key!r}; "
                         "settings are TrainConfig fields (" + ", ".join(TRAIN_FIELDS)
                         + ") and the optimizer's keywords (" + ", ".join(self.accepted) + ")")

    def build(self, settings: dict, field: str) -> None:
        try:
            config, options = train_config(self.spec, self.entry, settings, seed=0)
            model = mlp([2, *config.widths[:1], 2], config.activation)
            make_optimizer(config.optimizer, model, "cross_entropy", **config.hyper(),
                           **options)
        except (ValueError, TypeError) as exc:
            self.parser.fail(field, str(exc))


def train_config(spec: SweepSpec, entry: Entry, settings: dict, *, seed: int,
                 eval_every: int = 0):
    """The :class:`TrainConfig` and the further optimizer keywords of one point."""
    fields = {k: (tuple(v) if k == "widths" and isinstance(v, list) else v)
              for k, v in settings.items() if k in TRAIN_FIELDS}
    options = {k: v for k, v in settings.items() if k not in TRAIN_FIELDS}
    config = TrainConfig(dataset=spec.data.name, data_dir=spec.data.dir,
                         optimizer=entry.optimizer, seed=seed, eval_every=eval_every, **fields)
    return config, options


def _keywords(cls):
    """Keyword names ``cls(model, loss, ...)`` accepts; ``None`` if it takes ``**kwargs``."""
    params = inspect.signature(cls).parameters
    if any(p.kind is p.VAR_KEYWORD for p in params.values()):
        return None
    return tuple(n for n in params if n not in ("model", "loss"))


_RESERVED = {
    "seed": "set by the sweep; list the seeds in the top-level 'seeds'",
    "dataset": "set by the sweep; name the data set in [data] name",
    "data_dir": "set by the sweep; give the folder in [data] dir",
    "optimizer": "the entry's optimizer is fixed; add another [[optimizers]] table",
    "eval_every": "set by the sweep from the top-level 'evals_per_epoch'",
}


def _is_int(value) -> bool:
    return isinstance(value, numbers.Integral) and not isinstance(value, bool)


def _is_scalar(value) -> bool:
    if isinstance(value, float):
        return math.isfinite(value)
    return isinstance(value, (bool, int, str))


def _show(value) -> str:
    text = json.dumps(value) if _jsonable(value) else repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _jsonable(value) -> bool:
    try:
        json.dumps(value, allow_nan=False)
        return True
    except (TypeError, ValueError):
        return False
