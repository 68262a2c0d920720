"""Strict reader and deterministic writer for the IDX files of MNIST and Fashion-MNIST.

The IDX format (LeCun & Cortes, http://yann.lecun.com/exdb/mnist/) is a big-endian header
followed by the raw bytes of one C-ordered array:

    magic   4 bytes  0x00 0x00 <type code> <ndim>     type code 0x08 = unsigned byte
    dims    4 bytes each, big-endian unsigned, ndim of them
    payload prod(dims) bytes

Only the two files MNIST-style data sets use are accepted:

    magic 2051 (0x00000803)  images, 3 dims  (count, rows, cols)   -> uint8 (count, rows, cols)
    magic 2049 (0x00000801)  labels, 1 dim   (count,)              -> uint8 (count,)

Files may be gzip-compressed; compression is detected from the gzip magic bytes ``1f 8b``,
not the name, but a file *named* ``.gz`` that is not gzip data is rejected (it is almost
always a mislabelled or half-downloaded file). The payload length must match the header
exactly: truncated files and trailing bytes are errors that name the file and give the
expected and actual sizes. Every problem with a file raises ``ValueError``.

``write_idx`` writes atomically (a temporary file in the target directory, then
``os.replace``) and deterministically: the gzip header carries no file name and
``mtime = 0``, so the same array always gives the same bytes (for one zlib version).
"""
from __future__ import annotations

import gzip
import io
import os
import struct
import tempfile
import zlib
from pathlib import Path

import numpy as np

IMAGES_MAGIC = 2051
LABELS_MAGIC = 2049
_NDIM = {IMAGES_MAGIC: 3, LABELS_MAGIC: 1}
_KIND = {IMAGES_MAGIC: "images", LABELS_MAGIC: "labels"}
GZIP_MAGIC = b"\x1f\x8b"
_CHUNK = 1 << 20


def read_idx(path) -> np.ndarray:
    """Read an IDX images or labels file, gzip-compressed or raw.

    Parameters
    ----------
    path : str or os.PathLike
        The file. Compression is detected from its first two bytes.

    Returns
    -------
    numpy.ndarray of uint8
        ``(count, rows, cols)`` for an images file (magic 2051), ``(count,)`` for a labels
        file (magic 2049).

    Raises
    ------
    ValueError
        If the file is missing, is named ``.gz`` but is not gzip data, is corrupt gzip, has
        an unknown magic number, or its payload is shorter or longer than its header says.
        The message names the file.

    Examples
    --------
    >>> import numpy as np, tempfile, os
    >>> d = tempfile.mkdtemp()
    >>> p = write_idx(os.path.join(d, "labels-idx1-ubyte.gz"), np.array([3, 1, 4], np.uint8))
    >>> read_idx(p)
    array([3, 1, 4], dtype=uint8)
    """
    path = Path(path)
    if not path.is_file():
        raise ValueError(f"{path}: no such IDX file")
    with open(path, "rb") as raw:
        compressed = raw.read(2) == GZIP_MAGIC
    if not compressed and path.suffix == ".gz":
        raise ValueError(f"{path}: the name ends in .gz but the file is not gzip data "
                         "(first bytes are not 1f 8b); it may be a partial or mislabelled "
                         "download: delete it and fetch it again")
    try:
        opener = gzip.open if compressed else open
        with opener(path, "rb") as stream:
            return _read_stream(stream, path, compressed)
    except (gzip.BadGzipFile, EOFError, zlib.error) as exc:
        raise ValueError(f"{path}: corrupt gzip data ({exc}); delete the file and fetch it "
                         "again") from None


