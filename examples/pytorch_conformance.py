"""
Another framework checked against refimpl (PyTorch)
====================================================

A PyTorch Riemannian SGD step (:ref:`math §4 <math-4>`, eq. (2)–(3′)), checked against
refimpl's golden vectors. Run: ``python examples/pytorch_conformance.py [--form woodbury|dense|both] [--golden DIR]``.

This is what another backend's test suite does: implement the quantities in its own framework
(here PyTorch, float64, MLPs given as ``[(W, b), …]``), then hand one function per quantity to
:mod:`refimpl.oracle.testing`, which loads every golden case (checking its SHA-256), calls the
function and compares with the reference, reporting the worst entry of any failing case. The
per-layer metric is ``G_l = M_l + (1/S) Σ_s J_{l,s}ᵀ g_out(y_s) J_{l,s}`` with the Jacobians
``J_{l,s} = ∂y_s/∂w_l`` from ``torch.func.jacrev``, applied either

- ``dense``: build ``G_l`` and solve (``O(n_l³)``); or
- ``woodbury``: with ``g_out = F Fᵀ``, ``B̃ = S^{-1/2} [F_sᵀ J_{l,s}]_s`` and
  ``K = I + B̃ M⁻¹ B̃ᵀ``, the push-through form ``G⁻¹ B̃ᵀ c̃ = M⁻¹ B̃ᵀ K⁻¹ c̃`` (eq. 3′) where
  ``∇_y ℓ_s = F_s c_s``, so ``∇R = B̃ᵀ c̃`` — no ``n_l × n_l`` matrix and no cancellation.

``scope="network"`` uses one metric over all parameters (damped Gauss–Newton). Composite
networks (the golden set's ``residual`` and ``two_branch`` cases) are skipped here with
``select={"kind": "mlp"}``; ``tests/crosscheck/interpreter.py`` shows how to run the JSON
architecture of those cases in PyTorch.
"""
import argparse
import sys

try:
    import torch
    from torch.func import grad, jacrev
except ImportError:                                          # pragma: no cover - needs no torch
    torch = None

from refimpl.oracle.testing import (check_gradients, check_loss, check_multipliers,
                                    check_riemannian_step)

ACTIVATIONS = {
    "identity": lambda a: a, "tanh": lambda a: torch.tanh(a), "sin": lambda a: torch.sin(a),
    "sigmoid": lambda a: torch.sigmoid(a), "relu": lambda a: torch.relu(a),
    "leaky_relu": lambda a: torch.nn.functional.leaky_relu(a, 0.01),
    "softplus": lambda a: torch.logaddexp(a, torch.zeros_like(a)),
    "gelu": lambda a: torch.nn.functional.gelu(a),            # exact a·Φ(a)
}


# %%
# The quantities in PyTorch
# -------------------------
# Each function computes one quantity of a golden case in float64 PyTorch.

def tensors(case):
    """The case's MLP parameters, inputs and targets as float64 tensors."""
    params = [(torch.tensor(W), torch.tensor(b)) for W, b in case.mlp_params]
    t = torch.tensor(case.targets)
    return params, torch.tensor(case.X), t


def forward(params, X, activation, probes=None):
    """``y`` of ``Linear → σ → … → Linear``; ``probes[l]`` is added to layer ``l``'s ``z``."""
    a = X
    for l, (W, b) in enumerate(params):
        z = a @ W.T + b + (probes[l] if probes is not None else 0.0)
        a = ACTIVATIONS[activation](z) if l < len(params) - 1 else z
    return a


def per_sample_loss(y, t, loss):
    if loss == "mse":
        return 0.5 * ((y - t) ** 2).sum(-1)
    return -torch.log_softmax(y, -1).gather(-1, t[:, None])[:, 0]


def risk(params, X, t, activation, loss, probes=None):
    """``R = (1/S) Σ_s ℓ(y_s)``: the *mean* over the batch."""
    return per_sample_loss(forward(params, X, activation, probes), t, loss).mean()


def output_factor(y, t, case):
    """``F_s`` (``(S, k, r)``) with ``g_out = F Fᵀ`` and coordinates ``c_s`` with
    ``∇_y ℓ_s = F_s c_s`` (math §4)."""
    S, k = y.shape
    if case.loss == "mse":
        dl = y - t
    else:
        dl = torch.softmax(y, -1) - torch.nn.functional.one_hot(t, k).double()
    if case.output_metric == "custom":
        L = torch.linalg.cholesky(torch.tensor(case.output_metric_matrix))
        c = torch.linalg.solve_triangular(L, dl.T, upper=False).T
        return L.expand(S, k, k), c
    if case.output_metric == "identity" or case.loss == "mse":
        return torch.eye(k, dtype=y.dtype).expand(S, k, k), dl
    logp = torch.log_softmax(y, -1)                           # Gauss–Newton, cross-entropy
    p, sq = logp.exp(), (0.5 * logp).exp()
    F = torch.diag_embed(sq) - p[:, :, None] * sq[:, None, :]   # diag(√p) − p √pᵀ
    c = sq - torch.nn.functional.one_hot(t, k).double() / sq.gather(1, t[:, None])
    return F, c


