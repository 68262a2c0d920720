#!/usr/bin/env python
"""Benchmark of one Riemannian SGD step on the CNNs (issue 13). A script, not a test.

    python benchmarks/bench_cnn_step.py [--quick] [--threads N] [--skip-torch] [--out FILE]

For the ``cnn`` model (MNIST-sized, batch 128, the shipped images) and DeepOBS's ``3c3d``
(CIFAR-10-sized, batch 32, uniform random pixels), softmax cross-entropy, the identity output
metric (``r = 10``), ``μ = 0.1``, ``lr = 1``, it reports

- **step**: ``RiemannianSGD.update`` (refimpl's defaults) against the same exact layerwise
  step written with PyTorch's per-sample Jacobians (``torch.func.vmap(jacrev)``, then per
  module ``K = I + B̃B̃ᵀ/μ``, Cholesky and the push-through form; ``_torch_cnn.py``), each in
  its own process, the two alternating in rounds; medians, the ratio refimpl / PyTorch, and
  the largest relative difference of the two updates;
- **memory**: the peak resident memory one step adds (``ru_maxrss`` in a fresh process, after
  a step on a batch of 2 has loaded and compiled everything) beside an estimate from the
  shapes (:func:`estimate_bytes`), for ``cnn`` at batch 128 and ``3c3d`` at 32 and at
  DeepOBS's 128;
- **epochs**: the step time of every optimizer of the CNN comparison on ``3c3d`` at batch 128,
  a CIFAR-10 epoch (390 steps and the evaluation of 60,000 images) and 100 epochs
  (DeepOBS's budget) extrapolated from it.

Every timing comes with the load average; on a shared machine compare ratios within a run.
Results go to ``benchmarks/results_cnn.json``.
"""
from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent


def _parse():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--quick", action="store_true", help="one round, cnn only, no epochs")
    p.add_argument("--threads", type=int, default=os.cpu_count(),
                   help="BLAS/OpenMP threads in every process (default: all cores)")
    p.add_argument("--skip-torch", action="store_true", help="no PyTorch runs")
    p.add_argument("--out", default=str(HERE / "results_cnn.json"), help="JSON results file")
    p.add_argument("--sections", default="step,memory,epochs",
                   help="comma-separated subset of step,memory,epochs (default: all)")
    p.add_argument("--worker", help=argparse.SUPPRESS)
    p.add_argument("--model", default="cnn", help=argparse.SUPPRESS)
    p.add_argument("--batch", type=int, default=128, help=argparse.SUPPRESS)
    p.add_argument("--steps", type=int, default=3, help=argparse.SUPPRESS)
    p.add_argument("--optimizer", default="riemannian", help=argparse.SUPPRESS)
    return p.parse_args()


ARGS = _parse()
for _var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[_var] = str(ARGS.threads)          # before any BLAS is loaded

import numpy as np                                 # noqa: E402

sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent))

MU, LR = 0.1, 1.0
CASES = {"cnn": 128, "3c3d": 32}
GB = 1e9


def log(*a):
    print(*a, flush=True)


def loadavg():
    return [round(x, 2) for x in os.getloadavg()]


# -- the problems ------------------------------------------------------------------------------
def problem(name: str, S: int, seed: int = 0):
    """``(model, params, X, labels)``: ``cnn`` on the first ``S`` shipped MNIST images,
    ``3c3d`` on uniform random ``3 × 32 × 32`` images with random labels."""
    from refimpl.modules import c3d, cnn

    rng = np.random.default_rng(seed)
    if name == "cnn":
        from refimpl.data import load_dataset
        ds = load_dataset("mnist-5k")
        model, X, y = cnn(), ds.X_train[:S].reshape(S, 1, 28, 28), ds.y_train[:S]
    else:
        model, X, y = c3d(), rng.random((S, 3, 32, 32)), rng.integers(0, 10, S)
    return model, model.init(rng), np.ascontiguousarray(X), np.asarray(y)


