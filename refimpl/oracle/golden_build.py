"""One golden case: its inputs, refimpl's quantities, their tolerances, and the self-check.

A case spec (:mod:`refimpl.oracle.golden_catalog`) becomes, by :func:`build_case`, the arrays of
its ``.npz`` file and its manifest entry (the format is described in
:mod:`refimpl.oracle.golden`):

1. :func:`make_inputs` draws parameters, inputs, targets, mass, the custom output metric and
   the solve vectors from the case's seed;
2. :func:`compute` runs refimpl's own path (constrained backprop for the loss, gradients and
   multipliers; the factor pass and Woodbury/push-through solves for solves and updates) and
   a second, dense path (per-sample Jacobians, dense output metric, dense solves);
3. :func:`tolerances` sets each array's ``rtol`` and ``atol``;
4. :func:`self_check` refuses the case if the two paths disagree beyond them.
"""
from __future__ import annotations

import math

import numpy as np

from .. import spaces, tree
from ..backprop import solve as backprop_solve
from ..losses import get_loss, get_output_metric
from ..metric import build_metric, pullback_metric
from .architecture import from_dict, module_paths, parameter_names
from .golden_catalog import MASSES, seed_of

EPS = float(np.finfo(np.float64).eps)


# -- inputs ---------------------------------------------------------------------------------
def _draw_params(module, rng, weight_scale):
    names = parameter_names(module)
    last_W = [n for n, s in names if n.endswith("W")][-1]
    params = {}
    for name, shape in names:
        if name.endswith("W"):
            scale = weight_scale if name == last_W else 1.0
            params[name] = scale * rng.standard_normal(shape) / np.sqrt(np.prod(shape[1:]))
        else:
            params[name] = 0.5 * rng.standard_normal(shape)
    return params


def unflat_names(module, named: dict) -> dict:
    """``{"1/0/W": a}`` → the nested parameter tree of ``module``."""
    return tree.from_paths(module.param_shapes(), named)


def make_inputs(spec: dict) -> dict:
    """The case's inputs as named arrays, drawn from ``seed_of(spec["name"])``."""
    rng = np.random.default_rng(seed_of(spec["name"]))
    module = from_dict(spec["architecture"])
    S, k = spec["batch"], module.out_space
    arrays = {f"params/{n}": a for n, a in _draw_params(module, rng, spec["weight_scale"]).items()}
    arrays["X"] = rng.standard_normal((S,) + spaces.point_shape(module.in_space))
    if spec["loss"] == "mse":
        arrays["targets"] = rng.standard_normal((S, k))
    else:
        arrays["targets"] = rng.integers(0, k, S).astype(np.int64)
    if spec["mass"] == "per-parameter":
        lo, hi = MASSES["per-parameter"]
        for n, shape in parameter_names(module):
            arrays[f"mass/{n}"] = np.exp(rng.uniform(np.log(lo), np.log(hi), shape))
    else:
        arrays["mass"] = np.array(float(MASSES[spec["mass"]]))
    if spec["output_metric"] == "custom":
        A = rng.standard_normal((k, k))
        arrays["output_metric_matrix"] = A @ A.T / k + 0.5 * np.eye(k)
    arrays["lr"] = np.array(float(spec["lr"]))
    sizes = _module_sizes(module)
    for m in module_paths(module):
        arrays[_name("v", m)] = rng.standard_normal(sizes[m])
    return arrays


def _name(prefix, path):
    return f"{prefix}/{path}" if path else prefix


def _module_sizes(module) -> dict:
    sizes = {}
    for name, shape in parameter_names(module):
        path = name.rsplit("/", 1)[0] if "/" in name else ""
        sizes[path] = sizes.get(path, 0) + int(np.prod(shape))
    return sizes


