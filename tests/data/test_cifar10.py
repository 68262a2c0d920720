"""CIFAR-10 binary reader on generated batches of the real size (30,730,000 bytes each).

The six batches are generated once per module (zeros plus a few marker bytes, ~184 MB on
disk) and shared; archives for the failure cases hold only the members they need, or link
to the good files, so the whole module stays within a few seconds.
"""
from __future__ import annotations

import functools
import tarfile

import numpy as np
import pytest

from refimpl.data import load_dataset
from refimpl.data.cifar10 import (ARCHIVE_DIR, BATCH_BYTES, BATCH_FILES, CLASSES,
                                  RECORD_BYTES, RECORDS_PER_BATCH, TEST_FILE, read_cifar10)


def _records(k: int) -> np.ndarray:
    """Batch ``k`` (0..5) as ``(10000, 3073)`` uint8: label, then 3,072 pixels."""
    records = np.zeros((RECORDS_PER_BATCH, RECORD_BYTES), dtype=np.uint8)
    records[:, 0] = (np.arange(RECORDS_PER_BATCH) + k) % 10   # labels
    records[:, 1] = k                                         # first red pixel: batch index
    records[:, -1] = np.arange(RECORDS_PER_BATCH) % 251       # last blue pixel: record index
    return records


def _tar(path, members: dict, mode="w"):
    """Write a tarball whose members (``name -> file path``) sit under ``ARCHIVE_DIR``."""
    with tarfile.open(path, mode, dereference=True) as tar:
        for name, source in members.items():
            tar.add(source, arcname=f"{ARCHIVE_DIR}/{name}")
    return path


def _write(path, records: np.ndarray):
    records.tofile(path)
    return path


@pytest.fixture(scope="module")
def bins(tmp_path_factory):
    """A directory with the six valid ``.bin`` batches."""
    directory = tmp_path_factory.mktemp("cifar-bins")
    for k, name in enumerate(BATCH_FILES):
        _write(directory / name, _records(k))
    return directory


@pytest.fixture(scope="module")
def tarball(bins, tmp_path_factory):
    """An uncompressed tarball of the six batches plus the extra members of the real one."""
    root = tmp_path_factory.mktemp("cifar-tar")
    (root / "batches.meta.txt").write_text("\n".join(CLASSES) + "\n")
    members = {"batches.meta.txt": root / "batches.meta.txt"}
    members.update({name: bins / name for name in BATCH_FILES})
    return _tar(root / "cifar-10-binary.tar", members)


@functools.cache
def _expected():
    train = np.concatenate([_records(k) for k in range(5)])
    test = _records(5)
    return train[:, 1:], train[:, 0].astype(np.int64), test[:, 1:], test[:, 0].astype(np.int64)


def _assert_matches(arrays):
    for got, want in zip(arrays, _expected()):
        assert got.dtype == want.dtype and got.shape == want.shape
        assert np.array_equal(got, want)


def test_batch_size_is_the_official_one():
    assert BATCH_BYTES == 30_730_000


def test_reads_tarball_without_extracting(tarball):
    before = sorted(p.name for p in tarball.parent.iterdir())
    _assert_matches(read_cifar10(tarball))
    assert sorted(p.name for p in tarball.parent.iterdir()) == before


def test_reads_directory_of_bin_files(bins):
    _assert_matches(read_cifar10(bins))


def test_reads_extracted_layout(bins, tmp_path):
    (tmp_path / ARCHIVE_DIR).mkdir()
    for name in BATCH_FILES:
        (tmp_path / ARCHIVE_DIR / name).symlink_to(bins / name)
    _assert_matches(read_cifar10(tmp_path))


def test_load_dataset_scales_and_flattens(tarball, tmp_path):
    (tmp_path / "cifar-10-binary.tar.gz").symlink_to(tarball)  # the name fetch gives it
    ds = load_dataset("cifar10", tmp_path)
    assert ds.X_train.shape == (50_000, 3072) and ds.X_test.shape == (10_000, 3072)
    assert ds.X_train.dtype == np.float64 and ds.y_train.dtype == np.int64
    assert ds.X_test[7, -1] == 7 / 255 and ds.X_train[10_000, 0] == 1 / 255
    assert ds.classes == CLASSES and set(np.unique(ds.y_train)) == set(range(10))


# Failure cases built from single members: name -> (members, words in the message).
def _short(tmp_path):
    return {"data_batch_1.bin": _write(tmp_path / "short.bin", _records(0).ravel()[:-1])}


def _only_test(tmp_path):
    return {TEST_FILE: _write(tmp_path / TEST_FILE, _records(5))}


