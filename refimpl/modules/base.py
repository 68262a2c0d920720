"""The Riemannian module contract (:ref:`math §5 <math-5>`, paper §3.2, Definition 2).

A module is a smooth map ``F: X × W → Y`` between spaces known at construction
(:mod:`refimpl.spaces`). It holds no state: parameters are a tree of arrays passed in
(:mod:`refimpl.tree`), created by :meth:`Module.init` from an explicit
``numpy.random.Generator``, and everything a derivative needs is returned by
:meth:`Module.forward` as an opaque ``cache``.

Everything is batched over ``S`` samples, float64:

===============================  =========================  ===================================
method                           maps                       math (per sample ``s``)
===============================  =========================  ===================================
``forward(params, x)``           ``(S, in) → (S, out)``     ``y_s = F(x_s; w)``, plus ``cache``
``jvp(params, cache, dx, dw)``     → ``(S, out)``           ``∂F/∂x dx_s + ∂F/∂w dw``
``vjp_input(p, c, ȳ)``           ``(S, out) → (S, in)``     ``x̄_s = (∂F/∂x)ᵀ ȳ_s``
``vjp_params(p, c, ȳ)``          ``(S, out) → tree``        ``w̄ = Σ_s (∂F/∂w)ᵀ ȳ_s`` (sum!)
``pullback_input(p, c, R)``      ``(S,r,out) → (S,r,in)``   ``R_s ↦ R_s ∂F/∂x`` (Remark 4)
``param_blocks(p, c, R)``        ``(S,r,out) → blocks``     ``B_s = R_s ∂F/∂w`` (:ref:`math §4 <math-4>`)
``jacobian(params, x)``          dense, for tests           ``(S, out, in)``, ``(S, out, n_w)``
===============================  =========================  ===================================

``vjp_params`` *sums* over the batch; the empirical risk's mean is taken by the caller.
``param_blocks`` returns, for every module that owns parameters, a block object
(:mod:`refimpl.modules.blocks`) from which the layer metric ``G_l = M_l + B̃ᵀB̃`` is applied
without forming ``n_l × n_l`` matrices; :meth:`pullback_params` materialises it.

Public methods validate their arguments and call the private ``_``-methods, which compute.
Subclasses implement ``_forward``, ``_pullback_input``, ``_vjp_params``, ``_jvp`` and
``_param_blocks`` (and ``_init``/``param_shapes`` when they own parameters); composites pass
these down their children (:mod:`refimpl.modules.composition`).
"""
from __future__ import annotations

import numpy as np

from .. import spaces, tree
from .._validation import as_float_array


