#!/usr/bin/env python
"""Benchmark of one Riemannian SGD step (issue 3; math §4, §6). A script, not a test.

    python benchmarks/bench_riemannian_step.py [--quick] [--threads N] [--out FILE]

For the MLP 784-256-256-10 (tanh, batch 128; config A, float64 and float32) and
784-1024-1024-10 (batch 64; config B), softmax cross-entropy, identity output metric, μ = 0.01,
it prints (medians of several repeats after warm-up):

- one SGD step and one Riemannian step (structured path, ``RiemannianSGD.update``), the same
  step with the materialised ``B̃`` (``blocks="materialized"``, once, in a subprocess, when it fits in
  memory) and with the dense metric per layer where ``G_l`` fits; each as a ratio to SGD;
- the FLOP count of the structured step by operation, and its time against that count at the
  GEMM rate measured in the same run (the roofline);
- Numba JIT warm-up, cold (empty ``NUMBA_CACHE_DIR``) and from the cache, in subprocesses;
- float32 (config A): the step by refimpl's private building blocks with float32 arrays, and
  the relative error of forms (3′) and (2) against float64;
- the same step in PyTorch and in JAX (float64, when installed), checked against refimpl's
  update, each in its own subprocess, alternating with refimpl's in rounds;
- Woodbury against the dense inverse for a single Linear layer of growing width.

Results also go to ``benchmarks/results.json``. BLAS threads are pinned (``--threads``, default
the number of cores) in every process; ``threadpoolctl`` reports what each library uses.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent


def _parse():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--quick", action="store_true", help="fewer repeats, config A only, "
                   "no generic run, a short width table")
    p.add_argument("--threads", type=int, default=os.cpu_count(),
                   help="BLAS/OpenMP threads in every process (default: all cores)")
    p.add_argument("--out", default=str(HERE / "results.json"), help="JSON results file")
    p.add_argument("--skip-frameworks", action="store_true", help="no PyTorch / JAX runs")
    p.add_argument("--worker", help=argparse.SUPPRESS)
    p.add_argument("--problem", help=argparse.SUPPRESS)
    p.add_argument("--config", default="A", help=argparse.SUPPRESS)
    p.add_argument("--repeats", type=int, default=10, help=argparse.SUPPRESS)
    return p.parse_args()


ARGS = _parse()
for _var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[_var] = str(ARGS.threads)          # before any BLAS is loaded

import numpy as np                                 # noqa: E402

sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent))
# _problem imports refimpl: the functions import it when they need it (the warm-up worker
# times the import of refimpl itself)

try:
    from threadpoolctl import threadpool_info, threadpool_limits
except ImportError:                                # reported, not fatal
    threadpool_info = threadpool_limits = None


def log(*a):
    print(*a, flush=True)


def measure(fn, repeats: int, warmup: int = 2) -> dict:
    """Median/min/max seconds of ``fn()`` over ``repeats`` calls after ``warmup`` calls."""
    for _ in range(warmup):
        fn()
    ts = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        ts.append(time.perf_counter() - t0)
    return summary(ts)


def summary(ts) -> dict:
    ts = [float(t) for t in ts]
    return {"median": float(np.median(ts)), "min": min(ts), "max": max(ts), "n": len(ts),
            "samples": ts}


def ms(x):
    return f"{1e3 * x:9.2f} ms"


def mem_available() -> float:
    """Bytes of MemAvailable (Linux), else a conservative 4 GiB."""
    try:
        for line in open("/proc/meminfo"):
            if line.startswith("MemAvailable:"):
                return float(line.split()[1]) * 1024
    except OSError:
        pass
    return 4.0 * 2 ** 30


def loadavg():
    try:
        return [round(x, 2) for x in os.getloadavg()]
    except OSError:
        return None


def run_worker(name: str, *extra, env=None, timeout=1800) -> dict:
    """Run this script as ``--worker name`` in a fresh process; parse its last JSON line."""
    cmd = [sys.executable, str(Path(__file__).resolve()), "--worker", name,
           "--threads", str(ARGS.threads), *map(str, extra)]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout,
                          env={**os.environ, **(env or {})})
    lines = [ln for ln in proc.stdout.splitlines() if ln.startswith("{")]
    if proc.returncode != 0 or not lines:
        return {"error": (proc.stderr.strip().splitlines() or ["no output"])[-1][:300]}
    return json.loads(lines[-1])


# ---------------------------------------------------------------------------------------------
# machine
# ---------------------------------------------------------------------------------------------
def machine_info() -> dict:
    import numba
    import scipy
    import scipy.linalg  # noqa: F401  (loads SciPy's own OpenBLAS, so threadpoolctl sees it)

    import refimpl  # noqa: F401
    cpu = platform.processor()
    try:
        for line in open("/proc/cpuinfo"):
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    pools = []
    if threadpool_info is not None:
        for d in threadpool_info():
            pools.append({k: d.get(k) for k in ("user_api", "internal_api", "prefix",
                                                 "version", "num_threads", "architecture",
                                                 "threading_layer")}
                         | {"filepath": Path(d["filepath"]).name})
    return {
        "cpu": cpu, "cores": os.cpu_count(),
        "affinity": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None,
        "python": platform.python_version(), "numpy": np.__version__,
        "scipy": scipy.__version__, "numba": numba.__version__,
        "threads_pinned": ARGS.threads, "blas_pools": pools,
        "threadpoolctl": threadpool_info is not None,
        "env": {k: v for k, v in os.environ.items()
                if k.startswith(("OPENBLAS", "OMP_", "MKL_", "NUMBA_", "XLA_"))},
        "mem_available_gb": round(mem_available() / 2 ** 30, 1),
        "transparent_hugepage": {k: _read(f"/sys/kernel/mm/transparent_hugepage/{k}")
                                 for k in ("enabled", "defrag")},
    }


def _read(path):
    try:
        return Path(path).read_text().strip()
    except OSError:
        return None


def gemm_rates(repeats: int) -> dict:
    """GEMM rate at the structured step's representative shape (1280×256)·(256×1280), and
    a check of the transposed-operand layout used by the forward pass."""
    rng = np.random.default_rng(1)
    out = {}
    for dt in (np.float64, np.float32):
        a = rng.standard_normal((1280, 256)).astype(dt)
        b = np.ascontiguousarray(rng.standard_normal((1280, 256)).astype(dt).T)
        t = measure(lambda: a @ b, repeats, warmup=3)
        out[np.dtype(dt).name] = {"time": t, "gflops": 2 * 1280 * 1280 * 256 / t["median"] / 1e9}
    # two single-threaded products side by side (what the layer-parallel step does): the
    # machine's rate with every core busy in its own product
    if threadpool_limits is not None:
        from concurrent.futures import ThreadPoolExecutor
        pool = ThreadPoolExecutor(2)
        for dt in (np.float64, np.float32):
            pairs = [(rng.standard_normal((1280, 256)).astype(dt),
                      np.ascontiguousarray(rng.standard_normal((1280, 256)).astype(dt).T))
                     for _ in range(2)]
            with threadpool_limits(1, user_api="blas"):
                time.sleep(0.3)       # let the two-threaded calls' spinning worker go idle
                t = measure(lambda: list(pool.map(lambda ab: ab[0] @ ab[1], pairs)),
                            repeats, warmup=3)
            out[np.dtype(dt).name]["gflops_concurrent"] = \
                2 * 2 * 1280 * 1280 * 256 / t["median"] / 1e9
        pool.shutdown()
    x = rng.standard_normal((128, 784))
    W = rng.standard_normal((256, 784))
    Wt = np.ascontiguousarray(W.T)
    out["layout"] = {"b @ W.T": measure(lambda: x @ W.T, repeats, 3)["median"],
                     "b @ Wt (contiguous)": measure(lambda: x @ Wt, repeats, 3)["median"]}
    return out


# ---------------------------------------------------------------------------------------------
# workers (each in its own process)
# ---------------------------------------------------------------------------------------------
def worker_warmup():
    """Import refimpl, then the first and second Riemannian step on config A."""
    t0 = time.perf_counter()
    from refimpl.linalg import _kernels  # noqa: F401
    from refimpl.optim import RiemannianSGD
    t1 = time.perf_counter()
    from _problem import LR, MU, make_problem
    model, params, X, t = make_problem("A")
    opt = RiemannianSGD(model, "cross_entropy", lr=LR, mass=MU)
    state = opt.init(params)
    t2 = time.perf_counter()
    opt.update(state, X, t)
    t3 = time.perf_counter()
    later = measure(lambda: opt.update(state, X, t), 3, warmup=0)["median"]
    return {"import": t1 - t0, "first_step": t3 - t2, "later_step": later,
            "jit": max(0.0, (t3 - t2) - later)}


def worker_step(config: str, repeats: int):
    """The structured Riemannian step alone (for a run under another environment)."""
    from _problem import LR, MU, make_problem
    from refimpl.optim import RiemannianSGD
    model, params, X, t = make_problem(config)
    opt = RiemannianSGD(model, "cross_entropy", lr=LR, mass=MU)
    state = opt.init(params)
    return {"time": measure(lambda: opt.update(state, X, t), repeats, warmup=3)}


def worker_generic(config: str):
    """One Riemannian step with every B̃ materialised (``blocks="materialized"``)."""
    import resource

    from _problem import LR, MU, linear_paths, make_problem, rel_diff
    from refimpl.optim import RiemannianSGD
    model, params, X, t = make_problem(config)
    rss0 = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    opt = RiemannianSGD(model, "cross_entropy", lr=LR, mass=MU, blocks="materialized")
    state = opt.init(params)
    t0 = time.perf_counter()
    new, info = opt.update(state, X, t)
    dt = time.perf_counter() - t0
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    ref = RiemannianSGD(model, "cross_entropy", lr=LR, mass=MU)
    new_ref, _ = ref.update(ref.init(params), X, t)
    paths = linear_paths(model)
    upd = {p: {n: new.params[p][n] - params[p][n] for n in ("W", "b")} for p in paths}
    upd_ref = {p: {n: new_ref.params[p][n] - params[p][n] for n in ("W", "b")} for p in paths}
    return {"time": dt, "peak_rss_gb": peak / 2 ** 20, "start_rss_gb": rss0 / 2 ** 20,
            "rel_diff_vs_structured": rel_diff(upd, upd_ref, paths),
            "methods": info.get("methods")}


def _load_problem(path):
    z = np.load(path)
    L = int(z["L"])
    params = [(z[f"W{l}"], z[f"b{l}"]) for l in range(L)]
    ref = [(z[f"dW{l}"], z[f"db{l}"]) for l in range(L)]
    onehot = np.eye(params[-1][0].shape[0])[z["t"]]
    return params, z["X"], onehot, ref, float(z["mu"]), float(z["lr"])


def _rel_list(upd, ref):
    return max(float(np.sqrt(sum(np.sum((np.asarray(u) - rf) ** 2) for u, rf in zip(pu, pr))
                             / sum(np.sum(rf ** 2) for rf in pr)))
               for pu, pr in zip(upd, ref))


def worker_torch(problem: str, repeats: int):
    import torch
    torch.set_num_threads(ARGS.threads)
    from _frameworks import torch_step
    params, X, onehot, ref, mu, lr = _load_problem(problem)
    tp = [(torch.from_numpy(W), torch.from_numpy(b)) for W, b in params]
    tX, tY = torch.from_numpy(X), torch.from_numpy(onehot)
    with torch.inference_mode():
        def step():
            new, upd, diag = torch_step(tp, tX, tY, mu, lr)
            if not diag["finite"]:
                raise RuntimeError("torch: non-finite update")
            return upd, diag
        res = measure(step, repeats, warmup=3)
        upd, diag = step()
    return {"time": res, "rel_diff": _rel_list([(a.numpy(), b.numpy()) for a, b in upd], ref),
            "diag": diag, "version": torch.__version__, "threads": torch.get_num_threads(),
            "blas": "MKL" if torch.backends.mkl.is_available() else "other"}


def worker_jax(problem: str, repeats: int):
    import jax
    jax.config.update("jax_enable_x64", True)
    jax.config.update("jax_platforms", "cpu")
    from _frameworks import make_jax_step
    params, X, onehot, ref, mu, lr = _load_problem(problem)
    jp = [(jax.device_put(W), jax.device_put(b)) for W, b in params]
    jX, jY = jax.device_put(X), jax.device_put(onehot)
    step_fn = make_jax_step(mu, lr)
    t0 = time.perf_counter()
    jax.block_until_ready(step_fn(jp, jX, jY))
    compile_s = time.perf_counter() - t0

    def step():
        new, upd, diag = jax.block_until_ready(step_fn(jp, jX, jY))
        if not bool(diag["finite"]):
            raise RuntimeError("jax: non-finite update")
        return upd, diag
    res = measure(step, repeats, warmup=2)
    upd, diag = step()
    return {"time": res, "compile": compile_s,
            "rel_diff": _rel_list([(np.asarray(a), np.asarray(b)) for a, b in upd], ref),
            "diag": {k: float(v) for k, v in diag.items()}, "version": jax.__version__,
            "devices": [str(d) for d in jax.devices()]}


WORKERS = {"warmup": lambda: worker_warmup(),
           "step": lambda: worker_step(ARGS.config, ARGS.repeats),
           "generic": lambda: worker_generic(ARGS.config),
           "torch": lambda: worker_torch(ARGS.problem, ARGS.repeats),
           "jax": lambda: worker_jax(ARGS.problem, ARGS.repeats)}


# ---------------------------------------------------------------------------------------------
# the measurements
# ---------------------------------------------------------------------------------------------
def bench_config(name: str, repeats: int, gemm: dict, quick: bool) -> dict:
    from _problem import (CONFIGS, FLOAT32_ROWS, LR, MU, linear_paths, make_problem,
                          manual_step, rel_diff, structured_flops)
    from refimpl.metric import LayerMetric, build_metric
    from refimpl.metric.parallel import parallel_threads
    from refimpl.modules import block_items
    from refimpl.optim import SGD, RiemannianSGD

    rate64 = gemm["float64"]["gflops"]
    cfg = CONFIGS[name]
    widths, S = cfg["widths"], cfg["S"]
    k = widths[-1]
    model, params, X, t = make_problem(name)
    paths = linear_paths(model)
    out = {"widths": list(widths), "S": S, "r": k, "mu": MU, "dtype": "float64",
           "load_before": loadavg()}

    sgd = SGD(model, "cross_entropy", lr=LR)
    # the default step (float32 factorisation with float64 refinement; layer-parallel when
    # parallel_threads says so) and the variants that switch each of the two off
    variants = {"riemannian": {}, "riemannian_double": {"precision": "double"},
                "riemannian_one_thread": {"threads": 1},
                "riemannian_double_one_thread": {"precision": "double", "threads": 1}}
    opts = {v: RiemannianSGD(model, "cross_entropy", lr=LR, mass=MU, output_metric="identity",
                             **kw) for v, kw in variants.items()}
    riem = opts["riemannian"]
    s_sgd = sgd.init(params)
    states = {v: o.init(params) for v, o in opts.items()}
    s_riem = states["riemannian"]
    for _ in range(2):                                        # warm-up (JIT, caches)
        sgd.update(s_sgd, X, t)
        for v, o in opts.items():
            new, info = o.update(states[v], X, t)
            if v == "riemannian":
                first = new, info
    new, info = first
    # blocks of consecutive steps, as in training, each after 2 untimed steps of the same
    # kind: a step started right after another library's (or another variant's) two-threaded
    # BLAS calls finds their worker thread still spinning for 0.1 s or more, which slows the
    # single-threaded products of a layer-parallel step for its first 2–3 steps
    # (refimpl/_threads.py); in training, steps follow steps of the same kind. The variants
    # alternate block by block, so that drift in the machine's load hits all.
    t_sgd, times = [], {v: [] for v in opts}
    block, settle = 5, 2
    for _ in range(max(2, repeats // block)):
        for i in range(settle + 3 * block):
            t0 = time.perf_counter()
            sgd.update(s_sgd, X, t)
            if i >= settle:
                t_sgd.append(time.perf_counter() - t0)
        for v, o in opts.items():
            for i in range(settle + block):
                t0 = time.perf_counter()
                o.update(states[v], X, t)
                if i >= settle:
                    times[v].append(time.perf_counter() - t0)
    t_riem = times["riemannian"]
    for v in opts:
        if v != "riemannian":
            out[v] = summary(times[v])
    out["threads"] = riem.threads if riem.threads is not None else \
        parallel_threads(model, S)
    out["precision"], out["refinement_steps"] = info["precision"], info["refinement_steps"]
    out["sgd"], out["riemannian"] = summary(t_sgd), summary(t_riem)
    # the same step in fresh processes: as above, and with two allocator settings that show
    # what the step's fresh allocations cost (each step allocates K, S·r × S·r, per layer):
    # NumPy's transparent-huge-page advice for arrays ≥ 4 MB (on a kernel whose THP defrag is
    # "madvise" a fault can then compact memory synchronously) and glibc's heap trimming.
    # Informational: the table's headline numbers use the defaults.
    for key, env in (("riemannian_subprocess", {}),
                     ("riemannian_subprocess_no_hugepage", {"NUMPY_MADVISE_HUGEPAGE": "0"}),
                     ("riemannian_subprocess_no_trim", {"MALLOC_TRIM_THRESHOLD_": str(2 ** 31),
                                                        "MALLOC_MMAP_THRESHOLD_": str(2 ** 25)})):
        out[key] = run_worker("step", "--config", name, "--repeats", repeats, env=env)
    out["methods"] = info["methods"]
    out["inner_size"] = info["inner_size"]
    update_ref = {p: {n: new.params[p][n] - params[p][n] for n in ("W", "b")} for p in paths}

    # the same step by the private building blocks, with a phase breakdown
    phases = {}
    manual = manual_step(model, params, X, t, timer=None)
    out["manual_vs_public_rel_diff"] = rel_diff(manual, update_ref, paths)
    tm = measure(lambda: manual_step(model, params, X, t, timer=phases), repeats, warmup=0)
    out["manual_step"] = tm
    out["phases"] = {kk: v / repeats for kk, v in phases.items()}

    # FLOPs and roofline
    fl = structured_flops(widths, S, k, refinement_steps=info["refinement_steps"])
    total = sum(fl.values())
    out["flops"] = dict(fl)
    out["flops_total"] = total
    # the most demanding roofline: the rows done in float32 (mixed precision) at the float32
    # rate, the rest at the float64 rate, both with every core busy in its own product
    f32 = sum(v for kk, v in fl.items() if kk.startswith(FLOAT32_ROWS)) \
        if "mixed" in info["precision"].values() else 0.0
    g = gemm
    if "gflops_concurrent" in g["float64"]:
        out["roofline_time_concurrent_mixed"] = (
            (total - f32) / (g["float64"]["gflops_concurrent"] * 1e9)
            + f32 / (g["float32"]["gflops_concurrent"] * 1e9))
        out["roofline_ratio_concurrent_mixed"] = \
            out["riemannian"]["median"] / out["roofline_time_concurrent_mixed"]
    # the issue's 3.43 GFLOP counts the S·r × S·r Gram as a full GEMM (2n²k, not n²k)
    out["flops_total_gram_as_gemm"] = total + sum(v for kk, v in fl.items()
                                                  if kk.startswith("Gram"))
    out["roofline_time"] = total / (rate64 * 1e9)
    out["roofline_ratio"] = out["riemannian"]["median"] / out["roofline_time"]
    if name == "A":
        out["roofline_ratio_issue_3.43GF"] = out["riemannian"]["median"] / (3.43e9 / (rate64 * 1e9))

    # dense metric per layer, where G_l fits
    metric = build_metric(model, params, X, t, loss="cross_entropy", mass=MU)
    dense = []
    avail = mem_available()
    for path, block in block_items(_blocks(model, params, X, t)):
        n = block.n
        need = 8.0 * (n * n + block.S * block.r * n)
        est = (n * n * block.S * block.r + n ** 3 / 3) / (rate64 * 1e9) * 2
        row = {"layer": path, "n": n, "needs_gb": need / 2 ** 30}
        if need > 0.5 * avail:
            row["skipped"] = f"does not fit: needs {need / 2 ** 30:.1f} GB for G_l " \
                             f"({n} × {n}), {avail / 2 ** 30:.1f} GB available"
        elif est > (3.0 if quick else 30.0):
            row["skipped"] = f"skipped: estimated {est:.0f} s"
        else:
            c = metric.coords
            slow = est > 2.0                      # seconds: one timed run, no warm-up
            last = {}
            td = measure(lambda: last.__setitem__(
                "d", LayerMetric(block, MU, "primal").push_through(c)),
                1 if slow else 3, 0 if slow else 1)
            ts = measure(lambda: last.__setitem__("s", LayerMetric(block, MU).push_through(c)),
                         5, 1)
            ud, us = last["d"], last["s"]
            row.update({"dense": td, "structured": ts,
                        "rel_diff": rel_diff({"x": ud}, {"x": us}, ["x"])})
        dense.append(row)
    out["dense_layers"] = dense

    # generic path (materialised B̃), once, in a subprocess
    # every layer's B̃ is held at once (build_metric materialises them all), plus the inner
    # matrices and the parameters
    held = sum(8.0 * b.S * b.r * b.n for _, b in block_items(_blocks(model, params, X, t)))
    need = 1.1 * held + 0.5 * 2 ** 30
    out["generic_needs_gb"] = need / 2 ** 30
    if quick:
        out["generic"] = {"skipped": "skipped (--quick)"}
    elif need > 0.6 * avail:
        out["generic"] = {"skipped": f"does not fit: needs about {need / 2 ** 30:.1f} GB "
                                     f"(B̃ of every layer: {held / 2 ** 30:.1f} GB); "
                                     f"{avail / 2 ** 30:.1f} GB available, of which the "
                                     "benchmark uses at most 60 %"}
    else:
        out["generic"] = run_worker("generic", "--config", name)
    out["load_after"] = loadavg()
    return out


def _blocks(model, params, X, t):
    """The factor pass's blocks (float64), for the dense and generic size estimates."""
    y, caches = model._forward(params, X)
    S, k = y.shape
    R_L = np.ascontiguousarray(np.broadcast_to(np.eye(k), (S, k, k)))
    return model._factor_pass(params, caches, R_L, need_input=False)[1]


