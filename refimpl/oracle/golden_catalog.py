"""The default golden set's cases, declared as data (used by :mod:`refimpl.oracle.golden`).

A case spec is a plain dict:

- ``architecture``: a module description (:mod:`refimpl.oracle.architecture`); MLP cases also
  carry ``widths`` and ``activation`` (the network of :func:`refimpl.modules.mlp`); ``kind``
  is ``"mlp"``, ``"composite"`` or ``"cnn"`` (convolutional networks on ``C×8×8`` images,
  inputs ``X`` of shape ``(S, C, 8, 8)``);
- ``loss``: ``"mse"`` or ``"cross_entropy"``;
- ``output_metric``: ``"identity"``, ``"gauss-newton"`` or ``"custom"`` (a random SPD
  ``k × k`` matrix stored with the case);
- ``mass``: ``"scalar"`` (``μ = 0.3``), ``"tiny"`` (``1e-6``), ``"large"`` (``1e4``) or
  ``"per-parameter"`` (log-uniform in ``[0.1, 10]``, one value per parameter);
- ``batch`` ``S``, learning rate ``lr``, ``weight_scale`` (multiplies the last linear
  layer's weights; large values make extreme logits).

The set is a covering subset of activations × losses × output metrics × masses × shapes, not
the full product: every activation meets both losses, every (loss, output metric, mass)
triple occurs, and the shapes include batch 1, output dimension 1, a single linear layer, a
batch larger than the layer (``S·r > n_l``) and layers wider than the batch (``n_l > S·r``).
The CNN cases cover 1×8×8 and 3×8×8 inputs, stride 2 with padding, max and average pooling
(overlapping windows with padding among them), both losses, both output metrics, and scalar and
per-parameter mass. Each case's random inputs come from a seed derived from its name (:func:`seed_of`), so adding
or removing a case leaves the others unchanged.
"""
from __future__ import annotations

import hashlib
import itertools

from ..modules import ACTIVATIONS

MASSES = {"scalar": 0.3, "tiny": 1e-6, "large": 1e4, "per-parameter": (0.1, 10.0)}
OUTPUT_METRICS = ("identity", "gauss-newton", "custom")
LOSSES = ("mse", "cross_entropy")

#: name → (widths, batch)
SHAPES = {
    "small": ([3, 4, 2], 5),
    "deep": ([4, 6, 5, 3], 4),
    "wide": ([4, 8, 3], 3),            # n_l > S·r: Woodbury's regime
    "batch1": ([3, 4, 3], 1),
    "k1": ([4, 5, 1], 4),              # output dimension 1 (mse only)
    "tall": ([2, 3, 2], 12),           # S·r > n_l: the primal regime
    "linear": ([5, 3], 4),             # a single linear layer
}


def seed_of(name: str) -> int:
    """The case's seed: the first 6 bytes of SHA-256 of its name, as a little-endian integer
    (48 bits, exact in any JSON reader)."""
    return int.from_bytes(hashlib.sha256(name.encode()).digest()[:6], "little")


def _mlp(activation, shape, loss, om, mass, *, lr=0.5, weight_scale=1.0, tag=""):
    widths, S = SHAPES[shape]
    n = len(widths)
    layers = []
    for i, (a, b) in enumerate(zip(widths, widths[1:])):
        layers.append({"type": "Linear", "n_in": a, "n_out": b, "bias": True})
        if i < n - 2:
            layers.append({"type": "Pointwise", "activation": activation, "dim": b})
    act = activation if n > 2 else "none"
    name = f"mlp-{act}-{shape}-{loss}-{om}-{mass}{tag}"
    return {"name": name, "kind": "mlp", "widths": widths, "activation": activation,
            "architecture": {"type": "Sequential", "children": layers},
            "loss": loss, "output_metric": om, "mass": mass, "batch": S, "lr": lr,
            "weight_scale": weight_scale}


