"""The exact layerwise Riemannian SGD step of a refimpl CNN, written with PyTorch (float64).

The network is rebuilt from the refimpl module (its children: ``Conv2d``, ``Pointwise``,
``MaxPool2d``/``AvgPool2d``, ``Flatten``, ``Linear``) as a function of one sample; then, as a
PyTorch user would write the paper's step (math §4, eq. 3′) for any architecture:

1. per-sample Jacobians of the logits with respect to every parameter,
   ``J = vmap(jacrev(f))`` (``(S, k, n_m)`` per module ``m``; ``torch.func``);
2. with the identity output metric (``F = I``, ``r = k``) and ``∇_y ℓ_s = p_s − e_{t_s}``:
   per module ``B̃ = S^{−½} [J_{m,s}]_s`` (``S·k × n_m``), ``K = I + B̃ B̃ᵀ/μ``, Cholesky,
   ``z = K⁻¹ c̃``, ``Δ_m = −(η/μ) B̃ᵀ z`` — the same push-through form refimpl computes.

``step(...)`` returns ``{parameter path: update}`` as float64 NumPy arrays.
"""
from __future__ import annotations

import numpy as np


def torch_forward(model):
    """``f(params, x)`` for one sample ``x`` (``(C, H, W)``), params ``{"0/W": …}``."""
    import torch
    import torch.nn.functional as F

    from refimpl.modules import AvgPool2d, Conv2d, Flatten, Linear, MaxPool2d, Pointwise

    act = {"relu": torch.relu, "tanh": torch.tanh, "identity": lambda a: a}
    layers = []
    for key, m in model.children.items():
        if isinstance(m, Conv2d):
            layers.append(lambda p, x, k=key, m=m: F.conv2d(
                x[None], p[f"{k}/W"], p.get(f"{k}/b"), stride=m.stride, padding=m.padding)[0])
        elif isinstance(m, Linear):
            layers.append(lambda p, x, k=key: F.linear(x, p[f"{k}/W"], p.get(f"{k}/b")))
        elif isinstance(m, Pointwise):
            layers.append(lambda p, x, f=act[m.activation]: f(x))
        elif isinstance(m, MaxPool2d):
            layers.append(lambda p, x, m=m: F.max_pool2d(x[None], m.kernel, m.stride,
                                                         m.padding)[0])
        elif isinstance(m, AvgPool2d):
            layers.append(lambda p, x, m=m: F.avg_pool2d(x[None], m.kernel, m.stride,
                                                         m.padding)[0])
        elif isinstance(m, Flatten):
            layers.append(lambda p, x: x.reshape(-1))
        else:
            raise TypeError(f"no PyTorch version of {m!r}")

    def f(params, x):
        for layer in layers:
            x = layer(params, x)
        return x
    return f


def step(model, params_np: dict, X_np, labels_np, mu: float, lr: float) -> dict:
    """The update ``{path: Δ}`` (see the module docstring)."""
    import torch
    from torch.func import jacrev, vmap

    f = torch_forward(model)
    params = {k: torch.as_tensor(v) for k, v in params_np.items()}
    X = torch.as_tensor(X_np)
    S = X.shape[0]
    logits = vmap(f, in_dims=(None, 0))(params, X)
    k = logits.shape[1]
    c = torch.softmax(logits, 1) - torch.nn.functional.one_hot(
        torch.as_tensor(labels_np), k).double()
    J = vmap(jacrev(f), in_dims=(None, 0))(params, X)             # {path: (S, k, *shape)}
    out, c_tilde = {}, c.reshape(S * k, 1) / S ** 0.5
    modules = sorted({p.rsplit("/", 1)[0] for p in params}, key=lambda m: list(params).index(
        next(p for p in params if p.startswith(m + "/"))))
    for m in modules:
        names = [p for p in params if p.rsplit("/", 1)[0] == m]
        Bt = torch.cat([J[p].reshape(S, k, -1) for p in names], 2).reshape(S * k, -1) / S ** 0.5
        K = torch.eye(S * k, dtype=Bt.dtype) + (Bt @ Bt.T) / mu
        z = torch.cholesky_solve(c_tilde, torch.linalg.cholesky(K))
        delta = (-lr / mu) * (Bt.T @ z)[:, 0]
        start = 0
        for p in names:
            n = params[p].numel()
            out[p] = delta[start:start + n].reshape(params[p].shape).numpy()
            start += n
    return out
