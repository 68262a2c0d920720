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


def _conv(rng, c_in, size):
    """A random Conv2d description on ``c_in × size × size`` and its output size."""
    k = int(rng.integers(1, min(size, 3) + 1))
    stride, pad = int(rng.integers(1, 3)), int(rng.integers(0, k // 2 + 1))
    c_out = int(rng.integers(1, 4))
    out = (size + 2 * pad - k) // stride + 1
    return {"type": "Conv2d", "in_channels": c_in, "out_channels": c_out,
            "kernel_size": [k, k], "stride": [stride, stride], "padding": [pad, pad],
            "bias": bool(rng.random() < 0.8), "input_size": [size, size]}, c_out, out


def random_cnn_architecture(rng, k):
    """conv → activation → (pool) → (conv) → flatten → linear on a small random image."""
    c, size = int(rng.integers(1, 4)), int(rng.integers(4, 8))
    layers = []
    conv, c, size = _conv(rng, c, size)
    layers += [conv, _act(str(rng.choice(ACTS)), 1) | {"dim": [c, size, size]}]
    if size >= 2 and rng.random() < 0.8:
        kp = int(rng.integers(2, min(size, 3) + 1))
        sp, pp = int(rng.integers(1, 3)), int(rng.integers(0, kp // 2 + 1))
        layers.append({"type": str(rng.choice(["MaxPool2d", "AvgPool2d"])), "channels": c,
                       "kernel_size": [kp, kp], "stride": [sp, sp], "padding": [pp, pp],
                       "input_size": [size, size]})
        size = (size + 2 * pp - kp) // sp + 1
    if rng.random() < 0.5:
        conv, c, size = _conv(rng, c, size)
        layers.append(conv)
    layers += [{"type": "Flatten", "shape": [c, size, size]}, _linear(c * size * size, k)]
    return _seq(*layers)


def random_cnn_spec(seed: int) -> dict:
    """A random convolutional case (seeded), in the same form as :func:`random_spec`."""
    rng = np.random.default_rng([20261130, seed])
    loss = str(rng.choice(["mse", "cross_entropy"]))
    k = int(rng.integers(2, 4))
    return {"name": f"crosscheck-cnn-{seed}", "kind": "cnn",
            "architecture": random_cnn_architecture(rng, k), "loss": loss,
            "output_metric": str(rng.choice(["identity", "gauss-newton", "custom"])),
            "mass": str(rng.choice(["scalar", "tiny", "large", "per-parameter"])),
            "batch": int(rng.integers(1, 5)), "lr": float(rng.choice([0.1, 1.0])),
            "weight_scale": 1.0, "family": "cnn"}
