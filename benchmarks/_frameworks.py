"""The same Riemannian SGD step as ``refimpl`` (math §4, §6) in PyTorch and in JAX, float64.

Both follow refimpl's structured algorithm operation for operation, for an MLP
``Linear → tanh → … → Linear`` with softmax cross-entropy, the identity output metric
(``F = I``, ``r = k``) and a scalar mass ``μ``:

1. forward pass, ``∇ℓ_s = p_s − e_{t_s}`` (the coordinates ``c`` of eq. 3′), backward pass;
2. factor pass ``R_L = I``, ``R_{l−1} = R_l W_l diag(σ'(z_{l−1}))``, ``(S, r, m)`` per layer;
3. per hidden layer ``K = I + (1/S) (R₂R₂ᵀ) ⊙ (E ⊗ 1_{r×r})`` with ``E = (AAᵀ + 1)/μ``
   (``S·r × S·r``), Cholesky, ``Z = K⁻¹ c``; for the last layer (``R_s = I`` for every
   sample) the shared-factor form: ``C = I`` has eigenvalues ``λ_j``, ``r`` systems
   ``(I + λ_j E/S)`` of size ``S`` (a batch of ``r`` Cholesky factorisations);
4. push-through (3′): ``u = (1/(Sμ)) (Uᵀ A, Σ_s U_s)`` with ``U_s = R_sᵀ Z_s``;
   ``Δw = −η u``;
5. the diagnostics ``RiemannianSGD.update`` reports: ``‖∇R‖``, ``‖Δw‖``, the residual
   ``‖G u − ∇R‖ / ‖∇R‖`` (``G u = μ u + (1/S) Bᵀ B u``), the Cholesky-diagonal condition
   estimate, the finiteness check, and the new parameters.

Parameters are ``[(W, b), …]`` with ``W`` of shape ``(out, in)``; ``onehot`` is ``(S, k)``.
Each ``*_step`` returns ``(new_params, update, diagnostics)``.
"""
from __future__ import annotations


# ---------------------------------------------------------------------------------------------
# PyTorch (plain tensor ops; MKL BLAS/LAPACK)
# ---------------------------------------------------------------------------------------------
def torch_step(params, X, onehot, mu: float, lr: float):
    import torch

    L = len(params)
    S, k = onehot.shape
    r = k
    Ws = [W for W, _ in params]
    acts, dsig = [X], []
    a = X
    for l in range(L - 1):                                  # forward
        a = torch.tanh(torch.addmm(params[l][1], a, Ws[l].T))
        acts.append(a)
        dsig.append(1.0 - a * a)
    y = torch.addmm(params[-1][1], a, Ws[-1].T)
    logp = torch.log_softmax(y, dim=1)
    risk = -(logp * onehot).sum() / S
    c = logp.exp() - onehot                                 # ∇ℓ_s = F c_s with F = I

    grads, lam = [None] * L, c                              # backward (mean risk)
    for l in reversed(range(L)):
        grads[l] = (lam.T @ acts[l] / S, lam.sum(0) / S)
        if l > 0:
            lam = (lam @ Ws[l]) * dsig[l - 1]

    Rs = [None] * L                                         # factor pass, R_L = I
    if L > 1:
        Rs[L - 2] = Ws[L - 1].unsqueeze(0) * dsig[L - 2].unsqueeze(1)
        for l in range(L - 2, 0, -1):
            m = Rs[l].shape[2]
            Rs[l - 1] = (Rs[l].reshape(S * r, m) @ Ws[l]).reshape(S, r, -1) \
                * dsig[l - 1].unsqueeze(1)

    eye_S = torch.eye(S, dtype=X.dtype)
    eye_r = torch.eye(r, dtype=X.dtype)
    upd, u_all, conds, Bu_fns = [], [], [], []
    for l in range(L):
        A = acts[l]
        E = (A @ A.T + 1.0) / mu
        if l == L - 1:                                      # shared factor, C = I
            lam_c, Q = torch.linalg.eigh(eye_r)
            Kb = eye_S + (lam_c.view(r, 1, 1) / S) * E      # (r, S, S)
            Lc = torch.linalg.cholesky(Kb)
            Zq = (c @ Q).T.unsqueeze(-1)                    # (r, S, 1)
            U = torch.cholesky_solve(Zq, Lc).squeeze(-1).T @ Q.T       # (S, r): U_s = Z_s
            d = torch.diagonal(Lc, dim1=1, dim2=2)
            R = None
        else:
            R = Rs[l]
            R2 = R.reshape(S * r, -1)
            K = (R2 @ R2.T).view(S, r, S, r).mul_(E.view(S, 1, S, 1) / S).view(S * r, S * r)
            K.diagonal().add_(1.0)
            Lc = torch.linalg.cholesky(K)
            Z = torch.cholesky_solve(c.reshape(S * r, 1), Lc).view(S, r)
            U = torch.einsum("sjp,sj->sp", R, Z)
            d = torch.diagonal(Lc)
        conds.append((d.max() / d.min()) ** 2)
        uW, ub = U.T @ A / (S * mu), U.sum(0) / (S * mu)
        u_all.append((uW, ub))
        upd.append((-lr * uW, -lr * ub))
        Bu_fns.append((A, R))

    # diagnostics: residual ‖G u − ∇R‖ / ‖∇R‖ with G u = μ u + (1/S) Bᵀ(B u)
    res2 = torch.zeros((), dtype=X.dtype)
    g2 = torch.zeros((), dtype=X.dtype)
    u2 = torch.zeros((), dtype=X.dtype)
    for (uW, ub), (A, R), (gW, gb), (dW, db) in zip(u_all, Bu_fns, grads, upd):
        z = torch.addmm(ub, A, uW.T)                        # W a_s + b for v = u
        if R is None:
            V = z                                           # R_s = I
        else:
            Bu = torch.einsum("sjp,sp->sj", R, z)
            V = torch.einsum("sjp,sj->sp", R, Bu)
        GW = mu * uW + V.T @ A / S - gW
        Gb = mu * ub + V.sum(0) / S - gb
        res2 = res2 + (GW * GW).sum() + (Gb * Gb).sum()
        g2 = g2 + (gW * gW).sum() + (gb * gb).sum()
        u2 = u2 + (dW * dW).sum() + (db * db).sum()
    new = [(W + dW, b + db) for (W, b), (dW, db) in zip(params, upd)]
    finite = bool(torch.isfinite(risk)) and all(
        bool(torch.isfinite(x).all()) for pair in upd + new for x in pair)
    diag = {"loss": float(risk), "grad_norm": float(g2.sqrt()), "update_norm": float(u2.sqrt()),
            "residual": float(res2.sqrt() / g2.sqrt()),
            "condition": float(torch.stack(conds).max()), "finite": finite}
    return new, upd, diag


