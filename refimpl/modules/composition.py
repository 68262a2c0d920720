"""Sequential and parallel composition of modules (:ref:`math §5 <math-5>`, paper Definitions 3–4).

A composite is a module again. Its parameters, multipliers and metric blocks are trees keyed by
the children's names (``"0"``, ``"1"``, …), so each child's quantities stay where a reader looks
for them. One rule passes everything down the tree:

- **Sequential** ``F = F_L ∘ … ∘ F_1`` (needs ``Y_l = X_{l+1}``, checked at construction).
  Forward runs the children in order; every reverse quantity — the cotangent ``λ`` (:ref:`math §2 <math-2>`,
  the chain rule ``λ_{l−1} = (∂f_l/∂x_{l−1})ᵀ λ_l``) and the metric factor ``R`` (Remark 4,
  ``R_{l−1} = R_l ∂f_l/∂x_{l−1}``) — runs them in reverse, and each child turns the ``λ`` or
  ``R`` at its own output into its parameter gradient or parameter block ``B_l = R_l ∂f_l/∂w_l``.
  Parameters ``W_1 × … × W_L``; the metric is block diagonal over the children.
- **Parallel** ``F_1 × … × F_K`` on ``X_1 × … × X_K``: every quantity splits by block
  (product metric on the outputs, so factors are pulled back block by block).

Each combinator states that rule once, in ``_reverse``; the four reverse quantities are that
rule applied with one per-child step each (``_RULES`` below): the input cotangent
(``vjp_input``), the input factor (``pullback_input``), the multipliers with the parameter
gradients (``backward``), and the input factor with the parameter blocks (``factor_pass``).
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


# The per-child steps of the reverse rule: (child, its params, its cache, the quantity at its
# output, whether its input's is needed) ↦ (the quantity at its input, the child's own part).
def _vjp_input_step(m, p, c, ybar, need):
    return m._vjp_input(p, c, ybar), None


def _pullback_step(m, p, c, R, need):
    return m._pullback_input(p, c, R), None


def _backward_step(m, p, c, lam, need):
    lam_in, grads, mults = m._backward(p, c, lam, need)
    return lam_in, (grads, mults)


def _factor_step(m, p, c, R, need):
    return m._factor_pass(p, c, R, need)


class Composite(Module):
    """A module made of child modules (``children``, keyed ``"0"``, ``"1"``, …): its
    parameters, multipliers and blocks are trees keyed like its children. Subclasses give
    ``_forward``, ``_jvp`` and the one reverse rule ``_reverse``."""

    children: dict

    def param_shapes(self):
        return {k: m.param_shapes() for k, m in self.children.items()}

    def _init(self, rng):
        return {k: m._init(rng) for k, m in self.children.items()}

    def _reverse(self, params, caches, seed, step, need_input):
        """Run ``step`` over the children in the combinator's reverse order:
        ``(quantity at the composite's input or None, {child: its part})``."""
        raise NotImplementedError

    def _vjp_input(self, params, caches, ybar):
        return self._reverse(params, caches, ybar, _vjp_input_step, True)[0]

    def _pullback_input(self, params, caches, R):
        return self._reverse(params, caches, R, _pullback_step, True)[0]

    def _backward(self, params, caches, lam, need_input=True):
        lam_in, parts = self._reverse(params, caches, lam, _backward_step, need_input)
        return (lam_in, {k: g for k, (g, _) in parts.items()},
                {k: mm for k, (_, mm) in parts.items()})

    def _factor_pass(self, params, caches, R, need_input=True):
        return self._reverse(params, caches, R, _factor_step, need_input)

    def _vjp_params(self, params, caches, ybar):
        return self._backward(params, caches, ybar, need_input=False)[1]

    def _param_blocks(self, params, caches, R):
        return self._factor_pass(params, caches, R, need_input=False)[1]

    def __repr__(self):
        return f"{type(self).__name__}(" + ", ".join(repr(m) for m in self.children.values()) + ")"


class Sequential(Composite):
    """``Sequential(m1, m2, …)`` applies ``m1`` first; the output of each must match the next."""

    def __init__(self, *modules: Module):
        self.children = _check_modules(modules, "Sequential")
        mods = list(self.children.values())
        for i, (a, b) in enumerate(zip(mods, mods[1:])):
            if a.out_space != b.in_space:
                hint = ("insert a module that maps between them or fix the dimensions"
                        if not isinstance(a.out_space, spaces.Shape) or b.in_space !=
                        spaces.dim(a.out_space) else
                        f"insert Flatten({a.out_space.shape}) between them")
                raise ValueError(
                    f"Sequential: module {i} ({a!r}) outputs {spaces.describe(a.out_space)} "
                    f"but module {i + 1} ({b!r}) expects {spaces.describe(b.in_space)}; "
                    + hint)
        self.in_space, self.out_space = mods[0].in_space, mods[-1].out_space

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

    def _reverse(self, params, caches, seed, step, need_input):
        # the chain rule: last child first; the first child's input is the composite's
        parts, first = {}, next(iter(self.children))
        for (k, m), c in reversed(list(zip(self.children.items(), caches))):
            seed, parts[k] = step(m, params[k], c, seed, need_input or k != first)
        return seed, {k: parts[k] for k in self.children}


class Parallel(Composite):
    """``Parallel(m1, …, mK)`` maps ``(x_1, …, x_K) ↦ (m1(x_1), …, mK(x_K))``."""

    def __init__(self, *modules: Module):
        self.children = _check_modules(modules, "Parallel")
        self.in_space = tuple(m.in_space for m in self.children.values())
        self.out_space = tuple(m.out_space for m in self.children.values())

    def _items(self):
        return enumerate(self.children.items())

    def _forward(self, params, x):
        outs = [m._forward(params[k], x[i]) for i, (k, m) in self._items()]
        return tuple(o for o, _ in outs), tuple(c for _, c in outs)

    def _jvp(self, params, caches, dx, dparams):
        return tuple(m._jvp(params[k], caches[i], None if dx is None else dx[i],
                            None if dparams is None else dparams[k])
                     for i, (k, m) in self._items())

    def _reverse(self, params, caches, seed, step, need_input):
        # the product rule: every branch on its own block of the output and of the input
        done = {k: step(m, params[k], caches[i], seed[i], need_input)
                for i, (k, m) in self._items()}
        return (tuple(x for x, _ in done.values()) if need_input else None,
                {k: part for k, (_, part) in done.items()})
