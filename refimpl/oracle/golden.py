"""Golden vectors: a versioned set of cases that other backends test themselves against.

A *case* is one network (:mod:`refimpl.oracle.architecture`), batch, loss, output metric and
mass; its ``.npz`` file holds the inputs and the quantities refimpl computes for them. The set
is a directory::

    manifest.json      schema version, package version, conventions, per-case parameters,
                       array names/shapes/dtypes, tolerances, SHA-256 and size of every file
    SHA256SUMS         the same digests for ``sha256sum -c`` (manifest.json included)
    README.md          the format, for readers in any language (generated with the set)
    cases/<name>.npz   one per case (uncompressed ZIP of NPY files, see ``_npz.py``)

Quantities (array name prefixes; ``<p>`` a parameter name, ``<m>`` a module path):

==================  ===========================  =============================================
quantity            arrays                       value
==================  ===========================  =============================================
``loss``            ``loss``                     ``R = (1/S) Σ_s ℓ(y_s)``
``gradients``       ``grads/<p>``                ``∇_w R`` (SPEC §2)
``multipliers``     ``multipliers/<m>``          ``λ_{m,s} = ∂ℓ_s/∂z_{m,s}``, ``(S, out_m)``
``metric``          ``metric/<m>``               ``G_m`` dense, ``(n_m, n_m)`` (SPEC §4)
``metric_network``  ``metric_network``           the whole ``G`` over all parameters
``solve``           ``solve/<m>``                ``G_m⁻¹ v_m`` for the stored ``v/<m>`` (eq. 2)
``update_layer``    ``update_layer/<p>``         ``−lr G⁻¹ ∇R``, ``G`` block-diagonal (eq. 3)
``update_network``  ``update_network/<p>``       ``−lr G⁻¹ ∇R``, one ``G`` (damped Gauss–Newton)
==================  ===========================  =============================================

Every value is computed by refimpl's own path (factor pass, Woodbury/push-through solves) and,
before anything is written, checked against a second path inside refimpl (dense Jacobians
and dense solves): a case whose two paths disagree beyond its tolerance is an error, not a
golden vector. Tolerances are per array, ``|got − want| ≤ atol + rtol·|want|`` elementwise:
``rtol`` is ``1e-12`` for the loss, ``1e-10`` for gradients, multipliers and metrics, and
``max(1e-10, 10·ε·κ)`` rounded up to a power of ten for solves and updates (``κ`` the
2-norm condition number of the ``G`` being solved, ``ε`` = 2.2e-16); ``atol = rtol ·
max|want|`` over the array.

Generation is deterministic: seeds come from the case names, and files are written
byte-reproducibly (``_npz.py``, sorted JSON without timestamps). Across machines the floating
point results may differ in the last bits (BLAS kernels), which is why the drift check compares
values, not bytes.
"""
from __future__ import annotations

import hashlib
import json
import math
import os
import shutil
import tempfile
from pathlib import Path

import numpy as np

from .. import __version__, tree
from ..backprop import solve as backprop_solve
from ..losses import get_loss, get_output_metric
from ..metric import build_metric
from . import _npz
from .architecture import from_dict, module_paths, parameter_names
from .golden_cases import MASSES, default_cases, seed_of

SCHEMA_VERSION = 1
QUANTITIES = ("loss", "gradients", "multipliers", "metric", "metric_network", "solve",
              "update_layer", "update_network")
PREFIX = {"loss": "loss", "gradients": "grads", "multipliers": "multipliers",
          "metric": "metric", "metric_network": "metric_network", "solve": "solve",
          "update_layer": "update_layer", "update_network": "update_network"}
EPS = float(np.finfo(np.float64).eps)

