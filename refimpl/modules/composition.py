"""Sequential and parallel composition of modules (SPEC §5, paper Definitions 3–4).

A composite is a module again. Its parameters, multipliers and metric blocks are trees keyed by
the children's names (``"0"``, ``"1"``, …), so each child's quantities stay where a reader looks
for them. One rule passes everything down the tree:

- **Sequential** ``F = F_L ∘ … ∘ F_1`` (needs ``Y_l = X_{l+1}``, checked at construction).
  Forward runs the children in order; every reverse quantity — the cotangent ``λ`` (SPEC §2,
  the chain rule ``λ_{l−1} = (∂f_l/∂x_{l−1})ᵀ λ_l``) and the metric factor ``R`` (Remark 4,
  ``R_{l−1} = R_l ∂f_l/∂x_{l−1}``) — runs them in reverse, and each child turns the ``λ`` or
  ``R`` at its own output into its parameter gradient or parameter block ``B_l = R_l ∂f_l/∂w_l``.
  Parameters ``W_1 × … × W_L``; the metric is block diagonal over the children.
- **Parallel** ``F_1 × … × F_K`` on ``X_1 × … × X_K``: every quantity splits by block
  (product metric on the outputs, so factors are pulled back block by block).
"""
from __future__ import annotations

from .. import spaces
from .base import Module


def _check_modules(modules, who):
    if not modules:
        raise ValueError(f"{who} needs at least one module")
    for i, m in enumerate(modules):
        if not isinstance(m, Module):
            raise TypeError(f"{who}: argument {i} must be a Module, got {type(m).__name__}")
    return {str(i): m for i, m in enumerate(modules)}


class Sequential(Module):
    """``Sequential(m1, m2, …)`` applies ``m1`` first; the output of each must match the next."""

    def __init__(self, *modules: Module):
        self.children = _check_modules(modules, "Sequential")
        mods = list(self.children.values())
        for i, (a, b) in enumerate(zip(mods, mods[1:])):
            if a.out_space != b.in_space:
                raise ValueError(
                    f"Sequential: module {i} ({a!r}) outputs {spaces.describe(a.out_space)} "
                    f"but module {i + 1} ({b!r}) expects {spaces.describe(b.in_space)}; "
                    "insert a module that maps between them or fix the dimensions")
        self.in_space, self.out_space = mods[0].in_space, mods[-1].out_space

    def param_shapes(self):
        return {k: m.param_shapes() for k, m in self.children.items()}

    def _init(self, rng):
        return {k: m._init(rng) for k, m in self.children.items()}

    def _forward(self, params, x):
        caches = []
        for k, m in self.children.items():
            x, c = m._forward(params[k], x)
            caches.append(c)
        return x, caches

    def _jvp(self, params, caches, dx, dparams):
        for (k, m), c in zip(self.children.items(), caches):
            dx = m._jvp(params[k], c, dx, None if dparams is None else dparams[k])
        return dx

    def _reverse(self, caches):
        return reversed(list(zip(self.children.items(), caches)))

    def _vjp_input(self, params, caches, ybar):
        for (k, m), c in self._reverse(caches):
            ybar = m._vjp_input(params[k], c, ybar)
        return ybar

    def _pullback_input(self, params, caches, R):
        for (k, m), c in self._reverse(caches):
            R = m._pullback_input(params[k], c, R)
        return R

    def _backward(self, params, caches, lam, need_input=True):
        grads, mults, first = {}, {}, next(iter(self.children))
        for (k, m), c in self._reverse(caches):
            lam, grads[k], mults[k] = m._backward(params[k], c, lam, need_input or k != first)
        return lam, _ordered(grads, self.children), _ordered(mults, self.children)

    def _vjp_params(self, params, caches, ybar):
        return self._backward(params, caches, ybar, need_input=False)[1]

    def _factor_pass(self, params, caches, R, need_input=True):
        blocks, first = {}, next(iter(self.children))
        for (k, m), c in self._reverse(caches):
            R, blocks[k] = m._factor_pass(params[k], c, R, need_input or k != first)
        return R, _ordered(blocks, self.children)

    def _param_blocks(self, params, caches, R):
        return self._factor_pass(params, caches, R, need_input=False)[1]

    def __repr__(self):
        return "Sequential(" + ", ".join(repr(m) for m in self.children.values()) + ")"


class Parallel(Module):
    """``Parallel(m1, …, mK)`` maps ``(x_1, …, x_K) ↦ (m1(x_1), …, mK(x_K))``."""

    def __init__(self, *modules: Module):
        self.children = _check_modules(modules, "Parallel")
        self.in_space = tuple(m.in_space for m in self.children.values())
        self.out_space = tuple(m.out_space for m in self.children.values())

    def param_shapes(self):
        return {k: m.param_shapes() for k, m in self.children.items()}

    def _init(self, rng):
        return {k: m._init(rng) for k, m in self.children.items()}

    def _items(self):
        return enumerate(self.children.items())

    def _forward(self, params, x):
        outs = [m._forward(params[k], x[i]) for i, (k, m) in self._items()]
        return tuple(o for o, _ in outs), tuple(c for _, c in outs)

    def _jvp(self, params, caches, dx, dparams):
        return tuple(m._jvp(params[k], caches[i], None if dx is None else dx[i],
                            None if dparams is None else dparams[k])
                     for i, (k, m) in self._items())

    def _vjp_input(self, params, caches, ybar):
        return tuple(m._vjp_input(params[k], caches[i], ybar[i]) for i, (k, m) in self._items())

    def _pullback_input(self, params, caches, R):
        return tuple(m._pullback_input(params[k], caches[i], R[i])
                     for i, (k, m) in self._items())

    def _backward(self, params, caches, lam, need_input=True):
        res = {k: m._backward(params[k], caches[i], lam[i], need_input)
               for i, (k, m) in self._items()}
        return (tuple(r[0] for r in res.values()) if need_input else None,
                {k: r[1] for k, r in res.items()}, {k: r[2] for k, r in res.items()})

    def _vjp_params(self, params, caches, ybar):
        return self._backward(params, caches, ybar, need_input=False)[1]

    def _factor_pass(self, params, caches, R, need_input=True):
        res = {k: m._factor_pass(params[k], caches[i], R[i], need_input)
               for i, (k, m) in self._items()}
        R_in = tuple(r[0] for r in res.values()) if need_input else None
        return R_in, {k: r[1] for k, r in res.items()}

    def _param_blocks(self, params, caches, R):
        return self._factor_pass(params, caches, R, need_input=False)[1]

    def __repr__(self):
        return "Parallel(" + ", ".join(repr(m) for m in self.children.values()) + ")"


def _ordered(d, children):
    return {k: d[k] for k in children}