def bench_float32(repeats: int) -> dict:
    from _problem import cast, linear_paths, make_problem, manual_step, rel_diff
    model, params, X, t = make_problem("A")
    paths = linear_paths(model)
    p32, X32 = cast(params, np.float32), X.astype(np.float32)
    ref = manual_step(model, params, X, t)                       # float64, form (3′)
    ref2 = manual_step(model, params, X, t, form="2")
    u32 = manual_step(model, p32, X32, t)
    u32_2 = manual_step(model, p32, X32, t, form="2")
    dtypes = sorted({str(np.asarray(v).dtype) for p in paths for v in u32[p].values()})
    phases64, phases32 = {}, {}
    t64 = t32 = None
    t64s, t32s = [], []
    for _ in range(2):
        manual_step(model, params, X, t)
        manual_step(model, p32, X32, t)
    for _ in range(repeats):                                       # alternate
        t0 = time.perf_counter()
        manual_step(model, params, X, t, timer=phases64)
        t64s.append(time.perf_counter() - t0)
        t0 = time.perf_counter()
        manual_step(model, p32, X32, t, timer=phases32)
        t32s.append(time.perf_counter() - t0)
    t64, t32 = summary(t64s), summary(t32s)
    per_layer = {p: {"3'": rel_diff({p: u32[p]}, {p: ref[p]}, [p]),
                     "2": rel_diff({p: u32_2[p]}, {p: ref[p]}, [p])} for p in paths}
    return {"manual_float64": t64, "manual_float32": t32,
            "phases_float64": {k: v / repeats for k, v in phases64.items()},
            "phases_float32": {k: v / repeats for k, v in phases32.items()},
            "update_dtypes_float32": dtypes,
            "err_float32_form3prime": rel_diff(u32, ref, paths),
            "err_float32_form2": rel_diff(u32_2, ref, paths),
            "err_float64_form2_vs_3prime": rel_diff(ref2, ref, paths),
            "per_layer": per_layer}


