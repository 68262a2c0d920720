"""Plain-NumPy twins of the kernels in :mod:`refimpl.modules._pool_kernels` (same signatures,
same results); the tests compare kernel and twin."""
from __future__ import annotations

import numpy as np

from . import _patches


def max_pool_forward(x, kh, kw, sh, sw, ph, pw, Ho, Wo):
    N, C, H, W = x.shape
    xp = _patches.pad(x, (ph, pw), -np.inf)
    flat = _patches.pad(np.arange(H * W).reshape(H, W), (ph, pw), -1)
    y = np.full((N, C, Ho, Wo), -np.inf)
    arg = np.full((N, C, Ho, Wo), -1, dtype=np.int32)
    for i in range(kh):                              # row-major window order
        for j in range(kw):
            val = _patches.shifted(xp, i, j, (sh, sw), (Ho, Wo))
            idx = np.broadcast_to(_patches.shifted(flat, i, j, (sh, sw), (Ho, Wo)), y.shape)
            better = (val > y) & (idx >= 0)          # strict: an equal later value loses
            y[better], arg[better] = val[better], idx[better]
    return y, arg


def max_pool_scatter(values, arg, H, W):
    N, R, C, Ho, Wo = values.shape
    out = np.zeros((N, R, C, H * W))
    n, j, c, u, v = np.indices(values.shape)
    np.add.at(out, (n, j, c, arg[n, c, u, v]), values)
    return out.reshape(N, R, C, H, W)
