"""Sliding windows over images: the index algebra shared by convolution and pooling (private).

An image batch is ``(N, C, H, W)`` (NCHW). A window operation with kernel ``(kh, kw)``, stride
``(sh, sw)`` and zero padding ``(ph, pw)`` on both sides of each axis visits the output
positions ``(y, x)``, ``0 ≤ y < H' = ⌊(H + 2ph − kh)/sh⌋ + 1`` (likewise ``W'``), and reads the
padded input at ``(sh·y + i, sw·x + j)`` for the kernel offsets ``0 ≤ i < kh``, ``0 ≤ j < kw``.

- :func:`shifted` is the strided view of the padded input seen by offset ``(i, j)`` at all
  output positions at once, ``(…, H', W')``; every window operation here is a loop over the
  ``kh·kw`` offsets of such vectorised views (never over samples or positions).
- :func:`im2col` gathers the patches, ``cols[c, i, j, n, y, x] = x_pad[n, c, sh·y + i,
  sw·x + j]``, a ``(C·kh·kw, N, H'·W')`` array: column ``(n, p)`` is the patch of sample ``n``
  at output position ``p``, flattened in the order ``(c, i, j)`` of a weight ``(C_out, C, kh,
  kw)`` reshaped to ``(C_out, C·kh·kw)``.
- :func:`scatter_add` is the adjoint of reading through :func:`shifted`: it adds an array of
  output shape into the offset's positions of a padded buffer (overlapping windows add up),
  and :func:`crop` removes the padding. Together they are the adjoint of :func:`im2col`
  (col2im).
"""
from __future__ import annotations

import numbers

import numpy as np


def pair(value, name: str, *, minimum: int = 1, who: str = "") -> tuple[int, int]:
    """An ``int`` or a pair of ints, each ``≥ minimum``, as ``(a, b)``."""
    where = f"{who}: " if who else ""
    if isinstance(value, (list, tuple)):
        items = tuple(value)
        if len(items) != 2:
            raise ValueError(f"{where}{name} must be an int or a pair of ints, got {value!r}")
    else:
        items = (value, value)
    for v in items:
        if isinstance(v, bool) or not isinstance(v, numbers.Integral) or v < minimum:
            raise ValueError(f"{where}{name} must be an int ≥ {minimum} or a pair of them, "
                             f"got {value!r}")
    return int(items[0]), int(items[1])


def output_size(size, kernel, stride, padding, who: str) -> tuple[int, int]:
    """``(H', W')`` of a window operation, or a ``ValueError`` if the kernel does not fit."""
    out = []
    for n, k, s, p, axis in zip(size, kernel, stride, padding, ("height", "width")):
        if n + 2 * p < k:
            raise ValueError(f"{who}: the kernel ({k}) is larger than the padded input {axis} "
                             f"({n} + 2·{p}); use a smaller kernel or more padding")
        out.append((n + 2 * p - k) // s + 1)
    return out[0], out[1]


def pad(x: np.ndarray, padding, value: float = 0.0) -> np.ndarray:
    """``x`` (``(…, H, W)``) padded by ``padding = (ph, pw)`` on both sides (no copy if 0)."""
    ph, pw = padding
    if ph == 0 and pw == 0:
        return x
    out = np.full(x.shape[:-2] + (x.shape[-2] + 2 * ph, x.shape[-1] + 2 * pw), value,
                  dtype=x.dtype)
    out[..., ph:ph + x.shape[-2], pw:pw + x.shape[-1]] = x
    return out


def shifted(xp: np.ndarray, i: int, j: int, stride, out_hw) -> np.ndarray:
    """The view ``xp[…, sh·y + i, sw·x + j]`` over all output positions, ``(…, H', W')``."""
    (sh, sw), (ho, wo) = stride, out_hw
    return xp[..., i:i + sh * (ho - 1) + 1:sh, j:j + sw * (wo - 1) + 1:sw]


def im2col(x: np.ndarray, kernel, stride, padding, out_hw) -> np.ndarray:
    """Patches of ``x`` (``(N, C, H, W)``) as ``(C·kh·kw, N, H'·W')`` (see the docstring)."""
    N, C = x.shape[:2]
    (kh, kw), (ho, wo) = kernel, out_hw
    xp = pad(x, padding)
    cols = np.empty((C, kh, kw, N, ho, wo), dtype=x.dtype)
    for i in range(kh):
        for j in range(kw):
            cols[:, i, j] = np.swapaxes(shifted(xp, i, j, stride, out_hw), 0, 1)
    return cols.reshape(C * kh * kw, N, ho * wo)


def padded_zeros(lead: tuple, size, padding, dtype=np.float64) -> np.ndarray:
    """A zero buffer ``lead + (H + 2ph, W + 2pw)`` for :func:`scatter_add`."""
    return np.zeros(lead + (size[0] + 2 * padding[0], size[1] + 2 * padding[1]), dtype=dtype)


def scatter_add(buf: np.ndarray, values: np.ndarray, i: int, j: int, stride, out_hw) -> None:
    """``buf[…, sh·y + i, sw·x + j] += values[…, y, x]`` in place: the adjoint of reading
    ``shifted(buf, i, j, …)``. One offset's positions never collide, so plain ``+=`` is exact."""
    view = shifted(buf, i, j, stride, out_hw)
    view += values


def crop(buf: np.ndarray, size, padding) -> np.ndarray:
    """The interior ``(…, H, W)`` of a padded buffer (a view); adjoint of :func:`pad`."""
    ph, pw = padding
    return buf[..., ph:ph + size[0], pw:pw + size[1]]


def col2im(cols: np.ndarray, channels: int, size, kernel, stride, padding,
           out_hw) -> np.ndarray:
    """Adjoint of :func:`im2col`: ``(C·kh·kw, N, H'·W')`` → ``(N, C, H, W)``, summing the
    entries of overlapping windows."""
    (kh, kw), (ho, wo) = kernel, out_hw
    N = cols.shape[1]
    c6 = cols.reshape(channels, kh, kw, N, ho, wo)
    buf = padded_zeros((channels, N), size, padding, cols.dtype)
    for i in range(kh):
        for j in range(kw):
            scatter_add(buf, c6[:, i, j], i, j, stride, out_hw)
    return np.ascontiguousarray(np.swapaxes(crop(buf, size, padding), 0, 1))