class Module:
    """Base class of all modules. See the module docstring for the contract."""

    #: input and output spaces (``int`` or tuple of spaces), fixed at construction
    in_space: spaces.Space
    out_space: spaces.Space

    # -- parameters -------------------------------------------------------------------------
    def param_shapes(self) -> dict:
        """Tree of parameter shapes (``{}`` for a module without parameters)."""
        return {}

    def init(self, rng: np.random.Generator) -> dict:
        """Create parameters from an explicit generator (no global random state)."""
        if not isinstance(rng, np.random.Generator):
            raise TypeError("init needs a numpy.random.Generator, e.g. "
                            f"numpy.random.default_rng(0); got {type(rng).__name__}")
        return self._init(rng)

    def _init(self, rng: np.random.Generator) -> dict:
        return {}

    @property
    def n_params(self) -> int:
        return int(sum(int(np.prod(s)) for _, s in tree.items(self.param_shapes())))

    def check_params(self, params) -> dict:
        """Validate a parameter tree against :meth:`param_shapes` (float64, finite)."""
        return _check_param_tree(params, self.param_shapes(), "params")

    # -- public, validated API --------------------------------------------------------------
    def __call__(self, params, x):
        """The module's output ``F(x; w)`` (no cache)."""
        return self.forward(params, x)[0]

    def forward(self, params, x):
        """Output ``y = F(x; w)`` of shape ``(S, out)`` and the ``cache`` derivatives need."""
        params = self.check_params(params)
        x = spaces.check_point(x, self.in_space, "x")
        return self._forward(params, x)

    def jvp(self, params, cache, dx=None, dparams=None):
        """Jacobian-vector product ``∂F/∂x dx + ∂F/∂w dw``, shape ``(S, out)``.

        ``dx`` (``(S, in)``) or ``dparams`` (a tree like ``params``) may be ``None`` (zero).
        """
        params = self.check_params(params)
        if dx is not None:
            dx = spaces.check_point(dx, self.in_space, "dx")
        if dparams is not None:
            dparams = _check_param_tree(dparams, self.param_shapes(), "dparams")
        return self._jvp(params, cache, dx, dparams)

    def vjp_input(self, params, cache, ybar):
        """Vector-Jacobian product w.r.t. the input: ``x̄_s = (∂F/∂x)ᵀ ȳ_s``, ``(S, in)``."""
        ybar = spaces.check_point(ybar, self.out_space, "ybar")
        return self._vjp_input(self.check_params(params), cache, ybar)

    def vjp_params(self, params, cache, ybar):
        """Vector-Jacobian product w.r.t. the parameters, *summed* over the batch."""
        ybar = spaces.check_point(ybar, self.out_space, "ybar")
        return self._vjp_params(self.check_params(params), cache, ybar)

    def pullback_input(self, params, cache, R):
        """Pull an output factor back to the input: ``R_s ↦ R_s ∂F/∂x``, ``(S, r, in)``.

        With ``g = Rᵀ R`` on the output, the pulled-back metric on the input is
        ``(R ∂F/∂x)ᵀ (R ∂F/∂x)`` (:ref:`math §4 <math-4>`, Remark 4).
        """
        R = spaces.check_point(R, self.out_space, "R", lead=2)
        return self._pullback_input(self.check_params(params), cache, R)

    def param_blocks(self, params, cache, R):
        """Per-sample parameter blocks ``B_s = R_s ∂F/∂w`` as block objects (:ref:`math §4 <math-4>`)."""
        R = spaces.check_point(R, self.out_space, "R", lead=2)
        return self._param_blocks(self.check_params(params), cache, R)

    def pullback_params(self, params, cache, R) -> dict:
        """``B_s = R_s ∂F/∂w`` materialised: a tree of arrays ``(S, r, *param_shape)``."""
        blocks = self.param_blocks(params, cache, R)
        return _map_blocks(lambda b: b.materialize_tree(), blocks)

    def backward(self, params, cache, ybar):
        """Reverse pass: ``(x̄, w̄ summed over the batch, multipliers)``.

        The multipliers are the cotangents ``λ`` at the output of every atomic module, in a
        tree mirroring the module structure (:ref:`math §2 <math-2>`).
        """
        ybar = spaces.check_point(ybar, self.out_space, "ybar")
        return self._backward(self.check_params(params), cache, ybar)

    def factor_pass(self, params, cache, R, need_input: bool = True):
        """Remark 4's backward pass of ``r`` rows per sample: ``(R_in, blocks)``.

        ``need_input=False`` skips the last pull-back to the input (``R_in`` is ``None``),
        which a network's metric never uses.
        """
        R = spaces.check_point(R, self.out_space, "R", lead=2)
        return self._factor_pass(self.check_params(params), cache, R, need_input)

    def jacobian(self, params, x):
        """Dense per-sample Jacobians ``(J_x, J_w)``: ``(S, out, in)`` and ``(S, out, n_w)``.

        Input and output of product spaces are flattened (:func:`refimpl.spaces.flatten`), the
        parameters in the tree's canonical order. Built from :meth:`jvp` one basis vector at a
        time unless a module supplies its hand-derived Jacobian; for tests and small cases.
        """
        params = self.check_params(params)
        x = spaces.check_point(x, self.in_space, "x")
        return self._jacobian(params, x)

    # -- derived private implementations -----------------------------------------------------
    def _vjp_input(self, params, cache, ybar):
        R = spaces.map_point(lambda a: a[:, None, :], self.out_space, ybar)
        return spaces.map_point(lambda a: a[:, 0, :], self.in_space,
                                self._pullback_input(params, cache, R))

    def _backward(self, params, cache, ybar, need_input=True):
        # need_input=False: the input cotangent is not wanted (None), e.g. at the data
        return (self._vjp_input(params, cache, ybar) if need_input else None,
                self._vjp_params(params, cache, ybar), ybar)

    def _factor_pass(self, params, cache, R, need_input=True):
        R_in = self._pullback_input(params, cache, R) if need_input else None
        return R_in, self._param_blocks(params, cache, R)

    def _vjp_params(self, params, cache, ybar):
        if tree.size(params):
            raise NotImplementedError(
                f"{type(self).__name__} has parameters but does not implement _vjp_params: "
                "its gradient would be silently zero (see refimpl.modules.base)")
        return {}

    def _param_blocks(self, params, cache, R):
        if tree.size(params):
            raise NotImplementedError(
                f"{type(self).__name__} has parameters but does not implement _param_blocks: "
                "return a block (refimpl.modules.blocks; DenseBlock for an explicit B)")
        return {}

    def _jacobian(self, params, x):
        y, cache = self._forward(params, x)
        S = spaces.batch_size(x, self.in_space)
        n_in, n_out, n_w = spaces.dim(self.in_space), spaces.dim(self.out_space), self.n_params
        Jx = np.empty((S, n_out, n_in))
        for i in range(n_in):
            e = np.zeros((S, n_in))
            e[:, i] = 1.0
            dy = self._jvp(params, cache, spaces.unflatten(e, self.in_space), None)
            Jx[:, :, i] = spaces.flatten(dy, self.out_space)
        Jw = np.empty((S, n_out, n_w))
        for i in range(n_w):
            e = np.zeros(n_w)
            e[i] = 1.0
            dy = self._jvp(params, cache, None, tree.unflatten(params, e))
            Jw[:, :, i] = spaces.flatten(dy, self.out_space)
        return Jx, Jw

    def __repr__(self) -> str:
        return (f"{type(self).__name__}({spaces.describe(self.in_space)} → "
                f"{spaces.describe(self.out_space)})")