def case_arguments(spec: dict, arrays: dict) -> dict:
    """The refimpl objects for a case: module, parameter tree, X, targets, loss, output
    metric (name or matrix), mass (float or tree), lr, and ``v`` per module path."""
    module = from_dict(spec["architecture"])
    names = [n for n, _ in parameter_names(module)]
    params = unflat_names(module, {n: arrays[f"params/{n}"] for n in names})
    if "mass" in arrays:
        mass = float(arrays["mass"])
    else:
        mass = unflat_names(module, {n: arrays[f"mass/{n}"] for n in names})
    om = arrays["output_metric_matrix"] if spec["output_metric"] == "custom" \
        else spec["output_metric"]
    v = {m: arrays[_name("v", m)] for m in module_paths(module)}
    return {"module": module, "params": params, "X": arrays["X"], "targets": arrays["targets"],
            "loss": spec["loss"], "output_metric": om, "mass": mass,
            "lr": float(arrays["lr"]), "v": v}


# -- the quantities -------------------------------------------------------------------------
def compute(spec: dict, arrays: dict) -> tuple[dict, dict]:
    """refimpl's quantities for a case: ``(output arrays, info)``; ``info`` holds the
    condition numbers and the disagreement between refimpl's two paths."""
    a = case_arguments(spec, arrays)
    module, params, X, t, lr = a["module"], a["params"], a["X"], a["targets"], a["lr"]
    loss, om = get_loss(a["loss"]), get_output_metric(a["output_metric"])
    names = [n for n, _ in parameter_names(module)]
    paths = module_paths(module)
    out = {}
    st = backprop_solve(module, params, X, t, loss)
    out["loss"] = np.array(st.risk)
    flat = dict(tree.items(st.grads))
    for n in names:
        out[f"grads/{n}"] = flat[n]
    for m in paths:
        out[_name("multipliers", m)] = np.asarray(tree.get(st.module_multipliers, m))
    # the dense path: per-sample Jacobians and the dense output metric
    _, Jw = module.jacobian(params, X)                                 # (S, k, n)
    g = om.matrix(st.states[-1], loss.check_targets(t, X.shape[0], module.out_space), loss)
    G = pullback_metric(Jw, g)
    mass_flat = (np.full(G.shape[0], a["mass"]) if isinstance(a["mass"], float)
                 else tree.flatten(a["mass"]))
    G[np.diag_indices(G.shape[0])] += mass_flat
    out["metric_network"] = G
    sizes, start, blocks = _module_sizes(module), 0, {}
    for m in paths:
        blocks[m] = (start, start + sizes[m])
        out[_name("metric", m)] = G[start:start + sizes[m], start:start + sizes[m]].copy()
        start += sizes[m]
    # refimpl's factorised path
    kw = dict(loss=loss, output_metric=a["output_metric"], mass=a["mass"])
    layer = build_metric(module, params, X, t, scope="layer", **kw)
    network = build_metric(module, params, X, t, scope="network", **kw)
    for m in paths:
        lm = layer.layers[m]
        v_tree = tree.unflatten({k: np.zeros(s) for k, s in lm.block.shapes.items()},
                                a["v"][m])
        out[_name("solve", m)] = tree.flatten(lm.solve(v_tree))
    for scope, bm in (("layer", layer), ("network", network)):
        upd = dict(tree.items(bm.step(lr)[0]))
        for n in names:
            out[f"update_{scope}/{n}"] = upd[n]
    # conditioning and the two paths' agreement
    conditions = conditioning(module, out)
    cond, cond_net = conditions["cond"], conditions["cond_network"]
    grad_flat = np.concatenate([out[f"grads/{n}"].ravel() for n in names])
    dense = {"solve": {}, "update_layer": {}, "update_network": {},
             "metric_factor": {}, "metric_network_factor": {}}
    for m, (i, j) in blocks.items():
        Gm = out[_name("metric", m)]
        dense["solve"][m] = np.linalg.solve(Gm, a["v"][m])
        dense["update_layer"][m] = -lr * np.linalg.solve(Gm, grad_flat[i:j])
        dense["metric_factor"][m] = layer.layers[m].dense()
    upd_net = -lr * np.linalg.solve(G, grad_flat)
    for m, (i, j) in blocks.items():
        dense["update_network"][m] = upd_net[i:j]
    dense["metric_network_factor"][""] = network.network.dense()
    info = {"cond": cond, "cond_network": cond_net, "dense": dense, "blocks": blocks}
    return out, info


