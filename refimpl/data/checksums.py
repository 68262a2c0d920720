"""Pinned download locations, exact sizes and SHA-256 digests of the data sets ``fetch`` gets.

The digests identify the files; the host only says where to look. Any mirror serving the same
bytes works (``fetch(..., base_url=...)``). Every value below was copied from a public source,
never computed here (this project has no internet access at build time):

* MNIST: TensorFlow Datasets, ``tensorflow_datasets/url_checksums/mnist.txt`` (lines
  "url size sha256"); the same four SHA-256 values are pinned by many other projects. The host
  is the S3 mirror torchvision downloads from (``ossci-datasets``), the original
  yann.lecun.com site being unreliable; the bytes are the same files.
* Fashion-MNIST: TensorFlow Datasets, ``tensorflow_datasets/url_checksums/fashion_mnist.txt``,
  with the official host of Zalando Research's README (plain HTTP: the digest, not the
  transport, protects the content). The same bytes are mirrored at
  ``https://github.com/zalandoresearch/fashion-mnist/raw/master/data/fashion/``.
  (Debian's ``dataset-fashion-mnist`` package ships the same images re-gzipped without the
  file name in the gzip header, 23-24 bytes smaller, so *its* files have other digests; the
  readers do not need digests and load them as they are.)
* CIFAR-10 binary: TensorFlow Datasets, ``tensorflow_datasets/url_checksums/cifar10.txt``.
"""
from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class RemoteFile:
    """One downloadable file: where it lives, and the exact bytes expected there.

    Attributes
    ----------
    filename : str
        Name of the file on disk (and the last component of ``url``).
    url : str
        Pinned download location.
    size : int
        Exact size in bytes.
    sha256 : str
        Lower-case hex SHA-256 of the whole file.
    """

    filename: str
    url: str
    size: int
    sha256: str


_MNIST_HOST = "https://ossci-datasets.s3.amazonaws.com/mnist/"
_FASHION_HOST = "http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/"
_CIFAR_HOST = "https://www.cs.toronto.edu/~kriz/"


def _files(host: str, rows) -> tuple[RemoteFile, ...]:
    return tuple(RemoteFile(name, host + name, size, sha) for name, size, sha in rows)


SOURCES: dict[str, tuple[RemoteFile, ...]] = {
    "mnist": _files(_MNIST_HOST, [
        ("train-images-idx3-ubyte.gz", 9_912_422,
         "440fcabf73cc546fa21475e81ea370265605f56be210a4024d2ca8f203523609"),
        ("train-labels-idx1-ubyte.gz", 28_881,
         "3552534a0a558bbed6aed32b30c495cca23d567ec52cac8be1a0730e8010255c"),
        ("t10k-images-idx3-ubyte.gz", 1_648_877,
         "8d422c7b0a1c1c79245a5bcf07fe86e33eeafee792b84584aec276f5a2dbc4e6"),
        ("t10k-labels-idx1-ubyte.gz", 4_542,
         "f7ae60f92e00ec6debd23a6088c31dbd2371eca3ffa0defaefb259924204aec6"),
    ]),
    "fashion-mnist": _files(_FASHION_HOST, [
        ("train-images-idx3-ubyte.gz", 26_421_880,
         "3aede38d61863908ad78613f6a32ed271626dd12800ba2636569512369268a84"),
        ("train-labels-idx1-ubyte.gz", 29_515,
         "a04f17134ac03560a47e3764e11b92fc97de4d1bfaf8ba1a3aa29af54cc90845"),
        ("t10k-images-idx3-ubyte.gz", 4_422_102,
         "346e55b948d973a97e58d2351dde16a484bd415d4595297633bb08f03db6a073"),
        ("t10k-labels-idx1-ubyte.gz", 5_148,
         "67da17c76eaffca5446c3361aaab5c3cd6d1c2608764d35dfb1850b086bf8dd5"),
    ]),
    "cifar10": _files(_CIFAR_HOST, [
        ("cifar-10-binary.tar.gz", 170_052_171,
         "c4a38c50a1bc5f3a1c5537f2155ab9d68f9f25eb1ed8d9ddda3db29a59bca1dd"),
    ]),
}
"""Data set name -> the files ``fetch`` downloads for it."""