def make_optimizer(name, model):
    from refimpl.experiments.reproduction import CNN_PLAN
    from refimpl.optim import make_optimizer as make

    run = CNN_PLAN[name]
    return make(run.optimizer, model, "cross_entropy", **run.hyper)


# -- workers (each in a fresh process) --------------------------------------------------------
def worker_refimpl():
    from refimpl.optim import RiemannianSGD

    model, params, X, y = problem(ARGS.model, ARGS.batch)
    opt = RiemannianSGD(model, "cross_entropy", lr=LR, mass=MU, output_metric="identity")
    state = opt.init(params)
    opt.update(state, X, y)                                   # settling step
    ts, cpu, info = [], [], None
    for _ in range(ARGS.steps):
        t0, c0 = time.perf_counter(), time.process_time()
        _, info = opt.update(state, X, y)
        ts.append(time.perf_counter() - t0)
        cpu.append(time.process_time() - c0)
    return {"seconds": ts, "cpu_seconds": cpu, "methods": info["methods"], "load": loadavg()}


def worker_torch():
    import torch

    import _torch_cnn
    from refimpl import tree

    torch.set_num_threads(ARGS.threads)
    model, params, X, y = problem(ARGS.model, ARGS.batch)
    flat = dict(tree.items(params))
    _torch_cnn.step(model, flat, X, y, MU, LR)                # settling step
    ts, cpu = [], []
    for _ in range(ARGS.steps):
        t0, c0 = time.perf_counter(), time.process_time()
        _torch_cnn.step(model, flat, X, y, MU, LR)
        ts.append(time.perf_counter() - t0)
        cpu.append(time.process_time() - c0)
    return {"seconds": ts, "cpu_seconds": cpu, "torch": torch.__version__, "load": loadavg()}


def worker_agreement():
    import _torch_cnn
    from refimpl import tree
    from refimpl.optim import RiemannianSGD

    model, params, X, y = problem(ARGS.model, ARGS.batch)
    opt = RiemannianSGD(model, "cross_entropy", lr=LR, mass=MU, output_metric="identity")
    state = opt.init(params)
    new, _ = opt.update(state, X, y)
    ours = dict(tree.items(tree.add(new.params, state.params, -1.0)))
    theirs = _torch_cnn.step(model, dict(tree.items(params)), X, y, MU, LR)
    return {"max_rel_diff": max(float(np.max(np.abs(ours[k] - theirs[k]))
                                      / np.max(np.abs(theirs[k]))) for k in ours)}


def worker_memory():
    from refimpl.optim import RiemannianSGD

    model, params, X, y = problem(ARGS.model, ARGS.batch)
    opt = RiemannianSGD(model, "cross_entropy", lr=LR, mass=MU, output_metric="identity")
    state = opt.init(params)
    opt.update(state, X[:2], y[:2])                 # imports, Numba, BLAS buffers
    base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024.0
    t0 = time.perf_counter()
    _, info = opt.update(state, X, y)
    seconds = time.perf_counter() - t0
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024.0
    return {"peak_bytes": peak, "base_bytes": base, "step_bytes": peak - base,
            "estimate_bytes": estimate_bytes(model, ARGS.batch, 10, params, X, y),
            "seconds": seconds, "methods": info["methods"], "load": loadavg()}


