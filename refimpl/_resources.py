"""Package data as file-system paths: the shipped MNIST subset and the golden set.

Both are read through :mod:`importlib.resources`, so they are found wherever refimpl is
imported from (a checkout, an editable install, an installed wheel); the readers need real
files, which every ordinary install has (pip unpacks wheels).
"""
from __future__ import annotations

import os
from importlib import resources
from pathlib import Path


def package_path(package: str, name: str) -> Path:
    """The folder ``name`` of the package ``package`` (``"refimpl.data"``) as a
    :class:`~pathlib.Path`; ``ValueError`` if the package's files are not on disk."""
    resource = resources.files(package) / name
    if not isinstance(resource, os.PathLike):
        raise ValueError(f"refimpl's package data {package}/{name} is not a folder on disk "
                         "(refimpl imported from a zip archive?); install refimpl with pip so "
                         "that its files are unpacked")
    return Path(resource)