def riemannian_step(case, scope="layer", form="woodbury"):
    """``Δw = −lr G⁻¹ ∇R`` as ``[(ΔW_l, Δb_l), …]``."""
    params, X, t = tensors(case)
    flat = [p for pair in params for p in pair]
    shapes = [p.shape for p in flat]
    S = X.shape[0]

    def y_of(*ps):                                            # ps: W_0, b_0, W_1, b_1, …
        return forward([(ps[2 * l], ps[2 * l + 1]) for l in range(len(params))], X,
                       case.activation)

    jac = jacrev(y_of, argnums=tuple(range(len(flat))))(*flat)           # (S, k, *shape)
    J = torch.cat([j.reshape(S, j.shape[1], -1) for j in jac], dim=2)     # (S, k, n)
    g = torch.cat([x.reshape(-1) for pair in gradients(case) for x in pair])
    mass = torch.cat([torch.as_tensor(m, dtype=torch.float64).expand(s).reshape(-1)
                      for m, s in zip(_mass_list(case), shapes)])
    F, c = output_factor(y_of(*flat).detach(), t, case)
    bounds = ([(sum(shapes[i].numel() for i in range(2 * l)),
                sum(shapes[i].numel() for i in range(2 * l + 2))) for l in range(len(params))]
              if scope == "layer" else [(0, J.shape[2])])
    step = torch.empty_like(g)
    for i, j in bounds:
        Jl, Ml = J[:, :, i:j], mass[i:j]
        if form == "dense":
            g_out = F @ F.transpose(1, 2)
            G = torch.einsum("skn,skj,sjm->nm", Jl, g_out, Jl) / S + torch.diag(Ml)
            step[i:j] = torch.linalg.solve(G, g[i:j])
        else:
            Bt = (F.transpose(1, 2) @ Jl).reshape(-1, j - i) / S ** 0.5       # B̃ (S·r, n_l)
            K = torch.eye(Bt.shape[0], dtype=Bt.dtype) + (Bt / Ml) @ Bt.T
            z = torch.cholesky_solve((c.reshape(-1) / S ** 0.5)[:, None],
                                     torch.linalg.cholesky(K))[:, 0]
            step[i:j] = (Bt.T @ z) / Ml                                   # M⁻¹ B̃ᵀ K⁻¹ c̃
    return _pairs(-case.lr * step, shapes)


def _mass_list(case):
    m = case.mlp_mass
    if isinstance(m, float):
        return [m] * (2 * len(case.modules))
    return [torch.tensor(a) for pair in m for a in pair]


def _pairs(vector, shapes):
    out, start = [], 0
    for s in shapes:
        out.append(vector[start:start + s.numel()].reshape(s))
        start += s.numel()
    return [(out[i], out[i + 1]) for i in range(0, len(out), 2)]


def gradients(case):
    params, X, t = tensors(case)
    return grad(lambda p: risk(p, X, t, case.activation, case.loss))(params)


def multipliers(case):
    """``λ_l = ∂ℓ_s/∂z_l = S · ∂R/∂(probe added to z_l)``."""
    params, X, t = tensors(case)
    probes = [torch.zeros(X.shape[0], W.shape[0], dtype=torch.float64) for W, _ in params]
    lam = grad(lambda pr: risk(params, X, t, case.activation, case.loss, pr))(probes)
    return [X.shape[0] * x for x in lam]


# %%
# Hand each function to the conformance helper
# --------------------------------------------
# :mod:`refimpl.oracle.testing` loads every golden case (checking its SHA-256), calls the
# function and compares with the reference; a failing case raises with its worst entry.

def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description="a PyTorch Riemannian SGD step against the golden vectors")
    parser.add_argument("--form", choices=["woodbury", "dense", "both"], default="both")
    parser.add_argument("--golden", default=None,
                        help="golden set (default: the one shipped with refimpl)")
    args = parser.parse_args(argv)
    if torch is None:
        print("skipping: PyTorch is not installed (pip install torch==2.13.0, or the "
              "project's extra: pip install -e '.[crosscheck]')")
        return 0
    kw = {"directory": args.golden, "select": {"kind": "mlp"}}
    reports = [
        check_loss(lambda c: risk(*tensors(c), c.activation, c.loss), **kw),
        check_gradients(gradients, **kw),
        check_multipliers(multipliers, **kw)]
    for form in (["woodbury", "dense"] if args.form == "both" else [args.form]):
        for scope in ("layer", "network"):
            reports.append(check_riemannian_step(
                lambda c: riemannian_step(c, scope, form), scope=scope,
                label=f"update_{scope} ({form})", **kw))
    for report in reports:          # each check raised AssertionError with its report on failure
        print(report.summary())
    return 0


if __name__ == "__main__":
    status = main()
    if status:
        sys.exit(status)