def bench_frameworks(repeats: int, rounds: int) -> dict:
    from _problem import LR, MU, linear_paths, make_problem
    from refimpl.optim import RiemannianSGD
    model, params, X, t = make_problem("A")
    paths = linear_paths(model)
    riem = RiemannianSGD(model, "cross_entropy", lr=LR, mass=MU)
    # the frameworks' versions factorise in float64 on BLAS's own threads: so does this one
    same = RiemannianSGD(model, "cross_entropy", lr=LR, mass=MU, precision="double",
                         threads=1)
    state = riem.init(params)
    new, _ = riem.update(state, X, t)
    same.update(state, X, t)
    tmp = tempfile.mkdtemp(prefix="bench_riem_")
    prob = os.path.join(tmp, "problem.npz")
    arrays = {"L": len(paths), "X": X, "t": t, "mu": MU, "lr": LR}
    for l, p in enumerate(paths):
        arrays |= {f"W{l}": params[p]["W"], f"b{l}": params[p]["b"],
                   f"dW{l}": new.params[p]["W"] - params[p]["W"],
                   f"db{l}": new.params[p]["b"] - params[p]["b"]}
    np.savez(prob, **arrays)
    avail = {}
    for fw in ("torch", "jax"):
        try:
            __import__(fw)
            avail[fw] = True
        except ImportError:
            avail[fw] = False
    samples = {"refimpl": [], "refimpl_same_algorithm": [], "torch": [], "jax": []}
    extra = {}
    for _ in range(rounds):
        samples["refimpl"] += measure(lambda: riem.update(state, X, t), repeats, 2)["samples"]
        samples["refimpl_same_algorithm"] += measure(lambda: same.update(state, X, t),
                                                     repeats, 2)["samples"]
        for fw in ("torch", "jax"):
            if not avail[fw]:
                continue
            res = run_worker(fw, "--problem", prob, "--repeats", repeats)
            if "error" in res:
                extra[fw] = res
                avail[fw] = False
                continue
            samples[fw] += res["time"]["samples"]
            extra[fw] = {k: v for k, v in res.items() if k != "time"}
    out = {"refimpl": summary(samples["refimpl"]),
           "refimpl_same_algorithm": summary(samples["refimpl_same_algorithm"])}
    for fw in ("torch", "jax"):
        if samples[fw]:
            out[fw] = summary(samples[fw]) | extra[fw]
            out[fw]["refimpl_ratio"] = out["refimpl"]["median"] / out[fw]["median"]
            out[fw]["refimpl_same_algorithm_ratio"] = \
                out["refimpl_same_algorithm"]["median"] / out[fw]["median"]
        else:
            out[fw] = extra.get(fw, {"skipped": f"{fw} is not installed"})
    return out


