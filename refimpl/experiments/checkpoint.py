"""Atomic training checkpoints: parameters and optimizer slots as ``.npz``, metadata as JSON.

A checkpoint in directory ``D`` is three files:

- ``D/params-<step>-<token>.npz``: the parameter tree, one array per leaf, keyed by its tree
  path (``"0/W"``, ``"0/b"``, ...);
- ``D/slots-<step>-<token>.npz``: the optimizer's slots likewise (``"m/0/W"`` for Adam's
  first moment; empty for SGD and the Riemannian optimizers);
- ``D/checkpoint.json``: the metadata (the caller's dict: configuration, epoch, step, RNG
  state, ...) plus the names, sizes and SHA-256 of the two ``.npz`` files, and ``digests``:
  the SHA-256 (first 16 hex digits) of every other field, nested fields by their dotted path
  (``config.lr``, ``shuffle_rng.state.state``).

The JSON is covered like the arrays: :func:`load_checkpoint` recomputes every field's digest
and refuses a checkpoint whose configuration or state was edited (naming the field and its
new value), so a resumed run is always the run that was saved.

Both ``.npz`` files load with ``numpy.load(..., allow_pickle=False)``.

Atomicity: ``checkpoint.json`` is the commit record. A save writes each ``.npz`` under a new
name (temporary file, ``fsync``, ``os.replace``), then the JSON the same way; only that last
``os.replace`` (atomic on one file system) switches the checkpoint. A failure or an interrupt
at any earlier point removes what this save wrote and leaves the previous checkpoint — the
JSON and the files it names — untouched. Files of older checkpoints are deleted after the
switch.
"""
from __future__ import annotations

import hashlib
import json
import os
import tempfile
import uuid
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .. import tree

METADATA = "checkpoint.json"
FORMAT = "refimpl-checkpoint/2"
_PREFIXES = ("params-", "slots-")


@dataclass(frozen=True)
class Checkpoint:
    """A loaded checkpoint.

    Attributes
    ----------
    params, slots : dict
        ``{tree path: array}`` (flat); rebuild trees with :func:`fill_tree`.
    meta : dict
        The metadata passed to :func:`save_checkpoint`.
    """

    params: dict
    slots: dict
    meta: dict


def has_checkpoint(directory) -> bool:
    """Whether ``directory`` holds a checkpoint's metadata file."""
    return (Path(directory) / METADATA).is_file()


def save_checkpoint(directory, params: dict, slots: dict, meta: dict) -> Path:
    """Write a checkpoint atomically (see the module docstring); return the metadata path.

    Parameters
    ----------
    directory : str or os.PathLike
        Existing folder.
    params, slots : dict
        Trees of arrays (:mod:`refimpl.tree`).
    meta : dict
        JSON-able metadata; must include an integer ``"step"``.
    """
    directory = Path(directory)
    token = f"{int(meta['step']):08d}-{uuid.uuid4().hex[:8]}"
    written = []
    try:
        files = {}
        for prefix, arrays in zip(_PREFIXES, (params, slots)):
            name = f"{prefix}{token}.npz"
            _write_atomic(directory / name, lambda f, a=arrays: np.savez(f, **dict(tree.items(a))))
            written.append(directory / name)
            files[prefix.rstrip("-")] = {"file": name, "bytes": (directory / name).stat().st_size,
                                         "sha256": _sha256(directory / name)}
        record = {"format": FORMAT, "files": files, **meta}
        record["digests"] = _digests(record)
        text = json.dumps(record, indent=1, allow_nan=False) + "\n"
        _write_atomic(directory / METADATA, lambda f: f.write(text.encode()))
    except BaseException:
        for path in written:
            path.unlink(missing_ok=True)
        raise
    _fsync_directory(directory)
    _remove_stale(directory, keep={p.name for p in written})
    return directory / METADATA


