"""load_dataset: the shipped MNIST 5k files, MNIST-style directories, and their errors."""
from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
import pytest

import refimpl
from refimpl.data import Dataset, data_home, load_dataset
from refimpl.data.datasets import DEBIAN_FASHION_MNIST, default_directory
from refimpl.data.idx import write_idx

# Recorded in refimpl/data/mnist_5k/README.md as well: (size in bytes, SHA-256).
SHIPPED_MNIST_5K = {
    "train-images-idx3-ubyte.gz": (653_179,
        "3ce2fef53171198e089e5d9a03505b6c72f15911ed8f7f60bce43a4254667600"),
    "train-labels-idx1-ubyte.gz": (2_058,
        "8c19834ac446f9cc9bf2bbc083167029cfaf833ca830f5b0c84f6a21e1ed9b3f"),
    "t10k-images-idx3-ubyte.gz": (161_655,
        "c630b28af32a9578baaa6da545da5fb7e4c9e63021ba58c76c01019449de3c79"),
    "t10k-labels-idx1-ubyte.gz": (523,
        "781f881f5f393676a7070f2c6a62e26358221dd0dc6f5cc643abfd647489a88a"),
}
TRAIN_COUNTS = [396, 387, 403, 414, 398, 391, 392, 395, 408, 416]
TEST_COUNTS = [104, 113, 97, 86, 102, 109, 108, 105, 92, 84]


@pytest.mark.parametrize("name", SHIPPED_MNIST_5K)
def test_shipped_file_matches_recorded_digest(name):
    blob = (default_directory("mnist-5k") / name).read_bytes()
    assert (len(blob), hashlib.sha256(blob).hexdigest()) == SHIPPED_MNIST_5K[name]


def test_shipped_mnist_5k_loads_by_default():
    ds = load_dataset("mnist-5k")
    assert isinstance(ds, Dataset) and ds.name == "mnist-5k"
    assert ds.X_train.shape == (4000, 784) and ds.X_test.shape == (1000, 784)
    assert ds.X_train.dtype == np.float64 and ds.y_train.dtype == np.int64
    assert ds.X_train.min() == 0.0 and ds.X_train.max() == 1.0
    assert np.bincount(ds.y_train).tolist() == TRAIN_COUNTS
    assert np.bincount(ds.y_test).tolist() == TEST_COUNTS
    assert ds.classes == tuple("0123456789") and ds.n_features == 784 and ds.n_classes == 10


def test_dataset_arrays_are_read_only():
    ds = load_dataset("mnist-5k")
    with pytest.raises(ValueError, match="read-only"):
        ds.X_train[0, 0] = 1.0


@pytest.mark.parametrize("gz", [True, False])
def test_mnist_directory_gz_or_raw(tmp_path, gz):
    rng = np.random.default_rng(1)
    images = rng.integers(0, 256, (3, 28, 28), dtype=np.uint8)
    labels = np.array([9, 0, 4], np.uint8)
    for split in ("train", "t10k"):
        write_idx(tmp_path / f"{split}-images-idx3-ubyte{'.gz' * gz}", images, gz=gz)
        write_idx(tmp_path / f"{split}-labels-idx1-ubyte{'.gz' * gz}", labels, gz=gz)
    ds = load_dataset("fashion-mnist", tmp_path)
    np.testing.assert_array_equal(ds.X_test, images.reshape(3, 784) / 255.0)
    np.testing.assert_array_equal(ds.y_train, [9, 0, 4])
    assert ds.classes[9] == "Ankle boot"


