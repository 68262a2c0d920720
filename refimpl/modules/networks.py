"""Ready-made networks built from the composition algebra (SPEC §5, Definitions 3–4)."""
from __future__ import annotations

from .composition import Parallel, Sequential
from .linear import Linear
from .pointwise import Pointwise
from .wiring import FanOut, Identity, Sum


def mlp(widths, activation: str = "tanh", *, bias: bool = True) -> Sequential:
    """``Linear → σ → Linear → … → Linear`` for ``widths = [n_0, n_1, …, n_L]``.

    The last layer is linear (no activation), as in the oracle's MLP convention
    (:func:`refimpl.oracle.mlp_gradients`). Children alternate ``Linear`` and
    :class:`Pointwise`, so layer ``l``'s linear module is child ``2l``.
    """
    widths = list(widths)
    if len(widths) < 2:
        raise ValueError(f"mlp needs at least two widths (input and output), got {widths}")
    layers = []
    for i, (n_in, n_out) in enumerate(zip(widths, widths[1:])):
        layers.append(Linear(n_in, n_out, bias=bias))
        if i < len(widths) - 2:
            layers.append(Pointwise(activation, n_out))
    return Sequential(*layers)


def residual(block) -> Sequential:
    """``x ↦ x + block(x)``: ``Sequential(FanOut, Parallel(block, Identity), Sum)``."""
    if block.in_space != block.out_space:
        raise ValueError("residual: the block must map a space to itself, got "
                         f"{block!r}")
    d = block.in_space
    return Sequential(FanOut(d, 2), Parallel(block, Identity(d)), Sum(d, 2))