def bench_widths(quick: bool, rate64: float) -> list:
    """Woodbury against the dense (primal) inverse for one Linear layer ``w → w``."""
    from _problem import MU, rel_diff
    from refimpl.metric import LayerMetric
    from refimpl.modules import LinearBlock
    S, r = 32, 10
    Sr = S * r
    rows = []
    widths = (8, 16, 24, 32) if quick else (8, 16, 24, 32, 48, 64, 96)
    for w in widths:
        rng = np.random.default_rng(w)
        block = LinearBlock(rng.standard_normal((S, r, w)), rng.standard_normal((S, w)), True)
        n = block.n
        v = {kk: rng.standard_normal(s) for kk, s in block.shapes.items()}
        fw = Sr * Sr * w + S * S * w + Sr ** 3 / 3 + 4 * Sr * n
        fd = n * n * Sr + n ** 3 / 3
        reps = 5 if quick else 7
        tw = measure(lambda: LayerMetric(block, MU, "woodbury").solve(v), reps, 1)
        row = {"width": w, "n": n, "Sr": Sr, "woodbury": tw, "flops_woodbury": fw,
               "flops_dense": fd}
        if fd / (rate64 * 1e9) > (1.0 if quick else 8.0) or 8.0 * n * n > 0.25 * mem_available():
            row["dense"] = {"skipped": f"estimated {fd / (rate64 * 1e9):.0f} s"}
        else:
            big = fd / (rate64 * 1e9) > 0.5        # one timed run, no warm-up
            td = measure(lambda: LayerMetric(block, MU, "primal").solve(v),
                         1 if big else reps, 0 if big else 1)
            a = LayerMetric(block, MU, "woodbury").solve(v)
            b = LayerMetric(block, MU, "primal").solve(v)
            row["dense"] = td
            row["rel_diff"] = rel_diff({"x": a}, {"x": b}, ["x"])
        rows.append(row)
    return rows


