"""``load_dataset``: the four image classification data sets as flat float64 arrays.

    name           files from                                    features  train / test
    mnist-5k       shipped with refimpl (package data, mnist_5k/)    784   4,000 / 1,000
    mnist          `refimpl data fetch mnist`                        784  60,000 / 10,000
    fashion-mnist  `refimpl data fetch fashion-mnist`, or Debian's   784  60,000 / 10,000
                   package dataset-fashion-mnist
    cifar10        `refimpl data fetch cifar10`                    3,072  50,000 / 10,000

MNIST-style directories hold the four standard IDX files (``train-images-idx3-ubyte``,
``train-labels-idx1-ubyte``, ``t10k-images-idx3-ubyte``, ``t10k-labels-idx1-ubyte``), each
gzipped (``.gz``) or not. A CIFAR-10 directory holds ``cifar-10-binary.tar.gz`` or the six
``.bin`` batches (see :mod:`refimpl.data.cifar10`).

Every returned array is checked: images and labels counts agree, labels lie in 0..9, images
have the data set's pixel dimensions. Pixels are scaled to [0, 1] by dividing by 255 and
flattened row-major (MNIST: 28x28 -> 784; CIFAR-10: channel-major 3x32x32 -> 3,072). The
arrays of a ``Dataset`` are read-only.

Default directories (``directory=None``, :func:`default_directory`): ``mnist-5k`` is package
data, read through :mod:`importlib.resources` (``refimpl/data/mnist_5k/``, with its provenance
and license in the README there), so it is there in a checkout, an editable install and an
installed wheel alike. The downloaded data sets live in the *data home* (:func:`data_home`):
``$REFIMPL_DATA`` if set, else ``$XDG_DATA_HOME/refimpl``, else ``~/.local/share/refimpl`` —
a folder of the user's, never inside the installed package. For ``fashion-mnist`` the Debian
location ``/usr/share/datasets/fashion-mnist`` is used when the data home has no copy.
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .._resources import package_path
from .cifar10 import CLASSES as CIFAR10_CLASSES
from .cifar10 import read_cifar10
from .idx import read_idx

NAMES = ("mnist-5k", "mnist", "fashion-mnist", "cifar10")
SHIPPED = {"mnist-5k": "mnist_5k"}
"""Data sets shipped as package data: name -> folder of :mod:`refimpl.data`."""
DEBIAN_FASHION_MNIST = Path("/usr/share/datasets/fashion-mnist")
CIFAR10_TARBALL = "cifar-10-binary.tar.gz"

MNIST_CLASSES = tuple(str(d) for d in range(10))
FASHION_MNIST_CLASSES = ("T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
                         "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot")
_CLASSES = {"mnist-5k": MNIST_CLASSES, "mnist": MNIST_CLASSES,
            "fashion-mnist": FASHION_MNIST_CLASSES, "cifar10": CIFAR10_CLASSES}
_IDX_STEMS = ("train-images-idx3-ubyte", "train-labels-idx1-ubyte",
              "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte")
_IMAGE_SHAPE = (28, 28)


@dataclass(frozen=True, eq=False)
class Dataset:
    """A train/test split of an image classification data set.

    Attributes
    ----------
    name : str
        One of ``NAMES``.
    X_train : numpy.ndarray of float64, shape (n_train, n_features)
        Pixels in [0, 1], one flattened image per row (read-only).
    y_train : numpy.ndarray of int64, shape (n_train,)
        Class indices in ``[0, len(classes))`` (read-only).
    X_test : numpy.ndarray of float64, shape (n_test, n_features)
    y_test : numpy.ndarray of int64, shape (n_test,)
    classes : tuple of str
        Class names; label ``k`` is ``classes[k]``.
    """

    name: str
    X_train: np.ndarray
    y_train: np.ndarray
    X_test: np.ndarray
    y_test: np.ndarray
    classes: tuple[str, ...]

    @property
    def n_features(self) -> int:
        """Number of input features (784 for MNIST, 3,072 for CIFAR-10)."""
        return self.X_train.shape[1]

    @property
    def n_classes(self) -> int:
        """Number of classes (10 for all four data sets)."""
        return len(self.classes)


def data_home() -> Path:
    """The folder of downloaded data sets: ``$REFIMPL_DATA``, else ``$XDG_DATA_HOME/refimpl``,
    else ``~/.local/share/refimpl``. Nothing is created here; ``fetch`` creates what it
    writes."""
    env = os.environ.get("REFIMPL_DATA")
    if env:
        return Path(env).expanduser()
    xdg = os.environ.get("XDG_DATA_HOME")
    return (Path(xdg).expanduser() if xdg else Path.home() / ".local" / "share") / "refimpl"


def default_directory(name: str) -> Path:
    """Where ``load_dataset(name)`` looks without ``directory``: the package data for
    ``mnist-5k``, ``data_home() / name`` for the others (for ``fashion-mnist`` the Debian
    location if the data home has no copy). For a downloaded data set this is also the
    target of ``refimpl data fetch NAME``.
    """
    _check_name(name)
    if name in SHIPPED:
        return package_path(__package__, SHIPPED[name])
    path = data_home() / name
    if name == "fashion-mnist" and not path.is_dir() and DEBIAN_FASHION_MNIST.is_dir():
        return DEBIAN_FASHION_MNIST
    return path


def load_dataset(name: str, directory=None) -> Dataset:
    """Load one of the data sets in ``NAMES`` as float64 arrays in [0, 1].

    Parameters
    ----------
    name : {'mnist-5k', 'mnist', 'fashion-mnist', 'cifar10'}
    directory : str or os.PathLike, optional
        Folder holding the files (see the module docstring); default
        ``default_directory(name)``.

    Returns
    -------
    Dataset
        ``X_*`` of shape ``(n, 784)`` (MNIST-style) or ``(n, 3072)`` (CIFAR-10), float64 in
        [0, 1]; ``y_*`` int64 in 0..9.

    Raises
    ------
    ValueError
        Unknown name; missing directory or file (the message names it and says how to get
        it); a malformed file; images/labels count mismatch; labels outside 0..9; images
        not 28x28 (MNIST-style).

    Examples
    --------
    >>> ds = load_dataset("mnist-5k")
    >>> ds.X_train.shape, ds.X_test.shape, ds.y_train.dtype
    ((4000, 784), (1000, 784), dtype('int64'))
    """
    _check_name(name)
    directory = default_directory(name) if directory is None else Path(directory)
    if not directory.is_dir():
        raise ValueError(f"data set {name!r}: directory {directory} does not exist; "
                         + _how_to_get(name, directory))
    if name == "cifar10":
        tarball = directory / CIFAR10_TARBALL
        arrays = read_cifar10(tarball if tarball.is_file() else directory)
    else:
        arrays = _read_idx_set(name, directory)
    X_train, y_train, X_test, y_test = arrays
    return Dataset(name=name, X_train=_scaled(X_train), y_train=_frozen(y_train),
                   X_test=_scaled(X_test), y_test=_frozen(y_test), classes=_CLASSES[name])


def _check_name(name) -> None:
    if name not in NAMES:
        raise ValueError(f"unknown data set {name!r}; expected one of "
                         + ", ".join(repr(n) for n in NAMES))


def _how_to_get(name: str, directory: Path) -> str:
    if name == "mnist-5k":
        return ("it ships with refimpl as package data in refimpl/data/mnist_5k (reinstall "
                "refimpl, or rebuild the files with data/make_mnist_5k.py of the repository), "
                "or give its folder (--data-dir DIR; directory= in Python)")
    return (f"download it with `refimpl data fetch {name}` (in Python: "
            f"refimpl.data.fetch({name!r}, {str(directory)!r})), or give its folder "
            "(--data-dir DIR; directory= in Python)")


def _read_idx_set(name: str, directory: Path):
    """The four IDX files of an MNIST-style directory, validated."""
    paths = [_find_idx(name, directory, stem) for stem in _IDX_STEMS]
    arrays = [read_idx(path) for path in paths]
    for k in (0, 2):  # (images, labels) of the train and the test split
        (image_path, images), (label_path, labels) = zip(paths[k:k + 2], arrays[k:k + 2])
        if images.ndim != 3 or images.shape[1:] != _IMAGE_SHAPE:
            raise ValueError(f"{image_path}: {name} images must be 28x28, got an array of "
                             f"shape {images.shape}")
        if labels.ndim != 1:
            raise ValueError(f"{label_path}: holds an array of shape {labels.shape}, expected "
                             "a labels file (magic 2049)")
        if len(images) != len(labels):
            raise ValueError(f"{image_path} holds {len(images)} images but {label_path} holds "
                             f"{len(labels)} labels; the counts must match")
        if labels.size and labels.max() > 9:
            bad = int(np.flatnonzero(labels > 9)[0])
            raise ValueError(f"{label_path}: labels must be 0..9, got {labels[bad]} at "
                             f"index {bad}")
    images_train, labels_train, images_test, labels_test = arrays
    return (images_train.reshape(len(images_train), -1), labels_train.astype(np.int64),
            images_test.reshape(len(images_test), -1), labels_test.astype(np.int64))


def _find_idx(name: str, directory: Path, stem: str) -> Path:
    """``stem.gz`` or ``stem`` in ``directory``; a clear error if neither exists."""
    for candidate in (directory / f"{stem}.gz", directory / stem):
        if candidate.is_file():
            return candidate
    raise ValueError(f"data set {name!r}: missing file {directory / stem}.gz (or uncompressed "
                     f"{stem}); " + _how_to_get(name, directory))


def _scaled(pixels: np.ndarray) -> np.ndarray:
    """uint8 pixels -> read-only float64 in [0, 1]."""
    return _frozen(np.divide(pixels, 255.0, dtype=np.float64))  # one pass, exact k/255


def _frozen(a: np.ndarray) -> np.ndarray:
    a.flags.writeable = False
    return a
