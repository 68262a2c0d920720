"""Every golden quantity by automatic differentiation in another framework, float64.

Nothing of refimpl runs here: the network comes from the JSON architecture
(:mod:`crosscheck.interpreter`), and each quantity is its textbook definition —

- loss ``R = mean_s ℓ(y_s)``; gradients ``∇R`` by reverse mode;
- multipliers ``λ_{m,s} = S · ∂R/∂p_{m,s}`` for a zero probe ``p_m`` added to module ``m``'s
  output (so ``λ = ∂ℓ_s/∂z_{m,s}``, not divided by ``S``);
- the dense metric ``G = M + (1/S) Σ_s J_sᵀ g_out(y_s) J_s`` with ``J_s`` from a reverse-mode
  Jacobian and, for ``gauss-newton``, ``g_out`` the autodiff Hessian of ``ℓ`` in ``y``;
- solves and updates by dense LU solves with ``G_m`` (layer) or ``G`` (network).

``fw`` is a small namespace (see :mod:`crosscheck.frameworks`) naming the framework's
``grad``, ``jacrev``, ``hessian``, ``vmap``, ``einsum``, ``solve``, ``jit``, … so that PyTorch
(``torch.func``) and JAX share this file. The whole computation is one function of arrays,
so JAX compiles it once per case (``jax.jit``) instead of once per operation.
"""
import numpy as np

from crosscheck.interpreter import build, output_shape, parameter_owners


def _owner(name):
    return name.rsplit("/", 1)[0] if "/" in name else ""


def _key(prefix, path):
    return f"{prefix}/{path}" if path else prefix


def quantities(fw, arch, param_names, modules, arrays, loss, output_metric, k):
    """``{golden array name: numpy array}`` for every quantity of one case (``k`` outputs)."""
    forward = build(arch, fw)
    shapes = {n: tuple(arrays[f"params/{n}"].shape) for n in param_names}
    sizes = [int(np.prod(shapes[n])) for n in param_names]
    S = arrays["X"].shape[0]
    owners = [_owner(n) for n in param_names]
    blocks, start = {}, 0
    for m in modules:
        n_m = sum(s for o, s in zip(owners, sizes) if o == m)
        blocks[m] = (start, start + n_m)
        start += n_m

    if loss == "mse":
        def per_sample(y, t):
            return 0.5 * ((y - t) ** 2).sum(-1)
    else:
        def per_sample(y, t):
            return -(fw.log_softmax(y) * t).sum(-1)

    def unflatten(flat):
        out, i = {}, 0
        for n, size in zip(param_names, sizes):
            out[n] = flat[i:i + size].reshape(shapes[n])
            i += size
        return out

    def compute(inp):
        params, X, target = inp["params"], inp["X"], inp["target"]

        def risk(p, probes):
            return per_sample(forward(X, p, probes), target).mean()

        out = {"loss": risk(params, {})}
        g = fw.grad(lambda p: risk(p, {}))(params)
        for n in param_names:
            out[f"grads/{n}"] = g[n]
        lam = fw.grad(lambda pr: risk(params, pr))(inp["probes"])
        for m in modules:
            out[_key("multipliers", m)] = S * lam[m]
        flat = fw.cat([params[n].reshape(-1) for n in param_names])
        J = fw.jacrev(lambda f: forward(X, unflatten(f), {}))(flat)       # (S, k, n)
        if output_metric == "gauss-newton":
            y = forward(X, params, {})
            g_out = fw.vmap(fw.hessian(per_sample))(y, target)           # (S, k, k)
        else:
            g_out = inp["g_out"]
        G = fw.einsum("skn,skj,sjm->nm", J, g_out, J) / S + fw.diag(inp["mass"])
        out["metric_network"] = G
        grad_flat = fw.cat([g[n].reshape(-1) for n in param_names])
        upd_layer = []
        for m, (i, j) in blocks.items():
            out[_key("metric", m)] = G[i:j, i:j]
            out[_key("solve", m)] = fw.solve(G[i:j, i:j], inp["v"][m])
            upd_layer.append(-inp["lr"] * fw.solve(G[i:j, i:j], grad_flat[i:j]))
        upd_layer = fw.cat(upd_layer)
        upd_network = -inp["lr"] * fw.solve(G, grad_flat)
        i = 0
        for n, size in zip(param_names, sizes):
            out[f"update_layer/{n}"] = upd_layer[i:i + size].reshape(shapes[n])
            out[f"update_network/{n}"] = upd_network[i:i + size].reshape(shapes[n])
            i += size
        return out

    T = fw.asarray
    if loss == "mse":
        target = T(arrays["targets"])
    else:
        target = T(np.eye(k)[arrays["targets"]])
    if "mass" in arrays:
        mass = np.full(sum(sizes), float(arrays["mass"]))
    else:
        mass = np.concatenate([arrays[f"mass/{n}"].ravel() for n in param_names])
    g_out = (np.eye(k) if output_metric != "custom" else arrays["output_metric_matrix"])
    inp = {"params": {n: T(arrays[f"params/{n}"]) for n in param_names},
           "X": T(arrays["X"]), "target": target, "mass": T(mass),
           "g_out": T(np.broadcast_to(g_out, (S, k, k)).copy()),
           "probes": {m: T(np.zeros((S,) + output_shape(desc)))
                      for m, desc in parameter_owners(arch).items()},
           "v": {m: T(arrays[_key("v", m)]) for m in modules},
           "lr": T(np.array(float(arrays["lr"])))}
    return {name: fw.to_numpy(a) for name, a in fw.jit(compute)(inp).items()}
