"""Test cases declared as data: module builders over random dimensions.

Each entry maps a name to ``build(d_in, d_out) -> Module``; the tests draw the dimensions and
the batch size with hypothesis. Activations with kinks (relu, leaky_relu) are fed inputs kept
away from 0 so that central differences do not straddle the kink.
"""
from __future__ import annotations

from refimpl.modules import (ACTIVATIONS, AvgPool2d, Concat, Conv2d, FanOut, Flatten,
                             Identity, Linear, MaxPool2d, Parallel, Pointwise, Sequential, Sum,
                             mlp, residual)
from scale_atom import Scale

KINKED = {"relu", "leaky_relu"}


def _two_branch(d_in, d_out):
    return Sequential(FanOut(d_in, 2),
                      Parallel(Sequential(Linear(d_in, 4), Pointwise("tanh", 4)),
                               Linear(d_in, 2, bias=False)),
                      Concat(4, 2), Linear(6, d_out))


MODULE_CASES = {
    "linear": lambda i, o: Linear(i, o),
    "linear_nobias": lambda i, o: Linear(i, o, bias=False),
    **{f"pointwise_{a}": (lambda a: lambda i, o: Pointwise(a, i))(a) for a in ACTIVATIONS},
    "mlp_tanh": lambda i, o: mlp([i, 5, 4, o], "tanh"),
    "mlp_gelu": lambda i, o: mlp([i, 3, o], "gelu"),
    "mlp_softplus_nobias": lambda i, o: mlp([i, 4, o], "softplus", bias=False),
    "parallel": lambda i, o: Parallel(Linear(i, o), Sequential(Linear(i, 3), Pointwise("sin", 3))),
    "fanout": lambda i, o: FanOut(i, 3),
    "sum": lambda i, o: Sum(i, 2),
    "concat": lambda i, o: Concat(i, o),
    "identity": lambda i, o: Identity((i, o)),
    "residual": lambda i, o: Sequential(residual(Sequential(Linear(i, i), Pointwise("tanh", i))),
                                        Linear(i, o)),
    "two_branch": _two_branch,
    # a test-only atom (tests/scale_atom.py) whose block has only apply/apply_T
    "scale": lambda i, o: Scale(i),
    "scaled_mlp": lambda i, o: Sequential(Linear(i, 4), Pointwise("tanh", 4), Scale(4),
                                          Linear(4, o)),
}

#: modules whose output is a single array (usable under a loss)
NETWORK_CASES = ["linear", "mlp_tanh", "mlp_gelu", "mlp_softplus_nobias", "residual",
                 "two_branch", "scaled_mlp"]

#: cases built with the test-only atom: no architecture-JSON type exists for it
TEST_ONLY = {"scale", "scaled_mlp"}
#: the cases the oracle's architecture format describes
ARCHITECTURE_CASES = [name for name in MODULE_CASES if name not in TEST_ONLY]


# -- image modules (NCHW; spaces.Shape) ------------------------------------------------------
# name -> build() -> Module; small images so that dense Jacobians stay a few hundred columns.
# Max-pool inputs are drawn with distinct values (see tests/modules/test_image_modules.py) so
# that central differences never cross a tie.
def _small_cnn():
    return Sequential(Conv2d(2, 3, 3, stride=2, padding=1, input_size=(6, 5)),
                      Pointwise("tanh", (3, 3, 3)),
                      MaxPool2d(2, 1, channels=3, input_size=(3, 3)),
                      Conv2d(3, 2, 2, input_size=(2, 2), bias=False),
                      Flatten((2, 1, 1)), Linear(2, 3))


IMAGE_CASES = {
    "conv_3x3": lambda: Conv2d(2, 3, 3, input_size=(5, 5)),
    "conv_stride2_pad1": lambda: Conv2d(2, 3, 3, stride=2, padding=1, input_size=(6, 5)),
    "conv_rect_nobias": lambda: Conv2d(1, 2, (2, 3), stride=(1, 2), padding=(1, 0),
                                       bias=False, input_size=(4, 6)),
    "conv_1x1": lambda: Conv2d(3, 2, 1, input_size=(3, 3)),
    "conv_full_window": lambda: Conv2d(2, 2, 3, input_size=(3, 3)),       # P = 1
    "maxpool_2": lambda: MaxPool2d(2, channels=2, input_size=(4, 6)),
    "maxpool_3s2p1": lambda: MaxPool2d(3, 2, 1, channels=2, input_size=(5, 6)),
    "avgpool_2": lambda: AvgPool2d(2, channels=2, input_size=(4, 5)),
    "avgpool_3s2p1": lambda: AvgPool2d(3, 2, 1, channels=2, input_size=(5, 6)),
    "flatten": lambda: Flatten((2, 3, 2)),
    "pointwise_relu_image": lambda: Pointwise("relu", (2, 3, 3)),
    "pointwise_tanh_image": lambda: Pointwise("tanh", (2, 3, 3)),
    "small_cnn": _small_cnn,
}
