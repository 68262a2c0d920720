"""Fixtures for the data tests: a loopback HTTP server and small MNIST-style directories.

No test here touches the internet: downloads go to ``http.server`` on 127.0.0.1, port 0.
"""
from __future__ import annotations

import functools
import http.server
import threading

import numpy as np
import pytest

from refimpl.data.idx import write_idx

MNIST_STEMS = ("train-images-idx3-ubyte", "train-labels-idx1-ubyte",
               "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte")


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):  # keep pytest output clean
        pass


@pytest.fixture
def http_root(tmp_path_factory):
    """``(directory served, base URL)``; files written to the directory are served."""
    root = tmp_path_factory.mktemp("served")
    handler = functools.partial(_QuietHandler, directory=str(root))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    try:
        yield root, f"http://127.0.0.1:{server.server_address[1]}/"
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


def small_mnist_arrays(n_train=12, n_test=7, seed=0):
    """Random uint8 arrays in the MNIST layout, every class present in the training labels."""
    rng = np.random.default_rng(seed)
    return {
        "train-images-idx3-ubyte": rng.integers(0, 256, (n_train, 28, 28), dtype=np.uint8),
        "train-labels-idx1-ubyte": (np.arange(n_train) % 10).astype(np.uint8),
        "t10k-images-idx3-ubyte": rng.integers(0, 256, (n_test, 28, 28), dtype=np.uint8),
        "t10k-labels-idx1-ubyte": rng.integers(0, 10, n_test, dtype=np.uint8),
    }


def write_mnist_dir(directory, arrays, gz=True):
    """Write ``arrays`` (stem -> array) as IDX files into ``directory``; return it."""
    directory.mkdir(parents=True, exist_ok=True)
    for stem, array in arrays.items():
        write_idx(directory / (f"{stem}.gz" if gz else stem), array, gz=gz)
    return directory


@pytest.fixture
def mnist_dir(tmp_path):
    """A small, valid MNIST-style directory of gzipped IDX files, and its arrays."""
    arrays = small_mnist_arrays()
    return write_mnist_dir(tmp_path / "mnist", arrays), arrays
