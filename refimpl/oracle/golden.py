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

One case (inputs, quantities, tolerances) is built by :mod:`refimpl.oracle.golden_case`.
Solves and updates come from refimpl's factorised path (factor pass, Woodbury and push-through
solves), metric blocks from dense per-sample Jacobians; before anything is written each is
checked against the other path (the factor pass's dense blocks, dense solves): a case whose
two paths disagree beyond its tolerance is an error, not a golden vector. Tolerances are per array, ``|got − want| ≤ atol + rtol·|want|`` elementwise:
``rtol`` is ``1e-12`` for the loss, ``1e-10`` for gradients, multipliers and metrics, and
``max(1e-10, 10·ε·κ)`` rounded up to a power of ten for solves and updates (``κ`` the
2-norm condition number of the ``G`` being solved, ``ε`` = 2.2e-16); ``atol = rtol ·
max|want|`` over the array.

Generation is deterministic: seeds come from the case names, and files are written
byte-reproducibly (``_npz.py``; JSON in a fixed key order, without timestamps). Across
machines, and after numerically neutral changes to refimpl, results may differ in the last
bits (BLAS kernels, summation order), which is why the drift check compares values, not bytes.
"""
from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
from pathlib import Path

from .. import __version__
from . import _npz
from .golden_case import build_case
from .golden_cases import default_cases

SCHEMA_VERSION = 1
QUANTITIES = ("loss", "gradients", "multipliers", "metric", "metric_network", "solve",
              "update_layer", "update_network")
PREFIX = {"loss": "loss", "gradients": "grads", "multipliers": "multipliers",
          "metric": "metric", "metric_network": "metric_network", "solve": "solve",
          "update_layer": "update_layer", "update_network": "update_network"}
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
