"""``TrainConfig`` validates every field and round-trips through JSON."""
import json

import pytest
from experiment_cases import BAD_CONFIGS

from refimpl.experiments import DEFAULT_HYPER, TrainConfig
from refimpl.modules import mlp
from refimpl.optim import make_optimizer


@pytest.mark.parametrize("changes, message", BAD_CONFIGS)
def test_bad_values_are_clear_errors(changes, message):
    with pytest.raises(ValueError, match=message.replace("(", r"\(")):
        TrainConfig(**changes)


@pytest.mark.parametrize("optimizer", sorted(DEFAULT_HYPER))
def test_defaults_fill_in_and_round_trip(optimizer):
    config = TrainConfig(optimizer=optimizer)
    for name, value in DEFAULT_HYPER[optimizer].items():
        assert getattr(config, name) == value
    assert TrainConfig.from_dict(json.loads(json.dumps(config.to_dict()))) == config


def test_unknown_keys_are_rejected():
    with pytest.raises(ValueError, match="unknown configuration keys"):
        TrainConfig.from_dict({"learning_rate": 0.1})


@pytest.mark.parametrize("optimizer", sorted(DEFAULT_HYPER))
def test_float32_training_is_passed_to_every_optimizer(optimizer):
    assert "dtype" not in TrainConfig(optimizer=optimizer).hyper()
    config = TrainConfig(optimizer=optimizer, dtype="float32")
    assert config.hyper()["dtype"] == "float32"
    assert TrainConfig.from_dict(json.loads(json.dumps(config.to_dict()))) == config


@pytest.mark.parametrize("optimizer", ["riemannian", "gauss-newton"])
def test_output_damping_reaches_the_metric_optimizers(optimizer):
    assert "output_damping" not in TrainConfig(optimizer=optimizer).hyper()
    config = TrainConfig(optimizer=optimizer, output_damping=0.3)
    assert TrainConfig.from_dict(json.loads(json.dumps(config.to_dict()))) == config
    opt = make_optimizer(optimizer, mlp([4, 3], "tanh"), "cross_entropy", **config.hyper())
    assert opt.hyperparameters()["output_damping"] == 0.3


def test_a_config_without_output_damping_keeps_its_earlier_dict():
    """The field came after sweep results and checkpoints were stored: left at ``None`` it is
    not in the dict, so their run keys (hashes of the dict) still match."""
    assert "output_damping" not in TrainConfig(optimizer="riemannian").to_dict()
    assert TrainConfig(optimizer="riemannian", output_damping=0.0).to_dict()[
        "output_damping"] == 0.0