# -- helpers ---------------------------------------------------------------------------------
def check_network(model) -> "Module":
    """A module whose output is one array ``R^k`` (what a loss and the output metric need)."""
    if not isinstance(model, Module):
        raise TypeError(f"model must be a refimpl Module, got {type(model).__name__}")
    if not isinstance(model.out_space, int):
        raise ValueError("the model's output must be a single array R^k, got the product space "
                         f"{spaces.describe(model.out_space)}")
    return model



def _check_param_tree(params, shapes, name):
    if not isinstance(params, dict):
        raise TypeError(f"{name} must be a dict (parameter tree) with keys {list(shapes)}, "
                        f"got {type(params).__name__}")
    if list(params) != list(shapes):
        if set(params) == set(shapes):  # same keys, other order: reorder canonically
            params = {k: params[k] for k in shapes}
        else:
            raise ValueError(f"{name} must have keys {list(shapes)}, got {list(params)}")
    out = {}
    for key, shape in shapes.items():
        if isinstance(shape, dict):
            out[key] = _check_param_tree(params[key], shape, f"{name}[{key!r}]")
        else:
            value = params[key]
            if isinstance(value, np.ndarray) and value.dtype == np.float64 \
                    and value.shape == tuple(shape):
                if not np.all(np.isfinite(value)):
                    raise ValueError(f"{name}[{key!r}] must be finite")
                out[key] = value
            else:
                out[key] = as_float_array(value, f"{name}[{key!r}]", shape=tuple(shape))
    return out


def _map_blocks(fn, blocks):
    if isinstance(blocks, dict):
        return {k: _map_blocks(fn, v) for k, v in blocks.items()}
    return fn(blocks)


def block_items(blocks, prefix=""):
    """``(path, block)`` for every module that owns parameters, in canonical order."""
    if not isinstance(blocks, dict):  # a single module with parameters
        yield prefix.rstrip("/"), blocks
        return
    for key, value in blocks.items():
        if isinstance(value, dict):
            yield from block_items(value, f"{prefix}{key}/")
        else:
            yield f"{prefix}{key}", value
