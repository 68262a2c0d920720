"""float32 training against float64: speed (steps per second) and accuracy, in one run.

For each row (an optimizer with its settings), two copies train the ``refimpl reproduce``
model (MLP 784-256-256-10, tanh, cross-entropy, batch 128, short last batch dropped) on the
shipped MNIST subset from the same initialisation and on the same batches: one with
``dtype="float64"`` (the default), one with ``dtype="float32"`` (the whole step in float32).
They take their steps in lockstep, alternating which goes first, so that both see the same
machine load; every step is timed. Reported per row and dtype: the median seconds per step
(and steps per second), the float64 / float32 ratio of the medians, the test accuracy after
each epoch and at the end, and the largest difference of test accuracy between the two over
the run. Numba kernels are compiled (or loaded from cache) for both float types and every
optimizer takes two untimed steps first. The load average is recorded at the start and end.

Usage::

    python benchmarks/float32_training.py                       # every row, seed 0
    python benchmarks/float32_training.py --only riemannian-identity,adam --seeds 0,1
    python benchmarks/float32_training.py --report benchmarks/float32_training.json
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

import numpy as np

from _problem import load_average
from refimpl.data import load_dataset
from refimpl.modules import mlp
from refimpl.optim import make_optimizer

WIDTHS = (256, 256)
BATCH = 128

ROWS = {
    "adam": ("Adam, lr 3e-3", "adam", {"lr": 3e-3}, 4),
    "kfac": ("K-FAC, lr 0.1, λ 0.03", "kfac", {"lr": 0.1, "damping": 0.03}, 4),
    "riemannian-identity": ("Riemannian SGD, identity, μ 0.01", "riemannian",
                            {"lr": 1.0, "mass": 0.01, "output_metric": "identity"}, 2),
    "riemannian-identity-sub32": (
        "Riemannian SGD, identity, metric from 32, adaptive μ from 0.01", "riemannian",
        {"lr": 1.0, "mass": 0.01, "output_metric": "identity", "metric_batch": 32,
         "damping": "adaptive-reject"}, 2),
    "riemannian-gn-adaptive": (
        "Riemannian SGD, Gauss–Newton, adaptive μ from 0.01", "riemannian",
        {"lr": 1.0, "mass": 0.01, "output_metric": "gauss-newton",
         "damping": "adaptive-reject"}, 4),
}


def accuracy(model, params, X, y) -> float:
    return float(np.mean(np.argmax(model(params, X), axis=1) == y))


def run_row(key, data, model, seed) -> dict:
    title, name, hyper, epochs = ROWS[key]
    init_seq, shuffle_seq = np.random.SeedSequence(seed).spawn(2)
    params0 = model.init(np.random.default_rng(init_seq))
    rng = np.random.default_rng(shuffle_seq)
    n, steps = len(data.y_train), len(data.y_train) // BATCH
    opts = {d: make_optimizer(name, model, "cross_entropy", dtype=d, **hyper)
            for d in ("float64", "float32")}
    states = {}
    for d, opt in opts.items():                    # two untimed steps, then a fresh start
        s = opt.init(params0)
        for i in range(2):
            s, _ = opt.update(s, data.X_train[i * BATCH:(i + 1) * BATCH],
                              data.y_train[i * BATCH:(i + 1) * BATCH])
        states[d] = opt.init(params0)
    times = {d: [] for d in opts}
    acc = {d: [accuracy(model, states[d].params, data.X_test, data.y_test)] for d in opts}
    curve_gap = 0.0
    step = 0
    for _ in range(epochs):
        order = rng.permutation(n)
        for i in range(steps):
            idx = order[i * BATCH:(i + 1) * BATCH]
            turn = ("float64", "float32") if step % 2 == 0 else ("float32", "float64")
            for d in turn:
                t0 = time.perf_counter()
                states[d], _ = opts[d].update(states[d], data.X_train[idx], data.y_train[idx])
                times[d].append(time.perf_counter() - t0)
            step += 1
            if step % 8 == 0:
                a = {d: accuracy(model, states[d].params, data.X_test, data.y_test)
                     for d in opts}
                curve_gap = max(curve_gap, abs(a["float64"] - a["float32"]))
        for d in opts:
            acc[d].append(accuracy(model, states[d].params, data.X_test, data.y_test))
        curve_gap = max(curve_gap, abs(acc["float64"][-1] - acc["float32"][-1]))
    med = {d: float(np.median(t)) for d, t in times.items()}
    return {"title": title, "seed": seed, "epochs": epochs, "steps": step,
            "seconds_per_step": med, "steps_per_second": {d: 1.0 / v for d, v in med.items()},
            "total_seconds": {d: float(np.sum(t)) for d, t in times.items()},
            "speedup": med["float64"] / med["float32"],
            "test_accuracy_by_epoch": acc,
            "final_test_accuracy": {d: a[-1] for d, a in acc.items()},
            "largest_accuracy_gap": curve_gap, "load": load_average()}


def report(record) -> str:
    lines = [f"float32 against float64 — {record['setup']['model']}, batch {BATCH}, mnist-5k; "
             f"load average start {record['setup']['load_average_start']}, end "
             f"{record['setup'].get('load_average_end')}", "",
             "| optimizer | seed | epochs | steps/s float64 | steps/s float32 | speed-up | "
             "test acc. float64 | test acc. float32 | largest gap |", "|---|---|---|---|---|---|---|---|---|"]
    for r in record["results"]:
        sps = r["steps_per_second"]
        acc = r["final_test_accuracy"]
        lines.append(f"| {r['title']} | {r['seed']} | {r['epochs']} | {sps['float64']:.2f} | "
                     f"{sps['float32']:.2f} | {r['speedup']:.2f}× | {100 * acc['float64']:.1f} % | "
                     f"{100 * acc['float32']:.1f} % | {100 * r['largest_accuracy_gap']:.1f} pt |")
    return "\n".join(lines) + "\n"


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--only", default=None, help="comma-separated keys of ROWS")
    p.add_argument("--seeds", default="0")
    p.add_argument("--threads", type=int, default=None,
                   help="limit BLAS (threadpoolctl) to this many threads")
    p.add_argument("--out", default="benchmarks/float32_training.json")
    p.add_argument("--report", metavar="JSON", help="print an earlier run's tables and exit")
    args = p.parse_args(argv)
    if args.report:
        print(report(json.loads(Path(args.report).read_text())))
        return 0
    if args.threads is not None:
        from threadpoolctl import threadpool_limits
        threadpool_limits(args.threads)
    keys = list(ROWS) if args.only is None else args.only.split(",")
    unknown = [k for k in keys if k not in ROWS]
    if unknown:
        print(f"error: unknown row(s) {unknown}; expected some of {', '.join(ROWS)}",
              file=sys.stderr)
        return 2
    data = load_dataset("mnist-5k")
    model = mlp([data.n_features, *WIDTHS, data.n_classes], "tanh")
    record = {"setup": {"model": f"784-{'-'.join(map(str, WIDTHS))}-10 tanh",
                        "threads": args.threads, "cpu_count": os.cpu_count(),
                        "load_average_start": load_average(), "numpy": np.__version__},
              "results": []}
    for seed in (int(s) for s in args.seeds.split(",")):
        for k in keys:
            r = run_row(k, data, model, seed)
            record["results"].append(dict(r, key=k))
            print(f"[seed {seed}] {k}: {r['steps_per_second']['float64']:.2f} / "
                  f"{r['steps_per_second']['float32']:.2f} steps/s, accuracy "
                  f"{r['final_test_accuracy']}", file=sys.stderr, flush=True)
    record["setup"]["load_average_end"] = load_average()
    text = report(record)
    record["report"] = text
    print(text)
    Path(args.out).write_text(json.dumps(record, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
