"""IDX reader/writer: round trips, determinism, and every malformed file as a ValueError."""
from __future__ import annotations

import gzip
import struct

import numpy as np
import pytest

from refimpl.data.idx import idx_bytes, read_idx, write_idx

RNG = np.random.default_rng(7)
IMAGES = RNG.integers(0, 256, (5, 28, 28), dtype=np.uint8)
LABELS = RNG.integers(0, 10, 5, dtype=np.uint8)
GOOD_IMAGES = idx_bytes(IMAGES)
GOOD_LABELS = idx_bytes(LABELS)


def _gz(data: bytes) -> bytes:
    return gzip.compress(data, mtime=0)


# name -> (file name, file bytes, words the error message must contain)
BAD_FILES = {
    "bad_magic": ("x-idx3-ubyte", b"\x00\x00\x08\x04" + GOOD_IMAGES[4:], ["magic number"]),
    "magic_2d": ("x-idx3-ubyte", struct.pack(">IIII", 2050, 5, 28, 28), ["magic number"]),
    "wrong_type_code": ("x-idx1-ubyte", b"\x00\x00\x0d\x01" + GOOD_LABELS[4:],
                        ["magic number"]),
    "empty": ("x-idx1-ubyte", b"", ["truncated", "0 bytes"]),
    "short_header": ("x-idx3-ubyte", GOOD_IMAGES[:10], ["truncated", "header"]),
    "truncated_raw": ("x-idx3-ubyte", GOOD_IMAGES[:-1], ["truncated", "expected 3936",
                                                         "got 3935"]),
    "truncated_gz": ("x-idx3-ubyte.gz", _gz(GOOD_IMAGES[:-100]), ["truncated",
                                                                  "expected 3936"]),
    "trailing_raw": ("x-idx1-ubyte", GOOD_LABELS + b"\x00\x00", ["trailing", "expected 13",
                                                                 "got 15"]),
    "trailing_gz": ("x-idx1-ubyte.gz", _gz(GOOD_LABELS + b"\x01"), ["trailing", "got 14"]),
    "not_gzip_named_gz": ("x-idx1-ubyte.gz", GOOD_LABELS, ["not gzip"]),
    "cut_gzip_stream": ("x-idx3-ubyte.gz", _gz(GOOD_IMAGES)[:-20], ["corrupt gzip"]),
    "bad_gzip_crc": ("x-idx1-ubyte.gz", _gz(GOOD_LABELS)[:-8] + b"\0" * 8, ["corrupt gzip"]),
}


@pytest.mark.parametrize("array", [IMAGES, LABELS], ids=["images", "labels"])
@pytest.mark.parametrize("gz", [True, False])
def test_round_trip(tmp_path, array, gz):
    path = write_idx(tmp_path / ("f.gz" if gz else "f"), array, gz=gz)
    back = read_idx(path)
    assert back.dtype == np.uint8
    np.testing.assert_array_equal(back, array)


def test_header_is_big_endian_with_standard_magic():
    assert GOOD_IMAGES[:16] == struct.pack(">IIII", 2051, 5, 28, 28)
    assert GOOD_LABELS[:8] == struct.pack(">II", 2049, 5)


def test_gzip_output_is_deterministic_without_name_or_mtime(tmp_path):
    a = write_idx(tmp_path / "a-idx3-ubyte.gz", IMAGES).read_bytes()
    b = write_idx(tmp_path / "b-idx3-ubyte.gz", IMAGES).read_bytes()
    assert a == b
    assert a[3] == 0  # FLG: no FNAME, no comment, no extra field
    assert a[4:8] == b"\0\0\0\0"  # MTIME = 0


def test_gzip_detected_by_content_not_name(tmp_path):
    path = tmp_path / "labels-idx1-ubyte"  # no .gz, but gzip data
    path.write_bytes(_gz(GOOD_LABELS))
    np.testing.assert_array_equal(read_idx(path), LABELS)


def test_writer_leaves_no_temporary_files(tmp_path):
    write_idx(tmp_path / "f.gz", LABELS)
    assert [p.name for p in tmp_path.iterdir()] == ["f.gz"]


@pytest.mark.parametrize("case", BAD_FILES, ids=list(BAD_FILES))
def test_bad_file_raises_naming_the_file(tmp_path, case):
    name, data, words = BAD_FILES[case]
    path = tmp_path / name
    path.write_bytes(data)
    with pytest.raises(ValueError) as info:
        read_idx(path)
    message = str(info.value)
    assert str(path) in message
    for word in words:
        assert word in message


def test_missing_file(tmp_path):
    with pytest.raises(ValueError, match="no such IDX file"):
        read_idx(tmp_path / "absent.gz")


BAD_ARRAYS = {
    "float": (IMAGES.astype(np.float64), "integers"),
    "negative": (np.array([-1, 2]), r"\[-1, 2\]"),
    "too_large": (np.array([0, 256]), r"\[0, 256\]"),
    "two_dims": (np.zeros((3, 4), np.uint8), "shape"),
}


@pytest.mark.parametrize("case", BAD_ARRAYS, ids=list(BAD_ARRAYS))
def test_writer_rejects_bad_arrays(tmp_path, case):
    array, pattern = BAD_ARRAYS[case]
    with pytest.raises(ValueError, match=pattern):
        write_idx(tmp_path / "f.gz", array)
    assert not any(tmp_path.iterdir())


def test_writer_rejects_gz_name_without_compression(tmp_path):
    with pytest.raises(ValueError, match="gz=False"):
        write_idx(tmp_path / "f.gz", LABELS, gz=False)


def test_writer_rejects_missing_directory(tmp_path):
    with pytest.raises(ValueError, match="does not exist"):
        write_idx(tmp_path / "nope" / "f.gz", LABELS)
