"""Data sets: strict readers (IDX, CIFAR-10 binary), pinned checksums, verified download.

    load_dataset(name, directory=None) -> Dataset      refimpl.data.datasets
    default_directory(name), data_home()               where data sets are found
    read_idx(path) / write_idx(path, array, gz=True)   refimpl.data.idx
    read_cifar10(source)                               refimpl.data.cifar10
    fetch(name, directory, *, base_url=None, ...)      refimpl.data.fetch
    SOURCES (URL, size, SHA-256 per file)              refimpl.data.checksums

Importing this package reads and downloads nothing.
"""
from .checksums import SOURCES, RemoteFile
from .cifar10 import read_cifar10
from .datasets import NAMES, Dataset, data_home, default_directory, load_dataset
from .fetch import fetch
from .idx import read_idx, write_idx

__all__ = ["NAMES", "SOURCES", "Dataset", "RemoteFile", "data_home", "default_directory",
           "fetch", "load_dataset", "read_cifar10", "read_idx", "write_idx"]
