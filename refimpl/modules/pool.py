"""2-D max and average pooling over windows of images (NCHW), channel by channel.

Per sample and channel ``c``, with kernel ``(kh, kw)``, stride ``(sh, sw)`` (default: the
kernel) and padding ``(ph, pw)`` on both sides, output position ``(u, v)`` reads the window
``x_pad[c, sh·u + i, sw·v + j]``, ``0 ≤ i < kh``, ``0 ≤ j < kw``
(:mod:`refimpl.modules._patches`), the same windows as ``torch.nn.functional.max_pool2d`` /
``avg_pool2d``:

- :class:`MaxPool2d` ``y = max`` over the window; padding is ``−∞`` (never selected).
  Jacobian: ``∂y[c,u,v]/∂x[c,h,w] = 1`` at the selected input, 0 elsewhere; VJP and factor
  pull-back route each output's cotangent to its selected input (overlapping windows add).
  **Ties** (several equal maxima in a window): the *first* maximum in the window's row-major
  order ``(i, j)`` is selected — PyTorch's rule on CPU. The map is not differentiable there;
  this picks one element of its Clarke subdifferential, as every framework does.
- :class:`AvgPool2d` ``y = (1/(kh·kw)) Σ`` over the window; padding counts as zeros in the
  mean (PyTorch's default ``count_include_pad=True``). Linear; its adjoint spreads
  ``ȳ/(kh·kw)`` over each window.

No parameters. Max-pooling selects and routes in one pass each (Numba kernels with NumPy
twins, :mod:`refimpl.modules._pool_kernels`); average pooling is a loop over the ``kh·kw``
kernel offsets of vectorised strided views.
"""
from __future__ import annotations

import numpy as np

from ..spaces import Shape, describe
from . import _patches, _pool_kernels
from .base import Module


