"""The few framework functions :mod:`crosscheck.autodiff` needs, for PyTorch and for JAX.

Import these only after ``pytest.importorskip`` found the framework.
"""
from types import SimpleNamespace

import numpy as np


def torch_framework():
    import torch
    import torch.nn.functional as F
    from torch import func

    def asarray(a):
        return torch.as_tensor(np.asarray(a), dtype=torch.float64)

    act = {
        "identity": lambda x: x,
        "tanh": torch.tanh,
        "sigmoid": torch.sigmoid,
        "relu": torch.relu,
        "leaky_relu": lambda x: F.leaky_relu(x, 0.01),
        "softplus": lambda x: torch.logaddexp(x, torch.zeros_like(x)),   # no threshold cut
        "gelu": lambda x: F.gelu(x, approximate="none"),
        "sin": torch.sin,
    }
    return SimpleNamespace(
        name=f"torch {torch.__version__}", asarray=asarray, act=act,
        conv2d=lambda x, W, stride, padding: F.conv2d(x, W, stride=stride, padding=padding),
        max_pool2d=lambda x, k, s, p: F.max_pool2d(x, k, s, p),
        avg_pool2d=lambda x, k, s, p: F.avg_pool2d(x, k, s, p, count_include_pad=True),
        cat=lambda xs: torch.cat(list(xs), dim=-1),
        log_softmax=lambda y: torch.log_softmax(y, dim=-1),
        grad=func.grad, jacrev=func.jacrev, hessian=func.hessian, vmap=func.vmap,
        einsum=torch.einsum, solve=torch.linalg.solve, diag=torch.diag, jit=lambda f: f,
        to_numpy=lambda t: t.detach().cpu().numpy().astype(np.float64))


def jax_framework():
    import jax

    jax.config.update("jax_enable_x64", True)
    import jax.numpy as jnp
    from jax import lax

    def conv2d(x, W, stride, padding):
        return lax.conv_general_dilated(x, W, window_strides=stride,
                                        padding=[(p, p) for p in padding],
                                        dimension_numbers=("NCHW", "OIHW", "NCHW"),
                                        precision=lax.Precision.HIGHEST)

    def pool(x, init, op, k, s, p):
        return lax.reduce_window(x, init, op, (1, 1) + k, (1, 1) + s,
                                 ((0, 0), (0, 0)) + tuple((q, q) for q in p))

    def asarray(a):
        return jnp.asarray(np.asarray(a), dtype=jnp.float64)

    act = {
        "identity": lambda x: x,
        "tanh": jnp.tanh,
        "sigmoid": jax.nn.sigmoid,
        "relu": jax.nn.relu,
        "leaky_relu": lambda x: jax.nn.leaky_relu(x, 0.01),
        "softplus": jax.nn.softplus,
        "gelu": lambda x: jax.nn.gelu(x, approximate=False),
        "sin": jnp.sin,
    }
    return SimpleNamespace(
        name=f"jax {jax.__version__}", asarray=asarray, act=act, conv2d=conv2d,
        max_pool2d=lambda x, k, s, p: pool(x, -jnp.inf, lax.max, k, s, p),
        avg_pool2d=lambda x, k, s, p: pool(x, 0.0, lax.add, k, s, p) / (k[0] * k[1]),
        cat=lambda xs: jnp.concatenate(list(xs), axis=-1),
        log_softmax=lambda y: jax.nn.log_softmax(y, axis=-1),
        grad=jax.grad, jacrev=jax.jacrev, hessian=jax.hessian, vmap=jax.vmap,
        einsum=jnp.einsum, solve=jnp.linalg.solve, diag=jnp.diag, jit=jax.jit,
        to_numpy=lambda t: np.asarray(t, dtype=np.float64))
