"""Random architectures and cases, as specs for :func:`refimpl.oracle.golden_build.compute`.

A spec names its network in the JSON architecture format; the inputs are drawn by
:func:`refimpl.oracle.golden_build.make_inputs` from a seed derived from the spec's name.
"""
import numpy as np

from refimpl.modules import ACTIVATIONS

ACTS = list(ACTIVATIONS)


def _linear(n_in, n_out, bias=True):
    return {"type": "Linear", "n_in": int(n_in), "n_out": int(n_out), "bias": bool(bias)}


def _act(name, dim):
    return {"type": "Pointwise", "activation": name, "dim": int(dim)}


def _seq(*children):
    return {"type": "Sequential", "children": list(children)}


def random_architecture(rng, d_in, k):
    kind = rng.choice(["mlp", "mlp", "residual", "branches"])
    act = lambda: str(rng.choice(ACTS))                                   # noqa: E731
    if kind == "mlp":
        widths = [d_in] + [int(rng.integers(1, 7)) for _ in range(rng.integers(0, 3))] + [k]
        a, layers = act(), []
        for i, (n, m) in enumerate(zip(widths, widths[1:])):
            layers.append(_linear(n, m, bias=rng.random() < 0.85))
            if i < len(widths) - 2:
                layers.append(_act(a, m))
        return kind, _seq(*layers)
    h = int(rng.integers(1, 6))
    if kind == "residual":
        block = _seq(_linear(h, h, bias=rng.random() < 0.7), _act(act(), h))
        res = _seq({"type": "FanOut", "space": h, "n": 2},
                   {"type": "Parallel", "children": [block, {"type": "Identity", "space": h}]},
                   {"type": "Sum", "space": h, "n": 2})
        return kind, _seq(_linear(d_in, h), res, _act(act(), h), _linear(h, k))
    nb = int(rng.integers(2, 4))
    hs = [int(rng.integers(1, 5)) for _ in range(nb)]
    branches = [_seq(_linear(d_in, hi, bias=rng.random() < 0.7), _act(act(), hi)) for hi in hs]
    return kind, _seq({"type": "FanOut", "space": d_in, "n": nb},
                      {"type": "Parallel", "children": branches},
                      {"type": "Concat", "spaces": hs}, _linear(sum(hs), k))


def random_spec(seed: int) -> dict:
    """A random case: architecture, loss, output metric, mass kind, batch (seeded)."""
    rng = np.random.default_rng([20261127, seed])
    loss = str(rng.choice(["mse", "cross_entropy"]))
    d_in = int(rng.integers(1, 5))
    k = int(rng.integers(2 if loss == "cross_entropy" else 1, 4))
    kind, arch = random_architecture(rng, d_in, k)
    return {"name": f"crosscheck-{seed}", "kind": "composite", "architecture": arch,
            "loss": loss,
            "output_metric": str(rng.choice(["identity", "gauss-newton", "custom"])),
            "mass": str(rng.choice(["scalar", "tiny", "large", "per-parameter"])),
            "batch": int(rng.integers(1, 7)), "lr": float(rng.choice([0.1, 1.0])),
            "weight_scale": 1.0, "family": kind}
