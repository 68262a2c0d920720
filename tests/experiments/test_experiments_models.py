"""``--model``: the CNNs and architecture files in training, reproduction and the CLI."""
import json

import pytest
from experiment_cases import make_tiny_images

from refimpl.cli import main
from refimpl.experiments import TrainConfig, reproduce, train
from refimpl.experiments.config import CNN_HYPER, DEFAULT_HYPER
from refimpl.experiments.models import build_model, describe_model, model_input
from refimpl.modules import Conv2d, Flatten, Linear, Pointwise, Sequential
from refimpl.oracle.architecture import to_json
from refimpl.spaces import Shape


@pytest.fixture
def images():
    return make_tiny_images()


@pytest.fixture
def arch_file(tmp_path):
    net = Sequential(Conv2d(1, 2, 4, stride=4, input_size=(28, 28)), Pointwise("tanh", (2, 7, 7)),
                     Flatten((2, 7, 7)), Linear(98, 3))
    path = tmp_path / "net.json"
    path.write_text(to_json(net))
    return path


def test_cnn_model_reads_the_flat_rows_as_images(images):
    config = TrainConfig(model="cnn")
    model = build_model(config, images)
    assert model.in_space == Shape(1, 28, 28) and model.out_space == 3
    assert describe_model(config, images, model) == "CNN cnn, 9,507 parameters"  # 3 classes
    assert model_input(images.X_train, model).shape == (32, 1, 28, 28)
    assert model_input(images.X_train, model).base is images.X_train.base  # a view


def test_defaults_follow_the_model():
    assert TrainConfig(model="cnn", optimizer="riemannian").mass == \
        CNN_HYPER["riemannian"]["mass"]
    assert TrainConfig(optimizer="riemannian").mass == DEFAULT_HYPER["riemannian"]["mass"]


def test_train_a_cnn_and_an_architecture_file(images, arch_file, tmp_path):
    for model in ("cnn", str(arch_file)):
        config = TrainConfig(model=model, optimizer="riemannian", batch_size=16, epochs=1,
                             mass=1.0)
        result = train(config, tmp_path / model.replace("/", "_"), dataset=images,
                       quiet=True, progress=False)
        assert result.epochs[-1]["epoch"] == 1 and result.state.step == 2
        assert result.epochs[-1]["train_loss"] < result.epochs[0]["train_loss"]


def test_reproduce_on_images_runs_the_cnn_plan(images, arch_file, tmp_path):
    summary = reproduce(tmp_path / "out", model=str(arch_file), data=images, epochs=1,
                        batch_size=16, optimizers=("sgd", "riemannian-identity"), quiet=True,
                        progress=False)
    assert summary["setup"]["model"] == "network net.json, 331 parameters"
    assert summary["setup"]["target"] == 0.95
    assert summary["optimizers"]["sgd"]["hyperparameters"]["lr"] == CNN_HYPER["sgd"]["lr"]
    assert set(summary["optimizers"]) == {"sgd", "riemannian-identity"}
    assert "95% reached" in (tmp_path / "out" / "report.md").read_text()


BAD = [
    (["train", "--model", "resnet"], "unknown model 'resnet'"),
    (["train", "--model", "cnn", "--widths", "5"], "--widths apply to --model mlp only"),
    (["reproduce", "--model", "3c3d", "--widths", "5"], "--widths apply to --model mlp only"),
    (["train", "--model", "3c3d", "--epochs", "1"], "model '3c3d' is built for 3×32×32 images"),
    (["train", "--model", "missing.json"], "model file missing.json: cannot be read"),
]


@pytest.mark.parametrize("argv,message", BAD)
def test_bad_model_options_exit_1_with_one_line(argv, message, images, monkeypatch, tmp_path,
                                                capsys):
    monkeypatch.setattr("refimpl.experiments.training.load_dataset", lambda *a: images)
    monkeypatch.chdir(tmp_path)
    assert main(argv + ["--out", str(tmp_path / "run")]) == 1
    err = capsys.readouterr().err
    assert message in err and len(err.strip().splitlines()) == 1, err


def test_architecture_file_that_does_not_fit_the_data(images, tmp_path):
    path = tmp_path / "vec.json"
    path.write_text(json.dumps({"format": "refimpl-architecture", "version": 2,
                                "module": {"type": "Linear", "n_in": 10, "n_out": 3}}))
    with pytest.raises(ValueError, match="input is R\\^10 but data set 'mnist-5k' has images"):
        build_model(TrainConfig(model=str(path)), images)


def test_train_3c3d_on_a_small_file_in_the_cifar10_binary_format(tmp_path):
    """The CIFAR-10 path of ``reproduce --dataset cifar10 --model 3c3d`` (reader, model,
    Riemannian SGD with its per-layer formulas) on 4 records per batch file (the real format,
    random pixels)."""
    import tarfile

    import numpy as np

    from refimpl.data import Dataset
    from refimpl.data.cifar10 import (ARCHIVE_DIR, BATCH_FILES, CLASSES, RECORD_BYTES,
                                      read_cifar10)

    rng = np.random.default_rng(0)
    path = tmp_path / "cifar-10-binary.tar.gz"
    with tarfile.open(path, "w:gz") as tar:
        for name in BATCH_FILES:
            rows = rng.integers(0, 256, (4, RECORD_BYTES), dtype=np.uint8)
            rows[:, 0] = rng.integers(0, 10, 4)
            rows.tofile(tmp_path / name)
            tar.add(tmp_path / name, arcname=f"{ARCHIVE_DIR}/{name}")
    X_train, y_train, X_test, y_test = read_cifar10(path, records=4)
    data = Dataset("cifar10", X_train / 255.0, y_train, X_test / 255.0, y_test, CLASSES)
    config = TrainConfig(dataset="cifar10", model="3c3d", optimizer="riemannian", epochs=1,
                         batch_size=4, eval_every=0)
    result = train(config, tmp_path / "run", dataset=data, quiet=True, progress=False)
    assert describe_model(config, data, build_model(config, data)) == \
        "CNN 3c3d (DeepOBS cifar10_3c3d), 895,210 parameters"
    assert result.state.step == 5 and np.isfinite(result.epochs[-1]["train_loss"])