CONVENTIONS = {
    "dtype": "float64 everywhere; cross-entropy labels int64",
    "layout": "batch first: X is (S, d_in), outputs y are (S, k), multipliers (S, out)",
    "linear": "z = W a + b per sample, W of shape (n_out, n_in); batched z = X W^T + b",
    "parameter_order": "depth-first over the module tree: children '0', '1', ... in order, "
                       "Linear leaves W then b; each array flattened in C (row-major) order",
    "parameter_names": "module-tree paths joined by '/', e.g. '0/W', '1/1/0/0/b'",
    "module_paths": "a parameter name without its last component ('0', '1/1/0/0'): the "
                    "modules that own parameters, one metric block each",
    "risk": "R = (1/S) sum_s loss(y_s): the MEAN over the batch",
    "mse": "loss(y) = 0.5 |y - t|^2, targets t float (S, k)",
    "cross_entropy": "loss(y) = -log softmax(y)_t, targets t int64 labels (S,)",
    "multipliers": "lambda_{m,s} = d loss_s / d z_{m,s} at the output z of module m, per "
                   "sample, NOT divided by S (sign: the cotangent of backprop, so "
                   "grad_m = (1/S) sum_s (dz_{m,s}/dw_m)^T lambda_{m,s})",
    "output_metric": "g_out(y_s): 'identity' = I_k; 'gauss-newton' = the loss Hessian "
                     "(mse: I_k; cross_entropy: diag(p) - p p^T, p = softmax(y_s)); "
                     "'custom' = the constant SPD matrix output_metric_matrix (k, k)",
    "mass": "diagonal M: 'mass' a scalar mu (M = mu I), or 'mass/<p>' one positive value per "
            "parameter, shaped like the parameter",
    "metric": "G_m = M_m + (1/S) sum_s J_{m,s}^T g_out(y_s) J_{m,s}, J_{m,s} = dy_s/dw_m "
              "(k, n_m), flat parameter order; metric_network: the same with J over all "
              "parameters (n, n)",
    "solve": "solve/<m> = G_m^{-1} v/<m>, v random (generically not in the range of B^T)",
    "update": "update = -lr G^{-1} grad R; update_layer: G block-diagonal over modules "
              "(each block G_m); update_network: one G over all parameters",
    "tolerance": "per array: |got - want| <= atol + rtol |want| elementwise",
}


# -- inputs ---------------------------------------------------------------------------------
def _draw_params(module, rng, weight_scale):
    names = parameter_names(module)
    last_W = [n for n, s in names if n.endswith("W")][-1]
    params = {}
    for name, shape in names:
        if name.endswith("W"):
            scale = weight_scale if name == last_W else 1.0
            params[name] = scale * rng.standard_normal(shape) / np.sqrt(shape[1])
        else:
            params[name] = 0.5 * rng.standard_normal(shape)
    return params


def _unflat_names(module, named: dict) -> dict:
    """``{"1/0/W": a}`` → the nested parameter tree of ``module``."""
    out = tree.tree_map(lambda s: None, module.param_shapes())
    for name, value in named.items():
        node, keys = out, name.split("/")
        for k in keys[:-1]:
            node = node[k]
        node[keys[-1]] = value
    return out


def make_inputs(spec: dict) -> dict:
    """The case's inputs as named arrays, drawn from ``seed_of(spec["name"])``."""
    rng = np.random.default_rng(seed_of(spec["name"]))
    module = from_dict(spec["architecture"])
    S, k = spec["batch"], module.out_space
    arrays = {f"params/{n}": a for n, a in _draw_params(module, rng, spec["weight_scale"]).items()}
    arrays["X"] = rng.standard_normal((S, module.in_space))
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
    params = _unflat_names(module, {n: arrays[f"params/{n}"] for n in names})
    if "mass" in arrays:
        mass = float(arrays["mass"])
    else:
        mass = _unflat_names(module, {n: arrays[f"mass/{n}"] for n in names})
    om = arrays["output_metric_matrix"] if spec["output_metric"] == "custom" \
        else spec["output_metric"]
    v = {m: arrays[_name("v", m)] for m in module_paths(module)}
    return {"module": module, "params": params, "X": arrays["X"], "targets": arrays["targets"],
            "loss": spec["loss"], "output_metric": om, "mass": mass,
            "lr": float(arrays["lr"]), "v": v}


# -- the quantities -------------------------------------------------------------------------
def _at(t, path):
    for key in filter(None, path.split("/")):
        t = t[key]
    return t


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
        out[_name("multipliers", m)] = np.asarray(_at(st.module_multipliers, m))
    # the dense path: per-sample Jacobians and the dense output metric
    _, Jw = module.jacobian(params, X)                                 # (S, k, n)
    g = om.matrix(st.states[-1], loss.check_targets(t, X.shape[0], module.out_space), loss)
    G = np.einsum("skn,skj,sjm->nm", Jw, g, Jw) / X.shape[0]
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
    cond = {m: _cond(out[_name("metric", m)]) for m in paths}
    cond_net = _cond(G)
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
    paths = module_paths(module)
    entry = {
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
        "modules": [{"path": m, "size": _module_sizes(module)[m],
                     "condition_number": float(f"{info['cond'][m]:.2g}")} for m in paths],
        "condition_number_network": float(f"{info['cond_network']:.2g}"),
        "inputs": [{"name": n, "shape": list(a.shape), "dtype": str(a.dtype)}
                   for n, a in inputs.items()],
        "quantities": tol,
    }
    return {**inputs, **out}, entry


