#!/usr/bin/env python
"""Problems too big for a direct solve: one Riemannian step at a large batch (a script, not
a test).

    python benchmarks/bench_large_batch.py [--samples 4096 8192] [--mass 1.0] [--direct]

MLP 784-256-10 (tanh), softmax cross-entropy, Gauss–Newton output metric (``r = 10`` factor
rows per sample), layer scope, on ``S`` samples (the shipped MNIST subset's images, repeated
with a fresh random shift of each pixel when ``S`` exceeds its 5,000). Each configuration runs
in its own process, which reports:

- the plan of each layer (method, estimated bytes and flops; :mod:`refimpl.metric.plan`);
- wall time of the step, the conjugate-gradient iterations, the relative residual
  ``‖G u − ∇R‖ / ‖∇R‖`` of the update (the step's own diagnostic);
- the process's peak resident memory (``ru_maxrss``).

``--direct`` adds, at every ``S``, ``method="auto"``: the direct path where it fits in the
memory available (the first layer's ``S·r × S·r`` inner matrix factorised in float32 and
refined, the last layer's ``n × n`` metric by the primal solve) and conjugate gradients where
no direct method fits, saying so; and at the largest ``S`` ``method="woodbury"``, whose
refusal (:class:`~refimpl.metric.InsufficientMemoryError`) replaces a raw ``MemoryError``.
Results go to ``benchmarks/large_batch.json``.
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent

WORKER = r"""
import json, resource, sys, time, warnings
import numpy as np
from refimpl.data import load_dataset
from refimpl.metric import InsufficientMemoryError, build_metric
from refimpl.modules import mlp

S, mass, method, memory = int(sys.argv[1]), float(sys.argv[2]), sys.argv[3], sys.argv[4]
memory = None if memory == "none" else float(memory)
data = load_dataset("mnist-5k")
X_all = np.concatenate([data.X_train, data.X_test])
y_all = np.concatenate([data.y_train, data.y_test])
rng = np.random.default_rng(0)
idx = np.arange(S) % X_all.shape[0]
X = X_all[idx] + (idx >= X_all.shape[0])[:, None] * rng.uniform(-0.05, 0.05, (S, 784))
t = y_all[idx]
model = mlp([784, 256, 10], "tanh")
params = model.init(np.random.default_rng(1))
t0 = time.perf_counter()
out = {"S": S, "mass": mass, "method": method}
try:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        metric = build_metric(model, params, X, t, loss="cross_entropy",
                              output_metric="gauss-newton", mass=mass, method=method,
                              memory=memory, prepare_step=True)
    out["plans"] = {p: {"method": s.plan.method, "GB": s.plan.bytes / 1e9,
                        "GFLOP": s.plan.flops / 1e9} for p, s in metric.layers.items()}
    _, diag = metric.step(1.0)
    out.update(seconds=time.perf_counter() - t0, residual=diag["residual"],
               cg_iterations=diag["cg_iterations"], methods=diag["methods"],
               notes=diag["notes"],
               iterations={p: s.inner.iterations for p, s in metric.layers.items()
                           if hasattr(s.inner, "iterations")})
except InsufficientMemoryError as exc:
    out.update(seconds=time.perf_counter() - t0, refused=str(exc))
out["peak_GB"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024 / 1e9
print(json.dumps(out))
"""


def run(S, mass, method, memory="none"):
    env = dict(os.environ, PYTHONPATH=str(HERE.parent))
    proc = subprocess.run([sys.executable, "-c", WORKER, str(S), str(mass), method, memory],
                          capture_output=True, text=True, env=env)
    if proc.returncode != 0:
        lines = proc.stderr.strip().splitlines()
        return {"S": S, "method": method, "error": lines[-1] if lines else
                f"the process ended with status {proc.returncode} (a negative status is the "
                "signal that killed it, e.g. -9 by the kernel's out-of-memory killer)"}
    return json.loads(proc.stdout.strip().splitlines()[-1])


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--samples", type=int, nargs="+", default=[4096, 8192])
    p.add_argument("--mass", type=float, default=1.0)
    p.add_argument("--direct", action="store_true", help="also the direct path")
    p.add_argument("--out", default=str(HERE / "large_batch.json"))
    args = p.parse_args()
    rows = [{"load_average": os.getloadavg(), "cores": os.cpu_count(),
             "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())}]
    for S in args.samples:
        row = run(S, args.mass, "cg")
        print(json.dumps(row), flush=True)
        rows.append(row)
        direct = ["auto"] + (["woodbury"] if S == max(args.samples) else [])
        for method in (direct if args.direct else []):
            row = run(S, args.mass, method)
            print(json.dumps(row), flush=True)
            rows.append(row)
    Path(args.out).write_text(json.dumps(rows, indent=1) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