def worker_epoch():
    model, params, X, y = problem(ARGS.model, ARGS.batch)
    opt = make_optimizer(ARGS.optimizer, model)
    state = opt.init(params)
    state, _ = opt.update(state, X, y)                        # settling step
    ts, cpu = [], []
    for _ in range(ARGS.steps):
        t0, c0 = time.perf_counter(), time.process_time()
        state, _ = opt.update(state, X, y)
        ts.append(time.perf_counter() - t0)
        cpu.append(time.process_time() - c0)
    batch = np.repeat(X, 256 // len(X) + 1, axis=0)[:256]
    t0, c0 = time.perf_counter(), time.process_time()
    for _ in range(4):                                        # the evaluation's forward
        model(state.params, batch)
    return {"seconds": ts, "cpu_seconds": cpu,
            "eval_per_image": (time.perf_counter() - t0) / 1024,
            "eval_cpu_per_image": (time.process_time() - c0) / 1024, "load": loadavg()}


def estimate_bytes(model, S, r, params, X, y) -> float:
    """Peak memory of one step from the shapes (float64): the forward pass's outputs and
    caches (kept for the reverse passes), the factors ``R`` (``S × r × output``) every block
    keeps, the two largest consecutive factors of the factor pass, and the metric systems'
    own estimates (each block's :meth:`~refimpl.modules.Block.cost` bytes: ``K`` and what
    forming it needs, or the dense ``G`` for the primal solve). A ``Conv2d`` caches its patches
    (``C_in·kh·kw × S × P``), a max-pool an int32 index per output."""
    from refimpl import spaces
    from refimpl.modules import Conv2d, Linear, MaxPool2d, Pointwise

    fwd, kept, factors = 0.0, 0.0, []
    for m in model.children.values():
        out = spaces.dim(m.out_space)
        fwd += 8.0 * S * out
        if isinstance(m, Conv2d):
            fwd += 8.0 * m.patch_size * S * m.positions
            kept += 8.0 * S * r * out
        elif isinstance(m, MaxPool2d):
            fwd += 4.0 * S * out
        elif isinstance(m, Pointwise):
            fwd += 8.0 * S * out
        elif isinstance(m, Linear):
            kept += 8.0 * S * r * out
        factors.append(8.0 * S * r * spaces.dim(m.in_space))
    passing = max(a + b for a, b in zip(factors, factors[1:]))
    metric = _metric_bytes(model, params, X[:S], y[:S])
    return fwd + kept + passing + metric


def _metric_bytes(model, params, X, y) -> float:
    """The systems' own estimate (:mod:`refimpl.metric.plan`): every module's system lives
    at once, so their bytes add up."""
    from refimpl.metric import build_metric

    bm = build_metric(model, params, X, y, loss="cross_entropy", mass=MU)
    return float(sum(system.plan.bytes for system in bm.systems))


WORKERS = {"refimpl": worker_refimpl, "torch": worker_torch, "agreement": worker_agreement,
           "memory": worker_memory, "epoch": worker_epoch}


def run_worker(name, **kw) -> dict:
    cmd = [sys.executable, str(Path(__file__).resolve()), "--worker", name,
           "--threads", str(ARGS.threads)] + [f"--{k}={v}" for k, v in kw.items()]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=7200)
    lines = [ln for ln in proc.stdout.splitlines() if ln.startswith("{")]
    if proc.returncode != 0 or not lines:
        return {"error": (proc.stderr.strip().splitlines() or ["no output"])[-1][:300]}
    return json.loads(lines[-1])


# -- the report ---------------------------------------------------------------------------------
def bench_step(results):
    rounds = 1 if ARGS.quick else 3
    for name, S in list(CASES.items())[:1 if ARGS.quick else None]:
        log(f"\n== one Riemannian step, {name}, batch {S} (load {loadavg()})")
        times, cpus = {"refimpl": [], "torch": []}, {"refimpl": [], "torch": []}
        for i in range(rounds):
            for fw in (["refimpl"] if ARGS.skip_torch else ["refimpl", "torch"]):
                res = run_worker(fw, model=name, batch=S, steps=3)
                if "error" in res:
                    log(f"  {fw}: {res['error']}")
                    continue
                times[fw] += res["seconds"]
                cpus[fw] += res["cpu_seconds"]
                log(f"  round {i + 1} {fw:8s} " + " ".join(f"{1e3 * t:8.0f}" for t in
                                                        res["seconds"])
                    + f" ms  (load {res['load']})" + (f"  {res.get('methods')}"
                                                      if fw == "refimpl" and i == 0 else ""))
        entry = {fw: {"median": float(np.median(t)), "samples": t,
                      "cpu_median": float(np.median(cpus[fw])), "cpu_samples": cpus[fw]}
                 for fw, t in times.items() if t}
        if "torch" in entry and "refimpl" in entry:
            entry["ratio"] = entry["refimpl"]["median"] / entry["torch"]["median"]
            entry["cpu_ratio"] = entry["refimpl"]["cpu_median"] / entry["torch"]["cpu_median"]
            entry["agreement"] = run_worker("agreement", model=name, batch=S)
            log(f"  median refimpl {1e3 * entry['refimpl']['median']:.0f} ms, PyTorch "
                f"{1e3 * entry['torch']['median']:.0f} ms: ratio {entry['ratio']:.2f} (CPU "
                f"time {entry['refimpl']['cpu_median']:.2f} s / "
                f"{entry['torch']['cpu_median']:.2f} s: {entry['cpu_ratio']:.2f}); updates "
                f"agree to {entry['agreement'].get('max_rel_diff', float('nan')):.1e}")
        results["step"][name] = entry