def _cond(G):
    w = np.linalg.eigvalsh(G)
    return float(w[-1] / w[0])


def _pow10_ceil(x):
    return float(f"1e{math.ceil(math.log10(x) - 1e-9)}")


def _atol(rtol, arr, fallback):
    scale = float(np.max(np.abs(arr))) if arr.size else 0.0
    return float(f"{rtol * (scale if scale > 0 else fallback):.2g}")


def tolerances(spec: dict, out: dict, info: dict, module) -> dict:
    """``{quantity: [{"name", "shape", "dtype", "rtol", "atol"}, …]}`` for the outputs."""
    names = [n for n, _ in parameter_names(module)]
    paths = module_paths(module)
    solve_rtol = {m: _pow10_ceil(max(1e-10, 10 * EPS * info["cond"][m])) for m in paths}
    net_rtol = _pow10_ceil(max(1e-10, 10 * EPS * info["cond_network"]))
    owner = {n: (n.rsplit("/", 1)[0] if "/" in n else "") for n in names}
    table = {
        "loss": [("loss", 1e-12)],
        "gradients": [(f"grads/{n}", 1e-10) for n in names],
        "multipliers": [(_name("multipliers", m), 1e-10) for m in paths],
        "metric": [(_name("metric", m), 1e-10) for m in paths],
        "metric_network": [("metric_network", 1e-10)],
        "solve": [(_name("solve", m), solve_rtol[m]) for m in paths],
        "update_layer": [(f"update_layer/{n}", solve_rtol[owner[n]]) for n in names],
        "update_network": [(f"update_network/{n}", net_rtol) for n in names],
    }
    result = {}
    for q, rows in table.items():
        fallback = max(float(np.max(np.abs(out[name]))) if out[name].size else 0.0
                       for name, _ in rows) or 1.0
        result[q] = [{"name": name, "shape": list(out[name].shape), "dtype": str(out[name].dtype),
                      "rtol": rtol, "atol": _atol(rtol, out[name], fallback)}
                     for name, rtol in rows]
    return result


def self_check(spec: dict, out: dict, info: dict, tol: dict) -> None:
    """Refuse a case whose factorised and dense paths disagree beyond its tolerances."""
    def check(label, got, row):
        want = out[row["name"]]
        err = np.abs(np.asarray(got).reshape(want.shape) - want)
        bound = row["atol"] + row["rtol"] * np.abs(want)
        if np.any(err > bound):
            i = np.unravel_index(np.argmax(err - bound), want.shape)
            raise RuntimeError(
                f"golden case {spec['name']}: {row['name']} from refimpl's factorised path "
                f"and the dense {label} disagree at {tuple(int(x) for x in i)}: "
                f"{want[i]!r} vs {np.asarray(got).reshape(want.shape)[i]!r} (rtol "
                f"{row['rtol']:g}, atol {row['atol']:g}); not writing it")

    rows = {r["name"]: r for q in tol.values() for r in q}
    dense = info["dense"]
    for m in dense["solve"]:
        check("solve", dense["solve"][m], rows[_name("solve", m)])
        check("metric from the factor pass", dense["metric_factor"][m],
              rows[_name("metric", m)])
    check("metric from the factor pass", dense["metric_network_factor"][""],
          rows["metric_network"])
    for scope in ("layer", "network"):
        for m, (i, j) in info["blocks"].items():
            flat = np.concatenate([out[r["name"]].ravel() for r in tol[f"update_{scope}"]
                                   if _owner(r["name"]) == m])
            r0 = max((r for r in tol[f"update_{scope}"] if _owner(r["name"]) == m),
                     key=lambda r: r["atol"])
            err = np.abs(flat - dense[f"update_{scope}"][m])
            if np.any(err > r0["atol"] + r0["rtol"] * np.abs(flat)):
                raise RuntimeError(
                    f"golden case {spec['name']}: update_{scope} of module {m!r} from the "
                    f"push-through form and a dense solve disagree by {err.max():.3g} "
                    f"(rtol {r0['rtol']:g}); not writing it")