def _read_stream(stream, path: Path, compressed: bool) -> np.ndarray:
    """Parse header and payload from an open binary stream (private: trusts its arguments)."""
    where = "after decompression" if compressed else "on disk"
    head = stream.read(4)
    if len(head) < 4:
        raise ValueError(f"{path}: truncated IDX file: {len(head)} bytes {where}, too short "
                         "for the 4-byte magic number")
    (magic,) = struct.unpack(">I", head)
    if magic not in _NDIM:
        raise ValueError(f"{path}: bad IDX magic number {magic} (0x{magic:08x}); expected "
                         f"{IMAGES_MAGIC} (images, 3 dims) or {LABELS_MAGIC} (labels, 1 dim)")
    ndim = _NDIM[magic]
    dims_bytes = stream.read(4 * ndim)
    if len(dims_bytes) < 4 * ndim:
        raise ValueError(f"{path}: truncated IDX header: {_KIND[magic]} need {ndim} "
                         f"dimension(s) ({4 + 4 * ndim} header bytes), got "
                         f"{4 + len(dims_bytes)} bytes {where}")
    shape = struct.unpack(f">{ndim}I", dims_bytes)
    header = 4 + 4 * ndim
    expected = int(np.prod(shape, dtype=object))  # exact, no overflow for absurd headers
    payload = _read_up_to(stream, expected)
    if len(payload) < expected:
        raise ValueError(f"{path}: truncated IDX {_KIND[magic]} file: header declares shape "
                         f"{shape}, so expected {header + expected} bytes {where}, got "
                         f"{header + len(payload)}")
    extra = _count_rest(stream)
    if extra:
        raise ValueError(f"{path}: trailing bytes in IDX {_KIND[magic]} file: header declares "
                         f"shape {shape}, so expected {header + expected} bytes {where}, got "
                         f"{header + expected + extra}")
    return np.frombuffer(payload, dtype=np.uint8).reshape(shape).copy()


def _read_up_to(stream, n: int) -> bytes:
    """Read at most ``n`` bytes in chunks (never allocates ``n`` bytes up front)."""
    chunks, got = [], 0
    while got < n:
        chunk = stream.read(min(_CHUNK, n - got))
        if not chunk:
            break
        chunks.append(chunk)
        got += len(chunk)
    return b"".join(chunks)


def _count_rest(stream) -> int:
    """Number of bytes left in ``stream``."""
    total = 0
    while chunk := stream.read(_CHUNK):
        total += len(chunk)
    return total


def idx_bytes(array) -> bytes:
    """The uncompressed IDX encoding of a uint8 images ``(n, rows, cols)`` or labels ``(n,)``
    array (see the module docstring). Validates like :func:`write_idx`."""
    arr = _as_idx_array(array)
    magic = IMAGES_MAGIC if arr.ndim == 3 else LABELS_MAGIC
    return struct.pack(f">I{arr.ndim}I", magic, *arr.shape) + arr.tobytes(order="C")


def write_idx(path, array, gz: bool = True) -> Path:
    """Write ``array`` as an IDX file, atomically and deterministically.

    Parameters
    ----------
    path : str or os.PathLike
        Destination; its directory must exist. With ``gz=True`` it should end in ``.gz``.
    array : array_like of integers in [0, 255]
        ``(count, rows, cols)`` images (magic 2051) or ``(count,)`` labels (magic 2049).
    gz : bool, default True
        Gzip-compress (level 9, no file name in the header, ``mtime=0``).

    Returns
    -------
    pathlib.Path
        The path written.

    Raises
    ------
    ValueError
        If the array is not 1-D or 3-D, is not integral, or has values outside [0, 255]; if
        ``gz=False`` but the name ends in ``.gz``; if the directory does not exist.
    """
    path = Path(path)
    data = idx_bytes(array)
    if not gz and path.suffix == ".gz":
        raise ValueError(f"{path}: the name ends in .gz but gz=False; pass gz=True or drop "
                         "the .gz suffix")
    if not path.parent.is_dir():
        raise ValueError(f"{path}: directory {path.parent} does not exist; create it first")
    if gz:
        buf = io.BytesIO()
        with gzip.GzipFile(filename="", mode="wb", fileobj=buf, compresslevel=9,
                           mtime=0) as zf:
            zf.write(data)
        data = buf.getvalue()
    _write_atomic(path, data)
    return path


def _as_idx_array(array) -> np.ndarray:
    """Validate an images or labels array and return it as C-ordered uint8."""
    arr = np.asarray(array)
    if arr.ndim not in (1, 3):
        raise ValueError(f"IDX array must be images (count, rows, cols) or labels (count,), "
                         f"got shape {arr.shape}")
    if arr.dtype.kind not in "iub":
        raise ValueError(f"IDX array must hold integers in [0, 255], got dtype {arr.dtype}")
    if arr.size and (arr.min() < 0 or arr.max() > 255):
        raise ValueError(f"IDX array must hold integers in [0, 255], got values in "
                         f"[{arr.min()}, {arr.max()}]")
    return np.ascontiguousarray(arr, dtype=np.uint8)


def _write_atomic(path: Path, data: bytes) -> None:
    """Write ``data`` to a temporary file beside ``path``, then rename it into place."""
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