# -- the set on disk ------------------------------------------------------------------------
def sha256_file(path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def _dump_json(obj) -> str:
    """Indented JSON in which every value that fits in 100 characters stays on one line."""
    return _json_value(obj, 0) + "\n"


def _json_value(obj, depth: int) -> str:
    flat = json.dumps(obj, ensure_ascii=False, separators=(", ", ": "))
    if len(flat) + depth <= 100 or not isinstance(obj, (dict, list)) or not obj:
        return flat
    pad = " " * (depth + 1)
    if isinstance(obj, dict):
        items = [f"{pad}{json.dumps(k, ensure_ascii=False)}: {_json_value(v, depth + 1)}"
                 for k, v in obj.items()]
        return "{\n" + ",\n".join(items) + "\n" + " " * depth + "}"
    items = [pad + _json_value(v, depth + 1) for v in obj]
    return "[\n" + ",\n".join(items) + "\n" + " " * depth + "]"


def export(out, *, cases=None, overwrite: bool = True) -> dict:
    """Write a golden set to the directory ``out`` (atomically) and return its manifest.

    The set is built in a temporary directory beside ``out`` and renamed into place, so a
    reader never sees a half-written set. An existing ``out`` is replaced only if it holds a
    golden set (a ``manifest.json``) and ``overwrite`` is true, or is empty.
    """
    from ._golden_readme import render_readme

    out = Path(out)
    if out.exists():
        if not out.is_dir():
            raise ValueError(f"{out} exists and is not a directory; choose another --out")
        if any(out.iterdir()) and not (out / "manifest.json").exists():
            raise ValueError(f"{out} is a non-empty directory without a manifest.json; "
                             "refusing to replace it (choose an empty or new --out)")
        if (out / "manifest.json").exists() and not overwrite:
            raise ValueError(f"{out} already holds a golden set; pass overwrite=True "
                             "(--force) to replace it")
    specs = default_cases() if cases is None else list(cases)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.tmp-", dir=out.parent))
    try:
        (tmp / "cases").mkdir()
        entries = {}
        for spec in specs:
            arrays, entry = build_case(spec)
            _npz.write_npz(tmp / entry["file"], arrays)
            entries[spec["name"]] = entry
        manifest = {
            "format": "refimpl-golden",
            "schema_version": SCHEMA_VERSION,
            "package": "refimpl",
            "package_version": __version__,
            "conventions": CONVENTIONS,
            "quantities": {q: PREFIX[q] for q in QUANTITIES},
            "cases": entries,
        }
        (tmp / "README.md").write_text(render_readme(manifest), encoding="utf-8")
        files = sorted([f"cases/{p.name}" for p in (tmp / "cases").iterdir()]) + ["README.md"]
        manifest["files"] = {f: {"sha256": sha256_file(tmp / f),
                                 "bytes": (tmp / f).stat().st_size} for f in files}
        (tmp / "manifest.json").write_text(_dump_json(manifest), encoding="utf-8")
        sums = [(manifest["files"][f]["sha256"], f) for f in files]
        sums.append((sha256_file(tmp / "manifest.json"), "manifest.json"))
        (tmp / "SHA256SUMS").write_text("".join(f"{h}  {f}\n" for h, f in sorted(
            sums, key=lambda x: x[1])), encoding="utf-8")
        for p in [tmp, tmp / "cases", *tmp.rglob("*")]:
            os.chmod(p, 0o755 if p.is_dir() else 0o644)
        _replace_dir(tmp, out)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return manifest


def _replace_dir(new: Path, out: Path) -> None:
    if not out.exists():
        os.rename(new, out)
        return
    old = Path(tempfile.mkdtemp(prefix=f".{out.name}.old-", dir=out.parent))
    os.rmdir(old)
    os.rename(out, old)
    try:
        os.rename(new, out)
    except BaseException:
        os.rename(old, out)
        raise
    shutil.rmtree(old, ignore_errors=True)


def default_directory() -> Path:
    """The committed set: ``$REFIMPL_GOLDEN`` if set, else ``data/golden`` of the checkout."""
    env = os.environ.get("REFIMPL_GOLDEN")
    if env:
        return Path(env)
    return Path(__file__).resolve().parents[2] / "data" / "golden"


def read_manifest(directory=None) -> dict:
    """The manifest of a golden set, validated for format and schema version."""
    directory = Path(directory) if directory is not None else default_directory()
    path = directory / "manifest.json"
    if not path.exists():
        raise ValueError(f"{path} not found: {directory} is not a golden set (create one with "
                         "`refimpl oracle export --out DIR`)")
    try:
        manifest = json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ValueError(f"{path}: not valid JSON ({exc})") from None
    if not isinstance(manifest, dict) or manifest.get("format") != "refimpl-golden":
        raise ValueError(f"{path}: not a refimpl golden manifest (\"format\" must be "
                         "\"refimpl-golden\")")
    if manifest.get("schema_version") != SCHEMA_VERSION:
        raise ValueError(f"{path}: schema version {manifest.get('schema_version')!r}, but this "
                         f"refimpl reads version {SCHEMA_VERSION}")
    for key in ("cases", "files"):
        if not isinstance(manifest.get(key), dict):
            raise ValueError(f"{path}: missing or malformed {key!r}")
    return manifest


def verify_file(directory, rel: str, manifest: dict) -> Path:
    """Check one file's size and SHA-256 against the manifest; return its path."""
    directory = Path(directory)
    path = directory / rel
    want = manifest["files"].get(rel)
    if want is None:
        raise ValueError(f"{path}: not listed in {directory / 'manifest.json'}")
    if not path.exists():
        raise ValueError(f"{path}: listed in the manifest but missing")
    size = path.stat().st_size
    if size != want["bytes"]:
        raise ValueError(f"{path}: {size} bytes, the manifest says {want['bytes']} (truncated "
                         "or modified); restore it (git checkout) or regenerate the set")
    digest = sha256_file(path)
    if digest != want["sha256"]:
        raise ValueError(f"{path}: SHA-256 {digest} does not match the manifest's "
                         f"{want['sha256']} (the file was modified); restore it or regenerate")
    return path


def verify(directory=None) -> dict:
    """Check every file the manifest lists (size and SHA-256); return the manifest."""
    directory = Path(directory) if directory is not None else default_directory()
    manifest = read_manifest(directory)
    for rel in manifest["files"]:
        verify_file(directory, rel, manifest)
    for name, entry in manifest["cases"].items():
        if entry.get("file") not in manifest["files"]:
            raise ValueError(f"{directory / 'manifest.json'}: case {name!r} names file "
                             f"{entry.get('file')!r}, which has no hash in \"files\"")
    return manifest


def load_case(directory, name: str, manifest: dict | None = None) -> dict:
    """The arrays of one case, after checking its hash; ``ValueError`` naming the file when it
    is missing, modified, truncated, or lacks an array the manifest lists."""
    directory = Path(directory) if directory is not None else default_directory()
    manifest = read_manifest(directory) if manifest is None else manifest
    if name not in manifest["cases"]:
        raise ValueError(f"no case {name!r} in {directory}; it has "
                         f"{len(manifest['cases'])} cases, e.g. {next(iter(manifest['cases']))!r}")
    entry = manifest["cases"][name]
    path = verify_file(directory, entry["file"], manifest)
    arrays = _npz.read_npz(path)
    listed = [r for r in entry["inputs"]] + [r for q in entry["quantities"].values() for r in q]
    for row in listed:
        arr = arrays.get(row["name"])
        if arr is None:
            raise ValueError(f"{path}: array {row['name']!r} listed in the manifest is missing")
        if list(arr.shape) != row["shape"] or str(arr.dtype) != row["dtype"]:
            raise ValueError(f"{path}: array {row['name']!r} is {arr.dtype}{arr.shape}, the "
                             f"manifest says {row['dtype']}{tuple(row['shape'])}")
    return arrays


def spec_from_entry(name: str, entry: dict) -> dict:
    """The case spec (as in :mod:`refimpl.oracle.golden_cases`) a manifest entry was built
    from, so that the case can be regenerated."""
    spec = {"name": name, "kind": entry["kind"], "architecture": entry["architecture"],
            "loss": entry["loss"], "output_metric": entry["output_metric"],
            "mass": entry["mass"]["kind"], "batch": entry["batch"], "lr": entry["lr"],
            "weight_scale": entry["weight_scale"]}
    if entry["kind"] == "mlp":
        spec["widths"], spec["activation"] = entry["widths"], entry["activation"]
    return spec
