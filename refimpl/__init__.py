"""refimpl — NumPy reference implementation of "Riemannian Optimization in Modular Systems".

Float64 throughout. Arrays are batched with the sample axis first: inputs ``(S, d_in)``,
outputs ``(S, k)``, output factors ``(S, r, k)``. The empirical risk is the *mean* over the
batch; multipliers ``λ`` are per-sample cotangents ``∂ℓ_s/∂x``. See README.md for the map from
the paper's equations to the code.
"""
__version__ = "0.1.0"
