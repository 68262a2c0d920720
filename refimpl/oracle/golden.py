"""Golden vectors: a versioned set of cases that other backends test themselves against.

A *case* is one network (:mod:`refimpl.oracle.architecture`), batch, loss, output metric and
mass; its ``.npz`` file holds the inputs and the quantities refimpl computes for them. The set
is a directory (the one shipped with refimpl is package data, ``refimpl/oracle/golden_set``,
:func:`default_directory`)::

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
``gradients``       ``grads/<p>``                ``∇_w R`` (:ref:`math §2 <math-2>`)
``multipliers``     ``multipliers/<m>``          ``λ_{m,s} = ∂ℓ_s/∂z_{m,s}``, ``(S, out_m)``
``metric``          ``metric/<m>``               ``G_m`` dense, ``(n_m, n_m)`` (:ref:`math §4 <math-4>`)
``metric_network``  ``metric_network``           the whole ``G`` over all parameters
``solve``           ``solve/<m>``                ``G_m⁻¹ v_m`` for the stored ``v/<m>`` (eq. 2)
``update_layer``    ``update_layer/<p>``         ``−lr G⁻¹ ∇R``, ``G`` block-diagonal (eq. 3)
``update_network``  ``update_network/<p>``       ``−lr G⁻¹ ∇R``, one ``G`` (damped Gauss–Newton)
==================  ===========================  =============================================

One case (inputs, quantities, tolerances) is built by :mod:`refimpl.oracle.golden_build`.
Solves and updates come from refimpl's factorised path (factor pass, Woodbury and push-through
solves), metric blocks from dense per-sample Jacobians; before anything is written each is
checked against the other path (the factor pass's dense blocks, dense solves): a case whose
two paths disagree beyond its tolerance is an error, not a golden vector. Tolerances are per array, ``|got − want| ≤ atol + rtol·|want|`` elementwise:
``rtol`` is ``1e-12`` for the loss, ``1e-10`` for gradients, multipliers and metrics, and
``max(1e-10, 10·ε·κ)`` rounded up to a power of ten for solves and updates (``κ`` the
2-norm condition number of the ``G`` being solved, ``ε`` = 2.2e-16); ``atol = rtol ·
max|want|`` over the array.

Integrity: :func:`verify` (and so every loader, :func:`load_case` and
:func:`refimpl.oracle.testing.load_cases`) checks each file's size and SHA-256 against the
manifest, and the manifest itself against ``SHA256SUMS``, against refimpl's case definitions
and tolerance rules (an edited ``lr`` or tolerance is an error naming the case, the field and
both values) and, for the set shipped with refimpl, against the digests pinned in the package
(``golden_pin.py``); see :mod:`refimpl.oracle.golden_integrity`.

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
from pathlib import Path

from .. import __version__
from .._outputs import check_output_dir, replace_dir, staging_dir
from .._resources import package_path
from . import _npz
from . import golden_integrity as integrity
from .golden_build import build_case
from .golden_catalog import default_cases

SCHEMA_VERSION = 1
QUANTITIES = ("loss", "gradients", "multipliers", "metric", "metric_network", "solve",
              "update_layer", "update_network")
PREFIX = {"loss": "loss", "gradients": "grads", "multipliers": "multipliers",
          "metric": "metric", "metric_network": "metric_network", "solve": "solve",
          "update_layer": "update_layer", "update_network": "update_network"}
CONVENTIONS = {
    "dtype": "float64 everywhere; cross-entropy labels int64",
    "layout": "batch first: X is (S, d_in), or (S, C, H, W) (NCHW) for a network on images; "
              "outputs y are (S, k); multipliers (S, *output shape of the module)",
    "linear": "z = W a + b per sample, W of shape (n_out, n_in); batched z = X W^T + b",
    "conv2d": "y[o,u,v] = b[o] + sum_{c,i,j} W[o,c,i,j] x_pad[c, sh*u+i, sw*v+j] "
              "(cross-correlation, zero padding ph, pw on both sides; torch.nn.functional."
              "conv2d), W of shape (C_out, C_in, kh, kw), b (C_out,); output size "
              "floor((H + 2 ph - kh)/sh) + 1",
    "pooling": "MaxPool2d: max over each window, -inf padding, ties to the first maximum in "
               "the window's row-major order; AvgPool2d: mean over each window, padding "
               "counted as zeros (count_include_pad); Flatten: C-order vec of (C, H, W)",
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


def export(out, *, cases=None, overwrite: bool = True, pin: bool | None = None) -> dict:
    """Write a golden set to the directory ``out`` (atomically) and return its manifest.

    The set is built in a temporary directory beside ``out`` and renamed into place, so a
    reader never sees a half-written set. An existing ``out`` is replaced only if it holds a
    golden set (a ``manifest.json``) and ``overwrite`` is true, or is empty.

    ``pin`` (default: whether ``out`` is :func:`shipped_directory`) also rewrites
    ``golden_pin.py``, the digests by which :func:`verify` recognises the shipped set; the
    shipped set is always the complete default set.
    """
    from ._golden_readme import render_readme

    out = check_output_dir(out, "--out")
    if out.exists():
        if any(out.iterdir()) and not (out / "manifest.json").exists():
            raise ValueError(f"{out} is a non-empty directory without a manifest.json; "
                             "refusing to replace it (choose an empty or new --out)")
        if (out / "manifest.json").exists() and not overwrite:
            raise ValueError(f"{out} already holds a golden set; pass overwrite=True to "
                             "replace it")
    if pin is None:
        pin = is_shipped(out)
    if pin and cases is not None and [c["name"] for c in cases] != \
            [c["name"] for c in default_cases()]:
        raise ValueError("the shipped golden set holds every default case; write a subset "
                         "(--only) to another --out")
    specs = default_cases() if cases is None else list(cases)
    tmp = staging_dir(out)
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
        digest = sha256_file(tmp / "manifest.json")
        sums = [(manifest["files"][f]["sha256"], f) for f in files]
        sums.append((digest, "manifest.json"))
        (tmp / integrity.SUMS).write_text("".join(f"{h}  {f}\n" for h, f in sorted(
            sums, key=lambda x: x[1])), encoding="utf-8")
        for p in [tmp, tmp / "cases", *tmp.rglob("*")]:
            os.chmod(p, 0o755 if p.is_dir() else 0o644)
        replace_dir(tmp, out)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    if pin:
        _write_pin(integrity.render_pin(manifest, digest))
    return manifest


PIN_FILE = Path(__file__).with_name("golden_pin.py")


def _write_pin(text: str) -> None:
    tmp = PIN_FILE.with_name(f".{PIN_FILE.name}.tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, PIN_FILE)


def shipped_directory() -> Path:
    """The golden set shipped with refimpl: the package data ``refimpl/oracle/golden_set``
    (read through :mod:`importlib.resources`, so it is there in an installed wheel as in a
    checkout)."""
    return package_path(__package__, "golden_set")


def default_directory() -> Path:
    """The set the loaders read by default: ``$REFIMPL_GOLDEN`` if set, else
    :func:`shipped_directory`."""
    env = os.environ.get("REFIMPL_GOLDEN")
    if env:
        return Path(env)
    return shipped_directory()


def is_shipped(directory: Path) -> bool:
    try:
        return Path(directory).resolve() == shipped_directory().resolve()
    except OSError:
        return False


def read_manifest(directory=None) -> dict:
    """The manifest of a golden set, validated for format and schema version (the manifest
    alone: :func:`verify` checks it against the files, SHA256SUMS and refimpl's code)."""
    return _read_manifest(directory)[0]


def _read_manifest(directory=None) -> tuple[dict, str]:
    """``(manifest, SHA-256 of manifest.json)``."""
    directory = Path(directory) if directory is not None else default_directory()
    path = directory / "manifest.json"
    if not path.exists():
        raise ValueError(f"{path} not found: {directory} is not a golden set (create one with "
                         "`refimpl oracle export --out DIR`)")
    data = path.read_bytes()
    try:
        manifest = json.loads(data.decode("utf-8"))
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
    return manifest, hashlib.sha256(data).hexdigest()


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


def verify(directory=None, *, pinned: bool | None = None) -> dict:
    """Check a golden set completely; return its manifest.

    In order (the first problem found is a ``ValueError`` that names it and says what to do):
    every file's size and SHA-256 against the manifest; for the shipped set (``pinned``,
    default: whether ``directory`` is :func:`shipped_directory`) the manifest's file digests
    against those pinned in the package; the manifest against refimpl's case definitions and
    tolerance rules, recomputed from the verified arrays (naming the case, the field and both
    values); ``SHA256SUMS`` against the manifest; and the manifest's own pinned digest. See
    :mod:`refimpl.oracle.golden_integrity`.
    """
    return _verified(directory, pinned)[0]


def _verified(directory, pinned) -> tuple[dict, dict]:
    """``(manifest, {case name: arrays})`` of a set that passed :func:`verify`."""
    directory = Path(directory) if directory is not None else default_directory()
    manifest, digest = _read_manifest(directory)
    for rel in manifest["files"]:
        verify_file(directory, rel, manifest)
    for name, entry in manifest["cases"].items():
        if not isinstance(entry, dict) or entry.get("file") not in manifest["files"]:
            raise ValueError(f"{directory / 'manifest.json'}: case {name!r} names file "
                             f"{entry.get('file') if isinstance(entry, dict) else None!r}, "
                             "which has no hash in \"files\"")
    pin = _pin() if (is_shipped(directory) if pinned is None else pinned) else None
    if pin is not None:
        integrity.check_pin_files(directory, manifest, pin)
    arrays = {name: _read_case(directory, name, entry)
              for name, entry in manifest["cases"].items()}
    integrity.check_manifest(directory, manifest, arrays)
    integrity.check_sha256sums(directory, manifest, digest)
    if pin is not None:
        integrity.check_pin_manifest(directory, manifest, digest, pin)
    return manifest, arrays


def _pin():
    from . import golden_pin
    return golden_pin


def load_case(directory, name: str, manifest: dict | None = None) -> dict:
    """The arrays of one case. Without ``manifest`` the whole set is verified first
    (:func:`verify`); with one (as :func:`verify` returned it) only this case's file is
    checked. ``ValueError`` naming the file when it is missing, modified, truncated, or lacks
    an array the manifest lists."""
    directory = Path(directory) if directory is not None else default_directory()
    if manifest is None:
        manifest, arrays = _verified(directory, None)
        if name in arrays:
            return arrays[name]
    if name not in manifest["cases"]:
        raise ValueError(f"no case {name!r} in {directory}; it has "
                         f"{len(manifest['cases'])} cases, e.g. {next(iter(manifest['cases']))!r}")
    entry = manifest["cases"][name]
    verify_file(directory, entry["file"], manifest)
    return _read_case(directory, name, entry)


def _read_case(directory: Path, name: str, entry: dict) -> dict:
    """The arrays of a case file whose hash was checked, against the manifest's array list."""
    path = directory / entry["file"]
    arrays = _npz.read_npz(path)
    try:
        listed = list(entry["inputs"]) + [r for q in entry["quantities"].values() for r in q]
    except (KeyError, AttributeError, TypeError):
        raise ValueError(f"{directory / 'manifest.json'}: case {name!r} lacks its \"inputs\" "
                         "or \"quantities\" lists") from None
    for row in listed:
        arr = arrays.get(row["name"])
        if arr is None:
            raise ValueError(f"{path}: array {row['name']!r} listed in the manifest is missing")
        if list(arr.shape) != row["shape"] or str(arr.dtype) != row["dtype"]:
            raise ValueError(f"{path}: array {row['name']!r} is {arr.dtype}{arr.shape}, the "
                             f"manifest says {row['dtype']}{tuple(row['shape'])}")
    return arrays
