"""Riemannian modules (:ref:`math §5 <math-5>`): atoms, wiring, and the composition algebra."""
from .base import Module, block_items, check_network
from .blocks import Block, BlockCost, DenseBlock
from .composition import Composite, Parallel, Sequential
from .conv import Conv2d, ConvBlock
from .flatten import Flatten
from .linear import Linear, LinearBlock
from .networks import c3d, cnn, mlp, residual
from .pointwise import ACTIVATIONS, Pointwise, activation
from .pool import AvgPool2d, MaxPool2d
from .wiring import Concat, FanOut, Identity, Sum

__all__ = ["Module", "Linear", "Pointwise", "activation", "ACTIVATIONS", "Sequential",
           "Parallel", "FanOut", "Sum", "Concat", "Identity", "mlp", "residual", "block_items", "check_network",
           "Block", "BlockCost", "DenseBlock", "LinearBlock", "Composite", "Conv2d", "ConvBlock",
           "MaxPool2d", "AvgPool2d", "Flatten", "cnn", "c3d"]
