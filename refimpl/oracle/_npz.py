"""Byte-reproducible ``.npz`` files, and reading them back with errors that name the file.

``numpy.savez`` stamps every member with the current time, so two exports of the same arrays
differ in bytes. :func:`write_npz` writes the same container by hand: a ZIP archive (no
compression, ``ZIP_STORED``, so any NPZ reader can open it) whose members are ``<name>.npy``
files (NPY format 1.0, C order, little-endian) in the order given, each stamped
1980-01-01 00:00:00 with permissions 0644. The same arrays therefore always give the same bytes.
:func:`read_npz` loads with ``allow_pickle=False``.
"""
from __future__ import annotations

import io
import zipfile
from pathlib import Path

import numpy as np

_DATE = (1980, 1, 1, 0, 0, 0)


def _npy_bytes(arr: np.ndarray) -> bytes:
    buf = io.BytesIO()
    np.lib.format.write_array(buf, np.require(arr, requirements="C"), version=(1, 0),
                              allow_pickle=False)
    return buf.getvalue()


def write_npz(path, arrays: dict) -> None:
    """Write ``{name: array}`` to ``path`` as a deterministic, uncompressed NPZ file."""
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_STORED) as zf:
        for name, arr in arrays.items():
            arr = np.asarray(arr)
            if arr.dtype == object:
                raise TypeError(f"write_npz: array {name!r} has dtype object; only numeric "
                                "arrays can be stored without pickle")
            if arr.dtype.byteorder == ">":
                arr = arr.astype(arr.dtype.newbyteorder("<"))
            info = zipfile.ZipInfo(f"{name}.npy", date_time=_DATE)
            info.compress_type = zipfile.ZIP_STORED
            info.create_system = 3                       # unix, so the mode bits are kept
            info.external_attr = 0o100644 << 16
            zf.writestr(info, _npy_bytes(arr))


def read_npz(path) -> dict:
    """All arrays of an NPZ file (``allow_pickle=False``); ``ValueError`` naming the file if it
    is not a readable NPZ file (truncated, corrupted, or holding pickled objects)."""
    path = Path(path)
    try:
        with np.load(path, allow_pickle=False) as data:
            return {name: data[name] for name in data.files}
    except FileNotFoundError:
        raise
    except (ValueError, OSError, EOFError, KeyError, zipfile.BadZipFile,
            zipfile.LargeZipFile) as exc:
        raise ValueError(f"{path}: not a readable NPZ file ({type(exc).__name__}: {exc})") \
            from None