def _residual():
    block = {"type": "Sequential", "children": [
        {"type": "Linear", "n_in": 4, "n_out": 4, "bias": True},
        {"type": "Pointwise", "activation": "tanh", "dim": 4}]}
    return {"type": "Sequential", "children": [
        {"type": "Linear", "n_in": 3, "n_out": 4, "bias": True},
        {"type": "Sequential", "children": [
            {"type": "FanOut", "space": 4, "n": 2},
            {"type": "Parallel", "children": [block, {"type": "Identity", "space": 4}]},
            {"type": "Sum", "space": 4, "n": 2}]},
        {"type": "Linear", "n_in": 4, "n_out": 3, "bias": True}]}


def _two_branch():
    return {"type": "Sequential", "children": [
        {"type": "FanOut", "space": 3, "n": 2},
        {"type": "Parallel", "children": [
            {"type": "Sequential", "children": [
                {"type": "Linear", "n_in": 3, "n_out": 4, "bias": True},
                {"type": "Pointwise", "activation": "tanh", "dim": 4}]},
            {"type": "Sequential", "children": [
                {"type": "Linear", "n_in": 3, "n_out": 2, "bias": False},
                {"type": "Pointwise", "activation": "sin", "dim": 2}]}]},
        {"type": "Concat", "spaces": [4, 2]},
        {"type": "Linear", "n_in": 6, "n_out": 3, "bias": True}]}


COMPOSITES = {"residual": _residual, "two_branch": _two_branch}


def _composite(arch, loss, om, mass, batch=4, lr=0.5):
    return {"name": f"{arch}-{loss}-{om}-{mass}", "kind": "composite",
            "architecture": COMPOSITES[arch](), "loss": loss, "output_metric": om,
            "mass": mass, "batch": batch, "lr": lr, "weight_scale": 1.0}


def _conv(c_in, c_out, k, stride, pad, size, bias=True):
    return {"type": "Conv2d", "in_channels": c_in, "out_channels": c_out,
            "kernel_size": [k, k], "stride": [stride, stride], "padding": [pad, pad],
            "bias": bias, "input_size": [size, size]}


def _pool(kind, channels, k, stride, size, pad=0):
    out = {"type": kind, "channels": channels, "kernel_size": [k, k],
           "stride": [stride, stride], "input_size": [size, size]}
    return out | ({"padding": [pad, pad]} if pad else {})


#: name → architecture builder(in_channels); every one maps (C, 8, 8) to R^3
CNNS = {
    # conv 3×3 stride 2 pad 1 (8 → 4), relu, max-pool 2 (4 → 2), linear
    "s2-max": lambda c: [_conv(c, 2, 3, 2, 1, 8),
                         {"type": "Pointwise", "activation": "relu", "dim": [2, 4, 4]},
                         _pool("MaxPool2d", 2, 2, 2, 4),
                         {"type": "Flatten", "shape": [2, 2, 2]},
                         {"type": "Linear", "n_in": 8, "n_out": 3, "bias": True}],
    # conv 3×3 pad 1 (8 → 8), tanh, avg-pool 2 (8 → 4), conv 3×3 stride 2 pad 1 without
    # bias (4 → 2), linear
    "avg-s2": lambda c: [_conv(c, 2, 3, 1, 1, 8),
                         {"type": "Pointwise", "activation": "tanh", "dim": [2, 8, 8]},
                         _pool("AvgPool2d", 2, 2, 2, 8),
                         _conv(2, 2, 3, 2, 1, 4, bias=False),
                         {"type": "Flatten", "shape": [2, 2, 2]},
                         {"type": "Linear", "n_in": 8, "n_out": 3, "bias": True}],
    # conv 5×5 (8 → 4), softplus, overlapping max-pool 3 stride 2 pad 1 (4 → 2), linear
    "overlap-max": lambda c: [_conv(c, 3, 5, 1, 0, 8),
                              {"type": "Pointwise", "activation": "softplus", "dim": [3, 4, 4]},
                              _pool("MaxPool2d", 3, 3, 2, 4, pad=1),
                              {"type": "Flatten", "shape": [3, 2, 2]},
                              {"type": "Linear", "n_in": 12, "n_out": 3, "bias": True}],
    # conv 3×3 stride 2 (8 → 3), gelu, overlapping avg-pool 3 stride 2 pad 1 (3 → 2), linear
    "s2-overlap-avg": lambda c: [_conv(c, 2, 3, 2, 0, 8),
                                 {"type": "Pointwise", "activation": "gelu", "dim": [2, 3, 3]},
                                 _pool("AvgPool2d", 2, 3, 2, 3, pad=1),
                                 {"type": "Flatten", "shape": [2, 2, 2]},
                                 {"type": "Linear", "n_in": 8, "n_out": 3, "bias": True}],
}