class _Pool2d(Module):
    """Shared construction and bookkeeping of the two pools."""

    who = "Pool2d"

    def __init__(self, kernel_size, stride=None, padding=0, *, channels: int, input_size):
        who = self.who
        if isinstance(channels, bool) or not isinstance(channels, (int, np.integer)) \
                or channels <= 0:
            raise ValueError(f"{who}: channels must be a positive int, got {channels!r}")
        self.kernel = _patches.pair(kernel_size, "kernel_size", who=who)
        self.stride = self.kernel if stride is None else _patches.pair(stride, "stride",
                                                                         who=who)
        self.padding = _patches.pair(padding, "padding", minimum=0, who=who)
        if any(p > k // 2 for p, k in zip(self.padding, self.kernel)):
            raise ValueError(f"{who}: padding {self.padding} must be at most half the kernel "
                             f"{self.kernel} (so that every window holds an input pixel)")
        self.size = _patches.pair(input_size, "input_size", who=who)
        self.out_size = _patches.output_size(self.size, self.kernel, self.stride,
                                             self.padding, who)
        self.channels = int(channels)
        self.in_space = Shape(self.channels, *self.size)
        self.out_space = Shape(self.channels, *self.out_size)

    def _offsets(self):
        kh, kw = self.kernel
        return [(i, j) for i in range(kh) for j in range(kw)]       # row-major window order

    def _view(self, xp, i, j):
        return _patches.shifted(xp, i, j, self.stride, self.out_size)

    def _spread(self, values, weight):
        """``Σ_k scatter(values · weight(k))`` over the offsets ``k``: the adjoint of reading
        the windows, for ``values`` of shape ``lead + (C, H', W')``."""
        buf = _patches.padded_zeros(values.shape[:-2], self.size, self.padding)
        for k, (i, j) in enumerate(self._offsets()):
            _patches.scatter_add(buf, weight(k, values), i, j, self.stride, self.out_size)
        return np.ascontiguousarray(_patches.crop(buf, self.size, self.padding))

    def _pullback_input(self, params, cache, R):
        return self._vjp_lead(cache, R, 2)

    def _vjp_input(self, params, cache, ybar):
        return self._vjp_lead(cache, ybar, 1)

    def __repr__(self):
        return (f"{type(self).__name__}(kernel {self.kernel}, stride {self.stride}"
                + (f", padding {self.padding}" if any(self.padding) else "")
                + f"; {describe(self.in_space)} → {describe(self.out_space)})")


class MaxPool2d(_Pool2d):
    """Max pooling ``R^{C×H×W} → R^{C×H'×W'}``; ties go to the first maximum (row-major).

    Parameters
    ----------
    kernel_size : int or (int, int)
    stride : int or (int, int), optional
        Default: the kernel size.
    padding : int or (int, int), default 0
        ``−∞`` padding on both sides, at most half the kernel.
    channels : int
    input_size : (int, int)

    Examples
    --------
    >>> import numpy as np
    >>> from refimpl.modules import MaxPool2d
    >>> pool = MaxPool2d(2, channels=1, input_size=(2, 4))
    >>> pool({}, np.array([[[[1., 3., 5., 5.], [3., 2., 0., 5.]]]]))
    array([[[[3., 5.]]]])
    """

    who = "MaxPool2d"

    def _forward(self, params, x):
        (kh, kw), (sh, sw), (ph, pw) = self.kernel, self.stride, self.padding
        y, arg = _pool_kernels.max_pool_forward(x, kh, kw, sh, sw, ph, pw, *self.out_size)
        return y, arg                 # cache: the flat index h·W + w of each selected input

    def _jvp(self, params, arg, dx, dparams):
        if dx is None:
            return np.zeros(arg.shape)
        N, C = arg.shape[:2]
        return np.take_along_axis(dx.reshape(N, C, -1), arg.reshape(N, C, -1),
                                  axis=2).reshape(arg.shape)

    def _vjp_lead(self, arg, values, lead):
        v = np.ascontiguousarray(values if lead == 2 else values[:, None])
        out = _pool_kernels.max_pool_scatter(v, arg, *self.size)
        return out if lead == 2 else out[:, 0]

    def _jacobian(self, params, x):
        # from the definition: np.argmax over each window's row-major ravel (first maximum)
        S, C = x.shape[:2]
        (kh, kw), (sh, sw), (ph, pw) = self.kernel, self.stride, self.padding
        (H, W), (Ho, Wo) = self.size, self.out_size
        xp = _patches.pad(x, self.padding, -np.inf)
        J = np.zeros((S, C, Ho, Wo, C, H, W))
        for s in range(S):
            for c in range(C):
                for u in range(Ho):
                    for v in range(Wo):
                        k = int(np.argmax(xp[s, c, sh * u:sh * u + kh, sw * v:sw * v + kw]))
                        J[s, c, u, v, c, sh * u + k // kw - ph, sw * v + k % kw - pw] = 1.0
        return J.reshape(S, C * Ho * Wo, C * H * W), np.zeros((S, C * Ho * Wo, 0))


class AvgPool2d(_Pool2d):
    """Average pooling ``R^{C×H×W} → R^{C×H'×W'}`` (padding counted as zeros in the mean).

    Parameters
    ----------
    kernel_size : int or (int, int)
    stride : int or (int, int), optional
        Default: the kernel size.
    padding : int or (int, int), default 0
        Zero padding on both sides, at most half the kernel.
    channels : int
    input_size : (int, int)
    """

    who = "AvgPool2d"

    def _mean(self, x):
        xp = _patches.pad(x, self.padding)
        out = np.zeros(x.shape[:-2] + self.out_size)
        for i, j in self._offsets():
            out += self._view(xp, i, j)
        out *= 1.0 / (self.kernel[0] * self.kernel[1])
        return out

    def _forward(self, params, x):
        return self._mean(x), x.shape[0]

    def _jvp(self, params, S, dx, dparams):
        return self._mean(dx) if dx is not None else np.zeros((S,) + self.out_space.shape)

    def _vjp_lead(self, S, values, lead):
        w = 1.0 / (self.kernel[0] * self.kernel[1])
        return self._spread(values, lambda k, v: v * w)

    def _jacobian(self, params, x):
        S, C = x.shape[:2]
        (kh, kw), (sh, sw), (ph, pw) = self.kernel, self.stride, self.padding
        (H, W), (Ho, Wo) = self.size, self.out_size
        J = np.zeros((C, Ho, Wo, C, H, W))
        for c in range(C):
            for u in range(Ho):
                for v in range(Wo):
                    for i in range(kh):
                        for j in range(kw):
                            h, w = sh * u + i - ph, sw * v + j - pw
                            if 0 <= h < H and 0 <= w < W:
                                J[c, u, v, c, h, w] = 1.0 / (kh * kw)
        n_out, n_in = C * Ho * Wo, C * H * W
        return (np.broadcast_to(J.reshape(n_out, n_in), (S, n_out, n_in)).copy(),
                np.zeros((S, n_out, 0)))
