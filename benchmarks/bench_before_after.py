#!/usr/bin/env python
"""One Riemannian step of config A from two source trees, in one run (a script, not a test).

    python benchmarks/bench_before_after.py BASELINE_TREE [CANDIDATE_TREE] [--rounds 6]

Each round starts one process per tree (``PYTHONPATH`` set to the tree, BLAS threads pinned),
alternating which goes first; a process builds the MLP 784-256-256-10 (tanh, batch 128,
softmax cross-entropy, identity output metric, μ = 0.01, lr 1; the configuration of
``bench_riemannian_step.py``), warms up (Numba compiled or loaded before the clock) and times
``RiemannianSGD.update`` over a number of steps. It prints every round's medians and the ratio
candidate / baseline, pair by pair and as the median of the pairs, so that a drift of the
machine's speed between rounds cancels. ``CANDIDATE_TREE`` defaults to this checkout. Only the
public API both trees share is used (``refimpl.modules.mlp``, ``refimpl.optim.RiemannianSGD``).
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path

WORKER = r"""
import json, sys, time
import numpy as np
from refimpl.modules import mlp
from refimpl.optim import RiemannianSGD
import refimpl
rng = np.random.default_rng(0)
model = mlp([784, 256, 256, 10], "tanh")
params = model.init(rng)
X = rng.uniform(0.0, 1.0, (128, 784))
t = rng.integers(0, 10, 128)
opt = RiemannianSGD(model, "cross_entropy", lr=1.0, mass=0.01)
state = opt.init(params)
for _ in range(3):
    opt.update(state, X, t)                     # warm-up: Numba, caches, thread pool
times = []
for _ in range(int(sys.argv[1])):
    t0 = time.perf_counter()
    opt.update(state, X, t)
    times.append(time.perf_counter() - t0)
print(json.dumps({"file": refimpl.__file__, "median": float(np.median(times)),
                  "min": float(np.min(times))}))
"""


def run(tree: Path, steps: int, threads: int) -> dict:
    env = dict(os.environ, PYTHONPATH=str(tree), OPENBLAS_NUM_THREADS=str(threads),
               OMP_NUM_THREADS=str(threads), MKL_NUM_THREADS=str(threads))
    out = subprocess.run([sys.executable, "-c", WORKER, str(steps)], env=env, cwd=tree,
                         capture_output=True, text=True, check=True)
    result = json.loads(out.stdout.strip().splitlines()[-1])
    if not result["file"].startswith(str(tree)):
        raise RuntimeError(f"{tree}: imported refimpl from {result['file']}")
    return result


def main() -> int:
    here = Path(__file__).resolve().parents[1]
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("baseline", type=Path)
    p.add_argument("candidate", type=Path, nargs="?", default=here)
    p.add_argument("--rounds", type=int, default=6)
    p.add_argument("--steps", type=int, default=15)
    p.add_argument("--threads", type=int, default=os.cpu_count())
    args = p.parse_args()
    trees = {"baseline": args.baseline.resolve(), "candidate": args.candidate.resolve()}
    ratios = []
    print(f"load average before: {os.getloadavg()}")
    for i in range(args.rounds):
        order = ["baseline", "candidate"] if i % 2 == 0 else ["candidate", "baseline"]
        got = {name: run(trees[name], args.steps, args.threads) for name in order}
        ratio = got["candidate"]["median"] / got["baseline"]["median"]
        ratios.append(ratio)
        print(f"round {i + 1}: baseline {1e3 * got['baseline']['median']:.1f} ms, candidate "
              f"{1e3 * got['candidate']['median']:.1f} ms, ratio {ratio:.3f}")
    ratios.sort()
    print(f"median ratio candidate / baseline over {len(ratios)} rounds: "
          f"{ratios[len(ratios) // 2]:.3f} (min {ratios[0]:.3f}, max {ratios[-1]:.3f}); "
          f"load average after: {os.getloadavg()}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
