"""Time to accuracy: every optimizer trains the same MLP to a target test accuracy.

Setup (the ``refimpl reproduce`` setup): MLP 784-256-256-10, tanh, softmax cross-entropy,
batch 128, the short last batch dropped; per seed one initialisation and one batch order
(``SeedSequence(seed).spawn(2)``, as :func:`refimpl.experiments.train`) shared by every
optimizer, PyTorch's Adam included (the same initial weights copied into ``torch.nn.Linear``
layers, the same index batches). Data: the shipped MNIST subset (4,000 / 1,000) to 90 %, and
Fashion-MNIST (60,000 / 10,000; Debian's ``dataset-fashion-mnist``) to 85 % when its files
are present.

Measured per run: training seconds (the optimizer's ``update`` and batching, nothing else)
and steps until the first test evaluation at or above the target; the test set is evaluated
every ``--eval-every`` steps (untimed), so both numbers are resolved to that many steps.
Reported per optimizer: median over the seeds, with the spread (min–max), and each time's
ratio to refimpl's Adam and to PyTorch's Adam *in the same run* (the machine is shared:
compare ratios, not seconds across runs). Rows marked float32 train with
``dtype="float32"`` (the whole step in float32, as PyTorch's Adam); the others in float64.
Numba kernels are compiled (or loaded from cache) for both float types and every optimizer
takes two untimed steps on the real problem before any timing; the load average is recorded
at the start and the end, and after every run. ``--threads n`` limits BLAS, PyTorch and
Riemannian SGD's layer-parallel threads alike.

Usage::

    python benchmarks/time_to_accuracy.py                  # everything, a few minutes
    python benchmarks/time_to_accuracy.py --datasets mnist-5k --seeds 0 --only adam,kfac
    python benchmarks/time_to_accuracy.py --list           # the optimizers it knows

PyTorch (``pip install torch==2.13.0``, the ``bench`` extra) is optional: without it the
PyTorch row is reported as missing. Results go to ``--out`` (JSON, every run's numbers).
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from _problem import load_average
from refimpl.data import load_dataset
from refimpl.data.datasets import default_directory
from refimpl.losses import get_loss
from refimpl.modules import mlp
from refimpl.optim import DivergenceError, make_optimizer

WIDTHS = (256, 256)
BATCH = 128
TARGETS = {"mnist-5k": 0.90, "fashion-mnist": 0.85}
EVAL_EVERY = {"mnist-5k": 4, "fashion-mnist": 25}
MAX_EPOCHS = {"mnist-5k": 40, "fashion-mnist": 3}


@dataclass(frozen=True)
class Entry:
    """One row: a refimpl optimizer by name with its settings (or PyTorch's Adam)."""

    title: str
    optimizer: str
    hyper: dict = field(default_factory=dict)


def _output_damped(tau, **extra):
    """Riemannian SGD with the Gauss–Newton output metric plus ``τI``, μ (from) 0.01, lr 1."""
    float32 = " (float32)" if extra.get("dtype") == "float32" else ""
    how = ("adaptive μ from 0.01" + float32) if "damping" in extra else \
        f"μ 0.01 (exact{'; float32' if float32 else ''})"
    return Entry(f"Riemannian SGD, Gauss–Newton + {tau:g} I, {how}", "riemannian",
                 {"lr": 1.0, "mass": 0.01, "output_metric": "gauss-newton",
                  "output_damping": tau, **extra})


ENTRIES = {
    "sgd": Entry("SGD, lr 0.2", "sgd", {"lr": 0.2}),
    "adam": Entry("Adam, lr 3e-3", "adam", {"lr": 3e-3}),
    "adam-f32": Entry("Adam, lr 3e-3 (float32)", "adam", {"lr": 3e-3, "dtype": "float32"}),
    "torch-adam": Entry("PyTorch Adam, lr 3e-3 (float32)", "torch-adam", {"lr": 3e-3}),
    "kfac": Entry("K-FAC, lr 0.1, λ 0.03 (factored, T = 5)", "kfac",
                  {"lr": 0.1, "damping": 0.03}),
    "kfac-f32": Entry("K-FAC, lr 0.1, λ 0.03 (factored, T = 5; float32)", "kfac",
                      {"lr": 0.1, "damping": 0.03, "dtype": "float32"}),
    "riemannian-identity": Entry("Riemannian SGD, identity, μ 0.01 (exact)", "riemannian",
                                 {"lr": 1.0, "mass": 0.01, "output_metric": "identity"}),
    "riemannian-identity-f32": Entry("Riemannian SGD, identity, μ 0.01 (exact; float32)",
                                     "riemannian", {"lr": 1.0, "mass": 0.01,
                                                    "output_metric": "identity",
                                                    "dtype": "float32"}),
    "riemannian-identity-sub32": Entry(
        "Riemannian SGD, identity, metric from 32 of 128, adaptive μ from 0.01",
        "riemannian", {"lr": 1.0, "mass": 0.01, "output_metric": "identity",
                       "metric_batch": 32, "damping": "adaptive-reject"}),
    "riemannian-identity-sub32-f32": Entry(
        "Riemannian SGD, identity, metric from 32 of 128, adaptive μ from 0.01 (float32)",
        "riemannian", {"lr": 1.0, "mass": 0.01, "output_metric": "identity",
                       "metric_batch": 32, "damping": "adaptive-reject", "dtype": "float32"}),
    "riemannian-identity-sub32-fixed-f32": Entry(
        "Riemannian SGD, identity, metric from 32 of 128, μ 0.3 (float32)",
        "riemannian", {"lr": 1.0, "mass": 0.3, "output_metric": "identity",
                       "metric_batch": 32, "dtype": "float32"}),
    "riemannian-identity-sub64-f32": Entry(
        "Riemannian SGD, identity, metric from 64 of 128, adaptive μ from 0.01 (float32)",
        "riemannian", {"lr": 1.0, "mass": 0.01, "output_metric": "identity",
                       "metric_batch": 64, "damping": "adaptive-reject", "dtype": "float32"}),
    "riemannian-gn": Entry("Riemannian SGD, Gauss–Newton, μ 1 (exact)", "riemannian",
                           {"lr": 1.0, "mass": 1.0, "output_metric": "gauss-newton"}),
    "riemannian-gn-adaptive": Entry("Riemannian SGD, Gauss–Newton, adaptive μ from 0.01",
                                    "riemannian", {"lr": 1.0, "mass": 0.01,
                                                   "output_metric": "gauss-newton",
                                                   "damping": "adaptive-reject"}),
    **{f"riemannian-gn-od{tau:g}{suffix}": _output_damped(tau, **extra)
       for tau, suffix, extra in [(0.3, "", {}), (0.3, "-f32", {"dtype": "float32"}),
                                  (0.3, "-adaptive", {"damping": "adaptive-reject"}),
                                  (1.0, "", {}), (1.0, "-f32", {"dtype": "float32"})]},
    "gauss-newton": Entry("Gauss–Newton (network), μ 1 (exact)", "gauss-newton",
                          {"lr": 1.0, "mass": 1.0}),
    "gauss-newton-adaptive": Entry("Gauss–Newton (network), adaptive μ from 0.01",
                                   "gauss-newton", {"lr": 1.0, "mass": 0.01,
                                                    "damping": "adaptive-reject"}),
}
"""The rows; ``"adaptive"`` is ``damping="adaptive-reject"`` (:mod:`refimpl.optim.damping`)."""


# -- data and the shared schedule -------------------------------------------------------------
def available_datasets(names):
    out = []
    for name in names:
        if name == "mnist-5k" or (default_directory(name).is_dir()
                                  and any(default_directory(name).iterdir())):
            out.append(name)
        else:
            print(f"note: {name} not found at {default_directory(name)}; skipped "
                  "(Debian: apt-get install dataset-fashion-mnist)", file=sys.stderr)
    return out


def schedule(seed: int, n_train: int, epochs: int):
    """``(params0, batches)``: the initialisation and the index batches of every epoch."""
    init_seq, shuffle_seq = np.random.SeedSequence(seed).spawn(2)
    rng = np.random.default_rng(shuffle_seq)
    steps = n_train // BATCH
    batches = []
    for _ in range(epochs):
        order = rng.permutation(n_train)
        batches += [order[i * BATCH:(i + 1) * BATCH] for i in range(steps)]
    return np.random.default_rng(init_seq), batches


def accuracy(model, params, X, y) -> float:
    correct = 0
    for s in range(0, len(y), 2000):
        correct += int(np.sum(np.argmax(model(params, X[s:s + 2000]), axis=1) == y[s:s + 2000]))
    return correct / len(y)


# -- one run ----------------------------------------------------------------------------------
def run_refimpl(entry: Entry, data, params0, batches, target, eval_every, model,
                warm=2, threads=None) -> dict:
    hyper = dict(entry.hyper)
    if threads is not None and entry.optimizer == "riemannian":
        hyper["threads"] = threads              # its layer-parallel threads: the same limit
    opt = make_optimizer(entry.optimizer, model, "cross_entropy", **hyper)
    Xtr, ytr = data.X_train, data.y_train
    scratch = opt.init(params0)
    for idx in batches[:warm]:                            # untimed settling steps
        scratch, _ = opt.update(scratch, Xtr[idx], ytr[idx])
    state = opt.init(params0)
    seconds, curve = 0.0, []
    extra = {}
    for step, idx in enumerate(batches, start=1):
        t0 = time.perf_counter()
        try:
            state, info = opt.update(state, Xtr[idx], ytr[idx])
        except DivergenceError as exc:
            return {"status": "diverged", "steps": None, "seconds": None, "at_step": step,
                    "message": str(exc), "curve": curve}
        seconds += time.perf_counter() - t0
        for k in ("damping", "rejected", "retries"):
            if k in info:
                extra.setdefault(k, []).append(float(info[k]))
        if step % eval_every == 0:
            acc = accuracy(model, state.params, data.X_test, data.y_test)
            curve.append((step, seconds, acc))
            if acc >= target:
                return {"status": "ok", "steps": step, "seconds": seconds, "curve": curve,
                        **_summ(extra)}
    return {"status": "not reached", "steps": None, "seconds": None, "curve": curve,
            **_summ(extra)}


def _summ(extra):
    out = {}
    if "damping" in extra:
        out["mass_last"] = extra["damping"][-1]
        out["mass_range"] = [min(extra["damping"]), max(extra["damping"])]
    for k in ("rejected", "retries"):
        if k in extra:
            out[k] = int(sum(extra[k]))
    return out


def run_torch_adam(entry: Entry, data, params0, batches, target, eval_every, warm=2) -> dict:
    import torch
    torch.manual_seed(0)
    Xtr = torch.from_numpy(data.X_train.astype(np.float32))
    ytr = torch.from_numpy(data.y_train.astype(np.int64))
    Xte = torch.from_numpy(data.X_test.astype(np.float32))
    yte = torch.from_numpy(data.y_test.astype(np.int64))

    def build():
        layers = []
        keys = sorted((k for k in params0 if params0[k]), key=int)
        for i, k in enumerate(keys):
            W, b = params0[k]["W"], params0[k]["b"]
            lin = torch.nn.Linear(W.shape[1], W.shape[0])
            with torch.no_grad():
                lin.weight.copy_(torch.from_numpy(W.astype(np.float32)))
                lin.bias.copy_(torch.from_numpy(b.astype(np.float32)))
            layers.append(lin)
            if i < len(keys) - 1:
                layers.append(torch.nn.Tanh())
        net = torch.nn.Sequential(*layers)
        return net, torch.optim.Adam(net.parameters(), lr=entry.hyper["lr"])

    def step(net, opt, idx):
        idx = torch.from_numpy(idx)
        opt.zero_grad(set_to_none=True)
        loss = torch.nn.functional.cross_entropy(net(Xtr[idx]), ytr[idx])
        loss.backward()
        opt.step()
        return loss.item()

    net, opt = build()
    for idx in batches[:warm]:
        step(net, opt, idx)
    net, opt = build()
    seconds, curve = 0.0, []
    for n, idx in enumerate(batches, start=1):
        t0 = time.perf_counter()
        step(net, opt, idx)
        seconds += time.perf_counter() - t0
        if n % eval_every == 0:
            with torch.no_grad():
                acc = float((net(Xte).argmax(1) == yte).float().mean())
            curve.append((n, seconds, acc))
            if acc >= target:
                return {"status": "ok", "steps": n, "seconds": seconds, "curve": curve}
    return {"status": "not reached", "steps": None, "seconds": None, "curve": curve}


def warm_up_numba():
    """Compile (or load from cache) the Numba kernels on a tiny model."""
    model = mlp([3, 4, 2], "tanh")
    params = model.init(np.random.default_rng(0))
    X, y = np.linspace(0, 1, 12).reshape(4, 3), np.array([0, 1, 0, 1])
    for name in ("riemannian", "gauss-newton"):
        for metric in ("identity", "gauss-newton"):
            for dtype in ("float64", "float32"):
                opt = make_optimizer(name, model, "cross_entropy", lr=1.0, mass=1.0,
                                     output_metric=metric, dtype=dtype)
                opt.update(opt.init(params), X, y)


# -- the whole benchmark ----------------------------------------------------------------------
def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--datasets", default="mnist-5k,fashion-mnist")
    p.add_argument("--seeds", default="0,1,2")
    p.add_argument("--only", default=None, help="comma-separated keys of ENTRIES")
    p.add_argument("--out", default="benchmarks/time_to_accuracy.json")
    p.add_argument("--threads", type=int, default=None,
                   help="limit BLAS (threadpoolctl), PyTorch and Riemannian SGD's "
                   "layer-parallel threads to this many")
    p.add_argument("--list", action="store_true")
    p.add_argument("--report", metavar="JSON", help="print the tables of an earlier run's "
                   "results file and exit")
    args = p.parse_args(argv)
    if args.report:
        print(report(json.loads(Path(args.report).read_text())))
        return 0
    if args.threads is not None:
        from threadpoolctl import threadpool_limits
        threadpool_limits(args.threads)
        try:
            import torch
            torch.set_num_threads(args.threads)
        except ModuleNotFoundError:
            pass
    if args.list:
        for k, e in ENTRIES.items():
            print(f"{k:36s} {e.title}")
        return 0
    keys = list(ENTRIES) if args.only is None else args.only.split(",")
    unknown = [k for k in keys if k not in ENTRIES]
    if unknown:
        print(f"error: unknown optimizer key(s) {unknown}; see --list", file=sys.stderr)
        return 2
    try:
        import torch
        torch_version = torch.__version__
    except ModuleNotFoundError:
        torch_version = None
        if "torch-adam" in keys:
            print("note: PyTorch is not installed; the PyTorch Adam row is skipped "
                  "(pip install torch==2.13.0)", file=sys.stderr)
            keys.remove("torch-adam")
    seeds = [int(s) for s in args.seeds.split(",")]
    datasets = available_datasets(args.datasets.split(","))
    record = {"setup": {"model": f"784-{'-'.join(map(str, WIDTHS))}-10 tanh",
                        "batch": BATCH, "seeds": seeds, "targets": TARGETS,
                        "eval_every": EVAL_EVERY, "cpu_count": os.cpu_count(),
                        "threads": args.threads,
                        "load_average_start": load_average(), "numpy": np.__version__,
                        "torch": torch_version, "python": platform.python_version()},
              "entries": {k: ENTRIES[k].title for k in keys}, "results": {}}
    warm_up_numba()
    t_start = time.perf_counter()
    for name in datasets:
        data = load_dataset(name)
        model = mlp([data.n_features, *WIDTHS, data.n_classes], "tanh")
        target, every = TARGETS[name], EVAL_EVERY[name]
        res = record["results"][name] = {k: [] for k in keys}
        for seed in seeds:
            init_rng, batches = schedule(seed, len(data.y_train), MAX_EPOCHS[name])
            params0 = model.init(init_rng)
            for k in keys:
                e = ENTRIES[k]
                if e.optimizer == "torch-adam":
                    r = run_torch_adam(e, data, params0, batches, target, every)
                else:
                    r = run_refimpl(e, data, params0, batches, target, every, model,
                                    threads=args.threads)
                r["seed"] = seed
                r["load"] = load_average()
                res[k].append(r)
                secs = "-" if r["seconds"] is None else f"{r['seconds']:.2f}"
                print(f"[{name} seed {seed}] {k}: {r['status']} "
                      f"steps {r['steps']} seconds {secs}"
                      + (f" (μ last {r['mass_last']:.3g}, range {r['mass_range']}, "
                         f"rejected {r.get('rejected')}, retries {r.get('retries')})"
                         if "mass_last" in r else ""),
                      file=sys.stderr, flush=True)
    record["setup"]["load_average_end"] = load_average()
    record["setup"]["total_seconds"] = time.perf_counter() - t_start
    text = report(record)
    print(text)
    record["report"] = text
    Path(args.out).write_text(json.dumps(record, indent=1) + "\n")
    return 0


def report(record) -> str:
    """The tables: per optimizer the median (min–max) over seeds of steps, seconds and
    seconds per step to the target, and the median over seeds of the time's ratio to Adam's
    and to PyTorch Adam's of the same seed (measured minutes apart, under the same load)."""
    lines = [f"time to accuracy — {record['setup']['model']}, batch {BATCH}, seeds "
             f"{record['setup']['seeds']}, BLAS threads {record['setup'].get('threads')}; "
             f"load average start {record['setup']['load_average_start']}, end "
             f"{record['setup'].get('load_average_end')}", ""]
    for name, res in record["results"].items():
        lines += [f"{name} to {100 * TARGETS[name]:.0f} % (test set evaluated every "
                  f"{EVAL_EVERY[name]} steps)", "",
                  "| optimizer | reached | steps | seconds | s / step | vs Adam | "
                  "vs PyTorch Adam |", "|---|---|---|---|---|---|---|"]
        by_seed = {k: {r["seed"]: r for r in runs} for k, runs in res.items()}
        for k, runs in res.items():
            ok = [r for r in runs if r["status"] == "ok"]
            cells = []
            for xs, fmt in (([r["steps"] for r in ok], "{:.0f}"),
                            ([r["seconds"] for r in ok], "{:.2f}"),
                            ([r["seconds"] / r["steps"] for r in ok], "{:.3f}")):
                cells.append(f"{fmt.format(_median(xs))} ({fmt.format(min(xs))}–"
                             f"{fmt.format(max(xs))})" if xs else "–")
            vs = []
            for base in ("adam", "torch-adam"):
                ratios = [r["seconds"] / by_seed[base][r["seed"]]["seconds"] for r in ok
                          if base in by_seed and r["seed"] in by_seed[base]
                          and by_seed[base][r["seed"]]["seconds"]]
                vs.append(f"{_median(ratios):.2f}× ({min(ratios):.2f}–{max(ratios):.2f})"
                          if ratios else "–")
            lines.append(f"| {record['entries'][k]} | {len(ok)}/{len(runs)} | "
                         + " | ".join(cells + vs) + " |")
        lines.append("")
    return "\n".join(lines)


def _median(xs):
    xs = [x for x in xs if x is not None]
    return float(np.median(xs)) if xs else None


if __name__ == "__main__":
    sys.exit(main())