def load_checkpoint(directory) -> Checkpoint:
    """Read and verify the checkpoint in ``directory``.

    Raises
    ------
    ValueError
        No checkpoint, an unknown format, a field of the metadata edited since it was saved
        (its digest differs), or a ``.npz`` file that is missing or whose size or SHA-256
        differs from the metadata's record.
    """
    directory = Path(directory)
    path = directory / METADATA
    if not path.is_file():
        raise ValueError(f"no checkpoint in {directory} (missing {METADATA}); start a new run "
                         "there without --resume")
    try:
        meta = json.loads(path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ValueError(f"{path}: not a valid checkpoint metadata file ({exc})") from None
    if not isinstance(meta, dict) or meta.get("format") != FORMAT:
        raise ValueError(f"{path}: unknown checkpoint format "
                         f"{meta.get('format') if isinstance(meta, dict) else meta!r}; "
                         f"expected {FORMAT!r} (a checkpoint of another refimpl version "
                         "cannot be resumed: start afresh with --overwrite)")
    _check_digests(path, meta)
    arrays = []
    for key in ("params", "slots"):
        entry = meta["files"][key]
        file = directory / entry["file"]
        if not file.is_file():
            raise ValueError(f"checkpoint {path} names {file}, which is missing")
        if file.stat().st_size != entry["bytes"] or _sha256(file) != entry["sha256"]:
            raise ValueError(f"checkpoint file {file} does not match its size or SHA-256 in "
                             f"{path}; the checkpoint is corrupt")
        with np.load(file, allow_pickle=False) as npz:
            arrays.append({k: npz[k] for k in npz.files})
    return Checkpoint(params=arrays[0], slots=arrays[1], meta=meta)


def fill_tree(template: dict, flat: dict, what: str) -> dict:
    """A tree shaped like ``template`` holding ``flat[path]`` at each leaf path, in the float
    type of the template's leaf (float64, or float32 for an optimizer that trains in float32).

    Raises ``ValueError`` if the paths or a leaf's shape differ (a checkpoint of another
    model or optimizer).
    """
    want = dict(tree.items(template))
    if set(want) != set(flat):
        raise ValueError(f"checkpoint {what} have entries {sorted(flat)}, but this model and "
                         f"optimizer need {sorted(want)}")
    for path, leaf in want.items():
        if np.shape(flat[path]) != np.shape(leaf):
            raise ValueError(f"checkpoint {what} entry {path!r} has shape "
                             f"{np.shape(flat[path])}, expected {np.shape(leaf)}")
    # the leaf's dtype, not its value: NumPy 1.x would cast a 0-d float64 (a damping μ) to
    # float32 by value
    dtypes = {p: np.result_type(np.asarray(leaf).dtype, np.float32) for p, leaf in want.items()}
    return tree.from_paths(template, {p: np.array(flat[p], dtype=dtypes[p]) for p in want})


def _write_atomic(target: Path, write) -> None:
    """``write(binary file)`` into a temporary file beside ``target``, then rename it."""
    fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, target)
    finally:
        Path(tmp).unlink(missing_ok=True)


def _fsync_directory(directory: Path) -> None:
    """Make the renames durable (best effort: not every platform can open a directory)."""
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def _remove_stale(directory: Path, keep: set) -> None:
    for path in directory.iterdir():
        if path.name.startswith(_PREFIXES) and path.suffix == ".npz" and path.name not in keep:
            path.unlink(missing_ok=True)


def _leaves(value, prefix: str = ""):
    """``(dotted path, value)`` of every non-dict leaf of a JSON object."""
    for key, sub in value.items():
        path = f"{prefix}{key}"
        if isinstance(sub, dict) and sub:
            yield from _leaves(sub, path + ".")
        else:
            yield path, sub


def _digests(record: dict) -> dict:
    return {path: hashlib.sha256(json.dumps(value, sort_keys=True).encode()).hexdigest()[:16]
            for path, value in _leaves({k: v for k, v in record.items() if k != "digests"})}


def _check_digests(path: Path, record: dict) -> None:
    """``ValueError`` naming every field of ``record`` changed, added or removed since the
    save (the ``digests`` it was written with)."""
    saved = record.get("digests")
    if not isinstance(saved, dict):
        raise ValueError(f"{path} has no field digests; it was edited or is damaged: start "
                         "afresh with --overwrite, or choose another --out")
    now = _digests(record)
    values = dict(_leaves({k: v for k, v in record.items() if k != "digests"}))
    changed = [f"{p} (now {json.dumps(values[p])[:40]})" for p in now
               if p in saved and saved[p] != now[p]]
    changed += [f"{p} (added)" for p in now if p not in saved]
    changed += [f"{p} (removed)" for p in saved if p not in now]
    if changed:
        raise ValueError(f"{path} was edited after it was saved: {', '.join(changed[:6])}"
                         f"{' …' if len(changed) > 6 else ''}; a checkpoint's configuration "
                         "and state are fixed by their digests, so this run cannot be resumed "
                         "with them. To train with other settings start a new run (--overwrite, "
                         "or another --out); to continue the saved run, restore the file")


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()