# ---------------------------------------------------------------------------------------------
# printing
# ---------------------------------------------------------------------------------------------
def print_report(res: dict):
    from _problem import FLOAT32_ROWS
    m = res["machine"]
    log("\n=== machine ===")
    log(f"cpu: {m['cpu']}; cores {m['cores']} (affinity {m['affinity']}); "
        f"memory available {m['mem_available_gb']} GB")
    log(f"python {m['python']}, numpy {m['numpy']}, scipy {m['scipy']}, numba {m['numba']}; "
        f"threads pinned to {m['threads_pinned']}")
    for p in m["blas_pools"]:
        log(f"  pool: {p['filepath']} ({p['internal_api']} {p['version']}, "
            f"{p.get('architecture')}, num_threads={p['num_threads']})")
    if not m["threadpoolctl"]:
        log("  threadpoolctl not installed: pools not reported (pip install threadpoolctl)")
    log(f"env: {m['env']}; transparent hugepages: {m['transparent_hugepage']}")
    log(f"load average at start {res['load_start']}, at end {res['load_end']}")
    g = res["gemm"]
    log("\n=== GEMM rate, (1280×256)·(256×1280) ===")
    for dt in ("float64", "float32"):
        conc = (f"; two single-threaded products side by side: "
                f"{g[dt]['gflops_concurrent']:.1f} GFLOP/s" if "gflops_concurrent" in g[dt]
                else "")
        log(f"{dt}: {ms(g[dt]['time']['median'])}  → {g[dt]['gflops']:.1f} GFLOP/s{conc}")
    lay = g["layout"]
    log(f"layout (128×784)·(784×256): b @ W.T {ms(lay['b @ W.T'])}, "
        f"b @ Wt contiguous {ms(lay['b @ Wt (contiguous)'])}")

    w = res["warmup"]
    log("\n=== Numba JIT warm-up (subprocess; first step minus a later step) ===")
    for kind in ("cold", "cached"):
        d = w[kind]
        if "error" in d:
            log(f"{kind}: error {d['error']}")
            continue
        log(f"{kind:6s}: import refimpl {d['import']:.2f} s, JIT/cache load {d['jit']:.2f} s "
            f"(first step {d['first_step']:.2f} s, later {1e3 * d['later_step']:.1f} ms)")

    for name, c in res["configs"].items():
        sgd = c["sgd"]["median"]
        log(f"\n=== config {name}: MLP {'-'.join(map(str, c['widths']))}, tanh, S = {c['S']}, "
            f"cross-entropy, identity output metric, μ = {c['mu']}, float64 ===")
        log(f"load before {c['load_before']}, after {c['load_after']}")
        log(f"{'step':44s} {'median':>12s} {'ratio to SGD':>13s}")
        log(f"{'SGD':44s} {ms(sgd)} {1.0:13.1f}")
        r = c["riemannian"]["median"]
        log(f"{'Riemannian, structured (RiemannianSGD)':44s} {ms(r)} {r / sgd:13.1f}"
            f"   [min {ms(c['riemannian']['min']).strip()}, max "
            f"{ms(c['riemannian']['max']).strip()}]")
        for key, label in (("riemannian_double", "  same, precision='double'"),
                           ("riemannian_one_thread", "  same, threads=1"),
                           ("riemannian_double_one_thread",
                            "  same, precision='double', threads=1")):
            if key in c:
                log(f"{label:44s} {ms(c[key]['median'])} {c[key]['median'] / sgd:13.1f}")
        for key, label in (("riemannian_subprocess", "  same, fresh process"),
                           ("riemannian_subprocess_no_hugepage",
                            "  same, NUMPY_MADVISE_HUGEPAGE=0"),
                           ("riemannian_subprocess_no_trim",
                            "  same, glibc heap not trimmed")):
            d = c.get(key, {})
            if "time" in d:
                log(f"{label:44s} {ms(d['time']['median'])} {d['time']['median'] / sgd:13.1f}")
        log(f"{'  same, private blocks (no validation/diag.)':44s} "
            f"{ms(c['manual_step']['median'])} {c['manual_step']['median'] / sgd:13.1f}")
        gen = c["generic"]
        if "time" in gen:
            log(f"{'Riemannian, generic (materialised B̃)':44s} {ms(gen['time'])} "
                f"{gen['time'] / sgd:13.0f}   [once; peak RSS {gen['peak_rss_gb']:.1f} GB; "
                f"rel. diff {gen['rel_diff_vs_structured']:.1e}]")
        else:
            log(f"{'Riemannian, generic (materialised B̃)':44s} "
                f"{gen.get('skipped', gen.get('error'))}")
        for d in c["dense_layers"]:
            label = f"Riemannian, dense G_l, layer {d['layer']} (n={d['n']})"
            if "dense" in d:
                log(f"{label:44s} {ms(d['dense']['median'])} {d['dense']['median'] / sgd:13.1f}"
                    f"   [structured, same layer {ms(d['structured']['median']).strip()}; "
                    f"rel. diff {d['rel_diff']:.1e}]")
            else:
                log(f"{label:44s} {d['skipped']}")
        log(f"methods: {c['methods']}; precision {c['precision']}, refinement steps "
            f"{c['refinement_steps']}; threads {c['threads']}")
        log("phases (private blocks): " + ", ".join(f"{k} {1e3 * v:.1f} ms"
                                                     for k, v in c["phases"].items()))
        log(f"private-block step vs RiemannianSGD update: rel. diff "
            f"{c['manual_vs_public_rel_diff']:.1e}")
        log("FLOPs of the structured step:")
        for k, v in c["flops"].items():
            log(f"  {k:42s} {v / 1e6:10.1f} MFLOP")
        log(f"  {'total':42s} {c['flops_total'] / 1e9:10.3f} GFLOP")
        log(f"roofline: {c['flops_total'] / 1e9:.3f} GFLOP at {res['gemm']['float64']['gflops']:.1f}"
            f" GFLOP/s = {ms(c['roofline_time']).strip()}; measured / roofline = "
            f"{c['roofline_ratio']:.2f}")
        log(f"  (with the Gram products counted as full GEMMs, as the issue's figure does: "
            f"{c['flops_total_gram_as_gemm'] / 1e9:.3f} GFLOP)")
        if "roofline_ratio_issue_3.43GF" in c:
            log(f"          against the issue's 3.43 GFLOP: "
                f"{ms(3.43 / res['gemm']['float64']['gflops']).strip()}; measured / that = "
                f"{c['roofline_ratio_issue_3.43GF']:.2f}")
        if "roofline_time_concurrent_mixed" in c:
            log(f"  strictest: the float32 rows ({', '.join(FLOAT32_ROWS)}) at the "
                f"float32 rate, the rest at the float64 rate, both with two single-threaded "
                f"products side by side: {ms(c['roofline_time_concurrent_mixed']).strip()}; "
                f"measured / that = {c['roofline_ratio_concurrent_mixed']:.2f}")

    f = res.get("float32")
    if f:
        log("\n=== config A in float32 (private building blocks; the public API is float64) ===")
        log(f"step float64 {ms(f['manual_float64']['median'])}, float32 "
            f"{ms(f['manual_float32']['median'])} (ratio "
            f"{f['manual_float32']['median'] / f['manual_float64']['median']:.2f}); "
            f"update dtype {f['update_dtypes_float32']}")
        log("phases float32: " + ", ".join(f"{k} {1e3 * v:.1f} ms"
                                            for k, v in f["phases_float32"].items()))
        log(f"relative error against float64 (max over layers ‖Δ32 − Δ64‖/‖Δ64‖): "
            f"push-through (3′) {f['err_float32_form3prime']:.1e}, Woodbury (2) "
            f"{f['err_float32_form2']:.1e}; in float64 (2) vs (3′) "
            f"{f['err_float64_form2_vs_3prime']:.1e}")
        for p, e in f["per_layer"].items():
            e3, e2 = e["3'"], e["2"]
            log(f"  layer {p}: (3′) {e3:.1e}, (2) {e2:.1e}")

    fw = res.get("frameworks")
    if fw:
        log("\n=== the same step in PyTorch and JAX (config A, float64; own subprocesses) ===")
        ref = fw["refimpl"]["median"]
        log(f"refimpl (RiemannianSGD.update)   {ms(ref)}")
        same = fw["refimpl_same_algorithm"]["median"]
        log(f"refimpl, precision='double', threads=1 (the frameworks' algorithm) {ms(same)}")
        for name in ("torch", "jax"):
            d = fw[name]
            if "median" in d:
                extra = f", jit compile {d['compile']:.1f} s" if "compile" in d else ""
                log(f"{name:32s} {ms(d['median'])}   refimpl / {name} = "
                    f"{d['refimpl_ratio']:.2f} (same algorithm: "
                    f"{d['refimpl_same_algorithm_ratio']:.2f}); max rel. diff of the update "
                    f"{d['rel_diff']:.1e} ({name} {d['version']}{extra})")
            else:
                log(f"{name:32s} {d.get('skipped', d.get('error'))}")

    log("\n=== Woodbury against the dense inverse: one Linear layer w → w (S = 32, r = 10) ===")
    log(f"{'w':>4s} {'n':>6s} {'S·r':>5s} {'Woodbury':>12s} {'dense':>12s} {'dense/Wood.':>11s} "
        f"{'GF Wood.':>9s} {'GF dense':>9s} {'rel. diff':>9s}")
    for row in res["widths"]:
        d = row["dense"]
        dt = ms(d["median"]) if "median" in d else f"{'skipped':>12s}"
        ratio = f"{d['median'] / row['woodbury']['median']:11.1f}" if "median" in d else " " * 11
        rd = f"{row['rel_diff']:9.1e}" if "rel_diff" in row else ""
        log(f"{row['width']:4d} {row['n']:6d} {row['Sr']:5d} {ms(row['woodbury']['median'])} "
            f"{dt} {ratio} {row['flops_woodbury'] / 1e9:9.3f} {row['flops_dense'] / 1e9:9.3f} "
            f"{rd}")