SMALL_BAD_TARBALLS = {
    "wrong_member_size": (_short, ["data_batch_1.bin", "exactly 30730000", "got 30729999"]),
    "missing_members": (_only_test, ["missing member", "data_batch_1.bin", "data_batch_5.bin"]),
}


@pytest.mark.parametrize("case", SMALL_BAD_TARBALLS, ids=list(SMALL_BAD_TARBALLS))
def test_bad_tarball(tmp_path, case):
    make, words = SMALL_BAD_TARBALLS[case]
    path = _tar(tmp_path / "bad.tar.gz", make(tmp_path), mode="w:gz")
    with pytest.raises(ValueError) as info:
        read_cifar10(path)
    for word in [str(path), *words]:
        assert word in str(info.value)


def test_truncated_tarball(tmp_path):
    path = _tar(tmp_path / "cut.tar", _only_test(tmp_path))
    with open(path, "r+b") as f:
        f.truncate(BATCH_BYTES // 2)
    with pytest.raises(ValueError, match="not a readable CIFAR-10 tar archive"):
        read_cifar10(path)


def test_not_a_tarball(tmp_path):
    path = tmp_path / "cifar-10-binary.tar.gz"
    path.write_bytes(b"<html>404 Not Found</html>")
    with pytest.raises(ValueError, match="not a readable CIFAR-10 tar archive"):
        read_cifar10(path)


def _with_bad_label(bins, directory):
    """Links to the good batches, except data_batch_3.bin whose record 17 has label 10."""
    directory.mkdir()
    for name in BATCH_FILES:
        (directory / name).symlink_to(bins / name)
    records = _records(2)
    records[17, 0] = 10
    (directory / "data_batch_3.bin").unlink()
    _write(directory / "data_batch_3.bin", records)
    return directory


def test_bad_label_in_directory(bins, tmp_path):
    directory = _with_bad_label(bins, tmp_path / "d")
    with pytest.raises(ValueError, match=r"data_batch_3.bin: record 17 has label 10"):
        read_cifar10(directory)


def test_bad_label_in_tarball(bins, tmp_path):
    directory = _with_bad_label(bins, tmp_path / "d")
    path = _tar(tmp_path / "bad.tar", {name: directory / name for name in BATCH_FILES})
    with pytest.raises(ValueError, match=r"bad.tar: member .*data_batch_3.bin: record 17"):
        read_cifar10(path)


def test_directory_with_missing_batch(bins, tmp_path):
    for name in BATCH_FILES[1:]:
        (tmp_path / name).symlink_to(bins / name)
    with pytest.raises(ValueError, match="missing CIFAR-10 batch file.*data_batch_1.bin"):
        read_cifar10(tmp_path)


def test_directory_with_wrong_size(bins, tmp_path):
    for name in BATCH_FILES[:-1]:
        (tmp_path / name).symlink_to(bins / name)
    _write(tmp_path / TEST_FILE, _records(5)[:-1])
    with pytest.raises(ValueError, match=r"test_batch.bin: .*exactly 30730000 bytes .* got "
                                         r"30726927"):
        read_cifar10(tmp_path)


def test_missing_source(tmp_path):
    with pytest.raises(ValueError, match="refimpl data fetch cifar10"):
        read_cifar10(tmp_path / "absent.tar.gz")


def write_small_cifar10(directory, records: int, seed: int = 0):
    """A ``cifar-10-binary.tar.gz`` in the real format with ``records`` records per batch
    (random pixels and labels); returns its path."""
    rng = np.random.default_rng(seed)
    members = {}
    for name in BATCH_FILES:
        rows = rng.integers(0, 256, (records, RECORD_BYTES), dtype=np.uint8)
        rows[:, 0] = rng.integers(0, 10, records)
        members[name] = _write(directory / name, rows)
    return _tar(directory / "cifar-10-binary.tar.gz", members, mode="w:gz")


def test_a_record_count_reads_small_files_and_is_checked(tmp_path):
    path = write_small_cifar10(tmp_path, records=7)
    X_train, y_train, X_test, y_test = read_cifar10(path, records=7)
    assert X_train.shape == (35, 3072) and X_test.shape == (7, 3072)
    rows = np.fromfile(tmp_path / TEST_FILE, np.uint8).reshape(7, -1)
    assert np.array_equal(X_test, rows[:, 1:]) and np.array_equal(y_test, rows[:, 0])
    assert read_cifar10(tmp_path, records=7)[3].shape == (7,)          # the .bin directory
    with pytest.raises(ValueError, match=r"exactly 24584 bytes \(8 records of 3073\)"):
        read_cifar10(path, records=8)
    with pytest.raises(ValueError, match="records must be a positive int"):
        read_cifar10(path, records=0)
