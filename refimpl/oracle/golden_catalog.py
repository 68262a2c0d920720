"""The default golden set's cases, declared as data (used by :mod:`refimpl.oracle.golden`).

A case spec is a plain dict:

- ``architecture``: a module description (:mod:`refimpl.oracle.architecture`); MLP cases also
  carry ``widths`` and ``activation`` (the network of :func:`refimpl.modules.mlp`);
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
Each case's random inputs come from a seed derived from its name (:func:`seed_of`), so adding
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
    names = [c["name"] for c in cases]
    dup = sorted({n for n in names if names.count(n) > 1})
    if dup:  # pragma: no cover - a mistake in the table above
        raise RuntimeError(f"duplicate golden case names: {dup}")
    return cases