def main():
    if ARGS.worker:
        if threadpool_limits is not None:
            threadpool_limits(ARGS.threads)
        print(json.dumps(WORKERS[ARGS.worker]()), flush=True)
        return
    quick = ARGS.quick
    repeats = 4 if quick else 10
    res = {"args": {"quick": quick, "threads": ARGS.threads},
           "load_start": loadavg(), "time_start": time.strftime("%Y-%m-%d %H:%M:%S")}
    res["machine"] = machine_info()
    if threadpool_limits is not None:
        threadpool_limits(ARGS.threads)
    log(f"load average at start: {res['load_start']}")
    log("GEMM rate …")
    res["gemm"] = gemm_rates(repeats)
    rate64 = res["gemm"]["float64"]["gflops"]
    log("Numba warm-up (cold, then cached) …")
    cache = tempfile.mkdtemp(prefix="numba_cache_")
    res["warmup"] = {"cold": run_worker("warmup", env={"NUMBA_CACHE_DIR": cache}),
                     "cached": run_worker("warmup", env={"NUMBA_CACHE_DIR": cache})}
    res["configs"] = {}
    for name in (("A",) if quick else ("A", "B")):
        log(f"config {name} …")
        res["configs"][name] = bench_config(name, repeats, res["gemm"], quick)
    log("float32 …")
    res["float32"] = bench_float32(repeats)
    if not ARGS.skip_frameworks:
        log("PyTorch / JAX …")
        res["frameworks"] = bench_frameworks(repeats, 1 if quick else 2)
    log("width table …")
    res["widths"] = bench_widths(quick, rate64)
    res["load_end"] = loadavg()
    res["time_end"] = time.strftime("%Y-%m-%d %H:%M:%S")
    print_report(res)
    tmp = Path(ARGS.out).with_suffix(".json.tmp")
    tmp.write_text(json.dumps(res, indent=1, default=str))
    os.replace(tmp, ARGS.out)                      # never a half-written results file
    log(f"\nresults written to {ARGS.out}")


if __name__ == "__main__":
    main()
