"""Fixtures: a tiny synthetic classification data set and small training configurations."""
import numpy as np
import pytest

from refimpl.data import Dataset
from refimpl.experiments import TrainConfig


def make_tiny_dataset(n_train=48, n_test=24, n_features=6, seed=0):
    """Three classes separable by the first feature's thirds, plus noise features."""
    rng = np.random.default_rng(seed)
    X = rng.random((n_train + n_test, n_features))
    y = np.minimum((X[:, 0] * 3).astype(np.int64), 2)
    return Dataset("mnist-5k", X[:n_train], y[:n_train], X[n_train:], y[n_train:],
                   ("a", "b", "c"))


@pytest.fixture
def tiny_data():
    return make_tiny_dataset()


@pytest.fixture
def config():
    """A factory of small configurations: 6-5-3 MLP, batch 16 (3 steps per epoch)."""
    def make(optimizer="sgd", epochs=2, **changes):
        return TrainConfig(widths=(5,), optimizer=optimizer, batch_size=16, epochs=epochs,
                           **changes)
    return make


@pytest.fixture
def use_tiny_data(monkeypatch, tiny_data):
    """Make every ``load_dataset`` of the experiments return the tiny data set."""
    def load(name, directory=None):
        return tiny_data
    monkeypatch.setattr("refimpl.experiments.training.load_dataset", load)
    monkeypatch.setattr("refimpl.experiments.reproduction.load_dataset", load)
    return tiny_data
