"""Cases as data for the experiments tests, and the tiny data set they train on."""
import numpy as np

from refimpl.data import Dataset


def make_tiny_dataset(n_train=48, n_test=24, n_features=6, seed=0):
    """Three classes separable by the first feature's thirds, plus noise features."""
    rng = np.random.default_rng(seed)
    X = rng.random((n_train + n_test, n_features))
    y = np.minimum((X[:, 0] * 3).astype(np.int64), 2)
    return Dataset("mnist-5k", X[:n_train], y[:n_train], X[n_train:], y[n_train:],
                   ("a", "b", "c"))


OPTIMIZERS = ("sgd", "momentum", "adam", "riemannian", "gauss-newton", "kfac")
"""Every optimizer, each must resume bit-for-bit."""

BAD_CONFIGS = [
    ({"lr": -1.0}, "lr must be a finite number > 0"),
    ({"lr": float("nan")}, "lr must be a finite number > 0"),
    ({"optimizer": "sgd", "mass": 1.0}, "mass applies to the optimizers"),
    ({"optimizer": "adam", "output_metric": "identity"}, "output_metric applies"),
    ({"optimizer": "lbfgs"}, "unknown optimizer 'lbfgs'"),
    ({"dataset": "imagenet"}, "unknown dataset 'imagenet'"),
    ({"activation": "swish"}, "unknown activation 'swish'"),
    ({"widths": (4, 0)}, "each hidden width must be a positive integer"),
    ({"batch_size": 0}, "batch_size must be a positive integer"),
    ({"epochs": 1.5}, "epochs must be a positive integer"),
    ({"seed": -1}, "seed must be a non-negative integer"),
    ({"optimizer": "riemannian", "mass": 0.0}, "mass must be a finite number > 0"),
    ({"optimizer": "riemannian", "output_metric": "fisher"}, "unknown output_metric"),
    ({"optimizer": "riemannian", "damping": "trust"}, "unknown damping 'trust'"),
    ({"optimizer": "adam", "damping": "adaptive"}, "damping applies"),
    ({"optimizer": "riemannian", "metric_batch": 0}, "metric_batch must be a positive integer"),
    ({"optimizer": "riemannian", "output_damping": -0.1},
     "output_damping must be a finite number ≥ 0"),
    ({"optimizer": "gauss-newton", "output_damping": float("inf")},
     "output_damping must be a finite number ≥ 0"),
    ({"optimizer": "kfac", "output_damping": 0.3}, "output_damping applies"),
    ({"max_loss_factor": float("inf")}, "max_loss_factor must be a finite number > 0"),
    ({"dtype": "float16"}, "unknown dtype 'float16'"),
]
"""``TrainConfig`` keyword arguments that must raise ``ValueError``, with the message start."""


def make_tiny_images(n_train=32, n_test=16, seed=0, name="mnist-5k", shape=(1, 28, 28)):
    """Three classes of images (a bright square in the left, middle or right third) on noise,
    as flat pixel rows like the real data sets."""
    rng = np.random.default_rng(seed)
    n = n_train + n_test
    C, H, W = shape
    X = 0.2 * rng.random((n, C, H, W))
    y = rng.integers(0, 3, n)
    for i, label in enumerate(y):
        x0 = label * (W // 3) + 2
        X[i, :, H // 2 - 3:H // 2 + 3, x0:x0 + 6] += 0.8
    X = X.reshape(n, -1)
    return Dataset(name, X[:n_train], y[:n_train], X[n_train:], y[n_train:], ("a", "b", "c"))
