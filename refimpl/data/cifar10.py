"""Reader for the official CIFAR-10 *binary* distribution (never the pickled Python one).

``cifar-10-binary.tar.gz`` (Krizhevsky 2009, https://www.cs.toronto.edu/~kriz/cifar.html)
holds, besides a readme and the class names, six batch files:

    cifar-10-batches-bin/data_batch_1.bin .. data_batch_5.bin    training, 5 x 10,000 images
    cifar-10-batches-bin/test_batch.bin                          test,     10,000 images

Each batch is exactly 10,000 records of 3,073 bytes = 30,730,000 bytes. A record is one label
byte (0..9) followed by 3,072 pixel bytes: the 1,024 red values of the 32x32 image in
row-major order, then the 1,024 green, then the 1,024 blue (channel-major, ``(3, 32, 32)``).

``read_cifar10`` reads the six members straight out of the tarball with :mod:`tarfile` in
one streaming pass (nothing is extracted to disk, nothing is unpickled), or the six ``.bin``
files from a directory. Every size and every label is checked; any problem raises
``ValueError`` naming the file (and member).
"""
from __future__ import annotations

import tarfile
import zlib
from pathlib import Path

import numpy as np

CLASSES = ("airplane", "automobile", "bird", "cat", "deer",
           "dog", "frog", "horse", "ship", "truck")
ARCHIVE_DIR = "cifar-10-batches-bin"
TRAIN_FILES = tuple(f"data_batch_{i}.bin" for i in range(1, 6))
TEST_FILE = "test_batch.bin"
BATCH_FILES = TRAIN_FILES + (TEST_FILE,)
RECORDS_PER_BATCH = 10_000
PIXELS = 3 * 32 * 32
RECORD_BYTES = 1 + PIXELS
BATCH_BYTES = RECORDS_PER_BATCH * RECORD_BYTES  # 30,730,000


def read_cifar10(source, *, records: int = RECORDS_PER_BATCH):
    """Read CIFAR-10 from the binary tarball or from a directory of its six ``.bin`` files.

    Parameters
    ----------
    source : str or os.PathLike
        ``cifar-10-binary.tar.gz`` (any compression :mod:`tarfile` reads, or none), or a
        directory holding ``data_batch_1.bin`` .. ``data_batch_5.bin`` and ``test_batch.bin``,
        either directly or in a ``cifar-10-batches-bin`` subdirectory.
    records : int, default 10,000
        Records in each of the six batch files (the real distribution has 10,000; a smaller
        number reads files in the same format made for tests). Every file must hold exactly
        this many.

    Returns
    -------
    X_train : numpy.ndarray of uint8, shape (5 · records, 3072)
        Channel-major pixels (R plane, G plane, B plane, each 32x32 row-major).
    y_train : numpy.ndarray of int64, shape (5 · records,)
        Labels in 0..9, indexing :data:`CLASSES`.
    X_test : numpy.ndarray of uint8, shape (records, 3072)
    y_test : numpy.ndarray of int64, shape (records,)

    Raises
    ------
    ValueError
        If ``source`` does not exist, is not a readable tar archive, lacks one of the six
        batches, holds a batch that is not exactly ``records × 3,073`` bytes (30,730,000 for
        the real files), or has a label outside 0..9. The message names the file and member.
    """
    if isinstance(records, bool) or not isinstance(records, int) or records < 1:
        raise ValueError(f"records must be a positive int, got {records!r}")
    source = Path(source)
    if source.is_dir():
        blobs = _read_directory(source, records)
    elif source.is_file():
        blobs = _read_tarball(source, records)
    else:
        raise ValueError(f"{source}: no such file or directory; download the tarball with "
                         "`refimpl data fetch cifar10`")
    X_train, y_train = _decode([blobs[name] for name in TRAIN_FILES], records)
    X_test, y_test = _decode([blobs[TEST_FILE]], records)
    return X_train, y_train, X_test, y_test


def _read_directory(directory: Path, records: int) -> dict[str, tuple[str, bytes]]:
    """The six batches from ``directory`` (or its ``cifar-10-batches-bin`` subdirectory)."""
    if (directory / ARCHIVE_DIR).is_dir():
        directory = directory / ARCHIVE_DIR
    missing = [name for name in BATCH_FILES if not (directory / name).is_file()]
    if missing:
        raise ValueError(f"{directory}: missing CIFAR-10 batch file(s) {', '.join(missing)}; "
                         "download the tarball with `refimpl data fetch cifar10`")
    blobs, want = {}, records * RECORD_BYTES
    for name in BATCH_FILES:
        path = directory / name
        size = path.stat().st_size
        if size != want:
            raise ValueError(f"{path}: a CIFAR-10 batch must be exactly {want} bytes "
                             f"({records} records of {RECORD_BYTES}), got {size}")
        blobs[name] = (str(path), path.read_bytes())
    return blobs


def _read_tarball(path: Path, records: int) -> dict[str, tuple[str, bytes]]:
    """The six batch members of the tarball at ``path``, read in one streaming pass."""
    wanted = {f"{ARCHIVE_DIR}/{name}": name for name in BATCH_FILES}
    blobs: dict[str, tuple[str, bytes]] = {}
    size = records * RECORD_BYTES
    try:
        with tarfile.open(path, mode="r|*") as tar:
            for member in tar:
                name = wanted.get(member.name.removeprefix("./"))
                if name is None:
                    continue
                where = f"{path}: member {member.name}"
                if name in blobs:
                    raise ValueError(f"{where} appears twice in the archive")
                if not member.isfile():
                    raise ValueError(f"{where} is not a regular file")
                if member.size != size:
                    raise ValueError(f"{where} must be exactly {size} bytes "
                                     f"({records} records of {RECORD_BYTES}), got "
                                     f"{member.size}")
                data = tar.extractfile(member).read()
                if len(data) != size:
                    raise ValueError(f"{where}: archive ends after {len(data)} of "
                                     f"{size} bytes")
                blobs[name] = (where, data)
    except (tarfile.TarError, EOFError, zlib.error, OSError) as exc:
        raise ValueError(f"{path}: not a readable CIFAR-10 tar archive ({exc}); delete it and "
                         "download it again with `refimpl data fetch cifar10`") from None
    missing = [f"{ARCHIVE_DIR}/{name}" for name in BATCH_FILES if name not in blobs]
    if missing:
        raise ValueError(f"{path}: missing member(s) {', '.join(missing)}; is this the "
                         "CIFAR-10 *binary* tarball (cifar-10-binary.tar.gz)?")
    return blobs


def _decode(blobs: list[tuple[str, bytes]], records: int) -> tuple[np.ndarray, np.ndarray]:
    """Stack batches of records into pixels ``(n, 3072)`` uint8 and labels ``(n,)`` int64."""
    n = records * len(blobs)
    X = np.empty((n, PIXELS), dtype=np.uint8)
    y = np.empty(n, dtype=np.int64)
    for k, (where, data) in enumerate(blobs):
        rows = np.frombuffer(data, dtype=np.uint8).reshape(records, RECORD_BYTES)
        labels = rows[:, 0]
        bad = np.flatnonzero(labels > 9)
        if bad.size:
            raise ValueError(f"{where}: record {bad[0]} has label {labels[bad[0]]}; CIFAR-10 "
                             f"labels are 0..9 ({bad.size} bad record(s) in this batch)")
        block = slice(k * records, (k + 1) * records)
        X[block] = rows[:, 1:]
        y[block] = labels
    return X, y