def _owner(name):
    param = name.split("/", 1)[1]
    return param.rsplit("/", 1)[0] if "/" in param else ""


# -- one case: arrays and manifest entry ----------------------------------------------------
def build_case(spec: dict) -> tuple[dict, dict]:
    """``(arrays for the .npz, manifest entry)`` for one case spec."""
    inputs = make_inputs(spec)
    out, info = compute(spec, inputs)
    module = from_dict(spec["architecture"])
    tol = tolerances(spec, out, info, module)
    self_check(spec, out, info, tol)
    arrays = {**inputs, **out}
    return arrays, manifest_entry(spec, arrays)


def conditioning(module, arrays: dict, scale: float = 1.0) -> dict:
    """``{"cond": {module path: κ(G_m)}, "cond_network": κ(G)}`` from a case's stored metric
    arrays (``scale`` multiplies every κ; :mod:`.golden_integrity` uses it to allow for the
    last bits of an eigenvalue solver at a rounding boundary)."""
    return {"cond": {m: scale * _cond(arrays[_name("metric", m)]) for m in module_paths(module)},
            "cond_network": scale * _cond(arrays["metric_network"])}


def manifest_entry(spec: dict, arrays: dict, *, cond_scale: float = 1.0) -> dict:
    """The manifest entry of a case: a function of its spec and its arrays alone.

    The parameters come from ``spec``; the lists of parameters, modules and arrays, the
    condition numbers and every array's ``rtol`` and ``atol`` are derived from ``arrays``
    (inputs and quantities, as stored in the case's file) by the rules of this module. So
    :func:`refimpl.oracle.golden.verify` can recompute the entry from the verified file
    and the case definitions in the code and compare it with the manifest.
    """
    module = from_dict(spec["architecture"])
    info = conditioning(module, arrays, cond_scale)
    tol = tolerances(spec, arrays, info, module)
    outputs = {r["name"] for rows in tol.values() for r in rows}
    paths = module_paths(module)
    sizes = _module_sizes(module)
    return {
        "file": f"cases/{spec['name']}.npz",
        "kind": spec["kind"],
        **({"widths": spec["widths"], "activation": spec["activation"]}
           if spec["kind"] == "mlp" else {}),
        "architecture": spec["architecture"],
        "loss": spec["loss"],
        "output_metric": spec["output_metric"],
        "mass": {"kind": spec["mass"],
                 "value": None if spec["mass"] == "per-parameter" else MASSES[spec["mass"]]},
        "batch": spec["batch"],
        "output_dim": module.out_space,
        "lr": spec["lr"],
        "weight_scale": spec["weight_scale"],
        "seed": seed_of(spec["name"]),
        "parameters": [{"name": n, "shape": list(s)} for n, s in parameter_names(module)],
        "modules": [{"path": m, "size": sizes[m],
                     "condition_number": float(f"{info['cond'][m]:.2g}")} for m in paths],
        "condition_number_network": float(f"{info['cond_network']:.2g}"),
        "inputs": [{"name": n, "shape": list(a.shape), "dtype": str(a.dtype)}
                   for n, a in arrays.items() if n not in outputs],
        "quantities": tol,
    }


def spec_from_entry(name: str, entry: dict) -> dict:
    """The case spec (as in :mod:`refimpl.oracle.golden_catalog`) a manifest entry was built
    from, so that the case can be regenerated."""
    spec = {"name": name, "kind": entry["kind"], "architecture": entry["architecture"],
            "loss": entry["loss"], "output_metric": entry["output_metric"],
            "mass": entry["mass"]["kind"], "batch": entry["batch"], "lr": entry["lr"],
            "weight_scale": entry["weight_scale"]}
    if entry["kind"] == "mlp":
        spec["widths"], spec["activation"] = entry["widths"], entry["activation"]
    return spec