def _cnn(arch, channels, loss, om, mass, batch=3, lr=0.5):
    return {"name": f"cnn-{arch}-{channels}x8x8-{loss}-{om}-{mass}", "kind": "cnn",
            "architecture": {"type": "Sequential", "children": CNNS[arch](channels)},
            "loss": loss, "output_metric": om, "mass": mass, "batch": batch, "lr": lr,
            "weight_scale": 1.0}


def default_cases() -> list[dict]:
    """The default golden set (about 60 cases, a few MB)."""
    cases = []
    # A. every activation with both losses, over the common shapes
    for i, (act, loss) in enumerate(itertools.product(ACTIVATIONS, LOSSES)):
        shape = ("small", "deep", "wide", "batch1")[(i + i // 2) % 4]
        om = ("identity", "gauss-newton")[(i // 2) % 2]
        mass = ("scalar", "per-parameter")[(i // 4) % 2]
        cases.append(_mlp(act, shape, loss, om, mass))
    # B. every (loss, output metric, mass) triple
    acts = itertools.cycle(["tanh", "gelu", "softplus", "sigmoid", "sin", "leaky_relu"])
    shapes = itertools.cycle(["small", "wide", "deep"])
    for loss, om, mass in itertools.product(LOSSES, OUTPUT_METRICS, MASSES):
        cases.append(_mlp(next(acts), next(shapes), loss, om, mass))
    # C. shapes at the edges: batch 1, output dimension 1, one layer, S·r > n_l
    for loss, mass in itertools.product(LOSSES, ("tiny", "large")):
        cases.append(_mlp("tanh", "batch1", loss, "gauss-newton", mass))
    for mass in ("scalar", "tiny", "per-parameter"):
        cases.append(_mlp("tanh", "k1", "mse", "identity", mass))
    cases.append(_mlp("sigmoid", "k1", "mse", "custom", "large"))
    for loss in LOSSES:
        cases.append(_mlp("identity", "linear", loss, "gauss-newton", "scalar"))
        cases.append(_mlp("tanh", "tall", loss, "identity", "per-parameter"))
    # D. extreme logits (true-class probabilities down to 1e-25 and 1e-32)
    for om in ("identity", "gauss-newton"):
        cases.append(_mlp("tanh", "small", "cross_entropy", om, "scalar", weight_scale=150.0,
                          tag="-extreme-logits"))
    # E. composites: a residual block and two parallel branches
    for arch in COMPOSITES:
        cases.append(_composite(arch, "mse", "identity", "scalar"))
        cases.append(_composite(arch, "cross_entropy", "gauss-newton", "per-parameter"))
        cases.append(_composite(arch, "mse", "custom", "tiny"))
        cases.append(_composite(arch, "cross_entropy", "identity", "large", batch=1))
    # F. convolutional networks: each architecture on 1- and 3-channel images with both
    # losses; all eight (loss, output metric, mass) triples once
    for arch, channels, loss, om, mass in (
            ("s2-max", 1, "mse", "identity", "scalar"),
            ("s2-max", 3, "cross_entropy", "gauss-newton", "per-parameter"),
            ("avg-s2", 1, "mse", "gauss-newton", "per-parameter"),
            ("avg-s2", 3, "cross_entropy", "identity", "scalar"),
            ("overlap-max", 1, "cross_entropy", "identity", "per-parameter"),
            ("overlap-max", 3, "mse", "gauss-newton", "scalar"),
            ("s2-overlap-avg", 1, "cross_entropy", "gauss-newton", "scalar"),
            ("s2-overlap-avg", 3, "mse", "identity", "per-parameter")):
        cases.append(_cnn(arch, channels, loss, om, mass))
    names = [c["name"] for c in cases]
    dup = sorted({n for n in names if names.count(n) > 1})
    if dup:  # pragma: no cover - a mistake in the table above
        raise RuntimeError(f"duplicate golden case names: {dup}")
    return cases
