"""Fixtures: a tiny synthetic classification data set and small training configurations."""
import pytest
from experiment_cases import make_tiny_dataset

from refimpl.experiments import TrainConfig


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
