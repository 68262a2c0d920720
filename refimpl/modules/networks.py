"""Ready-made networks built from the composition algebra (:ref:`math §5 <math-5>`, Definitions 3–4)."""
from __future__ import annotations

import numpy as np

from .composition import Parallel, Sequential
from .conv import Conv2d
from .flatten import Flatten
from .linear import Linear
from .pointwise import Pointwise
from .pool import MaxPool2d
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


def cnn(in_shape=(1, 28, 28), n_classes: int = 10, *, channels=(16, 32)) -> Sequential:
    """The small CNN of ``refimpl train --model cnn`` (MNIST-sized inputs ``1 × 28 × 28``).

    ``Conv2d(C, c₁, 3, padding 1) → ReLU → MaxPool2d(2) → Conv2d(c₁, c₂, 3, padding 1) → ReLU
    → MaxPool2d(2) → Flatten → Linear(c₂·H/4·W/4 → n_classes)``, with ``(c₁, c₂) = (16, 32)``:
    28×28 → 14×14 → 7×7, 160 + 4,640 + 15,690 = 20,490 parameters. Convolutions keep the
    image size (padding 1) and each pooling halves it, so the two layers' output factors have
    784 and 196 positions; ``method="auto"`` solves the first layer's metric (160
    parameters) in the primal and the second's through Woodbury; the linear layer's through
    Woodbury under the identity output metric and by conjugate gradients under Gauss–Newton
    (where 200 iterations cost under a tenth of the direct solve; a ``MetricWarning`` says so). Convolutions are initialised
    He-normal (``init_scale=√2``, for the ReLUs), the linear layer LeCun-normal.
    """
    C, H, W = _image_shape(in_shape, "cnn")
    if H % 4 or W % 4:
        raise ValueError(f"cnn: the image height and width must be multiples of 4 (two 2×2 "
                         f"poolings), got {H}×{W}")
    c1, c2 = channels
    he = float(np.sqrt(2.0))
    return Sequential(
        Conv2d(C, c1, 3, padding=1, input_size=(H, W), init_scale=he),
        Pointwise("relu", (c1, H, W)),
        MaxPool2d(2, channels=c1, input_size=(H, W)),
        Conv2d(c1, c2, 3, padding=1, input_size=(H // 2, W // 2), init_scale=he),
        Pointwise("relu", (c2, H // 2, W // 2)),
        MaxPool2d(2, channels=c2, input_size=(H // 2, W // 2)),
        Flatten((c2, H // 4, W // 4)),
        Linear(c2 * (H // 4) * (W // 4), n_classes))


def c3d(in_shape=(3, 32, 32), n_classes: int = 10) -> Sequential:
    """DeepOBS's ``cifar10_3c3d`` (Schneider et al. 2019) for ``3 × 32 × 32`` inputs.

    ``Conv(64, 5×5) → ReLU → MaxPool(3, stride 2) → Conv(96, 3×3) → ReLU → MaxPool(3, 2) →
    Conv(128, 3×3, padding 1) → ReLU → MaxPool(3, 2) → Flatten → Linear 512 → ReLU →
    Linear 256 → ReLU → Linear 10``; image sizes 32 → 28 → 14 → 12 → 6 → 6 → 3, 1,152
    features after flattening, 895,210 parameters — DeepOBS's sizes and parameter count.

    Padding. DeepOBS (TensorFlow) uses "valid" for the first two convolutions (here: padding
    0, the same) and "same" for the third (here: padding 1, the same for a 3×3 kernel with
    stride 1), and "same" for the three poolings: TensorFlow pads 3×3/2 windows on an even
    input asymmetrically, 0 before and 1 after, so that the output is ``⌈n/2⌉``. Here the
    poolings pad 1 on both sides (``−∞``, never selected; PyTorch's symmetric padding), which
    gives the same output sizes ``⌊(n + 2 − 3)/2⌋ + 1 = n/2`` but windows shifted by one pixel
    up and left: TensorFlow's window ``u`` covers rows ``2u … 2u+2``, this one ``2u−1 … 2u+1``.
    Initialisation: He-normal for the ReLU layers and LeCun-normal for the last (DeepOBS:
    Xavier), biases zero; DeepOBS's L2 regularisation (0.002) is not part of the model.
    """
    C, H, W = _image_shape(in_shape, "c3d")
    he = float(np.sqrt(2.0))
    layers, c, h, w = [], C, H, W
    for c_out, k, pad in ((64, 5, 0), (96, 3, 0), (128, 3, 1)):
        conv = Conv2d(c, c_out, k, padding=pad, input_size=(h, w), init_scale=he)
        c, (h, w) = c_out, conv.out_size
        pool = MaxPool2d(3, 2, 1, channels=c, input_size=(h, w))
        layers += [conv, Pointwise("relu", (c, h, w)), pool]
        h, w = pool.out_size
    layers += [Flatten((c, h, w)), Linear(c * h * w, 512, init_scale=he),
               Pointwise("relu", 512), Linear(512, 256, init_scale=he),
               Pointwise("relu", 256), Linear(256, n_classes)]
    return Sequential(*layers)


def _image_shape(shape, who):
    if not isinstance(shape, (tuple, list)) or len(shape) != 3 or any(
            isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n <= 0
            for n in shape):
        raise ValueError(f"{who}: in_shape must be (C, H, W) of positive ints, got {shape!r}")
    return tuple(int(n) for n in shape)
