"""Numba kernels of max-pooling (private; arrays in, arrays out).

Each has a plain-NumPy twin in :mod:`refimpl.modules._pool_reference` with the same
signature; the tests compare them. The NumPy forms need one strided pass per kernel offset
(four to nine passes over the data, plus a temporary each for the selection and the
scatter); these kernels make one pass, which is what the factor pass through a pooling layer
(``S·r`` rows of cotangents per batch) spends its time on. ``cache=True`` keeps the compiled
code beside this file.

- :func:`max_pool_forward`  ``y = max`` over each window and the flat index ``h·W + w`` of
  the selected input (the first maximum in the window's row-major order; padding is ``−∞``
  and never selected)
- :func:`max_pool_scatter`  ``out[n, j, c, arg[n, c, u, v]] += values[n, j, c, u, v]``: the
  adjoint of selecting, for ``j`` rows per sample at once
"""
from __future__ import annotations

import numba
import numpy as np


@numba.njit(cache=True, nogil=True)
def max_pool_forward(x, kh, kw, sh, sw, ph, pw, Ho, Wo):
    """``(y, arg)`` for ``x`` of shape ``(N, C, H, W)``: ``y`` ``(N, C, Ho, Wo)`` float,
    ``arg`` ``(N, C, Ho, Wo)`` int32 flat indices into the ``H × W`` plane."""
    N, C, H, W = x.shape
    y = np.empty((N, C, Ho, Wo), dtype=x.dtype)
    arg = np.empty((N, C, Ho, Wo), dtype=np.int32)
    for n in range(N):
        for c in range(C):
            plane = x[n, c]
            for u in range(Ho):
                h0 = u * sh - ph
                for v in range(Wo):
                    w0 = v * sw - pw
                    best = -np.inf
                    where = -1
                    for i in range(kh):
                        h = h0 + i
                        if h < 0 or h >= H:
                            continue
                        for j in range(kw):
                            w = w0 + j
                            if w < 0 or w >= W:
                                continue
                            val = plane[h, w]
                            if val > best or where < 0:     # strict: ties keep the first
                                best = val
                                where = h * W + w
                    y[n, c, u, v] = best
                    arg[n, c, u, v] = where
    return y, arg


@numba.njit(cache=True, nogil=True)
def max_pool_scatter(values, arg, H, W):
    """``out`` ``(N, R, C, H, W)`` with ``out[n, j, c].flat[arg[n, c, u, v]] +=
    values[n, j, c, u, v]`` for ``values`` ``(N, R, C, Ho, Wo)``, zero elsewhere."""
    N, R, C, Ho, Wo = values.shape
    out = np.zeros((N, R, C, H * W), dtype=values.dtype)
    for n in range(N):
        for j in range(R):
            for c in range(C):
                a = arg[n, c]
                src = values[n, j, c]
                dst = out[n, j, c]
                for u in range(Ho):
                    for v in range(Wo):
                        dst[a[u, v]] += src[u, v]
    return out.reshape((N, R, C, H, W))
