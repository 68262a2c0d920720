"""The models ``refimpl train`` and ``refimpl reproduce`` train (``--model``).

=========  ===========================================================================
``mlp``    ``n_features → widths… → n_classes`` with one activation (the default;
           :func:`refimpl.modules.mlp`), on flat pixels
``cnn``    the small CNN of :func:`refimpl.modules.cnn` (two 3×3 convolutions with 16
           and 32 channels, ReLU, 2×2 max-pooling, a linear layer), for MNIST-sized
           ``1 × 28 × 28`` images
``3c3d``   DeepOBS's ``cifar10_3c3d`` (:func:`refimpl.modules.c3d`: three convolutions
           with max-pooling, dense 512 → 256 → 10), for ``3 × 32 × 32`` images
PATH.json  any network in the JSON architecture format
           (:mod:`refimpl.oracle.architecture`) whose input is the data set's images
           (``R^{C×H×W}``, or flat ``R^{C·H·W}``) and whose output is ``R^{n_classes}``
=========  ===========================================================================

The data sets hold flat pixel rows; for a model on images each batch is viewed as
``(S, C, H, W)`` (NCHW; :func:`model_input`), with ``(C, H, W)`` from the data set
(:data:`IMAGE_SHAPES`). ``widths`` and ``activation`` apply to ``mlp`` only.
"""
from __future__ import annotations

from pathlib import Path

from .. import spaces
from ..modules import Module, c3d, check_network, cnn, mlp

MODELS = ("mlp", "cnn", "3c3d")
"""The built-in model names (besides a path to a ``.json`` architecture)."""

IMAGE_SHAPES = {"mnist-5k": (1, 28, 28), "mnist": (1, 28, 28),
                "fashion-mnist": (1, 28, 28), "cifar10": (3, 32, 32)}
"""``(C, H, W)`` of one image of each data set (the flat rows are this, in C order)."""


def check_model(value) -> str:
    """``value`` itself if it is a built-in name or a path ending in ``.json``."""
    if not isinstance(value, str) or not (value in MODELS or value.endswith(".json")):
        raise ValueError(f"unknown model {value!r}; expected one of "
                         + ", ".join(repr(m) for m in MODELS)
                         + " or the path of an architecture file (.json)")
    return value


def load_architecture(path) -> Module:
    """The network of an architecture file, with a clear error if it cannot be read."""
    from ..oracle.architecture import from_json

    path = Path(path)
    try:
        text = path.read_text()
    except OSError as exc:
        raise ValueError(f"model file {path}: cannot be read ({exc.strerror or exc}); "
                         "pass an existing architecture .json file or one of "
                         + ", ".join(MODELS)) from None
    try:
        return from_json(text)
    except ValueError as exc:
        raise ValueError(f"model file {path}: {exc}") from None


def takes_images(model: str) -> bool:
    """Whether ``model`` (a name or an architecture file) reads images ``(C, H, W)``."""
    if model in MODELS:
        return model != "mlp"
    return isinstance(load_architecture(model).in_space, spaces.Shape)


def build_model(config, dataset) -> Module:
    """The network ``config.model`` names, sized for ``dataset``."""
    name, k = config.model, dataset.n_classes
    if name == "mlp":
        return mlp([dataset.n_features, *config.widths, k], config.activation)
    if name in ("cnn", "3c3d"):
        shape = image_shape(dataset)
        want = (1, 28, 28) if name == "cnn" else (3, 32, 32)
        if shape != want:
            raise ValueError(f"model {name!r} is built for {'×'.join(map(str, want))} images; "
                             f"data set {dataset.name!r} has {'×'.join(map(str, shape))}")
        return cnn(shape, k) if name == "cnn" else c3d(shape, k)
    model = check_network(load_architecture(name))
    d = spaces.dim(model.in_space)
    if d != dataset.n_features or not spaces.is_array(model.in_space):
        raise ValueError(f"model file {name}: the network's input is "
                         f"{spaces.describe(model.in_space)} but data set {dataset.name!r} "
                         f"has images of {dataset.n_features} values "
                         f"({'×'.join(map(str, image_shape(dataset)))})")
    if model.out_space != k:
        raise ValueError(f"model file {name}: the network has {model.out_space} outputs but "
                         f"data set {dataset.name!r} has {k} classes")
    return model


def image_shape(dataset) -> tuple:
    """``(C, H, W)`` of the data set's images."""
    if dataset.name in IMAGE_SHAPES:
        return IMAGE_SHAPES[dataset.name]
    raise ValueError(f"data set {dataset.name!r} has no known image shape; expected one of "
                     + ", ".join(IMAGE_SHAPES))


def model_input(X, model: Module):
    """Flat pixel rows ``(S, C·H·W)`` as the model's input: a view ``(S, C, H, W)`` for a
    model on images, ``X`` itself for one on vectors."""
    return spaces.unflatten(X, model.in_space) if isinstance(model.in_space, spaces.Shape) \
        else X


def describe_model(config, dataset, model: Module) -> str:
    """One line for reports: ``MLP 784-256-256-10 tanh``, ``CNN cnn (20,490 parameters)``."""
    if config.model == "mlp":
        widths = "-".join(str(w) for w in (dataset.n_features, *config.widths,
                                           dataset.n_classes))
        return f"MLP {widths} {config.activation}"
    label = {"cnn": "CNN cnn", "3c3d": "CNN 3c3d (DeepOBS cifar10_3c3d)"}.get(
        config.model, f"network {Path(config.model).name}")
    return f"{label}, {model.n_params:,} parameters"