# ---------------------------------------------------------------------------------------------
# JAX (jit, x64; XLA CPU)
# ---------------------------------------------------------------------------------------------
def make_jax_step(mu: float, lr: float):
    """A jitted ``step(params, X, onehot) -> (new_params, update, diagnostics)``."""
    import jax
    import jax.numpy as jnp
    from jax.scipy.linalg import cho_solve

    def step(params, X, onehot):
        L = len(params)
        S, k = onehot.shape
        r = k
        Ws = [W for W, _ in params]
        acts, dsig = [X], []
        a = X
        for l in range(L - 1):
            a = jnp.tanh(a @ Ws[l].T + params[l][1])
            acts.append(a)
            dsig.append(1.0 - a * a)
        y = a @ Ws[-1].T + params[-1][1]
        logp = jax.nn.log_softmax(y, axis=1)
        risk = -(logp * onehot).sum() / S
        c = jnp.exp(logp) - onehot

        grads, lam = [None] * L, c
        for l in reversed(range(L)):
            grads[l] = (lam.T @ acts[l] / S, lam.sum(0) / S)
            if l > 0:
                lam = (lam @ Ws[l]) * dsig[l - 1]

        Rs = [None] * L
        if L > 1:
            Rs[L - 2] = Ws[L - 1][None, :, :] * dsig[L - 2][:, None, :]
            for l in range(L - 2, 0, -1):
                m = Rs[l].shape[2]
                Rs[l - 1] = (Rs[l].reshape(S * r, m) @ Ws[l]).reshape(S, r, -1) \
                    * dsig[l - 1][:, None, :]

        eye_S = jnp.eye(S, dtype=X.dtype)
        upd, u_all, conds, ctx = [], [], [], []
        for l in range(L):
            A = acts[l]
            E = (A @ A.T + 1.0) / mu
            if l == L - 1:
                lam_c, Q = jnp.linalg.eigh(jnp.eye(r, dtype=X.dtype))
                Kb = eye_S[None] + (lam_c[:, None, None] / S) * E[None]
                Lc = jnp.linalg.cholesky(Kb)
                Zq = (c @ Q).T[:, :, None]
                Y = jax.vmap(lambda Lj, zj: cho_solve((Lj, True), zj))(Lc, Zq)
                U = Y[:, :, 0].T @ Q.T
                d = jnp.diagonal(Lc, axis1=1, axis2=2)
                R = None
            else:
                R = Rs[l]
                R2 = R.reshape(S * r, -1)
                K = ((R2 @ R2.T).reshape(S, r, S, r) * (E / S)[:, None, :, None]) \
                    .reshape(S * r, S * r) + jnp.eye(S * r, dtype=X.dtype)
                Lc = jnp.linalg.cholesky(K)
                Z = cho_solve((Lc, True), c.reshape(S * r, 1)).reshape(S, r)
                U = jnp.einsum("sjp,sj->sp", R, Z)
                d = jnp.diagonal(Lc)
            conds.append((d.max() / d.min()) ** 2)
            uW, ub = U.T @ A / (S * mu), U.sum(0) / (S * mu)
            u_all.append((uW, ub))
            upd.append((-lr * uW, -lr * ub))
            ctx.append((A, R))

        res2 = g2 = u2 = 0.0
        for (uW, ub), (A, R), (gW, gb), (dW, db) in zip(u_all, ctx, grads, upd):
            z = A @ uW.T + ub
            if R is None:
                V = z
            else:
                V = jnp.einsum("sjp,sj->sp", R, jnp.einsum("sjp,sp->sj", R, z))
            GW = mu * uW + V.T @ A / S - gW
            Gb = mu * ub + V.sum(0) / S - gb
            res2 = res2 + (GW * GW).sum() + (Gb * Gb).sum()
            g2 = g2 + (gW * gW).sum() + (gb * gb).sum()
            u2 = u2 + (dW * dW).sum() + (db * db).sum()
        new = [(W + dW, b + db) for (W, b), (dW, db) in zip(params, upd)]
        finite = jnp.isfinite(risk)
        for pair in upd + new:
            for x in pair:
                finite = finite & jnp.isfinite(x).all()
        diag = {"loss": risk, "grad_norm": jnp.sqrt(g2), "update_norm": jnp.sqrt(u2),
                "residual": jnp.sqrt(res2 / g2), "condition": jnp.max(jnp.stack(conds)),
                "finite": finite}
        return new, upd, diag

    return jax.jit(step)
