"""Built-in sweep specs: ``refimpl sweep --preset NAME`` (``--show-preset NAME`` prints one).

``sensitivity`` answers the paper's open question (§4): how sensitive Riemannian SGD is to
its extra hyperparameters — the mass ``μ`` (the diagonal ``M_l = μ I``, the metric's
regularisation) and the output metric — and how they interact with the learning rate and
the batch size, beside SGD, Adam and the network-scope damped Gauss–Newton method. Same data
and model as ``refimpl reproduce`` (the shipped MNIST subset, MLP 784-256-256-10 tanh), three
seeds per point, 285 runs: 1,700 worker-seconds, 14 minutes on an idle 2-core machine
(measured; 33 minutes on a slower one; the results and their reading are in
``docs/sweep.md``).
"""
from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Preset:
    summary: str
    text: str


SENSITIVITY = '''\
# The sensitivity sweep: `refimpl sweep --preset sensitivity` (or this file as SPEC).
name = "sensitivity"
description = """
Sensitivity of Riemannian SGD to the mass mu and the output metric, and their interaction
with the learning rate and the batch size, on the shipped MNIST subset (4,000 / 1,000
images), MLP 784-256-256-10 tanh, beside SGD, Adam and network-scope damped Gauss-Newton.
Epoch budgets per optimizer are those of `refimpl reproduce` or less; time to 90% shows
what a budget would have needed."""
seeds = [0, 1, 2]
target = 0.9
evals_per_epoch = 4

[data]
name = "mnist-5k"

[model]
widths = [256, 256]
activation = "tanh"

[defaults]
batch_size = 128
drop_last = true

# mu x lr, identity output metric: the paper's default metric.
[[optimizers]]
name = "riemannian-identity"
title = "Riemannian SGD, identity output metric"
optimizer = "riemannian"
output_metric = "identity"
epochs = 2
[optimizers.grid]
mass = [1e-4, 1e-3, 1e-2, 1e-1, 1.0, 10.0]
lr = [0.1, 0.3, 1.0, 3.0]

# mu x lr, Gauss-Newton output metric (the cross-entropy Hessian).
[[optimizers]]
name = "riemannian-gauss-newton"
title = "Riemannian SGD, Gauss-Newton output metric"
optimizer = "riemannian"
output_metric = "gauss-newton"
epochs = 4
[optimizers.grid]
mass = [0.03, 0.1, 0.3, 1.0, 3.0, 10.0]
lr = [0.3, 1.0, 3.0]

# batch size x lr at two masses, identity output metric.
[[optimizers]]
name = "riemannian-identity-batch"
title = "Riemannian SGD, identity output metric: batch size"
optimizer = "riemannian"
output_metric = "identity"
epochs = 2
heatmap = false
[optimizers.grid]
mass = [1e-3, 1e-1]
batch_size = [32, 64, 128, 256]
lr = [0.3, 1.0]

# batch size, Gauss-Newton output metric at its reproduction setting.
[[optimizers]]
name = "riemannian-gauss-newton-batch"
title = "Riemannian SGD, Gauss-Newton output metric: batch size"
optimizer = "riemannian"
output_metric = "gauss-newton"
mass = 1.0
lr = 1.0
epochs = 4
[optimizers.grid]
batch_size = [32, 64, 128, 256]

# network-scope damped Gauss-Newton (Levenberg-Marquardt), mu x lr.
[[optimizers]]
name = "gauss-newton"
title = "Damped Gauss-Newton, network scope"
optimizer = "gauss-newton"
epochs = 4
[optimizers.grid]
mass = [0.3, 1.0, 3.0]
lr = [0.5, 1.0]

# the baselines: lr x batch size.
[[optimizers]]
name = "adam"
title = "Adam"
optimizer = "adam"
epochs = 4
[optimizers.grid]
lr = [3e-4, 1e-3, 3e-3, 1e-2]
batch_size = [32, 64, 128, 256]

[[optimizers]]
name = "sgd"
title = "SGD"
optimizer = "sgd"
epochs = 10
[optimizers.grid]
lr = [0.05, 0.1, 0.2, 0.5]
batch_size = [32, 64, 128, 256]
'''

PRESETS = {
    "sensitivity": Preset("mass, output metric, lr and batch size of Riemannian SGD beside "
                          "SGD, Adam and damped Gauss-Newton (mnist-5k, 285 runs: 95 points "
                          "x 3 seeds)", SENSITIVITY),
}
"""Preset name -> :class:`Preset` (a one-line summary and the spec's TOML text)."""