# Replace one file of a valid directory: file stem -> (array, file named, words in the message).
BAD_DIRECTORIES = {
    "count_mismatch": ("t10k-labels-idx1-ubyte", np.zeros(6, np.uint8),
                       "t10k-images-idx3-ubyte.gz", ["holds 7 images but", "holds 6 labels"]),
    "label_out_of_range": ("train-labels-idx1-ubyte", np.array([0] * 11 + [10], np.uint8),
                           "train-labels-idx1-ubyte.gz", ["must be 0..9, got 10 at index 11"]),
    "image_dims": ("train-images-idx3-ubyte", np.zeros((12, 27, 28), np.uint8),
                   "train-images-idx3-ubyte.gz", ["must be 28x28", "(12, 27, 28)"]),
    "labels_as_images": ("train-images-idx3-ubyte", np.zeros(12, np.uint8),
                         "train-images-idx3-ubyte.gz", ["must be 28x28", "(12,)"]),
    "images_as_labels": ("t10k-labels-idx1-ubyte", np.zeros((7, 28, 28), np.uint8),
                         "t10k-labels-idx1-ubyte.gz", ["expected a labels file"]),
}


@pytest.mark.parametrize("case", BAD_DIRECTORIES, ids=list(BAD_DIRECTORIES))
def test_bad_directory_names_the_file(mnist_dir, case):
    directory, _ = mnist_dir
    stem, array, named, words = BAD_DIRECTORIES[case]
    write_idx(directory / f"{stem}.gz", array)
    with pytest.raises(ValueError) as info:
        load_dataset("mnist", directory)
    for word in [str(directory / named), *words]:
        assert word in str(info.value)


def test_bad_file_error_names_the_file(mnist_dir):
    directory, _ = mnist_dir
    path = directory / "train-labels-idx1-ubyte.gz"
    path.write_bytes(b"not gzip")
    with pytest.raises(ValueError, match=f"{path}: the name ends in .gz but"):
        load_dataset("mnist", directory)


def test_missing_file_says_which_and_how_to_get_it(mnist_dir):
    directory, _ = mnist_dir
    (directory / "t10k-images-idx3-ubyte.gz").unlink()
    with pytest.raises(ValueError, match=r"missing file .*t10k-images-idx3-ubyte.gz .*"
                                         r"`refimpl data fetch mnist`"):
        load_dataset("mnist", directory)


@pytest.mark.parametrize("name", ["mnist", "fashion-mnist", "cifar10", "mnist-5k"])
def test_missing_directory_says_how_to_get_it(tmp_path, name):
    with pytest.raises(ValueError, match="does not exist") as info:
        load_dataset(name, tmp_path / "absent")
    hint = "make_mnist_5k.py" if name == "mnist-5k" else f"refimpl data fetch {name}"
    assert hint in str(info.value)


def test_unknown_name():
    with pytest.raises(ValueError, match="unknown data set 'mnist5k'.*'mnist-5k'"):
        load_dataset("mnist5k")


def test_the_shipped_subset_is_package_data():
    """Inside the imported refimpl package (site-packages for an installed wheel), with its
    provenance and license beside the files."""
    folder = default_directory("mnist-5k")
    assert folder == Path(refimpl.__file__).parent / "data" / "mnist_5k"
    assert sorted(p.name for p in folder.iterdir()) == sorted([*SHIPPED_MNIST_5K, "README.md"])
    assert "CC BY-SA 3.0" in (folder / "README.md").read_text(encoding="utf-8")


def test_downloads_default_to_the_data_home(monkeypatch, tmp_path):
    monkeypatch.setenv("REFIMPL_DATA", str(tmp_path / "mine"))
    assert data_home() == tmp_path / "mine"
    assert default_directory("cifar10") == tmp_path / "mine" / "cifar10"
    monkeypatch.delenv("REFIMPL_DATA")
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "xdg"))
    assert default_directory("mnist") == tmp_path / "xdg" / "refimpl" / "mnist"
    monkeypatch.delenv("XDG_DATA_HOME")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert data_home() == tmp_path / "home" / ".local" / "share" / "refimpl"
    assert not data_home().exists()                          # looking creates nothing


@pytest.mark.skipif(not DEBIAN_FASHION_MNIST.is_dir(),
                    reason="Debian package dataset-fashion-mnist not installed")
def test_debian_fashion_mnist():
    ds = load_dataset("fashion-mnist", DEBIAN_FASHION_MNIST)
    assert ds.X_train.shape == (60_000, 784) and ds.X_test.shape == (10_000, 784)
    assert np.bincount(ds.y_test).tolist() == [1000] * 10