def bench_memory(results):
    cases = [("cnn", 128)] + ([] if ARGS.quick else [("3c3d", 32), ("3c3d", 128)])
    log("\n== memory of one Riemannian step (peak RSS added by the step, fresh process)")
    for name, S in cases:
        res = run_worker("memory", model=name, batch=S)
        results["memory"][f"{name}@{S}"] = res
        if "error" in res:
            log(f"  {name} batch {S}: {res['error']}")
            continue
        log(f"  {name:5s} batch {S:3d}: measured {res['step_bytes'] / GB:.2f} GB (peak RSS "
            f"{res['peak_bytes'] / GB:.2f} GB), estimated {res['estimate_bytes'] / GB:.2f} GB;"
            f" step {res['seconds']:.2f} s (load {res['load']})  {res['methods']}")


def bench_epochs(results):
    from refimpl.experiments.reproduction import CNN_PLAN

    log("\n== 3c3d on CIFAR-10 at batch 128: step time per optimizer and the epoch it implies"
        "\n   (wall, and process CPU time: on a loaded machine the CPU time, all threads, is "
        "the better guide to a quiet run)")
    steps, images = 50_000 // 128, 60_000
    for key in CNN_PLAN:
        res = run_worker("epoch", model="3c3d", batch=128, optimizer=key, steps=2)
        results["epochs"][key] = res
        if "error" in res:
            log(f"  {key}: {res['error']}")
            continue
        step, cpu = float(np.median(res["seconds"])), float(np.median(res["cpu_seconds"]))
        epoch = steps * step + images * res["eval_per_image"]
        epoch_cpu = steps * cpu + images * res["eval_cpu_per_image"]
        res.update(step=step, step_cpu=cpu, epoch_seconds=epoch, epoch_cpu_seconds=epoch_cpu,
                   hundred_epochs_hours=100 * epoch / 3600,
                   hundred_epochs_cpu_hours=100 * epoch_cpu / 3600)
        log(f"  {key:24s} step {step:7.2f} s ({cpu:6.2f} CPU s), epoch {epoch / 60:6.1f} min "
            f"({epoch_cpu / 60:6.1f} CPU min), 100 epochs {100 * epoch / 3600:6.1f} h "
            f"({100 * epoch_cpu / 3600:6.1f} CPU h)  (load {res['load']})")


def main():
    if ARGS.worker:
        print(json.dumps(WORKERS[ARGS.worker]()))
        return
    import platform

    results = {"machine": {"cpus": os.cpu_count(), "python": platform.python_version(),
                           "numpy": np.__version__, "threads": ARGS.threads,
                           "load_start": loadavg()},
               "step": {}, "memory": {}, "epochs": {}}
    log(f"bench_cnn_step: {os.cpu_count()} CPUs, {ARGS.threads} BLAS threads, load "
        f"{loadavg()}")
    sections = set(ARGS.sections.split(","))
    if "step" in sections:
        bench_step(results)
    if "memory" in sections:
        bench_memory(results)
    if "epochs" in sections and not ARGS.quick:
        bench_epochs(results)
    results["machine"]["load_end"] = loadavg()
    Path(ARGS.out).write_text(json.dumps(results, indent=1) + "\n")
    log(f"\nresults in {ARGS.out}")


if __name__ == "__main__":
    main()
